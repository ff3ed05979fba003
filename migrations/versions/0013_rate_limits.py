"""rate limits: request counters per client and bucket, shared by every API process (schema ``api``)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "rate_limits",
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client", "bucket"),
        schema=SCHEMA,
    )
    op.create_index("rate_limits_window_start", "rate_limits", ["window_start"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("rate_limits_window_start", table_name="rate_limits", schema=SCHEMA)
    op.drop_table("rate_limits", schema=SCHEMA)
