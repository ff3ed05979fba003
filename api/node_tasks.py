"""The worker-side endpoints of ``api/NODE_API.md``: heartbeat, claim, task heartbeat, scene download, frame
upload, complete (signed manifest) and fail. Every request is signed by the node (:func:`current_node`)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.concurrency import run_in_threadpool

from api import scheduler
from api.audit import get_engine
from api.auth import get_app_settings
from api.job_tables import frames, jobs, tasks
from api.node_auth import CurrentNode, NodeIdentity
from api.upload_tables import blobs, uploads
from api.uploads import get_blob_store
from chain.keys import ROLE_WORKER, normalize_address, verify_signature
from indexer import schema as mirror
from pictor import node_signing as ns
from pictor.blobs import BlobStore

router = APIRouter(prefix="/nodes", tags=["nodes"])

MAX_FRAME_BYTES = 16 * 1024 * 1024


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _worker(node: NodeIdentity) -> None:
    if node.role != ROLE_WORKER:
        raise HTTPException(403, "only worker nodes render tasks")


class HeartbeatBody(BaseModel):
    """A node heartbeat."""

    telemetry: dict[str, Any] = Field(default_factory=dict)
    version: Annotated[str | None, Field(max_length=64)] = None


class ClaimBody(BaseModel):
    """A claim; ``max_frames`` limits the chunk size the node takes."""

    max_frames: Annotated[int | None, Field(ge=1)] = None


class TaskHeartbeatBody(BaseModel):
    """Progress while rendering."""

    frames_done: list[int] = Field(default_factory=list, max_length=10_000)


class ManifestFrame(BaseModel):
    """One frame of a result manifest."""

    model_config = ConfigDict(extra="forbid")
    frame: int
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    render_seconds: Annotated[float, Field(ge=0)]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    format: Annotated[str, Field(max_length=16)]


class CompleteBody(BaseModel):
    """A signed result manifest."""

    manifest: dict[str, Any]
    signature: Annotated[str, Field(max_length=130)]


class FailBody(BaseModel):
    """Why the node gave the task up."""

    error: Annotated[str, Field(max_length=10_000)]
    log_tail: Annotated[str, Field(max_length=100_000)] = ""


@router.post("/heartbeat", summary="Report telemetry; learn which leased tasks to cancel")
async def heartbeat(body: HeartbeatBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Store the node's telemetry (matching reads it) and answer tasks of cancelled jobs."""
    if len(json.dumps(body.telemetry)) > 64 * 1024:
        raise HTTPException(413, "telemetry is limited to 64 KiB")
    cancel = await run_in_threadpool(scheduler.record_heartbeat, get_engine(request), node.node_id, node.operator,
                                     body.telemetry, body.version)
    return {"server_time": _iso(scheduler.utcnow()), "cancel_tasks": cancel}


def _scene(engine: Engine, job_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(uploads.c.blob_sha256, uploads.c.size, uploads.c.main_blend, uploads.c.kind)
                           .join(jobs, jobs.c.upload_id == uploads.c.upload_id).where(jobs.c.job_id == job_id)).one()
    return {"sha256": row.blob_sha256, "size": int(row.size), "main_blend": row.main_blend, "kind": row.kind}


@router.post("/claim", summary="Lease the best matching task", responses={204: {"description": "nothing matches"}})
async def claim(node: CurrentNode, request: Request) -> Any:
    """204 when nothing matches the node (engine, device, hardware, location, tier, blocklist, escrow)."""
    _worker(node)
    raw = await request.body()
    try:
        body = ClaimBody.model_validate_json(raw) if raw.strip() else ClaimBody()
    except ValidationError as exc:
        raise HTTPException(422, f"claim body: {exc.errors(include_url=False)[0]['msg']}") from None
    engine, settings = get_engine(request), get_app_settings(request)
    lease = await run_in_threadpool(scheduler.claim, engine, node.node_id, settings, body.max_frames)
    if lease is None:
        return Response(status_code=204)
    scheduler.kick(request.app)  # the coordinator's assign_task goes out now, not at the next period
    lease["scene"] = await run_in_threadpool(_scene, engine, lease["job_id"])
    lease["lease_deadline"] = _iso(lease["lease_deadline"])
    return lease


@router.post("/tasks/{task_id}/heartbeat", summary="Extend a lease; learn about cancellation")
async def task_heartbeat(task_id: int, body: TaskHeartbeatBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """The new deadline and whether to stop; 409 when the lease is gone."""
    try:
        deadline, cancel = await run_in_threadpool(scheduler.task_heartbeat, get_engine(request), node.node_id,
                                                   task_id, body.frames_done, get_app_settings(request))
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"lease_deadline": _iso(deadline), "cancel": cancel}


def _may_download(engine: Engine, node_id: int, sha256: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(
            select(tasks.c.task_id).join(jobs, jobs.c.job_id == tasks.c.job_id)
            .join(uploads, uploads.c.upload_id == jobs.c.upload_id)
            .where(tasks.c.node_id == node_id, tasks.c.state.in_(scheduler.LEASED), uploads.c.blob_sha256 == sha256)
            .limit(1)
        ).first() is not None


def stream_blob(store: BlobStore, sha256: str, media_type: str = "application/octet-stream",
                headers: dict[str, str] | None = None) -> StreamingResponse:
    """A blob, streamed in 1 MiB chunks."""

    def chunks() -> Any:
        with store.open(sha256) as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


@router.get("/blobs/{sha256}", summary="Download the scene of a leased task")
async def download_blob(sha256: str, node: CurrentNode, request: Request) -> StreamingResponse:
    """Only the scene of a task leased to this node (404 otherwise)."""
    sha256 = sha256.lower()
    store = get_blob_store(request)
    if not await run_in_threadpool(_may_download, get_engine(request), node.node_id, sha256) \
            or not store.exists(sha256):
        raise HTTPException(404, "no scene of a task leased to this node has this sha256")
    return stream_blob(store, sha256)


def _store_frame(engine: Engine, store: BlobStore, node_id: int, task_id: int, frame: int, body: bytes,
                 digest: str) -> None:
    now = scheduler.utcnow()
    with engine.begin() as conn:
        row = scheduler._leased(conn, task_id, node_id, now)  # noqa: SLF001 - the scheduler's lease check
        if frame not in row.frames:
            raise HTTPException(404, f"frame {frame} is not part of task {task_id}")
        if not store.exists(digest):
            with store.writer() as writer:
                writer.write(body)
                writer.commit()
        conn.execute(pg_insert(blobs).values(sha256=digest, size=len(body), created_at=now).on_conflict_do_nothing())
        conn.execute(update(frames).where(frames.c.job_id == row.job_id, frames.c.frame == frame)
                     .values(sha256=digest, state="rendering", updated_at=now))
        scheduler.bump(conn, row.job_id)


@router.put("/tasks/{task_id}/frames/{frame}", summary="Upload one rendered frame")
async def upload_frame(task_id: int, frame: int, node: CurrentNode, request: Request,
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
        await run_in_threadpool(_store_frame, get_engine(request), get_blob_store(request), node.node_id, task_id,
                                frame, body, digest)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"sha256": digest}


def canonical_manifest(manifest: dict[str, Any]) -> bytes:
    """The bytes a node signs: ``json.dumps(manifest, sort_keys=True, separators=(",", ":"))``."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def _complete(engine: Engine, node_id: int, node_address: str, task_id: int, body: CompleteBody) -> None:
    manifest = body.manifest
    now = scheduler.utcnow()
    with engine.begin() as conn:
        row = scheduler._leased(conn, task_id, node_id, now)  # noqa: SLF001
        key = conn.execute(select(mirror.nodes.c.public_key).where(mirror.nodes.c.node_id == node_id)).scalar_one()
        try:
            signature = bytes.fromhex(body.signature.removeprefix("0x"))
        except ValueError:
            raise HTTPException(400, "signature must be hex") from None
        if not verify_signature(bytes(key), canonical_manifest(manifest), signature):
            raise HTTPException(400, "the manifest signature does not verify against this node's registered key")
        expect = {"job_id": row.job_id, "task_id": task_id, "attempt": row.attempt, "node": node_address}
        for name, value in expect.items():
            got = manifest.get(name)
            if name == "node" and isinstance(got, str):
                got = normalize_address(got)
            if got != value:
                raise HTTPException(400, f"manifest {name} is {got!r}, expected {value!r}")
        try:
            items = [ManifestFrame.model_validate(f) for f in manifest.get("frames") or []]
        except ValueError as exc:
            raise HTTPException(400, f"manifest frames: {exc}") from None
        if sorted(f.frame for f in items) != sorted(row.frames):
            raise HTTPException(400, f"the manifest must list exactly the task's frames {list(row.frames)}")
        uploaded = dict(conn.execute(select(frames.c.frame, frames.c.sha256).where(
            frames.c.job_id == row.job_id, frames.c.task_id == task_id)).all())
        for item in items:
            if uploaded.get(item.frame) != item.sha256:
                raise HTTPException(400, f"frame {item.frame}: upload it first (the manifest's sha256 differs from "
                                         "the uploaded image's)")
        for item in items:
            conn.execute(update(frames).where(frames.c.job_id == row.job_id, frames.c.frame == item.frame).values(
                state="rendered", render_seconds=item.render_seconds, width=item.width, height=item.height,
                format=item.format, rendered_at=now, updated_at=now))
        conn.execute(update(tasks).where(tasks.c.task_id == task_id).values(
            state="rendered", manifest={"manifest": manifest, "signature": body.signature}, lease_deadline=None,
            completed_at=now, updated_at=now))
        scheduler.job_finished(conn, row.job_id)
        scheduler.bump(conn, row.job_id)


@router.post("/tasks/{task_id}/complete", summary="Finish a task with the signed result manifest")
async def complete(task_id: int, body: CompleteBody, node: CurrentNode, request: Request) -> dict[str, str]:
    """Verifies the Ed25519 signature over the canonical manifest and every frame's uploaded sha256."""
    address = normalize_address(request.headers[ns.HEADER_NODE])
    try:
        await run_in_threadpool(_complete, get_engine(request), node.node_id, address, task_id, body)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"status": "rendered"}


@router.post("/tasks/{task_id}/fail", summary="Give a task up")
async def fail(task_id: int, body: FailBody, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Back to the queue; the node's failures on this job are counted (blocklisted at the limit)."""
    settings = get_app_settings(request)
    error = body.error + ("\n--- log tail\n" + body.log_tail[-4000:] if body.log_tail else "")
    try:
        blocked = await run_in_threadpool(scheduler.fail_task, get_engine(request), node.node_id, task_id, error,
                                          settings)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"status": "failed", "blocklisted": blocked}
