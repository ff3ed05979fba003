"""The coordinator's chain outbox: ``assign``, ``requeue``, ``unverified`` and ``close`` transactions, each sent once.

Rows are unique per (kind, job, task, attempt) and written in the same transaction as the change they announce.
:func:`process_outbox` reads the chain's view of the task before each submission, so a submission whose answer
was lost is recognised instead of repeated; errors retry with a backoff, and an abort that will never pass gives
the row up (a refused assignment returns its task to the queue and, when the escrow is short, pauses the job).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chain.errors import ChainError, MoveAbortError
from pictor.settings import Settings
from tables.jobs import chain_outbox, jobs, tasks
from tables.state_machine import (
    LEASED,
    FrameState,
    JobState,
    TaskState,
    bump,
    exclude_node,
    move_frames,
    move_job,
    reopen_job,
    return_task,
)

log = logging.getLogger(__name__)


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
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
    )


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
    outbox(conn, "unverified", task, chain_job_id, node_id, max(datetime.now(UTC), not_before))


def unverified_requeued(conn: Any, row: Any, settings: Settings) -> None:
    """The chain took back an unverifiable result: the task goes to another worker (no strike, no failure)."""
    now = datetime.now(UTC)
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).first()
    if task is None or task.state != TaskState.RENDERED or task.attempt != row.attempt:
        return
    job_state = conn.execute(select(jobs.c.state).where(jobs.c.job_id == task.job_id)).scalar_one()
    if job_state == JobState.CANCELLED:
        state = TaskState.CANCELLED
    else:
        state = TaskState.FAILED if task.attempt >= settings.task_max_attempts else TaskState.QUEUED
    return_task(conn, task, now, to=state)
    if state is TaskState.CANCELLED:  # its frames wait in the queue with no task to render them
        move_frames(conn, task.job_id, FrameState.QUEUED, of_task=task.task_id, sha256=None, updated_at=now)
    exclude_node(conn, int(row.node_id), task.job_id, task.task_id)  # another worker renders it
    reopen_job(conn, task.job_id)
    log.warning(
        "task %s attempt %s (worker node %s): the chain requeued the unverifiable result (%s/%s, no strike); %s",
        task.task_id,
        task.attempt,
        row.node_id,
        row.chain_job_id,
        row.chain_task_id,
        "frames failed after the last attempt" if state is TaskState.FAILED else f"task {state}",
    )


def _give_up_assignment(conn: Any, row: Any, reason: str, now: datetime) -> None:
    """The chain refused an assignment: the task goes back to the queue; an uncovered quote pauses the job."""
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).first()
    if task is not None and task.attempt == row.attempt and task.state in LEASED:
        return_task(conn, task, now, to=TaskState.QUEUED, clear_frames=False)
    if reason == "E_INSUFFICIENT_ESCROW" and move_job(
        conn,
        row.job_id,
        JobState.PAUSED,
        from_=[JobState.ACTIVE],
        pause_reason="the escrow cannot cover the next task's quote; top it up",
    ):
        return
    bump(conn, row.job_id)


async def process_outbox(engine: Engine, chain: Any, coordinator: Any, settings: Settings, limit: int = 50) -> int:
    """Submit due outbox rows in order (one task's rows strictly in sequence); how many were settled."""
    now = datetime.now(UTC)
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
                        _give_up_assignment(conn, row, reason or "", datetime.now(UTC))
                    settled += 1
                else:
                    delay = min(60.0, settings.scheduler_interval_s * 2 ** min(row.tries, 5))
                    conn.execute(
                        update(chain_outbox)
                        .where(chain_outbox.c.id == row.id)
                        .values(
                            tries=row.tries + 1,
                            last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
                            next_try_at=datetime.now(UTC) + timedelta(seconds=delay),
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
    now = datetime.now(UTC)
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
