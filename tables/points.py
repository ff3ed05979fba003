"""Tables of points: the append-only ledger and the state of its sources (check-ins, social claims, referrals,
online time, GPU claims, liveness checks), campaigns, the admin audit log and request rate limits.

Every credit is one ledger row keyed by ``(source, source_key)``: replaying a source (a rescan, a retried
request) hits the unique key and counts nothing twice. Ledger rows are never updated or deleted; a void is a
new negative row (source ``void``, ``source_key`` naming the voided entry, ``entry:<id>``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from tables.base import metadata

#: PostgreSQL schema of the API tables (as in tables.auth).
SCHEMA = "api"
U64 = Numeric(20, 0)

#: The points ledger: one row per credit (or void); a user's points are the sum of their rows.
points_ledger = Table(
    "points_ledger",
    metadata,
    Column("entry_id", BigInteger, Identity(), primary_key=True),
    Column("address", String(66), nullable=False),  # 0x + 64 lowercase hex
    Column("points", BigInteger, nullable=False),  # negative only for voids
    # render | online | job | checkin | social | referral | void | liveness
    Column("source", String(32), nullable=False),
    Column("source_key", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("source", "source_key", name="points_ledger_source_once"),
    Index("points_ledger_address", "address", "created_at"),
    Index("points_ledger_created", "created_at", "entry_id"),
    schema=SCHEMA,
)

#: Source events that earned nothing, and why (a duplicate GPU, a failed liveness check): shown to the user.
points_withheld = Table(
    "points_withheld",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("source_key", String(200), primary_key=True),
    Column("address", String(66), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("points_withheld_address", "address", "created_at"),
    schema=SCHEMA,
)

#: One row per (address, UTC day) checked in; ``streak`` counts consecutive days ending that day.
checkins = Table(
    "checkins",
    metadata,
    Column("address", String(66), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("streak", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    schema=SCHEMA,
)

#: Social task claims: one per (address, task); pending → approved (credited) | rejected (final).
social_claims = Table(
    "social_claims",
    metadata,
    Column("claim_id", BigInteger, Identity(), primary_key=True),
    Column("address", String(66), nullable=False),
    Column("task", String(32), nullable=False),
    Column("proof_url", String(500), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("reviewer", String(66)),
    Column("review_note", Text),
    UniqueConstraint("address", "task", name="social_claims_once"),
    Index("social_claims_status", "status", "claim_id"),
    schema=SCHEMA,
)

#: Each address's referral code (made on first ask).
referral_codes = Table(
    "referral_codes",
    metadata,
    Column("address", String(66), primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    schema=SCHEMA,
)

#: Who referred whom (set once per referee) and the running state of the referrer's 10% bonus.
referrals = Table(
    "referrals",
    metadata,
    Column("referee", String(66), primary_key=True),
    Column("referrer", String(66), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Ledger entries up to start_entry_id predate the referral and pay nothing.
    Column("start_entry_id", BigInteger, nullable=False),
    Column("scanned_upto", BigInteger, nullable=False),  # the referee's entries up to here are in eligible_total
    Column("eligible_total", BigInteger, nullable=False),  # the referee's points that pay the bonus
    Column("paid", BigInteger, nullable=False),  # the bonus credited so far (eligible_total // 10 after a scan)
    Index("referrals_referrer", "referrer", "created_at"),
    schema=SCHEMA,
)

#: Reward campaigns (data, several at once): a pool paid by rank bands, in points or PICTOR base units.
campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", BigInteger, Identity(), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("pool", U64, nullable=False),
    Column("currency", String(8), nullable=False),  # points | PICTOR
    Column("bands", JSONB, nullable=False),  # [{"from_rank", "to_rank", "amount_each"}], contiguous from rank 1
    Column("created_by", String(66), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("campaigns_period", "starts_at", "ends_at"),
    schema=SCHEMA,
)

#: Which node a GPU (kind ``gpu_uuid``) or a benchmark fingerprint (kind ``fingerprint``) counts for: the first.
gpu_claims = Table(
    "gpu_claims",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("node_id", BigInteger, nullable=False),
    Column("operator", String(66), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Index("gpu_claims_node", "node_id"),
    schema=SCHEMA,
)

#: The last heartbeat time the online-time scan saw per node (what the next scan measures from).
node_online = Table(
    "node_online",
    metadata,
    Column("node_id", BigInteger, primary_key=True),
    Column("operator", String(66), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("online_since", DateTime(timezone=True), nullable=False),  # start of the current unbroken run
    schema=SCHEMA,
)

#: Online seconds per (node, UTC day), credited once the day is over.
node_online_days = Table(
    "node_online_days",
    metadata,
    Column("node_id", BigInteger, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("operator", String(66), nullable=False),
    Column("seconds", Integer, nullable=False),
    schema=SCHEMA,
)

#: Liveness checks of nodes that heartbeat without work: pending → passed | failed (no online points that day)
#: | excused (no node rendered anything while it was open).
liveness_checks = Table(
    "liveness_checks",
    metadata,
    Column("check_id", BigInteger, Identity(), primary_key=True),
    Column("node_id", BigInteger, nullable=False),
    Column("operator", String(66), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # pending | passed | failed | excused
    Column("resolved_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("challenge", JSONB),  # the seed and frame sent to the node (null until its next heartbeat)
    Column("evidence", JSONB),  # how the answer was judged (metrics), once settled
    Index("liveness_checks_node", "node_id", "requested_at"),
    Index("liveness_checks_status", "status", "deadline"),
    schema=SCHEMA,
)

#: Every admin action (voids, reviews, campaigns), who did it and why.
admin_audit_log = Table(
    "admin_audit_log",
    metadata,
    Column("audit_id", BigInteger, Identity(), primary_key=True),
    Column("admin", String(66), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("admin_audit_log_created", "created_at"),
    schema=SCHEMA,
)

#: Requests counted by the rate limits (per address and action); rows older than a day are swept.
rate_events = Table(
    "rate_events",
    metadata,
    Column("event_id", BigInteger, Identity(), primary_key=True),
    Column("address", String(66), nullable=False),
    Column("action", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("rate_events_lookup", "address", "action", "at"),
    schema=SCHEMA,
)
