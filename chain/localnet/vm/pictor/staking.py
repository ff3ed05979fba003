"""`pictor::staking`: stake per operator and role, the unbonding queue, and slashes."""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import config, token, vault
from chain.localnet.vm.pictor.config import PICTOR, SHORT

STAKING_TAG = f"{SHORT}::staking::Staking"
STORE_SEED = b"pictor::staking"

ROLE_WORKER = 1
ROLE_CHECKER = 2
ROLE_FIELDS = {ROLE_WORKER: "worker", ROLE_CHECKER: "checker"}

REASON_ADMIN = 1
REASON_DISPUTE = 2
REASON_STRIKES = 3

ERRORS = core.error_set(
    PICTOR,
    "staking",
    E_ZERO_AMOUNT=(1, "Amount must be greater than zero."),
    E_INVALID_ROLE=(2, "Role must be 1 (worker) or 2 (checker)."),
    E_INSUFFICIENT_STAKE=(3, "Active stake is too low."),
    E_NOTHING_TO_WITHDRAW=(4, "No unbonded stake is ready to withdraw."),
    E_NOT_ADMIN=(5, "The signer is not the admin."),
)

STAKED = core.event_type(
    PICTOR, "staking", "Staked", [("operator", "address"), ("role", "u8"), ("amount", "u64"), ("active", "u64")]
)
UNSTAKE_REQUESTED = core.event_type(
    PICTOR,
    "staking",
    "UnstakeRequested",
    [
        ("operator", "address"),
        ("role", "u8"),
        ("amount", "u64"),
        ("request_id", "u64"),
        ("release_at", "u64"),
        ("active", "u64"),
    ],
)
UNSTAKE_WITHDRAWN = core.event_type(
    PICTOR, "staking", "UnstakeWithdrawn", [("operator", "address"), ("amount", "u64"), ("request_ids", "vector<u64>")]
)
SLASHED = core.event_type(
    PICTOR,
    "staking",
    "Slashed",
    [
        ("operator", "address"),
        ("role", "u8"),
        ("amount", "u64"),
        ("reason", "u8"),
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("treasury", "address"),
    ],
)


# --------------------------------------------------------------------------- state access


def staking_key() -> str:
    """State key of the `Staking` resource."""
    return core.resource_key(PICTOR, STAKING_TAG)


def store_address() -> str:
    """The staking store (named object of `@pictor`, seed `b"pictor::staking"`)."""
    return core.object_address_from_seed(PICTOR, STORE_SEED)


def stakes_handle() -> str:
    """Handle of `Staking.stakes`."""
    return core.table_handle(PICTOR, "staking.stakes")


def unbonding_handle() -> str:
    """Handle of `Staking.unbonding`."""
    return core.table_handle(PICTOR, "staking.unbonding")


def _stake_key(operator: str) -> str:
    return core.table_key(stakes_handle(), core.norm_addr(operator))


def _unbonding_key(operator: str) -> str:
    return core.table_key(unbonding_handle(), core.norm_addr(operator))


def get_stake(state: core.Overlay, operator: str) -> dict[str, int]:
    """A copy of `Stake { worker, checker }` (zeros if unknown)."""
    return state.get(_stake_key(operator)) or {"worker": 0, "checker": 0}


def get_unbonding(state: core.Overlay, operator: str) -> list[dict[str, int]]:
    """A copy of the operator's unbonding requests, oldest first."""
    return state.get(_unbonding_key(operator)) or []


def _put_unbonding(state: core.Overlay, operator: str, requests: list[dict[str, int]]) -> None:
    state.put(_unbonding_key(operator), requests)


def active_stake(state: core.Overlay, operator: str, role: int) -> int:
    """Active stake of `operator` in `role`."""
    return get_stake(state, operator)[ROLE_FIELDS[role]]


def _check_role(role: int) -> str:
    ERRORS.check(role in ROLE_FIELDS, "E_INVALID_ROLE")
    return ROLE_FIELDS[role]


# --------------------------------------------------------------------------- friend operations


def slash_internal(
    ctx: core.TxContext, operator: str, role: int, amount: int, reason: int, job_id: int, task_id: int
) -> int:
    """Slash up to `amount` (active first, then unbonding newest first) into the treasury's vault balance."""
    operator = core.norm_addr(operator)
    field = ROLE_FIELDS[role]
    stake_ = get_stake(ctx.state, operator)
    requests = get_unbonding(ctx.state, operator)
    unbonding = sum(r["amount"] for r in requests if r["role"] == role)
    take = min(amount, stake_[field] + unbonding)
    if take == 0:
        return 0
    staking = ctx.state.get(staking_key())
    from_active = min(stake_[field], take)
    stake_[field] -= from_active
    staking["total_active"] -= from_active
    rest = take - from_active
    for i in range(len(requests) - 1, -1, -1):
        if rest == 0:
            break
        request = requests[i]
        if request["role"] != role:
            continue
        cut = min(request["amount"], rest)
        request["amount"] -= cut
        rest -= cut
        staking["total_unbonding"] -= cut
        if request["amount"] == 0:
            del requests[i]
    ctx.state.put(_stake_key(operator), stake_)
    _put_unbonding(ctx.state, operator, requests)
    ctx.state.put(staking_key(), staking)
    treasury = config.treasury(ctx.state)
    vault.pay(ctx, store_address(), treasury, take, False)
    ctx.emit(
        SLASHED,
        operator=operator,
        role=role,
        amount=take,
        reason=reason,
        job_id=job_id,
        task_id=task_id,
        treasury=treasury,
    )
    return take


def slash_bps_of_active(ctx: core.TxContext, operator: str, role: int, reason: int, job_id: int, task_id: int) -> int:
    """Slash `slash_bps` of the operator's active stake in `role`."""
    amount = active_stake(ctx.state, operator, role) * config.param(ctx.state, "slash_bps") // config.BPS
    return slash_internal(ctx, operator, role, amount, reason, job_id, task_id)


# --------------------------------------------------------------------------- init & entry functions


def init_module(ctx: core.TxContext) -> None:
    """Create the staking store and the `Staking` resource."""
    framework.create_store(ctx, store_address(), PICTOR, token.metadata_address())
    ctx.state.put(
        staking_key(),
        {
            "store": store_address(),
            "stakes": {"handle": stakes_handle()},
            "unbonding": {"handle": unbonding_handle()},
            "next_request_id": 1,
            "total_active": 0,
            "total_unbonding": 0,
        },
    )


@core.entry(PICTOR, "staking", ["u8", "u64"])
def stake(ctx: core.TxContext, role: int, amount: int) -> None:
    """Stake PICTOR from the signer's wallet for a role."""
    config.assert_not_paused(ctx.state)
    field = _check_role(role)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    operator = core.norm_addr(ctx.sender)
    framework.fa_transfer(ctx, token.primary_store(ctx, operator), store_address(), amount)
    stake_ = get_stake(ctx.state, operator)
    stake_[field] += amount
    ctx.state.put(_stake_key(operator), stake_)
    staking = ctx.state.get(staking_key())
    staking["total_active"] += amount
    ctx.state.put(staking_key(), staking)
    ctx.emit(STAKED, operator=operator, role=role, amount=amount, active=stake_[field])


@core.entry(PICTOR, "staking", ["u8", "u64"])
def request_unstake(ctx: core.TxContext, role: int, amount: int) -> None:
    """Move active stake into the unbonding queue."""
    field = _check_role(role)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    operator = core.norm_addr(ctx.sender)
    stake_ = get_stake(ctx.state, operator)
    ERRORS.check(stake_[field] >= amount, "E_INSUFFICIENT_STAKE")
    stake_[field] -= amount
    ctx.state.put(_stake_key(operator), stake_)
    staking = ctx.state.get(staking_key())
    request_id = staking["next_request_id"]
    staking["next_request_id"] = request_id + 1
    staking["total_active"] -= amount
    staking["total_unbonding"] += amount
    ctx.state.put(staking_key(), staking)
    release_at = ctx.now_seconds() + config.param(ctx.state, "unbonding_secs")
    requests = get_unbonding(ctx.state, operator)
    requests.append({"request_id": request_id, "role": role, "amount": amount, "release_at": release_at})
    _put_unbonding(ctx.state, operator, requests)
    ctx.emit(
        UNSTAKE_REQUESTED,
        operator=operator,
        role=role,
        amount=amount,
        request_id=request_id,
        release_at=release_at,
        active=stake_[field],
    )


@core.entry(PICTOR, "staking", [])
def withdraw_unstaked(ctx: core.TxContext) -> None:
    """Pay out every unbonding request whose release time has come."""
    operator = core.norm_addr(ctx.sender)
    now = ctx.now_seconds()
    requests = get_unbonding(ctx.state, operator)
    ready = [r for r in requests if r["release_at"] <= now]
    ERRORS.check(len(ready) > 0, "E_NOTHING_TO_WITHDRAW")
    _put_unbonding(ctx.state, operator, [r for r in requests if r["release_at"] > now])
    amount = sum(r["amount"] for r in ready)
    staking = ctx.state.get(staking_key())
    staking["total_unbonding"] -= amount
    ctx.state.put(staking_key(), staking)
    framework.fa_transfer(ctx, store_address(), token.primary_store(ctx, operator), amount)
    ctx.emit(UNSTAKE_WITHDRAWN, operator=operator, amount=amount, request_ids=[r["request_id"] for r in ready])


@core.entry(PICTOR, "staking", ["address", "u8", "u64"])
def slash(ctx: core.TxContext, operator: str, role: int, amount: int) -> None:
    """Admin slash of up to `amount` of an operator's stake in a role (reason 1)."""
    ERRORS.check(core.norm_addr(ctx.sender) == config.admin(ctx.state), "E_NOT_ADMIN")
    _check_role(role)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    slash_internal(ctx, operator, role, amount, REASON_ADMIN, 0, 0)


# --------------------------------------------------------------------------- views


@core.view(PICTOR, "staking", ["address", "u8"], ["u64", "u64"])
def stake_of(ctx: core.TxContext, operator: str, role: int) -> list[Any]:
    """Active and unbonding stake of `operator` in `role`."""
    field = _check_role(role)
    unbonding = sum(r["amount"] for r in get_unbonding(ctx.state, operator) if r["role"] == role)
    return [get_stake(ctx.state, operator)[field], unbonding]


@core.view(PICTOR, "staking", ["address"], ["vector<u64>", "vector<u8>", "vector<u64>", "vector<u64>"])
def unbonding_requests(ctx: core.TxContext, operator: str) -> list[Any]:
    """Request ids, roles, amounts and release times of the operator's unbonding requests."""
    requests = get_unbonding(ctx.state, operator)
    return [
        [r["request_id"] for r in requests],
        bytes(r["role"] for r in requests),
        [r["amount"] for r in requests],
        [r["release_at"] for r in requests],
    ]


@core.view(PICTOR, "staking", [], ["u64", "u64"])
def totals(ctx: core.TxContext) -> list[Any]:
    """Total active and total unbonding stake."""
    staking = ctx.state.get(staking_key())
    return [staking["total_active"], staking["total_unbonding"]]
