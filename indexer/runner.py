"""``pictor indexer``: follow the chain in version order and keep the mirror current, forever.

Pipeline (one asyncio loop):

* **fetch**: up to ``fetch_concurrency`` pages of ``page_size`` transactions in flight through
  :meth:`chain.client.PictorChain.transaction_page` (the node's JSON, decoded once, here), handed on
  in version order and decoded (:func:`indexer.processor.decode_batch`) as they arrive;
* **write**: the pages waiting in the queue (up to ``max_batch_txns`` transactions) are written by
  :class:`indexer.writer.Writer` in one database transaction, in a worker thread, while the next
  pages are fetched and the next batch is folded (:meth:`indexer.writer.Writer.prepare`).

Failure handling: the node unreachable or failing → exponential backoff with one log line per try,
resuming from the first page not yet fetched; the database unreachable → reconnect with backoff and
resume from the checkpoint. One active indexer per database and processor: a session-level
``pg_try_advisory_lock`` taken on the writer's own connection (so losing the connection loses the
lock, and nothing is written without it); a second indexer waits as a standby and takes over when
the lock is released.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from chain.client import PictorChain
from chain.errors import ChainError
from indexer.processor import DecodedBatch, decode_batch
from indexer.writer import DEFAULT_PROCESSOR, Writer, WriteResult
from pictor.db import libpq_url
from pictor.settings import get_settings

log = logging.getLogger("pictor.indexer")

#: First key of the two-int advisory lock: ASCII "PICT"; the second is ``hashtext(processor)``.
LOCK_NAMESPACE = 0x50494354


@dataclass
class IndexerConfig:
    """How one indexer process runs."""

    database_url: str
    processor: str = DEFAULT_PROCESSOR
    start_version: int = 0  # where to begin when the database has no checkpoint yet
    page_size: int = 100  # transactions per request (Aptos nodes cap it at 100)
    fetch_concurrency: int = 4  # pages in flight
    max_batch_txns: int = 5000  # transactions written per database transaction at most
    poll_interval: float = 0.5  # seconds between ledger polls once caught up
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    lock_retry: float = 2.0  # seconds between lock attempts of a standby
    progress_every: float = 10.0  # seconds between progress log lines
    stop_at_version: int | None = None  # return once this version is indexed (tests, benchmarks)
    event_writes: str = "copy"  # "copy" or "staging" (see indexer.writer)


class Backoff:
    """Exponential delays from ``initial`` to ``maximum`` seconds; :meth:`reset` after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next(self) -> float:
        """The delay before the next try (doubling each failure)."""
        self.failures += 1
        return min(self.maximum, self.initial * 2 ** (self.failures - 1))

    def reset(self) -> bool:
        """Forget the failures; True if there were any (the caller may log a recovery)."""
        failed, self.failures = self.failures > 0, 0
        return failed


class Indexer:
    """One indexer process: the pipeline, the lock, the checkpoint and the lag it observes."""

    def __init__(self, chain: PictorChain, config: IndexerConfig) -> None:
        self.chain = chain
        self.config = config
        self.chain_version: int | None = None  # latest ledger version seen
        self.indexed_version: int | None = None  # last committed checkpoint
        self.active = False  # holds the lock
        self._node_backoff = Backoff(config.backoff_initial, config.backoff_max)
        #: True while the writer folds a batch (pure Python, the database waiting): the fetcher, in this
        #: process's other thread, then holds back its decoding rather than compete for the GIL.
        self._hold: Callable[[], bool] = lambda: False
        self._progress = (time.monotonic(), 0, 0)  # since, events, transactions (for the progress log)

    @property
    def lag(self) -> int | None:
        """Chain version minus indexed version (None until both are known)."""
        if self.chain_version is None:
            return None
        return self.chain_version - (self.indexed_version if self.indexed_version is not None else -1)

    # -- the outer loop

    async def run(self) -> None:
        """Index until cancelled (or until ``stop_at_version`` is indexed), surviving node and database outages."""
        db_backoff = Backoff(self.config.backoff_initial, self.config.backoff_max)
        while True:
            try:
                if await self._session(db_backoff):
                    return
            except psycopg.OperationalError as exc:
                delay = db_backoff.next()
                log.warning("database unavailable or failing (%s); reconnecting in %.1fs", str(exc).strip(), delay)
                await asyncio.sleep(delay)
            except Exception:
                delay = db_backoff.next()
                log.exception("indexer session failed; restarting from the checkpoint in %.1fs", delay)
                await asyncio.sleep(delay)
            finally:
                self.active = False

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(libpq_url(self.config.database_url), autocommit=True, connect_timeout=10)

    async def _acquire_lock(self, conn: psycopg.Connection) -> None:
        """Take the processor's advisory lock, waiting as a standby while another indexer holds it."""
        query = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
        args = (LOCK_NAMESPACE, self.config.processor)
        announced = False
        while not (await asyncio.to_thread(conn.execute, query, args)).fetchone()[0]:
            if not announced:
                log.info(
                    "standby: another indexer holds the lock of processor %r; retrying every %.1fs",
                    self.config.processor,
                    self.config.lock_retry,
                )
                announced = True
            await asyncio.sleep(self.config.lock_retry)
        log.info("active: holding the lock of processor %r", self.config.processor)
        self.active = True

    async def _session(self, db_backoff: Backoff) -> bool:
        """Connect, lock, resume after the checkpoint and index; True once ``stop_at_version`` is reached."""
        conn = await asyncio.to_thread(self._connect)
        reader: psycopg.Connection | None = None
        try:
            await self._acquire_lock(conn)
            reader = await asyncio.to_thread(self._connect)  # reads ahead while `conn` writes
            writer = Writer(conn, self.config.processor, event_writes=self.config.event_writes, reader=reader)
            checkpoint = await asyncio.to_thread(writer.checkpoint)
            db_backoff.reset()
            self.indexed_version = checkpoint
            start = checkpoint + 1 if checkpoint is not None else self.config.start_version
            log.info("resuming at version %d (checkpoint %s)", start, checkpoint)
            if self._done():
                return True
            # room for two full write batches: pages are decoded while the previous batch is written
            pages = max(4 * self.config.fetch_concurrency, 2 * -(-self.config.max_batch_txns // self.config.page_size))
            queue: asyncio.Queue[DecodedBatch] = asyncio.Queue(maxsize=pages)
            self._hold = lambda: writer.folding
            fetcher = asyncio.create_task(self._fetch(start, queue), name="indexer-fetch")
            try:
                return await self._write_loop(writer, queue, fetcher)
            finally:
                fetcher.cancel()
                await asyncio.gather(fetcher, return_exceptions=True)
        finally:
            if reader is not None:
                await asyncio.to_thread(reader.close)
            await asyncio.to_thread(conn.close)

    def _done(self) -> bool:
        stop = self.config.stop_at_version
        return stop is not None and self.indexed_version is not None and self.indexed_version >= stop

    async def _write_loop(
        self, writer: Writer, queue: asyncio.Queue[DecodedBatch], fetcher: asyncio.Task[None]
    ) -> bool:
        """Write what the fetcher hands over, merging queued pages into one transaction.

        Two batches overlap: while one is written (COPY and commit, in a worker thread), the next is
        folded over the cached state (:meth:`Writer.prepare`); a batch whose fold needs the database
        is folded inside its own transaction, once the previous one has committed.
        """
        self._progress = (time.monotonic(), 0, 0)
        inflight: asyncio.Future[WriteResult] | None = None
        get: asyncio.Future[DecodedBatch] | None = None
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                waits: set[asyncio.Future[Any]] = {get, fetcher}
                if inflight is not None:
                    waits.add(inflight)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if inflight is not None and inflight.done():
                    done, inflight = self._written(inflight.result()), None
                    if done:
                        get.cancel()
                        return True
                if not get.done():
                    get.cancel()
                    if fetcher.done():
                        fetcher.result()  # re-raise what stopped the fetcher
                        raise RuntimeError("the fetcher stopped")
                    continue
                batches = [get.result()]
                size = batches[0].last_version - batches[0].first_version + 1
                while size < self.config.max_batch_txns and not queue.empty():
                    batches.append(queue.get_nowait())
                    size += batches[-1].last_version - batches[-1].first_version + 1
                prepared = await asyncio.to_thread(writer.prepare, batches)
                if inflight is not None:
                    done, inflight = self._written(await inflight), None
                    if done:
                        return True
                write = asyncio.ensure_future(asyncio.to_thread(writer.commit, prepared))
                if prepared.rows is None:  # its fold needs the database: nothing may fold meanwhile
                    if self._written(await write):
                        return True
                else:
                    inflight = write
        finally:
            if get is not None:
                get.cancel()
            if inflight is not None:  # the connection must be idle before the session closes it
                await asyncio.wait({inflight})

    def _written(self, result: WriteResult) -> bool:
        """Record a committed batch (and log progress now and then); True once ``stop_at_version`` is indexed."""
        self.indexed_version = result.checkpoint
        since, events, written = self._progress
        events += result.events
        written += result.transactions
        now = time.monotonic()
        if now - since >= self.config.progress_every or self._done():
            log.info(
                "indexed to version %d (chain %s, lag %s): %d transactions with events, %d events in %.1fs",
                result.checkpoint,
                self.chain_version,
                self.lag,
                written,
                events,
                now - since,
            )
            since, events, written = now, 0, 0
        self._progress = (since, events, written)
        return self._done()

    # -- fetching

    async def _ledger_version(self) -> int:
        """The chain's latest version (remembered for the lag), capped at ``stop_at_version``."""
        info = await self.chain.ledger_info()
        self.chain_version = info.ledger_version
        stop = self.config.stop_at_version
        return info.ledger_version if stop is None else min(stop, info.ledger_version)

    async def _page(self, start: int, limit: int) -> list:
        while self._hold():  # the writer is folding: decoding the page now would only slow it down
            await asyncio.sleep(0.0005)
        return await self.chain.transaction_page(start, limit)

    def _spawn(self, start: int, limit: int) -> asyncio.Task[list]:
        """A page fetch whose failure is read by the fetch loop, or dropped quietly once it was cancelled."""
        task = asyncio.create_task(self._page(start, limit))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _fetch(self, start: int, queue: asyncio.Queue[DecodedBatch]) -> None:
        """Fetch pages from ``start`` on, keeping ``fetch_concurrency`` in flight, and queue them in order.

        Pages are requested and decoded only while ``_hold()`` is false (the writer is not folding).
        """
        cfg = self.config
        package = self.chain.package_address
        next_start = start
        ledger: int | None = None
        pending: collections.deque[tuple[int, int, asyncio.Task[list]]] = collections.deque()
        try:
            while True:
                try:
                    if not pending and (ledger is None or next_start > ledger):
                        ledger = await self._ledger_version()
                        if next_start > ledger:
                            self._recovered()
                            await asyncio.sleep(cfg.poll_interval)
                            continue
                    while len(pending) < cfg.fetch_concurrency and ledger is not None and next_start <= ledger:
                        limit = min(cfg.page_size, ledger - next_start + 1)
                        pending.append((next_start, limit, self._spawn(next_start, limit)))
                        next_start += limit
                    page_start, limit, task = pending[0]
                    txns = await task
                except ChainError as exc:
                    for _, _, task in pending:
                        task.cancel()
                    if pending:
                        next_start = pending[0][0]
                    pending.clear()
                    ledger = None
                    delay = self._node_backoff.next()
                    log.warning(
                        "node %s unreachable or failing (%s); retrying from version %d in %.1fs",
                        self.chain.node_url,
                        exc,
                        next_start,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                self._recovered()
                pending.popleft()
                if not txns:
                    raise ChainError(f"the node returned no transaction at version {page_start} (ledger {ledger})")
                if len(txns) < limit:  # the node capped the page: fetch the rest first
                    rest = page_start + len(txns)
                    pending.appendleft((rest, limit - len(txns), self._spawn(rest, limit - len(txns))))
                while self._hold():  # the writer is folding (the database waits for it): do not compete for the GIL
                    await asyncio.sleep(0.0005)
                await queue.put(decode_batch(txns, package))
        finally:
            for _, _, task in pending:
                task.cancel()

    def _recovered(self) -> None:
        if self._node_backoff.reset():
            log.info("node %s reachable again", self.chain.node_url)


def tune_gc() -> None:
    """Collect garbage less often: decoding allocates many short-lived objects (``pictor indexer`` calls this)."""
    gc.collect()
    gc.freeze()  # what was loaded until now (modules, settings) is never garbage: stop scanning it
    gc.set_threshold(200_000, 20, 20)


async def run_indexer(config: IndexerConfig, chain: PictorChain | None = None) -> Indexer:
    """Run an indexer with a chain client from the settings (unless given); returns it when it stops."""
    own = chain is None
    chain = chain or PictorChain.from_settings(get_settings())
    indexer = Indexer(chain, config)
    try:
        await indexer.run()
    finally:
        if own:
            await chain.close()
    return indexer
