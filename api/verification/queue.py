"""The checkers' queue: work items queued for rendered tasks and disputes, claims, leases, releases, downloads."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine, and_, any_, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api import scheduler
from api.downloads import job_scene
from api.node_auth import NodeIdentity
from chain.payloads import TASK_DISPUTED, TASK_SUBMITTED
from indexer import schema as mirror
from pictor.settings import Settings
from protocol.canonical import canonical_json
from protocol.evidence import PASS
from tables.jobs import jobs, tasks
from tables.state_machine import FrameState, bump, move_frames
from tables.verification import checker_status, verification_frames, verifications

log = logging.getLogger(__name__)

VERIFY, DISPUTE = "verify", "dispute"


# ----------------------------------------------------------------------------- enqueue


def _excluded_for(conn: Any, job_id: int, task_id: int, frame_numbers: list[int]) -> list[str]:
    """Operators whose ``verify`` pass let through another task covering one of these frames (a frame the creator
    rejected). A dispute judge is not excluded: its verdict is not the one the creator contested."""
    rows = (
        conn.execute(
            select(verifications.c.checker_operator)
            .distinct()
            .where(
                verifications.c.job_id == job_id,
                verifications.c.task_id != task_id,
                verifications.c.purpose == VERIFY,
                verifications.c.verdict == PASS,
                verifications.c.frame_numbers.overlap(frame_numbers),
                verifications.c.checker_operator.is_not(None),
            )
        )
        .scalars()
        .all()
    )
    return sorted(rows)


def insert_item(
    conn: Any, task: Any, chain_job_id: int, purpose: str, round_: int, now: datetime, excluded: list[str] | None = None
) -> None:
    """Queue one work item for the task's current attempt (idempotent per attempt, purpose and round)."""
    manifest = (task.manifest or {}).get("manifest") or {}
    items = [{"frame": int(f["frame"]), "sha256": str(f["sha256"])} for f in manifest.get("frames") or []]
    numbers = sorted(f["frame"] for f in items)
    operator = conn.execute(select(mirror.nodes.c.operator).where(mirror.nodes.c.node_id == task.node_id)).scalar_one()
    if excluded is None:
        excluded = _excluded_for(conn, task.job_id, task.task_id, numbers)
    conn.execute(
        pg_insert(verifications)
        .values(
            job_id=task.job_id,
            task_id=task.task_id,
            task_attempt=task.attempt,
            chain_job_id=chain_job_id,
            chain_task_id=task.seq,
            purpose=purpose,
            round=round_,
            frames=items,
            frame_numbers=numbers,
            result_hash=hashlib.sha256(canonical_json(manifest)).hexdigest(),
            worker_node_id=task.node_id,
            worker_operator=operator,
            excluded_operators=excluded,
            state="queued",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )


def enqueue_rendered(conn: Any, task_id: int, now: datetime) -> None:
    """Queue the first verification of a task just completed with its signed manifest (the complete transaction)."""
    task = conn.execute(select(tasks).where(tasks.c.task_id == task_id)).one()
    chain_job_id = conn.execute(select(jobs.c.chain_job_id).where(jobs.c.job_id == task.job_id)).scalar_one()
    if chain_job_id is None or task.node_id is None:
        return  # no escrow: nothing can be attested
    insert_item(conn, task, int(chain_job_id), VERIFY, 1, now)


def _sync_disputes(conn: Any, now: datetime) -> None:
    """Queue a ``dispute`` item for every task the mirror shows disputed that has none yet."""
    mt = mirror.tasks
    have = select(verifications.c.verification_id).where(
        verifications.c.task_id == tasks.c.task_id,
        verifications.c.task_attempt == tasks.c.attempt,
        verifications.c.purpose == DISPUTE,
    )
    rows = conn.execute(
        select(tasks, jobs.c.chain_job_id.label("chain_job"))
        .join(jobs, jobs.c.job_id == tasks.c.job_id)
        .join(mt, and_(mt.c.job_id == jobs.c.chain_job_id, mt.c.task_id == tasks.c.seq))
        .where(mt.c.state == TASK_DISPUTED, tasks.c.manifest.is_not(None), ~exists(have))
        .limit(50)
    ).all()
    for row in rows:
        passers = (
            conn.execute(
                select(verifications.c.checker_operator)
                .distinct()
                .where(
                    verifications.c.task_id == row.task_id,
                    verifications.c.task_attempt == row.attempt,
                    verifications.c.verdict == PASS,
                    verifications.c.checker_operator.is_not(None),
                )
            )
            .scalars()
            .all()
        )
        insert_item(conn, row, int(row.chain_job), DISPUTE, 1, now, excluded=sorted(passers))


# ----------------------------------------------------------------------------- claims


def _other_fingerprints(conn: Any, job_id: int, exclude: list[int]) -> list[dict[str, Any]]:
    """The latest fingerprint of each other frame of the job (copy detection)."""
    vf = verification_frames
    rows = conn.execute(
        select(vf.c.frame, vf.c.fingerprint)
        .ext(distinct_on(vf.c.frame))
        .where(vf.c.job_id == job_id, vf.c.fingerprint.is_not(None), vf.c.frame.not_in(exclude or [-1]))
        .order_by(vf.c.frame, vf.c.created_at.desc())
        .limit(1000)
    ).all()
    return [dict(r.fingerprint, frame=r.frame) for r in rows]


def claim(engine: Engine, node: NodeIdentity, settings: Settings) -> dict[str, Any] | None:
    """Lease the oldest claimable item to the checker (disputes first); None when there is none."""
    now = scheduler.utcnow()
    v, mt = verifications, mirror.tasks
    other = verifications.alias("other")
    with engine.begin() as conn:
        _sync_disputes(conn, now)
        judged = select(other.c.verification_id).where(
            other.c.task_id == v.c.task_id,
            other.c.task_attempt == v.c.task_attempt,
            other.c.checker_operator == node.operator,
            other.c.verification_id != v.c.verification_id,
        )
        row = conn.execute(
            select(v)
            .join(mt, and_(mt.c.job_id == v.c.chain_job_id, mt.c.task_id == v.c.chain_task_id))
            .where(
                (v.c.state == "queued") | ((v.c.state == "claimed") & (v.c.lease_deadline < now)),
                v.c.worker_operator != node.operator,
                ~(literal(node.operator) == any_(v.c.excluded_operators)),
                ~exists(judged),
                mt.c.result_hash == func.decode(v.c.result_hash, "hex"),
                ((v.c.purpose == VERIFY) & (mt.c.state == TASK_SUBMITTED))
                | ((v.c.purpose == DISPUTE) & (mt.c.state == TASK_DISPUTED)),
            )
            .order_by((v.c.purpose == DISPUTE).desc(), v.c.verification_id)
            .limit(1)
            .with_for_update(of=v, skip_locked=True)
        ).first()
        if row is None:
            return None
        deadline = now + timedelta(seconds=settings.verify_lease_s)
        conn.execute(
            update(v)
            .where(v.c.verification_id == row.verification_id)
            .values(
                state="claimed",
                checker_node_id=node.node_id,
                checker_operator=node.operator,
                lease_deadline=deadline,
                claimed_at=now,
                updated_at=now,
            )
        )
        if row.purpose == VERIFY:
            changed = move_frames(
                conn,
                row.job_id,
                FrameState.VERIFYING,
                of_task=row.task_id,
                numbers=row.frame_numbers,
                from_=[FrameState.RENDERED],
                updated_at=now,
            )
            if changed:
                bump(conn, row.job_id)
        task = conn.execute(select(tasks.c.manifest, tasks.c.attempt).where(tasks.c.task_id == row.task_id)).one()
        stored = task.manifest or {}
        manifest = stored.get("manifest")
        if manifest is None or hashlib.sha256(canonical_json(manifest)).hexdigest() != row.result_hash:
            manifest, signature = None, None  # a later attempt replaced it; the frames list still stands
        else:
            signature = stored.get("signature")
        worker_key = conn.execute(
            select(mirror.nodes.c.public_key).where(mirror.nodes.c.node_id == row.worker_node_id)
        ).scalar_one()
        settings_json = conn.execute(select(jobs.c.settings).where(jobs.c.job_id == row.job_id)).scalar_one()
        others = _other_fingerprints(conn, row.job_id, list(row.frame_numbers))
    return {
        "verification_id": int(row.verification_id),
        "purpose": row.purpose,
        "round": row.round,
        "job_id": int(row.job_id),
        "task_id": int(row.task_id),
        "attempt": row.task_attempt,
        "chain_job_id": str(row.chain_job_id),
        "chain_task_id": str(row.chain_task_id),
        "result_hash": row.result_hash,
        "frames": row.frames,
        "manifest": manifest,
        "manifest_signature": signature,
        "worker_public_key": bytes(worker_key).hex(),
        "worker_operator": row.worker_operator,
        "scene": job_scene(engine, int(row.job_id)),
        "settings": settings_json,
        "other_frames": others,
        "lease_deadline": deadline.isoformat(),
    }


def held(conn: Any, node_id: int, verification_id: int, *, lock: bool = True) -> Any:
    query = select(verifications).where(verifications.c.verification_id == verification_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise HTTPException(404, f"no verification {verification_id}")
    if row.state != "claimed" or row.checker_node_id != node_id:
        raise HTTPException(
            409, f"verification {verification_id} is not claimed by this node (expired, reassigned or finished)"
        )
    return row


def heartbeat(engine: Engine, node_id: int, verification_id: int, settings: Settings) -> datetime:
    """Extend the lease (409 once it was taken by another checker or finished)."""
    now = scheduler.utcnow()
    with engine.begin() as conn:
        held(conn, node_id, verification_id)
        deadline = now + timedelta(seconds=settings.verify_lease_s)
        conn.execute(
            update(verifications)
            .where(verifications.c.verification_id == verification_id)
            .values(lease_deadline=deadline, updated_at=now)
        )
    return deadline


def release(engine: Engine, node_id: int, verification_id: int, reason: str) -> None:
    """Give an item back to the queue (the checker cannot verify it now); its frames are ``rendered`` again."""
    now = scheduler.utcnow()
    with engine.begin() as conn:
        row = held(conn, node_id, verification_id)
        conn.execute(
            update(verifications)
            .where(verifications.c.verification_id == verification_id)
            .values(
                state="queued",
                checker_node_id=None,
                checker_operator=None,
                lease_deadline=None,
                chain_error=f"released: {reason}"[:2000],
                updated_at=now,
            )
        )
        if row.purpose == VERIFY:
            move_frames(
                conn,
                row.job_id,
                FrameState.RENDERED,
                of_task=row.task_id,
                numbers=row.frame_numbers,
                from_=[FrameState.VERIFYING],
                updated_at=now,
            )
            bump(conn, row.job_id)


def may_download(engine: Engine, node_id: int, verification_id: int, sha256: str) -> bool:
    """The scene or a frame of an item claimed by this checker."""
    with engine.connect() as conn:
        row = conn.execute(select(verifications).where(verifications.c.verification_id == verification_id)).first()
        if row is None or row.state != "claimed" or row.checker_node_id != node_id:
            return False
        if any(f["sha256"] == sha256 for f in row.frames):
            return True
    return job_scene(engine, int(row.job_id))["sha256"] == sha256


# ----------------------------------------------------------------------------- verdicts


def record_checker_heartbeat(
    engine: Engine, node: NodeIdentity, telemetry: dict[str, Any], version: str | None
) -> None:
    """Store a checker's heartbeat."""
    now = scheduler.utcnow()
    with engine.begin() as conn:
        conn.execute(
            pg_insert(checker_status)
            .values(
                node_id=node.node_id,
                operator=node.operator,
                telemetry=telemetry,
                agent_version=version,
                last_seen=now,
            )
            .on_conflict_do_update(
                index_elements=["node_id"],
                set_={"operator": node.operator, "telemetry": telemetry, "agent_version": version, "last_seen": now},
            )
        )


# ----------------------------------------------------------------------------- read side


# ----------------------------------------------------------------------------- review-window finalizer


# ----------------------------------------------------------------------------- endpoints


