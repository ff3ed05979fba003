"""The task state machine: its tables are consistent, a move writes only rows whose state allows it, and the
claim that runs inside PostgreSQL performs only moves the tables allow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from api import jobs as jobs_api
from api import scheduler
from pictor.db import get_engine
from tables.jobs import frames, job_node_failures, jobs, tasks
from tables.state_machine import (
    FRAME_TRANSITIONS,
    JOB_TRANSITIONS,
    LEASED,
    TASK_TRANSITIONS,
    FrameState,
    IllegalTransition,
    JobState,
    TaskState,
    bump,
    can_move,
    count_failure,
    drop_unpaid_work,
    expire_job,
    finish_job,
    move_frames,
    move_job,
    move_task,
    reopen_job,
    return_task,
)
from tests.support.api import make_settings
from tests.support.jobs import CREATOR, SMALL, activate, make_upload, telemetry


@pytest.mark.parametrize(
    ("table", "states"),
    [(TASK_TRANSITIONS, TaskState), (FRAME_TRANSITIONS, FrameState), (JOB_TRANSITIONS, JobState)],
)
def test_every_state_has_a_row_and_every_transition_a_reason(table, states) -> None:
    assert set(table) == set(states)
    for source, targets in table.items():
        assert set(targets) <= set(states)
        assert all(reason.strip() for reason in targets.values()), source


def test_terminal_states_go_nowhere() -> None:
    assert TASK_TRANSITIONS[TaskState.FAILED] == {} and TASK_TRANSITIONS[TaskState.CANCELLED] == {}
    assert FRAME_TRANSITIONS[FrameState.FAILED] == {}
    assert JOB_TRANSITIONS[JobState.CANCELLED] == {} and JOB_TRANSITIONS[JobState.EXPIRED] == {}
    assert [s for s, targets in JOB_TRANSITIONS.items() if JobState.EXPIRED in targets] == [JobState.AWAITING_ESCROW]
    assert can_move(JOB_TRANSITIONS, JobState.COMPLETED, JobState.ACTIVE)
    assert not can_move(JOB_TRANSITIONS, JobState.COMPLETED, JobState.CANCELLED)


@pytest.fixture
def env(db_url: str, tmp_path) -> tuple[Engine, object, int]:
    engine = get_engine(db_url)
    settings = make_settings(tmp_path)
    body = jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR), settings=SMALL)
    job_id = jobs_api.insert_job(engine, body, CREATOR, settings)["job_id"]
    yield engine, settings, job_id
    engine.dispose()


def _states(engine: Engine, job_id: int) -> tuple[str, list[str], list[str]]:
    with engine.connect() as conn:
        job = conn.execute(select(jobs.c.state).where(jobs.c.job_id == job_id)).scalar_one()
        task_states = conn.execute(select(tasks.c.state).where(tasks.c.job_id == job_id).order_by(tasks.c.seq)).scalars().all()
        frame_states = conn.execute(select(frames.c.state).where(frames.c.job_id == job_id).order_by(frames.c.frame)).scalars().all()
    return job, list(task_states), list(frame_states)


def test_a_move_leaves_a_row_whose_state_does_not_allow_it_alone(env) -> None:
    engine, _, job_id = env
    now = datetime.now(UTC)
    with engine.begin() as conn:
        first = conn.execute(select(tasks.c.task_id).where(tasks.c.job_id == job_id, tasks.c.seq == 1)).scalar_one()
        assert move_task(conn, first, TaskState.RENDERED, updated_at=now) == 0  # queued never goes to rendered
        assert move_task(conn, first, TaskState.CANCELLED, updated_at=now) == 1
        assert move_task(conn, first, TaskState.QUEUED, updated_at=now) == 0  # cancelled is final
        assert move_frames(conn, job_id, FrameState.VERIFIED, of_task=first, updated_at=now) == 0
    assert _states(engine, job_id)[1][0] == "cancelled"


def test_asking_for_a_transition_the_table_does_not_have_is_refused(env) -> None:
    engine, _, job_id = env
    with engine.begin() as conn, pytest.raises(IllegalTransition, match="may not go from queued to rendered"):
        move_task(conn, 1, TaskState.RENDERED, from_=[TaskState.QUEUED])
    with engine.begin() as conn, pytest.raises(IllegalTransition, match="through move_job"):
        bump(conn, job_id, state="active")


def test_job_moves_bump_its_version_and_reopen_only_a_completed_job(env) -> None:
    engine, _, job_id = env
    with engine.begin() as conn:
        version = conn.execute(select(jobs.c.version).where(jobs.c.job_id == job_id)).scalar_one()
        assert not move_job(conn, job_id, JobState.PAUSED)  # awaiting_escrow → paused is no transition
        assert move_job(conn, job_id, JobState.ACTIVE)
        reopen_job(conn, job_id)  # active stays active: only the version moves
        state, after = conn.execute(select(jobs.c.state, jobs.c.version).where(jobs.c.job_id == job_id)).one()
    assert (state, after) == ("active", version + 2)


def test_return_task_requeues_frames_or_fails_them_and_finish_completes_the_job(env) -> None:
    engine, settings, job_id = env
    activate(engine, job_id, 41)
    scheduler.record_heartbeat(engine, 5, "0x" + "ab" * 32, telemetry(), "test")
    lease = scheduler.claim(engine, 5, settings)
    assert lease is not None and lease["job_id"] == job_id
    job, task_states, frame_states = _states(engine, job_id)
    assert task_states[0] in {str(s) for s in LEASED} and frame_states[:2] == ["assigned", "assigned"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == lease["task_id"])).one()
        assert return_task(conn, row, now, to=TaskState.FAILED) == 1
    assert _states(engine, job_id)[2][:2] == ["failed", "failed"]
    with engine.begin() as conn:
        conn.execute(tasks.update().where(tasks.c.job_id == job_id, tasks.c.state == "queued").values(state="cancelled"))
        assert finish_job(conn, job_id) is False
    assert _states(engine, job_id)[0] == "completed"


def test_the_blocklist_is_counted_in_one_place(env) -> None:
    engine, _, job_id = env
    with engine.begin() as conn:
        assert count_failure(conn, job_id, 9, "first", blocklist_after=2) is False
        assert count_failure(conn, job_id, 9, "second", blocklist_after=2) is True
        row = conn.execute(select(job_node_failures).where(job_node_failures.c.node_id == 9)).one()
    assert (row.failures, row.blocklisted, row.last_error) == (2, True, "second")


def test_the_claim_inside_postgresql_makes_only_allowed_moves(env) -> None:
    engine, settings, job_id = env
    activate(engine, job_id, 42)
    scheduler.record_heartbeat(engine, 6, "0x" + "cd" * 32, telemetry(), "test")
    before = _states(engine, job_id)
    assert scheduler.claim(engine, 6, settings) is not None
    after = _states(engine, job_id)
    assert can_move(JOB_TRANSITIONS, before[0], after[0]) or before[0] == after[0]
    for table, old_states, new_states in ((TASK_TRANSITIONS, before[1], after[1]), (FRAME_TRANSITIONS, before[2], after[2])):
        for old, new in zip(old_states, new_states, strict=True):
            assert old == new or can_move(table, old, new), (old, new)
    assert after[1][0] == "assigned" and after[2][:2] == ["assigned", "assigned"]


def test_only_a_job_waiting_for_its_escrow_expires_and_only_unpaid_work_is_dropped(env) -> None:
    engine, settings, job_id = env
    paid = jobs_api.insert_job(engine, jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR), settings=SMALL),
                               CREATOR, settings)["job_id"]  # fmt: skip
    activate(engine, paid, 43)
    with engine.begin() as conn:
        assert expire_job(conn, paid) is False  # linked meanwhile: left alone
        with pytest.raises(IllegalTransition, match="has an escrow"):
            drop_unpaid_work(conn, paid)
    assert _states(engine, paid) == ("active", ["queued"] * 3, ["queued"] * 6)
    with engine.begin() as conn:
        assert expire_job(conn, job_id) is True
        assert expire_job(conn, job_id) is False  # expired is final
    assert _states(engine, job_id) == ("expired", [], [])
