"""The unmodified ``aptos-sdk`` (``RestClient``, ``FaucetClient``) against a localnet process.

Every flow asserts a real effect on chain: balances moved, gas charged = gas_used x gas_unit_price,
sequence numbers bumped, views reflecting the new state.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.async_client import ApiError, ClientConfig, FaucetClient, ResourceNotFound, RestClient
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import (
    EntryFunction,
    RawTransaction,
    SignedTransaction,
    TransactionArgument,
    TransactionPayload,
)

from chain.constants import LOCALNET_PACKAGE_ADDRESS

pytestmark = pytest.mark.timeout(300)

PICTOR = LOCALNET_PACKAGE_ADDRESS
APT = 100_000_000  # octas per APT
FUND = 5 * APT


def txn_hash(signed: SignedTransaction) -> str:
    """The Aptos hash of a user transaction: sha3(sha3(b"APTOS::Transaction") || 0x00 || bcs(signed))."""
    prefix = hashlib.sha3_256(b"APTOS::Transaction").digest()
    return "0x" + hashlib.sha3_256(prefix + b"\x00" + signed.bytes()).hexdigest()


@pytest.fixture
async def rest(localnet: Any) -> AsyncIterator[RestClient]:
    client = RestClient(localnet.node_url, ClientConfig(transaction_wait_in_seconds=60))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def faucet(localnet: Any, rest: RestClient) -> FaucetClient:
    return FaucetClient(localnet.faucet_url, rest)


async def funded(faucet: FaucetClient, amount: int = FUND) -> Account:
    account = Account.generate()
    await faucet.fund_account(account.address(), amount)
    return account


async def pictor_balance(rest: RestClient, owner: AccountAddress) -> int:
    out = await rest.view_bcs_payload(
        f"{PICTOR}::token", "balance", [], [TransactionArgument(owner, Serializer.struct)]
    )
    return int(out[0])


async def submit_entry(
    rest: RestClient, sender: Account, module: str, function: str, args: list[TransactionArgument]
) -> dict[str, Any]:
    payload = TransactionPayload(EntryFunction.natural(module, function, [], args))
    signed = await rest.create_bcs_signed_transaction(sender, payload)
    tx_hash = await rest.submit_bcs_transaction(signed)
    assert tx_hash == txn_hash(signed)
    for _ in range(1200):  # up to ~60 s, polling faster than the SDK's 1 s wait
        if not await rest.transaction_pending(tx_hash):
            break
        await asyncio.sleep(0.05)
    return await rest.transaction_by_hash(tx_hash)


# --------------------------------------------------------------------------- faucet


async def test_faucet_is_healthy(faucet: FaucetClient) -> None:
    assert await faucet.healthy() is True


async def test_fund_account_creates_the_account_and_credits_it(rest: RestClient, faucet: FaucetClient) -> None:
    account = Account.generate()
    assert await rest.account_sequence_number(account.address()) == 0  # unknown account: 404 -> 0
    tx_hash = await faucet.fund_account(account.address(), 3 * APT)
    assert tx_hash.startswith("0x") and len(tx_hash) == 66
    txn = await rest.transaction_by_hash(tx_hash)
    assert txn["type"] == "user_transaction" and txn["success"] is True
    assert await rest.account_balance(account.address()) == 3 * APT
    # funding twice adds up
    await faucet.fund_account(account.address(), APT)
    assert await rest.account_balance(account.address()) == 4 * APT


# --------------------------------------------------------------------------- accounts & resources


async def test_account_and_resources(rest: RestClient, faucet: FaucetClient) -> None:
    account = await funded(faucet)
    data = await rest.account(account.address())
    assert int(data["sequence_number"]) == 0
    assert data["authentication_key"] == account.auth_key()
    assert await rest.account_sequence_number(account.address()) == 0

    resource = await rest.account_resource(account.address(), "0x1::account::Account")
    assert resource["type"] == "0x1::account::Account"
    assert resource["data"]["authentication_key"] == account.auth_key()
    assert resource["data"]["sequence_number"] == "0"

    resources = await rest.account_resources(account.address())
    types = {r["type"] for r in resources}
    assert "0x1::account::Account" in types
    by_type = {r["type"]: r for r in resources}
    assert by_type["0x1::account::Account"] == resource

    with pytest.raises(ResourceNotFound):
        await rest.account_resource(account.address(), f"{PICTOR}::config::Config")
    config = await rest.account_resource(AccountAddress.from_str(PICTOR), f"{PICTOR}::config::Config")
    assert config["data"]["worker_share_bps"] == "6000"


async def test_unknown_account_is_a_404(rest: RestClient) -> None:
    stranger = Account.generate().address()
    with pytest.raises(ApiError) as err:
        await rest.account(stranger)
    assert err.value.status_code == 404
    assert json.loads(str(err.value).rsplit(" - ", 1)[0])["error_code"] == "account_not_found"


# --------------------------------------------------------------------------- transfers


async def test_bcs_transfer_moves_apt_and_charges_gas(rest: RestClient, faucet: FaucetClient) -> None:
    alice = await funded(faucet)
    bob = await funded(faucet, APT)
    amount = 12_345_678
    tx_hash = await rest.bcs_transfer(alice, bob.address(), amount)
    await rest.wait_for_transaction(tx_hash)
    txn = await rest.transaction_by_hash(tx_hash)
    assert txn["type"] == "user_transaction"
    assert txn["success"] is True, txn["vm_status"]
    assert txn["vm_status"] == "Executed successfully"
    assert txn["sender"] == str(alice.address())
    assert txn["sequence_number"] == "0"
    assert txn["payload"]["function"] == "0x1::aptos_account::transfer"
    gas_used, price = int(txn["gas_used"]), int(txn["gas_unit_price"])
    assert gas_used > 0 and price == rest.client_config.gas_unit_price
    assert gas_used <= int(txn["max_gas_amount"])

    assert await rest.account_balance(alice.address()) == FUND - amount - gas_used * price
    assert await rest.account_balance(bob.address()) == APT + amount
    assert await rest.account_sequence_number(alice.address()) == 1
    assert await rest.account_sequence_number(bob.address()) == 0

    # the same transaction by version, and in the account's transaction list
    by_version = await rest.transaction_by_version(int(txn["version"]))
    assert by_version["hash"] == tx_hash
    assert by_version == txn
    listed = await rest.transactions_by_account(alice.address())
    assert [t["hash"] for t in listed] == [tx_hash]


async def test_bcs_transfer_to_a_new_account_creates_it(rest: RestClient, faucet: FaucetClient) -> None:
    alice = await funded(faucet)
    fresh = Account.generate()
    tx_hash = await rest.bcs_transfer(alice, fresh.address(), 1000)
    await rest.wait_for_transaction(tx_hash)
    assert await rest.account_balance(fresh.address()) == 1000
    assert (await rest.account(fresh.address()))["sequence_number"] == "0"


async def test_consecutive_transfers_bump_sequence_numbers(rest: RestClient, faucet: FaucetClient) -> None:
    alice = await funded(faucet)
    bob = Account.generate()
    hashes = []
    for seq in range(3):
        hashes.append(await rest.bcs_transfer(alice, bob.address(), 10 + seq, sequence_number=seq))
    for h in hashes:
        await rest.wait_for_transaction(h)
    txns = [await rest.transaction_by_hash(h) for h in hashes]
    assert [t["sequence_number"] for t in txns] == ["0", "1", "2"]
    versions = [int(t["version"]) for t in txns]
    assert versions == sorted(versions) and len(set(versions)) == 3
    fees = sum(int(t["gas_used"]) * int(t["gas_unit_price"]) for t in txns)
    assert await rest.account_sequence_number(alice.address()) == 3
    assert await rest.account_balance(alice.address()) == FUND - (10 + 11 + 12) - fees
    assert await rest.account_balance(bob.address()) == 33


async def test_failed_transaction_charges_gas_and_bumps_sequence_only(rest: RestClient, faucet: FaucetClient) -> None:
    alice = await funded(faucet)
    bob = await funded(faucet, APT)
    too_much = FUND * 10
    tx_hash = await rest.bcs_transfer(alice, bob.address(), too_much)
    with pytest.raises(AssertionError):  # wait_for_transaction asserts success
        await rest.wait_for_transaction(tx_hash)
    txn = await rest.transaction_by_hash(tx_hash)
    assert txn["type"] == "user_transaction" and txn["success"] is False
    assert "EINSUFFICIENT_BALANCE" in txn["vm_status"], txn["vm_status"]
    fee = int(txn["gas_used"]) * int(txn["gas_unit_price"])
    assert fee > 0
    assert await rest.account_balance(alice.address()) == FUND - fee
    assert await rest.account_balance(bob.address()) == APT
    assert await rest.account_sequence_number(alice.address()) == 1


# --------------------------------------------------------------------------- pictor entry functions & views


async def test_submit_bcs_pictor_faucet_and_view(rest: RestClient, faucet: FaucetClient) -> None:
    user = await funded(faucet)
    assert await pictor_balance(rest, user.address()) == 0
    supply_before = int((await rest.view_bcs_payload(f"{PICTOR}::token", "supply", [], []))[0])
    txn = await submit_entry(
        rest, user, f"{PICTOR}::token", "faucet", [TransactionArgument(25_00000000, Serializer.u64)]
    )
    assert txn["success"] is True, txn["vm_status"]
    assert await pictor_balance(rest, user.address()) == 25_00000000
    supply_after = int((await rest.view_bcs_payload(f"{PICTOR}::token", "supply", [], []))[0])
    assert supply_after >= supply_before + 25_00000000
    minted = [e for e in txn["events"] if e["type"].endswith("::token::Minted")]
    assert len(minted) == 1
    assert minted[0]["data"]["amount"] == "2500000000"
    assert AccountAddress.from_str_relaxed(minted[0]["data"]["to"]) == user.address()
    fee = int(txn["gas_used"]) * int(txn["gas_unit_price"])
    assert await rest.account_balance(user.address()) == FUND - fee
    assert await rest.account_sequence_number(user.address()) == 1

    # deposit into the vault: JSON view shows the vault account
    txn = await submit_entry(
        rest, user, f"{PICTOR}::vault", "deposit", [TransactionArgument(10_00000000, Serializer.u64)]
    )
    assert txn["success"] is True, txn["vm_status"]
    raw = await rest.view(f"{PICTOR}::vault::account", [], [str(user.address())])
    assert json.loads(raw) == ["0", "1000000000"]
    assert await pictor_balance(rest, user.address()) == 15_00000000


async def test_view_json_and_bcs_agree(rest: RestClient, faucet: FaucetClient) -> None:
    user = await funded(faucet, 2 * APT)
    raw = await rest.view("0x1::coin::balance", ["0x1::aptos_coin::AptosCoin"], [str(user.address())])
    assert json.loads(raw) == [str(2 * APT)]
    assert await rest.account_balance(user.address()) == 2 * APT
    fee_split = json.loads(await rest.view(f"{PICTOR}::config::fee_split", [], []))
    assert fee_split == ["6000", "1000"]
    bcs_split = await rest.view_bcs_payload(f"{PICTOR}::config", "fee_split", [], [])
    assert bcs_split == fee_split


async def test_view_of_a_missing_function_is_an_error(rest: RestClient) -> None:
    with pytest.raises(ApiError) as err:
        await rest.view(f"{PICTOR}::config::no_such_view", [], [])
    assert 400 <= err.value.status_code < 500


async def test_view_at_an_older_ledger_version(rest: RestClient, faucet: FaucetClient) -> None:
    user = await funded(faucet, 2 * APT)
    txn = await submit_entry(rest, user, f"{PICTOR}::token", "faucet", [TransactionArgument(7, Serializer.u64)])
    assert txn["success"] is True, txn["vm_status"]
    before = int(txn["version"]) - 1
    at_before = await rest.view_bcs_payload(
        f"{PICTOR}::token", "balance", [], [TransactionArgument(user.address(), Serializer.struct)], before
    )
    assert at_before == ["0"]
    assert await pictor_balance(rest, user.address()) == 7


# --------------------------------------------------------------------------- simulation


async def test_simulate_changes_nothing(rest: RestClient, faucet: FaucetClient) -> None:
    alice = await funded(faucet)
    bob = await funded(faucet, APT)
    payload = TransactionPayload(
        EntryFunction.natural(
            "0x1::aptos_account",
            "transfer",
            [],
            [TransactionArgument(bob.address(), Serializer.struct), TransactionArgument(777, Serializer.u64)],
        )
    )
    raw = await rest.create_bcs_transaction(alice, payload)
    signed = SignedTransaction(raw, alice.sign_simulated_transaction(raw))
    ledger_before = int((await rest.info())["ledger_version"])
    out = await rest.simulate_bcs_transaction(signed)
    assert isinstance(out, list) and len(out) == 1
    sim = out[0]
    assert sim["success"] is True, sim["vm_status"]
    assert int(sim["gas_used"]) > 0
    assert await rest.account_balance(alice.address()) == FUND
    assert await rest.account_balance(bob.address()) == APT
    assert await rest.account_sequence_number(alice.address()) == 0
    with pytest.raises(ApiError) as err:
        await rest.transaction_by_hash(sim["hash"])
    assert err.value.status_code == 404
    assert int((await rest.info())["ledger_version"]) >= ledger_before

    # the simulated gas is what the real transaction then uses
    real_hash = await rest.bcs_transfer(alice, bob.address(), 777)
    await rest.wait_for_transaction(real_hash)
    real = await rest.transaction_by_hash(real_hash)
    assert real["gas_used"] == sim["gas_used"]


async def test_simulate_reports_an_abort(rest: RestClient, faucet: FaucetClient) -> None:
    user = await funded(faucet)
    payload = TransactionPayload(
        EntryFunction.natural(f"{PICTOR}::vault", "withdraw", [], [TransactionArgument(1, Serializer.u64)])
    )
    raw = await rest.create_bcs_transaction(user, payload)
    out = await rest.simulate_bcs_transaction(SignedTransaction(raw, user.sign_simulated_transaction(raw)))
    assert out[0]["success"] is False
    assert "E_INSUFFICIENT_BALANCE" in out[0]["vm_status"]
    assert await rest.account_sequence_number(user.address()) == 0
    assert await rest.account_balance(user.address()) == FUND


async def test_simulate_rejects_a_valid_signature(rest: RestClient, faucet: FaucetClient) -> None:
    """As on Aptos: a simulation carrying a real signature is refused (it could be replayed)."""
    user = await funded(faucet)
    payload = TransactionPayload(
        EntryFunction.natural(f"{PICTOR}::token", "faucet", [], [TransactionArgument(1, Serializer.u64)])
    )
    signed = await rest.create_bcs_signed_transaction(user, payload)
    with pytest.raises(ApiError) as err:
        await rest.simulate_bcs_transaction(signed)
    assert err.value.status_code == 400


# --------------------------------------------------------------------------- ledger & transaction listing


async def test_ledger_info_and_transactions(rest: RestClient, faucet: FaucetClient) -> None:
    info = await rest.info()
    assert int(info["chain_id"]) == await rest.chain_id()
    first = await rest.transactions(start=0, limit=1)
    assert len(first) == 1
    assert first[0]["type"] == "genesis_transaction" and first[0]["version"] == "0"

    user = await funded(faucet, APT)
    assert await rest.transactions_by_account(user.address()) == []  # funding sends nothing from the user

    tx_hash = await rest.bcs_transfer(user, Account.generate().address(), 5)
    await rest.wait_for_transaction(tx_hash)
    mine = await rest.transaction_by_hash(tx_hash)
    version = int(mine["version"])
    page = await rest.transactions(start=version, limit=1)
    assert [t["hash"] for t in page] == [tx_hash]
    latest = await rest.transactions(limit=5)
    assert 1 <= len(latest) <= 5
    versions = [int(t["version"]) for t in latest]
    assert versions == list(range(versions[0], versions[0] + len(versions)))
    assert versions[-1] >= version
    window = await rest.transactions(start=1, limit=3)
    assert [int(t["version"]) for t in window] == [1, 2, 3]


async def test_wait_for_transaction_accepts_an_expected_hash(rest: RestClient, faucet: FaucetClient) -> None:
    user = await funded(faucet, APT)
    payload = TransactionPayload(
        EntryFunction.natural(
            "0x1::aptos_account",
            "transfer",
            [],
            [TransactionArgument(Account.generate().address(), Serializer.struct), TransactionArgument(1, Serializer.u64)],
        )
    )
    raw = RawTransaction(
        user.address(), 0, payload, 10_000, 100, int(time.time()) + 600, await rest.chain_id()
    )
    signed = SignedTransaction(raw, user.sign_transaction(raw))
    tx_hash = await rest.submit_bcs_transaction(signed)
    assert tx_hash == txn_hash(signed)
    await rest.wait_for_transaction(tx_hash)
    assert (await rest.transaction_by_hash(tx_hash))["success"] is True
