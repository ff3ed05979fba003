"""Verification: checker work items, downloads, verdicts with evidence, disputes, the review-window finalizer,
and the money trail of a job.

Life of a work item (``tables.verification.verifications``), one per task attempt and round:

1. A worker completes a task (``POST /nodes/tasks/{id}/complete``): :func:`enqueue_rendered` queues a
   ``verify`` item in the same transaction (frames, result hash = sha256 of the canonical manifest, the
   worker's operator).
2. A checker claims (``POST /nodes/verify/claim``, one transaction, ``FOR UPDATE SKIP LOCKED``). It gets only
   items whose on-chain task (as the mirror shows it) awaits that very verdict: ``SUBMITTED`` with the same
   result hash for ``verify``, ``DISPUTED`` for ``dispute`` — and **never** an item of its own operator, of an
   operator that already judged the same attempt, or of an operator excluded from it (the passers of a frame
   the creator rejected). Frames move ``rendered → verifying``.
3. It downloads the scene and the frames (``GET /nodes/verify/{id}/blobs/{sha256}``), verifies, attests on
   chain (``attestation::attest``, ``abstain`` or ``resolve_dispute`` from its node account) and reports
   (``POST /nodes/verify/{id}/verdict``) with the evidence, whose canonical JSON must hash to the
   ``evidence_hash`` it signed; every frame's evidence must name its frame, the manifest's sha256 and the
   checker's registered key, and the task verdict must follow from the frames' (any fail → fail, else any
   unsure → unsure, else pass).
4. ``pass`` with a committed attestation: once the passes reach the protocol's quorum the frames are
   ``verified`` (the escrow verified — and, with no review window, paid — the task in the same transaction);
   below quorum another operator is asked. ``fail``: at quorum the task goes back to the queue for another
   worker (the chain already requeued it and struck the worker node), the worker's failure on the job is
   counted (blocklisted at ``blocklist_failures``, as for failed renders). ``unsure`` (or a verdict whose
   attestation did not commit): another operator is asked, up to ``verify_max_rounds`` rounds.
   **Unverifiable**: after the last round without a decision — or when a round stays unclaimed for
   ``verify_lease_s`` because no checker may claim it (the worker's operator, the operators that judged the
   attempt and the excluded ones leave none; :func:`escalate_stalled`) — nothing was proven either way. A
   checker's ``unsure`` is on chain as ``attestation::abstain``; the coordinator's ``escrow::requeue_unverified``
   (outbox row ``unverified``) then takes the result back without a strike — at once when a checker abstained,
   else a review window after the submission, as the chain requires — and only then is the task rendered again
   by another worker under the same on-chain task id (the worker joins its ``excluded_nodes``; no failure
   counted). See :func:`_requeue_unverifiable`.
5. Disputes: a creator who rejects a verified frame inside the review window gets the
   ``escrow::dispute_task`` payload to sign (:func:`dispute_offer`); once the mirror shows the dispute, a
   ``dispute`` item is queued at the next claim, for a checker that is neither the worker's operator nor a
   passer. Its ``fail`` upholds the dispute on chain (the worker operator and every passer are slashed
   ``slash_bps`` of their stake, the task requeued unpaid); ``pass`` settles it.
6. Verified tasks whose review window has ended are settled by the API's finalizer
   (``escrow::finalize_task``, which anyone may call; the coordinator account pays the gas), and so are disputed
   tasks that no checker resolved within a review window of the dispute (the verified result stands, nobody is
   slashed; their open ``dispute`` items close as ``unresolved``); the same loop runs :func:`escalate_stalled`.

Read side: ``GET /jobs/{id}/frames/{frame}/verification`` (the creator: verdicts, evidence, on-chain
attestations), ``GET /verification/evidence/{sha256}`` (public: the exact evidence bytes, so anyone recomputes
the hash), ``GET /jobs/{id}/trail`` (the creator: every escrow event of the job with its transaction hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, any_, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.concurrency import run_in_threadpool

from api import scheduler
from api.audit import _item, get_chain, get_engine
from api.auth import CurrentUser, get_app_settings
from api.node_auth import CurrentNode, NodeIdentity
from api.node_tasks import _scene, stream_blob
from api.uploads import get_blob_store
from chain.keys import ROLE_CHECKER
from chain.payloads import PictorPayloads
from indexer import schema as mirror
from pictor.settings import Settings
from protocol.canonical import canonical_json, canonical_sha256
from protocol.evidence import FAIL, MAX_EVIDENCE_BYTES, PASS, TASK_EVIDENCE_VERSION, UNSURE, task_verdict
from tables.jobs import frames, job_node_failures, jobs, tasks
from tables.verification import checker_status, verification_frames, verifications

log = logging.getLogger(__name__)

VERIFY, DISPUTE = "verify", "dispute"
#: escrow task states (chain/SPEC.md).
CHAIN_SUBMITTED, CHAIN_VERIFIED, CHAIN_DISPUTED = 2, 3, 5


# ----------------------------------------------------------------------------- evidence


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


def _insert_item(
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
    _insert_item(conn, task, int(chain_job_id), VERIFY, 1, now)


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
        .where(mt.c.state == CHAIN_DISPUTED, tasks.c.manifest.is_not(None), ~exists(have))
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
        _insert_item(conn, row, int(row.chain_job), DISPUTE, 1, now, excluded=sorted(passers))


# ----------------------------------------------------------------------------- claims


def _checker(node: NodeIdentity) -> None:
    if node.role != ROLE_CHECKER:
        raise HTTPException(403, "only checker nodes verify frames")


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
                ((v.c.purpose == VERIFY) & (mt.c.state == CHAIN_SUBMITTED))
                | ((v.c.purpose == DISPUTE) & (mt.c.state == CHAIN_DISPUTED)),
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
            changed = conn.execute(
                update(frames)
                .where(
                    frames.c.job_id == row.job_id,
                    frames.c.task_id == row.task_id,
                    frames.c.frame.in_(row.frame_numbers),
                    frames.c.state == "rendered",
                )
                .values(state="verifying", updated_at=now)
            ).rowcount
            if changed:
                scheduler.bump(conn, row.job_id)
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
        "scene": _scene(engine, int(row.job_id)),
        "settings": settings_json,
        "other_frames": others,
        "lease_deadline": deadline.isoformat(),
    }


def _held(conn: Any, node_id: int, verification_id: int, *, lock: bool = True) -> Any:
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
        _held(conn, node_id, verification_id)
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
        row = _held(conn, node_id, verification_id)
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
            conn.execute(
                update(frames)
                .where(
                    frames.c.job_id == row.job_id,
                    frames.c.task_id == row.task_id,
                    frames.c.frame.in_(row.frame_numbers),
                    frames.c.state == "verifying",
                )
                .values(state="rendered", updated_at=now)
            )
            scheduler.bump(conn, row.job_id)


def may_download(engine: Engine, node_id: int, verification_id: int, sha256: str) -> bool:
    """The scene or a frame of an item claimed by this checker."""
    with engine.connect() as conn:
        row = conn.execute(select(verifications).where(verifications.c.verification_id == verification_id)).first()
        if row is None or row.state != "claimed" or row.checker_node_id != node_id:
            return False
        if any(f["sha256"] == sha256 for f in row.frames):
            return True
    return _scene(engine, int(row.job_id))["sha256"] == sha256


# ----------------------------------------------------------------------------- verdicts


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


def _count_failure(conn: Any, job_id: int, node_id: int, error: str, settings: Settings) -> None:
    """A failed verification counts as a failed task of the job (the blocklist rule of api/scheduler.py)."""
    conn.execute(
        pg_insert(job_node_failures)
        .values(
            job_id=job_id,
            node_id=node_id,
            failures=1,
            blocklisted=settings.blocklist_failures <= 1,
            last_error=error[:2000],
        )
        .on_conflict_do_update(
            index_elements=["job_id", "node_id"],
            set_={
                "failures": job_node_failures.c.failures + 1,
                "blocklisted": job_node_failures.c.failures + 1 >= settings.blocklist_failures,
                "last_error": error[:2000],
            },
        )
    )


def _requeue_failed(conn: Any, row: Any, settings: Settings, now: datetime) -> None:
    """The chain requeued the task (fail quorum): queue it for another worker, count the worker's failure."""
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).one()
    if task.state != "rendered" or task.attempt != row.task_attempt:
        return
    out_of_attempts = task.attempt >= settings.task_max_attempts
    conn.execute(
        update(tasks)
        .where(tasks.c.task_id == task.task_id)
        .values(state="failed" if out_of_attempts else "queued", node_id=None, lease_deadline=None, updated_at=now)
    )
    conn.execute(
        update(frames)
        .where(frames.c.task_id == task.task_id, frames.c.job_id == task.job_id)
        .values(state="failed" if out_of_attempts else "queued", sha256=None, updated_at=now)
    )
    _count_failure(
        conn,
        task.job_id,
        int(row.worker_node_id),
        f"verification {row.verification_id} failed the result of attempt {row.task_attempt}",
        settings,
    )
    scheduler.exclude_node(conn, int(row.worker_node_id), task.job_id, task.task_id)  # another worker renders it
    state = conn.execute(select(jobs.c.state).where(jobs.c.job_id == task.job_id)).scalar_one()
    scheduler.bump(conn, task.job_id, **({"state": "active"} if state == "completed" else {}))


def _requeue_unverifiable(conn: Any, row: Any, settings: Settings, now: datetime, why: str) -> bool:
    """Nothing was proven about the result: the coordinator takes it back on chain (``escrow::requeue_unverified``,
    no strike) and then another worker renders the task; False when it moved meanwhile.

    The chain accepts once a checker abstained on the attempt, or a review window after the submission; the
    outbox row waits for the latter when no abstention committed. The API task stays ``rendered`` until the chain
    took the result back (:func:`api.scheduler.unverified_requeued` then queues it, the worker excluded)."""
    if row.purpose != VERIFY:
        return False  # a dispute keeps its task DISPUTED on chain; the creator's re-render is already queued
    task = conn.execute(select(tasks).where(tasks.c.task_id == row.task_id).with_for_update()).one()
    if task.state != "rendered" or task.attempt != row.task_attempt:
        return False
    onchain = conn.execute(
        select(mirror.tasks.c.state, mirror.tasks.c.result_hash).where(
            mirror.tasks.c.job_id == row.chain_job_id, mirror.tasks.c.task_id == row.chain_task_id
        )
    ).first()
    if onchain is None or onchain.state != CHAIN_SUBMITTED or bytes(onchain.result_hash).hex() != row.result_hash:
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
                mt.c.state == CHAIN_SUBMITTED,
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
    _insert_item(conn, task, int(row.chain_job_id), row.purpose, row.round + 1, now, excluded=row.excluded_operators)
    return True


def submit_verdict(
    engine: Engine, node: NodeIdentity, verification_id: int, body: VerdictBody, settings: Settings
) -> dict[str, Any]:
    """Store the verdict and its evidence; move the frames and the task (module docstring, step 4)."""
    now = scheduler.utcnow()
    v = verifications
    with engine.begin() as conn:
        row = _held(conn, node.node_id, verification_id)
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
                _count_failure(
                    conn,
                    row.job_id,
                    int(row.worker_node_id),
                    f"dispute upheld by verification {verification_id}",
                    settings,
                )
                # the creator's re-render of the disputed frames goes to another worker
                scheduler.exclude_node(conn, int(row.worker_node_id), row.job_id, row.task_id, list(row.frame_numbers))
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
                conn.execute(
                    update(frames)
                    .where(
                        frames.c.job_id == row.job_id,
                        frames.c.task_id == row.task_id,
                        frames.c.frame.in_(row.frame_numbers),
                        frames.c.state.in_(("rendered", "verifying")),
                    )
                    .values(state="verified", updated_at=now)
                )
                scheduler.bump(conn, row.job_id)
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


def _owned_job(conn: Any, job_id: int, user: str) -> Any:
    row = conn.execute(select(jobs).where(jobs.c.job_id == job_id, jobs.c.owner == user)).first()
    if row is None:
        raise HTTPException(404, "no such job")
    return row


def frame_verification(engine: Engine, job_id: int, frame: int, user: str) -> dict[str, Any]:
    """Every verification of a frame (all tasks that rendered it), with evidence and on-chain attestations."""
    with engine.connect() as conn:
        _owned_job(conn, job_id, user)
        current = conn.execute(select(frames).where(frames.c.job_id == job_id, frames.c.frame == frame)).first()
        if current is None:
            raise HTTPException(404, f"frame {frame} is not part of job {job_id}")
        rows = conn.execute(
            select(
                verifications,
                verification_frames.c.verdict.label("frame_verdict"),
                verification_frames.c.evidence_hash.label("frame_evidence_hash"),
                verification_frames.c.evidence_json.label("frame_evidence"),
                verification_frames.c.sha256.label("frame_sha256"),
            )
            .outerjoin(
                verification_frames,
                and_(
                    verification_frames.c.verification_id == verifications.c.verification_id,
                    verification_frames.c.frame == frame,
                ),
            )
            .where(verifications.c.job_id == job_id, literal(frame) == any_(verifications.c.frame_numbers))
            .order_by(verifications.c.verification_id)
        ).all()
        out = []
        for r in rows:
            attestations = (
                []
                if r.checker_node_id is None
                else [
                    _item(a)
                    for a in conn.execute(
                        select(mirror.attestations)
                        .where(
                            mirror.attestations.c.job_id == r.chain_job_id,
                            mirror.attestations.c.task_id == r.chain_task_id,
                            mirror.attestations.c.node_id == r.checker_node_id,
                        )
                        .order_by(mirror.attestations.c.txn_version)
                    ).all()
                ]
            )
            resolutions = (
                []
                if r.purpose != DISPUTE or r.checker_node_id is None
                else [
                    _item(a)
                    for a in conn.execute(
                        select(mirror.dispute_resolutions).where(
                            mirror.dispute_resolutions.c.job_id == r.chain_job_id,
                            mirror.dispute_resolutions.c.task_id == r.chain_task_id,
                            mirror.dispute_resolutions.c.node_id == r.checker_node_id,
                        )
                    ).all()
                ]
            )
            out.append(
                {
                    "verification_id": r.verification_id,
                    "task_id": r.task_id,
                    "attempt": r.task_attempt,
                    "chain_job_id": str(r.chain_job_id),
                    "chain_task_id": str(r.chain_task_id),
                    "purpose": r.purpose,
                    "round": r.round,
                    "state": r.state,
                    "worker_operator": r.worker_operator,
                    "checker_node_id": r.checker_node_id,
                    "checker_operator": r.checker_operator,
                    "result_hash": r.result_hash,
                    "verdict": r.verdict,
                    "evidence_hash": r.evidence_hash,
                    "txn_hash": r.txn_hash,
                    "chain_error": r.chain_error,
                    "frame": {
                        "sha256": r.frame_sha256,
                        "verdict": r.frame_verdict,
                        "evidence_hash": r.frame_evidence_hash,
                        "evidence": json.loads(r.frame_evidence) if r.frame_evidence else None,
                    },
                    "attestations": attestations,
                    "dispute_resolutions": resolutions,
                    "completed_at": r.completed_at.isoformat() if r.completed_at else None,
                }
            )
    return {"job_id": job_id, "frame": frame, "state": current.state, "sha256": current.sha256, "verifications": out}


def evidence_by_hash(engine: Engine, digest: str) -> bytes:
    """The canonical evidence (task or frame) whose sha256 is ``digest``."""
    with engine.connect() as conn:
        text = conn.execute(
            select(verifications.c.evidence_json).where(verifications.c.evidence_hash == digest).limit(1)
        ).scalar_one_or_none()
        if text is None:
            text = conn.execute(
                select(verification_frames.c.evidence_json)
                .where(verification_frames.c.evidence_hash == digest)
                .limit(1)
            ).scalar_one_or_none()
    if text is None:
        raise HTTPException(404, "no evidence has this sha256")
    return text.encode()


#: The mirror's per-job event tables shown in a trail: (event name, table).
_TRAIL = (
    ("escrow", mirror.escrow_ledger),
    ("assigned", mirror.task_assignments),
    ("requeued", mirror.task_requeues),
    ("submitted", mirror.task_results),
    ("attested", mirror.attestations),
    ("abstained", mirror.abstentions),
    ("verified", mirror.task_verifications),
    ("disputed", mirror.task_disputes),
    ("dispute_resolved", mirror.dispute_resolutions),
    ("settled", mirror.task_settlements),
    ("slashed", mirror.slashes),
)


def trail(engine: Engine, job_id: int, user: str) -> dict[str, Any]:
    """Every on-chain event of the job's escrow in ledger order, each with its version and transaction hash."""
    with engine.connect() as conn:
        job = _owned_job(conn, job_id, user)
        if job.chain_job_id is None:
            return {"job_id": job_id, "chain_job_id": None, "events": [], "totals": None}
        chain_job = int(job.chain_job_id)
        events: list[dict[str, Any]] = []
        for name, table in _TRAIL:
            for r in conn.execute(select(table).where(table.c.job_id == chain_job)).all():
                events.append({"event": name, **_item(r)})
        escrow = conn.execute(select(mirror.jobs).where(mirror.jobs.c.job_id == chain_job)).first()
    events.sort(key=lambda e: (e["txn_version"], e["event_index"], e.get("seq", 0)))
    paid = [e for e in events if e["event"] == "settled"]
    refunds = [e for e in events if e["event"] == "escrow" and e["kind"] == "refund"]
    totals = {
        "budget": str(escrow.budget) if escrow else None,
        "spent": str(escrow.spent) if escrow else None,
        "closed": escrow.closed if escrow else None,
        "worker": str(sum(int(e["worker_amount"]) for e in paid)),
        "checkers": str(sum(int(e["checker_amount"]) * len(e["checkers"]) for e in paid)),
        "treasury": str(sum(int(e["treasury_amount"]) for e in paid)),
        "refunded": str(sum(-int(e["delta"]) for e in refunds)),
        "slashed": str(sum(int(e["amount"]) for e in events if e["event"] == "slashed")),
    }
    return {"job_id": job_id, "chain_job_id": str(chain_job), "events": events, "totals": totals}


def dispute_offer(engine: Engine, job_id: int, frame: int, user: str, settings: Settings) -> dict[str, Any]:
    """For a rejected frame whose task is verified on chain inside its review window: the dispute to sign."""
    with engine.connect() as conn:
        job = conn.execute(select(jobs).where(jobs.c.job_id == job_id, jobs.c.owner == user)).first()
        row = conn.execute(select(frames.c.task_id).where(frames.c.job_id == job_id, frames.c.frame == frame)).first()
        if job is None or row is None or job.chain_job_id is None:
            return {}
        seq = conn.execute(select(tasks.c.seq).where(tasks.c.task_id == row.task_id)).scalar_one()
        state = conn.execute(
            select(mirror.tasks.c.state, mirror.tasks.c.review_deadline).where(
                mirror.tasks.c.job_id == job.chain_job_id, mirror.tasks.c.task_id == seq
            )
        ).first()
    if state is None or state.state != CHAIN_VERIFIED:
        return {}
    payloads = PictorPayloads(settings.package_address)
    payloads.escrow_dispute_task(int(job.chain_job_id), int(seq))  # validates the arguments as the chain will
    return {
        "dispute_payload": {
            "type": "entry_function_payload",
            "function": payloads.function_id("escrow", "dispute_task"),
            "type_arguments": [],
            "arguments": [str(job.chain_job_id), str(seq)],
        },
        "review_deadline": str(state.review_deadline),
        "dispute": "sign dispute_payload with the creator's wallet before review_deadline: a checker of another "
        "operator re-verifies the frame; the side proven wrong is slashed",
    }


# ----------------------------------------------------------------------------- review-window finalizer


async def finalize_due(engine: Engine, chain: Any, caller: Any, limit: int = 20) -> int:
    """``escrow::finalize_task`` for verified tasks whose review window has ended, and for disputed ones no checker
    resolved within a review window (their verified result stands); how many settled."""
    now_s = (await chain.ledger_info()).ledger_timestamp_us // 1_000_000
    v, mt = verifications, mirror.tasks
    with engine.connect() as conn:
        window = int(conn.execute(select(mirror.protocol_config.c.review_window_secs)).scalar_one_or_none() or 0)
        rows = conn.execute(
            select(mt.c.job_id, mt.c.task_id)
            .where(mt.c.state == CHAIN_VERIFIED, mt.c.review_deadline <= now_s)
            .order_by(mt.c.review_deadline)
            .limit(limit)
        ).all()
        # the chain counts from the dispute's block; the API's first dispute item is queued after it (later)
        first_item = (
            select(v.c.chain_job_id, v.c.chain_task_id, func.min(v.c.created_at).label("since"))
            .where(v.c.purpose == DISPUTE)
            .group_by(v.c.chain_job_id, v.c.chain_task_id)
            .subquery()
        )
        stale = conn.execute(
            select(mt.c.job_id, mt.c.task_id)
            .join(
                first_item, and_(first_item.c.chain_job_id == mt.c.job_id, first_item.c.chain_task_id == mt.c.task_id)
            )
            .where(mt.c.state == CHAIN_DISPUTED, first_item.c.since <= scheduler.utcnow() - timedelta(seconds=window))
            .limit(limit)
        ).all()
    done = 0
    for r in [*rows, *stale]:
        try:
            await chain.submit_and_wait(caller, chain.payloads.escrow_finalize_task(int(r.job_id), int(r.task_id)))
            done += 1
        except Exception as exc:  # noqa: BLE001 - settled meanwhile, or the chain is away: the next pass retries
            log.info("finalize_task %s/%s: %s", r.job_id, r.task_id, exc)
            continue
        if r in stale:
            log.warning("dispute of on-chain task %s/%s: no checker resolved it within %s s; settled as not upheld",
                        r.job_id, r.task_id, window)  # fmt: skip
            with engine.begin() as conn:
                conn.execute(
                    update(v)
                    .where(
                        v.c.chain_job_id == r.job_id,
                        v.c.chain_task_id == r.task_id,
                        v.c.purpose == DISPUTE,
                        v.c.state != "done",
                    )
                    .values(
                        state="done",
                        lease_deadline=None,
                        chain_error=f"unresolved: no checker decided the dispute within {window} s; settled",
                        updated_at=scheduler.utcnow(),
                    )
                )
    return done


async def _finalizer(app: Any) -> None:
    class _Req:
        def __init__(self, app: Any) -> None:
            self.app = app

    while True:
        request = _Req(app)
        settings = get_app_settings(request)  # type: ignore[arg-type]
        await asyncio.sleep(settings.verify_finalize_interval_s)
        try:
            await run_in_threadpool(escalate_stalled, get_engine(request), settings)  # type: ignore[arg-type]
            caller = scheduler.coordinator_key(app, settings)
            if caller is not None:
                await finalize_due(get_engine(request), get_chain(request), caller)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the loop must survive a database or chain hiccup
            log.exception("review-window finalizer pass failed")


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Run the finalizer next to the scheduler (both off when ``scheduler_background`` is false)."""

    class _Req:
        def __init__(self, app: Any) -> None:
            self.app = app

    task = asyncio.create_task(_finalizer(app)) if get_app_settings(_Req(app)).scheduler_background else None  # type: ignore[arg-type]
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# ----------------------------------------------------------------------------- endpoints

router = APIRouter(tags=["verification"], lifespan=_lifespan)


class CheckerHeartbeatBody(BaseModel):
    """A checker heartbeat."""

    telemetry: dict[str, Any] = Field(default_factory=dict)
    version: Annotated[str | None, Field(max_length=64)] = None


@router.post("/nodes/verify/heartbeat", summary="A checker node's heartbeat")
async def checker_heartbeat(body: CheckerHeartbeatBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Stores the checker's telemetry (apart from the workers' node_status, which matching reads)."""
    _checker(node)
    if len(json.dumps(body.telemetry)) > 64 * 1024:
        raise HTTPException(413, "telemetry is limited to 64 KiB")
    await run_in_threadpool(record_checker_heartbeat, get_engine(request), node, body.telemetry, body.version)
    return {"server_time": scheduler.utcnow().isoformat()}


@router.post(
    "/nodes/verify/claim",
    summary="Lease a verification (never of the checker's own operator)",
    responses={204: {"description": "nothing to verify"}},
)
async def claim_verification(node: CurrentNode, request: Request) -> Any:
    """204 when nothing is claimable by this checker."""
    _checker(node)
    item = await run_in_threadpool(claim, get_engine(request), node, get_app_settings(request))
    return Response(status_code=204) if item is None else item


@router.post("/nodes/verify/{verification_id}/heartbeat", summary="Extend a verification lease")
async def verification_heartbeat(verification_id: int, node: CurrentNode, request: Request) -> dict[str, str]:
    """409 when the lease is gone."""
    _checker(node)
    deadline = await run_in_threadpool(
        heartbeat, get_engine(request), node.node_id, verification_id, get_app_settings(request)
    )
    return {"lease_deadline": deadline.isoformat()}


@router.post("/nodes/verify/{verification_id}/release", summary="Give a verification back to the queue")
async def release_verification(
    verification_id: int, body: ReleaseBody, node: CurrentNode, request: Request
) -> dict[str, str]:
    """For a checker that cannot verify now (shutting down, scene unusable on its side)."""
    _checker(node)
    await run_in_threadpool(release, get_engine(request), node.node_id, verification_id, body.reason)
    return {"status": "queued"}


@router.get("/nodes/verify/{verification_id}/blobs/{sha256}", summary="Download a claimed item's scene or frame")
async def verification_blob(
    verification_id: int, sha256: str, node: CurrentNode, request: Request
) -> StreamingResponse:
    """404 unless the blob is the scene or a frame of an item this checker holds."""
    _checker(node)
    sha256 = sha256.lower()
    store = get_blob_store(request)
    if not await run_in_threadpool(
        may_download, get_engine(request), node.node_id, verification_id, sha256
    ) or not store.exists(sha256):
        raise HTTPException(404, "no scene or frame of a verification held by this node has this sha256")
    return stream_blob(store, sha256)


async def _check_attestation(request: Request, node: NodeIdentity, verification_id: int, body: VerdictBody) -> None:
    """The reported transaction is committed and carries this node's attestation of this verdict and evidence."""
    from chain.events import Abstained, Attested, DisputeResolved  # noqa: PLC0415 - only needed here

    engine = get_engine(request)

    def load() -> Any:
        with engine.connect() as conn:
            return _held(conn, node.node_id, verification_id, lock=False)

    row = await run_in_threadpool(load)
    try:
        result = await get_chain(request).result_by_hash(body.txn_hash)
    except Exception as exc:  # noqa: BLE001 - the node is away: the checker reports again
        raise HTTPException(503, f"the chain node cannot be asked about {body.txn_hash}: {exc}") from None
    digest = bytes.fromhex(body.evidence_hash)
    job, task = int(row.chain_job_id), int(row.chain_task_id)
    ok = False
    if result is not None and result.success:
        if row.purpose == DISPUTE:
            ok = body.verdict != UNSURE and any(
                e.job_id == job and e.task_id == task and e.node_id == node.node_id and e.evidence_hash == digest
                and e.upheld == (body.verdict == FAIL) for e in result.events_of(DisputeResolved))  # fmt: skip
        elif body.verdict == UNSURE:
            ok = any(e.job_id == job and e.task_id == task and e.node_id == node.node_id and e.evidence_hash == digest
                     and e.result_hash.hex() == row.result_hash for e in result.events_of(Abstained))  # fmt: skip
        else:
            ok = any(e.job_id == job and e.task_id == task and e.node_id == node.node_id and e.evidence_hash == digest
                     and e.pass_ == (body.verdict == PASS) and e.result_hash.hex() == row.result_hash
                     for e in result.events_of(Attested))  # fmt: skip
    if not ok:
        raise HTTPException(400, f"transaction {body.txn_hash} is not this node's committed attestation of this "
                                 "verdict and evidence; report without txn_hash if nothing committed")  # fmt: skip


@router.post("/nodes/verify/{verification_id}/verdict", summary="Report a verdict with its evidence")
async def post_verdict(verification_id: int, body: VerdictBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """400 when the evidence does not hash to ``evidence_hash`` or disagrees with the item, or ``txn_hash`` is not
    this node's committed attestation of that verdict; 409 without the lease."""
    _checker(node)
    if body.txn_hash is not None:
        await _check_attestation(request, node, verification_id, body)
    return await run_in_threadpool(
        submit_verdict, get_engine(request), node, verification_id, body, get_app_settings(request)
    )


@router.get("/jobs/{job_id}/frames/{frame}/verification", summary="Verdicts, evidence and attestations of a frame")
async def get_frame_verification(job_id: int, frame: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    """The creator's view (404 for someone else's job)."""
    return await run_in_threadpool(frame_verification, get_engine(request), job_id, frame, user)


@router.get("/jobs/{job_id}/trail", summary="The job's money trail: every escrow event with its transaction")
async def get_trail(job_id: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Open, top-ups, assignments, results, attestations, settlements (splits), disputes, slashes, refund."""
    return await run_in_threadpool(trail, get_engine(request), job_id, user)


@router.get("/verification/evidence/{digest}", summary="Evidence by its sha256 (public audit)")
async def get_evidence(digest: str, request: Request) -> Response:
    """The exact canonical JSON bytes: their sha256 is ``digest`` (the on-chain evidence hash for a task)."""
    digest = digest.lower().removeprefix("0x")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise HTTPException(400, "the evidence hash must be 64 hex digits")
    body = await run_in_threadpool(evidence_by_hash, get_engine(request), digest)
    return Response(body, media_type="application/json")
