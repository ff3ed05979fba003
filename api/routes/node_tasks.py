"""Worker routes under ``/nodes``: heartbeats and liveness answers, claims, task heartbeats, scene downloads,
frame uploads (whole or in parts), completion with the signed manifest, giving a task up or back."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api import scheduler
from api.background import kick
from api.deps import CurrentNode, get_blob_store, get_engine, get_settings
from api.downloads import job_scene, stream_blob
from api.node_auth import NodeIdentity
from api.node_tasks import (
    MAX_FRAME_BYTES,
    MAX_FRAME_PARTS,
    CompleteBody,
    FinalizeFrameBody,
    assemble_frame,
    complete_task,
    iso_utc,
    list_parts,
    may_download,
    store_frame,
    store_part,
)
from chain.keys import ROLE_WORKER, normalize_address
from protocol import signing as ns
from protocol.bounds import DbId, FrameCount, FrameNumber
from rewards import liveness

router = APIRouter(prefix="/nodes", tags=["nodes"])

PartNumber = Annotated[int, Path(ge=0, le=MAX_FRAME_PARTS - 1, description="Part index of a large frame, from 0.")]


def _worker(node: NodeIdentity) -> None:
    if node.role != ROLE_WORKER:
        raise HTTPException(403, "only worker nodes render tasks")


class HeartbeatBody(BaseModel):
    """A node heartbeat."""

    telemetry: dict[str, Any] = Field(default_factory=dict)
    version: Annotated[str | None, Field(max_length=64)] = None


class ClaimBody(BaseModel):
    """A claim; ``max_frames`` limits the chunk size the node takes."""

    max_frames: FrameCount | None = None


class TaskHeartbeatBody(BaseModel):
    """Progress while rendering."""

    frames_done: list[FrameNumber] = Field(default_factory=list, max_length=10_000)


class FailBody(BaseModel):
    """Why the node gave the task up."""

    error: Annotated[str, Field(max_length=10_000)]
    log_tail: Annotated[str, Field(max_length=100_000)] = ""


class ReleaseBody(BaseModel):
    """Why the node gives a task back without having failed it (e.g. it is shutting down)."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=2_000)] = ""


@router.post("/heartbeat", summary="Report telemetry; learn which leased tasks to cancel")
async def heartbeat(body: HeartbeatBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Store the node's telemetry (matching reads it) and answer tasks of cancelled jobs."""
    if len(json.dumps(body.telemetry)) > 64 * 1024:
        raise HTTPException(413, "telemetry is limited to 64 KiB")
    cancel = await run_in_threadpool(scheduler.record_heartbeat, get_engine(request), node.node_id, node.operator,
                                     body.telemetry, body.version)
    answer: dict[str, Any] = {"server_time": iso_utc(scheduler.utcnow()), "cancel_tasks": cancel}
    challenge = await run_in_threadpool(liveness.issue_challenge, get_engine(request), node.node_id, scheduler.utcnow())
    if challenge is not None:  # an open liveness check: render this and POST it to /nodes/liveness/{check_id}
        answer["liveness"] = challenge
    return answer


@router.post("/liveness/{check_id}", summary="Answer a liveness challenge with the rendered PNG")
async def liveness_answer(check_id: DbId, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Judge the PNG against the API's own render and settle the check (passed/failed); 404 for a check that is
    not this node's, 409 once settled, 413 over ``liveness.LIVENESS_MAX_BYTES``."""
    body = await request.body()  # already read (and bounded) by the signature check
    try:
        return await liveness.answer_check_async(request.app.state, get_settings(request), get_engine(request),
                                                 node.node_id, check_id, body, scheduler.utcnow())
    except liveness.LivenessError as exc:
        raise HTTPException(exc.status, exc.message) from None


@router.post("/claim", summary="Lease the best matching task", responses={204: {"description": "nothing matches"}})
async def claim(node: CurrentNode, request: Request) -> Any:
    """204 when nothing matches the node (engine, device, hardware, location, tier, blocklist, escrow)."""
    _worker(node)
    raw = await request.body()
    try:
        body = ClaimBody.model_validate_json(raw) if raw.strip() else ClaimBody()
    except ValidationError as exc:
        raise HTTPException(422, f"claim body: {exc.errors(include_url=False)[0]['msg']}") from None
    engine, settings = get_engine(request), get_settings(request)
    lease = await run_in_threadpool(scheduler.claim, engine, node.node_id, settings, body.max_frames)
    if lease is None:
        return Response(status_code=204)
    kick(request.app)  # the coordinator's assign_task goes out now, not at the next period
    lease["scene"] = await run_in_threadpool(job_scene, engine, lease["job_id"])
    lease["lease_deadline"] = iso_utc(lease["lease_deadline"])
    return lease


@router.post("/tasks/{task_id}/heartbeat", summary="Extend a lease; learn about cancellation")
async def task_heartbeat(task_id: DbId, body: TaskHeartbeatBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """The new deadline and whether to stop; 409 when the lease is gone."""
    try:
        deadline, cancel = await run_in_threadpool(scheduler.task_heartbeat, get_engine(request), node.node_id,
                                                   task_id, body.frames_done, get_settings(request))
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"lease_deadline": iso_utc(deadline), "cancel": cancel}


@router.get("/blobs/{sha256}", summary="Download the scene of a leased task")
async def download_blob(sha256: str, node: CurrentNode, request: Request) -> StreamingResponse:
    """Only the scene of a task leased to this node (404 otherwise)."""
    sha256 = sha256.lower()
    store = get_blob_store(request)
    if not await run_in_threadpool(may_download, get_engine(request), node.node_id, sha256) \
            or not store.exists(sha256):
        raise HTTPException(404, "no scene of a task leased to this node has this sha256")
    return stream_blob(store, sha256)


@router.put("/tasks/{task_id}/frames/{frame}", summary="Upload one rendered frame")
async def upload_frame(task_id: DbId, frame: FrameNumber, node: CurrentNode, request: Request,
                       x_pictor_content_sha256: Annotated[str, Header()] = "") -> dict[str, str]:
    """The image bytes; 400 when they do not hash to ``X-Pictor-Content-Sha256``; 409 without a live lease."""
    body = await request.body()  # already read (and bounded) by the signature check
    if len(body) > MAX_FRAME_BYTES:
        raise HTTPException(413, f"a frame is limited to {MAX_FRAME_BYTES} bytes")
    claimed = x_pictor_content_sha256.strip().lower()
    digest = hashlib.sha256(body).hexdigest()
    if digest != claimed:
        raise HTTPException(400, f"the frame's sha256 is {digest}, not {claimed or 'missing'} as "
                                 "X-Pictor-Content-Sha256 says; upload it again")
    try:
        await run_in_threadpool(store_frame, get_engine(request), get_blob_store(request), node.node_id, task_id,
                                frame, body, digest)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"sha256": digest}


@router.post("/tasks/{task_id}/complete", summary="Finish a task with the signed result manifest")
async def complete(task_id: DbId, body: CompleteBody, node: CurrentNode, request: Request) -> dict[str, str]:
    """Verifies the Ed25519 signature over the canonical manifest, every frame's uploaded sha256, and each image's
    header (size, format, bits per channel) against the job's render spec and the manifest: a frame that is not
    what it should be is a 400 and a failed attempt (the task goes back to the queue)."""
    address = normalize_address(request.headers[ns.HEADER_NODE])
    try:
        await run_in_threadpool(complete_task, get_engine(request), get_blob_store(request), get_settings(request),
                                node.node_id, address, task_id, body)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"status": "rendered"}


@router.post("/tasks/{task_id}/fail", summary="Give a task up")
async def fail(task_id: DbId, body: FailBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Back to the queue; the node's failures on this job are counted (blocklisted at the limit)."""
    settings = get_settings(request)
    error = body.error + ("\n--- log tail\n" + body.log_tail[-4000:] if body.log_tail else "")
    try:
        blocked = await run_in_threadpool(scheduler.fail_task, get_engine(request), node.node_id, task_id, error,
                                          settings)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"status": "failed", "blocklisted": blocked}


@router.post("/tasks/{task_id}/release", summary="Give a leased task back at once (not a failure)")
async def release(task_id: DbId, body: ReleaseBody, node: CurrentNode, request: Request) -> dict[str, str]:
    """Back to the queue now, not counted toward the job's blocklist; 404 for a task that is not this node's,
    409 when it is not leased (any more)."""
    _worker(node)
    try:
        state = await run_in_threadpool(scheduler.release_task, get_engine(request), node.node_id, task_id,
                                        body.reason, get_settings(request))
    except scheduler.TaskNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    kick(request.app)  # the chain's requeue goes out now
    return {"status": "released", "state": state}


@router.put("/tasks/{task_id}/frames/{frame}/parts/{part}", summary="Upload one part of a large frame")
async def upload_frame_part(task_id: DbId, frame: FrameNumber, part: PartNumber, node: CurrentNode, request: Request,
                            x_pictor_content_sha256: Annotated[str, Header()] = "") -> dict[str, Any]:
    """Part ``part`` (0-based) of the frame; re-sending an index replaces it; 400 when it does not hash right."""
    body = await request.body()  # read and bounded by the signature check: a part is at most the body limit
    if not body:
        raise HTTPException(400, "a part holds at least one byte")
    claimed = x_pictor_content_sha256.strip().lower()
    digest = hashlib.sha256(body).hexdigest()
    if digest != claimed:
        raise HTTPException(400, f"part {part}'s sha256 is {digest}, not {claimed or 'missing'} as "
                                 "X-Pictor-Content-Sha256 says; upload it again")
    try:
        received = await run_in_threadpool(store_part, get_engine(request), get_blob_store(request),
                                           get_settings(request), node.node_id, task_id, frame, part, body, digest)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"part": part, "sha256": digest, "size": len(body), "received_bytes": received}


@router.get("/tasks/{task_id}/frames/{frame}/parts", summary="The parts of a large frame received so far")
async def list_frame_parts(task_id: DbId, frame: FrameNumber, node: CurrentNode, request: Request) -> dict[str, Any]:
    """What a node resuming an upload can skip, and the limits that apply."""
    settings = get_settings(request)
    try:
        rows = await run_in_threadpool(list_parts, get_engine(request), node.node_id, task_id, frame)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"parts": [{"part": r.part, "sha256": r.sha256, "size": int(r.size)} for r in rows],
            "received_bytes": sum(int(r.size) for r in rows), "part_max_bytes": settings.node_request_max_body,
            "frame_max_bytes": settings.frame_max_bytes}


@router.post("/tasks/{task_id}/frames/{frame}/finalize", summary="Assemble a frame uploaded in parts")
async def finalize_frame(task_id: DbId, frame: FrameNumber, body: FinalizeFrameBody, node: CurrentNode,
                         request: Request) -> dict[str, str]:
    """The frame becomes the parts 0…n-1 joined; 400 on a missing part or a hash or size mismatch, 413 over the
    frame size limit, 409 without a live lease. Answers as the single upload does."""
    try:
        digest = await run_in_threadpool(assemble_frame, get_engine(request), get_blob_store(request),
                                         get_settings(request), node.node_id, task_id, frame, body)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"sha256": digest}
