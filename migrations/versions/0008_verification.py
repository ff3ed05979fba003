"""verification: checker claims, verdicts with evidence, disputes (schema ``api``)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"
U64 = sa.Numeric(precision=20, scale=0)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "verifications",
        sa.Column("verification_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("task_attempt", sa.Integer(), nullable=False),
        sa.Column("chain_job_id", U64, nullable=False),
        sa.Column("chain_task_id", U64, nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("frames", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frame_numbers", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("result_hash", sa.String(length=64), nullable=False),
        sa.Column("worker_node_id", sa.BigInteger(), nullable=False),
        sa.Column("worker_operator", sa.String(length=66), nullable=False),
        sa.Column("excluded_operators", postgresql.ARRAY(sa.String(length=66)), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("checker_node_id", sa.BigInteger(), nullable=True),
        sa.Column("checker_operator", sa.String(length=66), nullable=True),
        sa.Column("lease_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verdict", sa.String(length=8), nullable=True),
        sa.Column("evidence_hash", sa.String(length=64), nullable=True),
        sa.Column("evidence_json", sa.Text(), nullable=True),
        sa.Column("txn_hash", sa.String(length=66), nullable=True),
        sa.Column("chain_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("verification_id"),
        sa.UniqueConstraint("task_id", "task_attempt", "purpose", "round", name="verifications_once"),
        schema=SCHEMA,
    )
    op.create_index(
        "verifications_claimable", "verifications", ["state", "verification_id"], unique=False, schema=SCHEMA
    )
    op.create_index("verifications_task", "verifications", ["task_id", "task_attempt"], unique=False, schema=SCHEMA)
    op.create_index("verifications_job", "verifications", ["job_id"], unique=False, schema=SCHEMA)
    op.create_index("verifications_evidence", "verifications", ["evidence_hash"], unique=False, schema=SCHEMA)
    op.create_table(
        "verification_frames",
        sa.Column("verification_id", sa.BigInteger(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("evidence_hash", sa.String(length=64), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
        sa.Column("fingerprint", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["verification_id"], [f"{SCHEMA}.verifications.verification_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("verification_id", "frame"),
        schema=SCHEMA,
    )
    op.create_index("verification_frames_job", "verification_frames", ["job_id", "frame"], unique=False, schema=SCHEMA)
    op.create_index(
        "verification_frames_evidence", "verification_frames", ["evidence_hash"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "checker_status",
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("telemetry", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("checker_status", schema=SCHEMA)
    op.drop_index("verification_frames_evidence", table_name="verification_frames", schema=SCHEMA)
    op.drop_index("verification_frames_job", table_name="verification_frames", schema=SCHEMA)
    op.drop_table("verification_frames", schema=SCHEMA)
    op.drop_index("verifications_evidence", table_name="verifications", schema=SCHEMA)
    op.drop_index("verifications_job", table_name="verifications", schema=SCHEMA)
    op.drop_index("verifications_task", table_name="verifications", schema=SCHEMA)
    op.drop_index("verifications_claimable", table_name="verifications", schema=SCHEMA)
    op.drop_table("verifications", schema=SCHEMA)
