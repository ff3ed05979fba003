"""Verdicts: a checker's evidence checked, quorum counted, failed and unverifiable results sent back, rounds."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, any_, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api import scheduler
from api.node_auth import NodeIdentity
from api.verification.queue import DISPUTE, VERIFY, held, insert_item
from chain.keys import ROLE_CHECKER
from chain.payloads import TASK_SUBMITTED
from indexer import schema as mirror
from pictor.settings import Settings
from protocol.canonical import canonical_json, canonical_sha256
from protocol.evidence import FAIL, MAX_EVIDENCE_BYTES, PASS, TASK_EVIDENCE_VERSION, UNSURE, task_verdict
from tables.jobs import tasks
from tables.state_machine import (
    FrameState,
    TaskState,
    bump,
    count_failure,
    exclude_node,
    move_frames,
    reopen_job,
    return_task,
)
from tables.verification import verification_frames, verifications

log = logging.getLogger(__name__)

class VerdictBody(BaseModel):
    """A checker's verdict on a claimed item, with its evidence and the attestation transaction."""

    verdict: Literal["pass", "fail", "unsure"]
    evidence: dict[str, Any]
    evidence_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    txn_hash: Annotated[str | None, Field(pattern=r"^0x[0-9a-f]{64}$")] = None
    chain_error: Annotated[str | None, Field(max_length=4000)] = None


class ReleaseBody(BaseModel):
    """Why the checker gives the item back."""

    reason: Annotated[str, Field(max_length=2000)] = ""


def _check_evidence(row: Any, body: VerdictBody, checker_key: bytes) -> list[dict[str, Any]]:
    """The per-frame evidence, once everything in it agrees with the item (400 with the first problem)."""
    raw = canonical_json(body.evidence)
    if len(raw) > MAX_EVIDENCE_BYTES:
        raise HTTPException(413, f"evidence is limited to {MAX_EVIDENCE_BYTES} bytes of canonical JSON")
    if hashlib.sha256(raw).hexdigest() != body.evidence_hash:
        raise HTTPException(400, "the evidence's canonical JSON does not hash to evidence_hash")
    ev = body.evidence
    expect = {
        "version": TASK_EVIDENCE_VERSION,
        "verification_id": int(row.verification_id),
        "result_hash": row.result_hash,
        "verdict": body.verdict,
        "purpose": row.purpose,
        "chain_job_id": str(row.chain_job_id),
        "chain_task_id": str(row.chain_task_id),
    }
    for name, value in expect.items():
        if ev.get(name) != value:
            raise HTTPException(400, f"evidence {name} is {ev.get(name)!r}, expected {value!r}")
    items = ev.get("frames")
    if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
        raise HTTPException(400, "evidence frames must be a list of per-frame evidence objects")
    shas = {int(f["frame"]): f["sha256"] for f in row.frames}
    if sorted(f.get("frame") for f in items if isinstance(f.get("frame"), int)) != sorted(shas):
        raise HTTPException(400, f"the evidence must cover exactly the frames {sorted(shas)}")
    key_hex = checker_key.hex()
    for f in items:
        if f.get("result_sha256") != shas[f["frame"]]:
            raise HTTPException(
                400,
                f"frame {f['frame']}: the evidence names sha256 {f.get('result_sha256')!r}, "
                f"the manifest {shas[f['frame']]}",
            )
        if f.get("checker_public_key") != key_hex:
            raise HTTPException(400, f"frame {f['frame']}: the evidence's checker key is not this node's")
        if f.get("verdict") not in (PASS, FAIL, UNSURE):
            raise HTTPException(400, f"frame {f['frame']}: verdict must be pass, fail or unsure")
    combined = task_verdict([f["verdict"] for f in items])
    if combined != body.verdict:
        raise HTTPException(400, f"the frames' verdicts make the task {combined}, not {body.verdict}")
    return items


def _quorum(conn: Any) -> int:
    quorum = conn.execute(select(mirror.protocol_config.c.quorum)).scalar_one_or_none()
    return int(quorum or 1)


def _requeue_failed(conn: Any, row: Any, settings: Settings, now: datetime) -> None:
    """The chain requeued the task (fail quorum): queue it for another worker, count the worker's failure."""
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).one()
    if task.state != TaskState.RENDERED or task.attempt != row.task_attempt:
        return
    out_of_attempts = task.attempt >= settings.task_max_attempts
    return_task(conn, task, now, to=TaskState.FAILED if out_of_attempts else TaskState.QUEUED)
    count_failure(
        conn,
        task.job_id,
        int(row.worker_node_id),
        f"verification {row.verification_id} failed the result of attempt {row.task_attempt}",
        settings.blocklist_failures,
    )
    exclude_node(conn, int(row.worker_node_id), task.job_id, task.task_id)  # another worker renders it
    reopen_job(conn, task.job_id)


def _requeue_unverifiable(conn: Any, row: Any, settings: Settings, now: datetime, why: str) -> bool:
    """Nothing was proven about the result: the coordinator takes it back on chain (``escrow::requeue_unverified``,
    no strike) and then another worker renders the task; False when it moved meanwhile.

    The chain accepts once a checker abstained on the attempt, or a review window after the submission; the
    outbox row waits for the latter when no abstention committed. The API task stays ``rendered`` until the chain
    took the result back (:func:`api.scheduler.unverified_requeued` then queues it, the worker excluded)."""
    if row.purpose != VERIFY:
        return False  # a dispute keeps its task DISPUTED on chain; the creator's re-render is already queued
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).one()
    if task.state != TaskState.RENDERED or task.attempt != row.task_attempt:
        return False
    onchain = conn.execute(
        select(mirror.tasks.c.state, mirror.tasks.c.result_hash).where(
            mirror.tasks.c.job_id == row.chain_job_id, mirror.tasks.c.task_id == row.chain_task_id
        )
    ).first()
    if onchain is None or onchain.state != TASK_SUBMITTED or bytes(onchain.result_hash).hex() != row.result_hash:
        # an attestation the API never heard of moved it (verified or requeued on chain): do not render it twice
        log.warning(
            "task %s attempt %s is unverifiable (%s) but the chain shows it in state %s: left as it is",
            row.task_id,
            row.task_attempt,
            why,
            None if onchain is None else onchain.state,
        )
        return False
    v = verifications
    attempt_items = conn.execute(
        select(func.min(v.c.created_at), func.count().filter(v.c.verdict == UNSURE, v.c.txn_hash.is_not(None))).where(
            v.c.task_id == row.task_id, v.c.task_attempt == row.task_attempt
        )
    ).one()
    abstained = attempt_items[1] > 0
    window = conn.execute(select(mirror.protocol_config.c.review_window_secs)).scalar_one_or_none()
    not_before = attempt_items[0] + timedelta(seconds=0 if abstained else int(window or 0))
    scheduler.queue_unverified(conn, task, int(row.chain_job_id), int(row.worker_node_id), not_before)
    # the attempt's other items must not be claimed any more
    conn.execute(
        update(v)
        .where(v.c.task_id == row.task_id, v.c.task_attempt == row.task_attempt, v.c.state != "done")
        .values(state="done", lease_deadline=None, chain_error=f"unverifiable: {why}"[:2000], updated_at=now)
    )
    log.warning(
        "task %s attempt %s (worker node %s) is unverifiable: %s; the coordinator requeues on-chain task %s/%s "
        "without a strike %s",
        row.task_id,
        row.task_attempt,
        row.worker_node_id,
        why,
        row.chain_job_id,
        row.chain_task_id,
        "now (a checker abstained)" if abstained else f"at {not_before.isoformat()} (a review window after it)",
    )
    return True


def _undecided(conn: Any, row: Any, settings: Settings, now: datetime) -> str:
    """No decision in this round: ask another operator, or after the last round render the task again."""
    if _next_round(conn, row, settings, now):
        return "asked another checker"
    if _requeue_unverifiable(conn, row, settings, now, f"no decision after {row.round} rounds"):
        return "requeued as unverifiable"
    return "rounds used up"


def escalate_stalled(engine: Engine, settings: Settings, now: datetime | None = None, limit: int = 50) -> int:
    """Requeue as unverifiable the ``verify`` items awaited on chain that no checker may claim and that waited a
    whole round (``verify_lease_s``); how many."""
    now = now or scheduler.utcnow()
    v, mt, n, st = verifications, mirror.tasks, mirror.nodes, mirror.stakes
    other = verifications.alias("other")
    judged = select(other.c.checker_operator).where(
        other.c.task_id == v.c.task_id,
        other.c.task_attempt == v.c.task_attempt,
        other.c.verification_id != v.c.verification_id,
        other.c.checker_operator.is_not(None),
    )
    min_stake = select(mirror.protocol_config.c.min_checker_stake).scalar_subquery()
    eligible = (
        select(n.c.node_id)
        .join(st, and_(st.c.operator == n.c.operator, st.c.role == ROLE_CHECKER))
        .where(
            n.c.role == ROLE_CHECKER,
            n.c.active,
            n.c.operator != v.c.worker_operator,
            ~(n.c.operator == any_(v.c.excluded_operators)),
            n.c.operator.not_in(judged),
            st.c.active >= func.coalesce(min_stake, 0),
        )
    )
    done = 0
    with engine.begin() as conn:
        rows = conn.execute(
            select(v)
            .join(mt, and_(mt.c.job_id == v.c.chain_job_id, mt.c.task_id == v.c.chain_task_id))
            .where(
                v.c.purpose == VERIFY,
                (v.c.state == "queued") | ((v.c.state == "claimed") & (v.c.lease_deadline < now)),
                v.c.updated_at < now - timedelta(seconds=settings.verify_lease_s),
                mt.c.state == TASK_SUBMITTED,
                mt.c.result_hash == func.decode(v.c.result_hash, "hex"),
                ~exists(eligible),
            )
            .order_by(v.c.verification_id)
            .limit(limit)
            .with_for_update(of=v, skip_locked=True)
        ).all()
        for row in rows:
            why = f"no eligible checker operator claimed round {row.round} within {settings.verify_lease_s} s"
            log.warning("verification %s of task %s attempt %s: %s", row.verification_id, row.task_id,
                        row.task_attempt, why)  # fmt: skip
            done += int(_requeue_unverifiable(conn, row, settings, now, why))
    return done


def _next_round(conn: Any, row: Any, settings: Settings, now: datetime) -> bool:
    """Ask another operator (False when the rounds are used up)."""
    if row.round >= settings.verify_max_rounds:
        return False
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id)).one()
    if task.attempt != row.task_attempt:
        return False
    insert_item(conn, task, int(row.chain_job_id), row.purpose, row.round + 1, now, excluded=row.excluded_operators)
    return True


def submit_verdict(
    engine: Engine, node: NodeIdentity, verification_id: int, body: VerdictBody, settings: Settings
) -> dict[str, Any]:
    """Store the verdict and its evidence; move the frames and the task (module docstring, step 4)."""
    now = scheduler.utcnow()
    v = verifications
    with engine.begin() as conn:
        row = held(conn, node.node_id, verification_id)
        key = conn.execute(select(mirror.nodes.c.public_key).where(mirror.nodes.c.node_id == node.node_id)).scalar_one()
        items = _check_evidence(row, body, bytes(key))
        attested = body.txn_hash is not None
        conn.execute(
            update(v)
            .where(v.c.verification_id == verification_id)
            .values(
                state="done",
                verdict=body.verdict,
                evidence_hash=body.evidence_hash,
                evidence_json=canonical_json(body.evidence).decode(),
                txn_hash=body.txn_hash,
                chain_error=body.chain_error,
                lease_deadline=None,
                completed_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            pg_insert(verification_frames),
            [
                {
                    "verification_id": verification_id,
                    "frame": f["frame"],
                    "job_id": row.job_id,
                    "sha256": f["result_sha256"],
                    "verdict": f["verdict"],
                    "evidence_hash": canonical_sha256(f),
                    "evidence_json": canonical_json(f).decode(),
                    "fingerprint": f.get("fingerprint") if isinstance(f.get("fingerprint"), dict) else None,
                    "created_at": now,
                }
                for f in items
            ],
        )
        outcome = "recorded"
        if body.verdict == UNSURE or not attested:
            outcome = _undecided(conn, row, settings, now)
        elif row.purpose == DISPUTE:
            if body.verdict == FAIL:  # upheld: the worker was wrong (and slashed on chain)
                count_failure(
                    conn,
                    row.job_id,
                    int(row.worker_node_id),
                    f"dispute upheld by verification {verification_id}",
                    settings.blocklist_failures,
                )
                # the creator's re-render of the disputed frames goes to another worker
                exclude_node(conn, int(row.worker_node_id), row.job_id, row.task_id, list(row.frame_numbers))
            outcome = "dispute upheld" if body.verdict == FAIL else "dispute rejected"
        else:
            votes = conn.execute(
                select(func.count())
                .select_from(v)
                .where(
                    v.c.task_id == row.task_id,
                    v.c.task_attempt == row.task_attempt,
                    v.c.purpose == VERIFY,
                    v.c.verdict == body.verdict,
                    v.c.txn_hash.is_not(None),
                )
            ).scalar_one()
            if votes < _quorum(conn):
                outcome = _undecided(conn, row, settings, now)
            elif body.verdict == PASS:
                move_frames(
                    conn,
                    row.job_id,
                    FrameState.VERIFIED,
                    of_task=row.task_id,
                    numbers=row.frame_numbers,
                    from_=[FrameState.RENDERED, FrameState.VERIFYING],
                    updated_at=now,
                )
                bump(conn, row.job_id)
                outcome = "verified"
            else:
                _requeue_failed(conn, row, settings, now)
                outcome = "requeued"
        if outcome == "rounds used up":
            log.warning(
                "%s of task %s attempt %s: no decision after %s rounds",
                row.purpose,
                row.task_id,
                row.task_attempt,
                row.round,
            )
    return {
        "verification_id": verification_id,
        "verdict": body.verdict,
        "evidence_hash": body.evidence_hash,
        "outcome": outcome,
    }
