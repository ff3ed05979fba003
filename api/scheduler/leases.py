"""Leases: node heartbeats, task heartbeats, giving tasks up or back, and the sweep of expired leases.

A lease ends at ``lease_deadline``; task heartbeats extend it; :func:`sweep_expired` returns expired tasks to the
queue (not a failure: a killed worker is not a bad worker), and so does :func:`release_task` when a node gives
its lease back at once (e.g. on SIGTERM). :func:`fail_task` counts a failure: a node that fails
``blocklist_failures`` tasks of one job is blocklisted for it. Each return to the queue outboxes the
coordinator's ``requeue_task``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api.scheduler.batching import touch
from api.scheduler.matching import fact_values, node_facts
from api.scheduler.outbox import outbox
from pictor.settings import Settings
from tables.jobs import jobs, node_status, tasks
from tables.state_machine import (
    LEASED,
    FrameState,
    JobState,
    TaskState,
    bump,
    count_failure,
    move_frames,
    move_task,
    return_task,
)

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


class LeaseGone(Exception):
    """The task is not leased to this node any more (expired, reassigned, finished)."""


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
        **fact_values(facts),
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
                .where(tasks.c.node_id == node_id, tasks.c.state.in_(LEASED), jobs.c.state == JobState.CANCELLED)
            )
            .scalars()
            .all()
        )
    return [int(r) for r in rows]


def leased_task(conn: Any, task_id: int, node_id: int, now: datetime) -> Any:
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
        row = leased_task(conn, task_id, node_id, now)
        state = conn.execute(select(jobs.c.state).where(jobs.c.job_id == row.job_id)).scalar_one()
        deadline = now + timedelta(seconds=settings.lease_s)
        move_task(conn, task_id, TaskState.RENDERING, lease_deadline=deadline, updated_at=now)
        changed = move_frames(
            conn, row.job_id, FrameState.RENDERING, of_task=task_id, from_=[FrameState.ASSIGNED], updated_at=now
        )
    if changed:
        touch(engine, row.job_id)
    return deadline, state == JobState.CANCELLED


def _requeue(conn: Any, row: Any, now: datetime, settings: Settings, *, failed: bool = False) -> None:
    """Give a leased task back to the queue (or fail its frames after too many attempts); outbox a requeue."""
    job = conn.execute(select(jobs.c.chain_job_id, jobs.c.state).where(jobs.c.job_id == row.job_id)).one()
    chain_job_id = job.chain_job_id
    if job.state == JobState.CANCELLED:  # the coordinator's close_job requeues it on chain (reason 4)
        return_task(conn, row, now, to=TaskState.CANCELLED)
        bump(conn, row.job_id)
        return
    out_of_attempts = failed and row.attempt >= settings.task_max_attempts
    return_task(conn, row, now, to=TaskState.FAILED if out_of_attempts else TaskState.QUEUED)
    outbox(conn, "requeue", row, chain_job_id, row.node_id, now)
    bump(conn, row.job_id)


def fail_task(engine: Engine, node_id: int, task_id: int, error: str, settings: Settings) -> bool:
    """The node gave up a task: requeue it and count a failure; True when the node is now blocklisted."""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == task_id).with_for_update()).first()
        if row is None or row.node_id != node_id or row.state not in LEASED:
            raise LeaseGone(f"task {task_id} is not leased to this node")
        _requeue(conn, row, now, settings, failed=True)
        job_state = conn.execute(select(jobs.c.state).where(jobs.c.job_id == row.job_id)).scalar_one()
        if job_state == JobState.CANCELLED:  # stopping for a cancellation is not a failure
            return False
        return count_failure(conn, row.job_id, node_id, error, settings.blocklist_failures)


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




