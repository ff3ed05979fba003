"""rewards: epochs, per-user payouts, Merkle roots and their publication (schema ``api``)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"
U64 = sa.Numeric(precision=20, scale=0)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "epochs",
        sa.Column("epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ledger_cutoff", sa.BigInteger(), nullable=True),
        sa.Column("chain_epoch", U64, nullable=True),
        sa.Column("root", sa.LargeBinary(), nullable=True),
        sa.Column("budget", U64, nullable=True),
        sa.Column("total", U64, nullable=True),
        sa.Column("unpaid", U64, nullable=True),
        sa.Column("payout_count", sa.Integer(), nullable=True),
        sa.Column("campaigns", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("publisher", sa.String(length=66), nullable=True),
        sa.Column("fund_txn_hash", sa.String(length=66), nullable=True),
        sa.Column("publish_from_version", sa.BigInteger(), nullable=True),
        sa.Column("publish_txn_hash", sa.String(length=66), nullable=True),
        sa.Column("publish_version", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'computing', 'computed', 'publishing', 'published', 'empty')",
            name="epochs_state_known",
        ),
        sa.CheckConstraint("starts_at < ends_at", name="epochs_window"),
        sa.PrimaryKeyConstraint("epoch"),
        sa.UniqueConstraint("chain_epoch"),
        schema=SCHEMA,
    )
    op.create_index("epochs_state", "epochs", ["state"], unique=False, schema=SCHEMA)
    op.create_table(
        "epoch_payouts",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("amount", U64, nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("proof", postgresql.ARRAY(sa.LargeBinary()), nullable=False),
        sa.ForeignKeyConstraint(["epoch"], [f"{SCHEMA}.epochs.epoch"]),
        sa.PrimaryKeyConstraint("epoch", "address"),
        sa.UniqueConstraint("epoch", "leaf_index", name="epoch_payouts_leaf_once"),
        schema=SCHEMA,
    )
    op.create_index("epoch_payouts_address", "epoch_payouts", ["address", "epoch"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("epoch_payouts_address", table_name="epoch_payouts", schema=SCHEMA)
    op.drop_table("epoch_payouts", schema=SCHEMA)
    op.drop_index("epochs_state", table_name="epochs", schema=SCHEMA)
    op.drop_table("epochs", schema=SCHEMA)
