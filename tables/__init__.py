"""The off-chain tables (app state, not the chain mirror): one MetaData, one module per feature.

Importing this package declares every table on :data:`metadata`, which ``migrations/env.py`` compares with
the migrations.
"""

from __future__ import annotations

from tables import auth, epochs, jobs, leaderboard, points, uploads, verification, workers
from tables.base import metadata

__all__ = ["auth", "epochs", "jobs", "leaderboard", "metadata", "points", "uploads", "verification", "workers"]
