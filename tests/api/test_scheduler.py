"""The scheduler on a real PostgreSQL: matching, concurrent claims, leases, blocklist, cancel, pause, outbox.

The escrow is a mirror row written as the indexer would (the localnet tests in test_node_tasks.py use the
real chain); the outbox runs against a stand-in chain that fails on purpose.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select, update

from api import jobs as jobs_api
from api import scheduler
from chain.errors import NodeUnavailable
from pictor.db import get_engine
from pictor.settings import Settings
from protocol.render_spec import parse_job_spec
from tables.jobs import chain_outbox, frames, job_node_failures, jobs, node_status, tasks
from tables.state_machine import exclude_node, finish_job
from tests.support.api import make_settings
from tests.support.jobs import CREATOR, SMALL, activate, fake_escrow, make_upload, telemetry

OPERATOR = "0x" + "0a" * 32


@pytest.fixture
def env(db_url: str, tmp_path: Path):
    engine = get_engine(db_url)
    settings = make_settings(tmp_path, scheduler_background=False)
    yield engine, settings
    engine.dispose()


def new_job(engine: Engine, settings: Settings, chain_job_id: int, /, *, budget: int = 10**12, **overrides) -> int:
    body = jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR), settings={**SMALL, **overrides})
    job_id = jobs_api.insert_job(engine, body, CREATOR, settings)["job_id"]
    activate(engine, job_id, chain_job_id, budget)
    return job_id


def beat(engine: Engine, node_id: int, **tele) -> list[int]:
    return scheduler.record_heartbeat(engine, node_id, OPERATOR, telemetry(**tele), "test")


@pytest.mark.parametrize(
    ("overrides", "tele", "why"),
    [
        ({"engine": "eevee"}, {"engines": ["CYCLES"]}, "engine"),
        ({"device": "GPU"}, {"gpus": 0}, "device"),
        ({"device": "GPU", "hardware": {"min_vram_gb": 24}}, {"gpus": 1, "vram_mb": 8192}, "vram"),
        ({"device": "GPU", "hardware": {"gpu_vendor": "amd"}}, {"gpus": 1}, "gpu vendor"),
        ({"device": "GPU", "hardware": {"gpu_model": "A100"}}, {"gpus": 1}, "gpu model"),
        ({"hardware": {"min_ram_gb": 64}}, {"ram_mb": 16384}, "ram"),
        ({"worker_location": "asia"}, {"location": "europe"}, "location"),
        ({"pricing_tier": "tier-2"}, {"multiplier": 0.5}, "tier"),
        ({"pricing_tier": "tier-3"}, {}, "tier"),
    ],
)
def test_claim_matching_mismatch_gets_nothing(env, overrides, tele, why) -> None:
    engine, settings = env
    new_job(engine, settings, 1, **overrides)
    beat(engine, 7, **tele)
    with engine.connect() as conn:
        status = conn.execute(select(node_status)).first()
    assert (
        scheduler.mismatch(
            parse_job_spec({**SMALL, **overrides}), scheduler.node_facts(status.telemetry, OPERATOR), settings
        )
        == why
    )
    assert scheduler.claim(engine, 7, settings) is None


def test_claim_matches_and_orders_by_job_then_task_priority(env) -> None:
    engine, settings = env
    low = new_job(engine, settings, 1)
    gpu = new_job(engine, settings, 2, device="GPU", hardware={"min_vram_gb": 16, "gpu_model": "4090"})
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.job_id == gpu).values(priority=90))
        conn.execute(update(tasks).where(tasks.c.job_id == gpu, tasks.c.seq == 3).values(priority=5))
    beat(engine, 7, gpus=1, vram_mb=24576)
    first = scheduler.claim(engine, 7, settings)
    assert first["job_id"] == gpu and first["frames"] == [5, 6] and first["attempt"] == 1
    assert int(first["quote"]) >= 1
    beat(engine, 8)  # a CPU node: only the CPU job matches
    assert scheduler.claim(engine, 8, settings)["job_id"] == low
    assert scheduler.claim(engine, 7, settings, max_frames=1) is None  # every chunk has 2 frames
    with engine.connect() as conn:
        out = conn.execute(select(chain_outbox).order_by(chain_outbox.c.id)).all()
    assert [(r.kind, r.job_id, r.attempt, r.chain_task_id) for r in out] == [
        ("assign", gpu, 1, 3),
        ("assign", low, 1, 1),
    ]


@pytest.mark.parametrize("gpus", [0, 1])
def test_claim_fills_the_facts_of_a_heartbeat_stored_before_they_had_columns(env, gpus) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, **({"device": "GPU", "hardware": {"gpu_model": "4090"}} if gpus else {}))
    beat(engine, 7, gpus=gpus)
    with engine.begin() as conn:  # as revision 0009 leaves a row written before it
        conn.execute(
            update(node_status).values(
                engines=None,
                gpu_count=None,
                gpu_vendor=None,
                gpu_models=None,
                min_gpu_vram_gb=None,
                ram_gb=None,
                location=None,
            )
        )
    assert scheduler.claim(engine, 7, settings)["job_id"] == job
    with engine.connect() as conn:
        row = conn.execute(select(node_status)).one()
    assert row.gpu_count == gpus and "CYCLES" in row.engines and len(row.gpu_models) == gpus


def test_last_tasks_completed_side_by_side_still_complete_the_job(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-2", frames_per_node=1)
    beat(engine, 7)
    leases = [scheduler.claim(engine, 7, settings) for _ in range(2)]
    with engine.connect() as first, engine.connect() as second:
        rechecks = []
        for conn, lease in zip((first, second), leases, strict=True):  # both open before either commits
            conn.begin()
            conn.execute(update(tasks).where(tasks.c.task_id == lease["task_id"]).values(state="rendered"))
            rechecks.append(finish_job(conn, job))  # each still sees the other's task leased
        first.commit()
        second.commit()
    assert rechecks == [True, True]
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.state).where(jobs.c.job_id == job)).scalar_one() == "active"
        version = conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one()
    scheduler.touch(engine, job, finish=True)  # the look after the commit
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.state, jobs.c.version).where(jobs.c.job_id == job)).one()
    assert row.state == "completed" and row.version == version + 1


def test_touch_bumps_the_version_after_each_claim(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-4", frames_per_node=1)
    beat(engine, 7)

    def version() -> int:
        with engine.connect() as conn:
            return conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one()

    before = version()
    scheduler.claim(engine, 7, settings)
    assert version() == before + 1
    scheduler.touch(engine, job)
    assert version() == before + 2


def test_a_failed_claim_changes_nothing_and_leaves_the_connection_usable(env) -> None:
    import psycopg

    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-2", frames_per_node=1)
    beat(engine, 7)
    with engine.begin() as conn:  # an assign row already there for the first task's first attempt
        first = conn.execute(select(tasks).where(tasks.c.job_id == job, tasks.c.seq == 1)).one()
        conn.execute(
            chain_outbox.insert().values(
                kind="assign",
                job_id=job,
                task_id=first.task_id,
                attempt=1,
                chain_job_id=1,
                chain_task_id=1,
                node_id=9,
                quote=1,
                status="pending",
                tries=0,
                next_try_at=scheduler.utcnow(),
                created_at=scheduler.utcnow(),
            )
        )
    with pytest.raises(psycopg.errors.UniqueViolation):
        scheduler.claim(engine, 7, settings)
    with engine.connect() as conn:
        assert conn.execute(select(tasks.c.state).where(tasks.c.task_id == first.task_id)).scalar_one() == "queued"
        assert conn.execute(select(frames.c.state).where(frames.c.task_id == first.task_id)).scalar_one() == "queued"
    with engine.begin() as conn:
        conn.execute(chain_outbox.delete())
    assert scheduler.claim(engine, 7, settings)["task_id"] == first.task_id  # the pool's connections still work


def test_no_heartbeat_no_claim(env) -> None:
    engine, settings = env
    new_job(engine, settings, 1)
    assert scheduler.claim(engine, 99, settings) is None


def test_concurrent_claims_never_share_a_task(env) -> None:
    engine, settings = env
    for n in range(3):
        new_job(engine, settings, 10 + n, frames="1-40", frames_per_node=1)
    nodes = list(range(100, 108))
    for node in nodes:
        beat(engine, node)
    got: list[tuple[int, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(nodes))

    def worker(node: int) -> None:
        barrier.wait()
        while (lease := scheduler.claim(engine, node, settings)) is not None:
            with lock:
                got.append((lease["task_id"], node))

    threads = [threading.Thread(target=worker, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [t for t, _ in got]
    assert len(ids) == 120 and len(set(ids)) == 120
    assert len({n for _, n in got}) > 1  # the claims really ran side by side


def test_lease_heartbeat_extends_and_expiry_requeues(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)
    task_id = lease["task_id"]
    deadline, cancel = scheduler.task_heartbeat(engine, 7, task_id, [], settings)
    assert deadline >= lease["lease_deadline"] and cancel is False
    with engine.connect() as conn:
        assert {r.state for r in conn.execute(select(frames).where(frames.c.task_id == task_id))} == {"rendering"}
    with pytest.raises(scheduler.LeaseGone):
        scheduler.task_heartbeat(engine, 8, task_id, [], settings)  # not this node's
    with engine.begin() as conn:  # time passes beyond the deadline
        conn.execute(
            update(tasks)
            .where(tasks.c.task_id == task_id)
            .values(lease_deadline=scheduler.utcnow() - timedelta(seconds=1))
        )
    assert scheduler.sweep_expired(engine, settings) == 1
    with pytest.raises(scheduler.LeaseGone):
        scheduler.task_heartbeat(engine, 7, task_id, [], settings)
    with engine.connect() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == task_id)).one()
        kinds = (
            conn.execute(
                select(chain_outbox.c.kind).where(chain_outbox.c.task_id == task_id).order_by(chain_outbox.c.id)
            )
            .scalars()
            .all()
        )
    assert row.state == "queued" and row.node_id is None and kinds == ["assign", "requeue"]
    beat(engine, 8)
    again = scheduler.claim(engine, 8, settings)
    assert again["task_id"] == task_id and again["attempt"] == 2 and again["job_id"] == job


def test_blocklist_after_three_failures(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-10", frames_per_node=1)
    beat(engine, 7)
    results = []
    for _ in range(3):
        lease = scheduler.claim(engine, 7, settings)
        assert lease is not None and lease["job_id"] == job
        results.append(scheduler.fail_task(engine, 7, lease["task_id"], "blender crashed", settings))
    assert results == [False, False, True]
    assert scheduler.claim(engine, 7, settings) is None  # blocklisted for this job
    beat(engine, 8)
    assert scheduler.claim(engine, 8, settings)["job_id"] == job  # others still take it
    with engine.connect() as conn:
        row = conn.execute(select(job_node_failures)).one()
    assert row.failures == 3 and row.blocklisted and "crashed" in row.last_error


def test_release_requeues_at_once_without_counting_a_failure(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-10", frames_per_node=1)
    beat(engine, 7)
    beat(engine, 8)
    for _ in range(4):  # more releases than the blocklist allows failures: releasing is not failing
        lease = scheduler.claim(engine, 7, settings)
        assert lease is not None and lease["job_id"] == job
        assert scheduler.release_task(engine, 7, lease["task_id"], "SIGTERM", settings) == "queued"
    with engine.connect() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == lease["task_id"])).one()
        frame_states = set(conn.execute(select(frames.c.state).where(frames.c.task_id == lease["task_id"])).scalars())
        kinds = (
            conn.execute(
                select(chain_outbox.c.kind)
                .where(chain_outbox.c.task_id == lease["task_id"])
                .order_by(chain_outbox.c.id)
            )
            .scalars()
            .all()
        )
        assert conn.execute(select(job_node_failures)).first() is None
    assert row.state == "queued" and row.node_id is None and row.lease_deadline is None and frame_states == {"queued"}
    assert kinds == ["assign", "requeue"] * 4  # the chain's assignment is given back each time
    again = scheduler.claim(engine, 7, settings)  # not blocklisted; the released task is first again
    assert again["task_id"] == lease["task_id"] and again["attempt"] == 5


def test_release_only_a_live_lease_of_the_same_node(env) -> None:
    engine, settings = env
    new_job(engine, settings, 1, frames="1-10", frames_per_node=1)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)
    with pytest.raises(scheduler.TaskNotFound):
        scheduler.release_task(engine, 8, lease["task_id"], "not mine", settings)  # another node's lease
    with pytest.raises(scheduler.TaskNotFound):
        scheduler.release_task(engine, 7, 10**9, "", settings)  # no such task
    with engine.connect() as conn:
        queued = conn.execute(select(tasks.c.task_id).where(tasks.c.state == "queued").limit(1)).scalar_one()
    with pytest.raises(scheduler.LeaseGone):
        scheduler.release_task(engine, 7, queued, "", settings)  # not leased at all
    with engine.begin() as conn:  # the lease expired (not yet swept): still this node's to give back
        conn.execute(
            update(tasks)
            .where(tasks.c.task_id == lease["task_id"])
            .values(lease_deadline=scheduler.utcnow() - timedelta(seconds=1))
        )
    assert scheduler.release_task(engine, 7, lease["task_id"], "late", settings) == "queued"
    with pytest.raises(scheduler.LeaseGone):
        scheduler.release_task(engine, 7, lease["task_id"], "twice", settings)
    with engine.connect() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == lease["task_id"])).one()
    assert row.state == "queued" and row.attempt == 1


def test_release_of_a_cancelled_job_cancels_the_task(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.job_id == job).values(state="cancelled"))
    assert scheduler.release_task(engine, 7, lease["task_id"], "stopping", settings) == "cancelled"


def test_cancel_reaches_heartbeats(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.job_id == job).values(state="cancelled"))
    assert beat(engine, 7) == [lease["task_id"]]
    assert scheduler.task_heartbeat(engine, 7, lease["task_id"], [], settings)[1] is True
    assert scheduler.claim(engine, 7, settings) is None
    assert scheduler.fail_task(engine, 7, lease["task_id"], "cancelled", settings) is False
    with engine.connect() as conn:
        assert (
            conn.execute(select(tasks.c.state).where(tasks.c.task_id == lease["task_id"])).scalar_one() == "cancelled"
        )
        assert conn.execute(select(job_node_failures)).first() is None


def test_pause_when_escrow_cannot_cover_and_resume(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, budget=5)
    beat(engine, 7)
    assert scheduler.claim(engine, 7, settings) is None
    with engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.job_id == job)).one()
    assert row.state == "paused" and "top it up" in row.pause_reason
    from indexer import schema as mirror

    with engine.begin() as conn:  # the indexer sees a top-up
        conn.execute(update(mirror.jobs).where(mirror.jobs.c.job_id == 1).values(budget=10**9))
    assert scheduler.claim(engine, 7, settings)["job_id"] == job
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.state).where(jobs.c.job_id == job)).scalar_one() == "active"


def test_pending_assignments_count_against_the_escrow(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-4", frames_per_node=1)
    beat(engine, 7)
    quote = int(scheduler.claim(engine, 7, settings)["quote"])
    from indexer import schema as mirror

    with engine.begin() as conn:  # room for exactly one more quote besides the pending one
        conn.execute(update(mirror.jobs).where(mirror.jobs.c.job_id == 1).values(budget=2 * quote))
    assert scheduler.claim(engine, 7, settings) is not None
    assert scheduler.claim(engine, 7, settings) is None
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.state).where(jobs.c.job_id == job)).scalar_one() == "paused"


class FlakyChain:
    """A chain stand-in: ``escrow::task`` views from a dict; submissions fail as scripted."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures  # per submission: "down" (refused), "lost" (applied, answer lost), "ok"
        self.state: dict[tuple[int, int], SimpleNamespace] = {}
        self.submitted: list[tuple[str, int, int]] = []
        self.payloads = SimpleNamespace(
            escrow_assign_task=lambda j, t, n, q: ("assign", j, t, n, q),
            escrow_requeue_task=lambda j, t: ("requeue", j, t),
            escrow_close_job=lambda j: ("close", j),
        )
        self.views = SimpleNamespace(task=self._task, job=self._job)

    async def _task(self, job_id: int, task_id: int):
        if (job_id, task_id) not in self.state:
            from chain.errors import MoveAbortError

            raise MoveAbortError("abort", address="0x1", module="escrow", reason="E_TASK_NOT_FOUND", code=7)
        return self.state[(job_id, task_id)]

    async def _job(self, job_id: int):
        return SimpleNamespace(closed=False)

    async def submit_and_wait(self, sender, payload):
        mode = self.failures.pop(0) if self.failures else "ok"
        if mode == "down":
            raise NodeUnavailable("the node is down")
        kind, job_id, task_id = payload[0], payload[1], payload[2]
        self.submitted.append((kind, job_id, task_id))
        if kind == "assign":
            old = self.state.get((job_id, task_id))
            self.state[(job_id, task_id)] = SimpleNamespace(
                state=1, node_id=payload[3], attempt=(old.attempt if old else 0) + 1
            )
        elif kind == "requeue":
            self.state[(job_id, task_id)].state = 0
        if mode == "lost":
            raise NodeUnavailable("connection reset after submission")
        return SimpleNamespace(hash="0x" + "ab" * 32)


def test_outbox_retries_without_doubling(env) -> None:
    engine, settings = env
    new_job(engine, settings, 1)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)
    chain = FlakyChain(["down", "lost"])
    assert asyncio.run(scheduler.process_outbox(engine, chain, object(), settings)) == 0  # refused: retry later
    with engine.begin() as conn:
        row = conn.execute(select(chain_outbox)).one()
        assert row.status == "pending" and row.tries == 1 and "down" in row.last_error
        conn.execute(update(chain_outbox).values(next_try_at=scheduler.utcnow()))
    assert asyncio.run(scheduler.process_outbox(engine, chain, object(), settings)) == 0  # applied, answer lost
    with engine.begin() as conn:
        conn.execute(update(chain_outbox).values(next_try_at=scheduler.utcnow()))
    assert asyncio.run(scheduler.process_outbox(engine, chain, object(), settings)) == 1  # seen on chain: done
    assert chain.submitted == [("assign", 1, 1)] and chain.state[(1, 1)].attempt == 1
    with engine.connect() as conn:
        row = conn.execute(select(chain_outbox)).one()
    assert row.status == "done" and row.tries == 3
    # An expired lease: the requeue follows the assignment, in order, once.
    with engine.begin() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.task_id == lease["task_id"])
            .values(lease_deadline=scheduler.utcnow() - timedelta(seconds=1))
        )
    scheduler.sweep_expired(engine, settings)
    assert asyncio.run(scheduler.process_outbox(engine, chain, object(), settings)) == 1
    assert asyncio.run(scheduler.process_outbox(engine, chain, object(), settings)) == 0
    assert chain.submitted == [("assign", 1, 1), ("requeue", 1, 1)] and chain.state[(1, 1)].state == 0


def test_outbox_rejected_assignment_requeues_and_pauses(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)

    class Refusing(FlakyChain):
        async def submit_and_wait(self, sender, payload):
            from chain.errors import MoveAbortError

            raise MoveAbortError("abort", address="0x1", module="escrow", reason="E_INSUFFICIENT_ESCROW", code=6)

    assert asyncio.run(scheduler.process_outbox(engine, Refusing([]), object(), settings)) == 1
    with engine.connect() as conn:
        assert conn.execute(select(chain_outbox.c.status)).scalar_one() == "rejected"
        assert conn.execute(select(tasks.c.state).where(tasks.c.task_id == lease["task_id"])).scalar_one() == "queued"
        assert conn.execute(select(jobs.c.state).where(jobs.c.job_id == job)).scalar_one() == "paused"


def test_escrow_available_ignores_closed_or_missing(env) -> None:
    engine, _ = env
    fake_escrow(engine, 5, CREATOR, 100, spent=10, reserved=20)
    with engine.connect() as conn:
        assert scheduler.escrow_available(conn, 1, 5) == 70
        assert scheduler.escrow_available(conn, 1, 6) is None


def test_quote_formula(env) -> None:
    _, settings = env
    # price × multiplier × (reference minutes ÷ multiplier) × margin, capped, at least 1
    assert scheduler.task_quote(settings, 100, 2.0, 3.0) == 450
    assert scheduler.task_quote(settings, 100, 0.5, 3.0) == 450
    assert scheduler.task_quote(settings.model_copy(update={"max_task_quote": 10}), 100, 1, 3) == 10
    assert scheduler.task_quote(settings, 1, 1, 0.0001) == 1


def test_background_task_sweeps_expired_leases(db_url: str, tmp_path: Path) -> None:
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.support.api import NoChain

    engine = get_engine(db_url)
    settings = make_settings(tmp_path, scheduler_interval_s=0.1)
    try:
        new_job(engine, settings, 1)
        beat(engine, 7)
        task_id = scheduler.claim(engine, 7, settings)["task_id"]
        with engine.begin() as conn:
            conn.execute(
                update(tasks)
                .where(tasks.c.task_id == task_id)
                .values(lease_deadline=scheduler.utcnow() - timedelta(seconds=1))
            )
        app = create_app(engine, NoChain())  # type: ignore[arg-type]
        app.state.settings = settings
        with TestClient(app):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    if conn.execute(select(tasks.c.state).where(tasks.c.task_id == task_id)).scalar_one() == "queued":
                        break
                time.sleep(0.05)
            else:
                pytest.fail("the background task did not sweep the expired lease")
    finally:
        engine.dispose()


def test_node_facts_read_the_agents_telemetry() -> None:
    agent = {"cpu": {"ram_total_mb": 8192}, "gpus": [], "performance_multiplier": 1.7, "worker_id": "w"}
    assert scheduler.node_facts(agent, OPERATOR).multiplier == 1.7
    assert scheduler.node_facts({"benchmark": {"multiplier": 0.4}}, OPERATOR).multiplier == 0.4
    facts = scheduler.node_facts({"multiplier": "fast"}, OPERATOR)
    assert facts.multiplier == 1.0 and facts.location == "any" and facts.gpu_count == 0 and "CYCLES" in facts.engines


def test_task_quote_is_exact_integer_arithmetic() -> None:
    # 1e16 base units × 0.1 minutes × 1.5 is exactly 1.5e15; float products drift at this size
    settings = Settings(quote_margin=1.5, max_task_quote=10**17)
    assert scheduler.task_quote(settings, 10**16, 1.0, 0.1) == 1_500_000_000_000_001  # 0.1 is not exact: round up
    assert scheduler.task_quote(settings, 10**16, 2.0, 0.5) == 7_500_000_000_000_000
    assert scheduler.task_quote(settings, 40_000, 1.7, 0.25) == 15_000  # the multiplier cancels out
    assert scheduler.task_quote(Settings(max_task_quote=1_000), 10**16, 1.0, 1.0) == 1_000  # capped
    assert scheduler.task_quote(settings, 1, 1.0, 1e-9) == 1  # never zero


def test_sql_quote_is_task_quote_exactly(env) -> None:
    """``api.task_quote`` (the claim's quote, in SQL) equals :func:`scheduler.task_quote` to the base unit."""
    import random
    from fractions import Fraction

    engine, _ = env
    rng = random.Random(4)
    cases = [(10**16, 0.1, 1.5, 10**17), (40_000, 0.25, 1.5, 10**12), (1, 1e-9, 1.0, 10), (50_000, 1e300, 2.0, 10**12)]
    cases += [(1, 5e-324, 1.0, 10**12), (7, 0.0, 1.0, 10**12), (10**12, 3.0, 1.1, 10**18)]
    for _ in range(300):
        minutes = rng.choice([rng.random() * 10, rng.random() * 1e-6, rng.uniform(0, 1e6), rng.randint(1, 90) / 60])
        cases.append((rng.randint(1, 10**16), minutes, rng.choice([1.0, 1.5, 1.1, rng.uniform(1, 3)]), 10**17))
    with engine.connect() as conn:
        for price, minutes, margin, cap in cases:
            settings = Settings(quote_margin=margin, max_task_quote=cap)
            num, den = Fraction(margin).numerator, Fraction(margin).denominator
            got = conn.exec_driver_sql(
                "SELECT api.task_quote(%s, CAST(%s AS float8), %s, %s, %s)", (price, minutes, num, den, cap)
            ).scalar_one()
            assert int(got) == scheduler.task_quote(settings, price, 1.0, minutes), (price, minutes, margin)


def test_sql_matching_agrees_with_mismatch(env) -> None:
    """Over random jobs and nodes, a node claims exactly the jobs ``mismatch`` lets it take."""
    import random

    from protocol.render_spec import JobSpecError

    engine, settings = env
    settings = settings.model_copy(update={"trusted_operators": [OPERATOR.upper().replace("0X", "0x")]})
    rng = random.Random(7)

    def pick(*options):
        return rng.choice(options)

    cfgs: dict[int, object] = {}
    while len(cfgs) < 36:
        hardware = {
            "gpu_vendor": pick("any", "nvidia", "amd", "intel"),
            "gpu_model": pick(None, None, "4090", "rtx", "A100", "Radeon"),
            "gpu_count": pick(None, None, 1, 2),
            "min_vram_gb": pick(None, None, 8, 12.5, 24),
            "min_ram_gb": pick(None, None, 16, 32, 48.5),
        }
        overrides = {
            "engine": pick("cycles", "eevee", "workbench"),
            "device": pick("CPU", "GPU"),
            "worker_location": pick("any", "any", "europe", "asia"),
            "pricing_tier": pick("none", "tier-1", "tier-2", "tier-3"),
            "hardware": {k: v for k, v in hardware.items() if v is not None},
        }
        try:
            cfg = parse_job_spec({**SMALL, "frames": "1", "frames_per_node": 1, **overrides})
        except JobSpecError:
            continue
        cfgs[new_job(engine, settings, 100 + len(cfgs), **overrides)] = cfg
    agreed = 0
    for node in range(1, 31):
        gpus = pick(0, 1, 2, 2)
        tele = {
            "gpus": gpus,
            "vram_mb": pick(4096, 8192, 12800, 24576),
            "vendor": pick("nvidia", "amd", "intel"),
            "model": pick("NVIDIA RTX 4090", "NVIDIA A100", "AMD Radeon PRO", "Intel Arc"),
            "multiplier": pick(0.5, 1.0, 2.0),
            "location": pick("europe", "asia", "any"),
            "ram_mb": pick(16384, 32768, 49664, 65536),
        }
        if rng.random() < 0.3:
            tele["engines"] = rng.sample(["CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"], rng.randint(1, 2))
        beat(engine, node, **tele)
        with engine.connect() as conn:
            status = conn.execute(select(node_status).where(node_status.c.node_id == node)).one()
        facts = scheduler.node_facts(status.telemetry, status.operator)
        expected = {job for job, cfg in cfgs.items() if scheduler.mismatch(cfg, facts, settings) is None}
        claimed = set()
        while (lease := scheduler.claim(engine, node, settings)) is not None:
            claimed.add(lease["job_id"])
        assert claimed == expected, (tele, {j: scheduler.mismatch(cfgs[j], facts, settings) for j in cfgs})
        agreed += len(expected)
        with engine.begin() as conn:  # every task back in the queue for the next node
            conn.execute(update(tasks).values(state="queued", node_id=None, lease_deadline=None, attempt=0))
            conn.execute(update(frames).values(state="queued"))
            conn.execute(chain_outbox.delete())
    assert 0 < agreed < 30 * len(cfgs)  # the draws both matched and missed


def test_a_node_excluded_from_a_task_does_not_claim_it_again(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1", frames_per_node=1)
    beat(engine, 7)
    beat(engine, 8)
    lease = scheduler.claim(engine, 7, settings)
    with engine.begin() as conn:  # its result failed verification: the task is queued again without node 7
        conn.execute(update(tasks).where(tasks.c.task_id == lease["task_id"]).values(state="queued", node_id=None))
        exclude_node(conn, 7, job, lease["task_id"])
        exclude_node(conn, 7, job, lease["task_id"])  # once is enough
    with engine.connect() as conn:
        assert conn.execute(select(tasks.c.excluded_nodes).where(tasks.c.job_id == job)).scalar_one() == [7]
    assert scheduler.claim(engine, 7, settings) is None
    again = scheduler.claim(engine, 8, settings)
    assert again["task_id"] == lease["task_id"] and again["attempt"] == 2


def test_an_upheld_dispute_keeps_the_worker_off_the_rerender(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-2", frames_per_node=2)
    beat(engine, 7)
    lease = scheduler.claim(engine, 7, settings)
    with engine.begin() as conn:
        conn.execute(update(tasks).where(tasks.c.task_id == lease["task_id"]).values(state="rendered"))
        conn.execute(
            update(frames)
            .where(frames.c.job_id == job)
            .values(state="rendered", rendered_at=scheduler.utcnow(), sha256="ab" * 32)
        )
    rerender = jobs_api.review_frame(engine, job, 2, CREATOR, settings, accept=False)["rerender_task_id"]
    with engine.begin() as conn:  # what api.verification does when the dispute's checker upholds it
        exclude_node(conn, 7, job, lease["task_id"], [2])
    assert scheduler.claim(engine, 7, settings) is None
    beat(engine, 8)
    assert scheduler.claim(engine, 8, settings)["task_id"] == rerender


def test_claim_async_runs_the_same_claim(env, db_url: str) -> None:
    import psycopg

    from pictor.db import libpq_url

    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-2", frames_per_node=1)
    beat(engine, 7)
    with engine.connect() as conn:
        version = conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one()

    async def go() -> list:
        async with await psycopg.AsyncConnection.connect(libpq_url(db_url), autocommit=True) as aconn:
            return [await scheduler.claim_async(aconn, 7, settings) for _ in range(3)]

    first, second, none = asyncio.run(go())
    assert none is None and first["task_id"] != second["task_id"]
    assert first["job_id"] == job and first["attempt"] == 1 and first["frames"] == [1] and int(first["quote"]) >= 1
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one() == version + 2
        assert conn.execute(select(chain_outbox.c.task_id).order_by(chain_outbox.c.id)).scalars().all() == [
            first["task_id"],
            second["task_id"],
        ]
