"""Scheduler benchmark: concurrent simulated workers claiming and completing tasks on PostgreSQL.

A fresh embedded PostgreSQL in a temporary directory is migrated; active jobs (linked to mirror escrow rows,
as the indexer would write them) totalling ``tasks`` one-frame tasks are inserted in bulk, ``workers`` nodes
record a heartbeat, then one simulated worker per node loops: the API's claim core (``api.scheduler``'s
``claim_async`` / ``claim_on``: the statement of ``POST /nodes/claim`` minus HTTP, the claim and the job's
version bump in one round trip) → a simulated render (``render_ms`` of sleep, no connection held) → mark the
task rendered, until nothing is left; each worker comes online at a random instant within the first
``render_ms``. The completion is one statement doing the database writes of
``/tasks/{id}/complete`` (``api.node_tasks.complete_task``) without its signature and upload checks (and without
SQLAlchemy), then the job's version bump (``api.scheduler.touch``'s statement). Claims and completions are
batched as the API batches them (revision 0012): claims made while a batch of claims is in flight go out
together in the next (``claim_async`` with a connection source), completions made while one is in flight
share the next transaction and its commit (``group_commit_async``); no timer, and only the task sending a
batch checks out a connection (``claims_per_batch``, ``largest_batch``, ``completions_per_batch``: how they
went out; the threads driver claims and completes alone, through ``claim_on``). The workers are asyncio tasks
(``--driver threads``: threads) spread over ``processes`` processes (as the API runs several workers: one
Python process's GIL would be the ceiling); each process serves them first come first served through
``connections / processes`` psycopg connections in autocommit mode, as an API's request handlers would its
pool (the SQLAlchemy pool's checkout is left out); a claim's latency includes the waits for its batch and for
a connection. The chain outbox is never drained (no chain). Double claims are counted afterwards from the database: tasks with more than
one ``assign`` outbox row or lease attempt, and frames not rendered exactly once. The JSON also gives the
CPU per claim (with its completion) of the workers' processes and of PostgreSQL, which does not depend on
what else the machine runs (the machine's load still moves the throughput and latencies).

What the figures mean. ``claims_per_s`` is claims (each with its completion) over the wall time of the run;
``p50_claim_ms`` / ``p99_claim_ms`` are the latencies of the claim calls alone, the wait for a pooled connection
included; ``double_claims`` is counted from the database afterwards. The default ``render_ms`` (20 ms) stands
for a render between claim and completion: a real frame renders for seconds to minutes, so 20 ms is still a
hundred times shorter than any real one, and 200 workers each claiming every 20 ms ask for up to 10,000
claims/s, five times the 2,000/s target: the scheduler is still driven at saturation. With ``render_ms`` 0
(the stress figure) every worker claims again the instant it completes, so by Little's law a claim and its
completion together take 200 workers ÷ throughput on average whatever the scheduler does (100 ms at 2,000/s):
that run measures throughput, and its latencies mostly restate it.

    python -m bench.scheduler [--tasks 10000] [--workers 200] [--render-ms 20] [--processes 2] [--connections 16]
                              [--driver D]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, insert, select, text

from api import scheduler
from indexer import schema as mirror
from pictor.db import libpq_url, sqlalchemy_url, start_embedded, stop_embedded, upgrade
from pictor.settings import Settings
from protocol.render_spec import parse_job_spec
from tables.jobs import chain_outbox, frames, jobs, tasks
from tables.state_machine import touch_statement
from tables.uploads import blobs, uploads

TASKS_PER_JOB = 200
#: Simulated render time between a claim and its completion (see the module docstring for why 20 ms).
RENDER_MS = 20.0
OPERATOR = "0x" + "0a" * 32
CREATOR = "0x" + "c1" * 32
#: A small CPU Cycles job (the tests' settings); ``frames`` is set per job.
JOB_SETTINGS = {
    "frames_per_node": 1,
    "resolution": "custom",
    "resolution_x": 64,
    "resolution_y": 64,
    "samples": 16,
    "engine": "cycles",
    "device": "CPU",
}


def _telemetry() -> dict[str, Any]:
    """A CPU node's heartbeat telemetry (as protocol.telemetry builds it)."""
    return {"cpu": {"model": "Bench CPU", "ram_total_mb": 32768}, "gpus": [], "multiplier": 1.0, "location": "europe"}


def _populate(engine: Any, n_tasks: int, workers: int) -> int:
    """Insert an upload, jobs with their tasks, frames and mirror escrows, and the nodes' heartbeats; job count."""
    now = scheduler.utcnow()
    sha = "ab" * 32
    n_jobs = 0
    with engine.begin() as conn:
        conn.execute(insert(blobs).values(sha256=sha, size=100, created_at=now))
        conn.execute(
            insert(uploads).values(
                upload_id="b" * 32,
                owner=CREATOR,
                blob_sha256=sha,
                kind="blend",
                compression="none",
                filename="scene.blend",
                size=100,
                created_at=now,
            )
        )
        left = n_tasks
        while left > 0:
            count = min(TASKS_PER_JOB, left)
            left -= count
            n_jobs += 1
            cfg = parse_job_spec({**JOB_SETTINGS, "frames": f"1-{count}"}).model_dump(mode="json")
            conn.execute(
                insert(mirror.jobs).values(
                    job_id=n_jobs,
                    creator=CREATOR,
                    store="0x" + "ee" * 32,
                    budget=10**15,
                    credit_in=0,
                    spent=0,
                    reserved=0,
                    price_per_minute=50_000,
                    closed=False,
                    opened_version=1,
                    last_version=1,
                )
            )
            job_id = conn.execute(
                insert(jobs)
                .values(
                    owner=CREATOR,
                    upload_id="b" * 32,
                    settings=cfg,
                    state="active",
                    priority=50,
                    price_per_minute=50_000,
                    budget=10**15,
                    estimate={},
                    chain_job_id=n_jobs,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(jobs.c.job_id)
            ).scalar_one()
            rows = conn.execute(
                insert(tasks).returning(tasks.c.task_id, tasks.c.seq),
                [
                    {
                        "job_id": job_id,
                        "seq": i,
                        "frames": [i],
                        "state": "queued",
                        "priority": 0,
                        "attempt": 0,
                        "ref_minutes": 0.5,
                        "updated_at": now,
                    }
                    for i in range(1, count + 1)
                ],
            ).all()
            conn.execute(
                insert(frames),
                [
                    {"job_id": job_id, "frame": seq, "task_id": task_id, "state": "queued", "updated_at": now}
                    for task_id, seq in rows
                ],
            )
    for node in range(1, workers + 1):
        scheduler.record_heartbeat(engine, node, OPERATOR, _telemetry(), "bench")
    return n_jobs


#: The database writes of ``POST /tasks/{id}/complete`` (``api.node_tasks.complete_task`` minus the signature and
#: upload checks) as one statement: the live-lease check of ``api.scheduler.leased_task`` (row locked), the frames
#: and the task rendered, and the job completed when no other task is left (``tables.state_machine.finish_job``,
#: answering whether to look again after the commit).
_COMPLETE = """
WITH lease AS (
    SELECT task_id, job_id FROM api.tasks
    WHERE task_id = %(task_id)s AND node_id = %(node_id)s AND state IN ('assigned', 'rendering')
      AND lease_deadline > %(now)s
    FOR UPDATE
), rendered_frames AS (
    UPDATE api.frames AS f SET state = 'rendered', render_seconds = 1.0, width = 64, height = 64, format = 'PNG',
        sha256 = %(sha256)s, rendered_at = %(now)s, updated_at = %(now)s
    FROM lease WHERE f.job_id = lease.job_id AND f.task_id = lease.task_id
), rendered_task AS (
    UPDATE api.tasks AS t SET state = 'rendered', lease_deadline = NULL, completed_at = %(now)s, updated_at = %(now)s
    FROM lease WHERE t.task_id = lease.task_id
    RETURNING t.job_id
), finished AS (
    UPDATE api.jobs AS j SET state = 'completed', pause_reason = NULL
    FROM lease WHERE j.job_id = lease.job_id AND j.state IN ('active', 'paused') AND NOT EXISTS (
        SELECT 1 FROM api.tasks AS o WHERE o.job_id = lease.job_id AND o.task_id <> lease.task_id
          AND o.state IN ('queued', 'assigned', 'rendering'))
)
SELECT r.job_id, NOT EXISTS (SELECT 1 FROM api.tasks AS o WHERE o.job_id = r.job_id AND o.state = 'queued')
    AND EXISTS (SELECT 1 FROM api.tasks AS o WHERE o.job_id = r.job_id AND o.task_id <> %(task_id)s
                AND o.state IN ('assigned', 'rendering')) AS recheck
FROM rendered_task AS r
"""

def _complete(driver: Any, node_id: int, task_id: int) -> None:
    """Complete a leased task (``_COMPLETE``, committed), then bump the job's version (``api.scheduler.touch``).

    ``driver`` is a psycopg connection in autocommit mode: two autocommit statements, not one pipeline: in
    pipeline mode statements up to the next Sync share one implicit transaction, and the bump must come after
    the completion's own (synchronous) commit."""
    params = {"task_id": task_id, "node_id": node_id, "now": scheduler.utcnow(), "sha256": "cd" * 32}
    row = driver.execute(_COMPLETE, params, prepare=True).fetchone()
    if row is None:
        raise scheduler.LeaseGone(f"task {task_id} is not leased to node {node_id}")
    driver.execute(*touch_statement(row[0], scheduler.utcnow(), finish=row[1]), prepare=True)  # as touch()


async def _complete_unit(node_id: int, task_id: int, aconn: Any) -> tuple[int, bool]:
    """:func:`_complete`'s statement as a unit of ``api.scheduler.group_commit_async`` (which commits it with the
    completions made beside it, then bumps the job's version); the bump it owes."""
    params = {"task_id": task_id, "node_id": node_id, "now": scheduler.utcnow(), "sha256": "cd" * 32}
    row = await (await aconn.execute(_COMPLETE, params, prepare=True)).fetchone()
    if row is None:
        raise scheduler.LeaseGone(f"task {task_id} is not leased to node {node_id}")
    return row[0], row[1]


def _start_offset_s(node: int, render_ms: float) -> float:
    """When a worker comes online: at a random instant (fixed per node) within the first ``render_ms``.

    A fleet does not come online in one millisecond; started together, workers with one render time would
    stay in step, claiming in waves of all 200 at once. With ``render_ms`` 0 they all start at once."""
    return random.Random(node).uniform(0, render_ms / 1000)


def _double_claims(engine: Any) -> dict[str, int]:
    """Independent check from the database: tasks leased more than once, frames rendered not exactly once."""
    with engine.connect() as conn:
        multi_assign = conn.execute(
            select(func.count()).select_from(
                select(chain_outbox.c.task_id)
                .where(chain_outbox.c.kind == "assign")
                .group_by(chain_outbox.c.task_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        multi_attempt = conn.execute(select(func.count()).select_from(tasks).where(tasks.c.attempt > 1)).scalar_one()
        rendered = conn.execute(select(func.count()).select_from(tasks).where(tasks.c.state == "rendered")).scalar_one()
        frames_rendered = conn.execute(
            select(func.count()).select_from(frames).where(frames.c.state == "rendered")
        ).scalar_one()
        assigns = conn.execute(
            select(func.count()).select_from(chain_outbox).where(chain_outbox.c.kind == "assign")
        ).scalar_one()
        completed = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.state == "completed")).scalar_one()
    return {
        "double_claims": int(max(multi_assign, multi_attempt)),
        "tasks_rendered_db": int(rendered),
        "frames_rendered_db": int(frames_rendered),
        "assign_rows_db": int(assigns),
        "jobs_completed_db": int(completed),
    }


class _FifoPool:
    """Connections handed out strictly first come first served (a connection goes straight to the oldest waiter).

    Stands for the API's request threads in front of its connection pool: a pool's own queue lets a thread
    that just gave a connection back take it again at once, which starves some workers for seconds."""
    def __init__(self, conns: list[Any]) -> None:
        self._free = list(conns)
        self._lock = threading.Lock()
        self._waiters: deque[tuple[threading.Event, list[Any]]] = deque()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        with self._lock:
            if self._free and not self._waiters:
                conn = self._free.pop()
            else:
                turn: tuple[threading.Event, list[Any]] = (threading.Event(), [])
                self._waiters.append(turn)
                conn = None
        if conn is None:
            turn[0].wait()
            conn = turn[1][0]
        try:
            yield conn
        finally:
            with self._lock:
                if self._waiters:
                    event, slot = self._waiters.popleft()
                    slot.append(conn)
                    event.set()
                else:
                    self._free.append(conn)


def _worker_process(
    url: str, nodes: list[int], connections: int, settings: Any, barrier: Any, results: Any, render_ms: float
) -> None:
    """One process of simulated workers: a thread per node loops claim → complete until nothing is left."""

    logging.getLogger("api.scheduler").setLevel(logging.ERROR)
    conns = [psycopg.connect(libpq_url(url), autocommit=True) for _ in range(connections)]
    pool = _FifoPool(conns)
    latencies: list[list[float]] = [[] for _ in nodes]
    done = [0] * len(nodes)
    errors: list[str] = []
    ready = threading.Barrier(len(nodes) + 1)

    def worker(index: int) -> None:
        node = nodes[index]
        lat = latencies[index]
        try:
            ready.wait()
            time.sleep(_start_offset_s(node, render_ms))
            while True:
                t0 = time.perf_counter()
                with pool.connection() as conn:  # the wait for a connection is part of the claim's latency
                    lease = scheduler.claim_on(conn, node, settings)
                lat.append(time.perf_counter() - t0)
                if lease is None:
                    return
                if render_ms > 0:
                    time.sleep(render_ms / 1000)  # the render: no connection held
                with pool.connection() as conn:
                    _complete(conn, node, lease["task_id"])
                done[index] += 1
        except Exception as exc:  # noqa: BLE001 - reported in the result
            errors.append(f"node {node}: {exc.__class__.__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(nodes))]
    try:
        for t in threads:
            t.start()
        barrier.wait()  # every process ready: start together
        ready.wait()
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
        cpu = time.process_time()
        for t in threads:
            t.join()
        end = time.perf_counter()
        cpu = time.process_time() - cpu
    finally:
        for conn in conns:
            conn.close()
    results.put(
        {
            "start": start,
            "end": end,
            "cpu_s": cpu,
            "claims": sum(done),
            "latencies": [x for lat in latencies for x in lat],
            "errors": errors,
        }
    )


class _AsyncFifoPool:
    """Connections handed out strictly first come first served (as :class:`_FifoGate`, for asyncio tasks).

    ``asyncio.Queue`` lets the task that just put a connection back take it again before the waiter it woke."""
    def __init__(self, conns: list[Any]) -> None:
        self._free = list(conns)
        self._waiters: deque[asyncio.Future[Any]] = deque()

    async def get(self) -> Any:
        if self._free and not self._waiters:
            return self._free.pop()
        turn: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        return await turn

    def put(self, conn: Any) -> None:
        if self._waiters:
            self._waiters.popleft().set_result(conn)
        else:
            self._free.append(conn)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection for the block (what ``claim_async`` / ``group_commit_async`` check out to send a batch)."""
        conn = await self.get()
        try:
            yield conn
        finally:
            self.put(conn)


def _async_worker_process(
    url: str, nodes: list[int], connections: int, settings: Any, barrier: Any, results: Any, render_ms: float
) -> None:
    """One process of simulated workers as asyncio tasks sharing ``connections`` async connections."""

    logging.getLogger("api.scheduler").setLevel(logging.ERROR)
    latencies: list[float] = []
    errors: list[str] = []
    batches: Counter[int] = Counter()
    commits: Counter[int] = Counter()

    async def main() -> tuple[float, float, int]:
        conns = [await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) for _ in range(connections)]
        pool = _AsyncFifoPool(conns)
        done = 0

        async def worker(node: int) -> None:
            nonlocal done
            try:
                await asyncio.sleep(_start_offset_s(node, render_ms))
                while True:
                    t0 = time.perf_counter()
                    # batched as the API's claims are: only the task sending a batch checks out a connection;
                    # the waits for the batch and for the connection are part of the claim's latency
                    lease = await scheduler.claim_async(pool.connection, node, settings)
                    latencies.append(time.perf_counter() - t0)
                    if lease is None:
                        return
                    if render_ms > 0:
                        await asyncio.sleep(render_ms / 1000)  # the render: no connection held
                    # group-committed as the API's completions are (only the sender checks out a connection)
                    await scheduler.group_commit_async(pool.connection, partial(_complete_unit, node, lease["task_id"]))
                    done += 1
            except Exception as exc:  # noqa: BLE001 - reported in the result
                errors.append(f"node {node}: {exc.__class__.__name__}: {exc}")

        await asyncio.to_thread(barrier.wait)  # every process ready: start together
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
        cpu = time.process_time()
        await asyncio.gather(*(worker(n) for n in nodes))
        end = time.perf_counter()
        cpu = time.process_time() - cpu
        batches.update(scheduler.loop_claim_batcher().sizes)  # the batches the claims went out in
        commits.update(scheduler.loop_commit_batcher().sizes)  # and the completions
        for conn in conns:
            await conn.close()
        return start, end, cpu, done

    start, end, cpu, claims = asyncio.run(main())
    results.put(
        {
            "start": start,
            "end": end,
            "cpu_s": cpu,
            "claims": claims,
            "latencies": latencies,
            "errors": errors,
            "batches": dict(batches),
            "commits": dict(commits),
        }
    )


def _run(
    url: str,
    n_tasks: int,
    workers: int,
    processes: int,
    connections: int,
    settings: Any,
    driver: str = "asyncio",
    render_ms: float = RENDER_MS,
) -> dict[str, Any]:

    setup = create_engine(sqlalchemy_url(url), future=True)
    try:
        max_conn = int(setup.connect().execute(text("SHOW max_connections")).scalar_one())
        n_jobs = _populate(setup, n_tasks, workers)
    finally:
        setup.dispose()
    processes = max(1, min(processes, workers))
    connections = max(processes, min(connections, workers, max_conn - 10))
    # The simulated workers run in several processes (the API itself runs several): one Python process's GIL
    # would be the bottleneck long before PostgreSQL is. Each process has its own pool; nodes are dealt round.
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_async_worker_process if driver == "asyncio" else _worker_process,
            daemon=True,
            args=(
                url,
                list(range(p + 1, workers + 1, processes)),
                max(1, connections // processes),
                settings,
                barrier,
                results,
                render_ms,
            ),
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    server_cpu = _server_cpu_s(url)
    parts = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(60)
    elapsed = max(p["end"] for p in parts) - min(p["start"] for p in parts)
    time.sleep(0.5)  # the workers' backends exit once their connections close: let the postmaster reap them
    server_cpu = _server_cpu_s(url) - server_cpu  # exited backends' time is the postmaster's now
    engine = create_engine(sqlalchemy_url(url), future=True)
    try:
        checks = _double_claims(engine)
    finally:
        engine.dispose()
    claims = sum(p["claims"] for p in parts)
    errors = [e for p in parts for e in p["errors"]]
    batches: Counter[int] = Counter()
    commits: Counter[int] = Counter()
    for p in parts:
        batches.update(p.get("batches", {}))
        commits.update(p.get("commits", {}))
    ms = sorted(x * 1000 for p in parts for x in p["latencies"])  # every claim call, the final empty ones too

    def pct(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(q * len(ms)))], 2) if ms else 0.0

    return {
        "claims_per_s": round(claims / elapsed, 1),
        "p99_claim_ms": pct(0.99),
        "double_claims": checks["double_claims"],
        "render_ms": render_ms,
        "tasks": n_tasks,
        "workers": workers,
        "claims": claims,
        "elapsed_s": round(elapsed, 2),
        "p50_claim_ms": pct(0.50),
        "max_claim_ms": pct(1.0),
        "jobs": n_jobs,
        "processes": processes,
        "connections": connections,
        "driver": driver,
        # the claim calls over the batches they went out in (asyncio driver; the threads driver claims alone)
        "claims_per_batch": round(sum(k * v for k, v in batches.items()) / batches.total(), 2) if batches else None,
        "largest_batch": max(batches, default=None),
        "completions_per_batch": (
            round(sum(k * v for k, v in commits.items()) / commits.total(), 2) if commits else None
        ),
        # CPU per claim (and its completion), whatever else the machine runs: the simulated workers' processes
        # over the run, and PostgreSQL's (server processes and exited backends) from the setup's end to here.
        "worker_cpu_ms_per_claim": round(sum(p["cpu_s"] for p in parts) * 1000 / max(1, claims), 3),
        "server_cpu_ms_per_claim": round(server_cpu * 1000 / max(1, claims), 3) if server_cpu >= 0 else None,
        "max_connections": max_conn,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        **{k: v for k, v in checks.items() if k != "double_claims"},
    }


def _server_cpu_s(url: str) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster with its exited children (-1 if unknown)."""


    try:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            pgdata = conn.execute("SHOW data_directory").fetchone()[0]
        pid = int((Path(pgdata) / "postmaster.pid").read_text().split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError, psycopg.Error):
        return -1.0
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the command name
    return sum(int(x) for x in stat[11:15]) / os.sysconf("SC_CLK_TCK")


def _allow_connections(url: str, n: int) -> None:
    """Raise the server's max_connections to ``n`` (one connection per worker; needs a restart)."""
    eng = create_engine(sqlalchemy_url(url), future=True, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text(f"ALTER SYSTEM SET max_connections = {int(n)}"))
    finally:
        eng.dispose()


def run_bench(
    tasks: int = 10_000,
    workers: int = 200,
    processes: int = 2,
    connections: int = 16,
    driver: str = "asyncio",
    render_ms: float | None = None,
) -> dict[str, Any]:
    """Run the benchmark on a fresh embedded PostgreSQL; returns claims_per_s, p99_claim_ms, double_claims…

    ``render_ms`` None: :data:`RENDER_MS`."""
    render_ms = RENDER_MS if render_ms is None else render_ms
    if render_ms < 0:
        raise ValueError(f"render_ms must be at least 0, not {render_ms}")

    logging.getLogger("api.scheduler").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="pictor-bench-sched-") as tmp:
        pgdata = Path(tmp) / "pgdata"
        try:
            url = start_embedded(pgdata, "pictor_bench")
            _allow_connections(url, workers + 20)
            stop_embedded(pgdata)  # max_connections takes effect on restart
            url = start_embedded(pgdata, "pictor_bench")
            upgrade(url)
            # No chain: the outbox is never drained (as the tests' scheduler_background=False).
            settings = Settings(data_dir=Path(tmp) / "data", scheduler_background=False)  # type: ignore[call-arg]
            return _run(url, tasks, workers, processes, connections, settings, driver, render_ms)
        finally:
            stop_embedded(pgdata)


def main() -> None:
    """Command line: run the benchmark and print the result (JSON on the last line)."""
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument(
        "--render-ms", type=float, default=RENDER_MS, help="simulated render between claim and completion (0: stress)"
    )
    parser.add_argument("--processes", type=int, default=2, help="processes the workers' threads are spread over")
    parser.add_argument("--connections", type=int, default=16, help="database connections of all processes together")
    parser.add_argument(
        "--driver", choices=("asyncio", "threads"), default="asyncio", help="workers as asyncio tasks or threads"
    )
    args = parser.parse_args()
    if args.render_ms < 0:
        parser.error("--render-ms must be at least 0")
    print(
        json.dumps(run_bench(args.tasks, args.workers, args.processes, args.connections, args.driver, args.render_ms))
    )


if __name__ == "__main__":
    main()
