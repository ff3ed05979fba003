"""The `pictor` Move package re-implemented for the localnet VM (see `chain/SPEC.md`).

Importing this package registers every entry function, view, event type and abort code of the
eight modules with :mod:`chain.localnet.vm.core`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import (
    attestation,
    config,
    escrow,
    registry,
    rewards,
    staking,
    token,
    vault,
)
from chain.localnet.vm.pictor.config import PICTOR

__all__ = [
    "PICTOR",
    "MODULES",
    "attestation",
    "config",
    "conservation",
    "escrow",
    "genesis",
    "invariant_violations",
    "registry",
    "rewards",
    "staking",
    "token",
    "vault",
]

#: The modules in `init_module` order.
MODULES = (config, token, vault, registry, staking, escrow, attestation, rewards)

FUNGIBLE_STORE_TAG = "0x1::fungible_asset::FungibleStore"


def genesis(ctx: core.TxContext, admin: str, coordinator: str, treasury: str) -> None:
    """Publish the package: every `init_module` in order, then `config::set_roles` signed by `@pictor`."""
    framework.ensure_account(ctx, PICTOR)
    sender = ctx.sender
    ctx.sender = PICTOR
    try:
        for module in MODULES:
            module.init_module(ctx)
        config.set_roles(ctx, admin, coordinator, treasury)
    finally:
        ctx.sender = sender


# --------------------------------------------------------------------------- conservation


def _as_overlay(state: Any) -> core.Overlay:
    return state if isinstance(state, core.Overlay) else core.Overlay(state)


def _all_keys(state: core.Overlay) -> Iterator[str]:
    """Every live key of an overlay chain (sorted, so the walk is deterministic)."""
    keys: set[str] = set()
    layer: Any = state
    while isinstance(layer, core.Overlay):
        keys.update(layer.writes)
        layer = layer.base
    keys.update(layer)
    return (key for key in sorted(keys) if state.exists(key))


def _table_items(state: core.Overlay, handle: str) -> Iterator[Any]:
    prefix = f"t|{handle}|"
    return (state.get(key) for key in _all_keys(state) if key.startswith(prefix))


def pictor_stores(state: Any) -> list[str]:
    """Addresses of every fungible store that holds PICTOR."""
    overlay = _as_overlay(state)
    metadata = token.metadata_address()
    stores = []
    for key in _all_keys(overlay):
        if not (key.startswith("r|") and key.endswith("|" + FUNGIBLE_STORE_TAG)):
            continue
        value = overlay.get(key)
        meta = value.get("metadata") if isinstance(value, dict) else None
        if isinstance(meta, dict):
            meta = meta.get("inner")
        if meta is not None and core.norm_addr(meta) == metadata:
            stores.append(key.split("|")[1])
    return stores


def conservation(state: Any) -> tuple[int, int]:
    """(PICTOR supply, Σ PICTOR in every fungible store); equal at every version."""
    overlay = _as_overlay(state)
    supply = framework.fa_supply(overlay, token.metadata_address())
    return supply, sum(framework.fa_balance(overlay, store) for store in pictor_stores(overlay))


def invariant_violations(state: Any) -> list[str]:
    """Every broken book-keeping identity of SPEC.md "Conventions" (empty when the books reconcile)."""
    overlay = _as_overlay(state)
    problems: list[str] = []
    supply, stored = conservation(overlay)
    if supply != stored:
        problems.append(f"supply {supply} != sum of stores {stored}")
    if supply > token.MAX_SUPPLY:
        problems.append(f"supply {supply} > MAX_SUPPLY")

    vault_res = overlay.get(vault.vault_key())
    vault_store = framework.fa_balance(overlay, vault.store_address())
    if vault_store != vault_res["total_credit"] + vault_res["total_balance"]:
        problems.append(
            f"vault store {vault_store} != credit {vault_res['total_credit']} + balance {vault_res['total_balance']}"
        )
    accounts = list(_table_items(overlay, vault.accounts_handle()))
    if sum(a["credit"] for a in accounts) != vault_res["total_credit"]:
        problems.append("sum of vault credits != total_credit")
    if sum(a["balance"] for a in accounts) != vault_res["total_balance"]:
        problems.append("sum of vault balances != total_balance")

    staking_res = overlay.get(staking.staking_key())
    staking_store = framework.fa_balance(overlay, staking.store_address())
    if staking_store != staking_res["total_active"] + staking_res["total_unbonding"]:
        problems.append(f"staking store {staking_store} != active + unbonding")
    stakes = list(_table_items(overlay, staking.stakes_handle()))
    if sum(s["worker"] + s["checker"] for s in stakes) != staking_res["total_active"]:
        problems.append("sum of active stakes != total_active")
    queues = list(_table_items(overlay, staking.unbonding_handle()))
    if sum(r["amount"] for q in queues for r in q) != staking_res["total_unbonding"]:
        problems.append("sum of unbonding requests != total_unbonding")

    next_job = overlay.get(escrow.escrow_key())["next_job_id"]
    for job_id in range(1, next_job):
        job = escrow.get_job(overlay, job_id)
        if job is None:
            problems.append(f"job {job_id} missing")
            continue
        held = framework.fa_balance(overlay, job["store"])
        expected = 0 if job["closed"] else job["budget"] - job["spent"]
        if held != expected:
            problems.append(f"job {job_id} store {held} != {expected}")
        if not job["closed"] and escrow.available(job) < 0:
            problems.append(f"job {job_id} reserves more than it holds")

    rewards_res = overlay.get(rewards.rewards_key())
    if rewards.pool_balance(overlay) < rewards_res["allocated"]:
        problems.append("rewards pool below allocated")
    return problems
