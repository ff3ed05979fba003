"""The indexer against a real localnet: a random history of real transactions touching every entry function.

One history per module (built by :class:`bench.history.History`); then:

* a clean run indexes it, and every mirror table equals the chain's state (reconciliation, at the
  indexed version) and every indexed event is one the chain emitted;
* ``kill -9`` of the ``pictor indexer`` process at random moments during ingest, at least five times,
  then a restart to the end: the mirror is identical to the clean run's;
* two indexers on one database: one is active, the other waits as a standby and takes over;
* the node goes down in the middle of ingest: the indexer waits, then catches up (same mirror).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from bench.history import ENTRY_FUNCTIONS, History
from chain.client import PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.keys import load_localnet_keys
from indexer.processor import TX_FA_DEPOSIT, TX_FA_WITHDRAW, decode_batch
from indexer.runner import Indexer, IndexerConfig
from indexer.writer import EVENT_TABLES
from pictor.db import create_database_like, get_engine, libpq_url
from tests.support import REPO_ROOT
from tests.support.mirror import snapshot

pytestmark = pytest.mark.slow

TRANSACTIONS = 5000  # user transactions in the history (the issue asks for at least 5,000)


@dataclass
class ChainHistory:
    """The module's localnet (replaced when a test restarts it) and what the history holds."""

    localnet: object
    data_dir: Path
    end_version: int
    calls: dict[str, int]
    failures: dict[str, int]
    submitted: int


def _chain(localnet: object) -> PictorChain:
    return PictorChain(localnet.node_url, LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,  # type: ignore[attr-defined]
                       faucet_url=localnet.faucet_url, wait_timeout=120)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHistory]:
    from chain.localnet import start_localnet_process

    data_dir = tmp_path_factory.mktemp("localnet")
    localnet = start_localnet_process(data_dir, test_clock=True)

    async def generate() -> ChainHistory:
        chain = _chain(localnet)
        gen = History(chain, load_localnet_keys(data_dir), seed=20261122)
        try:
            await gen.generate(TRANSACTIONS)
            end = (await chain.ledger_info()).ledger_version
        finally:
            await gen.close()
            await chain.close()
        return ChainHistory(localnet, data_dir, end, dict(gen.calls), dict(gen.failures), gen.submitted)

    state: ChainHistory | None = None
    try:
        state = asyncio.run(generate())
        yield state
    finally:
        (state.localnet if state else localnet).stop()  # type: ignore[attr-defined]


def _index(url: str, localnet: object, end: int, **config: object) -> None:
    async def go() -> None:
        chain = _chain(localnet)
        try:
            await Indexer(chain, IndexerConfig(database_url=url, stop_at_version=end, **config)).run()  # type: ignore[arg-type]
        finally:
            await chain.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def clean_db(pg_server: str, history: ChainHistory) -> str:
    """The history indexed once, in process, without interruption."""
    url = create_database_like(pg_server)
    _index(url, history.localnet, history.end_version)
    return url


def _checkpoint(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT last_success_version FROM processor_status WHERE processor = 'pictor'").fetchone()
    return -1 if row is None else int(row[0])


def test_history_touches_every_entry_function(history: ChainHistory) -> None:
    assert history.submitted >= TRANSACTIONS
    assert [f for f in ENTRY_FUNCTIONS if not history.calls.get(f)] == []
    assert sum(history.failures.values()) > 0  # aborted transactions are part of the history too


def test_clean_run_mirrors_the_chain(history: ChainHistory, clean_db: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    engine = get_engine(clean_db)
    with TestClient(create_app(engine, _chain(history.localnet))) as client:
        report = client.get("/audit/reconcile").json()  # every mirrored state against the chain's views
        status = client.get("/audit/status").json()
    assert (report["version"], report["mismatches"], report["ok"]) == (history.end_version, [], True)
    assert report["checked"] > 500
    assert status["indexed_version"] == history.end_version and status["lag"] >= 0

    async def check() -> None:
        chain = _chain(history.localnet)
        try:
            # every indexed event is one the chain emitted, none missing: count them from the pages
            expected, fa_seen, start = 0, 0, 0
            while start <= history.end_version:
                page = await chain.transactions(start, min(100, history.end_version - start + 1))
                expected += decode_batch(page, LOCALNET_PACKAGE_ADDRESS).event_count
                fa_seen += sum(
                    1 for t in page if t.success for e in t.raw.get("events", ())
                    if e["type"] in (TX_FA_DEPOSIT, TX_FA_WITHDRAW)
                )
                start += len(page)
        finally:
            await chain.close()
        with psycopg.connect(libpq_url(clean_db)) as conn:
            def count(query: str) -> int:
                return conn.execute(query).fetchone()[0]

            empty = [t for t in EVENT_TABLES if not count(f"SELECT count(*) FROM {t}")]
            keys = count("SELECT count(*) FROM (" + " UNION ".join(
                f"SELECT txn_version, event_index FROM {t}" for t in EVENT_TABLES) + ") k")
            # one row per event; the ledgers add rows for events that have their own table
            rows = sum(count(f"SELECT count(*) FROM {t}") for t in EVENT_TABLES if not t.endswith("_ledger"))
            rows += count("SELECT count(*) FROM escrow_ledger WHERE kind <> 'charge'")  # job open/top-up/close
        assert empty == []  # every event table has rows: every event type was emitted and indexed
        assert keys == rows == expected  # every event indexed, none twice
        assert fa_seen > 0

    asyncio.run(check())


def test_kill_minus_nine_during_ingest_leaves_the_same_mirror(
    pg_server: str, history: ChainHistory, clean_db: str
) -> None:
    url = create_database_like(pg_server)
    rng = random.Random(7)
    end = history.end_version
    targets = sorted(rng.uniform(0.05, 0.85) * end for _ in range(6))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable, "-m", "cli.main", "indexer", "--database-url", url,
        "--node-url", history.localnet.node_url, "--stop-at", str(end), "--no-migrate",  # type: ignore[attr-defined]
        "--page-size", "50", "--fetch-concurrency", "2", "--max-batch", "50", "--log-level", "WARNING",
    ]
    kills: list[int] = []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for target in targets:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120
            while _checkpoint(conn) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.03))  # land anywhere: mid-fetch, mid-write, mid-commit
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL, err.decode(errors="replace")[-3000:]
            kills.append(_checkpoint(conn))
        assert len(kills) >= 5 and all(0 <= k < end for k in kills), kills  # every kill interrupted the ingest
        finished = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, timeout=300)
        assert finished.returncode == 0, finished.stderr.decode(errors="replace")[-3000:]
        assert _checkpoint(conn) == end
    assert snapshot(url) == snapshot(clean_db)


def test_a_standby_takes_over_when_the_active_indexer_dies(
    pg_server: str, history: ChainHistory, clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = create_database_like(pg_server)
    end = history.end_version
    caplog.set_level(logging.INFO, logger="pictor.indexer")

    async def go() -> None:
        first_chain, second_chain = _chain(history.localnet), _chain(history.localnet)
        cfg = {"database_url": url, "stop_at_version": end, "page_size": 25, "fetch_concurrency": 1,
               "max_batch_txns": 25, "lock_retry": 0.1}
        first = Indexer(first_chain, IndexerConfig(**cfg))  # type: ignore[arg-type]
        second = Indexer(second_chain, IndexerConfig(**cfg))  # type: ignore[arg-type]
        try:
            first_task = asyncio.create_task(first.run())
            while not first.active:
                await asyncio.sleep(0.01)
            second_task = asyncio.create_task(second.run())
            while (first.indexed_version or 0) < end // 3:
                await asyncio.sleep(0.01)
            assert not second.active  # a standby while the first holds the lock
            first_task.cancel()  # the active indexer dies: its connection, and so its lock, go away
            await asyncio.gather(first_task, return_exceptions=True)
            await asyncio.wait_for(second_task, timeout=300)
            assert second.indexed_version == end
        finally:
            await first_chain.close()
            await second_chain.close()

    asyncio.run(go())
    assert "standby: another indexer holds the lock" in caplog.text
    assert snapshot(url) == snapshot(clean_db)


def test_node_outage_mid_ingest_waits_and_catches_up(
    pg_server: str, history: ChainHistory, clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    from chain.localnet import start_localnet_process

    url = create_database_like(pg_server)
    end = history.end_version
    caplog.set_level(logging.INFO, logger="pictor.indexer")
    node_url = history.localnet.node_url  # type: ignore[attr-defined]
    port = int(node_url.rsplit(":", 1)[1].split("/")[0])
    faucet_port = int(history.localnet.faucet_url.rsplit(":", 1)[1].split("/")[0])  # type: ignore[attr-defined]

    async def go() -> None:
        chain = _chain(history.localnet)
        indexer = Indexer(chain, IndexerConfig(
            database_url=url, stop_at_version=end, page_size=25, fetch_concurrency=1, max_batch_txns=25,
            backoff_initial=0.2, backoff_max=1.0,
        ))
        try:
            task = asyncio.create_task(indexer.run())
            while (indexer.indexed_version or 0) < end // 3:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(history.localnet.stop)  # type: ignore[attr-defined]
            stalled_at = indexer.indexed_version
            await asyncio.sleep(3)
            assert not task.done() and indexer.indexed_version < end  # waiting, not failing
            history.localnet = await asyncio.to_thread(
                start_localnet_process, history.data_dir, port=port, faucet_port=faucet_port, test_clock=True
            )
            await asyncio.wait_for(task, timeout=300)
            assert stalled_at is not None and indexer.indexed_version == end
        finally:
            await chain.close()

    asyncio.run(go())
    assert "unreachable or failing" in caplog.text
    assert "reachable again" in caplog.text
    assert snapshot(url) == snapshot(clean_db)


def test_audit_reconcile_catches_a_tampered_mirror(history: ChainHistory, clean_db: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    engine = get_engine(clean_db)
    with TestClient(create_app(engine, _chain(history.localnet))) as client:
        with psycopg.connect(libpq_url(clean_db), autocommit=True) as conn:
            address = conn.execute("SELECT address FROM vault_accounts ORDER BY address LIMIT 1").fetchone()[0]
            try:
                conn.execute("UPDATE vault_accounts SET balance = balance + 1 WHERE address = %s", (address,))
                conn.execute("UPDATE jobs SET spent = spent + 7 WHERE job_id = 1")
                tampered = client.get("/audit/reconcile").json()
            finally:
                conn.execute("UPDATE vault_accounts SET balance = balance - 1 WHERE address = %s", (address,))
                conn.execute("UPDATE jobs SET spent = spent - 7 WHERE job_id = 1")
        checks = {(m["check"], m["key"]) for m in tampered["mismatches"]}
        assert not tampered["ok"]
        assert {("vault_account", address), ("vault_ledger_sum", address), ("vault_totals", "totals"),
                ("vault_store", next(m["key"] for m in tampered["mismatches"] if m["check"] == "vault_store")),
                ("job", "1")} <= checks
    engine.dispose()
