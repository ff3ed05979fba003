"""The indexer's benchmark.

``pictor bench indexer`` (:func:`run_bench`) builds a :class:`bench.history.BulkHistory` on a fresh localnet, then measures
on the same history: decode + write from pre-fetched pages into PostgreSQL (``events_per_s``), raw
COPY of the same rows into the same tables (``copy_rows_per_s``), and the indexer reading the
running localnet end to end (``e2e_events_per_s``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.history import BulkHistory
from chain.client import LedgerInfo, PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.errors import ChainError
from chain.keys import (
    load_localnet_keys,
)
from chain.localnet import start_localnet_process
from indexer import schema
from indexer.processor import COLUMNS, TokenMovement, decode_batch
from indexer.runner import Indexer, IndexerConfig, tune_gc
from pictor.db import create_database, drop_database, libpq_url, start_embedded, stop_embedded, upgrade

# ---------------------------------------------------------------------- bulk history for the benchmark


# ---------------------------------------------------------------------- the benchmark


class PrefetchedChain:
    """Pre-fetched pages served as the client's :meth:`PictorChain.transaction_page` serves them (the node's JSON)."""
    def __init__(self, raw: list[dict[str, Any]], client: PictorChain) -> None:
        self.raw = raw  # raw[v] is version v
        self.client = client
        self.package_address = client.package_address
        self.node_url = "memory://prefetched-pages"

    async def ledger_info(self) -> LedgerInfo:
        """Where the pre-fetched history ends."""
        return LedgerInfo(LOCALNET_CHAIN_ID, 0, len(self.raw) - 1, 0, 0, 0, "prefetched")

    async def transaction_page(self, start: int, limit: int = 100) -> list[dict[str, Any]]:
        """A page, as :meth:`PictorChain.transaction_page` returns it after its HTTP request."""
        return self.raw[start : start + limit]


async def _fetch_all(chain: PictorChain, end: int) -> list[dict[str, Any]]:
    """Every transaction 0..end as the node's JSON, fetched in parallel pages."""
    starts = list(range(0, end + 1, 100))
    sem = asyncio.Semaphore(8)

    async def page(start: int) -> list[dict[str, Any]]:
        async with sem:
            return [t.raw for t in await chain.transactions(start, min(100, end - start + 1))]

    pages = await asyncio.gather(*(page(s) for s in starts))
    raw = [t for p in pages for t in p]
    if len(raw) != end + 1:
        raise ChainError(f"fetched {len(raw)} transactions, expected {end + 1}")
    return raw


async def _index_timed(chain: Any, url: str, end: int, **config: Any) -> float:
    """Seconds the indexer takes from an empty mirror to ``end``."""
    started = time.perf_counter()
    await Indexer(chain, IndexerConfig(database_url=url, stop_at_version=end, **config)).run()
    return time.perf_counter() - started


def _fresh_database(server_url: str, name: str) -> str:


    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    drop_database(url)
    create_database(url)
    upgrade(url)
    return url


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every mirror table's rows (all columns, in order)."""

    def plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(json.dumps(v) if isinstance(v, dict) else v for v in row)  # jsonb comes back as a dict

    with psycopg.connect(libpq_url(url)) as conn:
        return {
            name: [plain(r) for r in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))]
            for name in schema.metadata.tables
        }


def _copy_timed(url: str, rows: dict[str, list[tuple[Any, ...]]]) -> float:
    """Seconds to COPY ``rows`` into their (empty) tables in one transaction, as the writer's session is set."""

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit TO off")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for name, table_rows in rows.items():
                cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS[name]))
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(name), cols)) as copy:
                    for row in table_rows:
                        copy.write_row(row)
        return time.perf_counter() - started


async def _bench(events: int, root: Path) -> dict[str, Any]:

    marker = root / "bench-history.json"
    previous = json.loads(marker.read_text()) if marker.exists() else {}
    localnet = await asyncio.to_thread(start_localnet_process, root / "localnet")
    try:
        chain = PictorChain(
            localnet.node_url,
            LOCALNET_PACKAGE_ADDRESS,
            chain_id=LOCALNET_CHAIN_ID,
            faucet_url=localnet.faucet_url,
            wait_timeout=600,
        )
        try:
            history_s = 0.0
            if previous.get("pictor_events_requested", 0) < events:
                started = time.perf_counter()
                gen = BulkHistory(chain, load_localnet_keys(root / "localnet"), seed=1)
                try:
                    await gen.setup()
                    await gen.bulk(events)
                finally:
                    await gen.close()
                history_s = time.perf_counter() - started
                end = (await chain.ledger_info()).ledger_version
                marker.write_text(json.dumps({"pictor_events_requested": events, "end_version": end}))
            else:
                end = previous["end_version"]
            raw = await _fetch_all(chain, end)
            tune_gc()  # as `pictor indexer` runs; the pre-fetched pages are frozen with the rest
            batch = decode_batch(raw, LOCALNET_PACKAGE_ADDRESS)
            pictor_events = sum(1 for t in batch.txns for _, e in t.events if not isinstance(e, TokenMovement))
            indexed_events = batch.event_count

            server = start_embedded(root / "postgres", database="postgres")
            decode_url = _fresh_database(server, "bench_decode_write")
            decode_s = await _index_timed(PrefetchedChain(raw, chain), decode_url, end)
            rows = await asyncio.to_thread(_dump, decode_url)
            copy_url = _fresh_database(server, "bench_copy")
            copy_s = await asyncio.to_thread(_copy_timed, copy_url, rows)
            copy_rows = sum(len(r) for r in rows.values())
            e2e_url = _fresh_database(server, "bench_e2e")
            e2e_s = await _index_timed(chain, e2e_url, end)
        finally:
            await chain.close()
    finally:
        await asyncio.to_thread(localnet.stop)
    events_per_s = pictor_events / decode_s
    copy_rows_per_s = copy_rows / copy_s
    # The ratio compares events with rows, but one pictor event becomes several rows here (its
    # event row, PICTOR movement rows, vault-ledger rows, current-state rows): at exactly raw-COPY speed
    # the ratio would be 1 / rows_per_event, not 1. ``rows_ratio`` compares rows with rows.
    rows_per_event = copy_rows / pictor_events
    return {
        "pictor_events": pictor_events,
        "indexed_events": indexed_events,  # pictor events + PICTOR token movements
        "transactions": end + 1,
        "history_s": round(history_s, 1),
        "decode_write_s": round(decode_s, 2),
        "events_per_s": round(events_per_s),
        "indexed_events_per_s": round(indexed_events / decode_s),
        "copy_rows": copy_rows,
        "copy_s": round(copy_s, 2),
        "copy_rows_per_s": round(copy_rows_per_s),
        "ratio": round(events_per_s / copy_rows_per_s, 3),
        "rows_per_event": round(rows_per_event, 3),
        "ratio_ceiling": round(1 / rows_per_event, 3),  # the ratio if decode + write ran at raw-COPY speed
        "rows_per_s": round(copy_rows / decode_s),  # the same rows, written by decode + write
        "rows_ratio": round(copy_rows / decode_s / copy_rows_per_s, 3),
        "copy_rows_by_table": {name: len(table_rows) for name, table_rows in rows.items() if table_rows},
        "e2e_s": round(e2e_s, 2),
        "e2e_events_per_s": round(pictor_events / e2e_s),
    }


def run_bench(events: int = 200_000, data_dir: Path | None = None) -> dict[str, Any]:
    """``pictor bench indexer``: build (or reuse, in ``data_dir``) the history, measure, return the figures."""
    logging.basicConfig(level=logging.WARNING)
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_bench(events, data_dir.resolve()))
    root = Path(tempfile.mkdtemp(prefix="pictor-bench-indexer-"))
    try:
        return asyncio.run(_bench(events, root))
    finally:
        stop_embedded(root / "postgres")
        shutil.rmtree(root, ignore_errors=True)
