"""Tables of leaderboard snapshots: one header per scope and the ranked rows of each snapshot generation.

A snapshot ranks every address's total points in one scope (``global``, or ``campaign:<id>`` for the ledger
rows created in the campaign's ``[starts_at, ends_at)``) as of a ledger high-water mark: every ledger entry with
``entry_id <= high_water`` is in it, none above. Reads add the ledger rows above the mark (see
``rewards.snapshots``), so a snapshot can be minutes old and reads are still current.

``leaderboard_rows`` is partitioned by generation: a refresh builds the next generation as a plain table in the
schema ``leaderboard`` (no index maintenance while it is filled), indexes it, attaches it, points the header at
it and drops the previous one. Readers never see a half-built generation.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
)

from tables.base import metadata

#: PostgreSQL schema of the API tables (as in tables.auth).
SCHEMA = "api"
#: Schema of the generation tables (partitions of ``leaderboard_rows``): derived data, rebuilt by every refresh.
PARTITION_SCHEMA = "leaderboard"

#: Generation numbers: global across scopes, so one number names one partition.
leaderboard_generation = Sequence("leaderboard_generation", schema=SCHEMA, metadata=metadata)

#: The current snapshot of each scope: which generation, the ledger mark it covers, how it was made.
leaderboard_snapshots = Table(
    "leaderboard_snapshots",
    metadata,
    Column("scope", String(40), primary_key=True),  # "global" | "campaign:<campaign_id>"
    Column("generation", BigInteger, nullable=False),
    Column("high_water", BigInteger, nullable=False),  # every ledger entry_id <= this is counted, none above
    Column("users", BigInteger, nullable=False),  # rows of the generation
    Column("starts_at", DateTime(timezone=True)),  # the campaign window counted (NULL for global)
    Column("ends_at", DateTime(timezone=True)),
    Column("refreshed_at", DateTime(timezone=True), nullable=False),
    Column("refresh_ms", Integer, nullable=False),
    schema=SCHEMA,
)

#: Ranked totals of one generation. ``position`` is the 0-based place in the order (points desc, address asc);
#: ``rank`` is the standard competition rank (ties share it: 1, 2, 2, 4). Addresses compare bytewise
#: (collation "C") so the database and Python order them alike.
leaderboard_rows = Table(
    "leaderboard_rows",
    metadata,
    Column("generation", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("rank", BigInteger, nullable=False),
    Column("address", String(66, collation="C"), nullable=False),
    Column("points", BigInteger, nullable=False),
    PrimaryKeyConstraint("generation", "position", name="leaderboard_rows_pkey"),
    Index("leaderboard_rows_address", "generation", "address", unique=True),
    Index("leaderboard_rows_points", "generation", "points", "address"),
    schema=SCHEMA,
    postgresql_partition_by="LIST (generation)",
)
