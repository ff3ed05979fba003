"""Natural batching (as a group commit): requests made side by side share one round trip and one transaction.

A request made while no batch is in flight goes out at once, alone; requests made while one is in flight wait
and go out together in the next, sent by the oldest waiting request's thread (or task): no timer. Claims
(:mod:`api.scheduler.claims`) and completions (:func:`group_commit`) are batched this way, one batcher of each
per engine and per event loop; after a shared commit each job's version is bumped once (:func:`touch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from pictor.db import driver_connection
from tables.state_machine import touch_statement

#: Where an async claim runs: an autocommit psycopg ``AsyncConnection``, or a function giving an async context
#: manager that checks one out (then only the task that sends a batch holds a connection, as with :func:`claim`).
AsyncSource = Any


def async_source(source: AsyncSource) -> tuple[Any, Any]:
    """The source as a function checking out a connection, and what the requests of one database share."""
    if callable(source):
        return source, source

    @contextlib.asynccontextmanager
    async def connection() -> Any:
        yield source

    return connection, source.info.dsn  # requests to one database share batches, whatever connection they came with


class Waiting:
    """A request waiting in a batcher: its work (a claim's ``_CLAIM`` parameters, a completion's function), then
    its row or its error."""

    __slots__ = ("error", "event", "key", "lead", "row", "work")

    def __init__(self, key: Any, work: Any, event: Any) -> None:
        self.key = key  # requests share a batch only when their keys are equal
        self.work = work
        self.row: Any = None
        self.error: BaseException | None = None
        self.lead = False  # this request's caller sends the next batch
        self.event = event

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.row


def _take(pending: Any, most: int) -> list[Waiting]:
    """The next batch: the oldest request and those after it with the same key, at most ``most``."""
    key = pending[0].key
    batch: list[Waiting] = []
    rest: list[Waiting] = []
    while pending and len(batch) < most:
        waiting = pending.popleft()
        (batch if waiting.key == key else rest).append(waiting)
    pending.extendleft(reversed(rest))
    return batch


def _fail(batch: list[Waiting], exc: BaseException) -> None:
    """The batch failed: each request not yet answered gets the error (an interruption as a RuntimeError)."""
    error = exc if isinstance(exc, Exception) else RuntimeError(f"the batch was interrupted ({exc!r})")
    for waiting in batch:
        if waiting.error is None:
            waiting.error = error


class Batcher:
    """Requests of threads sent together (natural batching, as a group commit).

    A request made while no batch is in flight goes out at once, alone; requests made while one is in flight
    wait and go out together in the next, sent by the oldest waiting request's thread with ``send(batch,
    connection)`` (``connection``: that request's, checked out only then): no timer, and one transaction and
    one round trip per batch instead of per request. ``send`` answers each request (``row`` or ``error``); if
    it raises, the requests it did not answer get its error. The next batch goes out as usual."""

    def __init__(self, send: Callable[[list[Waiting], Any], None], most: int) -> None:
        self._send_batch = send
        self._most = most
        self._lock = threading.Lock()
        self._pending: deque[Waiting] = deque()
        self._busy = False
        self.sizes: Counter[int] = Counter()  # batches sent by size (tests, the benchmark)

    def submit(self, key: Any, work: Any, connection: Any) -> Any:
        """The answer to ``work``, sent with the requests waiting beside it."""
        waiting = Waiting(key, work, threading.Event())
        with self._lock:
            self._pending.append(waiting)
            waiting.lead = not self._busy
            self._busy = True
        if not waiting.lead:
            waiting.event.wait()  # answered, or handed the next batch
        if waiting.lead:
            self._send(connection)
        return waiting.result()

    def _send(self, connection: Any) -> None:
        with self._lock:
            batch = _take(self._pending, self._most)  # the sender's own request is the oldest: it is in the batch
        self.sizes[len(batch)] += 1
        try:
            self._send_batch(batch, connection)
        except BaseException as exc:  # noqa: BLE001 - handed to the batch's callers, the sender's included
            _fail(batch, exc)
        finally:
            with self._lock:
                after = self._pending[0] if self._pending else None
                if after is None:
                    self._busy = False
                else:
                    after.lead = True
            for waiting in batch:
                waiting.event.set()
            if after is not None:
                after.event.set()


class AsyncBatcher:
    """:class:`Batcher` for the requests of one event loop's tasks (``send`` is a coroutine function)."""

    def __init__(self, send: Callable[[list[Waiting], Any], Awaitable[None]], most: int) -> None:
        self._send_batch = send
        self._most = most
        self._pending: deque[Waiting] = deque()
        self._busy = False
        self.sizes: Counter[int] = Counter()

    async def submit(self, key: Any, work: Any, connection: Any) -> Any:
        """The answer to ``work``, sent with the requests waiting beside it."""
        waiting = Waiting(key, work, None)
        self._pending.append(waiting)
        if self._busy:
            waiting.event = asyncio.Event()
            try:
                await waiting.event.wait()  # answered, or handed the next batch
            except asyncio.CancelledError:
                if waiting in self._pending:
                    self._pending.remove(waiting)
                if waiting.lead:  # handed the next batch but gone: hand it on
                    self._hand_on()
                raise
        else:
            waiting.lead = self._busy = True
        if waiting.lead:
            await self._send(connection)
        return waiting.result()

    def _hand_on(self) -> None:
        if self._pending:
            after = self._pending[0]
            after.lead = True
            after.event.set()
        else:
            self._busy = False

    async def _send(self, connection: Any) -> None:
        batch = _take(self._pending, self._most)
        self.sizes[len(batch)] += 1
        try:
            await self._send_batch(batch, connection)
        except BaseException as exc:  # noqa: BLE001 - handed to the batch's callers, the sender's included
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            for waiting in batch:
                if waiting.event is not None:  # the first sender's request has none: it never waited
                    waiting.event.set()
            self._hand_on()


#: Most units of work one shared transaction runs.
COMMIT_BATCH_MAX = 32


def _touches(batch: list[Waiting]) -> list[tuple[int, bool]]:
    """The version bumps a committed batch owes: once per job, finishing if any of its units asked to."""
    jobs_: dict[int, bool] = {}
    for waiting in batch:
        if waiting.error is None and waiting.row is not None:
            job_id, finish = waiting.row
            jobs_[job_id] = jobs_.get(job_id, False) or bool(finish)
    return sorted(jobs_.items())


def _send_commits(batch: list[Waiting], engine: Engine) -> None:
    """Run the units of work in one transaction and commit once; then bump each job's version once.

    A unit that raises is answered with its error and the transaction is rolled back; the others run again
    in a fresh one (a unit is a function of the database and its inputs), so each unit commits or fails as it
    would alone."""
    left = list(batch)
    while left:
        with engine.connect() as conn:
            transaction = conn.begin()
            failed = None
            for waiting in left:
                try:
                    waiting.row = waiting.work(conn)
                except Exception as exc:  # noqa: BLE001 - the unit's own error, handed to its caller
                    waiting.error, failed = exc, waiting
                    break
            if failed is None:
                transaction.commit()
                break
            transaction.rollback()
        left = [waiting for waiting in left if waiting is not failed]
    touches = _touches(batch)
    if touches:
        now = datetime.now(UTC)
        with driver_connection(engine) as driver:
            for job_id, finish in touches:
                driver.execute(*touch_statement(job_id, now, finish=finish), prepare=True)


async def _send_commits_async(batch: list[Waiting], connection: Any) -> None:
    """:func:`_send_commits` on an autocommit psycopg ``AsyncConnection`` (a unit: a coroutine function of it)."""
    left = list(batch)
    async with connection() as aconn:
        while left:
            failed = None
            with contextlib.suppress(_Rollback):
                async with aconn.transaction():
                    for waiting in left:
                        try:
                            waiting.row = await waiting.work(aconn)
                        except Exception as exc:  # noqa: BLE001 - the unit's own error, handed to its caller
                            waiting.error, failed = exc, waiting
                            raise _Rollback from None
            left = [] if failed is None else [waiting for waiting in left if waiting is not failed]
        touches = _touches(batch)
        if touches:
            now = datetime.now(UTC)
            async with aconn.pipeline():  # autocommit: each bump its own transaction, one round trip for all
                for job_id, finish in touches:
                    await aconn.execute(*touch_statement(job_id, now, finish=finish), prepare=True)


class _Rollback(Exception):
    """Leave a shared transaction (rolled back) after a unit failed."""


def group_commit(engine: Engine, work: Callable[[Any], tuple[int, bool] | None]) -> Any:
    """Run ``work(conn)`` (a SQLAlchemy connection inside a transaction) committed, sharing the transaction and
    its commit with the units of work other threads of this engine submit meanwhile (:func:`_send_commits`);
    its answer. ``work`` answers ``(job_id, finish)`` for the version bump it owes after the commit (as
    :func:`touch`), or None."""
    return commit_batcher(engine).submit(None, work, engine)


async def group_commit_async(source: AsyncSource, work: Callable[[Any], Awaitable[tuple[int, bool] | None]]) -> Any:
    """:func:`group_commit` on an event loop: ``work(aconn)`` a coroutine function; ``source`` as for
    :func:`api.scheduler.claims.claim_async` (an autocommit ``AsyncConnection`` or a function checking one out)."""
    connection, target = async_source(source)
    return await loop_commit_batcher().submit(target, work, connection)


_by_engine: weakref.WeakKeyDictionary[Engine, dict[str, Batcher]] = weakref.WeakKeyDictionary()
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncBatcher]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def engine_batcher(engine: Engine, name: str, send: Callable[[list[Waiting], Any], None], most: int) -> Batcher:
    """The engine's batcher called ``name`` (one per engine and name: its requests go to one database)."""
    batchers = _by_engine.get(engine)
    if batchers is None or name not in batchers:
        with _registry_lock:
            batchers = _by_engine.setdefault(engine, {})
            batchers.setdefault(name, Batcher(send, most))
    return batchers[name]


def loop_batcher(name: str, send: Callable[[list[Waiting], Any], Awaitable[None]], most: int) -> AsyncBatcher:
    """The running event loop's batcher called ``name``."""
    batchers = _by_loop.setdefault(asyncio.get_running_loop(), {})
    return batchers.setdefault(name, AsyncBatcher(send, most))


def commit_batcher(engine: Engine) -> Batcher:
    """The engine's group commit (its ``sizes`` count the shared transactions by size)."""
    return engine_batcher(engine, "commits", _send_commits, COMMIT_BATCH_MAX)


def loop_commit_batcher() -> AsyncBatcher:
    """The running event loop's group commit."""
    return loop_batcher("commits", _send_commits_async, COMMIT_BATCH_MAX)


def touch(engine: Engine, job_id: int, *, finish: bool = False) -> None:
    """Bump the job's version after a committed change, in one autocommit statement (``TOUCH`` of
    :mod:`tables.state_machine`); with ``finish``, complete the job if no task is left."""
    with driver_connection(engine) as driver:
        sql, params = touch_statement(job_id, datetime.now(UTC), finish=finish)
        driver.execute(sql, params, prepare=True)
