"""Reconciliation: the mirror against itself, against the chain's own state, and global conservation.

:func:`reconcile` reads the mirror in one repeatable-read snapshot, takes its checkpoint ``V`` and
compares, at ledger version ``V`` (view functions with ``ledger_version=V``):

* every vault account (and the totals), job, task, node, stake, unbonding queue, reward epoch and the
  pool, the protocol config, and every PICTOR store's balance, with the chain's views;
* the mirror's own books: the vault ledger sums to the accounts, each job's escrow ledger to what its
  store holds, the module stores to the module books (vault = Σ credit + Σ balance, staking = Σ active +
  Σ unbonding, rewards = funded − claimed, escrow = budget − spent for open jobs and 0 for closed ones);
* conservation: supply = Σ PICTOR stores (wallets + vault + escrows + staking + rewards) = minted.

The answer is the list of mismatches, empty when everything holds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from chain.client import PictorChain
from chain.keys import normalize_address
from chain.payloads import PictorViews
from indexer.processor import module_store, pictor_metadata_address
from indexer.writer import DEFAULT_PROCESSOR


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not hold: what was checked, for which key, and both sides."""

    check: str
    key: str
    mirror: Any
    chain: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (bytes as 0x-hex, NUMERIC as int)."""
        return {"check": self.check, "key": self.key, "mirror": _jsonable(self.mirror), "chain": _jsonable(self.chain)}


@dataclass
class Report:
    """The result of one reconciliation."""

    version: int | None  # the checkpoint the comparison was made at (None: nothing indexed yet)
    checked: int = 0  # comparisons made
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.mismatches


def _norm(value: Any) -> Any:
    """Compare NUMERIC, memoryview and tuples as plain values."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    return value


class _Checker:
    def __init__(self, report: Report) -> None:
        self.report = report

    def same(self, check: str, key: Any, mirror: Any, chain: Any) -> None:
        self.report.checked += 1
        if _norm(mirror) != _norm(chain):
            self.report.mismatches.append(Mismatch(check, str(key), mirror, chain))


def _snapshot(engine: Engine, processor: str) -> tuple[int | None, dict[str, list[dict[str, Any]]]]:
    """The checkpoint and every table reconciliation needs, read in one consistent snapshot."""
    queries = {
        "accounts": "SELECT address, credit, balance FROM vault_accounts ORDER BY address",
        "ledger": "SELECT address, sum(credit_delta) AS credit, sum(balance_delta) AS balance FROM vault_ledger"
        " GROUP BY address ORDER BY address",
        "jobs": "SELECT * FROM jobs ORDER BY job_id",
        "escrow": "SELECT job_id, sum(delta) AS held FROM escrow_ledger GROUP BY job_id",
        "tasks": "SELECT * FROM tasks ORDER BY job_id, task_id",
        "nodes": "SELECT * FROM nodes ORDER BY node_id",
        "stakes": "SELECT * FROM stakes ORDER BY operator, role",
        "unbonding": "SELECT * FROM unbonding_requests WHERE status = 'pending' ORDER BY operator, request_id",
        "operators": "SELECT DISTINCT operator FROM unbonding_requests ORDER BY operator",
        "epochs": "SELECT * FROM reward_epochs ORDER BY epoch",
        "config": "SELECT * FROM protocol_config",
        "stores": "SELECT store, owner, balance FROM token_stores ORDER BY store",
        "totals": "SELECT (SELECT coalesce(sum(amount), 0) FROM token_mints) AS minted,"
        " (SELECT coalesce(sum(amount), 0) FROM credit_claims) AS claimed_credit,"
        " (SELECT coalesce(sum(amount), 0) FROM reward_pool_fundings) AS funded,"
        " (SELECT coalesce(sum(amount), 0) FROM reward_claims) AS rewarded",
    }
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute(
            text("SELECT last_success_version FROM processor_status WHERE processor = :p"), {"p": processor}
        ).first()
        version = None if row is None or row[0] < 0 else int(row[0])
        data = {name: [dict(r._mapping) for r in conn.execute(text(q))] for name, q in queries.items()}
        conn.rollback()
    return version, data


async def reconcile(
    engine: Engine, chain: PictorChain, *, processor: str = DEFAULT_PROCESSOR, concurrency: int = 16
) -> Report:
    """Recompute and compare everything (see the module docstring); the mismatches, empty when all holds."""
    version, data = await asyncio.to_thread(_snapshot, engine, processor)
    report = Report(version)
    if version is None:
        return report
    check = _Checker(report)
    package = chain.package_address
    view_at = functools.partial(chain.view, ledger_version=version)
    views = PictorViews(package, view_at)
    sem = asyncio.Semaphore(concurrency)

    async def gated(coro: Awaitable[Any]) -> Any:
        async with sem:
            return await coro

    async def each(items: list[Any], fetch: Callable[[Any], Awaitable[Any]],
                   compare: Callable[[Any, Any], None]) -> None:
        results = await asyncio.gather(*(gated(fetch(item)) for item in items))
        for item, result in zip(items, results, strict=True):
            compare(item, result)

    async def store_balance(store: str) -> int:
        result = await view_at("0x1::fungible_asset::balance", ["0x1::fungible_asset::FungibleStore"], [store])
        return int(result[0])

    stores = {r["store"]: int(r["balance"]) for r in data["stores"]}
    accounts, jobs = data["accounts"], data["jobs"]

    # -- the mirror's own books
    ledger = {r["address"]: (r["credit"], r["balance"]) for r in data["ledger"]}
    for a in accounts:
        check.same("vault_ledger_sum", a["address"], ledger.pop(a["address"], (0, 0)), (a["credit"], a["balance"]))
    for address, sums in ledger.items():
        check.same("vault_ledger_sum", address, sums, (0, 0))
    escrow = {int(r["job_id"]): int(r["held"]) for r in data["escrow"]}
    for j in jobs:
        held = 0 if j["closed"] else int(j["budget"]) - int(j["spent"])
        check.same("escrow_ledger_sum", j["job_id"], escrow.get(int(j["job_id"]), 0), held)
        check.same("escrow_store", j["job_id"], stores.get(j["store"], 0), held)
    total_credit = sum(int(a["credit"]) for a in accounts)
    total_balance = sum(int(a["balance"]) for a in accounts)
    total_active = sum(int(s["active"]) for s in data["stakes"])
    total_unbonding = sum(int(s["unbonding"]) for s in data["stakes"])
    totals = data["totals"][0]
    vault_store, staking_store, rewards_store = (module_store(package, n) for n in ("vault", "staking", "rewards"))
    check.same("vault_store", vault_store, stores.get(vault_store, 0), total_credit + total_balance)
    check.same("staking_store", staking_store, stores.get(staking_store, 0), total_active + total_unbonding)
    check.same("rewards_store", rewards_store, stores.get(rewards_store, 0), totals["funded"] - totals["rewarded"])
    minted = int(totals["minted"]) + int(totals["claimed_credit"])
    check.same("conservation", "minted = Σ PICTOR stores", minted, sum(stores.values()))

    # -- against the chain, at the checkpoint
    supply = (await views.call("token", "supply"))[0]
    check.same("token_supply", "supply", sum(stores.values()), supply)
    check.same("vault_totals", "totals", (total_credit, total_balance), await views.call("vault", "totals"))
    check.same("staking_totals", "totals", (total_active, total_unbonding), await views.call("staking", "totals"))
    pool = await views.call("rewards", "pool")
    allocated = sum(int(e["total"]) - int(e["claimed"]) for e in data["epochs"])
    check.same("reward_pool", "pool", (stores.get(rewards_store, 0), allocated), pool)
    check.same("next_job_id", "escrow", len(jobs) + 1, (await views.call("escrow", "next_job_id"))[0])
    check.same("node_count", "registry", len(data["nodes"]), (await views.call("registry", "node_count"))[0])
    check.same("next_epoch", "rewards", len(data["epochs"]) + 1, (await views.call("rewards", "next_epoch"))[0])
    config = data["config"][0] if data["config"] else {}
    chain_config = await asyncio.gather(
        views.call("config", "roles"), views.call("config", "fee_split"), views.call("config", "params"),
        views.call("config", "is_paused"), views.call("config", "credit_signer"),
    )
    params = ("quorum", "min_worker_stake", "min_checker_stake", "unbonding_secs", "review_window_secs",
              "slash_bps", "max_strikes", "faucet_max")
    check.same("config_roles", "roles", tuple(config.get(k) for k in ("admin", "coordinator", "treasury")),
               chain_config[0])
    check.same("config_fee_split", "fee_split",
               (config.get("worker_share_bps"), config.get("checker_share_bps")), chain_config[1])
    check.same("config_params", "params", tuple(config.get(k) for k in params), chain_config[2])
    check.same("config_paused", "paused", config.get("paused"), chain_config[3][0])
    check.same("config_credit_signer", "credit_signer", config.get("credit_signer") or b"", chain_config[4][0])

    await each(accounts, lambda a: views.call("vault", "account", a["address"]),
               lambda a, r: check.same("vault_account", a["address"], (a["credit"], a["balance"]), r))
    await each(jobs, lambda j: views.call("escrow", "job", int(j["job_id"])),
               lambda j, r: check.same("job", j["job_id"], tuple(j[k] for k in (
                   "creator", "budget", "credit_in", "spent", "reserved", "price_per_minute", "closed")), r))
    await each(data["tasks"], lambda t: views.call("escrow", "task", int(t["job_id"]), int(t["task_id"])),
               lambda t, r: check.same("task", f"{t['job_id']}/{t['task_id']}", tuple(t[k] for k in (
                   "state", "node_id", "quote", "result_hash", "charge", "attempt", "review_deadline",
                   "pass_count")), r))
    await each(data["nodes"], lambda n: views.call("registry", "node", int(n["node_id"])),
               lambda n, r: check.same("node", n["node_id"], tuple(n[k] for k in (
                   "operator", "role", "public_key", "account", "active", "strikes")), r))
    await each(data["stakes"], lambda s: views.call("staking", "stake_of", s["operator"], s["role"]),
               lambda s, r: check.same("stake", f"{s['operator']}/{s['role']}", (s["active"], s["unbonding"]), r))
    pending: dict[str, list[dict[str, Any]]] = {}
    for u in data["unbonding"]:
        pending.setdefault(u["operator"], []).append(u)
    operators = [o["operator"] for o in data["operators"]]
    await each(operators, lambda o: views.call("staking", "unbonding_requests", o),
               lambda o, r: check.same("unbonding_requests", o, (
                   [u["request_id"] for u in pending.get(o, [])], bytes(u["role"] for u in pending.get(o, [])),
                   [u["amount"] for u in pending.get(o, [])], [u["release_at"] for u in pending.get(o, [])]), r))
    await each(data["epochs"], lambda e: views.call("rewards", "epoch", int(e["epoch"])),
               lambda e, r: check.same("reward_epoch", e["epoch"], (e["root"], e["total"], e["claimed"]), r))
    await each(list(stores), store_balance, lambda s, r: check.same("store_balance", s, stores[s], r))
    metadata = pictor_metadata_address(package)
    owned = [r for r in data["stores"] if r["owner"] and r["store"] not in (vault_store, staking_store, rewards_store)]
    primary = [r for r in owned if _is_primary(r["store"], r["owner"], metadata)]
    await each(primary, lambda r: views.call("token", "balance", r["owner"]),
               lambda r, b: check.same("wallet_balance", r["owner"], r["balance"], b[0]))
    return report


def _is_primary(store: str, owner: str, metadata: str) -> bool:
    """Whether ``store`` is ``owner``'s primary store of ``metadata`` (sha3(owner ‖ metadata ‖ 0xFC))."""
    raw = bytes.fromhex(normalize_address(owner)[2:]) + bytes.fromhex(metadata[2:]) + b"\xfc"
    return "0x" + hashlib.sha3_256(raw).hexdigest() == store
