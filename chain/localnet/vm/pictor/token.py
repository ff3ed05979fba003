"""`pictor::token`: the PICTOR fungible asset (8 decimals), admin mint and the testnet faucet."""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import config
from chain.localnet.vm.pictor.config import PICTOR, SHORT

NAME = "Pictor"
SYMBOL = "PICTOR"
DECIMALS = 8
ICON_URI = ""
PROJECT_URI = "https://pictor.network"
SEED = b"PICTOR"
MAX_SUPPLY = 100_000_000_000_000_000
TOKEN_REFS_TAG = f"{SHORT}::token::TokenRefs"

ERRORS = core.error_set(
    PICTOR,
    "token",
    E_NOT_ADMIN=(1, "The signer is not the admin."),
    E_ZERO_AMOUNT=(2, "Amount must be greater than zero."),
    E_MAX_SUPPLY=(3, "Minting would exceed the maximum supply."),
    E_FAUCET_LIMIT=(4, "Faucet amount is above the per-call limit."),
)

MINTED = core.event_type(PICTOR, "token", "Minted", [("to", "address"), ("amount", "u64"), ("supply", "u64")])


def metadata_address() -> str:
    """`object::create_object_address(@pictor, b"PICTOR")`."""
    return core.object_address_from_seed(PICTOR, SEED)


def total_supply(state: core.Overlay) -> int:
    """Current PICTOR supply."""
    return framework.fa_supply(state, metadata_address())


def primary_store(ctx: core.TxContext, owner: str) -> str:
    """The owner's PICTOR primary store (created if missing, as `ensure_primary_store_exists`)."""
    return framework.primary_store(ctx, core.norm_addr(owner), metadata_address())


def primary_balance(ctx: core.TxContext, owner: str) -> int:
    """`primary_fungible_store::balance(owner, metadata)` without writing anything (0 if no store)."""
    return framework.fa_balance(ctx.state, core.primary_store_address(owner, metadata_address()))


def mint_to_store(ctx: core.TxContext, store: str, amount: int) -> int:
    """Mint `amount` into `store` (E_MAX_SUPPLY past the cap); returns the supply after."""
    supply = total_supply(ctx.state)
    ERRORS.check(supply + amount <= MAX_SUPPLY, "E_MAX_SUPPLY")
    framework.fa_mint(ctx, metadata_address(), store, amount)
    return supply + amount


def init_module(ctx: core.TxContext) -> None:
    """Create the PICTOR metadata object with primary stores enabled and keep its refs (`TokenRefs`)."""
    meta = framework.create_fungible_asset(ctx, PICTOR, SEED, NAME, SYMBOL, DECIMALS, ICON_URI, PROJECT_URI)
    refs = {name: {"metadata": {"inner": meta}} for name in ("mint_ref", "burn_ref", "transfer_ref")}
    ctx.state.put(core.resource_key(PICTOR, TOKEN_REFS_TAG), {"metadata": {"inner": meta}, **refs})


@core.entry(PICTOR, "token", ["address", "u64"])
def mint(ctx: core.TxContext, to: str, amount: int) -> None:
    """Admin mint into `to`'s primary store."""
    ERRORS.check(core.norm_addr(ctx.sender) == config.admin(ctx.state), "E_NOT_ADMIN")
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    to = core.norm_addr(to)
    supply = mint_to_store(ctx, primary_store(ctx, to), amount)
    ctx.emit(MINTED, to=to, amount=amount, supply=supply)


@core.entry(PICTOR, "token", ["u64"])
def faucet(ctx: core.TxContext, amount: int) -> None:
    """Mint up to `faucet_max` to the signer (testnets)."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    ERRORS.check(amount <= config.param(ctx.state, "faucet_max"), "E_FAUCET_LIMIT")
    user = core.norm_addr(ctx.sender)
    supply = mint_to_store(ctx, primary_store(ctx, user), amount)
    ctx.emit(MINTED, to=user, amount=amount, supply=supply)


@core.view(PICTOR, "token", [], ["0x1::object::Object<0x1::fungible_asset::Metadata>"])
def metadata(ctx: core.TxContext) -> list[Any]:
    """The PICTOR metadata object."""
    return [metadata_address()]


@core.view(PICTOR, "token", ["address"], ["u64"])
def balance(ctx: core.TxContext, owner: str) -> list[Any]:
    """PICTOR in `owner`'s primary store."""
    return [primary_balance(ctx, owner)]


@core.view(PICTOR, "token", [], ["u64"])
def supply(ctx: core.TxContext) -> list[Any]:
    """Current supply."""
    return [total_supply(ctx.state)]


@core.view(PICTOR, "token", [], ["u64"])
def max_supply(ctx: core.TxContext) -> list[Any]:
    """The supply cap."""
    return [MAX_SUPPLY]
