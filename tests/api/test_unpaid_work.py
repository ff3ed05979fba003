"""Unpaid work is bounded, through the real API on PostgreSQL: a job's tasks and frames are written in bulk (a
100,000-frame job in seconds), an account may hold only so many jobs and frames waiting for their escrow, and a
job whose escrow never came expires in the scheduler pass and can no longer be linked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text, update

from api import scheduler
from api.app import create_app
from api.background import scheduler_pass
from pictor.db import get_engine
from protocol.render_spec import parse_job_spec
from tables.jobs import frames, jobs, tasks
from tests.support.api import NoChain, make_settings, session_for
from tests.support.jobs import CREATOR, OTHER, SMALL, activate, make_upload

#: Generous: one bulk statement takes about 4 s here on a shared machine; the rows sent one by one took 18.
BULK_CREATE_BOUND_S = 9.0


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, scheduler_background=False)
    with TestClient(app) as client:
        yield client, engine, {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}
    engine.dispose()


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (jobs, tasks, frames))


def test_a_100000_frame_job_is_written_in_bulk(api) -> None:
    client, engine, headers = api
    body = {"upload_id": make_upload(engine, CREATOR), "settings": {**SMALL, "frames": "1-100000", "frames_per_node": 1}}
    started = time.perf_counter()
    created = client.post("/jobs", json=body, headers=headers)
    elapsed = time.perf_counter() - started
    print(f"\n100,000-frame job created in {elapsed:.2f} s")
    assert created.status_code == 201, created.text
    assert elapsed < BULK_CREATE_BOUND_S, f"creating a 100,000-frame job took {elapsed:.1f} s"
    job_id = created.json()["job_id"]
    per_frame_min = created.json()["estimate"]["ref_seconds_per_frame"] / 60
    with engine.connect() as conn:
        assert counts(engine)[1:] == (100_000, 100_000)
        first, last = (conn.execute(select(tasks.c.frames, tasks.c.state, tasks.c.ref_minutes)
                                    .where(tasks.c.job_id == job_id, tasks.c.seq == seq)).one() for seq in (1, 100_000))
        # every frame row points at the task that renders it
        strays = conn.execute(text(
            "SELECT count(*) FROM api.frames f JOIN api.tasks t ON t.task_id = f.task_id "
            "WHERE f.job_id = :j AND NOT (f.frame = ANY (t.frames) AND t.job_id = f.job_id)"), {"j": job_id}).scalar_one()
    assert (first.frames, first.state, last.frames) == ([1], "queued", [100_000])
    assert first.ref_minutes == pytest.approx(per_frame_min, rel=1e-3) and strays == 0


def test_bulk_rows_are_the_chunks_of_the_frame_list(api) -> None:
    client, engine, headers = api
    settings = {**SMALL, "frames": "1-7,20-30x5,100", "frames_per_node": 3}
    job_id = client.post("/jobs", json={"upload_id": make_upload(engine, CREATOR), "settings": settings},
                         headers=headers).json()["job_id"]
    with engine.connect() as conn:
        made = conn.execute(select(tasks.c.seq, tasks.c.frames, tasks.c.ref_minutes).where(tasks.c.job_id == job_id)
                            .order_by(tasks.c.seq)).all()
        owners = dict(conn.execute(select(frames.c.frame, frames.c.task_id).where(frames.c.job_id == job_id)).all())
        by_task = dict(conn.execute(select(tasks.c.task_id, tasks.c.seq).where(tasks.c.job_id == job_id)).all())
    chunks = parse_job_spec(settings).chunks()
    assert [(r.seq, r.frames) for r in made] == [(i + 1, c) for i, c in enumerate(chunks)]
    assert made[0].ref_minutes == pytest.approx(1.5 * made[-1].ref_minutes)  # three frames against two
    assert {f: by_task[t] for f, t in owners.items()} == {f: i + 1 for i, c in enumerate(chunks) for f in c}


@pytest.fixture
def limited(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    """The API with small unpaid-work limits: 2 jobs, 10 frames, an hour to pay."""
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, scheduler_background=False, unpaid_jobs_max=2, unpaid_frames_max=10,
                                       unpaid_job_ttl_s=3600)  # fmt: skip
    with TestClient(app) as client:
        yield client, engine, {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}
    engine.dispose()


def create(client: TestClient, engine: Engine, headers: dict[str, str], frames: str = "1-4", owner: str = CREATOR
           ) -> Any:  # fmt: skip
    """POST /jobs of a small job of ``frames`` by ``owner`` (``headers`` are its session's)."""
    body = {"upload_id": make_upload(engine, owner), "settings": {**SMALL, "frames": frames}}
    return client.post("/jobs", json=body, headers=headers)


def as_other(engine: Engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_for(engine, OTHER)}"}


def test_an_account_holds_a_bounded_number_of_unpaid_jobs(limited) -> None:
    client, engine, headers = limited
    first, second = (create(client, engine, headers).json()["job_id"] for _ in range(2))
    before = counts(engine)
    refused = create(client, engine, headers)
    assert refused.status_code == 429 and "2 jobs waiting for their escrow" in refused.json()["detail"]
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600  # when the oldest unpaid job expires
    assert counts(engine) == before  # nothing written
    assert create(client, engine, as_other(engine), owner=OTHER).status_code == 201  # another account: its own room
    activate(engine, first, 77)  # paying for one frees its place
    third = create(client, engine, headers)
    assert third.status_code == 201, third.text
    cancelled = client.post(f"/jobs/{second}/cancel", headers=headers)  # so does cancelling one
    assert cancelled.status_code == 200 and cancelled.json()["escrow"] == "no escrow was opened"
    with engine.connect() as conn:  # an unpaid job leaves no tasks or frames behind
        left = [conn.execute(select(func.count()).select_from(t).where(t.c.job_id == second)).scalar_one()
                for t in (tasks, frames)]
    assert left == [0, 0] and create(client, engine, headers).status_code == 201
    late = client.post(f"/jobs/{second}/escrow", json={"txn_hash": "ab" * 32}, headers=headers)
    assert late.status_code == 409 and "no escrow can be linked" in late.json()["detail"]


def test_an_account_holds_a_bounded_number_of_unpaid_frames(limited) -> None:
    client, engine, headers = limited
    assert create(client, engine, headers, "1-6").status_code == 201
    refused = create(client, engine, headers, "1-6")
    assert refused.status_code == 429 and "hold 6 frames and this one 6" in refused.json()["detail"]
    assert create(client, engine, headers, "1-4").status_code == 201  # exactly the limit
    alone = create(client, engine, headers, "1-11")  # more than the limit on its own: it can never fit
    assert alone.status_code == 422
    assert alone.json()["problems"][0]["field"] == "frames" and "split the job" in alone.json()["detail"]


def test_a_job_left_unpaid_expires_and_can_no_longer_be_linked(limited) -> None:
    client, engine, headers = limited
    app = client.app
    stale, fresh = (create(client, engine, headers).json()["job_id"] for _ in range(2))
    paid = create(client, engine, as_other(engine), owner=OTHER).json()["job_id"]
    activate(engine, paid, 78)
    long_ago = scheduler.utcnow() - timedelta(seconds=3601)
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.job_id.in_([stale, paid])).values(created_at=long_ago))
        version = conn.execute(select(jobs.c.version).where(jobs.c.job_id == stale)).scalar_one()
    asyncio.run(scheduler_pass(app))
    detail = client.get(f"/jobs/{stale}", headers=headers).json()
    assert (detail["state"], detail["version"], detail["frames"]) == ("expired", version + 1, [])
    assert client.get(f"/jobs/{fresh}", headers=headers).json()["state"] == "awaiting_escrow"
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.state).where(jobs.c.job_id == paid)).scalar_one() == "active"
        assert conn.execute(select(func.count()).select_from(tasks).where(tasks.c.job_id == stale)).scalar_one() == 0
    linked = client.post(f"/jobs/{stale}/escrow", json={"txn_hash": "ab" * 32}, headers=headers)
    assert linked.status_code == 409 and "expired" in linked.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.escrow_txn_hash).where(jobs.c.job_id == stale)).scalar_one() is None
    assert client.post(f"/jobs/{stale}/cancel", headers=headers).status_code == 409
    with client.stream("GET", f"/jobs/{stale}/events?timeout=30", headers=headers) as stream:
        assert "event: end" in "".join(stream.iter_text())  # a terminal state ends the stream at once
    assert create(client, engine, headers).status_code == 201  # an expired job holds no place
