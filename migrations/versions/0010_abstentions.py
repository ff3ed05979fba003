"""chain mirror: ``attestation::Abstained`` events (a checker could not decide a submitted result)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the ``abstentions`` event table (public schema, as the rest of the chain mirror)."""
    op.create_table(
        "abstentions",
        sa.Column("txn_version", sa.BigInteger(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("txn_hash", sa.String(length=66), nullable=False),
        sa.Column("job_id", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("task_id", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("node_id", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("attempt", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("result_hash", sa.LargeBinary(), nullable=False),
        sa.Column("evidence_hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("txn_version", "event_index"),
    )
    op.create_index("abstentions_task", "abstentions", ["job_id", "task_id"], unique=False)


def downgrade() -> None:
    """Drop the ``abstentions`` table."""
    op.drop_index("abstentions_task", table_name="abstentions")
    op.drop_table("abstentions")
