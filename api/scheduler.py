"""The scheduler: node heartbeats, matching, claims, leases, failures, and the coordinator's chain outbox.

* **Claims** are one database transaction: the candidate jobs (active or paused, escrow linked, node not
  blocklisted) in job priority order are matched against the node's last heartbeat (engine, device, GPU
  vendor/model/count/VRAM, RAM, location, tier); the first queued task of the first matching job is taken
  with ``SELECT … FOR UPDATE SKIP LOCKED`` (so concurrent claims never get one task), leased, and an
  ``assign`` row is written to the chain outbox in the same transaction — all in one call of the SQL
  function ``api.claim_task`` (revision 0009). Only task rows are locked; the job's ``version`` is bumped
  right after the commit (as :func:`touch` does), so claims of one job do not queue; the procedure
  ``api.claim_lease`` (revision 0011) runs the claim, its commit and the bump in one round trip. Claims made side
  by side are batched (natural batching, as a group commit: no timer; :class:`_Batcher`): the claims made
  while a batch is in flight go out together in the next, ``api.claim_leases`` (revision 0012) running
  ``api.claim_task`` for each in one transaction, one commit and one bump per job for the batch; each claim
  gets what it would have got alone. Completions share transactions the same way (:func:`group_commit`).
  A node in a task's ``excluded_nodes`` (its result failed verification, or it lost a dispute) does not get
  that task again.
* **Release**: a node gives its lease back at once (:func:`release_task`, e.g. on SIGTERM); like an expired
  lease it is not a failure.
* **Quote** = tier price × node multiplier × the node's estimated minutes (reference minutes ÷ multiplier)
  × ``quote_margin``, capped at ``max_task_quote``. The escrow must cover it: available = the mirror's
  budget − spent − reserved − quotes of this job's assignments not yet on chain. A job that cannot cover
  the next quote is **paused** (skipped by claims) until a claim finds the escrow topped up.
* **Leases** end at ``lease_deadline``; task heartbeats extend it; :func:`sweep_expired` returns expired
  tasks to the queue (not counted as failures: a killed worker is not a bad worker). A node that fails
  ``blocklist_failures`` tasks of one job is blocklisted for it.
* **Outbox**: ``assign`` / ``requeue`` / ``close`` coordinator transactions, unique per (kind, job, task,
  attempt). :func:`process_outbox` reads the chain's view of the task before each submission, so a
  submission whose answer was lost is recognised instead of repeated; errors retry with a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import lru_cache, partial
from typing import Any

import httpx
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, all_, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chain.errors import ChainError, MoveAbortError
from indexer import schema as mirror
from pictor.settings import Settings
from protocol.render_spec import Device, GpuVendor, JobSpec, PricingTier, Region, RenderEngine
from tables.jobs import chain_outbox, frames, job_node_failures, jobs, node_status, tasks

log = logging.getLogger(__name__)

LEASED = ("assigned", "rendering")
CLAIMABLE_JOB_STATES = ("active", "paused")
#: Chain task states (escrow): 0 QUEUED, 1 ASSIGNED.
CHAIN_QUEUED, CHAIN_ASSIGNED = 0, 1
#: Aborts after which an outbox row is given up (the chain refused for good); others are retried.
FINAL_ABORTS = {
    "E_INSUFFICIENT_ESCROW",
    "E_NODE_NOT_ELIGIBLE",
    "E_JOB_CLOSED",
    "E_BAD_TASK_STATE",
    "E_JOB_NOT_FOUND",
    "E_ZERO_AMOUNT",
    "E_NOT_COORDINATOR",
}


def utcnow() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


class LeaseGone(Exception):
    """The task is not leased to this node any more (expired, reassigned, finished)."""


# ----------------------------------------------------------------------------- node facts and matching


@dataclass(frozen=True)
class NodeFacts:
    """What matching needs from a heartbeat's telemetry."""

    gpu_count: int
    gpu_vendor: str | None
    gpu_models: tuple[str, ...]
    min_gpu_vram_gb: float  # of the node's smallest GPU
    ram_gb: float
    location: str
    engines: tuple[str, ...]
    multiplier: float
    operator: str


def node_facts(telemetry: dict[str, Any], operator: str) -> NodeFacts:
    """Read the telemetry of ``protocol.telemetry`` (plus ``multiplier``, ``location``, ``engines``)."""
    gpus = [g for g in telemetry.get("gpus") or [] if isinstance(g, dict)]
    cpu = telemetry.get("cpu") if isinstance(telemetry.get("cpu"), dict) else {}
    vram = [float(g.get("memory_total_mb") or 0) / 1024 for g in gpus]
    engines = telemetry.get("engines") or [e.value for e in RenderEngine]
    benchmark = telemetry.get("benchmark") if isinstance(telemetry.get("benchmark"), dict) else {}
    try:
        multiplier = float(
            telemetry.get("multiplier") or telemetry.get("performance_multiplier") or benchmark.get("multiplier") or 1.0
        )
    except (TypeError, ValueError):
        multiplier = 1.0
    return NodeFacts(
        gpu_count=len(gpus),
        gpu_vendor=(str(gpus[0].get("vendor") or "").lower() or None) if gpus else None,
        gpu_models=tuple(str(g.get("name") or "") for g in gpus),
        min_gpu_vram_gb=min(vram) if vram else 0.0,
        ram_gb=float(cpu.get("ram_total_mb") or 0) / 1024,
        location=str(telemetry.get("location") or "any").lower(),
        engines=tuple(str(e).upper() for e in engines),
        multiplier=min(max(multiplier, 0.01), 1000.0),
        operator=operator,
    )


def tier_allows(tier: PricingTier, facts: NodeFacts, settings: Settings) -> bool:
    """Tier 2 wants nodes at least ``tier2_min_multiplier`` fast; Tier 3 only trusted operators."""
    if tier is PricingTier.TIER_2:
        return facts.multiplier >= settings.tier2_min_multiplier
    if tier is PricingTier.TIER_3:
        return facts.operator in {o.lower() for o in settings.trusted_operators}
    return True


def mismatch(job: JobSpec, facts: NodeFacts, settings: Settings) -> str | None:
    """Why the node cannot take the job (None when it can)."""
    if job.engine.value not in facts.engines:
        return "engine"
    if job.device is Device.GPU and facts.gpu_count < job.min_gpu_count:
        return "device"
    hw = job.hardware
    if hw.gpu_vendor is not GpuVendor.ANY and facts.gpu_vendor != hw.gpu_vendor.value:
        return "gpu vendor"
    if hw.gpu_model and not any(hw.gpu_model.lower() in m.lower() for m in facts.gpu_models):
        return "gpu model"
    if hw.min_vram_gb is not None and facts.min_gpu_vram_gb < hw.min_vram_gb:
        return "vram"
    if hw.min_ram_gb is not None and facts.ram_gb < hw.min_ram_gb:
        return "ram"
    if job.worker_location is not Region.ANY and facts.location != job.worker_location.value:
        return "location"
    if not tier_allows(job.pricing_tier, facts, settings):
        return "tier"
    return None


def tier_price(settings: Settings, tier: PricingTier | str) -> int:
    """Base units per reference-GPU-minute of a tier (the documented table in settings)."""
    value = tier.value if isinstance(tier, PricingTier) else tier
    return int(settings.tier_prices.get(value, settings.tier_prices.get("none", 1)))


def task_quote(settings: Settings, price: int, multiplier: float, ref_minutes: float) -> int:
    """Tier price × multiplier × the node's estimated minutes (× margin), capped; at least 1."""
    # Estimates are floats; money is not: take the estimates as exact rationals, round once, up.
    node_minutes = Fraction(ref_minutes) / Fraction(multiplier)
    raw = Fraction(price) * Fraction(multiplier) * node_minutes * Fraction(settings.quote_margin)
    return max(1, min(settings.max_task_quote, math.ceil(raw)))


# ----------------------------------------------------------------------------- heartbeats


def record_heartbeat(
    engine: Engine, node_id: int, operator: str, telemetry: dict[str, Any], version: str | None
) -> list[int]:
    """Store the node's heartbeat; answer its leased tasks whose job was cancelled."""
    facts = node_facts(telemetry, operator)
    now = utcnow()
    values = {
        "operator": operator,
        "telemetry": telemetry,
        "agent_version": version,
        "multiplier": facts.multiplier,
        "last_seen": now,
        **_fact_values(facts),
    }
    with engine.begin() as conn:
        conn.execute(
            pg_insert(node_status)
            .values(node_id=node_id, **values)
            .on_conflict_do_update(index_elements=["node_id"], set_=values)
        )
        rows = (
            conn.execute(
                select(tasks.c.task_id)
                .join(jobs, jobs.c.job_id == tasks.c.job_id)
                .where(tasks.c.node_id == node_id, tasks.c.state.in_(LEASED), jobs.c.state == "cancelled")
            )
            .scalars()
            .all()
        )
    return [int(r) for r in rows]


# ----------------------------------------------------------------------------- claims


def escrow_available(conn: Any, job_id: int, chain_job_id: int) -> int | None:
    """Budget − spent − reserved as the mirror shows it, less assignments not yet on chain (None: not indexed)."""
    row = conn.execute(select(mirror.jobs).where(mirror.jobs.c.job_id == chain_job_id)).first()
    if row is None or row.closed:
        return None
    pending = conn.execute(
        select(func.coalesce(func.sum(chain_outbox.c.quote), 0)).where(
            chain_outbox.c.job_id == job_id, chain_outbox.c.kind == "assign", chain_outbox.c.status == "pending"
        )
    ).scalar_one()
    return int(row.budget) - int(row.spent) - int(row.reserved) - int(pending)


def bump(conn: Any, job_id: int, **values: Any) -> None:
    """Change a job (or only bump its version) inside the caller's transaction: SSE readers see every change.

    Hot paths (claims, task heartbeats, frame uploads, completions) use :func:`touch` after their commit
    instead: an update of the job row holds the row's lock until the transaction's commit is flushed, so a
    bump inside every claim makes all claims of a job wait on one another."""
    conn.execute(
        update(jobs).where(jobs.c.job_id == job_id).values(version=jobs.c.version + 1, updated_at=utcnow(), **values)
    )


#: Advisory lock space of version bumps (with the job id, modulo 2**31 - 1, as the second key).
TOUCH_LOCK_SPACE = 0x7069_6374  # "pict"

#: Bump a job's version after a committed change. ``synchronous_commit`` is off for this one statement:
#: the row lock goes as soon as the update is done instead of after a WAL flush, and a bump lost in a crash
#: costs an SSE reader nothing but one late event (the change it announces is already committed and durable).
#: Bumps coalesce: one that finds another bump of the job in flight (its advisory lock held) leaves the row
#: alone, since that bump commits after this caller's change did and so announces it too.
_TOUCH = f"""
WITH quick AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE {jobs.fullname} SET version = version + 1, updated_at = %(now)s FROM quick
WHERE job_id = %(job_id)s
  -- CASE: the lock is tried on this job's row only, whatever order the quals run in
  AND CASE WHEN job_id = %(job_id)s
           THEN pg_try_advisory_xact_lock({TOUCH_LOCK_SPACE}, CAST(mod(job_id, 2147483647) AS integer)) END
"""

#: :data:`_TOUCH` that also completes the job when no task is left to render (never skipped): completions of
#: a job's last tasks committing side by side each count the other's task as still leased inside their own
#: transaction, so the last one to commit looks again after its commit. No lock is needed for that: each
#: completion commits before its own look starts, so the look that starts last sees every completion (a look
#: that waits for the job's row re-reads only the row, and keeps a state another look set). The advisory lock
#: this took made the looks of a job's last tasks queue behind one another, holding their connections.
_TOUCH_FINISH = f"""
WITH quick AS (SELECT set_config('synchronous_commit', 'off', true)),
done AS (
    SELECT NOT EXISTS (SELECT 1 FROM {tasks.fullname} AS t
                       WHERE t.job_id = %(job_id)s AND t.state IN ('queued', 'assigned', 'rendering')) AS finished
    FROM quick
)
UPDATE {jobs.fullname} AS j
SET version = j.version + 1, updated_at = %(now)s,
    state = CASE WHEN done.finished AND j.state IN ('active', 'paused') THEN 'completed' ELSE j.state END,
    pause_reason = CASE WHEN done.finished AND j.state IN ('active', 'paused') THEN NULL ELSE j.pause_reason END
FROM done
WHERE j.job_id = %(job_id)s
"""


@contextlib.contextmanager
def _driver_connection(engine: Engine) -> Iterator[Any]:
    """A pooled connection's psycopg connection in autocommit mode (transactions are explicit).

    The claim and the version bumps run on the driver directly, as prepared statements: they are the
    scheduler's hottest path, and SQLAlchemy's per-statement work cost more CPU there than PostgreSQL's."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        before = driver.autocommit
        driver.autocommit = True
        try:
            yield driver
        finally:
            if driver.info.transaction_status != TransactionStatus.IDLE and not driver.closed:
                driver.rollback()  # an error inside an explicit BEGIN
            driver.autocommit = before
    finally:
        pooled.close()


def _touch(driver: Any, job_id: int, finish: bool) -> None:
    driver.execute(_TOUCH_FINISH if finish else _TOUCH, {"job_id": job_id, "now": utcnow()}, prepare=True)


def touch(engine: Engine, job_id: int, *, finish: bool = False) -> None:
    """Bump the job's version after a committed change (one autocommit statement; see ``_TOUCH``)."""
    with _driver_connection(engine) as driver:
        _touch(driver, job_id, finish)


#: A claim is one CALL of ``api.claim_lease`` (revision 0011), sent on an autocommit connection: a call of
#: ``api.claim_task`` (revision 0009; its comment there says what it does: matching, the task lock (``FOR
#: UPDATE SKIP LOCKED``), the escrow check with the exact quote (``api.task_quote`` = :func:`task_quote`),
#: pause/resume, the lease, its frames and the ``assign`` outbox row), committed, then the job's version bump
#: (:data:`_TOUCH`) in its own transaction, all in one round trip. The job conditions are :func:`mismatch` in
#: SQL over the jobs' ``req_*`` columns and the heartbeat's fact columns (tests/api/test_scheduler.py
#: checks the two agree over random jobs and nodes).
_CLAIM = (
    "CALL api.claim_lease(CAST(%s AS bigint), CAST(%s AS integer), CAST(%s AS float8), CAST(%s AS text[]),"
    " %s, %s, CAST(%s AS numeric), CAST(%s AS numeric), CAST(%s AS numeric))"
)
_TELEMETRY = f"SELECT telemetry, operator FROM {node_status.fullname} WHERE node_id = %s"

#: Heartbeat facts that matching reads, as ``node_status`` columns.
_FACT_COLUMNS = ("engines", "gpu_count", "gpu_vendor", "gpu_models", "min_gpu_vram_gb", "ram_gb", "location")
_STORE_FACTS = (
    f"UPDATE {node_status.fullname} SET "
    + ", ".join(f"{name} = %({name})s" for name in _FACT_COLUMNS)
    + " WHERE node_id = %(node_id)s"
)


def _fact_values(facts: NodeFacts) -> dict[str, Any]:
    """``node_status`` column values of a node's facts."""
    return {
        "engines": list(facts.engines),
        "gpu_count": facts.gpu_count,
        "gpu_vendor": facts.gpu_vendor,
        "gpu_models": list(facts.gpu_models),
        "min_gpu_vram_gb": facts.min_gpu_vram_gb,
        "ram_gb": facts.ram_gb,
        "location": facts.location,
    }


@lru_cache(maxsize=64)
def _trusted(operators: tuple[str, ...]) -> list[str]:
    return sorted({o.lower() for o in operators})


#: A step of a claim: the statement to run and its parameters; the step is sent the statement's first row.
Step = tuple[str, Any]


def _claim_steps(
    node_id: int, settings: Settings, max_frames: int | None
) -> Generator[Step, Any, dict[str, Any] | None]:
    """A claim as the statements it runs, for a sync or an async connection alike (:func:`claim`,
    :func:`claim_async`); returns the lease (None when nothing matches)."""
    margin_num, margin_den = float(settings.quote_margin).as_integer_ratio()
    for _ in range(2):
        now = utcnow()
        deadline = now + timedelta(seconds=settings.lease_s)
        row = yield (
            _CLAIM,
            (
                node_id,
                max_frames,
                settings.tier2_min_multiplier,
                _trusted(tuple(settings.trusted_operators)),
                now,
                deadline,
                margin_num,
                margin_den,
                settings.max_task_quote,
            ),
        )
        status, task_id, job_id, attempt, chain_job_id, seq, task_frames, job_cfg, quote = row
        if status is None:
            return None  # no heartbeat, or nothing matches
        if status == "leased":
            # The job's version was bumped after the claim's commit (see bump), coalesced with bumps in flight.
            return {
                "task_id": task_id,
                "job_id": job_id,
                "attempt": attempt,
                "chain_job_id": chain_job_id,
                "chain_task_id": str(seq),
                "frames": task_frames,
                "settings": job_cfg,
                "lease_deadline": deadline,
                "quote": quote,
            }
        # "no facts": a heartbeat stored before its facts had columns; store them from its telemetry, try again
        telemetry, operator = yield _TELEMETRY, (node_id,)
        yield _STORE_FACTS, {**_fact_values(node_facts(telemetry, operator)), "node_id": node_id}
    return None


def _fetch(driver: Any, sql: str, params: Any) -> Any:
    """One statement on an autocommit psycopg connection (prepared, binary results): its first row, if any."""
    cur = driver.execute(sql, params, prepare=True, binary=True)
    return cur.fetchone() if cur.description is not None else None


def _run_steps(
    steps: Generator[Step, Any, dict[str, Any] | None], execute: Callable[[str, Any], Any]
) -> dict[str, Any] | None:
    """Drive a claim's statements through ``execute(sql, params) -> row``; the claim's answer."""
    try:
        sql, params = next(steps)
        while True:
            sql, params = steps.send(execute(sql, params))
    except StopIteration as done:
        return done.value


def claim(engine: Engine, node_id: int, settings: Settings, max_frames: int | None = None) -> dict[str, Any] | None:
    """Lease the best matching queued task to the node (one transaction); None when nothing matches.

    Claims of one engine made side by side go out together (:class:`_Batcher`): the thread that sends a
    batch checks out the one connection it needs."""
    batcher = _engine_batcher(engine)
    connection = partial(_driver_connection, engine)

    def execute(sql: str, params: Any) -> Any:
        if sql is _CLAIM:
            return batcher.submit(_claim_key(params, None), params, connection)
        with connection() as driver:  # the rare "no facts" steps
            return _fetch(driver, sql, params)

    return _run_steps(_claim_steps(node_id, settings, max_frames), execute)


def claim_on(driver: Any, node_id: int, settings: Settings, max_frames: int | None = None) -> dict[str, Any] | None:
    """:func:`claim` on a psycopg connection in autocommit mode, alone (not batched)."""
    return _run_steps(_claim_steps(node_id, settings, max_frames), partial(_fetch, driver))


#: Where an async claim runs: an autocommit psycopg ``AsyncConnection``, or a function giving an async context
#: manager that checks one out (then only the task that sends a batch holds a connection, as with :func:`claim`).
AsyncSource = Any


def _async_source(source: AsyncSource) -> tuple[Any, Any]:
    """The source as a function checking out a connection, and what the requests of one database share."""
    if callable(source):
        return source, source

    @contextlib.asynccontextmanager
    async def connection() -> Any:
        yield source

    return connection, source.info.dsn  # requests to one database share batches, whatever connection they came with


async def claim_async(
    source: AsyncSource, node_id: int, settings: Settings, max_frames: int | None = None
) -> dict[str, Any] | None:
    """:func:`claim` for asyncio: claims made side by side on one event loop go out together
    (:class:`_AsyncBatcher`)."""
    connection, target = _async_source(source)
    batcher = _loop_batcher()
    steps = _claim_steps(node_id, settings, max_frames)
    try:
        sql, params = next(steps)
        while True:
            if sql is _CLAIM:
                row = await batcher.submit(_claim_key(params, target), params, connection)
            else:  # the rare "no facts" steps
                async with connection() as aconn:
                    cur = await aconn.execute(sql, params, prepare=True, binary=True)
                    row = await cur.fetchone() if cur.description is not None else None
            sql, params = steps.send(row)
    except StopIteration as done:
        return done.value


# ----------------------------------------------------------------------------- claim batching

#: Most claims one batch sends; claims beyond it wait for the next batch.
CLAIM_BATCH_MAX = 32

#: Several claims in one round trip: ``api.claim_leases`` (revision 0012) runs ``api.claim_task`` for each in one
#: transaction, commits once, then bumps each leased job's version once (as ``api.claim_lease`` does for one).
_CLAIMS = (
    "CALL api.claim_leases(CAST(%s AS bigint[]), CAST(%s AS integer[]), CAST(%s AS float8), CAST(%s AS text[]),"
    " CAST(%s AS timestamptz[]), CAST(%s AS timestamptz[]), CAST(%s AS numeric), CAST(%s AS numeric),"
    " CAST(%s AS numeric))"
)


class _Waiting:
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


def _take(pending: Any, most: int) -> list[_Waiting]:
    """The next batch: the oldest request and those after it with the same key, at most ``most``."""
    key = pending[0].key
    batch: list[_Waiting] = []
    rest: list[_Waiting] = []
    while pending and len(batch) < most:
        waiting = pending.popleft()
        (batch if waiting.key == key else rest).append(waiting)
    pending.extendleft(reversed(rest))
    return batch


def _fail(batch: list[_Waiting], exc: BaseException) -> None:
    """The batch failed: each request not yet answered gets the error (an interruption as a RuntimeError)."""
    error = exc if isinstance(exc, Exception) else RuntimeError(f"the batch was interrupted ({exc!r})")
    for waiting in batch:
        if waiting.error is None:
            waiting.error = error


class _Batcher:
    """Requests of threads sent together (natural batching, as a group commit).

    A request made while no batch is in flight goes out at once, alone; requests made while one is in flight
    wait and go out together in the next, sent by the oldest waiting request's thread with ``send(batch,
    connection)`` (``connection``: that request's, checked out only then): no timer, and one transaction and
    one round trip per batch instead of per request. ``send`` answers each request (``row`` or ``error``); if
    it raises, the requests it did not answer get its error. The next batch goes out as usual."""

    def __init__(self, send: Callable[[list[_Waiting], Any], None], most: int) -> None:
        self._send_batch = send
        self._most = most
        self._lock = threading.Lock()
        self._pending: deque[_Waiting] = deque()
        self._busy = False
        self.sizes: Counter[int] = Counter()  # batches sent by size (tests, the benchmark)

    def submit(self, key: Any, work: Any, connection: Any) -> Any:
        """The answer to ``work``, sent with the requests waiting beside it."""
        waiting = _Waiting(key, work, threading.Event())
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


class _AsyncBatcher:
    """:class:`_Batcher` for the requests of one event loop's tasks (``send`` is a coroutine function)."""

    def __init__(self, send: Callable[[list[_Waiting], Any], Awaitable[None]], most: int) -> None:
        self._send_batch = send
        self._most = most
        self._pending: deque[_Waiting] = deque()
        self._busy = False
        self.sizes: Counter[int] = Counter()

    async def submit(self, key: Any, work: Any, connection: Any) -> Any:
        """The answer to ``work``, sent with the requests waiting beside it."""
        waiting = _Waiting(key, work, None)
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


def _claim_key(params: Any, target: Any) -> Any:
    """Claims share a batch only when they go to the same database with the same settings' figures."""
    return (target, params[2], tuple(params[3]), params[6], params[7], params[8])


def _statement(batch: list[_Waiting]) -> Step:
    """The batch as one statement: a lone claim as ``_CLAIM`` (as before batching), more as ``_CLAIMS``."""
    if len(batch) == 1:
        return _CLAIM, batch[0].work
    first = batch[0].work
    return _CLAIMS, (
        [c.work[0] for c in batch],
        [c.work[1] for c in batch],
        first[2],
        first[3],
        [c.work[4] for c in batch],
        [c.work[5] for c in batch],
        first[6],
        first[7],
        first[8],
    )


def _answer(batch: list[_Waiting], row: Any) -> None:
    """Hand each claim of the batch its row (``_CLAIM``'s columns)."""
    rows = [tuple(row)] if len(batch) == 1 else [tuple(lease) for lease in row[0]]
    for waiting, lease in zip(batch, rows, strict=True):
        waiting.row = lease


def _send_claims(batch: list[_Waiting], connection: Any) -> None:
    sql, params = _statement(batch)
    with connection() as driver:
        _answer(batch, driver.execute(sql, params, prepare=True, binary=True).fetchone())


async def _send_claims_async(batch: list[_Waiting], connection: Any) -> None:
    sql, params = _statement(batch)
    async with connection() as aconn:
        cur = await aconn.execute(sql, params, prepare=True, binary=True)
        _answer(batch, await cur.fetchone())


# ----------------------------------------------------------------------------- group commit

#: Most units of work one shared transaction runs.
COMMIT_BATCH_MAX = 32


def _touches(batch: list[_Waiting]) -> list[tuple[int, bool]]:
    """The version bumps a committed batch owes: once per job, finishing if any of its units asked to."""
    jobs_: dict[int, bool] = {}
    for waiting in batch:
        if waiting.error is None and waiting.row is not None:
            job_id, finish = waiting.row
            jobs_[job_id] = jobs_.get(job_id, False) or bool(finish)
    return sorted(jobs_.items())


def _send_commits(batch: list[_Waiting], engine: Engine) -> None:
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
        with _driver_connection(engine) as driver:
            for job_id, finish in touches:
                _touch(driver, job_id, finish)


async def _send_commits_async(batch: list[_Waiting], connection: Any) -> None:
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
            now = utcnow()
            async with aconn.pipeline():  # autocommit: each bump its own transaction, one round trip for all
                for job_id, finish in touches:
                    await aconn.execute(
                        _TOUCH_FINISH if finish else _TOUCH, {"job_id": job_id, "now": now}, prepare=True
                    )


class _Rollback(Exception):
    """Leave a shared transaction (rolled back) after a unit failed."""


def group_commit(engine: Engine, work: Callable[[Any], tuple[int, bool] | None]) -> Any:
    """Run ``work(conn)`` (a SQLAlchemy connection inside a transaction) committed, sharing the transaction and
    its commit with the units of work other threads of this engine submit meanwhile (:func:`_send_commits`);
    its answer. ``work`` answers ``(job_id, finish)`` for the version bump it owes after the commit (as
    :func:`touch`), or None."""
    return _engine_batchers(engine)[1].submit(None, work, engine)


async def group_commit_async(source: AsyncSource, work: Callable[[Any], Awaitable[tuple[int, bool] | None]]) -> Any:
    """:func:`group_commit` on an event loop: ``work(aconn)`` a coroutine function; ``source`` as for
    :func:`claim_async` (an autocommit ``AsyncConnection`` or a function checking one out)."""
    connection, target = _async_source(source)
    return await _loop_batchers()[1].submit(target, work, connection)


_by_engine: weakref.WeakKeyDictionary[Engine, tuple[_Batcher, _Batcher]] = weakref.WeakKeyDictionary()
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[_AsyncBatcher, _AsyncBatcher]] = (
    weakref.WeakKeyDictionary()
)
_batchers_lock = threading.Lock()


def _engine_batchers(engine: Engine) -> tuple[_Batcher, _Batcher]:
    """The engine's claim batcher and group commit (one each per engine: their requests go to one database)."""
    batchers = _by_engine.get(engine)
    if batchers is None:
        with _batchers_lock:
            batchers = _by_engine.setdefault(
                engine, (_Batcher(_send_claims, CLAIM_BATCH_MAX), _Batcher(_send_commits, COMMIT_BATCH_MAX))
            )
    return batchers


def _loop_batchers() -> tuple[_AsyncBatcher, _AsyncBatcher]:
    """The running event loop's claim batcher and group commit."""
    loop = asyncio.get_running_loop()
    batchers = _by_loop.get(loop)
    if batchers is None:
        batchers = _by_loop.setdefault(
            loop,
            (_AsyncBatcher(_send_claims_async, CLAIM_BATCH_MAX), _AsyncBatcher(_send_commits_async, COMMIT_BATCH_MAX)),
        )
    return batchers


def _engine_batcher(engine: Engine) -> _Batcher:
    """The engine's claim batcher."""
    return _engine_batchers(engine)[0]


def _loop_batcher() -> _AsyncBatcher:
    """The running event loop's claim batcher."""
    return _loop_batchers()[0]


def _leased(conn: Any, task_id: int, node_id: int, now: datetime) -> Any:
    """The task row, locked, when it is live-leased to the node; else :class:`LeaseGone`."""
    row = conn.execute(select(tasks).where(tasks.c.task_id == task_id).with_for_update()).first()
    if row is None or row.node_id != node_id or row.state not in LEASED or row.lease_deadline <= now:
        raise LeaseGone(f"task {task_id} is not leased to this node (expired, reassigned or finished)")
    return row


def task_heartbeat(
    engine: Engine, node_id: int, task_id: int, frames_done: list[int], settings: Settings
) -> tuple[datetime, bool]:
    """Extend the lease; mark the task rendering; answer (new deadline, cancel)."""
    now = utcnow()
    with engine.begin() as conn:
        row = _leased(conn, task_id, node_id, now)
        state = conn.execute(select(jobs.c.state).where(jobs.c.job_id == row.job_id)).scalar_one()
        deadline = now + timedelta(seconds=settings.lease_s)
        conn.execute(
            update(tasks)
            .where(tasks.c.task_id == task_id)
            .values(state="rendering", lease_deadline=deadline, updated_at=now)
        )
        changed = conn.execute(
            update(frames)
            .where(frames.c.task_id == task_id, frames.c.job_id == row.job_id, frames.c.state == "assigned")
            .values(state="rendering", updated_at=now)
        ).rowcount
    if changed:
        touch(engine, row.job_id)
    return deadline, state == "cancelled"


def _requeue(conn: Any, row: Any, now: datetime, settings: Settings, *, failed: bool = False) -> None:
    """Give a leased task back to the queue (or fail its frames after too many attempts); outbox a requeue."""
    job = conn.execute(select(jobs.c.chain_job_id, jobs.c.state).where(jobs.c.job_id == row.job_id)).one()
    chain_job_id = job.chain_job_id
    if job.state == "cancelled":  # the coordinator's close_job requeues it on chain (reason 4)
        conn.execute(
            update(tasks)
            .where(tasks.c.task_id == row.task_id)
            .values(state="cancelled", node_id=None, lease_deadline=None, updated_at=now)
        )
        bump(conn, row.job_id)
        return
    out_of_attempts = failed and row.attempt >= settings.task_max_attempts
    state = "failed" if out_of_attempts else "queued"
    conn.execute(
        update(tasks)
        .where(tasks.c.task_id == row.task_id)
        .values(state=state, node_id=None, lease_deadline=None, updated_at=now)
    )
    conn.execute(
        update(frames)
        .where(frames.c.task_id == row.task_id, frames.c.job_id == row.job_id)
        .values(state="failed" if out_of_attempts else "queued", sha256=None, updated_at=now)
    )
    outbox(conn, "requeue", row, chain_job_id, row.node_id, now)
    bump(conn, row.job_id)


def outbox(conn: Any, kind: str, task: Any, chain_job_id: int, node_id: int | None, due: datetime) -> None:
    """Queue the coordinator's ``kind`` transaction for ``task``'s current attempt (once per kind and attempt)."""
    conn.execute(
        pg_insert(chain_outbox)
        .values(
            kind=kind,
            job_id=task.job_id,
            task_id=task.task_id,
            attempt=task.attempt,
            chain_job_id=chain_job_id,
            chain_task_id=task.seq,
            node_id=node_id,
            status="pending",
            tries=0,
            next_try_at=due,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )


def exclude_node(conn: Any, node_id: int, job_id: int, task_id: int, frame_numbers: list[int] | None = None) -> None:
    """The node may not claim the task again (its result failed verification), nor, with ``frame_numbers``, the
    tasks now rendering those frames again (a dispute over them was upheld: the creator's re-render task)."""
    which = tasks.c.task_id == task_id
    if frame_numbers:
        which = which | tasks.c.task_id.in_(
            select(frames.c.task_id).where(frames.c.job_id == job_id, frames.c.frame.in_(frame_numbers))
        )
    conn.execute(
        update(tasks)
        .where(tasks.c.job_id == job_id, which, literal(node_id) != all_(tasks.c.excluded_nodes))
        .values(excluded_nodes=func.array_append(tasks.c.excluded_nodes, node_id))
    )


def fail_task(engine: Engine, node_id: int, task_id: int, error: str, settings: Settings) -> bool:
    """The node gave up a task: requeue it and count a failure; True when the node is now blocklisted."""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == task_id).with_for_update()).first()
        if row is None or row.node_id != node_id or row.state not in LEASED:
            raise LeaseGone(f"task {task_id} is not leased to this node")
        _requeue(conn, row, now, settings, failed=True)
        cancelled = conn.execute(select(jobs.c.state).where(jobs.c.job_id == row.job_id)).scalar_one() == "cancelled"
        if cancelled:  # stopping for a cancellation is not a failure
            return False
        failures = conn.execute(
            pg_insert(job_node_failures)
            .values(
                job_id=row.job_id,
                node_id=node_id,
                failures=1,
                blocklisted=settings.blocklist_failures <= 1,
                last_error=error[:2000],
            )
            .on_conflict_do_update(
                index_elements=["job_id", "node_id"],
                set_={
                    "failures": job_node_failures.c.failures + 1,
                    "blocklisted": job_node_failures.c.failures + 1 >= settings.blocklist_failures,
                    "last_error": error[:2000],
                },
            )
            .returning(job_node_failures.c.blocklisted)
        ).scalar_one()
        return bool(failures)


class TaskNotFound(LookupError):
    """No such task, or it is leased to another node."""


def release_task(engine: Engine, node_id: int, task_id: int, reason: str, settings: Settings) -> str:
    """The node gives its leased task back at once (e.g. on SIGTERM), not counted as a failure; the task's state.

    The task returns to the queue (``cancelled`` for a cancelled job) and the chain's assignment is requeued
    through the outbox, as for an expired lease; the node's failures on the job do not change."""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == task_id).with_for_update()).first()
        if row is None or (row.node_id is not None and row.node_id != node_id):
            raise TaskNotFound(f"no task {task_id} of this node")
        if row.state not in LEASED:
            raise LeaseGone(f"task {task_id} is {row.state}, not leased to this node: nothing to release")
        _requeue(conn, row, now, settings)
        state = conn.execute(select(tasks.c.state).where(tasks.c.task_id == task_id)).scalar_one()
    log.info("node %s released task %s (job %s): %s", node_id, task_id, row.job_id, reason[:200] or "no reason given")
    return str(state)


def sweep_expired(engine: Engine, settings: Settings, limit: int = 500) -> int:
    """Return tasks whose lease deadline passed to the queue; how many."""
    now = utcnow()
    with engine.begin() as conn:
        rows = conn.execute(
            select(tasks)
            .where(tasks.c.state.in_(LEASED), tasks.c.lease_deadline < now)
            .order_by(tasks.c.lease_deadline)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            _requeue(conn, row, now, settings)
        return len(rows)


def job_finished(conn: Any, job_id: int) -> bool:
    """Mark the job completed once no task is left to render.

    True when only leased tasks are left: they may be finishing in transactions this one cannot see yet, so
    the caller should ``touch(…, finish=True)`` after its commit."""
    queued, leased = conn.execute(
        select(
            select(tasks.c.task_id).where(tasks.c.job_id == job_id, tasks.c.state == "queued").exists(),
            select(tasks.c.task_id).where(tasks.c.job_id == job_id, tasks.c.state.in_(LEASED)).exists(),
        )
    ).one()
    if not queued and not leased:
        conn.execute(
            update(jobs)
            .where(jobs.c.job_id == job_id, jobs.c.state.in_(CLAIMABLE_JOB_STATES))
            .values(state="completed", pause_reason=None)
        )
    return not queued and leased


# ----------------------------------------------------------------------------- the chain outbox


#: escrow abort codes (chain/SPEC.md), for aborts reported without a reason name.
ESCROW_ABORTS = {
    1: "E_ZERO_AMOUNT",
    2: "E_JOB_NOT_FOUND",
    3: "E_NOT_CREATOR",
    4: "E_NOT_COORDINATOR",
    5: "E_JOB_CLOSED",
    6: "E_INSUFFICIENT_ESCROW",
    7: "E_TASK_NOT_FOUND",
    8: "E_BAD_TASK_STATE",
    13: "E_TASKS_IN_FLIGHT",
    14: "E_NODE_NOT_ELIGIBLE",
}


def _abort_name(exc: BaseException) -> str | None:
    """``E_…`` of a Move abort (None for anything else)."""
    if not isinstance(exc, MoveAbortError):
        return None
    if exc.reason:
        return exc.reason if exc.reason.startswith("E_") else "E_" + exc.reason.removeprefix("E")
    return ESCROW_ABORTS.get(exc.code) if exc.module == "escrow" else None


async def _chain_task(chain: Any, chain_job_id: int, chain_task_id: int) -> Any | None:
    """The chain's view of a task (None when it was never assigned)."""
    try:
        return await chain.views.task(chain_job_id, chain_task_id)
    except MoveAbortError as exc:
        if _abort_name(exc) == "E_TASK_NOT_FOUND":
            return None
        raise


async def _apply(chain: Any, coordinator: Any, row: Any) -> str | None:
    """Submit one outbox row unless the chain already shows its effect; the txn hash when one was sent."""
    pay = chain.payloads
    job_id, task_id = int(row.chain_job_id), int(row.chain_task_id)
    if row.kind == "close":
        info = await chain.views.job(job_id)
        if info.closed:
            return None
        result = await chain.submit_and_wait(coordinator, pay.escrow_close_job(job_id))
        return result.hash
    current = await _chain_task(chain, job_id, task_id)
    assigned = current is not None and current.state == CHAIN_ASSIGNED
    if row.kind == "assign":
        if assigned and current.node_id == row.node_id:
            return None  # a previous try went through (its answer was lost): do not assign twice
        payload = pay.escrow_assign_task(job_id, task_id, int(row.node_id), int(row.quote))
    elif row.kind == "unverified":
        if current is not None and current.state == CHAIN_QUEUED and current.attempt == row.attempt:
            return None  # a previous try went through
        # anything but SUBMITTED aborts E_BAD_TASK_STATE (given up); E_NOT_UNVERIFIABLE is retried
        payload = pay.escrow_requeue_unverified(job_id, task_id)
    else:  # requeue
        if not assigned:
            return None
        payload = pay.escrow_requeue_task(job_id, task_id)
    result = await chain.submit_and_wait(coordinator, payload)
    return result.hash


def queue_unverified(conn: Any, task: Any, chain_job_id: int, node_id: int, not_before: datetime) -> None:
    """Outbox the coordinator's ``requeue_unverified`` of a task attempt nobody could verify (no strike).

    The API task stays ``rendered`` until the chain took the result back (:func:`unverified_requeued`), so the
    next attempt's ``assign`` can never reach the chain before it."""
    outbox(conn, "unverified", task, chain_job_id, node_id, max(utcnow(), not_before))


def unverified_requeued(conn: Any, row: Any, settings: Settings) -> None:
    """The chain took back an unverifiable result: the task goes to another worker (no strike, no failure)."""
    now = utcnow()
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).first()
    if task is None or task.state != "rendered" or task.attempt != row.attempt:
        return
    job_state = conn.execute(select(jobs.c.state).where(jobs.c.job_id == task.job_id)).scalar_one()
    if job_state == "cancelled":
        state = "cancelled"
    else:
        state = "failed" if task.attempt >= settings.task_max_attempts else "queued"
    conn.execute(
        update(tasks)
        .where(tasks.c.task_id == task.task_id)
        .values(state=state, node_id=None, lease_deadline=None, updated_at=now)
    )
    conn.execute(
        update(frames)
        .where(frames.c.task_id == task.task_id, frames.c.job_id == task.job_id)
        .values(state="failed" if state == "failed" else "queued", sha256=None, updated_at=now)
    )
    exclude_node(conn, int(row.node_id), task.job_id, task.task_id)  # another worker renders it
    bump(conn, task.job_id, **({"state": "active"} if job_state == "completed" else {}))
    log.warning(
        "task %s attempt %s (worker node %s): the chain requeued the unverifiable result (%s/%s, no strike); %s",
        task.task_id,
        task.attempt,
        row.node_id,
        row.chain_job_id,
        row.chain_task_id,
        "frames failed after the last attempt" if state == "failed" else f"task {state}",
    )


def _give_up_assignment(conn: Any, row: Any, reason: str, now: datetime, settings: Settings) -> None:
    """The chain refused an assignment: the task goes back to the queue; an uncovered quote pauses the job."""
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).first()
    if task is not None and task.attempt == row.attempt and task.state in LEASED:
        conn.execute(
            update(tasks)
            .where(tasks.c.task_id == task.task_id)
            .values(state="queued", node_id=None, lease_deadline=None, updated_at=now)
        )
        conn.execute(
            update(frames)
            .where(frames.c.task_id == task.task_id, frames.c.job_id == task.job_id)
            .values(state="queued", updated_at=now)
        )
    if reason == "E_INSUFFICIENT_ESCROW":
        conn.execute(
            update(jobs)
            .where(jobs.c.job_id == row.job_id, jobs.c.state == "active")
            .values(state="paused", pause_reason="the escrow cannot cover the next task's quote; top it up")
        )
    bump(conn, row.job_id)


async def process_outbox(engine: Engine, chain: Any, coordinator: Any, settings: Settings, limit: int = 50) -> int:
    """Submit due outbox rows in order (one task's rows strictly in sequence); how many were settled."""
    now = utcnow()
    earlier = chain_outbox.alias("earlier")
    with engine.connect() as conn:
        rows = conn.execute(
            select(chain_outbox)
            .where(
                chain_outbox.c.status == "pending",
                chain_outbox.c.next_try_at <= now,
                ~select(earlier.c.id)
                .where(
                    earlier.c.job_id == chain_outbox.c.job_id,
                    earlier.c.task_id == chain_outbox.c.task_id,
                    earlier.c.status == "pending",
                    earlier.c.id < chain_outbox.c.id,
                )
                .exists(),
            )
            .order_by(chain_outbox.c.id)
            .limit(limit)
        ).all()
    settled = 0
    for row in rows:
        try:
            txn_hash = await _apply(chain, coordinator, row)
        except (ChainError, OSError, TimeoutError, httpx.HTTPError) as exc:
            reason = _abort_name(exc)
            with engine.begin() as conn:
                if reason in FINAL_ABORTS:
                    conn.execute(
                        update(chain_outbox)
                        .where(chain_outbox.c.id == row.id)
                        .values(status="rejected", tries=row.tries + 1, last_error=f"{reason}: {exc}"[:2000])
                    )
                    if row.kind == "assign":
                        _give_up_assignment(conn, row, reason or "", utcnow(), settings)
                    settled += 1
                else:
                    delay = min(60.0, settings.scheduler_interval_s * 2 ** min(row.tries, 5))
                    conn.execute(
                        update(chain_outbox)
                        .where(chain_outbox.c.id == row.id)
                        .values(
                            tries=row.tries + 1,
                            last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
                            next_try_at=utcnow() + timedelta(seconds=delay),
                        )
                    )
                log.warning(
                    "chain outbox %s %s (job %s task %s): %s",
                    row.kind,
                    "rejected" if reason in FINAL_ABORTS else "will retry",
                    row.job_id,
                    row.task_id,
                    exc,
                )
            continue
        with engine.begin() as conn:
            conn.execute(
                update(chain_outbox)
                .where(chain_outbox.c.id == row.id)
                .values(status="done", tries=row.tries + 1, txn_hash=txn_hash, last_error=None)
            )
            if row.kind == "unverified":
                unverified_requeued(conn, row, settings)
        settled += 1
    return settled


def queue_close(conn: Any, job_id: int, chain_job_id: int) -> None:
    """Outbox the coordinator's ``close_job`` (refunds the rest to the creator's vault)."""
    now = utcnow()
    conn.execute(
        pg_insert(chain_outbox)
        .values(
            kind="close",
            job_id=job_id,
            task_id=0,
            attempt=0,
            chain_job_id=chain_job_id,
            chain_task_id=0,
            status="pending",
            tries=0,
            next_try_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )


def pending_outbox(engine: Engine) -> int:
    """Rows still to submit (tests, metrics)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(chain_outbox).where(chain_outbox.c.status == "pending")
            ).scalar_one()
        )


async def background_loop(app: Any) -> None:
    """The API's scheduler task: sweep expired leases and drain the outbox every ``scheduler_interval_s``."""
    from starlette.concurrency import run_in_threadpool

    from api.auth import get_app_settings

    class _Req:  # get_app_settings reads request.app
        def __init__(self, app: Any) -> None:
            self.app = app

    from api.audit import get_chain, get_engine

    while True:
        request = _Req(app)
        settings = get_app_settings(request)  # type: ignore[arg-type]
        try:
            engine = get_engine(request)  # type: ignore[arg-type]
            await run_in_threadpool(sweep_expired, engine, settings)
            from api.jobs import refresh_pending

            await run_in_threadpool(refresh_pending, engine, settings)
            coordinator = coordinator_key(app, settings)
            if coordinator is not None:
                await process_outbox(engine, get_chain(request), coordinator, settings)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the loop must survive a database or chain hiccup
            log.exception("scheduler background pass failed")
        await wait_for_kick(app, settings.scheduler_interval_s)


def kick(app: Any) -> None:
    """Wake the background task now (a claim just wrote an assignment to the outbox)."""
    event = getattr(app.state, "scheduler_kick", None)
    if event is not None:
        event.set()


async def wait_for_kick(app: Any, timeout: float) -> None:
    """Sleep ``timeout`` seconds or until :func:`kick`."""
    event = getattr(app.state, "scheduler_kick", None)
    if event is None:
        event = app.state.scheduler_kick = asyncio.Event()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()


def coordinator_key(app: Any, settings: Settings) -> Any | None:
    """The coordinator account (``app.state.coordinator``, else the settings' keys; None when absent)."""
    key = getattr(app.state, "coordinator", None)
    if key is None:
        try:
            from chain.keys import load_settings_keys

            key = app.state.coordinator = load_settings_keys(settings).coordinator
        except Exception:  # noqa: BLE001 - no keys configured: the outbox waits
            return None
    return key
