"""rewards: points ledger, referrals, check-ins, social claims, campaigns, GPU registry, admin audit log (schema ``api``)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"
U64 = sa.Numeric(precision=20, scale=0)


def upgrade() -> None:
    """Apply this revision."""
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "points_ledger",
        sa.Column("entry_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", ts, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
        sa.UniqueConstraint("source", "source_key", name="points_ledger_source_once"),
        schema=SCHEMA,
    )
    op.create_index("points_ledger_address", "points_ledger", ["address", "created_at"], unique=False, schema=SCHEMA)
    op.create_index("points_ledger_created", "points_ledger", ["created_at", "entry_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "points_withheld",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("source", "source_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "points_withheld_address", "points_withheld", ["address", "created_at"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "checkins",
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("address", "day"),
        schema=SCHEMA,
    )
    op.create_table(
        "social_claims",
        sa.Column("claim_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("proof_url", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("reviewed_at", ts, nullable=True),
        sa.Column("reviewer", sa.String(length=66), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("claim_id"),
        sa.UniqueConstraint("address", "task", name="social_claims_once"),
        schema=SCHEMA,
    )
    op.create_index("social_claims_status", "social_claims", ["status", "claim_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "referral_codes",
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("address"),
        sa.UniqueConstraint("code"),
        schema=SCHEMA,
    )
    op.create_table(
        "referrals",
        sa.Column("referee", sa.String(length=66), nullable=False),
        sa.Column("referrer", sa.String(length=66), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("start_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("scanned_upto", sa.BigInteger(), nullable=False),
        sa.Column("eligible_total", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("referee"),
        schema=SCHEMA,
    )
    op.create_index("referrals_referrer", "referrals", ["referrer", "created_at"], unique=False, schema=SCHEMA)
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("starts_at", ts, nullable=False),
        sa.Column("ends_at", ts, nullable=False),
        sa.Column("pool", U64, nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("bands", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=66), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id"),
        sa.UniqueConstraint("name"),
        schema=SCHEMA,
    )
    op.create_index("campaigns_period", "campaigns", ["starts_at", "ends_at"], unique=False, schema=SCHEMA)
    op.create_table(
        "gpu_claims",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("claimed_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
        schema=SCHEMA,
    )
    op.create_index("gpu_claims_node", "gpu_claims", ["node_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "node_online",
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("last_seen", ts, nullable=False),
        sa.Column("online_since", ts, nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "node_online_days",
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "day"),
        schema=SCHEMA,
    )
    op.create_table(
        "liveness_checks",
        sa.Column("check_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("requested_at", ts, nullable=False),
        sa.Column("deadline", ts, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", ts, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("challenge", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("check_id"),
        schema=SCHEMA,
    )
    op.create_index("liveness_checks_node", "liveness_checks", ["node_id", "requested_at"], unique=False, schema=SCHEMA)
    op.create_index("liveness_checks_status", "liveness_checks", ["status", "deadline"], unique=False, schema=SCHEMA)
    op.create_table(
        "admin_audit_log",
        sa.Column("audit_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("admin", sa.String(length=66), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("audit_id"),
        schema=SCHEMA,
    )
    op.create_index("admin_audit_log_created", "admin_audit_log", ["created_at"], unique=False, schema=SCHEMA)
    op.create_table(
        "rate_events",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema=SCHEMA,
    )
    op.create_index("rate_events_lookup", "rate_events", ["address", "action", "at"], unique=False, schema=SCHEMA)


#: Indexes dropped before their table on the way down: (index, table).
_INDEXES = [
    ("rate_events_lookup", "rate_events"),
    ("admin_audit_log_created", "admin_audit_log"),
    ("liveness_checks_status", "liveness_checks"),
    ("liveness_checks_node", "liveness_checks"),
    ("gpu_claims_node", "gpu_claims"),
    ("campaigns_period", "campaigns"),
    ("referrals_referrer", "referrals"),
    ("social_claims_status", "social_claims"),
    ("points_withheld_address", "points_withheld"),
    ("points_ledger_created", "points_ledger"),
    ("points_ledger_address", "points_ledger"),
]
_TABLES = [
    "rate_events",
    "admin_audit_log",
    "liveness_checks",
    "node_online_days",
    "node_online",
    "gpu_claims",
    "campaigns",
    "referrals",
    "referral_codes",
    "social_claims",
    "checkins",
    "points_withheld",
    "points_ledger",
]


def downgrade() -> None:
    """Revert this revision."""
    for index, table in _INDEXES:
        op.drop_index(index, table_name=table, schema=SCHEMA)
    for table in _TABLES:
        op.drop_table(table, schema=SCHEMA)
