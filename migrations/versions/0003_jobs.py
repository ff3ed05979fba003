"""jobs: render jobs, tasks, frames, node heartbeats, per-job node failures, chain outbox (schema ``api``)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"
U64 = sa.Numeric(precision=20, scale=0)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("owner", sa.String(length=66), nullable=False),
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("price_per_minute", U64, nullable=False),
        sa.Column("budget", U64, nullable=False),
        sa.Column("estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("chain_job_id", U64, nullable=True),
        sa.Column("escrow_txn_hash", sa.String(length=66), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], [f"{SCHEMA}.uploads.upload_id"]),
        sa.PrimaryKeyConstraint("job_id"),
        sa.UniqueConstraint("chain_job_id"),
        schema=SCHEMA,
    )
    op.create_index("jobs_owner", "jobs", ["owner", "job_id"], unique=False, schema=SCHEMA)
    op.create_index("jobs_state", "jobs", ["state"], unique=False, schema=SCHEMA)
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("frames", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=True),
        sa.Column("lease_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quote", U64, nullable=True),
        sa.Column("ref_minutes", sa.Float(), nullable=False),
        sa.Column("manifest", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id"),
        sa.UniqueConstraint("job_id", "seq", name="tasks_job_seq"),
        schema=SCHEMA,
    )
    op.create_index("tasks_claimable", "tasks", ["state", "priority", "job_id", "task_id"], unique=False,
                    schema=SCHEMA)
    op.create_index("tasks_lease", "tasks", ["state", "lease_deadline"], unique=False, schema=SCHEMA)
    op.create_index("tasks_node", "tasks", ["node_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "frames",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("render_seconds", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "frame"),
        schema=SCHEMA,
    )
    op.create_index("frames_task", "frames", ["task_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "node_status",
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("operator", sa.String(length=66), nullable=False),
        sa.Column("telemetry", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "job_node_failures",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocklisted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "node_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "chain_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("chain_job_id", U64, nullable=False),
        sa.Column("chain_task_id", U64, nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=True),
        sa.Column("quote", U64, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("txn_hash", sa.String(length=66), nullable=True),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], [f"{SCHEMA}.jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "job_id", "task_id", "attempt", name="chain_outbox_once"),
        schema=SCHEMA,
    )
    op.create_index("chain_outbox_pending", "chain_outbox", ["status", "next_try_at"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("chain_outbox_pending", table_name="chain_outbox", schema=SCHEMA)
    op.drop_table("chain_outbox", schema=SCHEMA)
    op.drop_table("job_node_failures", schema=SCHEMA)
    op.drop_table("node_status", schema=SCHEMA)
    op.drop_index("frames_task", table_name="frames", schema=SCHEMA)
    op.drop_table("frames", schema=SCHEMA)
    op.drop_index("tasks_node", table_name="tasks", schema=SCHEMA)
    op.drop_index("tasks_lease", table_name="tasks", schema=SCHEMA)
    op.drop_index("tasks_claimable", table_name="tasks", schema=SCHEMA)
    op.drop_table("tasks", schema=SCHEMA)
    op.drop_index("jobs_state", table_name="jobs", schema=SCHEMA)
    op.drop_index("jobs_owner", table_name="jobs", schema=SCHEMA)
    op.drop_table("jobs", schema=SCHEMA)
