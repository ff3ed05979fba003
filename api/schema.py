"""The API's own tables (app state, not the chain mirror): one MetaData, tables declared per feature."""

from __future__ import annotations

from sqlalchemy import MetaData

#: Every API table registers here; alembic compares it (with the indexer's) to the migrations.
metadata = MetaData()
