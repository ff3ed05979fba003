"""scheduler: indexes and columns for fast task claims (schema ``api``)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"


def _fact_columns() -> tuple[sa.Column, ...]:
    """node_status columns holding the matching facts of the last heartbeat (NULL until the node's next one)."""
    return (
        sa.Column("engines", postgresql.ARRAY(sa.String(length=32)), nullable=True),
        sa.Column("gpu_count", sa.Integer(), nullable=True),
        sa.Column("gpu_vendor", sa.String(length=32), nullable=True),
        sa.Column("gpu_models", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("min_gpu_vram_gb", sa.Float(), nullable=True),
        sa.Column("ram_gb", sa.Float(), nullable=True),
        sa.Column("location", sa.String(length=32), nullable=True),
    )


def _number(path: str) -> str:
    """SQL: the JSON number at ``path`` of ``settings`` as float8 (NULL when absent or not a number)."""
    return f"CASE WHEN jsonb_typeof(settings #> '{path}') = 'number' THEN CAST(settings #>> '{path}' AS float8) END"


def _requirement_columns() -> tuple[sa.Column, ...]:
    """jobs columns generated from ``settings``: what a worker must have (api.scheduler.mismatch)."""
    gpus = f"CASE WHEN settings ->> 'device' = 'GPU' THEN coalesce({_number('{hardware,gpu_count}')}, 1) ELSE 0 END"
    return (
        sa.Column("req_engine", sa.Text(), sa.Computed("settings ->> 'engine'", persisted=True)),
        sa.Column("req_gpus", sa.Float(), sa.Computed(gpus, persisted=True)),
        sa.Column(
            "req_gpu_vendor",
            sa.Text(),
            sa.Computed("coalesce(settings #>> '{hardware,gpu_vendor}', 'any')", persisted=True),
        ),
        sa.Column(
            "req_gpu_model",
            sa.Text(),
            sa.Computed("nullif(lower(settings #>> '{hardware,gpu_model}'), '')", persisted=True),
        ),
        sa.Column("req_vram_gb", sa.Float(), sa.Computed(_number("{hardware,min_vram_gb}"), persisted=True)),
        sa.Column("req_ram_gb", sa.Float(), sa.Computed(_number("{hardware,min_ram_gb}"), persisted=True)),
        sa.Column(
            "req_location", sa.Text(), sa.Computed("coalesce(settings ->> 'worker_location', 'any')", persisted=True)
        ),
        sa.Column("req_tier", sa.Text(), sa.Computed("coalesce(settings ->> 'pricing_tier', 'none')", persisted=True)),
    )


def upgrade() -> None:
    """Apply this revision."""
    for column in _fact_columns():
        op.add_column("node_status", column, schema=SCHEMA)
    for column in _requirement_columns():
        op.add_column("jobs", column, schema=SCHEMA)
    # The claim reads queued tasks only, in (job, priority desc, seq) order: a partial index stays small as
    # tasks finish, and replaces the old (state, priority, job_id, task_id) one, which no query used.
    op.drop_index("tasks_claimable", table_name="tasks", schema=SCHEMA)
    op.create_index(
        "tasks_queued",
        "tasks",
        ["job_id", sa.text("priority DESC"), "seq"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "tasks_open",
        "tasks",
        ["job_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('queued', 'assigned', 'rendering')"),
    )
    op.create_index(
        "jobs_claimable",
        "jobs",
        [sa.text("priority DESC"), "job_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('active', 'paused') AND chain_job_id IS NOT NULL"),
    )
    op.create_index(
        "chain_outbox_pending_assign",
        "chain_outbox",
        ["job_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_include=["quote"],
        postgresql_where=sa.text("kind = 'assign' AND status = 'pending'"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("chain_outbox_pending_assign", table_name="chain_outbox", schema=SCHEMA)
    op.drop_index("jobs_claimable", table_name="jobs", schema=SCHEMA)
    op.drop_index("tasks_open", table_name="tasks", schema=SCHEMA)
    op.drop_index("tasks_queued", table_name="tasks", schema=SCHEMA)
    op.create_index("tasks_claimable", "tasks", ["state", "priority", "job_id", "task_id"], unique=False, schema=SCHEMA)
    for column in reversed(_requirement_columns()):
        op.drop_column("jobs", column.name, schema=SCHEMA)
    for column in reversed(_fact_columns()):
        op.drop_column("node_status", column.name, schema=SCHEMA)
