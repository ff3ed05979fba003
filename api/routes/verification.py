"""Verification routes: the checkers' queue under ``/nodes/verify`` (heartbeat, claim, lease, downloads, verdict),
a frame's verifications and the job's money trail for its creator, and evidence by hash for anyone."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api import scheduler
from api.deps import CurrentNode, CurrentUser, get_blob_store, get_chain, get_engine, get_settings
from api.downloads import stream_blob
from api.limits import PublicLimit
from api.node_auth import NodeIdentity
from api.verification import (
    ReleaseBody,
    VerdictBody,
    claim,
    evidence_by_hash,
    frame_verification,
    heartbeat,
    may_download,
    record_checker_heartbeat,
    release,
    submit_verdict,
    trail,
)
from api.verification.queue import DISPUTE, held
from chain.events import Abstained, Attested, DisputeResolved
from chain.keys import ROLE_CHECKER
from protocol.bounds import DbId, FrameNumber
from protocol.evidence import FAIL, PASS, UNSURE


def _checker(node: NodeIdentity) -> None:
    if node.role != ROLE_CHECKER:
        raise HTTPException(403, "only checker nodes verify frames")


router = APIRouter(tags=["verification"])


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
    item = await run_in_threadpool(claim, get_engine(request), node, get_settings(request))
    return Response(status_code=204) if item is None else item


@router.post("/nodes/verify/{verification_id}/heartbeat", summary="Extend a verification lease")
async def verification_heartbeat(verification_id: DbId, node: CurrentNode, request: Request) -> dict[str, str]:
    """409 when the lease is gone."""
    _checker(node)
    deadline = await run_in_threadpool(
        heartbeat, get_engine(request), node.node_id, verification_id, get_settings(request)
    )
    return {"lease_deadline": deadline.isoformat()}


@router.post("/nodes/verify/{verification_id}/release", summary="Give a verification back to the queue")
async def release_verification(
    verification_id: DbId, body: ReleaseBody, node: CurrentNode, request: Request
) -> dict[str, str]:
    """For a checker that cannot verify now (shutting down, scene unusable on its side)."""
    _checker(node)
    await run_in_threadpool(release, get_engine(request), node.node_id, verification_id, body.reason)
    return {"status": "queued"}


@router.get("/nodes/verify/{verification_id}/blobs/{sha256}", summary="Download a claimed item's scene or frame")
async def verification_blob(
    verification_id: DbId, sha256: str, node: CurrentNode, request: Request
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


async def _check_attestation(request: Request, node: NodeIdentity, verification_id: DbId, body: VerdictBody) -> None:
    """The reported transaction is committed and carries this node's attestation of this verdict and evidence."""
    engine = get_engine(request)

    def load() -> Any:
        with engine.connect() as conn:
            return held(conn, node.node_id, verification_id, lock=False)

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
async def post_verdict(verification_id: DbId, body: VerdictBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """400 when the evidence does not hash to ``evidence_hash`` or disagrees with the item, or ``txn_hash`` is not
    this node's committed attestation of that verdict; 409 without the lease."""
    _checker(node)
    if body.txn_hash is not None:
        await _check_attestation(request, node, verification_id, body)
    return await run_in_threadpool(
        submit_verdict, get_engine(request), node, verification_id, body, get_settings(request)
    )


@router.get("/jobs/{job_id}/frames/{frame}/verification", summary="Verdicts, evidence and attestations of a frame")
async def get_frame_verification(
    job_id: DbId, frame: FrameNumber, request: Request, user: CurrentUser
) -> dict[str, Any]:
    """The creator's view (404 for someone else's job)."""
    return await run_in_threadpool(frame_verification, get_engine(request), job_id, frame, user)


@router.get("/jobs/{job_id}/trail", summary="The job's money trail: every escrow event with its transaction")
async def get_trail(job_id: DbId, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Open, top-ups, assignments, results, attestations, settlements (splits), disputes, slashes, refund."""
    return await run_in_threadpool(trail, get_engine(request), job_id, user)


@router.get("/verification/evidence/{digest}", summary="Evidence by its sha256 (public audit)",
            dependencies=[PublicLimit])
async def get_evidence(digest: str, request: Request) -> Response:
    """The exact canonical JSON bytes: their sha256 is ``digest`` (the on-chain evidence hash for a task)."""
    digest = digest.lower().removeprefix("0x")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise HTTPException(400, "the evidence hash must be 64 hex digits")
    body = await run_in_threadpool(evidence_by_hash, get_engine(request), digest)
    return Response(body, media_type="application/json")
