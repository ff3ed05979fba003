"""The creator's client: wallet key and session files, faucet and vault steps, the API, and render jobs."""
