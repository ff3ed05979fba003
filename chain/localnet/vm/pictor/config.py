"""`pictor::config`: roles, fee split, protocol parameters, credit signer and the pause switch."""

from __future__ import annotations

from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.signing

from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.localnet.vm import core

#: The package address (`@pictor`) on the localnet.
PICTOR = core.norm_addr(LOCALNET_PACKAGE_ADDRESS)
#: `@pictor` as Aptos prints it in type tags.
SHORT = core.short_addr(PICTOR)

CONFIG_TAG = f"{SHORT}::config::Config"

BPS = 10_000
MAX_QUORUM = 10
MAX_UNBONDING_SECS = 31_536_000
MAX_REVIEW_WINDOW_SECS = 2_592_000

ERRORS = core.error_set(
    PICTOR,
    "config",
    E_NOT_ADMIN=(1, "The signer is not the admin."),
    E_INVALID_FEE_SPLIT=(2, "Worker and checker shares exceed 100%."),
    E_INVALID_PARAMETER=(3, "A parameter is out of range."),
    E_PAUSED=(4, "The protocol is paused."),
    E_INVALID_PUBLIC_KEY=(5, "The public key is not a valid Ed25519 public key."),
)

ROLES_UPDATED = core.event_type(
    PICTOR, "config", "RolesUpdated", [("admin", "address"), ("coordinator", "address"), ("treasury", "address")]
)
FEE_SPLIT_UPDATED = core.event_type(
    PICTOR, "config", "FeeSplitUpdated", [("worker_bps", "u64"), ("checker_bps", "u64")]
)
PARAMS_UPDATED = core.event_type(
    PICTOR,
    "config",
    "ParamsUpdated",
    [
        ("quorum", "u64"),
        ("min_worker_stake", "u64"),
        ("min_checker_stake", "u64"),
        ("unbonding_secs", "u64"),
        ("review_window_secs", "u64"),
        ("slash_bps", "u64"),
        ("max_strikes", "u64"),
        ("faucet_max", "u64"),
    ],
)
CREDIT_SIGNER_UPDATED = core.event_type(PICTOR, "config", "CreditSignerUpdated", [("public_key", "vector<u8>")])
PAUSED_UPDATED = core.event_type(PICTOR, "config", "PausedUpdated", [("paused", "bool")])

PARAM_NAMES = (
    "quorum",
    "min_worker_stake",
    "min_checker_stake",
    "unbonding_secs",
    "review_window_secs",
    "slash_bps",
    "max_strikes",
    "faucet_max",
)


# --------------------------------------------------------------------------- shared helpers (BCS, Ed25519)


def bcs_address(value: str) -> bytes:
    """BCS of an address: its 32 raw bytes."""
    return core.addr_bytes(value)


def bcs_u64(value: int) -> bytes:
    """BCS of a u64: 8 bytes little endian."""
    return int(value).to_bytes(8, "little")


def bcs_u8(value: int) -> bytes:
    """BCS of a u8: one byte."""
    return int(value).to_bytes(1, "little")


def valid_public_key(public_key: bytes) -> bool:
    """`ed25519::new_validated_public_key_from_bytes(pk)` is some: 32 bytes and a valid point."""
    if len(public_key) != 32:
        return False
    try:
        return bool(nacl.bindings.crypto_core_ed25519_is_valid_point(bytes(public_key)))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """`ed25519::signature_verify_strict`; wrong lengths and bad keys simply fail."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(bytes(public_key)).verify(bytes(message), bytes(signature))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


# --------------------------------------------------------------------------- state access


def config_key() -> str:
    """State key of the `Config` resource at `@pictor`."""
    return core.resource_key(PICTOR, CONFIG_TAG)


def get_config(state: core.Overlay) -> dict[str, Any]:
    """A copy of the `Config` resource."""
    value = state.get(config_key())
    if value is None:
        raise core.VmError("RESOURCE_DOES_NOT_EXIST", CONFIG_TAG)
    return value


def admin(state: core.Overlay) -> str:
    """`config::admin()`."""
    return get_config(state)["admin"]


def coordinator(state: core.Overlay) -> str:
    """`config::coordinator()`."""
    return get_config(state)["coordinator"]


def treasury(state: core.Overlay) -> str:
    """`config::treasury()`."""
    return get_config(state)["treasury"]


def param(state: core.Overlay, name: str) -> int:
    """One numeric field of `Config` (a parameter or a share)."""
    return get_config(state)[name]


def assert_not_paused(state: core.Overlay) -> None:
    """`config::assert_not_paused()`: aborts with `config::E_PAUSED`."""
    ERRORS.check(not get_config(state)["paused"], "E_PAUSED")


def _assert_admin(ctx: core.TxContext) -> dict[str, Any]:
    cfg = get_config(ctx.state)
    ERRORS.check(core.norm_addr(ctx.sender) == cfg["admin"], "E_NOT_ADMIN")
    return cfg


# --------------------------------------------------------------------------- init & entry functions


def init_module(ctx: core.TxContext) -> None:
    """`init_module(pictor)`: every role is `@pictor`, default parameters, three events."""
    cfg: dict[str, Any] = {
        "admin": PICTOR,
        "coordinator": PICTOR,
        "treasury": PICTOR,
        "credit_signer": b"",
        "worker_share_bps": 6000,
        "checker_share_bps": 1000,
        "quorum": 1,
        "min_worker_stake": 100_00000000,
        "min_checker_stake": 100_00000000,
        "unbonding_secs": 604_800,
        "review_window_secs": 86_400,
        "slash_bps": 1000,
        "max_strikes": 3,
        "faucet_max": 1000_00000000,
        "paused": False,
    }
    ctx.state.put(config_key(), cfg)
    ctx.emit(ROLES_UPDATED, admin=PICTOR, coordinator=PICTOR, treasury=PICTOR)
    ctx.emit(FEE_SPLIT_UPDATED, worker_bps=cfg["worker_share_bps"], checker_bps=cfg["checker_share_bps"])
    ctx.emit(PARAMS_UPDATED, **{name: cfg[name] for name in PARAM_NAMES})


@core.entry(PICTOR, "config", ["address", "address", "address"])
def set_roles(ctx: core.TxContext, new_admin: str, coordinator: str, treasury: str) -> None:
    """Set admin, coordinator and treasury."""
    cfg = _assert_admin(ctx)
    cfg["admin"] = core.norm_addr(new_admin)
    cfg["coordinator"] = core.norm_addr(coordinator)
    cfg["treasury"] = core.norm_addr(treasury)
    ctx.state.put(config_key(), cfg)
    ctx.emit(ROLES_UPDATED, admin=cfg["admin"], coordinator=cfg["coordinator"], treasury=cfg["treasury"])


@core.entry(PICTOR, "config", ["u64", "u64"])
def set_fee_split(ctx: core.TxContext, worker_bps: int, checker_bps: int) -> None:
    """Set the worker and checker shares in basis points (the treasury gets the rest)."""
    cfg = _assert_admin(ctx)
    ERRORS.check(worker_bps <= BPS and checker_bps <= BPS - worker_bps, "E_INVALID_FEE_SPLIT")
    cfg["worker_share_bps"] = worker_bps
    cfg["checker_share_bps"] = checker_bps
    ctx.state.put(config_key(), cfg)
    ctx.emit(FEE_SPLIT_UPDATED, worker_bps=worker_bps, checker_bps=checker_bps)


@core.entry(PICTOR, "config", ["u64", "u64", "u64", "u64", "u64", "u64", "u64", "u64"])
def set_params(
    ctx: core.TxContext,
    quorum: int,
    min_worker_stake: int,
    min_checker_stake: int,
    unbonding_secs: int,
    review_window_secs: int,
    slash_bps: int,
    max_strikes: int,
    faucet_max: int,
) -> None:
    """Set quorum, minimum stakes, unbonding period, review window, slash rate, strike limit and faucet cap."""
    cfg = _assert_admin(ctx)
    ERRORS.check(
        1 <= quorum <= MAX_QUORUM
        and unbonding_secs <= MAX_UNBONDING_SECS
        and review_window_secs <= MAX_REVIEW_WINDOW_SECS
        and slash_bps <= BPS
        and max_strikes >= 1,
        "E_INVALID_PARAMETER",
    )
    values = {
        "quorum": quorum,
        "min_worker_stake": min_worker_stake,
        "min_checker_stake": min_checker_stake,
        "unbonding_secs": unbonding_secs,
        "review_window_secs": review_window_secs,
        "slash_bps": slash_bps,
        "max_strikes": max_strikes,
        "faucet_max": faucet_max,
    }
    cfg.update(values)
    ctx.state.put(config_key(), cfg)
    ctx.emit(PARAMS_UPDATED, **values)


@core.entry(PICTOR, "config", ["vector<u8>"])
def set_credit_signer(ctx: core.TxContext, public_key: bytes) -> None:
    """Set the Ed25519 key that signs credit claims."""
    cfg = _assert_admin(ctx)
    ERRORS.check(valid_public_key(public_key), "E_INVALID_PUBLIC_KEY")
    cfg["credit_signer"] = bytes(public_key)
    ctx.state.put(config_key(), cfg)
    ctx.emit(CREDIT_SIGNER_UPDATED, public_key=bytes(public_key))


@core.entry(PICTOR, "config", ["bool"])
def set_paused(ctx: core.TxContext, paused: bool) -> None:
    """Turn the pause switch on or off."""
    cfg = _assert_admin(ctx)
    cfg["paused"] = bool(paused)
    ctx.state.put(config_key(), cfg)
    ctx.emit(PAUSED_UPDATED, paused=bool(paused))


# --------------------------------------------------------------------------- views


@core.view(PICTOR, "config", [], ["address", "address", "address"])
def roles(ctx: core.TxContext) -> list[Any]:
    """Admin, coordinator, treasury."""
    cfg = get_config(ctx.state)
    return [cfg["admin"], cfg["coordinator"], cfg["treasury"]]


@core.view(PICTOR, "config", [], ["u64", "u64"])
def fee_split(ctx: core.TxContext) -> list[Any]:
    """Worker and checker shares in basis points."""
    cfg = get_config(ctx.state)
    return [cfg["worker_share_bps"], cfg["checker_share_bps"]]


@core.view(PICTOR, "config", [], ["u64", "u64", "u64", "u64", "u64", "u64", "u64", "u64"])
def params(ctx: core.TxContext) -> list[Any]:
    """The parameters in `ParamsUpdated` order."""
    cfg = get_config(ctx.state)
    return [cfg[name] for name in PARAM_NAMES]


@core.view(PICTOR, "config", [], ["bool"])
def is_paused(ctx: core.TxContext) -> list[Any]:
    """Whether the protocol is paused."""
    return [get_config(ctx.state)["paused"]]


@core.view(PICTOR, "config", [], ["vector<u8>"])
def credit_signer(ctx: core.TxContext) -> list[Any]:
    """The credit signer's public key (empty if none)."""
    return [get_config(ctx.state)["credit_signer"]]
