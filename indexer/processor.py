"""Decode committed transactions and fold their events into mirror rows (pure: no I/O).

Two steps per batch of transactions, in version order:

1. :func:`decode_transactions` turns the node's transaction dicts into :class:`DecodedTxn` (the
   ``pictor`` events through :mod:`chain.events`, plus ``0x1::fungible_asset::Deposit/Withdraw``
   on PICTOR stores, recognised from the transaction's write set);
2. :class:`Fold` applies the events, in order, to the current state of the rows they touch (loaded
   by the writer, see :meth:`Fold.keys`) and produces the event-table rows and the final
   current-state rows to upsert.

Every row's tuple follows its table's column order in :mod:`indexer.schema`.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from chain import events as ev
from chain.client import ChainTransaction
from chain.constants import MODULE_STORE_SEEDS, object_address
from chain.keys import normalize_address
from indexer import schema

TX_FA_DEPOSIT = "0x1::fungible_asset::Deposit"
TX_FA_WITHDRAW = "0x1::fungible_asset::Withdraw"
FUNGIBLE_STORE_T = "0x1::fungible_asset::FungibleStore"
OBJECT_CORE_T = "0x1::object::ObjectCore"

# Task states (chain/SPEC.md, escrow).
QUEUED, ASSIGNED, SUBMITTED, VERIFIED, SETTLED, DISPUTED = range(6)
REQUEUE_JOB_CLOSED = 4
ZERO_ADDRESS = "0x" + "0" * 64

#: Column names of every table, in order (rows are tuples in this order).
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in t.columns) for name, t in schema.metadata.tables.items()
}


def pictor_metadata_address(package_address: str) -> str:
    """The PICTOR metadata object (seed ``b"PICTOR"``)."""
    return object_address(package_address, b"PICTOR")


def module_store(package_address: str, name: str) -> str:
    """Address of the ``vault``, ``staking`` or ``rewards`` module store."""
    return object_address(package_address, MODULE_STORE_SEEDS[name])


class TokenMovement(NamedTuple):
    """A ``0x1::fungible_asset::Deposit`` / ``Withdraw`` event on a PICTOR store (a tuple: cheap to make)."""

    kind: str  # deposit | withdraw
    store: str
    amount: int
    owner: str | None  # the store's owner when the transaction's write set says it


@dataclass
class DecodedTxn:
    """One transaction's version, hash and indexed events ``(event_index, event)``."""

    version: int
    hash: str
    events: list[tuple[int, ev.PictorEvent | TokenMovement]]


@dataclass
class DecodedBatch:
    """Decoded transactions covering the versions ``first_version..last_version`` (inclusive)."""

    first_version: int
    last_version: int
    txns: list[DecodedTxn]

    @property
    def event_count(self) -> int:
        """Number of indexed events in the batch."""
        return sum(len(t.events) for t in self.txns)

    def after(self, version: int) -> DecodedBatch:
        """The part of the batch strictly after ``version`` (what a checkpoint at ``version`` still needs)."""
        if version < self.first_version:
            return self
        return DecodedBatch(version + 1, self.last_version, [t for t in self.txns if t.version > version])


def fast_address(value: str) -> str:
    """``0x`` + 64 lowercase hex digits, for the node's JSON addresses (ValueError if it is not one)."""
    return normalize_address(value)  # its fast path: canonical addresses already seen


def _pictor_stores(txn: dict[str, Any], metadata: str) -> dict[str, str | None]:
    """PICTOR stores written by the transaction: store address -> owner (when its ObjectCore is written)."""
    stores: dict[str, str | None] = {}
    owners: dict[str, str] = {}
    for change in txn.get("changes") or ():
        if change.get("type") != "write_resource":
            continue
        data = change.get("data") or {}
        kind = data.get("type")
        if kind == FUNGIBLE_STORE_T:
            inner = (data.get("data") or {}).get("metadata", {}).get("inner")
            if inner is not None and fast_address(inner) == metadata:
                stores[fast_address(change["address"])] = None
        elif kind == OBJECT_CORE_T:
            owners[fast_address(change["address"])] = fast_address(data["data"]["owner"])
    for store in stores:
        stores[store] = owners.get(store)
    return stores


_FA_KINDS = {TX_FA_DEPOSIT: "deposit", TX_FA_WITHDRAW: "withdraw"}
_first = operator.itemgetter(0)
_PICTOR = object()  # an event type of the package
_UNSEEN = object()


def _version(txn: ChainTransaction | dict[str, Any]) -> int:
    return txn.version if isinstance(txn, ChainTransaction) else int(txn["version"])


def _event_kind(type_tag: str, package: str) -> Any:
    """What an event type is to the indexer: a PICTOR movement kind, a pictor event (_PICTOR), or None."""
    if type_tag in _FA_KINDS:
        return _FA_KINDS[type_tag]
    parsed = ev.split_type_tag(type_tag)
    return _PICTOR if parsed is not None and parsed[0] == package else None


def decode_transactions(txns: Iterable[ChainTransaction | dict[str, Any]], package_address: str) -> list[DecodedTxn]:
    """The pictor events and PICTOR token movements of committed transactions (failed ones have none).

    A transaction is the node's JSON dict (the indexer's hot path: one pass over its events, each
    event type classified once) or the client's :class:`~chain.client.ChainTransaction` (its pictor
    events already decoded).
    """
    package = normalize_address(package_address)
    metadata = pictor_metadata_address(package)
    # module stores are created at genesis, before any movement: their owner is known, not read
    known_owners = {module_store(package, name): package for name in MODULE_STORE_SEEDS}
    kinds: dict[str, Any] = {}  # event type -> _event_kind (a page repeats a handful of types)
    decode = ev.decode_event
    out: list[DecodedTxn] = []
    for txn in txns:
        fa: list[tuple[int, str, dict[str, Any]]] = []
        if isinstance(txn, ChainTransaction):
            raw = txn.raw
            if not txn.success:
                continue
            decoded: list[tuple[int, ev.PictorEvent | TokenMovement]] = [(r.index, r.event) for r in txn.events]
            for index, e in enumerate(raw.get("events") or ()):
                if e.get("type") in _FA_KINDS:
                    fa.append((index, _FA_KINDS[e["type"]], e))
        else:
            raw = txn
            if raw.get("success") is False:
                continue
            decoded = []
            for index, e in enumerate(raw.get("events") or ()):
                type_tag = e.get("type")
                if type_tag.__class__ is not str:  # malformed: decode_event says what it is
                    if (event := decode(e, package)) is not None:
                        decoded.append((index, event))
                    continue
                kind = kinds.get(type_tag, _UNSEEN)
                if kind is _UNSEEN:
                    kind = kinds[type_tag] = _event_kind(type_tag, package)
                if kind is _PICTOR:
                    decoded.append((index, decode(e, package)))  # type: ignore[arg-type]  # never None here
                elif kind is not None:
                    fa.append((index, kind, e))
        if fa:
            stores = _pictor_stores(raw, metadata)
            moved = False
            for index, kind, e in fa:
                store = fast_address(e["data"]["store"])
                if store in stores:
                    owner = stores[store] or known_owners.get(store)
                    decoded.append((index, TokenMovement(kind, store, int(e["data"]["amount"]), owner)))
                    moved = True
            if moved:
                decoded.sort(key=_first)  # event indexes are unique within a transaction
        if decoded:
            out.append(DecodedTxn(int(raw["version"]), raw["hash"], decoded))
    return out


def decode_batch(txns: Sequence[ChainTransaction | dict[str, Any]], package_address: str) -> DecodedBatch:
    """Decode a contiguous, version-ordered page of transactions into a :class:`DecodedBatch`."""
    if not txns:
        raise ValueError("an empty page has no version range")
    first, last = _version(txns[0]), _version(txns[-1])
    if last - first + 1 != len(txns):
        raise ValueError(f"transactions {first}..{last} are not contiguous ({len(txns)} given)")
    return DecodedBatch(first, last, decode_transactions(txns, package_address))


# ----------------------------------------------------------------------------- state keys


@dataclass
class Keys:
    """The current-state rows a batch touches (what the writer loads before folding)."""

    accounts: set[str] = field(default_factory=set)
    jobs: set[int] = field(default_factory=set)
    tasks: set[tuple[int, int]] = field(default_factory=set)
    nodes: set[int] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)  # stakes and unbonding requests
    epochs: set[int] = field(default_factory=set)
    stores: set[str] = field(default_factory=set)
    config: bool = False
    # keys whose first event in the batch creates their row from the event alone (nothing to load)
    fresh_jobs: set[int] = field(default_factory=set)
    fresh_tasks: set[tuple[int, int]] = field(default_factory=set)
    fresh_nodes: set[int] = field(default_factory=set)
    fresh_epochs: set[int] = field(default_factory=set)


@dataclass
class State:
    """Current-state rows (dicts keyed by column name) by primary key; the fold mutates them."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    stakes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    unbonding: dict[int, dict[str, Any]] = field(default_factory=dict)  # pending requests by id
    epochs: dict[int, dict[str, Any]] = field(default_factory=dict)
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] | None = None


def _task_keys(keys: Keys, e: Any) -> None:
    keys.jobs.add(e.job_id)
    keys.tasks.add((e.job_id, e.task_id))


def _settled_keys(keys: Keys, e: ev.TaskSettled) -> None:
    _task_keys(keys, e)
    keys.accounts.update((e.worker_operator, e.treasury, *e.checkers))


def _slashed_keys(keys: Keys, e: ev.Slashed) -> None:
    keys.operators.add(e.operator)
    keys.accounts.add(e.treasury)


def _config_keys(keys: Keys, e: Any) -> None:
    keys.config = True


def _opened_keys(keys: Keys, e: ev.JobOpened) -> None:
    if e.job_id not in keys.jobs:
        keys.fresh_jobs.add(e.job_id)
        keys.jobs.add(e.job_id)
    keys.accounts.add(e.creator)


def _assigned_keys(keys: Keys, e: ev.TaskAssigned) -> None:
    keys.jobs.add(e.job_id)
    task = (e.job_id, e.task_id)
    if task not in keys.tasks:  # an assignment builds the whole task row
        keys.fresh_tasks.add(task)
        keys.tasks.add(task)


def _registered_keys(keys: Keys, e: ev.NodeRegistered) -> None:
    if e.node_id not in keys.nodes:
        keys.fresh_nodes.add(e.node_id)
        keys.nodes.add(e.node_id)


def _published_keys(keys: Keys, e: ev.EpochPublished) -> None:
    if e.epoch not in keys.epochs:
        keys.fresh_epochs.add(e.epoch)
        keys.epochs.add(e.epoch)


#: Per event type, how it adds the current-state keys it touches to a :class:`Keys`.
_KEY_COLLECTORS: dict[type, Callable[[Keys, Any], None]] = {
    TokenMovement: lambda k, e: k.stores.add(e.store),
    ev.Deposited: lambda k, e: k.accounts.add(e.user),
    ev.Withdrawn: lambda k, e: k.accounts.add(e.user),
    ev.CreditClaimed: lambda k, e: k.accounts.add(e.user),
    ev.JobOpened: _opened_keys,
    ev.JobToppedUp: lambda k, e: k.jobs.add(e.job_id),
    ev.JobClosed: lambda k, e: k.jobs.add(e.job_id),
    ev.TaskAssigned: _assigned_keys,
    ev.TaskRequeued: _task_keys,
    ev.ResultSubmitted: _task_keys,
    ev.TaskVerified: _task_keys,
    ev.TaskDisputed: _task_keys,
    ev.TaskSettled: _settled_keys,
    ev.Attested: _task_keys,
    ev.Abstained: lambda k, e: None,
    ev.DisputeResolved: _task_keys,
    ev.Staked: lambda k, e: k.operators.add(e.operator),
    ev.UnstakeRequested: lambda k, e: k.operators.add(e.operator),
    ev.UnstakeWithdrawn: lambda k, e: k.operators.add(e.operator),
    ev.Slashed: _slashed_keys,
    ev.NodeRegistered: _registered_keys,
    ev.NodeKeyRotated: lambda k, e: k.nodes.add(e.node_id),
    ev.NodeDeregistered: lambda k, e: k.nodes.add(e.node_id),
    ev.NodeStruck: lambda k, e: k.nodes.add(e.node_id),
    ev.EpochPublished: _published_keys,
    ev.RewardClaimed: lambda k, e: k.epochs.add(e.epoch),
    ev.Minted: lambda k, e: None,
    ev.PoolFunded: lambda k, e: None,
    **{cls: _config_keys for cls in ev.EVENT_CLASSES if cls.MODULE == "config"},
}


def collect_keys(txns: Iterable[DecodedTxn]) -> Keys:
    """Every current-state key the events name directly (job creators are added once jobs are loaded)."""
    keys = Keys()
    collectors = _KEY_COLLECTORS
    for txn in txns:
        for _, e in txn.events:
            collectors[type(e)](keys, e)
    return keys


# ----------------------------------------------------------------------------- fold


@dataclass
class Rows:
    """What one batch writes: event rows per table, and current-state rows to upsert per table."""

    events: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    upserts: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def event_row_count(self) -> int:
        """Number of event-table rows."""
        return sum(len(rows) for rows in self.events.values())


def _row(table: str, values: dict[str, Any]) -> tuple[Any, ...]:
    """A current-state dict as a tuple in the table's column order."""
    return tuple(values[c] for c in COLUMNS[table])


def _event_json(e: ev.PictorEvent) -> str:
    """An event's fields as JSON: u64 as decimal strings, bytes as 0x-hex (as the node renders them)."""
    data: dict[str, Any] = {}
    for move_name, move_type in e.MOVE_FIELDS:
        value = getattr(e, ev.python_field_name(move_name))
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        elif move_type in ("u64", "u128", "u256"):
            value = str(value)
        data[move_name] = value
    return json.dumps(data, separators=(",", ":"))


class Fold:
    """Applies a batch's events in order to the loaded :class:`State`, collecting rows to write."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.rows = Rows()
        self._dirty: dict[str, dict[Any, dict[str, Any]]] = {}
        self._v = 0
        self._i = 0
        self._h = ""
        self._handlers: dict[type, Callable[[Any], None]] = {
            cls: getattr(self, "_on_" + cls.__name__) for cls in ev.EVENT_CLASSES
        }
        self._handlers[TokenMovement] = self._on_TokenMovement

    # -- plumbing

    def _emit(self, table: str, *values: Any) -> None:
        """Append an event row ``(txn_version, event_index, txn_hash, *values)``."""
        self.rows.events.setdefault(table, []).append((self._v, self._i, self._h, *values))

    def _touch(self, table: str, key: Any, row: dict[str, Any]) -> None:
        """Mark a current-state row changed by the current event."""
        row["last_version"] = self._v
        self._dirty.setdefault(table, {})[key] = row

    def _ledger(
        self,
        seq: int,
        address: str,
        kind: str,
        credit: int,
        balance: int,
        job_id: int | None = None,
        task_id: int | None = None,
    ) -> None:
        """A vault-ledger row and the account change it records."""
        self.rows.events.setdefault("vault_ledger", []).append(
            (self._v, self._i, seq, self._h, address, kind, credit, balance, job_id, task_id)
        )
        account = self._account(address)
        account["credit"] += credit
        account["balance"] += balance
        self._touch("vault_accounts", address, account)

    def _account(self, address: str) -> dict[str, Any]:
        account = self.state.accounts.get(address)
        if account is None:
            account = self.state.accounts[address] = {"address": address, "credit": 0, "balance": 0}
        return account

    def _stake(self, operator: str, role: int) -> dict[str, Any]:
        stake = self.state.stakes.get((operator, role))
        if stake is None:
            stake = self.state.stakes[(operator, role)] = {
                "operator": operator,
                "role": role,
                "active": 0,
                "unbonding": 0,
            }
        return stake

    def _config(self) -> dict[str, Any]:
        if self.state.config is None:
            self.state.config = {c: None for c in COLUMNS["protocol_config"]} | {"id": 1}
        return self.state.config

    def apply(self, txns: Iterable[DecodedTxn]) -> Rows:
        """Fold every event of ``txns`` (in order) and return the rows to write."""
        handlers = self._handlers
        for txn in txns:
            self._v, self._h = txn.version, txn.hash
            for index, event in txn.events:
                self._i = index
                handlers[type(event)](event)
        for table, rows in self._dirty.items():
            self.rows.upserts[table] = [_row(table, r) for r in rows.values()]
        return self.rows

    # -- config & token

    def _config_event(self, e: ev.PictorEvent, **changes: Any) -> None:
        self._emit("config_changes", e.event_name(), _event_json(e))
        config = self._config()
        config.update(changes)
        self._touch("protocol_config", 1, config)

    def _on_RolesUpdated(self, e: ev.RolesUpdated) -> None:
        self._config_event(e, admin=e.admin, coordinator=e.coordinator, treasury=e.treasury)

    def _on_FeeSplitUpdated(self, e: ev.FeeSplitUpdated) -> None:
        self._config_event(e, worker_share_bps=e.worker_bps, checker_share_bps=e.checker_bps)

    def _on_ParamsUpdated(self, e: ev.ParamsUpdated) -> None:
        self._config_event(e, **{name: getattr(e, name) for name, _ in e.MOVE_FIELDS})

    def _on_CreditSignerUpdated(self, e: ev.CreditSignerUpdated) -> None:
        self._config_event(e, credit_signer=e.public_key)

    def _on_PausedUpdated(self, e: ev.PausedUpdated) -> None:
        self._config_event(e, paused=e.paused)

    def _on_Minted(self, e: ev.Minted) -> None:
        self._emit("token_mints", e.to, e.amount, e.supply)

    def _on_TokenMovement(self, e: TokenMovement) -> None:
        store = self.state.stores.get(e.store)
        if store is None:
            store = self.state.stores[e.store] = {"store": e.store, "owner": e.owner, "balance": 0}
        elif e.owner is not None:
            store["owner"] = e.owner
        store["balance"] += e.amount if e.kind == "deposit" else -e.amount
        self._touch("token_stores", e.store, store)
        self._emit("token_activities", e.store, store["owner"], e.kind, e.amount)

    # -- vault

    def _on_Deposited(self, e: ev.Deposited) -> None:
        self._emit("vault_deposits", e.user, e.amount, e.balance)
        self._ledger(0, e.user, "deposit", 0, e.amount)

    def _on_Withdrawn(self, e: ev.Withdrawn) -> None:
        self._emit("vault_withdrawals", e.user, e.amount, e.balance)
        self._ledger(0, e.user, "withdraw", 0, -e.amount)

    def _on_CreditClaimed(self, e: ev.CreditClaimed) -> None:
        self._emit("credit_claims", e.user, e.amount, e.nonce, e.credit)
        self._ledger(0, e.user, "credit_claim", e.amount, 0)

    # -- escrow

    def _task(self, job_id: int, task_id: int) -> dict[str, Any]:
        return self.state.tasks[(job_id, task_id)]

    def _on_JobOpened(self, e: ev.JobOpened) -> None:
        job = {
            "job_id": e.job_id,
            "creator": e.creator,
            "store": e.store,
            "budget": e.budget,
            "credit_in": e.credit_used,
            "spent": 0,
            "reserved": 0,
            "price_per_minute": e.price_per_minute,
            "closed": False,
            "opened_version": self._v,
        }
        self.state.jobs[e.job_id] = job
        self._touch("jobs", e.job_id, job)
        self._emit("escrow_ledger", e.job_id, "open", e.budget, e.credit_used, e.balance_used, None)
        self._ledger(0, e.creator, "job_lock", -e.credit_used, -e.balance_used, e.job_id)

    def _on_JobToppedUp(self, e: ev.JobToppedUp) -> None:
        job = self.state.jobs[e.job_id]
        job["budget"] = e.budget
        job["credit_in"] += e.credit_used
        self._touch("jobs", e.job_id, job)
        self._emit("escrow_ledger", e.job_id, "top_up", e.amount, e.credit_used, e.balance_used, None)
        self._ledger(0, job["creator"], "job_lock", -e.credit_used, -e.balance_used, e.job_id)

    def _on_TaskAssigned(self, e: ev.TaskAssigned) -> None:
        job = self.state.jobs[e.job_id]
        job["reserved"] += e.quote
        self._touch("jobs", e.job_id, job)
        task = {
            "job_id": e.job_id,
            "task_id": e.task_id,
            "state": ASSIGNED,
            "node_id": e.node_id,
            "worker_operator": e.worker_operator,
            "quote": e.quote,
            "result_hash": b"",
            "reference_ms": 0,
            "charge": 0,
            "attempt": e.attempt,
            "review_deadline": 0,
            "pass_count": 0,
            "fail_count": 0,
        }
        self.state.tasks[(e.job_id, e.task_id)] = task
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit("task_assignments", e.job_id, e.task_id, e.node_id, e.worker_operator, e.quote, e.attempt)

    def _on_TaskRequeued(self, e: ev.TaskRequeued) -> None:
        task = self._task(e.job_id, e.task_id)
        if e.reason != REQUEUE_JOB_CLOSED:  # closing a job releases every reservation at once (JobClosed)
            job = self.state.jobs[e.job_id]
            job["reserved"] -= task["quote"]
            self._touch("jobs", e.job_id, job)
        task["state"] = QUEUED
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit("task_requeues", e.job_id, e.task_id, e.node_id, e.reason)

    def _on_ResultSubmitted(self, e: ev.ResultSubmitted) -> None:
        task = self._task(e.job_id, e.task_id)
        task.update(state=SUBMITTED, result_hash=e.result_hash, reference_ms=e.reference_ms, charge=e.charge)
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit("task_results", e.job_id, e.task_id, e.node_id, e.result_hash, e.reference_ms, e.charge)

    def _on_TaskVerified(self, e: ev.TaskVerified) -> None:
        task = self._task(e.job_id, e.task_id)
        task.update(state=VERIFIED, charge=e.charge, review_deadline=e.review_deadline)
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit("task_verifications", e.job_id, e.task_id, e.charge, e.review_deadline)

    def _on_TaskDisputed(self, e: ev.TaskDisputed) -> None:
        task = self._task(e.job_id, e.task_id)
        task["state"] = DISPUTED
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit("task_disputes", e.job_id, e.task_id, e.node_id)

    def _on_TaskSettled(self, e: ev.TaskSettled) -> None:
        job = self.state.jobs[e.job_id]
        task = self._task(e.job_id, e.task_id)
        credit_left = job["credit_in"] - min(job["credit_in"], job["spent"])
        from_credit = min(e.charge, credit_left)
        job["spent"] += e.charge
        job["reserved"] -= task["quote"]
        self._touch("jobs", e.job_id, job)
        task["state"] = SETTLED
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit(
            "task_settlements",
            e.job_id,
            e.task_id,
            e.node_id,
            e.charge,
            e.worker_operator,
            e.worker_amount,
            list(e.checkers),
            e.checker_amount,
            e.treasury,
            e.treasury_amount,
        )
        self._emit("escrow_ledger", e.job_id, "charge", -e.charge, from_credit, e.charge - from_credit, e.task_id)
        seq = 0
        payouts = [(e.worker_operator, "worker_payout", e.worker_amount)]
        payouts += [(checker, "checker_payout", e.checker_amount) for checker in e.checkers]
        payouts.append((e.treasury, "treasury_fee", e.treasury_amount))
        for address, kind, amount in payouts:
            if amount:  # the chain moves nothing for a zero share
                self._ledger(seq, address, kind, 0, amount, e.job_id, e.task_id)
                seq += 1

    def _on_JobClosed(self, e: ev.JobClosed) -> None:
        job = self.state.jobs[e.job_id]
        job.update(closed=True, spent=e.spent, reserved=0)
        self._touch("jobs", e.job_id, job)
        refund = e.refund_credit + e.refund_balance
        self._emit("escrow_ledger", e.job_id, "refund", -refund, e.refund_credit, e.refund_balance, None)
        if refund:
            self._ledger(0, job["creator"], "job_refund", e.refund_credit, e.refund_balance, e.job_id)

    # -- attestation

    def _on_Attested(self, e: ev.Attested) -> None:
        task = self._task(e.job_id, e.task_id)
        task["pass_count" if e.pass_ else "fail_count"] += 1
        self._touch("tasks", (e.job_id, e.task_id), task)
        self._emit(
            "attestations",
            e.job_id,
            e.task_id,
            e.node_id,
            e.operator,
            e.attempt,
            e.result_hash,
            e.pass_,
            e.evidence_hash,
        )

    def _on_Abstained(self, e: ev.Abstained) -> None:
        # the task's state does not change (no view shows the abstentions): only the event is kept
        self._emit(
            "abstentions", e.job_id, e.task_id, e.node_id, e.operator, e.attempt, e.result_hash, e.evidence_hash
        )

    def _on_DisputeResolved(self, e: ev.DisputeResolved) -> None:
        self._emit("dispute_resolutions", e.job_id, e.task_id, e.node_id, e.upheld, e.evidence_hash)

    # -- registry

    def _on_NodeRegistered(self, e: ev.NodeRegistered) -> None:
        node = {
            "node_id": e.node_id,
            "operator": e.operator,
            "role": e.role,
            "public_key": e.public_key,
            "account": e.account,
            "active": True,
            "strikes": 0,
            "registered_version": self._v,
        }
        self.state.nodes[e.node_id] = node
        self._touch("nodes", e.node_id, node)
        self._emit("node_registrations", e.node_id, e.operator, e.role, e.public_key, e.account)

    def _on_NodeKeyRotated(self, e: ev.NodeKeyRotated) -> None:
        node = self.state.nodes[e.node_id]
        node.update(public_key=e.public_key, account=e.account)
        self._touch("nodes", e.node_id, node)
        self._emit("node_key_rotations", e.node_id, e.old_account, e.public_key, e.account)

    def _on_NodeDeregistered(self, e: ev.NodeDeregistered) -> None:
        node = self.state.nodes[e.node_id]
        node["active"] = False
        self._touch("nodes", e.node_id, node)
        self._emit("node_deregistrations", e.node_id, e.operator)

    def _on_NodeStruck(self, e: ev.NodeStruck) -> None:
        node = self.state.nodes[e.node_id]
        node["strikes"] = e.strikes
        self._touch("nodes", e.node_id, node)
        self._emit("node_strikes", e.node_id, e.strikes)

    # -- staking

    def _on_Staked(self, e: ev.Staked) -> None:
        stake = self._stake(e.operator, e.role)
        stake["active"] = e.active
        self._touch("stakes", (e.operator, e.role), stake)
        self._emit("stake_deposits", e.operator, e.role, e.amount, e.active)

    def _on_UnstakeRequested(self, e: ev.UnstakeRequested) -> None:
        stake = self._stake(e.operator, e.role)
        stake["active"] = e.active
        stake["unbonding"] += e.amount
        self._touch("stakes", (e.operator, e.role), stake)
        request = {
            "request_id": e.request_id,
            "operator": e.operator,
            "role": e.role,
            "amount": e.amount,
            "requested_amount": e.amount,
            "release_at": e.release_at,
            "status": "pending",
            "requested_version": self._v,
        }
        self.state.unbonding[e.request_id] = request
        self._touch("unbonding_requests", e.request_id, request)
        self._emit("unstake_requests", e.operator, e.role, e.amount, e.request_id, e.release_at, e.active)

    def _on_UnstakeWithdrawn(self, e: ev.UnstakeWithdrawn) -> None:
        for request_id in e.request_ids:
            request = self.state.unbonding.pop(request_id)
            request["status"] = "withdrawn"
            self._touch("unbonding_requests", request_id, request)
            stake = self._stake(e.operator, request["role"])
            stake["unbonding"] -= request["amount"]
            self._touch("stakes", (e.operator, request["role"]), stake)
        self._emit("unstake_withdrawals", e.operator, e.amount, list(e.request_ids))

    def _on_Slashed(self, e: ev.Slashed) -> None:
        stake = self._stake(e.operator, e.role)
        from_active = min(stake["active"], e.amount)
        stake["active"] -= from_active
        rest = e.amount - from_active
        pending = sorted(
            (r for r in self.state.unbonding.values() if r["operator"] == e.operator and r["role"] == e.role),
            key=lambda r: r["request_id"],
            reverse=True,
        )
        for request in pending:  # newest first, as the chain takes them
            if rest == 0:
                break
            cut = min(request["amount"], rest)
            request["amount"] -= cut
            rest -= cut
            stake["unbonding"] -= cut
            if request["amount"] == 0:
                request["status"] = "slashed"
                del self.state.unbonding[request["request_id"]]
            self._touch("unbonding_requests", request["request_id"], request)
        self._touch("stakes", (e.operator, e.role), stake)
        self._emit("slashes", e.operator, e.role, e.amount, e.reason, e.job_id, e.task_id, e.treasury)
        self._ledger(0, e.treasury, "slash", 0, e.amount, e.job_id or None, e.task_id or None)

    # -- rewards

    def _on_PoolFunded(self, e: ev.PoolFunded) -> None:
        self._emit("reward_pool_fundings", e.funder, e.amount, e.pool)

    def _on_EpochPublished(self, e: ev.EpochPublished) -> None:
        epoch = {"epoch": e.epoch, "root": e.root, "total": e.total, "claimed": 0, "published_version": self._v}
        self.state.epochs[e.epoch] = epoch
        self._touch("reward_epochs", e.epoch, epoch)
        self._emit("epoch_publications", e.epoch, e.root, e.total)

    def _on_RewardClaimed(self, e: ev.RewardClaimed) -> None:
        epoch = self.state.epochs[e.epoch]
        epoch["claimed"] += e.amount
        self._touch("reward_epochs", e.epoch, epoch)
        self._emit("reward_claims", e.epoch, e.index, e.user, e.amount)
