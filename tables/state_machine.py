"""The one place where task, frame and job statuses change: the statuses, the transitions allowed between them
(as data), the moves that write them, the blocklist, and the job's version that its event stream announces.

The scheduler finds and leases work and the verification code decides verdicts; both ask this module to move
things. A move writes only rows whose current state may go to the target (``state IN (allowed sources)`` in the
same statement), so a row that moved meanwhile is left alone instead of being overwritten. The claim itself runs
inside PostgreSQL (``api.claim_task``, revision 0009) for speed: it performs the ``queued → assigned`` task and
frame moves and the ``active ↔ paused`` job moves listed here, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import all_, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tables.jobs import frames, job_node_failures, jobs, tasks


class TaskState(StrEnum):
    """A task (a chunk of frames rendered by one node)."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    RENDERING = "rendering"
    RENDERED = "rendered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FrameState(StrEnum):
    """One frame of a job."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    RENDERING = "rendering"
    RENDERED = "rendered"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


class JobState(StrEnum):
    """A render job."""

    AWAITING_ESCROW = "awaiting_escrow"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


T, F, J = TaskState, FrameState, JobState

#: Every task transition, with why it happens.
TASK_TRANSITIONS: Mapping[TaskState, Mapping[TaskState, str]] = {
    T.QUEUED: {
        T.ASSIGNED: "a node claimed it (api.claim_task)",
        T.CANCELLED: "its job was cancelled",
    },
    T.ASSIGNED: {
        T.RENDERING: "the node's first task heartbeat",
        T.RENDERED: "the node completed it with a signed manifest",
        T.QUEUED: "the lease expired or was given back, the node gave up, or the chain refused the assignment",
        T.FAILED: "the node gave up on its last attempt",
        T.CANCELLED: "its job was cancelled while it was leased",
    },
    T.RENDERING: {
        T.RENDERING: "a task heartbeat extended the lease",
        T.RENDERED: "the node completed it with a signed manifest",
        T.QUEUED: "the lease expired or was given back, the node gave up, or the chain refused the assignment",
        T.FAILED: "the node gave up on its last attempt",
        T.CANCELLED: "its job was cancelled while it was leased",
    },
    T.RENDERED: {
        T.QUEUED: "its result failed verification or could not be verified: another worker renders it",
        T.FAILED: "its result failed verification on the last attempt",
        T.CANCELLED: "its unverifiable result was taken back after its job was cancelled",
    },
    T.FAILED: {},
    T.CANCELLED: {},
}

#: Every frame transition, with why it happens.
FRAME_TRANSITIONS: Mapping[FrameState, Mapping[FrameState, str]] = {
    F.QUEUED: {F.ASSIGNED: "its task was claimed (api.claim_task)"},
    F.REJECTED: {
        F.ASSIGNED: "the re-render task the creator asked for was claimed (api.claim_task)",
        F.QUEUED: "the re-render's lease ended",
        F.FAILED: "the re-render failed on its last attempt",
    },
    F.ASSIGNED: {
        F.RENDERING: "the node's first task heartbeat or the frame's upload",
        F.RENDERED: "the task was completed",
        F.QUEUED: "the task went back to the queue",
        F.FAILED: "the task failed on its last attempt",
    },
    F.RENDERING: {
        F.RENDERING: "the frame was uploaded (again)",
        F.RENDERED: "the task was completed",
        F.QUEUED: "the task went back to the queue",
        F.FAILED: "the task failed on its last attempt",
    },
    F.RENDERED: {
        F.VERIFYING: "a checker claimed its verification",
        F.VERIFIED: "checker attestations reached quorum",
        F.ACCEPTED: "the creator accepted it",
        F.REJECTED: "the creator rejected it: a re-render task is queued",
        F.QUEUED: "its task's result failed verification or could not be verified",
        F.FAILED: "its task's result failed verification on the last attempt",
    },
    F.VERIFYING: {
        F.RENDERED: "the checker gave the verification back",
        F.VERIFIED: "checker attestations reached quorum",
        F.QUEUED: "its task's result failed verification or could not be verified",
        F.FAILED: "its task's result failed verification on the last attempt",
    },
    F.VERIFIED: {
        F.ACCEPTED: "the creator accepted it",
        F.REJECTED: "the creator rejected it: a re-render task is queued",
    },
    F.ACCEPTED: {
        F.QUEUED: "the creator accepted it before verification and its task's result then failed verification",
        F.FAILED: "as above, on the last attempt",
    },
    F.FAILED: {},
}

#: Every job transition, with why it happens.
JOB_TRANSITIONS: Mapping[JobState, Mapping[JobState, str]] = {
    J.AWAITING_ESCROW: {
        J.ACTIVE: "the indexer showed the escrow the creator opened",
        J.CANCELLED: "the creator cancelled it",
        J.EXPIRED: "its escrow was not linked within PICTOR_UNPAID_JOB_TTL_S of its creation (the scheduler pass)",
    },
    J.ACTIVE: {
        J.PAUSED: "the escrow cannot cover the next task's quote (api.claim_task, or the chain refused)",
        J.COMPLETED: "no task is left to render",
        J.CANCELLED: "the creator cancelled it",
    },
    J.PAUSED: {
        J.ACTIVE: "the escrow covers the next quote again (a top-up)",
        J.COMPLETED: "no task is left to render",
        J.CANCELLED: "the creator cancelled it",
    },
    J.COMPLETED: {J.ACTIVE: "a frame is rendered again (rejected by the creator, or its result failed)"},
    J.CANCELLED: {},
    J.EXPIRED: {},
}

#: Tasks a node holds a lease on.
LEASED: tuple[TaskState, ...] = (T.ASSIGNED, T.RENDERING)
#: Tasks still to render: a job with none is finished.
OPEN_TASKS: tuple[TaskState, ...] = (T.QUEUED, T.ASSIGNED, T.RENDERING)
#: Jobs whose tasks nodes may claim.
CLAIMABLE_JOBS: tuple[JobState, ...] = (J.ACTIVE, J.PAUSED)
#: Jobs that no longer change.
TERMINAL_JOBS: tuple[JobState, ...] = (J.COMPLETED, J.CANCELLED, J.EXPIRED)
#: Frames the creator may accept or reject.
REVIEWABLE_FRAMES: tuple[FrameState, ...] = (F.RENDERED, F.VERIFIED)


class IllegalTransition(ValueError):
    """A move that the transition tables do not allow (a programming error, never a user's)."""


def _sources(table: Mapping[Any, Mapping[Any, str]], to: Any, wanted: Iterable[Any] | None, what: str) -> list[str]:
    """The states that may move to ``to`` (narrowed to ``wanted``); IllegalTransition when ``wanted`` asks more."""
    allowed = {state for state, targets in table.items() if to in targets}
    if wanted is None:
        sources = allowed
    else:
        sources = set(wanted)
        if not sources <= allowed:
            illegal = ", ".join(sorted(str(s) for s in sources - allowed))
            raise IllegalTransition(f"a {what} may not go from {illegal} to {to}")
    if not sources:
        raise IllegalTransition(f"no {what} state goes to {to}")
    return sorted(str(s) for s in sources)


def can_move(table: Mapping[Any, Mapping[Any, str]], src: Any, to: Any) -> bool:
    """Whether the table allows ``src → to``."""
    return to in table.get(src, {})


# ----------------------------------------------------------------------------- moves


def move_task(
    conn: Any, task_id: int, to: TaskState, *, from_: Iterable[TaskState] | None = None, **values: Any
) -> int:
    """Move one task to ``to`` (with other column ``values``) if its state allows it; 1 when it moved, else 0."""
    sources = _sources(TASK_TRANSITIONS, to, from_, "task")
    return conn.execute(
        update(tasks).where(tasks.c.task_id == task_id, tasks.c.state.in_(sources)).values(state=str(to), **values)
    ).rowcount


def cancel_queued_tasks(conn: Any, job_id: int, now: datetime) -> int:
    """Cancel a job's queued tasks (leased ones stop at their node's next heartbeat); how many."""
    sources = _sources(TASK_TRANSITIONS, T.CANCELLED, [T.QUEUED], "task")
    return conn.execute(
        update(tasks)
        .where(tasks.c.job_id == job_id, tasks.c.state.in_(sources))
        .values(state=str(T.CANCELLED), updated_at=now)
    ).rowcount


def move_frames(
    conn: Any,
    job_id: int,
    to: FrameState,
    *,
    of_task: int | None = None,
    numbers: Iterable[int] | None = None,
    from_: Iterable[FrameState] | None = None,
    **values: Any,
) -> int:
    """Move a job's frames (those of task ``of_task`` and/or with these ``numbers``) to ``to`` where their state
    allows it, writing the other column ``values`` too; how many moved."""
    sources = _sources(FRAME_TRANSITIONS, to, from_, "frame")
    which = [frames.c.job_id == job_id, frames.c.state.in_(sources)]
    if of_task is not None:
        which.append(frames.c.task_id == of_task)
    if numbers is not None:
        which.append(frames.c.frame.in_(list(numbers)))
    return conn.execute(update(frames).where(*which).values(state=str(to), **values)).rowcount


def bump(conn: Any, job_id: int, **values: Any) -> None:
    """Change a job's columns (never its state: :func:`move_job`) or only bump its version, inside the caller's
    transaction: a job's event stream announces every version.

    Hot paths (claims, task heartbeats, frame uploads, completions) use :data:`TOUCH` after their commit instead:
    an update of the job row holds the row's lock until the commit is flushed, so a bump inside every claim makes
    all claims of a job wait on one another."""
    if "state" in values:
        raise IllegalTransition("a job's state changes through move_job")
    conn.execute(
        update(jobs).where(jobs.c.job_id == job_id).values(version=jobs.c.version + 1, updated_at=datetime.now(UTC), **values)
    )


def move_job(conn: Any, job_id: int, to: JobState, *, from_: Iterable[JobState] | None = None, **values: Any) -> bool:
    """Move a job to ``to`` (bumping its version) if its state allows it; True when it moved."""
    sources = _sources(JOB_TRANSITIONS, to, from_, "job")
    moved = conn.execute(
        update(jobs)
        .where(jobs.c.job_id == job_id, jobs.c.state.in_(sources))
        .values(state=str(to), version=jobs.c.version + 1, updated_at=datetime.now(UTC), **values)
    ).rowcount
    return bool(moved)


def expire_job(conn: Any, job_id: int) -> bool:
    """Expire a job still waiting for its escrow, dropping its unpaid work (:func:`drop_unpaid_work`); True when
    it moved (a job linked meanwhile is left alone)."""
    if not move_job(conn, job_id, J.EXPIRED, from_=[J.AWAITING_ESCROW]):
        return False
    drop_unpaid_work(conn, job_id)
    return True


def drop_unpaid_work(conn: Any, job_id: int) -> None:
    """Delete the tasks and frames of a job that never had an escrow (expired, or cancelled before it was paid
    for): none was claimed, rendered or paid, and an account that creates and drops unpaid jobs must not pile up
    their rows (a job may hold 100,000 frames). The job's row stays, with its settings and estimate."""
    if conn.execute(select(jobs.c.chain_job_id).where(jobs.c.job_id == job_id)).scalar_one() is not None:
        raise IllegalTransition(f"job {job_id} has an escrow: its tasks and frames are kept")
    conn.execute(delete(frames).where(frames.c.job_id == job_id))
    conn.execute(delete(tasks).where(tasks.c.job_id == job_id))


def reopen_job(conn: Any, job_id: int) -> None:
    """A frame of the job is rendered again: a completed job becomes active; any other only bumps its version."""
    if not move_job(conn, job_id, J.ACTIVE, from_=[J.COMPLETED]):
        bump(conn, job_id)


def finish_job(conn: Any, job_id: int) -> bool:
    """Complete the job once no task is left to render.

    True when only leased tasks are left: they may be finishing in transactions this one cannot see yet, so the
    caller runs :data:`TOUCH_FINISH` after its commit."""
    queued, leased = conn.execute(
        select(
            select(tasks.c.task_id).where(tasks.c.job_id == job_id, tasks.c.state == str(T.QUEUED)).exists(),
            select(tasks.c.task_id).where(tasks.c.job_id == job_id, tasks.c.state.in_([str(s) for s in LEASED])).exists(),
        )
    ).one()
    if not queued and not leased:
        conn.execute(
            update(jobs)
            .where(jobs.c.job_id == job_id, jobs.c.state.in_(_sources(JOB_TRANSITIONS, J.COMPLETED, None, "job")))
            .values(state=str(J.COMPLETED), pause_reason=None)
        )
    return not queued and leased


def return_task(conn: Any, task: Any, now: datetime, *, to: TaskState, clear_frames: bool = True) -> int:
    """Give a task (a locked row) back: to the queue, failed after its last attempt, or cancelled with its job.

    Its lease ends; unless it is cancelled, its frames follow it (queued or failed, their uploaded image
    forgotten). 1 when the task moved."""
    moved = move_task(conn, task.task_id, to, node_id=None, lease_deadline=None, updated_at=now)
    if moved and to is not T.CANCELLED:
        frame_to = F.FAILED if to is T.FAILED else F.QUEUED
        extra = {"sha256": None} if clear_frames else {}
        move_frames(conn, task.job_id, frame_to, of_task=task.task_id, updated_at=now, **extra)
    return moved


# ----------------------------------------------------------------------------- who may render what


def count_failure(conn: Any, job_id: int, node_id: int, error: str, blocklist_after: int) -> bool:
    """Count a failed task of the job against the node (a failed render or a result that failed verification);
    True when the node is now blocklisted for the job (at ``blocklist_after`` failures)."""
    return bool(
        conn.execute(
            pg_insert(job_node_failures)
            .values(
                job_id=job_id,
                node_id=node_id,
                failures=1,
                blocklisted=blocklist_after <= 1,
                last_error=error[:2000],
            )
            .on_conflict_do_update(
                index_elements=["job_id", "node_id"],
                set_={
                    "failures": job_node_failures.c.failures + 1,
                    "blocklisted": job_node_failures.c.failures + 1 >= blocklist_after,
                    "last_error": error[:2000],
                },
            )
            .returning(job_node_failures.c.blocklisted)
        ).scalar_one()
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


# ----------------------------------------------------------------------------- version bumps after a commit

def _sql_list(states: Iterable[StrEnum]) -> str:
    """States as an SQL list literal: ``('a', 'b')`` (the values are this module's own identifiers)."""
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


#: Advisory lock space of version bumps (with the job id, modulo 2**31 - 1, as the second key).
TOUCH_LOCK_SPACE = 0x7069_6374  # "pict"

#: Bump a job's version after a committed change. ``synchronous_commit`` is off for this one statement:
#: the row lock goes as soon as the update is done instead of after a WAL flush, and a bump lost in a crash
#: costs an event-stream reader nothing but one late event (the change it announces is already committed and
#: durable). Bumps coalesce: one that finds another bump of the job in flight (its advisory lock held) leaves the
#: row alone, since that bump commits after this caller's change did and so announces it too.
TOUCH = f"""
WITH quick AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE {jobs.fullname} SET version = version + 1, updated_at = %(now)s FROM quick
WHERE job_id = %(job_id)s
  -- CASE: the lock is tried on this job's row only, whatever order the quals run in
  AND CASE WHEN job_id = %(job_id)s
           THEN pg_try_advisory_xact_lock({TOUCH_LOCK_SPACE}, CAST(mod(job_id, 2147483647) AS integer)) END
"""

#: :data:`TOUCH` that also completes the job when no task is left to render (never skipped): completions of a
#: job's last tasks committing side by side each count the other's task as still leased inside their own
#: transaction, so the last one to commit looks again after its commit. No lock is needed for that: each
#: completion commits before its own look starts, so the look that starts last sees every completion (a look that
#: waits for the job's row re-reads only the row, and keeps a state another look set).
TOUCH_FINISH = f"""
WITH quick AS (SELECT set_config('synchronous_commit', 'off', true)),
done AS (
    SELECT NOT EXISTS (SELECT 1 FROM {tasks.fullname} AS t
                       WHERE t.job_id = %(job_id)s AND t.state IN {_sql_list(OPEN_TASKS)}) AS finished
    FROM quick
)
UPDATE {jobs.fullname} AS j
SET version = j.version + 1, updated_at = %(now)s,
    state = CASE WHEN done.finished AND j.state IN {_sql_list(CLAIMABLE_JOBS)} THEN '{J.COMPLETED}' ELSE j.state END,
    pause_reason = CASE WHEN done.finished AND j.state IN {_sql_list(CLAIMABLE_JOBS)} THEN NULL
                        ELSE j.pause_reason END
FROM done
WHERE j.job_id = %(job_id)s
"""


def touch_statement(job_id: int, now: datetime, *, finish: bool) -> tuple[str, dict[str, Any]]:
    """The after-commit version bump of a job (completing it when ``finish`` and no task is left), with its
    parameters, for a psycopg connection in autocommit mode."""
    return (TOUCH_FINISH if finish else TOUCH), {"job_id": job_id, "now": now}
