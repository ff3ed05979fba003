"""workers: operator-created workers, enrollment tokens, frame upload parts (schema ``api``)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("node_address", sa.String(length=66), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
        sa.UniqueConstraint("node_address"),
        schema=SCHEMA,
    )
    op.create_index("workers_operator", "workers", ["operator", "worker_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "frame_parts",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "attempt", "frame", "part"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("frame_parts", schema=SCHEMA)
    op.drop_index("workers_operator", table_name="workers", schema=SCHEMA)
    op.drop_table("workers", schema=SCHEMA)
