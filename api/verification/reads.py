"""What creators and auditors read: a frame's verifications and evidence, the job's money trail, dispute offers."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine, and_, any_, literal, select

from api.rows import row_json
from api.verification.queue import DISPUTE
from chain.payloads import TASK_VERIFIED, PictorPayloads
from indexer import schema as mirror
from pictor.settings import Settings
from tables.jobs import frames, jobs, tasks
from tables.verification import verification_frames, verifications

log = logging.getLogger(__name__)

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
                    row_json(a)
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
                    row_json(a)
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
                events.append({"event": name, **row_json(r)})
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
    if state is None or state.state != TASK_VERIFIED:
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
