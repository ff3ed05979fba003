"""Unpaid work is bounded, through the real API on PostgreSQL: a job's tasks and frames are written in bulk (a
100,000-frame job in seconds), an account may hold only so many jobs and frames waiting for their escrow, and a
job whose escrow never came expires in the scheduler pass and can no longer be linked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from api.app import create_app
from pictor.db import get_engine
from protocol.render_spec import parse_job_spec
from tables.jobs import frames, jobs, tasks
from tests.support.api import NoChain, make_settings, session_for
from tests.support.jobs import CREATOR, SMALL, make_upload

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
