"""Tables of sign-in and request authentication: sign-in nonces, sessions, node request nonces, rate limit counters.

The API's tables live in the PostgreSQL schema ``api``, apart from the chain mirror in ``public``: the
mirror is the indexer's (rebuilt from the chain), these are the service's own state.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table
from sqlalchemy.dialects.postgresql import JSONB

from tables.base import metadata

#: PostgreSQL schema of every API table.
SCHEMA = "api"

#: One row per issued AIP-116 sign-in request; ``used_at`` is set when a sign-in names it (single use).
signin_nonces = Table(
    "signin_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("address", String(66), nullable=False),
    Column("input", JSONB, nullable=False),  # the AptosSignInInput the message is rebuilt from
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Index("signin_nonces_address", "address"),
    Index("signin_nonces_expires_at", "expires_at"),
    schema=SCHEMA,
)

#: Sessions: only the sha256 of the bearer token is stored, so a database leak yields no usable token.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("address", String(66), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("sessions_address", "address"),
    Index("sessions_expires_at", "expires_at"),
    schema=SCHEMA,
)

#: Nonces of signed node requests, kept until their timestamp leaves the accepted window (replay guard).
node_request_nonces = Table(
    "node_request_nonces",
    metadata,
    Column("node", String(66), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("node_request_nonces_expires_at", "expires_at"),
    schema=SCHEMA,
)

#: Request counters of the rate limits (api/limits.py): one row per client and bucket, counting the requests of
#: the window that starts at ``window_start``; rows of past windows are swept.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("client", String(100), primary_key=True),  # "ip:…", "account:0x…", "node:…"
    Column("bucket", String(16), primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("hits", Integer, nullable=False),
    Index("rate_limits_window_start", "window_start"),
    schema=SCHEMA,
)
