"""PictorChain against a scripted in-process node (httpx MockTransport): sequence numbers, waits, error mapping."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aptos_sdk.account import Account
from aptos_sdk.bcs import Deserializer
from aptos_sdk.transactions import SignedTransaction

from chain.client import PictorChain, transaction_hash
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.errors import (
    ChainError,
    EscrowInsufficientEscrow,
    EscrowJobNotFound,
    NodeRejected,
    Timeout,
    TransactionDiscarded,
    TransactionFailed,
)
from chain.events import Deposited, JobOpened, event_to_json
from tests.support import REPO_ROOT

PKG = LOCALNET_PACKAGE_ADDRESS
NODE = "http://node.test/v1"
FAUCET = "http://faucet.test"
ABORT_ESCROW = f"Move abort in {PKG}::escrow: E_INSUFFICIENT_ESCROW(0x6): The escrow cannot cover this task's quote."


def reject(name: str, code: int) -> httpx.Response:
    return httpx.Response(
        400,
        json={
            "message": f"Invalid transaction: Type: Validation Code: {name}",
            "error_code": "vm_error",
            "vm_error_code": code,
        },
    )


class FakeNode:
    """Just enough of the Node API: mempool keyed by (sender, seq), commits on demand or at once."""

    def __init__(self) -> None:
        self.ledger_timestamp_us = int(time.time() * 1e6)
        self.chain_id = 4
        self.committed_seq: dict[str, int] = {}
        self.account_reads = 0
        self.submitted: list[SignedTransaction] = []
        self.txns: dict[str, dict[str, Any]] = {}
        self.auto_commit = True
        self.polls: dict[str, int] = {}
        self.commit_after_polls = 0
        self.on_submit: Callable[[SignedTransaction], httpx.Response | None] | None = None
        self.outcome: Callable[[SignedTransaction], dict[str, Any]] = lambda signed: {"success": True}
        self.views: dict[str, httpx.Response] = {}
        self.faucet_calls: list[dict[str, str]] = []
        self.version = 10

    def commit(self, signed: SignedTransaction, txn_hash: str) -> None:
        sender = "0x" + signed.transaction.sender.address.hex()
        self.version += 1
        extra = self.outcome(signed)
        self.txns[txn_hash] = {
            "type": "user_transaction",
            "version": str(self.version),
            "hash": txn_hash,
            "sender": sender,
            "sequence_number": str(signed.transaction.sequence_number),
            "success": True,
            "vm_status": "Executed successfully",
            "gas_used": "7",
            "timestamp": str(self.ledger_timestamp_us),
            "events": [],
            **extra,
        }
        self.committed_seq[sender] = max(self.committed_seq.get(sender, 0), signed.transaction.sequence_number + 1)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        path = request.url.path
        if url.startswith(FAUCET):
            params = dict(request.url.params)
            self.faucet_calls.append(params)
            txn_hash = "0x" + f"{len(self.faucet_calls):064x}"
            self.version += 1
            self.txns[txn_hash] = {
                "type": "user_transaction", "version": str(self.version), "hash": txn_hash, "success": True,
                "vm_status": "Executed successfully", "gas_used": "3", "events": [],
            }  # fmt: skip
            return httpx.Response(200, json=[txn_hash])
        if path == "/v1":
            return httpx.Response(
                200,
                json={
                    "chain_id": self.chain_id, "epoch": "1", "ledger_version": str(self.version),
                    "oldest_ledger_version": "0", "ledger_timestamp": str(self.ledger_timestamp_us),
                    "node_role": "full_node", "oldest_block_height": "0", "block_height": "3",
                },
            )  # fmt: skip
        if path == "/v1/estimate_gas_price":
            return httpx.Response(200, json={"gas_estimate": 150})
        if path.startswith("/v1/accounts/"):
            address = path.split("/")[3]
            self.account_reads += 1
            if address not in self.committed_seq:
                return httpx.Response(404, json={"message": "Account not found", "error_code": "account_not_found"})
            return httpx.Response(200, json={"sequence_number": str(self.committed_seq[address])})
        if path == "/v1/transactions" and request.method == "POST":
            signed = SignedTransaction.deserialize(Deserializer(request.content))
            assert signed.verify(), "the client must sign correctly"
            self.submitted.append(signed)
            if self.on_submit is not None and (response := self.on_submit(signed)) is not None:
                return response
            txn_hash = transaction_hash(signed)
            if self.auto_commit:
                self.commit(signed, txn_hash)
            return httpx.Response(202, json={"hash": txn_hash})
        if path.startswith("/v1/transactions/by_hash/"):
            txn_hash = path.rsplit("/", 1)[1]
            self.polls[txn_hash] = self.polls.get(txn_hash, 0) + 1
            txn = self.txns.get(txn_hash)
            if txn is None or self.polls[txn_hash] <= self.commit_after_polls:
                return httpx.Response(404, json={"message": "not found", "error_code": "transaction_not_found"})
            return httpx.Response(200, json=txn)
        if path == "/v1/transactions" and request.method == "GET":
            start = int(request.url.params["start"])
            return httpx.Response(200, json=[t for t in self.txns.values() if int(t["version"]) >= start])
        if path == "/v1/transactions/simulate":
            signed = SignedTransaction.deserialize(Deserializer(request.content))
            assert not signed.verify(), "a simulation must not carry a valid signature"
            return httpx.Response(
                200, json=[{"version": "0", "hash": "0x00", "success": False, "vm_status": ABORT_ESCROW,
                            "gas_used": "5", "events": []}],
            )  # fmt: skip
        if path == "/v1/view":
            body = json.loads(request.content)
            return self.views[body["function"]]
        return httpx.Response(404, json={"message": f"no route {path}", "error_code": "web_framework_error"})


@pytest.fixture
async def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
async def chain(node: FakeNode) -> AsyncIterator[PictorChain]:
    client = PictorChain(NODE, PKG, faucet_url=FAUCET, wait_timeout=10.0)
    await client.rest.client.aclose()
    client.rest.client = httpx.AsyncClient(transport=httpx.MockTransport(node))
    try:
        yield client
    finally:
        await client.close()


def sender_of(account: Account) -> str:
    return "0x" + account.address().address.hex()


async def test_concurrent_submits_from_one_account_get_distinct_sequence_numbers(
    chain: PictorChain, node: FakeNode
) -> None:
    alice = Account.generate()
    node.committed_seq[sender_of(alice)] = 5
    results = await asyncio.gather(
        *(chain.submit_and_wait(alice, chain.payloads.vault_deposit(i + 1)) for i in range(25))
    )
    seqs = sorted(r.sequence_number for r in results)
    assert seqs == list(range(5, 30))
    assert node.account_reads == 1  # one read, then the local counter
    assert {s.transaction.gas_unit_price for s in node.submitted} == {150}  # the node's estimate
    assert {s.transaction.chain_id for s in node.submitted} == {4}


async def test_resync_on_sequence_number_too_old(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    me = sender_of(alice)
    node.committed_seq[me] = 0
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))  # counter is now 1
    node.committed_seq[me] = 4  # another client used the account

    def too_old(signed: SignedTransaction) -> httpx.Response | None:
        if signed.transaction.sequence_number < node.committed_seq[me]:
            return reject("SEQUENCE_NUMBER_TOO_OLD", 3)
        return None

    node.on_submit = too_old
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(2))
    assert result.sequence_number == 4
    assert [s.transaction.sequence_number for s in node.submitted] == [0, 1, 4]
    nxt = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(3))
    assert nxt.sequence_number == 5


async def test_resync_on_sequence_number_too_new(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    me = sender_of(alice)
    node.committed_seq[me] = 0
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    node.committed_seq[me] = 0  # e.g. the chain was reset: our counter (1) is ahead

    def too_new(signed: SignedTransaction) -> httpx.Response | None:
        if signed.transaction.sequence_number > node.committed_seq[me]:
            return reject("SEQUENCE_NUMBER_TOO_NEW", 4)
        return None

    node.on_submit = too_new
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(2))
    assert result.sequence_number == 0


async def test_our_own_earlier_attempt_counts_as_accepted(chain: PictorChain, node: FakeNode) -> None:
    """A connection drop after the node took the transaction: the retry sees TOO_OLD but finds our hash."""
    alice = Account.generate()
    node.committed_seq[sender_of(alice)] = 0
    calls = {"n": 0}

    def flaky(signed: SignedTransaction) -> httpx.Response | None:
        calls["n"] += 1
        if calls["n"] == 1:
            node.commit(signed, transaction_hash(signed))
            raise httpx.ReadError("connection reset")
        return None

    node.on_submit = flaky
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    assert result.sequence_number == 0 and result.success
    assert len(node.txns) == 1


async def test_rejection_does_not_consume_a_sequence_number(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    node.committed_seq[sender_of(alice)] = 0
    node.on_submit = lambda signed: reject("INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE", 5)
    with pytest.raises(NodeRejected) as info:
        await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    assert info.value.vm_status_name == "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"
    node.on_submit = None
    assert (await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))).sequence_number == 0


async def test_failed_transaction_raises_the_named_abort(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    node.committed_seq[sender_of(alice)] = 0
    node.outcome = lambda signed: {"success": False, "vm_status": ABORT_ESCROW, "gas_used": "9"}
    with pytest.raises(EscrowInsufficientEscrow) as info:
        await chain.submit_and_wait(alice, chain.payloads.escrow_assign_task(1, 1, 1, 5))
    err = info.value
    assert err.code == 6 and err.version == 11 and err.gas_used == 9 and err.txn_hash in node.txns
    assert isinstance(err, TransactionFailed) and isinstance(err, ChainError)
    result = await chain.submit_and_wait(alice, chain.payloads.escrow_assign_task(1, 1, 1, 5), check=False)
    assert not result.success and isinstance(result.error(), EscrowInsufficientEscrow)
    assert result.sequence_number == 1  # a failed transaction still used its sequence number


async def test_events_are_decoded(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    me = sender_of(alice)
    node.committed_seq[me] = 0
    fee = {"type": "0x1::transaction::FeeStatement", "data": {}}
    node.outcome = lambda signed: {"events": [event_to_json(Deposited(me, 5, 5), PKG), fee]}
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(5))
    assert result.events == (Deposited(me, 5, 5),)
    assert result.event(Deposited).balance == 5
    with pytest.raises(ChainError):
        result.event(JobOpened)
    page = await chain.transactions(0, 10)
    assert page[-1].events[0].index == 0 and page[-1].events[0].version == result.version
    assert page[-1].events[0].event == Deposited(me, 5, 5)


async def test_wait_polls_fast_and_times_out(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    node.committed_seq[sender_of(alice)] = 0
    node.commit_after_polls = 3
    started = time.monotonic()
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    assert time.monotonic() - started < 5.0  # three 404s at 20-45 ms, not three seconds
    node.auto_commit = False
    node.commit_after_polls = 0
    with pytest.raises(Timeout) as info:
        await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1), timeout=0.2)
    assert info.value.txn_hash is not None
    # The sender's counter was dropped: the next submit reads the sequence number again.
    reads = node.account_reads
    node.auto_commit = True
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    assert node.account_reads == reads + 1


async def test_expiration_counts_from_the_later_of_wall_and_ledger_clock(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    node.committed_seq[sender_of(alice)] = 0
    node.ledger_timestamp_us = int((time.time() + 7 * 86400) * 1e6)  # a test advanced the localnet clock
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    assert node.submitted[-1].transaction.expiration_timestamps_secs >= time.time() + 7 * 86400 + 500
    chain._clock_offset = None
    node.ledger_timestamp_us = 0  # a frozen or fresh test clock
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    expiry = node.submitted[-1].transaction.expiration_timestamps_secs
    assert time.time() + 500 <= expiry <= time.time() + 700


async def test_chain_id_mismatch(node: FakeNode) -> None:
    client = PictorChain(NODE, PKG, chain_id=1)
    client.rest.client = httpx.AsyncClient(transport=httpx.MockTransport(node))
    try:
        with pytest.raises(ChainError, match="chain id 4"):
            await client.chain_id()
    finally:
        await client.close()


async def test_view_abort_is_mapped(chain: PictorChain, node: FakeNode) -> None:
    node.views[f"{PKG}::escrow::job"] = httpx.Response(
        400,
        json={
            "message": f"Move abort in {PKG}::escrow: E_JOB_NOT_FOUND(0x2): No job has this id.",
            "error_code": "invalid_input",
        },
    )
    with pytest.raises(EscrowJobNotFound):
        await chain.views.job(99)
    node.views[f"{PKG}::vault::account"] = httpx.Response(200, json=["3", "4"])
    account = await chain.views.vault_account("0x1")
    assert (account.credit, account.balance) == (3, 4)


async def test_simulate_never_raises(chain: PictorChain, node: FakeNode) -> None:
    alice = Account.generate()
    result = await chain.simulate(alice, chain.payloads.escrow_assign_task(1, 1, 1, 5))
    assert not result.success and result.gas_used == 5
    with pytest.raises(EscrowInsufficientEscrow):
        result.raise_for_status()


async def test_fund_through_the_faucet(chain: PictorChain, node: FakeNode) -> None:
    results = await chain.fund("0x" + "ab" * 32, 10**8)
    assert len(results) == 1 and results[0].success
    assert node.faucet_calls == [{"amount": "100000000", "address": "0x" + "ab" * 32}]


async def test_no_faucet_configured(node: FakeNode) -> None:
    client = PictorChain(NODE, PKG)
    try:
        with pytest.raises(ChainError, match="faucet"):
            await client.fund("0x1", 1)
    finally:
        await client.close()


def test_from_settings() -> None:
    from pictor.settings import Settings  # lazy: only this test needs the kernel's settings

    settings = Settings(node_url="http://x:1/v1", faucet_url="", package_address="0x" + "12" * 32, chain_id=2)
    client = PictorChain.from_settings(settings)
    assert client.node_url == "http://x:1/v1" and client.faucet is None and client.expected_chain_id == 2
    assert client.payloads.package_address == "0x" + "12" * 32


async def test_a_dropped_transaction_is_reported_without_waiting_out_the_timeout(
    chain: PictorChain, node: FakeNode
) -> None:
    alice = Account.generate()
    me = sender_of(alice)
    node.committed_seq[me] = 0
    node.auto_commit = False
    pending = await chain.submit(alice, chain.payloads.vault_deposit(1))
    node.committed_seq[me] = 1  # another transaction with sequence number 0 committed instead
    started = time.monotonic()
    with pytest.raises(TransactionDiscarded) as info:
        await chain.wait_for_result(pending, timeout=60)
    assert info.value.txn_hash == pending.hash and time.monotonic() - started < 30
    reads = node.account_reads
    node.auto_commit = True
    assert (await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))).sequence_number == 1
    assert node.account_reads == reads + 1  # the counter was dropped and read again


def test_the_client_does_not_import_the_localnet() -> None:

    code = "import sys, chain, chain.client, cli.chain_demo; sys.exit(any(m.startswith('chain.localnet') for m in sys.modules))"
    repo = REPO_ROOT
    assert subprocess.run([sys.executable, "-c", code], cwd=repo, check=False).returncode == 0
