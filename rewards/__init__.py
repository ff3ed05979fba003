"""Rewards: the points ledger and its sources, campaigns, anti-cheat, leaderboards and epoch payouts."""
