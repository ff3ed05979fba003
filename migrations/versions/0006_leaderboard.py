"""leaderboard: rank snapshots refreshed on a schedule (schema ``api``)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"
#: Where the generation tables (partitions of api.leaderboard_rows) live; see tables.leaderboard.
PARTITION_SCHEMA = "leaderboard"


def upgrade() -> None:
    """Apply this revision."""
    ts = sa.DateTime(timezone=True)
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}")
    op.execute(sa.schema.CreateSequence(sa.Sequence("leaderboard_generation", schema=SCHEMA)))
    op.create_table(
        "leaderboard_snapshots",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("high_water", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", ts, nullable=True),
        sa.Column("ends_at", ts, nullable=True),
        sa.Column("refreshed_at", ts, nullable=False),
        sa.Column("refresh_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
        schema=SCHEMA,
    )
    op.create_table(
        "leaderboard_rows",
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=66, collation="C"), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("generation", "position", name="leaderboard_rows_pkey"),
        schema=SCHEMA,
        postgresql_partition_by="LIST (generation)",
    )
    op.create_index(
        "leaderboard_rows_address", "leaderboard_rows", ["generation", "address"], unique=True, schema=SCHEMA
    )
    op.create_index(
        "leaderboard_rows_points", "leaderboard_rows", ["generation", "points", "address"], unique=False, schema=SCHEMA
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("leaderboard_rows_points", table_name="leaderboard_rows", schema=SCHEMA)
    op.drop_index("leaderboard_rows_address", table_name="leaderboard_rows", schema=SCHEMA)
    op.drop_table("leaderboard_rows", schema=SCHEMA)  # drops its attached generation tables too
    op.drop_table("leaderboard_snapshots", schema=SCHEMA)
    op.execute(sa.schema.DropSequence(sa.Sequence("leaderboard_generation", schema=SCHEMA)))
    op.execute(f"DROP SCHEMA IF EXISTS {PARTITION_SCHEMA} CASCADE")  # a generation left detached, if any
