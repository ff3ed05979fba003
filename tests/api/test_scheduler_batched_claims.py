"""Batched claims on a real PostgreSQL (revision 0012, ``api.scheduler``'s claim batchers): claims made side by
side go out together yet each gets what it would have got alone, never a task another got; a lone claim goes out
at once; a failed batch fails its own claims only; the migration goes down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, pool, select, text, update

from api import jobs as jobs_api
from api import scheduler
from pictor.db import alembic_config, get_engine, libpq_url, sqlalchemy_url, upgrade
from pictor.settings import Settings
from tables.jobs import chain_outbox, jobs, tasks
from tables.state_machine import exclude_node
from tests.support.api import make_settings
from tests.support.jobs import CREATOR, SMALL, activate, make_upload, telemetry

OPERATOR = "0x" + "0a" * 32


@pytest.fixture
def env(db_url: str, tmp_path: Path):
    engine = get_engine(db_url)
    settings = make_settings(tmp_path, scheduler_background=False)
    yield engine, settings, db_url
    engine.dispose()


def new_job(engine: Engine, settings: Settings, chain_job_id: int, /, **overrides: Any) -> int:
    body = jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR), settings={**SMALL, **overrides})
    job_id = jobs_api.insert_job(engine, body, CREATOR, settings)["job_id"]
    activate(engine, job_id, chain_job_id)
    return job_id


def beat(engine: Engine, node_id: int, **tele: Any) -> None:
    scheduler.record_heartbeat(engine, node_id, OPERATOR, telemetry(**tele), "test")


def source(url: str, connections: int = 1) -> Callable[[], Any]:
    """A claim source checking out one of ``connections`` autocommit connections (opened on first use)."""
    free: list[psycopg.AsyncConnection] = []
    opened: list[psycopg.AsyncConnection] = []
    gate: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def connection() -> AsyncIterator[psycopg.AsyncConnection]:
        nonlocal gate
        gate = gate or asyncio.Semaphore(connections)
        async with gate:
            if not free:
                opened.append(await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True))
                free.append(opened[-1])
            conn = free.pop()
            try:
                yield conn
            finally:
                free.append(conn)

    async def close() -> None:
        for conn in opened:
            await conn.close()

    connection.close = close  # type: ignore[attr-defined]
    return connection


def _setup(engine: Engine, settings: Settings) -> tuple[int, int]:
    """A CPU job and a higher-priority GPU job, and nodes 7 (GPU), 8 (CPU) and 9 (CPU, kept off the CPU job)."""
    cpu = new_job(engine, settings, 1)
    gpu = new_job(engine, settings, 2, device="GPU", hardware={"min_vram_gb": 16})
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.job_id == gpu).values(priority=90))
        conn.execute(update(tasks).where(tasks.c.job_id == cpu, tasks.c.seq == 2).values(priority=5))
    beat(engine, 7, gpus=1, vram_mb=24576)
    beat(engine, 8)
    beat(engine, 9)
    with engine.begin() as conn:
        exclude_node(
            conn,
            9,
            cpu,
            conn.execute(select(tasks.c.task_id).where(tasks.c.job_id == cpu, tasks.c.seq == 2)).scalar_one(),
        )
    return cpu, gpu


#: (node, max_frames) in the order the claims are made: matching, ordering, frame caps, exclusions, no heartbeat.
REQUESTS = [
    (7, None),
    (8, None),
    (8, 1),
    (99, None),
    (9, None),
    (7, None),
    (7, None),
    (8, None),
    (9, None),
    (7, None),
    (8, None),
    (8, None),
]


def _essence(lease: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if lease is None:
        return None
    return tuple(
        lease[k]
        for k in ("task_id", "job_id", "attempt", "chain_job_id", "chain_task_id", "frames", "settings", "quote")
    )


def test_a_batch_gives_each_claim_what_it_would_get_alone(env, db_factory) -> None:
    engine, settings, url = env
    cpu, gpu = _setup(engine, settings)
    with engine.connect() as conn:
        versions = dict(conn.execute(select(jobs.c.job_id, jobs.c.version)).all())

    async def batched() -> tuple[list[dict[str, Any] | None], dict[int, int]]:
        claims = source(url)
        try:
            # the first claim goes out at once, alone; the others wait for it and go out together, in order
            got = await asyncio.gather(*(scheduler.claim_async(claims, n, settings, m) for n, m in REQUESTS))
            return got, dict(scheduler.loop_claim_batcher().sizes)
        finally:
            await claims.close()  # type: ignore[attr-defined]

    got, sizes = asyncio.run(batched())
    assert sizes == {1: 1, len(REQUESTS) - 1: 1}

    alone_url = db_factory()  # the same jobs and nodes in a fresh database, the claims made one after another
    alone_engine = get_engine(alone_url)
    try:
        assert _setup(alone_engine, settings) == (cpu, gpu)
        with psycopg.connect(libpq_url(alone_url), autocommit=True) as driver:
            alone = [scheduler.claim_on(driver, n, settings, m) for n, m in REQUESTS]
    finally:
        alone_engine.dispose()

    assert [_essence(lease) for lease in got] == [_essence(lease) for lease in alone]
    leased = [lease for lease in got if lease is not None]
    assert {lease["job_id"] for lease in leased} == {cpu, gpu} and None in got  # the cases the list means to cover
    with engine.connect() as conn:
        rows = {r.task_id: r for r in conn.execute(select(tasks).where(tasks.c.node_id.is_not(None))).all()}
        outbox = conn.execute(select(chain_outbox.c.task_id, chain_outbox.c.node_id)).all()
        after = dict(conn.execute(select(jobs.c.job_id, jobs.c.version)).all())
    for (node, _), lease in zip(REQUESTS, got, strict=True):
        if lease is not None:
            assert rows[lease["task_id"]].node_id == node
            assert rows[lease["task_id"]].lease_deadline == lease["lease_deadline"]
    assert sorted(outbox) == sorted((lease["task_id"], n) for (n, _), lease in zip(REQUESTS, got, strict=True) if lease)
    # one version bump per batch that leased a task of the job: the lone first claim (GPU job), then the batch
    assert after == {cpu: versions[cpu] + 1, gpu: versions[gpu] + 2}


def test_concurrent_batched_claims_never_share_a_task(env) -> None:
    engine, settings, url = env
    for n in range(3):
        new_job(engine, settings, 10 + n, frames="1-40", frames_per_node=1)
    nodes = list(range(100, 260))  # 160 claimers for 120 tasks
    for node in nodes:
        beat(engine, node)
    sizes: dict[int, int] = {}

    async def claimers() -> list[dict[str, Any] | None]:
        claims = source(url, connections=4)
        try:
            got = await asyncio.gather(*(scheduler.claim_async(claims, node, settings) for node in nodes))
            sizes.update(scheduler.loop_claim_batcher().sizes)
            return got
        finally:
            await claims.close()  # type: ignore[attr-defined]

    got = asyncio.run(claimers())
    leased = [(lease["task_id"], node) for lease, node in zip(got, nodes, strict=True) if lease is not None]
    assert len(leased) == 120 and len({t for t, _ in leased}) == 120 and got.count(None) == 40
    assert max(sizes) == scheduler.CLAIM_BATCH_MAX and sum(k * v for k, v in sizes.items()) == len(nodes)
    with engine.connect() as conn:
        outbox = conn.execute(select(chain_outbox.c.task_id, chain_outbox.c.node_id)).all()
        held = conn.execute(select(tasks.c.task_id, tasks.c.node_id).where(tasks.c.state == "assigned")).all()
    assert sorted(outbox) == sorted(leased) == sorted(held)


def test_a_lone_claim_goes_out_at_once(env) -> None:
    engine, settings, url = env
    job = new_job(engine, settings, 1)
    beat(engine, 7)

    async def lone() -> tuple[dict[str, Any] | None, dict[int, int]]:
        claims = source(url)
        try:
            lease = await scheduler.claim_async(claims, 7, settings)
            return lease, dict(scheduler.loop_claim_batcher().sizes)
        finally:
            await claims.close()  # type: ignore[attr-defined]

    lease, sizes = asyncio.run(lone())
    assert lease is not None and lease["job_id"] == job and sizes == {1: 1}
    assert scheduler.claim(engine, 7, settings)["job_id"] == job  # the engine's batcher: alone too
    assert dict(scheduler.claim_batcher(engine).sizes) == {1: 1}


def test_threads_claims_made_during_a_batch_go_out_together(env) -> None:
    """While the first claim's batch waits (its version bump blocked on the job's row), three more claims queue;
    once it is answered they go out as one batch of three."""
    engine, settings, _ = env
    job = new_job(engine, settings, 1, frames="1-8", frames_per_node=1)
    for node in (7, 8, 9, 10):
        beat(engine, node)
    batcher = scheduler.claim_batcher(engine)
    results: dict[int, Any] = {}

    def claimer(node: int) -> None:
        results[node] = scheduler.claim(engine, node, settings)

    blocker = engine.connect()
    threads = [threading.Thread(target=claimer, args=(7,), daemon=True)]
    try:
        tx = blocker.begin()
        blocker.execute(select(jobs.c.job_id).where(jobs.c.job_id == job).with_for_update(key_share=True))
        threads[0].start()
        deadline = time.monotonic() + 60
        while not batcher.sizes and time.monotonic() < deadline:  # the first batch is sent
            threads[0].join(0.05)
        for node in (8, 9, 10):
            threads.append(threading.Thread(target=claimer, args=(node,), daemon=True))
            threads[-1].start()
        while len(batcher._pending) < 3 and time.monotonic() < deadline:  # the others wait for it
            threads[0].join(0.05)
        assert len(batcher._pending) == 3 and threads[0].is_alive()
        tx.rollback()
    finally:
        blocker.close()
    for t in threads:
        t.join(60)
    assert dict(batcher.sizes) == {1: 1, 3: 1}
    ids = [results[n]["task_id"] for n in (7, 8, 9, 10)]
    assert len(set(ids)) == 4 and all(results[n]["job_id"] == job for n in (7, 8, 9, 10))


def test_a_failed_batch_fails_its_claims_only_and_the_next_batch_goes_out(env) -> None:
    engine, settings, url = env
    job = new_job(engine, settings, 1, frames="1-10", frames_per_node=1)
    for node in (7, 8, 9, 10):
        beat(engine, node)
    with engine.begin() as conn:  # an assign row already there for the second task's first attempt
        second = conn.execute(select(tasks).where(tasks.c.job_id == job, tasks.c.seq == 2)).one()
        conn.execute(
            chain_outbox.insert().values(
                kind="assign",
                job_id=job,
                task_id=second.task_id,
                attempt=1,
                chain_job_id=1,
                chain_task_id=2,
                node_id=99,
                quote=1,
                status="pending",
                tries=0,
                next_try_at=scheduler.utcnow(),
                created_at=scheduler.utcnow(),
            )
        )

    async def run(nodes: list[int]) -> list[Any]:
        claims = source(url)
        try:
            return await asyncio.gather(
                *(scheduler.claim_async(claims, n, settings) for n in nodes), return_exceptions=True
            )
        finally:
            await claims.close()  # type: ignore[attr-defined]

    first, *batch = asyncio.run(run([7, 8, 9, 10]))  # 7 alone (seq 1); then 8, 9, 10 together: 8 hits seq 2
    assert first["chain_task_id"] == "1"
    assert all(isinstance(r, psycopg.errors.UniqueViolation) for r in batch)
    with engine.connect() as conn:
        states = dict(conn.execute(select(tasks.c.seq, tasks.c.state).where(tasks.c.job_id == job)).all())
    assert states == {1: "assigned", **{seq: "queued" for seq in range(2, 11)}}  # the batch changed nothing
    with engine.begin() as conn:
        conn.execute(chain_outbox.delete().where(chain_outbox.c.node_id == 99))
    again = asyncio.run(run([8, 9, 10]))
    assert [lease["chain_task_id"] for lease in again] == ["2", "3", "4"]


def test_downgrade_drops_the_batch_procedure(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    engine = create_engine(sqlalchemy_url(empty_db_url), poolclass=pool.NullPool)

    def procedures() -> tuple[Any, Any]:
        with engine.connect() as conn:
            return conn.execute(text("SELECT to_regproc('api.claim_leases'), to_regproc('api.claim_lease')")).one()

    try:
        assert all(p is not None for p in procedures())
        command.downgrade(alembic_config(empty_db_url), "0011")
        leases, lease = procedures()
        assert leases is None and lease is not None
        upgrade(empty_db_url)
        assert all(p is not None for p in procedures())
    finally:
        engine.dispose()


def test_a_claim_cancelled_while_it_waits_is_not_sent_and_the_batcher_goes_on(env) -> None:
    engine, settings, url = env
    job = new_job(engine, settings, 1, frames="1-4", frames_per_node=1)
    for node in (7, 8, 9):
        beat(engine, node)

    async def run() -> tuple[Any, Any, dict[int, int]]:
        claims = source(url)
        try:
            first = asyncio.create_task(scheduler.claim_async(claims, 7, settings))
            waiting = asyncio.create_task(scheduler.claim_async(claims, 8, settings))
            while not scheduler.loop_claim_batcher()._pending:  # the first is sent; the second waits for it
                await asyncio.sleep(0)
            waiting.cancel()
            lease = await asyncio.wait_for(first, 60)
            with pytest.raises(asyncio.CancelledError):
                await waiting
            later = await asyncio.wait_for(scheduler.claim_async(claims, 9, settings), 60)
            return lease, later, dict(scheduler.loop_claim_batcher().sizes)
        finally:
            await claims.close()  # type: ignore[attr-defined]

    lease, later, sizes = asyncio.run(run())
    assert lease["job_id"] == later["job_id"] == job and sizes == {1: 2}
    with engine.connect() as conn:
        held = conn.execute(select(tasks.c.node_id).where(tasks.c.node_id.is_not(None))).scalars().all()
    assert sorted(held) == [7, 9]  # the cancelled claim leased nothing


# ----------------------------------------------------------------------------- group commit (completions)


def _set_priority(task_id: int, priority: int, job_id: int, fail: bool = False) -> Callable[[Any], Any]:
    """A unit of work: write the task's priority (then fail, when asked: its write must not stay)."""

    def work(conn: Any) -> tuple[int, bool]:
        conn.execute(update(tasks).where(tasks.c.task_id == task_id).values(priority=priority))
        if fail:
            raise scheduler.LeaseGone(f"task {task_id}: refused on purpose")
        return job_id, False

    return work


def test_group_commit_shares_one_transaction_and_a_failed_unit_fails_alone(env) -> None:
    """While the first unit's batch waits (its unit blocked), three more units queue and then go out as one
    transaction; the one that fails leaves nothing behind, the other two commit, each job is bumped once."""
    engine, settings, _ = env
    job = new_job(engine, settings, 1, frames="1-4", frames_per_node=1)
    with engine.connect() as conn:
        ids = conn.execute(select(tasks.c.task_id).where(tasks.c.job_id == job).order_by(tasks.c.seq)).scalars().all()
        version = conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one()
    batcher = scheduler.commit_batcher(engine)
    release = threading.Event()
    results: dict[int, Any] = {}

    def first(conn: Any) -> tuple[int, bool]:
        release.wait(60)
        return _set_priority(ids[0], 11, job)(conn)

    def submit(i: int, work: Any) -> None:
        try:
            results[i] = scheduler.group_commit(engine, work)
        except scheduler.LeaseGone as exc:
            results[i] = exc

    threads = [threading.Thread(target=submit, args=(0, first), daemon=True)]
    threads[0].start()
    deadline = time.monotonic() + 60
    while not batcher.sizes and time.monotonic() < deadline:
        threads[0].join(0.05)
    for i, fail in ((1, False), (2, True), (3, False)):
        threads.append(threading.Thread(target=submit, args=(i, _set_priority(ids[i], 10 + i, job, fail)), daemon=True))
        threads[-1].start()
    while len(batcher._pending) < 3 and time.monotonic() < deadline:
        threads[0].join(0.05)
    assert len(batcher._pending) == 3
    release.set()
    for t in threads:
        t.join(60)
    assert dict(batcher.sizes) == {1: 1, 3: 1}
    assert results[0] == results[1] == results[3] == (job, False) and isinstance(results[2], scheduler.LeaseGone)
    with engine.connect() as conn:
        priorities = conn.execute(select(tasks.c.priority).where(tasks.c.job_id == job).order_by(tasks.c.seq)).all()
        after = conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one()
    assert [p for (p,) in priorities] == [11, 11, 0, 13]
    assert after == version + 2  # one bump per batch


def test_async_group_commit_batches_units_and_answers_each(env) -> None:
    engine, settings, url = env
    job = new_job(engine, settings, 1, frames="1-40", frames_per_node=1)
    with engine.connect() as conn:
        ids = conn.execute(select(tasks.c.task_id).where(tasks.c.job_id == job).order_by(tasks.c.seq)).scalars().all()

    def unit(task_id: int, fail: bool) -> Callable[[Any], Any]:
        async def work(aconn: psycopg.AsyncConnection) -> tuple[int, bool]:
            await aconn.execute("UPDATE api.tasks SET priority = %s WHERE task_id = %s", (task_id % 7 + 1, task_id))
            if fail:
                raise scheduler.LeaseGone(f"task {task_id}: refused on purpose")
            return job, task_id == ids[-1]

        return work

    async def run() -> tuple[list[Any], dict[int, int]]:
        commits = source(url, connections=2)
        try:
            got = await asyncio.gather(
                *(scheduler.group_commit_async(commits, unit(t, i % 10 == 5)) for i, t in enumerate(ids)),
                return_exceptions=True,
            )
            return got, dict(scheduler.loop_commit_batcher().sizes)
        finally:
            await commits.close()  # type: ignore[attr-defined]

    got, sizes = asyncio.run(run())
    assert sizes[1] == 1 and max(sizes) > 1 and sum(k * v for k, v in sizes.items()) == len(ids)
    for i, (task_id, answer) in enumerate(zip(ids, got, strict=True)):
        if i % 10 == 5:
            assert isinstance(answer, scheduler.LeaseGone)
        else:
            assert answer == (job, task_id == ids[-1])
    with engine.connect() as conn:
        priorities = dict(conn.execute(select(tasks.c.task_id, tasks.c.priority).where(tasks.c.job_id == job)).all())
    assert priorities == {t: 0 if i % 10 == 5 else t % 7 + 1 for i, t in enumerate(ids)}
