"""Tables of render jobs: jobs, their tasks (chunks of frames) and frames, node heartbeats, per-job node
failures (blocklist) and the chain outbox (coordinator transactions to submit exactly once).

Off-chain ids (``job_id``, ``task_id``) are the API's; the escrow's ids are ``jobs.chain_job_id`` (assigned by
the chain at ``open_job``) and ``tasks.seq`` (the task id inside the on-chain job, 1-based).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from tables.base import metadata

#: PostgreSQL schema of the API tables (as in tables.auth).
SCHEMA = "api"
U64 = Numeric(20, 0)


#: The jobs' matching requirements (what a worker must have, ``api.scheduler.mismatch``): derived from
#: ``settings`` by the trigger ``jobs_requirements`` (revision 0011; its expressions are there) at every insert
#: and every write of ``settings`` or of these columns. They were stored generated columns (revision 0009), whose
#: expressions PostgreSQL rebuilt at every UPDATE of a job, version bumps included.
REQUIREMENTS: tuple[tuple[str, Any], ...] = (
    ("req_engine", Text),
    ("req_gpus", Float),  # GPUs a worker needs: JobSpec.min_gpu_count, for GPU jobs only
    ("req_gpu_vendor", Text),
    ("req_gpu_model", Text),
    ("req_vram_gb", Float),
    ("req_ram_gb", Float),
    ("req_location", Text),
    ("req_tier", Text),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", BigInteger, Identity(), primary_key=True),
    Column("owner", String(66), nullable=False),
    Column("upload_id", String(32), ForeignKey(f"{SCHEMA}.uploads.upload_id"), nullable=False),
    Column("settings", JSONB, nullable=False),
    # awaiting_escrow | active | paused | completed | cancelled | expired
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("price_per_minute", U64, nullable=False),
    Column("budget", U64, nullable=False),
    Column("estimate", JSONB, nullable=False),
    Column("chain_job_id", U64, unique=True),
    Column("escrow_txn_hash", String(66)),
    Column("pause_reason", Text),
    Column("version", BigInteger, nullable=False),  # bumped on every change of the job or its frames
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # What a worker must have (``api.scheduler.mismatch``), derived from ``settings`` (REQUIREMENTS) so that a
    # claim matches jobs in SQL; ``settings`` is stored as ``JobSpec.model_dump(mode="json")``.
    *(Column(name, type_) for name, type_ in REQUIREMENTS),
    Index("jobs_owner", "owner", "job_id"),
    Index("jobs_state", "state"),
    schema=SCHEMA,
)
#: The claim's job order over claimable jobs: a claim walks it and stops at the first job with a free task.
Index(
    "jobs_claimable",
    jobs.c.priority.desc(),
    jobs.c.job_id,
    postgresql_where=and_(jobs.c.state.in_(("active", "paused")), jobs.c.chain_job_id.is_not(None)),
)

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", BigInteger, Identity(), primary_key=True),
    Column("job_id", BigInteger, ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),  # the on-chain task id inside the job
    Column("frames", ARRAY(Integer), nullable=False),
    # queued | assigned | rendering | rendered | cancelled
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("node_id", BigInteger),
    Column("lease_deadline", DateTime(timezone=True)),
    Column("quote", U64),
    Column("ref_minutes", Float, nullable=False),  # estimated reference-GPU-minutes of the whole task
    Column("manifest", JSONB),
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Nodes that may not claim this task again: one whose result failed verification, or lost a dispute.
    Column("excluded_nodes", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    UniqueConstraint("job_id", "seq", name="tasks_job_seq"),
    Index("tasks_node", "node_id"),
    schema=SCHEMA,
)
#: The claim's task order inside a job, over queued tasks only (small, and the claim's only task index read).
Index("tasks_queued", tasks.c.job_id, tasks.c.priority.desc(), tasks.c.seq, postgresql_where=tasks.c.state == "queued")
#: Leases by deadline (the sweep of expired leases); leased tasks only, so that other changes of state write no
#: entry (revision 0011).
Index("tasks_lease", tasks.c.lease_deadline, postgresql_where=tasks.c.state.in_(("assigned", "rendering")))
#: A job's tasks still to render (is the job finished?). ``task_id`` makes every key distinct: entries of one key
#: are merged into posting lists, whose dead TIDs are never marked dead one by one (revision 0011).
Index(
    "tasks_open",
    tasks.c.job_id,
    tasks.c.task_id,
    postgresql_where=tasks.c.state.in_(("queued", "assigned", "rendering")),
)

frames = Table(
    "frames",
    metadata,
    Column("job_id", BigInteger, ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("frame", Integer, primary_key=True),
    Column("task_id", BigInteger, nullable=False),
    # queued | assigned | rendering | rendered | verifying | verified | accepted | rejected | failed
    Column("state", String(16), nullable=False),
    Column("sha256", String(64)),  # the uploaded image (a blob)
    Column("render_seconds", Float),
    Column("width", Integer),
    Column("height", Integer),
    Column("format", String(16)),
    Column("rendered_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("frames_task", "task_id"),
    schema=SCHEMA,
)

#: The last heartbeat of each node: what the scheduler matches jobs against.
node_status = Table(
    "node_status",
    metadata,
    Column("node_id", BigInteger, primary_key=True),
    Column("operator", String(66), nullable=False),
    Column("telemetry", JSONB, nullable=False),
    Column("agent_version", String(64)),
    Column("multiplier", Float, nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    # The matching facts of ``api.scheduler.node_facts(telemetry)``, stored at each heartbeat so that a claim
    # matches in SQL without reading the telemetry (NULL in rows written before revision 0009).
    Column("engines", ARRAY(String(32))),
    Column("gpu_count", Integer),
    Column("gpu_vendor", String(32)),
    Column("gpu_models", ARRAY(Text)),
    Column("min_gpu_vram_gb", Float),
    Column("ram_gb", Float),
    Column("location", String(32)),
    schema=SCHEMA,
)

#: Failed tasks per (job, node); ``blocklisted`` once ``failures`` reaches the limit.
job_node_failures = Table(
    "job_node_failures",
    metadata,
    Column("job_id", BigInteger, ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("node_id", BigInteger, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("blocklisted", Boolean, nullable=False),
    Column("last_error", Text),
    schema=SCHEMA,
)

#: Coordinator transactions to submit (assign / requeue / close), one row per (kind, job, task, attempt).
chain_outbox = Table(
    "chain_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", String(16), nullable=False),  # assign | requeue | unverified | close
    Column("job_id", BigInteger, ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), nullable=False),
    Column("task_id", BigInteger, nullable=False),  # 0 for close
    Column("attempt", Integer, nullable=False),
    Column("chain_job_id", U64, nullable=False),
    Column("chain_task_id", U64, nullable=False),
    Column("node_id", BigInteger),
    Column("quote", U64),
    # pending | done | rejected
    Column("status", String(16), nullable=False),
    Column("tries", Integer, nullable=False),
    Column("last_error", Text),
    Column("txn_hash", String(66)),
    Column("next_try_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "job_id", "task_id", "attempt", name="chain_outbox_once"),
    Index("chain_outbox_pending", "status", "next_try_at"),
    # The claim's escrow check sums the quotes of a job's assignments not yet on chain.
    Index(
        "chain_outbox_pending_assign",
        "job_id",
        postgresql_include=["quote"],
        postgresql_where=text("kind = 'assign' AND status = 'pending'"),
    ),
    schema=SCHEMA,
)
