"""The creator's chain steps: the chain client, faucet funding, vault deposits and balances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chain.client import PictorChain, TxResult
from chain.errors import ChainError
from chain.keys import account_address
from creator.amounts import format_amount
from creator.errors import CreatorError, chain_failure
from pictor.settings import Settings, get_settings

if TYPE_CHECKING:
    from aptos_sdk.account import Account

#: APT (octas) the faucet sends when the wallet has less than half of it: gas for a few dozen transactions.
GAS_GRANT = 2 * 10**8


def chain_client(settings: Settings | None = None) -> PictorChain:
    """The chain client of the configured deployment (``PICTOR_NODE_URL``, ``PICTOR_FAUCET_URL``, …)."""
    return PictorChain.from_settings(settings or get_settings())


async def fund_wallet(chain: PictorChain, account: Account, amount: int) -> list[TxResult]:
    """Faucet APT for gas (when the wallet is low), then ``token::faucet`` ``amount`` PICTOR to the wallet."""
    address = account_address(account)
    results: list[TxResult] = []
    try:
        limit = (await chain.views.params()).faucet_max
        if amount > limit:
            raise CreatorError(f"the faucet gives at most {format_amount(limit)} PICTOR per request")
        if await chain.apt_balance(address) < GAS_GRANT // 2:
            results += await chain.fund(address, GAS_GRANT)
        results.append(await chain.submit_and_wait(account, chain.payloads.token_faucet(amount)))
    except ChainError as exc:
        raise chain_failure(exc, "funding the wallet") from None
    return results


async def deposit(chain: PictorChain, account: Account, amount: int) -> TxResult:
    """``vault::deposit`` ``amount`` PICTOR from the wallet into the vault (checked against the wallet first)."""
    try:
        held = await chain.pictor_balance(account_address(account))
        if held < amount:
            raise CreatorError(
                f"the wallet holds {format_amount(held)} PICTOR, less than {format_amount(amount)}; "
                "fund it first (`pictor wallet fund AMOUNT`)"
            )
        return await chain.submit_and_wait(account, chain.payloads.vault_deposit(amount))
    except ChainError as exc:
        raise chain_failure(exc, "depositing into the vault") from None


@dataclass(frozen=True)
class Balances:
    """What a wallet holds, in base units."""

    address: str
    apt: int
    wallet: int
    vault_credit: int
    vault_balance: int


async def balances(chain: PictorChain, address: str) -> Balances:
    """APT for gas, PICTOR in the wallet, and the vault's credit and balance of ``address``."""
    try:
        vault = await chain.views.vault_account(address)
        return Balances(
            address,
            await chain.apt_balance(address),
            await chain.pictor_balance(address),
            int(vault.credit),
            int(vault.balance),
        )
    except ChainError as exc:
        raise chain_failure(exc, "reading the balances") from None
