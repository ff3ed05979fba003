"""The one MetaData of the off-chain tables (the chain mirror has its own, in ``indexer.schema``)."""

from __future__ import annotations

from sqlalchemy import MetaData

#: Every off-chain table is declared on it; alembic compares it (with the mirror's) to the migrations.
metadata = MetaData()
