"""The kernel every package shares: the settings object, PostgreSQL access and the blob store."""
