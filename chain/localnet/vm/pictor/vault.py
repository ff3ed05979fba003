"""`pictor::vault`: per-user promotional `credit` and withdrawable `balance`, held in one module store."""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import config, token
from chain.localnet.vm.pictor.config import PICTOR, SHORT

VAULT_TAG = f"{SHORT}::vault::Vault"
STORE_SEED = b"pictor::vault"
CLAIM_DOMAIN = b"PICTOR_CREDIT_CLAIM"

ERRORS = core.error_set(
    PICTOR,
    "vault",
    E_ZERO_AMOUNT=(1, "Amount must be greater than zero."),
    E_INSUFFICIENT_BALANCE=(2, "Withdrawable balance is too low."),
    E_INSUFFICIENT_FUNDS=(3, "Credit plus balance is too low."),
    E_BAD_NONCE=(4, "Credit claim nonce is not the next one for this user."),
    E_BAD_SIGNATURE=(5, "Credit claim signature does not verify."),
    E_CLAIMS_DISABLED=(6, "No credit signer is configured."),
    E_EXPIRED=(7, "Credit claim has expired."),
)

DEPOSITED = core.event_type(PICTOR, "vault", "Deposited", [("user", "address"), ("amount", "u64"), ("balance", "u64")])
WITHDRAWN = core.event_type(PICTOR, "vault", "Withdrawn", [("user", "address"), ("amount", "u64"), ("balance", "u64")])
CREDIT_CLAIMED = core.event_type(
    PICTOR, "vault", "CreditClaimed", [("user", "address"), ("amount", "u64"), ("nonce", "u64"), ("credit", "u64")]
)


# --------------------------------------------------------------------------- state access


def vault_key() -> str:
    """State key of the `Vault` resource."""
    return core.resource_key(PICTOR, VAULT_TAG)


def store_address() -> str:
    """The vault's fungible store (named object of `@pictor`, seed `b"pictor::vault"`)."""
    return core.object_address_from_seed(PICTOR, STORE_SEED)


def accounts_handle() -> str:
    """Handle of `Vault.accounts`."""
    return core.table_handle(PICTOR, "vault.accounts")


def nonces_handle() -> str:
    """Handle of `Vault.claim_nonces`."""
    return core.table_handle(PICTOR, "vault.claim_nonces")


def _account_key(user: str) -> str:
    return core.table_key(accounts_handle(), core.norm_addr(user))


def _nonce_key(user: str) -> str:
    return core.table_key(nonces_handle(), core.norm_addr(user))


def get_account(state: core.Overlay, user: str) -> dict[str, int]:
    """A copy of the user's `Account { credit, balance }` (zeros if unknown)."""
    return state.get(_account_key(user)) or {"credit": 0, "balance": 0}


def _put_account(state: core.Overlay, user: str, account: dict[str, int]) -> None:
    state.put(_account_key(user), account)


def _get_vault(state: core.Overlay) -> dict[str, Any]:
    return state.get(vault_key())


def next_nonce(state: core.Overlay, user: str) -> int:
    """The next credit-claim nonce of `user` (starts at 0)."""
    return state.get(_nonce_key(user), 0)


def claim_message(user: str, amount: int, nonce: int, expires_at: int) -> bytes:
    """The bytes the credit signer signs for one claim."""
    return (
        CLAIM_DOMAIN
        + config.bcs_address(user)
        + config.bcs_u64(amount)
        + config.bcs_u64(nonce)
        + config.bcs_u64(expires_at)
    )


# --------------------------------------------------------------------------- friend operations


def lock_for_job(ctx: core.TxContext, user: str, amount: int, to_store: str) -> tuple[int, int]:
    """Move `amount` of the user's funds (credit first) into `to_store`; returns (credit_used, balance_used)."""
    account = get_account(ctx.state, user)
    ERRORS.check(account["credit"] + account["balance"] >= amount, "E_INSUFFICIENT_FUNDS")
    credit_used = min(account["credit"], amount)
    balance_used = amount - credit_used
    account["credit"] -= credit_used
    account["balance"] -= balance_used
    _put_account(ctx.state, user, account)
    vault = _get_vault(ctx.state)
    vault["total_credit"] -= credit_used
    vault["total_balance"] -= balance_used
    ctx.state.put(vault_key(), vault)
    if amount > 0:
        framework.fa_transfer(ctx, store_address(), to_store, amount)
    return credit_used, balance_used


def pay(ctx: core.TxContext, from_store: str, user: str, amount: int, to_credit: bool) -> None:
    """Move `amount` from a module store into the vault and add it to the user's credit or balance."""
    if amount == 0:
        return
    framework.fa_transfer(ctx, from_store, store_address(), amount)
    account = get_account(ctx.state, user)
    vault = _get_vault(ctx.state)
    field = "credit" if to_credit else "balance"
    account[field] += amount
    vault["total_" + field] += amount
    _put_account(ctx.state, user, account)
    ctx.state.put(vault_key(), vault)


# --------------------------------------------------------------------------- init & entry functions


def init_module(ctx: core.TxContext) -> None:
    """Create the vault store and the `Vault` resource."""
    framework.create_store(ctx, store_address(), PICTOR, token.metadata_address())
    ctx.state.put(
        vault_key(),
        {
            "store": store_address(),
            "accounts": {"handle": accounts_handle()},
            "total_credit": 0,
            "total_balance": 0,
            "claim_nonces": {"handle": nonces_handle()},
        },
    )


@core.entry(PICTOR, "vault", ["u64"])
def deposit(ctx: core.TxContext, amount: int) -> None:
    """Move PICTOR from the signer's wallet into its withdrawable vault balance."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    user = core.norm_addr(ctx.sender)
    framework.fa_transfer(ctx, token.primary_store(ctx, user), store_address(), amount)
    account = get_account(ctx.state, user)
    account["balance"] += amount
    _put_account(ctx.state, user, account)
    vault = _get_vault(ctx.state)
    vault["total_balance"] += amount
    ctx.state.put(vault_key(), vault)
    ctx.emit(DEPOSITED, user=user, amount=amount, balance=account["balance"])


@core.entry(PICTOR, "vault", ["u64"])
def withdraw(ctx: core.TxContext, amount: int) -> None:
    """Move withdrawable balance back to the signer's wallet."""
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    user = core.norm_addr(ctx.sender)
    account = get_account(ctx.state, user)
    ERRORS.check(account["balance"] >= amount, "E_INSUFFICIENT_BALANCE")
    account["balance"] -= amount
    _put_account(ctx.state, user, account)
    vault = _get_vault(ctx.state)
    vault["total_balance"] -= amount
    ctx.state.put(vault_key(), vault)
    framework.fa_transfer(ctx, store_address(), token.primary_store(ctx, user), amount)
    ctx.emit(WITHDRAWN, user=user, amount=amount, balance=account["balance"])


@core.entry(PICTOR, "vault", ["u64", "u64", "u64", "vector<u8>"])
def claim_credit(ctx: core.TxContext, amount: int, nonce: int, expires_at: int, signature: bytes) -> None:
    """Mint promotional credit authorised by the credit signer's Ed25519 signature."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    signer_key = config.get_config(ctx.state)["credit_signer"]
    ERRORS.check(len(signer_key) > 0, "E_CLAIMS_DISABLED")
    ERRORS.check(ctx.now_seconds() <= expires_at, "E_EXPIRED")
    user = core.norm_addr(ctx.sender)
    expected = next_nonce(ctx.state, user)
    ERRORS.check(nonce == expected, "E_BAD_NONCE")
    message = claim_message(user, amount, nonce, expires_at)
    ERRORS.check(config.verify_signature(signer_key, message, signature), "E_BAD_SIGNATURE")
    token.mint_to_store(ctx, store_address(), amount)
    account = get_account(ctx.state, user)
    account["credit"] += amount
    _put_account(ctx.state, user, account)
    vault = _get_vault(ctx.state)
    vault["total_credit"] += amount
    ctx.state.put(vault_key(), vault)
    ctx.state.put(_nonce_key(user), expected + 1)
    ctx.emit(CREDIT_CLAIMED, user=user, amount=amount, nonce=nonce, credit=account["credit"])


# --------------------------------------------------------------------------- views


@core.view(PICTOR, "vault", ["address"], ["u64", "u64"])
def account(ctx: core.TxContext, user: str) -> list[Any]:
    """Credit and balance of `user` (0, 0 if unknown)."""
    acct = get_account(ctx.state, user)
    return [acct["credit"], acct["balance"]]


@core.view(PICTOR, "vault", [], ["u64", "u64"])
def totals(ctx: core.TxContext) -> list[Any]:
    """Total credit and total balance."""
    vault = _get_vault(ctx.state)
    return [vault["total_credit"], vault["total_balance"]]


@core.view(PICTOR, "vault", ["address"], ["u64"])
def next_claim_nonce(ctx: core.TxContext, user: str) -> list[Any]:
    """The nonce the user's next credit claim must carry."""
    return [next_nonce(ctx.state, user)]


@core.view(PICTOR, "vault", [], ["u64"])
def store_balance(ctx: core.TxContext) -> list[Any]:
    """PICTOR held by the vault store."""
    return [framework.fa_balance(ctx.state, store_address())]
