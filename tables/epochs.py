"""Tables of reward epochs: one row per epoch (its window and close state machine) and its payouts.

``epochs.state`` moves only forward, one committed step at a time (``rewards.epochs`` documents the machine):
``open → computing → computed → publishing → published``, or ``computing → empty`` when nobody is paid.
Amounts are PICTOR base units (u64, 8 decimals) as ``NUMERIC(20,0)``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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

#: Every state of an epoch, in order (``empty``: closed with no payout, nothing to publish).
EPOCH_STATES = ("open", "computing", "computed", "publishing", "published", "empty")

epochs = Table(
    "epochs",
    metadata,
    Column("epoch", BigInteger, primary_key=True, autoincrement=False),  # n, from 1
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),  # exclusive
    Column("state", String(16), nullable=False),
    # The newest points_ledger.entry_id when computing began: a resumed computation reads the same rows.
    Column("ledger_cutoff", BigInteger),
    Column("chain_epoch", U64, unique=True),  # the number published on chain (leaves hash it)
    Column("root", LargeBinary),
    Column("budget", U64),  # what the bands of the epoch's campaigns offer in all
    Column("total", U64),  # what the payouts add up to (the published total)
    Column("unpaid", U64),  # tie remainders (integer division) that nobody is paid
    Column("payout_count", Integer),
    Column("campaigns", JSONB),  # the campaigns (id, name, bands) the payouts came from
    Column("publisher", String(66)),
    Column("fund_txn_hash", String(66)),  # the last rewards::fund_pool this close submitted
    # The ledger version just before the first publish submission (committed before submitting): a restart
    # that finds the root on chain but no recorded hash looks for the publishing transaction from here.
    Column("publish_from_version", BigInteger),
    Column("publish_txn_hash", String(66)),  # the rewards::publish_epoch that put the root on chain
    Column("publish_version", BigInteger),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("computed_at", DateTime(timezone=True)),
    Column("published_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "state IN ('open', 'computing', 'computed', 'publishing', 'published', 'empty')", name="epochs_state_known"
    ),
    CheckConstraint("starts_at < ends_at", name="epochs_window"),
    Index("epochs_state", "state"),
    schema=SCHEMA,
)

#: One row per paid address of an epoch (its Merkle leaf): written once, with the epoch's ``computed`` step.
epoch_payouts = Table(
    "epoch_payouts",
    metadata,
    Column("epoch", BigInteger, ForeignKey(f"{SCHEMA}.epochs.epoch"), primary_key=True),
    Column("address", String(66), primary_key=True),
    Column("points", BigInteger, nullable=False),  # earned inside the epoch window
    Column("rank", Integer, nullable=False),  # standard competition rank (1, 2, 2, 4)
    Column("amount", U64, nullable=False),
    Column("leaf_index", Integer, nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("proof", ARRAY(LargeBinary), nullable=False),  # 32-byte siblings, leaf to root
    UniqueConstraint("epoch", "leaf_index", name="epoch_payouts_leaf_once"),
    Index("epoch_payouts_address", "address", "epoch"),
    schema=SCHEMA,
)
