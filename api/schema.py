"""The API's own tables (app state, not the chain mirror): one MetaData, tables declared per feature."""

from __future__ import annotations

from sqlalchemy import MetaData

#: Every API table registers here; alembic compares it (with the indexer's) to the migrations.
metadata = MetaData()

# Register every API table module (imported for its side effect on ``metadata``).
import api.auth_tables  # noqa: E402, F401
import api.job_tables  # noqa: E402, F401
import api.upload_tables  # noqa: E402, F401
import api.verification_tables  # noqa: E402, F401
import api.worker_tables  # noqa: E402, F401
import rewards.epoch_tables  # noqa: E402, F401
import rewards.leaderboard_tables  # noqa: E402, F401
import rewards.points_tables  # noqa: E402, F401
