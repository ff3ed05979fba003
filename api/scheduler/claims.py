"""Claims: a node leases the best matching queued task in one database transaction.

The candidate jobs (active or paused, escrow linked, node not blocklisted) in job priority order are matched
against the node's last heartbeat (engine, device, GPU vendor/model/count/VRAM, RAM, location, tier); the first
queued task of the first matching job is taken with ``SELECT … FOR UPDATE SKIP LOCKED`` (concurrent claims never
get one task), leased, and an ``assign`` row is written to the chain outbox in the same transaction — all in one
call of the SQL function ``api.claim_task`` (revision 0009). Only task rows are locked; the job's ``version`` is
bumped right after the commit, so claims of one job do not queue; ``api.claim_lease`` (revision 0011) runs the
claim, its commit and the bump in one round trip. Claims made side by side are batched
(:mod:`api.scheduler.batching`): ``api.claim_leases`` (revision 0012) runs ``api.claim_task`` for each in one
transaction; each claim gets what it would have got alone. The quote and the escrow check are those of
:mod:`api.scheduler.matching`; a job that cannot cover the next quote is paused until a claim finds the escrow
topped up. A node in a task's ``excluded_nodes`` does not get that task again.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, func, select

from api.scheduler.batching import (
    AsyncBatcher,
    AsyncSource,
    Batcher,
    Waiting,
    async_source,
    engine_batcher,
    loop_batcher,
)
from api.scheduler.matching import fact_values, node_facts, trusted_operators
from indexer import schema as mirror
from pictor.db import driver_connection
from pictor.settings import Settings
from tables.jobs import chain_outbox, node_status


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


#: A claim is one CALL of ``api.claim_lease`` (revision 0011), sent on an autocommit connection: a call of
#: ``api.claim_task`` (revision 0009; its comment there says what it does: matching, the task lock (``FOR
#: UPDATE SKIP LOCKED``), the escrow check with the exact quote (``api.task_quote`` = :func:`task_quote`),
#: pause/resume, the lease, its frames and the ``assign`` outbox row), committed, then the job's version bump
#: (:data:`tables.state_machine.TOUCH`) in its own transaction, all in one round trip. The job conditions are :func:`mismatch` in
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


#: A step of a claim: the statement to run and its parameters; the step is sent the statement's first row.
Step = tuple[str, Any]


def _claim_steps(
    node_id: int, settings: Settings, max_frames: int | None
) -> Generator[Step, Any, dict[str, Any] | None]:
    """A claim as the statements it runs, for a sync or an async connection alike (:func:`claim`,
    :func:`claim_async`); returns the lease (None when nothing matches)."""
    margin_num, margin_den = float(settings.quote_margin).as_integer_ratio()
    for _ in range(2):
        now = datetime.now(UTC)
        deadline = now + timedelta(seconds=settings.lease_s)
        row = yield (
            _CLAIM,
            (
                node_id,
                max_frames,
                settings.tier2_min_multiplier,
                trusted_operators(tuple(settings.trusted_operators)),
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
        yield _STORE_FACTS, {**fact_values(node_facts(telemetry, operator)), "node_id": node_id}
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

    Claims of one engine made side by side go out together (:class:`Batcher`): the thread that sends a
    batch checks out the one connection it needs."""
    batcher = claim_batcher(engine)
    connection = partial(driver_connection, engine)

    def execute(sql: str, params: Any) -> Any:
        if sql is _CLAIM:
            return batcher.submit(_claim_key(params, None), params, connection)
        with connection() as driver:  # the rare "no facts" steps
            return _fetch(driver, sql, params)

    return _run_steps(_claim_steps(node_id, settings, max_frames), execute)


def claim_on(driver: Any, node_id: int, settings: Settings, max_frames: int | None = None) -> dict[str, Any] | None:
    """:func:`claim` on a psycopg connection in autocommit mode, alone (not batched)."""
    return _run_steps(_claim_steps(node_id, settings, max_frames), partial(_fetch, driver))


async def claim_async(
    source: AsyncSource, node_id: int, settings: Settings, max_frames: int | None = None
) -> dict[str, Any] | None:
    """:func:`claim` for asyncio: claims made side by side on one event loop go out together
    (:class:`_AsyncBatcher`)."""
    connection, target = async_source(source)
    batcher = loop_claim_batcher()
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


#: Most claims one batch sends; claims beyond it wait for the next batch.
CLAIM_BATCH_MAX = 32


#: Several claims in one round trip: ``api.claim_leases`` (revision 0012) runs ``api.claim_task`` for each in one
#: transaction, commits once, then bumps each leased job's version once (as ``api.claim_lease`` does for one).
_CLAIMS = (
    "CALL api.claim_leases(CAST(%s AS bigint[]), CAST(%s AS integer[]), CAST(%s AS float8), CAST(%s AS text[]),"
    " CAST(%s AS timestamptz[]), CAST(%s AS timestamptz[]), CAST(%s AS numeric), CAST(%s AS numeric),"
    " CAST(%s AS numeric))"
)


def _claim_key(params: Any, target: Any) -> Any:
    """Claims share a batch only when they go to the same database with the same settings' figures."""
    return (target, params[2], tuple(params[3]), params[6], params[7], params[8])


def _statement(batch: list[Waiting]) -> Step:
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


def _answer(batch: list[Waiting], row: Any) -> None:
    """Hand each claim of the batch its row (``_CLAIM``'s columns)."""
    rows = [tuple(row)] if len(batch) == 1 else [tuple(lease) for lease in row[0]]
    for waiting, lease in zip(batch, rows, strict=True):
        waiting.row = lease


def _send_claims(batch: list[Waiting], connection: Any) -> None:
    sql, params = _statement(batch)
    with connection() as driver:
        _answer(batch, driver.execute(sql, params, prepare=True, binary=True).fetchone())


async def _send_claims_async(batch: list[Waiting], connection: Any) -> None:
    sql, params = _statement(batch)
    async with connection() as aconn:
        cur = await aconn.execute(sql, params, prepare=True, binary=True)
        _answer(batch, await cur.fetchone())


def claim_batcher(engine: Engine) -> Batcher:
    """The engine's claim batcher (its ``sizes`` count the batches sent by size)."""
    return engine_batcher(engine, "claims", _send_claims, CLAIM_BATCH_MAX)


def loop_claim_batcher() -> AsyncBatcher:
    """The running event loop's claim batcher."""
    return loop_batcher("claims", _send_claims_async, CLAIM_BATCH_MAX)
