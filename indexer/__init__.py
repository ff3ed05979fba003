"""Indexer: mirrors the chain into PostgreSQL exactly once."""
