"""``kill -9`` durability of the localnet: no transaction reported committed is ever lost.

A stream of transactions (APT transfers and PICTOR faucet calls, pipelined from several senders) runs
against a localnet process; each transaction is *acknowledged* once ``by_hash`` shows it as a committed
``user_transaction``. The process is killed with SIGKILL at random moments, several times, and restarted
on the same data dir. After every restart:

* every acknowledged transaction is there, at the same version, byte-for-byte the same JSON;
* versions are contiguous from 0 and every hash appears once;
* balances (APT and PICTOR) and sequence numbers equal a replay of the transactions the ledger holds;
* the chain keeps accepting transactions.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from aptos_sdk.account import Account

from chain.localnet import LocalnetProcess, start_localnet_process
from chain.localnet.vm import pictor as pictor_vm

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

PICTOR = pictor_vm.PICTOR
APT_TRANSFER = "0x1::aptos_account::transfer"
PICTOR_FAUCET_SUFFIX = "::token::faucet"
KILLS = 4
SENDERS = 3
PIPELINE = 4  # transactions in flight per sender
SEED = 20260522


def norm(address: str) -> str:
    text = address.lower()
    text = text[2:] if text.startswith("0x") else text
    return "0x" + text.rjust(64, "0")


class Stream:
    """Pipelined submissions from several senders; records every acknowledged (committed) transaction."""

    def __init__(self, http: Any, tx: ModuleType, senders: list[Account], recipients: list[str],
                 rng: random.Random) -> None:
        self.http = http
        self.tx = tx
        self.senders = senders
        self.recipients = recipients
        self.rng = rng
        self.acked: dict[str, dict[str, Any]] = {}

    def run(self, deadline: float, dead: threading.Event, on_first_ack: Any) -> int:
        """Submit and poll until the node goes away (or the deadline); returns how many were acknowledged.

        ``on_first_ack()`` is called once, when this round's first transaction is acknowledged (it arms the
        kill, so that every round has acknowledged transactions to lose, however slow the machine).
        """
        http = self.http
        next_seq = {self.key(s): http.seq(s.address()) for s in self.senders}
        outstanding: dict[str, str] = {}  # hash -> sender
        before = len(self.acked)
        try:
            while time.monotonic() < deadline and not dead.is_set():
                for sender in self.senders:
                    key = self.key(sender)
                    while sum(1 for s in outstanding.values() if s == key) < PIPELINE:
                        signed = self.build(sender, next_seq[key])
                        response = http.submit(signed)
                        if response.status_code != 202:
                            raise AssertionError(f"submit refused: {response.status_code} {response.text[:300]}")
                        outstanding[response.json()["hash"]] = key
                        next_seq[key] += 1
                for txn_hash in list(outstanding):
                    response = http.get(f"transactions/by_hash/{txn_hash}")
                    if response.status_code == 200 and response.json()["type"] == "user_transaction":
                        self.acked[txn_hash] = response.json()
                        del outstanding[txn_hash]
                        if len(self.acked) == before + 1:
                            on_first_ack()
                time.sleep(0.005)
        except (httpx.TransportError, httpx.HTTPStatusError):
            if not dead.is_set():
                raise
        return len(self.acked) - before

    @staticmethod
    def key(account: Account) -> str:
        return norm(str(account.address()))

    def build(self, sender: Account, seq: int) -> bytes:
        tx = self.tx
        if self.rng.random() < 0.6:
            to = self.rng.choice(self.recipients)
            amount = self.rng.randint(1, 10_000)
            payload = tx.entry_payload(APT_TRANSFER, [tx.bcs_address(to), tx.bcs_u64(amount)])
        else:
            amount = self.rng.choice([1, 10**8, 10**12])  # 10**12 is above faucet_max: an abort, still committed
            payload = tx.entry_payload(f"{PICTOR}::token::faucet", [tx.bcs_u64(amount)])
        raw = tx.raw_txn(sender, seq, payload, chain_id=self.http.chain_id)
        return tx.sign(sender, raw)


def all_transactions(http: Any) -> list[dict[str, Any]]:
    ledger = http.ledger_version()
    out: list[dict[str, Any]] = []
    while len(out) <= ledger:
        response = http.get("transactions", start=len(out), limit=100)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page, f"no transactions from version {len(out)} although the ledger is at {ledger}"
        out.extend(page)
    return out[: ledger + 1]


def replay(txns: list[dict[str, Any]], accounts: set[str]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """APT balance, PICTOR wallet balance and sequence number of ``accounts`` from the ledger's transactions."""
    apt = dict.fromkeys(accounts, 0)
    pictor = dict.fromkeys(accounts, 0)
    seqs = dict.fromkeys(accounts, 0)
    for txn in txns:
        if txn["type"] != "user_transaction":
            continue
        sender = norm(txn["sender"])
        function = txn["payload"]["function"]
        args = txn["payload"]["arguments"]
        if sender in accounts:
            assert int(txn["sequence_number"]) == seqs[sender], f"sequence gap for {sender} at {txn['version']}"
            seqs[sender] += 1
            apt[sender] -= int(txn["gas_used"]) * int(txn["gas_unit_price"])
        if not txn["success"]:
            continue
        if function == APT_TRANSFER:
            to, amount = norm(args[0]), int(args[1])
            if sender in accounts:
                apt[sender] -= amount
            if to in accounts:
                apt[to] += amount
        elif function.endswith(PICTOR_FAUCET_SUFFIX) and sender in accounts:
            pictor[sender] += int(args[0])
    return apt, pictor, seqs


def verify(http: Any, stream: Stream, accounts: set[str]) -> int:
    """Everything the module docstring promises, against the restarted node; returns the ledger length."""
    for txn_hash, txn in stream.acked.items():
        response = http.get(f"transactions/by_hash/{txn_hash}")
        assert response.status_code == 200, f"acknowledged transaction {txn_hash} (v{txn['version']}) was lost"
        assert response.json() == txn, f"acknowledged transaction {txn_hash} changed after the restart"
        by_version = http.get(f"transactions/by_version/{txn['version']}").json()
        assert by_version["hash"] == txn_hash
    txns = all_transactions(http)
    assert [int(t["version"]) for t in txns] == list(range(len(txns))), "versions are not contiguous from 0"
    hashes = [t["hash"] for t in txns]
    assert len(set(hashes)) == len(hashes), "a hash appears twice"
    assert txns[0]["type"] == "genesis_transaction"
    apt, pictor, seqs = replay(txns, accounts)
    for address in sorted(accounts):
        assert http.apt_balance(address) == apt[address], f"APT of {address} differs from the replay"
        wallet = int(http.view(f"{PICTOR}::token::balance", [address])[0])
        assert wallet == pictor[address], f"PICTOR of {address} differs from the replay"
        assert http.seq(address) == seqs[address], f"sequence number of {address} differs from the replay"
    return len(txns)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "chain"


@pytest.fixture
def processes() -> Iterator[list[LocalnetProcess]]:
    started: list[LocalnetProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.alive():
                proc.kill(signal.SIGKILL)


def test_kill_9_loses_no_acknowledged_transaction(data_dir: Path, processes: list[LocalnetProcess],
                                                  tx: ModuleType) -> None:
    LocalnetHttp = tx.LocalnetHttp  # noqa: N806 - the conftest's helper class (behind the `http` fixture)
    rng = random.Random(SEED)
    proc = start_localnet_process(data_dir)
    processes.append(proc)
    http = LocalnetHttp(proc.node_url, proc.faucet_url)
    senders = [http.new_account(100 * tx.OCTAS) for _ in range(SENDERS)]
    recipients = [norm(str(Account.generate().address())) for _ in range(2)]
    accounts = {norm(str(s.address())) for s in senders} | set(recipients)
    stream = Stream(http, tx, senders, recipients, rng)
    ledger_lengths = []

    for kill in range(KILLS):
        dead = threading.Event()
        delay = rng.uniform(0.3, 1.5)

        def crash(victim: LocalnetProcess = proc, flag: threading.Event = dead) -> None:
            flag.set()
            victim.kill(signal.SIGKILL)

        timer = threading.Timer(delay, crash)
        try:
            acked = stream.run(deadline=time.monotonic() + 180, dead=dead, on_first_ack=timer.start)
        finally:
            if timer.is_alive():
                timer.join(timeout=60)
        assert not proc.alive(), "the localnet survived SIGKILL"
        assert proc.proc.returncode == -signal.SIGKILL
        assert acked > 0, f"round {kill}: nothing was acknowledged before the kill after {delay:.2f}s"
        http.close()

        proc = start_localnet_process(data_dir)
        processes.append(proc)
        http = LocalnetHttp(proc.node_url, proc.faucet_url)
        stream.http = http
        ledger_lengths.append(verify(http, stream, accounts))
        # the chain keeps accepting transactions after the crash
        txn = http.run(senders[0], APT_TRANSFER, [tx.bcs_address(recipients[0]), tx.bcs_u64(7)])
        assert txn["success"], txn["vm_status"]
        stream.acked[txn["hash"]] = txn

    assert len(stream.acked) > KILLS * 5
    assert ledger_lengths == sorted(ledger_lengths)
    verify(http, stream, accounts)

    # a graceful stop after the crashes keeps everything too
    proc.stop()
    assert proc.proc.returncode == 0, proc.log_tail()
    http.close()
    proc = start_localnet_process(data_dir)
    processes.append(proc)
    http = LocalnetHttp(proc.node_url, proc.faucet_url)
    stream.http = http
    try:
        verify(http, stream, accounts)
    finally:
        http.close()
        proc.stop()


def test_a_restart_without_traffic_keeps_the_chain(data_dir: Path, processes: list[LocalnetProcess],
                                                   tx: ModuleType) -> None:
    """kill -9 of an idle node (only empty blocks being written) loses nothing either."""
    LocalnetHttp = tx.LocalnetHttp  # noqa: N806
    proc = start_localnet_process(data_dir)
    processes.append(proc)
    http = LocalnetHttp(proc.node_url, proc.faucet_url)
    user = http.new_account(3 * tx.OCTAS)
    txn = http.run(user, f"{PICTOR}::token::faucet", [tx.bcs_u64(5)])
    assert txn["success"]
    time.sleep(1.5)  # let at least one idle block be written
    ledger = http.ledger_version()
    http.close()
    proc.kill(signal.SIGKILL)
    proc = start_localnet_process(data_dir)
    processes.append(proc)
    http = LocalnetHttp(proc.node_url, proc.faucet_url)
    try:
        assert http.ledger_version() >= ledger
        assert http.get(f"transactions/by_hash/{txn['hash']}").json() == txn
        assert int(http.view(f"{PICTOR}::token::balance", [str(user.address())])[0]) == 5
        accounts = http.get("").json()
        assert int(accounts["chain_id"]) == http.chain_id
        # genesis is not redone: the same keys and accounts
        assert (data_dir / "keys" / "accounts.json").exists()
        assert http.seq(user.address()) == 1
    finally:
        http.close()
        proc.stop()
