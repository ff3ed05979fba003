"""Tables of verification: checker work items (one per rendered task and round), per-frame verdicts with their
evidence, and checker heartbeats (schema ``api``).

A work item covers one task attempt (the unit the chain attests: job, task, result hash). ``purpose`` is
``verify`` (a submitted result) or ``dispute`` (a result the creator disputed inside the review window);
``round`` counts the checkers asked for the same attempt and purpose (an ``unsure`` verdict, or a quorum above
one, asks another operator). Evidence is kept as the canonical JSON the checker hashed, byte for byte, so the
served text hashes to the on-chain ``evidence_hash``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from tables.base import metadata

#: PostgreSQL schema of the API tables (as in tables.auth).
SCHEMA = "api"
U64 = Numeric(20, 0)

verifications = Table(
    "verifications",
    metadata,
    Column("verification_id", BigInteger, Identity(), primary_key=True),
    Column("job_id", BigInteger, ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), nullable=False),
    Column("task_id", BigInteger, nullable=False),  # the API's task
    Column("task_attempt", Integer, nullable=False),
    Column("chain_job_id", U64, nullable=False),
    Column("chain_task_id", U64, nullable=False),
    Column("purpose", String(8), nullable=False),  # verify | dispute
    Column("round", Integer, nullable=False),
    Column("frames", JSONB, nullable=False),  # [{"frame": n, "sha256": hex}] from the signed manifest
    Column("frame_numbers", ARRAY(Integer), nullable=False),
    Column("result_hash", String(64), nullable=False),  # sha256 of the canonical manifest (on chain)
    Column("worker_node_id", BigInteger, nullable=False),
    Column("worker_operator", String(66), nullable=False),
    # Operators that may not take this item besides the worker's (the passers of a frame the creator rejected).
    Column("excluded_operators", ARRAY(String(66)), nullable=False),
    # queued | claimed | done
    Column("state", String(8), nullable=False),
    Column("checker_node_id", BigInteger),
    Column("checker_operator", String(66)),
    Column("lease_deadline", DateTime(timezone=True)),
    Column("verdict", String(8)),  # pass | fail | unsure
    Column("evidence_hash", String(64)),
    Column("evidence_json", Text),  # the canonical JSON whose sha256 is evidence_hash
    Column("txn_hash", String(66)),  # the checker's attest / resolve_dispute transaction
    Column("chain_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("task_id", "task_attempt", "purpose", "round", name="verifications_once"),
    Index("verifications_claimable", "state", "verification_id"),
    Index("verifications_task", "task_id", "task_attempt"),
    Index("verifications_job", "job_id"),
    Index("verifications_evidence", "evidence_hash"),
    schema=SCHEMA,
)

#: One checker's verdict on one frame of a work item, with that frame's evidence (canonical JSON).
verification_frames = Table(
    "verification_frames",
    metadata,
    Column(
        "verification_id",
        BigInteger,
        ForeignKey(f"{SCHEMA}.verifications.verification_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("frame", Integer, primary_key=True),
    Column("job_id", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("evidence_hash", String(64), nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("fingerprint", JSONB),  # pHash/dHash/pixel sha256 of the frame (copy detection for later frames)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("verification_frames_job", "job_id", "frame"),
    Index("verification_frames_evidence", "evidence_hash"),
    schema=SCHEMA,
)

#: The last heartbeat of each checker node (kept apart from node_status, which the worker matching reads).
checker_status = Table(
    "checker_status",
    metadata,
    Column("node_id", BigInteger, primary_key=True),
    Column("operator", String(66), nullable=False),
    Column("telemetry", JSONB, nullable=False),
    Column("agent_version", String(64)),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    schema=SCHEMA,
)
