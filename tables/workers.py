"""Tables of operator-created workers (enrollment of node keys) and of frames uploaded in parts.

A worker is created by a signed-in operator; its config file carries a single-use enrollment token (only the
token's sha256 is stored) with which the node binds its Ed25519 key to the worker (``POST /nodes/enroll``).
Frame parts are the pieces of a frame larger than the signed-body limit, kept until the node finalizes it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, LargeBinary, String, Table

from tables.base import metadata

#: PostgreSQL schema of the API tables (as in tables.auth).
SCHEMA = "api"

workers = Table(
    "workers",
    metadata,
    Column("worker_id", BigInteger, Identity(), primary_key=True),
    Column("operator", String(66), nullable=False),
    Column("name", String(100), nullable=False),
    Column("role", String(8), nullable=False),  # worker | checker
    Column("token_hash", String(64)),  # sha256 of the live enrollment token; NULL once used or revoked
    Column("token_expires_at", DateTime(timezone=True)),
    Column("public_key", LargeBinary),  # the enrolled node key (32 bytes)
    # The node's account address; unique even after a revoke, so a revoked key cannot be enrolled again.
    Column("node_address", String(66), unique=True),
    Column("enrolled_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("workers_operator", "operator", "worker_id"),
    schema=SCHEMA,
)

#: Received parts of a frame being uploaded in pieces, per lease attempt (the bytes are in the blob store's
#: scratch space); deleted when the frame is finalized.
frame_parts = Table(
    "frame_parts",
    metadata,
    Column("task_id", BigInteger, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("frame", Integer, primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("node_id", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    schema=SCHEMA,
)
