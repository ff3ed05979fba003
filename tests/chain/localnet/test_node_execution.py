"""Unit tests of the localnet node in-process: validation, mempool, execution, blocks, restart, views.

Blocks are produced explicitly with ``Node.produce_block()`` (no background task, no HTTP), so every
test is deterministic and fast.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.localnet.errors import STATUS_CODES, ApiError
from chain.localnet.genesis import create_genesis, key_address, read_key
from chain.localnet.node import MAX_SEQUENCE_AHEAD, Node
from chain.localnet.render import render_resource
from chain.localnet.txn import (
    INTRINSIC_GAS_UNITS,
    MAX_GAS_AMOUNT,
    MAX_GAS_UNIT_PRICE,
    decode_signed_transaction,
    raw_transaction_bcs,
    sign_raw_transaction,
)
from chain.localnet.vm import core, framework
from chain.localnet.vm.core import Overlay, TxContext

APT = 100_000_000
TRANSFER = "0x1::aptos_account::transfer"


class Chain:
    """An in-process node plus helpers to sign, submit and commit transactions."""

    def __init__(self, node: Node, data_dir: Path, accounts: dict[str, str]) -> None:
        self.node = node
        self.data_dir = data_dir
        self.accounts = accounts
        self.faucet = read_key(data_dir / "keys" / "faucet.key")

    def signed(
        self,
        key: nacl.signing.SigningKey,
        function: str,
        args: list[bytes],
        ty_args: list[str] | None = None,
        *,
        sender: str | None = None,
        seq: int | None = None,
        max_gas: int = 10_000,
        price: int = 100,
        expiration: int | None = None,
        chain_id: int = LOCALNET_CHAIN_ID,
    ) -> bytes:
        sender = sender or key_address(key)
        if seq is None:
            seq = self.node.committed_seq(sender) or 0
        address, module, name = function.split("::")
        raw = raw_transaction_bcs(
            sender,
            seq,
            address,
            module,
            name,
            ty_args or [],
            args,
            max_gas,
            price,
            int(time.time()) + 600 if expiration is None else expiration,
            chain_id,
        )
        return sign_raw_transaction(key, raw)

    async def commit(self, *signed: bytes) -> list[dict[str, Any]]:
        """Submit, produce blocks until all are committed; their committed JSON."""
        hashes = [self.node.submit(s).hash for s in signed]
        for _ in range(10):
            if all(self.node.committed_txn_by_hash(h) for h in hashes):
                break
            await self.node.produce_block()
        return [json.loads(self.node.committed_txn_by_hash(h)) for h in hashes]

    async def run(
        self,
        key: nacl.signing.SigningKey,
        function: str,
        args: list[bytes],
        ty_args: list[str] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        return (await self.commit(self.signed(key, function, args, ty_args, **kw)))[0]

    async def fund(self, address: str, amount: int) -> dict[str, Any]:
        txn = await self.run(self.faucet, TRANSFER, [core.addr_bytes(address), u64(amount)])
        assert txn["success"], txn["vm_status"]
        return txn

    async def new_account(self, amount: int = 10 * APT) -> tuple[nacl.signing.SigningKey, str]:
        key = nacl.signing.SigningKey.generate()
        address = key_address(key)
        await self.fund(address, amount)
        return key, address

    def apt(self, address: str) -> int:
        return framework.apt_balance(self.node.state, address)


def u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    node = Node(tmp_path, chain_id=LOCALNET_CHAIN_ID)
    accounts = create_genesis(node, tmp_path)
    try:
        yield Chain(node, tmp_path, accounts)
    finally:
        await node.close()


# --------------------------------------------------------------------------- genesis


async def test_genesis_writes_keys_accounts_and_version_zero(chain: Chain) -> None:
    keys = chain.data_dir / "keys"
    for name in ("admin", "coordinator", "treasury", "faucet"):
        assert stat.S_IMODE((keys / f"{name}.key").stat().st_mode) == 0o600
    accounts = json.loads((keys / "accounts.json").read_text())
    assert accounts["package"] == accounts["admin"] == core.norm_addr(LOCALNET_PACKAGE_ADDRESS)
    for name in ("coordinator", "treasury", "faucet"):
        assert accounts[name] == key_address(read_key(keys / f"{name}.key"))
    package = chain.node.state[framework.account_key(accounts["package"])]
    admin_auth = core.ed25519_auth_key(bytes(read_key(keys / "admin.key").verify_key))
    assert core.norm_addr(package["authentication_key"]) == admin_auth != accounts["package"]
    for name in ("package", "coordinator", "treasury", "faucet"):
        assert chain.apt(accounts[name]) > 0
    genesis = json.loads(chain.node.txn_by_version(0))
    assert genesis["type"] == "genesis_transaction" and genesis["version"] == "0"
    assert chain.node.ledger.version == 0 and chain.node.ledger.block_height == 0


async def test_genesis_runs_the_pictor_package_init(chain: Chain) -> None:
    pictor = core.short_addr(LOCALNET_PACKAGE_ADDRESS)
    resources = dict(chain.node.account_resources(LOCALNET_PACKAGE_ADDRESS))
    assert f"{pictor}::config::Config" in resources


async def test_admin_key_signs_for_the_package_account(chain: Chain) -> None:
    admin = read_key(chain.data_dir / "keys" / "admin.key")
    txn = await chain.run(
        admin, TRANSFER, [core.addr_bytes(chain.accounts["treasury"]), u64(5)], sender=chain.accounts["package"]
    )
    assert txn["success"] and txn["sender"] == chain.accounts["package"]


# --------------------------------------------------------------------------- execution


async def test_transfer_moves_apt_charges_gas_and_bumps_the_sequence_number(chain: Chain) -> None:
    key, alice = await chain.new_account(10 * APT)
    bob = key_address(nacl.signing.SigningKey.generate())
    txn = await chain.run(key, TRANSFER, [core.addr_bytes(bob), u64(3 * APT)])
    assert txn["success"] is True and txn["vm_status"] == "Executed successfully"
    fee = int(txn["gas_used"]) * int(txn["gas_unit_price"])
    assert fee > 0
    assert chain.apt(alice) == 7 * APT - fee
    assert chain.apt(bob) == 3 * APT
    assert chain.node.committed_seq(alice) == 1
    types = [e["type"] for e in txn["events"]]
    assert types == [
        "0x1::coin::WithdrawEvent",
        "0x1::account::CoinRegisterEvent",
        "0x1::coin::DepositEvent",
        "0x1::transaction_fee::FeeStatement",
    ]
    fee_statement = txn["events"][-1]["data"]
    assert fee_statement["total_charge_gas_units"] == txn["gas_used"]
    withdraw = txn["events"][0]
    assert withdraw["guid"] == {"creation_number": "3", "account_address": alice}
    changed = {(c["address"], c["data"]["type"]) for c in txn["changes"]}
    assert (alice, "0x1::account::Account") in changed and (bob, framework.COIN_STORE_APT_T) in changed
    assert txn["payload"]["arguments"] == [bob, str(3 * APT)]


async def test_abort_commits_as_failed_and_changes_only_gas_and_sequence(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    bob = key_address(nacl.signing.SigningKey.generate())
    txn = await chain.run(key, TRANSFER, [core.addr_bytes(bob), u64(5 * APT)])
    assert txn["success"] is False
    assert txn["vm_status"] == (
        "Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): Not enough coins to complete transaction"
    )
    fee = int(txn["gas_used"]) * 100
    assert chain.apt(alice) == APT - fee
    assert chain.node.committed_seq(alice) == 1
    assert not framework.account_exists(chain.node.state, bob)  # the recipient was not created
    assert [e["type"] for e in txn["events"]] == ["0x1::transaction_fee::FeeStatement"]
    assert {c["data"]["type"] for c in txn["changes"]} == {"0x1::account::Account", framework.COIN_STORE_APT_T}


@pytest.mark.parametrize(
    ("function", "args", "ty_args", "status"),
    [
        ("0x1::nosuchmodule::f", [], [], "LINKER_ERROR"),
        ("0x1::aptos_account::nosuchfunction", [], [], "FUNCTION_RESOLUTION_FAILURE"),
        (TRANSFER, [b"\x00" * 32], [], "NUMBER_OF_ARGUMENTS_MISMATCH"),
        (TRANSFER, [b"\x00" * 31, u64(1)], [], "FAILED_TO_DESERIALIZE_ARGUMENT"),
        (TRANSFER, [b"\x00" * 32, u64(1)], ["0x1::aptos_coin::AptosCoin"], "NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"),
        (
            "0x1::coin::balance",
            [b"\x00" * 32],
            ["0x1::aptos_coin::AptosCoin"],
            "EXECUTE_ENTRY_FUNCTION_CALLED_ON_NON_ENTRY_FUNCTION",
        ),
    ],
)
async def test_bad_calls_commit_as_failed_with_the_aptos_status(
    chain: Chain, function: str, args: list[bytes], ty_args: list[str], status: str
) -> None:
    key, alice = await chain.new_account(APT)
    txn = await chain.run(key, function, args, ty_args)
    assert txn["success"] is False
    assert txn["vm_status"] == f"Transaction Executed and Committed with Error {status}"
    assert chain.node.committed_seq(alice) == 1
    assert chain.apt(alice) == APT - int(txn["gas_used"]) * 100


async def test_out_of_gas_fails_and_charges_the_max(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    txn = await chain.run(key, TRANSFER, [core.addr_bytes(alice), u64(1)], max_gas=INTRINSIC_GAS_UNITS)
    assert txn["success"] is False and txn["vm_status"] == "Out of gas"
    assert int(txn["gas_used"]) == INTRINSIC_GAS_UNITS


# --------------------------------------------------------------------------- validation


def _check_rejected(err: pytest.ExceptionInfo[ApiError], status: str) -> None:
    assert err.value.status == 400
    assert err.value.error_code == "vm_error"
    assert err.value.vm_error_code == STATUS_CODES[status]
    assert err.value.message == f"Invalid transaction: Type: Validation Code: {status}"


async def test_validation_rejects_like_an_aptos_node(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    other = nacl.signing.SigningKey.generate()
    to = [core.addr_bytes(alice), u64(1)]
    cases: list[tuple[bytes, str]] = [
        (chain.signed(other, TRANSFER, to, sender=alice), "INVALID_AUTH_KEY"),
        (chain.signed(key, TRANSFER, to, expiration=int(time.time()) - 1), "TRANSACTION_EXPIRED"),
        (chain.signed(key, TRANSFER, to, chain_id=5), "BAD_CHAIN_ID"),
        (chain.signed(key, TRANSFER, to, price=99), "GAS_UNIT_PRICE_BELOW_MIN_BOUND"),
        (chain.signed(key, TRANSFER, to, price=MAX_GAS_UNIT_PRICE + 1), "GAS_UNIT_PRICE_ABOVE_MAX_BOUND"),
        (chain.signed(key, TRANSFER, to, max_gas=MAX_GAS_AMOUNT + 1), "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND"),
        (chain.signed(key, TRANSFER, to, max_gas=2), "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS"),
        (chain.signed(other, TRANSFER, to), "SENDING_ACCOUNT_DOES_NOT_EXIST"),
        (chain.signed(key, TRANSFER, to, max_gas=1_000_000, price=1000), "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"),
        (chain.signed(key, TRANSFER, to, seq=MAX_SEQUENCE_AHEAD + 1), "SEQUENCE_NUMBER_TOO_NEW"),
    ]
    bad_sig = bytearray(chain.signed(key, TRANSFER, to))
    bad_sig[-5] ^= 0xFF
    cases.append((bytes(bad_sig), "INVALID_SIGNATURE"))
    for data, status in cases:
        with pytest.raises(ApiError) as err:
            chain.node.submit(data)
        _check_rejected(err, status)
    await chain.run(key, TRANSFER, to)
    with pytest.raises(ApiError) as err:
        chain.node.submit(chain.signed(key, TRANSFER, to, seq=0))
    _check_rejected(err, "SEQUENCE_NUMBER_TOO_OLD")
    assert not chain.node.pool_by_hash


async def test_malformed_submission_is_invalid_input(chain: Chain) -> None:
    with pytest.raises(ApiError) as err:
        chain.node.submit(b"\x01\x02\x03")
    assert (err.value.status, err.value.error_code, err.value.vm_error_code) == (400, "invalid_input", None)


# --------------------------------------------------------------------------- mempool


async def test_sequence_gaps_park_until_contiguous(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    to = [core.addr_bytes(alice), u64(1)]
    second = chain.node.submit(chain.signed(key, TRANSFER, to, seq=1))
    await chain.node.produce_block()
    assert chain.node.committed_txn_by_hash(second.hash) is None
    assert chain.node.pending_txn_by_hash(second.hash) is second
    first = (await chain.commit(chain.signed(key, TRANSFER, to, seq=0)))[0]
    assert first["success"]
    for _ in range(3):
        if chain.node.committed_txn_by_hash(second.hash):
            break
        await chain.node.produce_block()
    committed = json.loads(chain.node.committed_txn_by_hash(second.hash))
    assert int(committed["version"]) > int(first["version"])
    assert chain.node.committed_seq(alice) == 2


async def test_resubmission_is_idempotent_and_updates_are_checked(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    data = chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(1)], seq=1)
    first = chain.node.submit(data)
    assert chain.node.submit(data) is first
    other_payload = chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(2)], seq=1)
    with pytest.raises(ApiError) as err:
        chain.node.submit(other_payload)
    assert (err.value.status, err.value.error_code) == (400, "invalid_transaction_update")
    assert err.value.message == "Transaction already in mempool with a different payload"
    expiration = decode_signed_transaction(data).expiration
    pricier = chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(1)], seq=1, price=200, expiration=expiration)
    replacement = chain.node.submit(pricier)
    assert chain.node.pending_txn_by_hash(first.hash) is None
    assert chain.node.pending_txn_by_hash(replacement.hash) is replacement


# --------------------------------------------------------------------------- blocks & ledger


async def test_blocks_start_with_metadata_and_versions_are_contiguous(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    await chain.commit(*(chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(1)], seq=s) for s in range(5)))
    await chain.node.produce_block()  # an empty block: only its block_metadata_transaction
    last = chain.node.ledger.version
    txns = [json.loads(b) for b in chain.node.txns_range(0, last + 1)]
    assert [int(t["version"]) for t in txns] == list(range(last + 1))
    timestamps = [int(t["timestamp"]) for t in txns if t["type"] == "block_metadata_transaction"]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)
    assert txns[-1]["type"] == "block_metadata_transaction"
    for height in range(1, chain.node.ledger.block_height + 1):
        _, block_id, _, first, _ = chain.node.storage.block_by_height(height)
        first_txn = json.loads(chain.node.txn_by_version(first))
        assert first_txn["type"] == "block_metadata_transaction" and first_txn["id"] == block_id


async def test_restart_reloads_the_same_ledger(tmp_path: Path) -> None:
    node = Node(tmp_path, chain_id=LOCALNET_CHAIN_ID)
    accounts = create_genesis(node, tmp_path)
    chain = Chain(node, tmp_path, accounts)
    key, alice = await chain.new_account(2 * APT)
    txn = await chain.run(key, TRANSFER, [core.addr_bytes(accounts["treasury"]), u64(7)])
    state, ledger = dict(node.state), node.ledger
    await node.close()

    again = Node(tmp_path, chain_id=LOCALNET_CHAIN_ID)
    try:
        assert again.load()
        assert again.ledger == ledger
        assert again.state == state
        assert json.loads(again.committed_txn_by_hash(txn["hash"]))["version"] == txn["version"]
        chain2 = Chain(again, tmp_path, accounts)
        txn2 = await chain2.run(key, TRANSFER, [core.addr_bytes(alice), u64(1)])
        assert txn2["success"] and int(txn2["version"]) == ledger.version + 2  # after the new block's metadata
    finally:
        await again.close()


async def test_reads_at_an_older_version_see_the_state_then(chain: Chain) -> None:
    _, alice = await chain.new_account(APT)
    before = chain.node.ledger.version
    await chain.fund(alice, APT)
    coin_key = core.resource_key(alice, framework.COIN_STORE_APT_T)
    assert int(chain.node.state_at(before).get(coin_key)["coin"]["value"]) == APT
    assert int(chain.node.state_at(None).get(coin_key)["coin"]["value"]) == 2 * APT
    _, values = chain.node.view("0x1::coin::balance", ["0x1::aptos_coin::AptosCoin"], [alice], None, before)
    assert values == [APT]
    assert dict(chain.node.account_resources(alice, 0)) == {}


async def test_handle_events_are_indexed_by_guid(chain: Chain) -> None:
    _, alice = await chain.new_account(APT)
    await chain.fund(alice, 5)
    events = [json.loads(b) for b in chain.node.storage.events(alice, 2, 0, 10)]  # deposit_events
    assert [e["data"]["amount"] for e in events] == [str(APT), "5"]
    assert [e["sequence_number"] for e in events] == ["0", "1"]


async def test_test_clock_advances_chain_time_in_a_new_block(chain: Chain) -> None:
    chain.node.start()
    before = chain.node.ledger.timestamp_us
    stamped = await chain.node.advance_clock(3_600_000_000)
    assert stamped >= before + 3_600_000_000
    assert chain.node.ledger.timestamp_us == stamped
    _, values = chain.node.view("0x1::timestamp::now_seconds", [], [], None)
    assert values[0] == stamped // 1_000_000


# --------------------------------------------------------------------------- simulation & views


async def test_simulation_runs_without_committing(chain: Chain) -> None:
    key, alice = await chain.new_account(APT)
    data = bytearray(chain.signed(key, TRANSFER, [core.addr_bytes(chain.accounts["treasury"]), u64(10)]))
    with pytest.raises(ApiError) as err:
        chain.node.simulate(decode_signed_transaction(bytes(data)))
    assert err.value.message == "Simulated transactions must not have a valid signature"
    data[-64:] = bytes(64)
    version, balance = chain.node.ledger.version, chain.apt(alice)
    out = chain.node.simulate(decode_signed_transaction(bytes(data)))
    assert out["success"] is True and int(out["gas_used"]) > 0 and "type" not in out
    assert chain.node.ledger.version == version and chain.apt(alice) == balance
    assert chain.node.committed_seq(alice) == 0
    stale = bytearray(chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(1)], seq=5))
    stale[-64:] = bytes(64)
    out = chain.node.simulate(decode_signed_transaction(bytes(stale)))
    assert out["success"] is False
    assert out["vm_status"] == "Transaction Executed and Committed with Error SEQUENCE_NUMBER_TOO_NEW"


async def test_views_and_their_errors(chain: Chain) -> None:
    _, alice = await chain.new_account(APT)
    fn, values = chain.node.view("0x1::coin::balance", ["0x1::aptos_coin::AptosCoin"], [alice], None)
    assert values == [APT] and fn.returns == ("u64",)
    _, values = chain.node.view("0x1::coin::balance", ["0x1::aptos_coin::AptosCoin"], None, [core.addr_bytes(alice)])
    assert values == [APT]
    with pytest.raises(ApiError) as err:
        chain.node.view("0x1::nope::nope", [], [], None)
    assert (err.value.status, err.value.error_code) == (400, "invalid_input")
    with pytest.raises(ApiError) as err:
        chain.node.view("0x1::coin::balance", [], [alice], None)
    assert err.value.vm_error_code == STATUS_CODES["NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"]
    with pytest.raises(ApiError) as err:
        chain.node.view("0x1::account::get_sequence_number", [], ["0xdead"], None)
    assert err.value.message.startswith("Move abort in 0x1::account: EACCOUNT_DOES_NOT_EXIST(0x60002)")
    assert err.value.vm_error_code == STATUS_CODES["ABORTED"]


# --------------------------------------------------------------------------- framework: fungible assets


def _ctx(chain: Chain, sender: str = core.FRAMEWORK) -> TxContext:
    return TxContext(sender=core.norm_addr(sender), timestamp_us=1, state=Overlay(chain.node.state))


async def test_fungible_asset_api(chain: Chain) -> None:
    creator = chain.accounts["treasury"]
    ctx = _ctx(chain)
    meta = framework.create_fungible_asset(ctx, creator, b"TEST", "Test", "TST", 6, "", "https://x")
    assert meta == core.object_address_from_seed(creator, b"TEST")
    with pytest.raises(core.MoveAbort) as err:
        framework.create_fungible_asset(ctx, creator, b"TEST", "Test", "TST", 6, "", "")
    assert err.value.code == 0x80001
    store_a = framework.primary_store(ctx, creator, meta)
    assert store_a == core.primary_store_address(creator, meta)
    assert framework.primary_store(ctx, creator, meta) == store_a  # idempotent
    framework.fa_mint(ctx, meta, store_a, 1000)
    assert framework.fa_supply(ctx.state, meta) == 1000 and framework.fa_balance(ctx.state, store_a) == 1000
    escrow = core.object_address_from_seed(creator, b"escrow")
    framework.create_store(ctx, escrow, creator, meta)
    framework.fa_transfer(ctx, store_a, escrow, 400)
    assert framework.fa_balance(ctx.state, escrow) == 400 and framework.fa_balance(ctx.state, store_a) == 600
    with pytest.raises(core.MoveAbort) as err:
        framework.fa_withdraw(ctx, escrow, 401)
    assert err.value.vm_status == (
        "Move abort in 0x1::fungible_asset: EINSUFFICIENT_BALANCE(0x10004): Insufficient balance to withdraw or transfer."
    )
    assert framework.fa_balance(ctx.state, "0x1234") == 0
    with pytest.raises(core.MoveAbort):
        framework.fa_withdraw(ctx, "0x1234", 1)
    assert [ev.type_tag for ev, _ in ctx.events] == [
        "0x1::fungible_asset::Deposit",
        "0x1::fungible_asset::Withdraw",
        "0x1::fungible_asset::Deposit",
    ]
    assert ctx.events[1][1] == {"store": store_a, "amount": 400}
    framework.ensure_account(ctx, "0xbeef")
    assert framework.account_exists(ctx.state, "0xbeef")
    framework.ensure_account(ctx, "0xbeef")
    metadata_json = render_resource(
        framework.METADATA_T, ctx.state.get(core.resource_key(meta, framework.METADATA_T))
    )
    assert metadata_json["data"]["decimals"] == 6  # u8 renders as a number, as on Aptos


async def test_primary_fungible_store_transfer_entry(chain: Chain) -> None:
    creator_key, creator = await chain.new_account(APT)
    ctx = _ctx(chain)
    meta = framework.create_fungible_asset(ctx, creator, b"COIN", "Coin", "C", 8, "", "")
    framework.fa_mint(ctx, meta, framework.primary_store(ctx, creator, meta), 500)
    ctx.state.commit_into()
    chain.node._rebuild_resource_index()
    bob = key_address(nacl.signing.SigningKey.generate())
    args = [core.addr_bytes(meta), core.addr_bytes(bob), u64(120)]
    txn = await chain.run(creator_key, "0x1::primary_fungible_store::transfer", args, [framework.METADATA_T])
    assert txn["success"], txn["vm_status"]
    _, values = chain.node.view("0x1::primary_fungible_store::balance", [framework.METADATA_T], [bob, meta], None)
    assert values == [120]
    _, values = chain.node.view("0x1::fungible_asset::supply", [framework.METADATA_T], [meta], None)
    assert values == [500]
    assert [e["type"] for e in txn["events"][:2]] == ["0x1::fungible_asset::Withdraw", "0x1::fungible_asset::Deposit"]
    assert txn["payload"]["arguments"][0] == {"inner": meta}
    too_much = await chain.run(
        creator_key,
        "0x1::primary_fungible_store::transfer",
        [core.addr_bytes(meta), core.addr_bytes(bob), u64(10_000)],
        [framework.METADATA_T],
    )
    assert too_much["success"] is False and "EINSUFFICIENT_BALANCE(0x10004)" in too_much["vm_status"]
    missing = await chain.run(
        creator_key,
        "0x1::primary_fungible_store::transfer",
        [core.addr_bytes("0x4242"), core.addr_bytes(bob), u64(1)],
        [framework.METADATA_T],
    )
    assert "EOBJECT_DOES_NOT_EXIST(0x60002)" in missing["vm_status"]


# --------------------------------------------------------------------------- background producer


async def test_background_producer_pipelines_blocks(chain: Chain) -> None:
    senders = [await chain.new_account(APT) for _ in range(4)]
    chain.node.start()
    signed = [
        chain.signed(key, TRANSFER, [core.addr_bytes(chain.accounts["treasury"]), u64(1)], seq=s)
        for key, _ in senders
        for s in range(30)
    ]
    txns = [chain.node.submit(data) for data in signed]
    bodies = [await chain.node.wait_committed(t.hash, 30) for t in txns]
    assert all(b is not None and json.loads(b)["success"] for b in bodies)
    for _, address in senders:
        assert chain.node.committed_seq(address) == 30
    last = chain.node.ledger.version
    versions = [int(json.loads(b)["version"]) for b in chain.node.txns_range(0, last + 1)]
    assert versions == list(range(last + 1))
    assert chain.node.ledger.block_height > 1 and not chain.node.in_flight


async def test_a_failed_commit_stops_the_chain_without_publishing(chain: Chain, monkeypatch) -> None:
    key, alice = await chain.new_account(APT)
    version = chain.node.ledger.version

    def broken_disk(record: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(chain.node.storage, "commit_block", broken_disk)
    chain.node.start()
    txn = chain.node.submit(chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(1)]))
    assert await chain.node.wait_committed(txn.hash, 30) is None
    assert chain.node.ledger.version == version and chain.node.committed_seq(alice) == 0
    assert chain.node.committed_txn_by_hash(txn.hash) is None
    with pytest.raises(ApiError) as err:
        chain.node.submit(chain.signed(key, TRANSFER, [core.addr_bytes(alice), u64(2)]))
    assert err.value.status == 503
