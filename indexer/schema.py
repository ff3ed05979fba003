"""The chain mirror's tables as SQLAlchemy Core objects (the migrations in ``migrations/`` create them).

Two kinds of tables:

* **event tables**: one row per decoded event (or per part of one, keyed by ``seq``), append-only,
  primary key ``(txn_version, event_index[, seq])``, every row carrying ``txn_hash``;
* **current-state tables** (vault accounts, jobs, tasks, nodes, stakes, unbonding requests, reward
  epochs, protocol config, PICTOR stores): what the chain's view functions answer, upserted from
  each batch's events in order, each row remembering the version that last changed it.

Types: every Move ``u64`` is ``NUMERIC(20,0)`` (exact, holds 0‥2^64−1, which BIGINT does not);
signed ledger deltas are ``NUMERIC(21,0)``; ``u8`` is SMALLINT; addresses are ``0x`` + 64 lowercase
hex digits; hashes and keys are BYTEA; transaction versions are BIGINT (as in Aptos's indexer).
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

U64 = Numeric(20, 0)
DELTA = Numeric(21, 0)
ADDRESS = String(66)
HASH = String(66)


def _u64(name: str, **kw: object) -> Column:
    """A NOT NULL u64 column."""
    return Column(name, U64, nullable=False, **kw)


def _addr(name: str, **kw: object) -> Column:
    """A NOT NULL address column."""
    return Column(name, ADDRESS, nullable=False, **kw)


def _event_table(name: str, *columns: Column | Index, seq: bool = False) -> Table:
    """An append-only event table keyed by ``(txn_version, event_index[, seq])``."""
    key = [
        Column("txn_version", BigInteger, primary_key=True),
        Column("event_index", Integer, primary_key=True),
    ]
    if seq:
        key.append(Column("seq", SmallInteger, primary_key=True))
    return Table(name, metadata, *key, Column("txn_hash", HASH, nullable=False), *columns)


def _state_table(name: str, *columns: Column | Index) -> Table:
    """A current-state table; ``last_version`` is the version of the last event that changed the row."""
    return Table(name, metadata, *columns, Column("last_version", BigInteger, nullable=False))


# ----------------------------------------------------------------------------- checkpoint

processor_status = Table(
    "processor_status",
    metadata,
    Column("processor", String(64), primary_key=True),
    Column("last_success_version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# ----------------------------------------------------------------------------- config & token

config_changes = _event_table(
    "config_changes",
    Column("kind", String(32), nullable=False),  # RolesUpdated, FeeSplitUpdated, ParamsUpdated, ...
    Column("data", JSONB, nullable=False),  # the event's fields, u64 as decimal strings, bytes as 0x-hex
)

protocol_config = _state_table(
    "protocol_config",
    Column("id", SmallInteger, primary_key=True),
    Column("admin", ADDRESS),
    Column("coordinator", ADDRESS),
    Column("treasury", ADDRESS),
    Column("credit_signer", LargeBinary),
    Column("worker_share_bps", U64),
    Column("checker_share_bps", U64),
    Column("quorum", U64),
    Column("min_worker_stake", U64),
    Column("min_checker_stake", U64),
    Column("unbonding_secs", U64),
    Column("review_window_secs", U64),
    Column("slash_bps", U64),
    Column("max_strikes", U64),
    Column("faucet_max", U64),
    Column("paused", Boolean),
    CheckConstraint("id = 1", name="protocol_config_singleton"),
)

token_mints = _event_table(
    "token_mints",
    _addr("to_address"),
    _u64("amount"),
    _u64("supply"),
    Index("token_mints_to_address", "to_address"),
)

#: ``0x1::fungible_asset::Deposit`` / ``Withdraw`` events on PICTOR stores.
token_activities = _event_table(
    "token_activities",
    _addr("store"),
    Column("owner", ADDRESS),
    Column("kind", String(8), nullable=False),  # deposit | withdraw
    _u64("amount"),
    Index("token_activities_store", "store"),
    Index("token_activities_owner", "owner"),
)

token_stores = _state_table(
    "token_stores",
    Column("store", ADDRESS, primary_key=True),
    Column("owner", ADDRESS),
    _u64("balance"),
    Index("token_stores_owner", "owner"),
)

# ----------------------------------------------------------------------------- vault

vault_deposits = _event_table(
    "vault_deposits", _addr("user_address"), _u64("amount"), _u64("balance"),
    Index("vault_deposits_user", "user_address"),
)
vault_withdrawals = _event_table(
    "vault_withdrawals", _addr("user_address"), _u64("amount"), _u64("balance"),
    Index("vault_withdrawals_user", "user_address"),
)
credit_claims = _event_table(
    "credit_claims", _addr("user_address"), _u64("amount"), _u64("nonce"), _u64("credit"),
    Index("credit_claims_user", "user_address"),
)

#: Every change of a vault account (credit and withdrawable balance), one row per account touched by an event.
vault_ledger = _event_table(
    "vault_ledger",
    _addr("address"),
    Column("kind", String(16), nullable=False),
    Column("credit_delta", DELTA, nullable=False),
    Column("balance_delta", DELTA, nullable=False),
    Column("job_id", U64),
    Column("task_id", U64),
    Index("vault_ledger_address", "address", "txn_version"),
    seq=True,
)

vault_accounts = _state_table(
    "vault_accounts",
    Column("address", ADDRESS, primary_key=True),
    _u64("credit"),
    _u64("balance"),
)

# ----------------------------------------------------------------------------- escrow

jobs = _state_table(
    "jobs",
    Column("job_id", U64, primary_key=True),
    _addr("creator"),
    _addr("store"),
    _u64("budget"),
    _u64("credit_in"),
    _u64("spent"),
    _u64("reserved"),
    _u64("price_per_minute"),
    Column("closed", Boolean, nullable=False),
    Column("opened_version", BigInteger, nullable=False),
    Index("jobs_creator", "creator"),
)

#: Every movement of a job's escrow: open / top_up (+), charge (− at settlement), refund (− at close).
escrow_ledger = _event_table(
    "escrow_ledger",
    _u64("job_id"),
    Column("kind", String(8), nullable=False),
    Column("delta", DELTA, nullable=False),
    _u64("credit_amount"),
    _u64("balance_amount"),
    Column("task_id", U64),
    Index("escrow_ledger_job", "job_id", "txn_version"),
)

tasks = _state_table(
    "tasks",
    Column("job_id", U64, primary_key=True),
    Column("task_id", U64, primary_key=True),
    Column("state", SmallInteger, nullable=False),
    _u64("node_id"),
    _addr("worker_operator"),
    _u64("quote"),
    Column("result_hash", LargeBinary, nullable=False),
    _u64("reference_ms"),
    _u64("charge"),
    _u64("attempt"),
    _u64("review_deadline"),
    _u64("pass_count"),
    _u64("fail_count"),
    Index("tasks_node", "node_id"),
)

task_assignments = _event_table(
    "task_assignments", _u64("job_id"), _u64("task_id"), _u64("node_id"), _addr("worker_operator"),
    _u64("quote"), _u64("attempt"),
    Index("task_assignments_task", "job_id", "task_id"),
)
task_requeues = _event_table(
    "task_requeues", _u64("job_id"), _u64("task_id"), _u64("node_id"), Column("reason", SmallInteger, nullable=False),
    Index("task_requeues_task", "job_id", "task_id"),
)
task_results = _event_table(
    "task_results", _u64("job_id"), _u64("task_id"), _u64("node_id"),
    Column("result_hash", LargeBinary, nullable=False), _u64("reference_ms"), _u64("charge"),
    Index("task_results_task", "job_id", "task_id"),
)
task_verifications = _event_table(
    "task_verifications", _u64("job_id"), _u64("task_id"), _u64("charge"), _u64("review_deadline"),
    Index("task_verifications_task", "job_id", "task_id"),
)
task_disputes = _event_table(
    "task_disputes", _u64("job_id"), _u64("task_id"), _u64("node_id"),
    Index("task_disputes_task", "job_id", "task_id"),
)
task_settlements = _event_table(
    "task_settlements",
    _u64("job_id"),
    _u64("task_id"),
    _u64("node_id"),
    _u64("charge"),
    _addr("worker_operator"),
    _u64("worker_amount"),
    Column("checkers", ARRAY(Text), nullable=False),
    _u64("checker_amount"),
    _addr("treasury"),
    _u64("treasury_amount"),
    Index("task_settlements_task", "job_id", "task_id"),
    Index("task_settlements_worker", "worker_operator"),
)

# ----------------------------------------------------------------------------- attestation

attestations = _event_table(
    "attestations",
    _u64("job_id"),
    _u64("task_id"),
    _u64("node_id"),
    _addr("operator"),
    _u64("attempt"),
    Column("result_hash", LargeBinary, nullable=False),
    Column("pass", Boolean, nullable=False),
    Column("evidence_hash", LargeBinary, nullable=False),
    Index("attestations_task", "job_id", "task_id"),
    Index("attestations_node", "node_id"),
)
abstentions = _event_table(
    "abstentions",
    _u64("job_id"),
    _u64("task_id"),
    _u64("node_id"),
    _addr("operator"),
    _u64("attempt"),
    Column("result_hash", LargeBinary, nullable=False),
    Column("evidence_hash", LargeBinary, nullable=False),
    Index("abstentions_task", "job_id", "task_id"),
)
dispute_resolutions = _event_table(
    "dispute_resolutions", _u64("job_id"), _u64("task_id"), _u64("node_id"), Column("upheld", Boolean, nullable=False),
    Column("evidence_hash", LargeBinary, nullable=False),
    Index("dispute_resolutions_task", "job_id", "task_id"),
)

# ----------------------------------------------------------------------------- registry

nodes = _state_table(
    "nodes",
    Column("node_id", U64, primary_key=True),
    _addr("operator"),
    Column("role", SmallInteger, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    _addr("account"),
    Column("active", Boolean, nullable=False),
    _u64("strikes"),
    Column("registered_version", BigInteger, nullable=False),
    Index("nodes_operator", "operator"),
    Index("nodes_account", "account"),
)
node_registrations = _event_table(
    "node_registrations", _u64("node_id"), _addr("operator"), Column("role", SmallInteger, nullable=False),
    Column("public_key", LargeBinary, nullable=False), _addr("account"),
    Index("node_registrations_node", "node_id"),
)
node_key_rotations = _event_table(
    "node_key_rotations", _u64("node_id"), _addr("old_account"), Column("public_key", LargeBinary, nullable=False),
    _addr("account"),
    Index("node_key_rotations_node", "node_id"),
)
node_deregistrations = _event_table(
    "node_deregistrations", _u64("node_id"), _addr("operator"),
    Index("node_deregistrations_node", "node_id"),
)
node_strikes = _event_table(
    "node_strikes", _u64("node_id"), _u64("strikes"),
    Index("node_strikes_node", "node_id"),
)

# ----------------------------------------------------------------------------- staking

stakes = _state_table(
    "stakes",
    Column("operator", ADDRESS, primary_key=True),
    Column("role", SmallInteger, primary_key=True),
    _u64("active"),
    _u64("unbonding"),
)

#: Unbonding requests as the chain keeps them: ``amount`` is what is left (slashes take from the newest).
unbonding_requests = _state_table(
    "unbonding_requests",
    Column("request_id", U64, primary_key=True),
    _addr("operator"),
    Column("role", SmallInteger, nullable=False),
    _u64("amount"),
    _u64("requested_amount"),
    _u64("release_at"),
    Column("status", String(16), nullable=False),  # pending | withdrawn | slashed (emptied by a slash)
    Column("requested_version", BigInteger, nullable=False),
    Index("unbonding_requests_operator", "operator"),
)

stake_deposits = _event_table(
    "stake_deposits", _addr("operator"), Column("role", SmallInteger, nullable=False), _u64("amount"), _u64("active"),
    Index("stake_deposits_operator", "operator"),
)
unstake_requests = _event_table(
    "unstake_requests", _addr("operator"), Column("role", SmallInteger, nullable=False), _u64("amount"),
    _u64("request_id"), _u64("release_at"), _u64("active"),
    Index("unstake_requests_operator", "operator"),
)
unstake_withdrawals = _event_table(
    "unstake_withdrawals", _addr("operator"), _u64("amount"), Column("request_ids", ARRAY(U64), nullable=False),
    Index("unstake_withdrawals_operator", "operator"),
)
slashes = _event_table(
    "slashes",
    _addr("operator"),
    Column("role", SmallInteger, nullable=False),
    _u64("amount"),
    Column("reason", SmallInteger, nullable=False),
    _u64("job_id"),
    _u64("task_id"),
    _addr("treasury"),
    Index("slashes_operator", "operator"),
)

# ----------------------------------------------------------------------------- rewards

reward_pool_fundings = _event_table(
    "reward_pool_fundings", _addr("funder"), _u64("amount"), _u64("pool"),
    Index("reward_pool_fundings_funder", "funder"),
)
epoch_publications = _event_table(
    "epoch_publications", _u64("epoch"), Column("root", LargeBinary, nullable=False), _u64("total"),
)
reward_claims = _event_table(
    "reward_claims", _u64("epoch"), _u64("claim_index"), _addr("user_address"), _u64("amount"),
    Index("reward_claims_user", "user_address"),
    Index("reward_claims_epoch", "epoch", "claim_index"),
)
reward_epochs = _state_table(
    "reward_epochs",
    Column("epoch", U64, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    _u64("total"),
    _u64("claimed"),
    Column("published_version", BigInteger, nullable=False),
)
