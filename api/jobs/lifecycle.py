"""A job's life: creation (job, tasks and frames), its escrow linked and resumed, cancellation, frame review."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine, func, insert, select, text, update

from api import scheduler
from api.jobs.estimate import CreateBody, estimate, owned_upload, ref_seconds_per_frame
from chain.payloads import PictorPayloads
from indexer import schema as mirror
from pictor.settings import Settings, get_settings
from protocol.render_spec import JobSpecError, parse_job_spec
from tables.jobs import frames, jobs, tasks
from tables.state_machine import (
    REVIEWABLE_FRAMES,
    TERMINAL_JOBS,
    FrameState,
    JobState,
    TaskState,
    bump,
    cancel_queued_tasks,
    drop_unpaid_work,
    expire_job,
    move_frames,
    move_job,
    reopen_job,
)


def open_job_payload(settings: Settings, budget: int, price: int) -> dict[str, Any]:
    """The unsigned ``escrow::open_job`` entry-function payload (wallet JSON form), built with chain.payloads."""
    payloads = PictorPayloads(settings.package_address)
    payloads.escrow_open_job(budget, price)  # validates the arguments as the chain will
    return {"type": "entry_function_payload", "function": payloads.function_id("escrow", "open_job"),
            "type_arguments": [], "arguments": [str(budget), str(price)]}


#: A job's tasks and frames in one set-based statement: the sorted frame list in chunks of ``per`` frames
#: (``JobSpec.chunks``), task ``seq`` k+1 for chunk k, and a frame row for each frame of each task made. A job of
#: 100,000 frames costs the API one statement instead of 200,000 rows sent one by one (seconds, not tens).
BULK_TASKS_AND_FRAMES = text(f"""
WITH chunked AS (
    SELECT frame, (ord - 1) / :per AS k FROM unnest(CAST(:frames AS integer[])) WITH ORDINALITY AS f(frame, ord)
), made AS (
    INSERT INTO {tasks.fullname} (job_id, seq, frames, state, priority, attempt, ref_minutes, updated_at)
    SELECT :job_id, k + 1, array_agg(frame ORDER BY frame), :task_state, 0, 0,
           count(*) * CAST(:per_frame_min AS double precision), :now
    FROM chunked GROUP BY k
    RETURNING task_id, frames
)
INSERT INTO {frames.fullname} (job_id, frame, task_id, state, updated_at)
SELECT :job_id, unnest(frames), task_id, :frame_state, :now FROM made
""")


#: Advisory lock space of an account's unpaid jobs (with ``hashtext(owner)``): creations of one account are
#: counted against its limits one at a time.
UNPAID_LOCK_SPACE = 0x756E_7061  # "unpa"


def check_unpaid_room(conn: Any, user: str, frame_count: int, settings: Settings, now: datetime) -> None:
    """Refuse a job the account may not add to its unpaid ones (jobs waiting for their escrow): 429 over the
    count or frame limit, with the time until its oldest unpaid job expires; 422 for a job over the frame limit
    alone. Jobs past their expiry that the scheduler pass has not expired yet are not counted."""
    if frame_count > settings.unpaid_frames_max:
        raise JobSpecError([("frames", f"the job has {frame_count} frames; a job waiting for its escrow may hold at "
                                       f"most {settings.unpaid_frames_max}: split the job")])
    conn.execute(select(func.pg_advisory_xact_lock(UNPAID_LOCK_SPACE, func.hashtext(user))))
    cutoff = now - timedelta(seconds=settings.unpaid_job_ttl_s)
    held, held_frames, oldest = conn.execute(
        select(func.count(), func.coalesce(func.sum(jobs.c.estimate["frames"].as_integer()), 0),
               func.min(jobs.c.created_at))
        .where(jobs.c.owner == user, jobs.c.state == JobState.AWAITING_ESCROW, jobs.c.created_at > cutoff)).one()
    if not held:
        return
    retry = {"Retry-After": str(max(1, math.ceil((oldest - cutoff).total_seconds())))}
    if held >= settings.unpaid_jobs_max:
        raise HTTPException(429, f"you have {held} jobs waiting for their escrow, the most one account may hold; "
                                 "open the escrow of one (POST /jobs/{id}/escrow) or cancel one before creating "
                                 "another (unpaid jobs expire on their own)", headers=retry)
    if int(held_frames) + frame_count > settings.unpaid_frames_max:
        raise HTTPException(429, f"your jobs waiting for their escrow hold {held_frames} frames and this one "
                                 f"{frame_count}; one account may hold {settings.unpaid_frames_max} unpaid frames: "
                                 "open an escrow or cancel a job first", headers=retry)


def insert_job(engine: Engine, body: CreateBody, user: str, settings: Settings) -> dict[str, Any]:
    """Create the job (awaiting its escrow), its tasks and its frames in one transaction; the escrow payload."""
    cfg = parse_job_spec(body.settings)
    frame_list = cfg.frame_list()
    now = scheduler.utcnow()
    with engine.begin() as conn:
        upload = owned_upload(conn, body.upload_id, user)
        check_unpaid_room(conn, user, len(frame_list), settings, now)
        est = estimate(conn, cfg, upload.scene, settings, body.pretest)
        price = int(est["price_per_minute"])
        budget = body.budget or int(est["quoted_total"])
        payload = open_job_payload(settings, budget, price)
        job_id = conn.execute(insert(jobs).values(
            owner=user, upload_id=upload.upload_id, settings=cfg.model_dump(mode="json"), state=JobState.AWAITING_ESCROW,
            priority=body.priority, price_per_minute=price, budget=budget, estimate=est, version=1,
            created_at=now, updated_at=now).returning(jobs.c.job_id)).scalar_one()
        # the unrounded figure the quote used: the rounded one in `est` can quote a task above the budget
        per_frame, _ = ref_seconds_per_frame(cfg, upload.scene, settings, body.pretest)
        conn.execute(BULK_TASKS_AND_FRAMES, {
            "job_id": job_id, "frames": frame_list, "per": cfg.frames_per_node, "per_frame_min": per_frame / 60,
            "task_state": str(TaskState.QUEUED), "frame_state": str(FrameState.QUEUED), "now": now})
    return {"job_id": job_id, "state": str(JobState.AWAITING_ESCROW), "budget": str(budget), "price_per_minute": str(price),
            "estimate": est, "escrow_payload": payload,
            "next": f"sign escrow_payload with the creator's wallet, then POST /jobs/{job_id}/escrow {{txn_hash}}"}


# ----------------------------------------------------------------------------- reading a job


def owned_job(conn: Any, job_id: int, user: str, *, lock: bool = False) -> Any:
    """The user's job (optionally locked); 404 for a job that is not theirs."""
    query = select(jobs).where(jobs.c.job_id == job_id, jobs.c.owner == user)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise HTTPException(404, "no such job")
    return row


def refresh_pending(engine: Engine, settings: Settings) -> int:
    """Refresh every job waiting for its escrow or paused (the scheduler's background task); how many."""
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.job_id, jobs.c.owner).where(
            ((jobs.c.state == JobState.AWAITING_ESCROW) & jobs.c.escrow_txn_hash.is_not(None))
            | (jobs.c.state == JobState.PAUSED))
            .order_by(jobs.c.job_id).limit(500)).all()
    for row in rows:
        try:
            refresh(engine, row.job_id, row.owner, settings)
        except HTTPException:
            continue  # a bad link stays for the creator to see on read
    return len(rows)


def refresh(engine: Engine, job_id: int, user: str, settings: Settings | None = None) -> None:
    """Link the escrow once the indexer shows it; resume a paused job its escrow covers again."""
    with engine.begin() as conn:
        job = owned_job(conn, job_id, user, lock=True)
        if job.state == JobState.AWAITING_ESCROW and job.escrow_txn_hash:
            opened = conn.execute(
                select(mirror.jobs).join(mirror.escrow_ledger, mirror.escrow_ledger.c.job_id == mirror.jobs.c.job_id)
                .where(mirror.escrow_ledger.c.txn_hash == job.escrow_txn_hash, mirror.escrow_ledger.c.kind == "open")
            ).first()
            if opened is None:
                return
            if opened.creator != user:
                raise HTTPException(409, "that transaction opened an escrow of another account")
            if int(opened.price_per_minute) != int(job.price_per_minute):
                raise HTTPException(409, f"that escrow's price per minute is {opened.price_per_minute}, "
                                         f"the job's is {job.price_per_minute}; sign the payload the API gave")
            taken = conn.execute(select(jobs.c.job_id).where(jobs.c.chain_job_id == opened.job_id)).first()
            if taken is not None:
                raise HTTPException(409, f"escrow {opened.job_id} is already linked to job {taken.job_id}")
            move_job(conn, job_id, JobState.ACTIVE, chain_job_id=opened.job_id)
        elif job.state == JobState.PAUSED and job.chain_job_id is not None:
            nxt = conn.execute(select(tasks.c.ref_minutes).where(tasks.c.job_id == job_id, tasks.c.state == TaskState.QUEUED)
                               .order_by(tasks.c.priority.desc(), tasks.c.seq).limit(1)).scalar_one_or_none()
            available = scheduler.escrow_available(conn, job_id, int(job.chain_job_id))
            if nxt is not None and available is not None:
                quote = scheduler.task_quote(settings or get_settings(), int(job.price_per_minute), 1.0, nxt)
                if available >= quote:
                    move_job(conn, job_id, JobState.ACTIVE, pause_reason=None)


def expire_unpaid(engine: Engine, settings: Settings, limit: int = 100) -> int:
    """Expire the jobs still waiting for their escrow ``unpaid_job_ttl_s`` after their creation, dropping their
    tasks and frames (the scheduler pass, after it linked the escrows the indexer shows); how many."""
    cutoff = scheduler.utcnow() - timedelta(seconds=settings.unpaid_job_ttl_s)
    with engine.connect() as conn:
        due = conn.execute(select(jobs.c.job_id).where(jobs.c.state == JobState.AWAITING_ESCROW,
                                                       jobs.c.created_at < cutoff)
                           .order_by(jobs.c.job_id).limit(limit)).scalars().all()
    expired = 0
    for job_id in due:
        with engine.begin() as conn:  # one job per transaction: its rows may be 100,000 frames
            expired += expire_job(conn, job_id)
    return expired


def record_escrow_txn(engine: Engine, job_id: int, user: str, txn_hash: str) -> None:
    """Remember the transaction that opened the job's escrow; it is linked once the indexer shows it."""
    with engine.begin() as conn:
        job = owned_job(conn, job_id, user, lock=True)
        if job.state == JobState.EXPIRED:
            raise HTTPException(409, f"the job expired at {job.updated_at.isoformat()} because its escrow was not "
                                     "linked in time, and can no longer be linked; create the job again (an escrow "
                                     "you opened for it returns its budget when you close it: escrow::close_job)")
        if job.state != JobState.AWAITING_ESCROW:
            raise HTTPException(409, f"the job is {job.state}; " + ("its escrow is already linked" if job.chain_job_id
                                                                    else "no escrow can be linked to it any more"))
        conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(escrow_txn_hash=txn_hash))
    refresh(engine, job_id, user)


def cancel(engine: Engine, job_id: int, user: str) -> dict[str, Any]:
    """Cancel the job: queued tasks stop now (leased ones at their node's next heartbeat); the coordinator closes the
    escrow, which refunds the rest."""
    now = scheduler.utcnow()
    with engine.begin() as conn:
        job = owned_job(conn, job_id, user, lock=True)
        if job.state in TERMINAL_JOBS:
            raise HTTPException(409, f"the job is already {job.state}")
        move_job(conn, job_id, JobState.CANCELLED, pause_reason=None)
        if job.chain_job_id is not None:
            cancel_queued_tasks(conn, job_id, now)
            scheduler.queue_close(conn, job_id, int(job.chain_job_id))
        else:
            drop_unpaid_work(conn, job_id)  # never paid for: nothing to keep
    if job.chain_job_id is not None:
        escrow = "the coordinator closes the escrow; the rest returns to your vault"
    elif job.escrow_txn_hash:
        escrow = (f"no escrow was linked; if transaction {job.escrow_txn_hash} opened one, close it "
                  "(escrow::close_job) to get its budget back")
    else:
        escrow = "no escrow was opened"
    return {"job_id": job_id, "state": str(JobState.CANCELLED), "escrow": escrow}


def review_frame(engine: Engine, job_id: int, frame: int, user: str, settings: Settings, accept: bool) -> dict[str, Any]:
    """Accept a rendered frame, or reject it: a one-frame re-render task is queued for another worker."""
    now = scheduler.utcnow()
    with engine.begin() as conn:
        job = owned_job(conn, job_id, user, lock=True)
        row = conn.execute(select(frames).where(frames.c.job_id == job_id, frames.c.frame == frame)
                           .with_for_update()).first()
        if row is None:
            raise HTTPException(404, f"frame {frame} is not part of job {job_id}")
        if row.state not in REVIEWABLE_FRAMES:
            raise HTTPException(409, f"frame {frame} is {row.state}; only rendered or verified frames are reviewed")
        if row.rendered_at is not None and now > row.rendered_at + timedelta(seconds=settings.review_window_s):
            raise HTTPException(409, f"the review window of frame {frame} has ended")
        if accept:
            move_frames(conn, job_id, FrameState.ACCEPTED, numbers=[frame], updated_at=now)
            bump(conn, job_id)
            return {"frame": frame, "state": str(FrameState.ACCEPTED)}
        if job.state == JobState.CANCELLED:
            raise HTTPException(409, "the job is cancelled; nothing is re-rendered")
        seq = conn.execute(select(func.max(tasks.c.seq)).where(tasks.c.job_id == job_id)).scalar_one() + 1
        old = conn.execute(select(tasks.c.ref_minutes, tasks.c.frames, tasks.c.node_id, tasks.c.excluded_nodes)
                           .where(tasks.c.task_id == row.task_id)).one()
        # the re-render goes to another worker than the one whose frame was rejected
        excluded = sorted({*old.excluded_nodes, *([old.node_id] if old.node_id is not None else [])})
        task_id = conn.execute(insert(tasks).values(
            job_id=job_id, seq=seq, frames=[frame], state=TaskState.QUEUED, priority=10, attempt=0, excluded_nodes=excluded,
            ref_minutes=old.ref_minutes / max(1, len(old.frames)), updated_at=now).returning(tasks.c.task_id)
        ).scalar_one()
        move_frames(conn, job_id, FrameState.REJECTED, numbers=[frame], task_id=task_id, updated_at=now)
        reopen_job(conn, job_id)
        return {"frame": frame, "state": str(FrameState.REJECTED), "rerender_task_id": task_id}




