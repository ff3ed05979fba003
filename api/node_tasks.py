"""The worker-side endpoints of ``api/NODE_API.md``: heartbeat, claim, task heartbeat, scene download, frame
upload, complete (signed manifest), fail and release. Every request is signed by the node (:func:`current_node`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
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
from api.node_auth import CurrentNode, NodeIdentity
from api.uploads import get_blob_store
from chain.keys import ROLE_WORKER, normalize_address
from indexer import schema as mirror
from pictor.blobs import BlobStore
from protocol import signing as ns
from protocol.manifest import manifest_signed_by
from rewards import liveness
from tables.jobs import frames, jobs, tasks
from tables.uploads import blobs, uploads
from tables.workers import frame_parts

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
    answer: dict[str, Any] = {"server_time": _iso(scheduler.utcnow()), "cancel_tasks": cancel}
    challenge = await run_in_threadpool(liveness.issue_challenge, get_engine(request), node.node_id, scheduler.utcnow())
    if challenge is not None:  # an open liveness check: render this and POST it to /nodes/liveness/{check_id}
        answer["liveness"] = challenge
    return answer


@router.post("/liveness/{check_id}", summary="Answer a liveness challenge with the rendered PNG")
async def liveness_answer(check_id: int, node: CurrentNode, request: Request) -> dict[str, Any]:
    """Judge the PNG against the API's own render and settle the check (passed/failed); 404 for a check that is
    not this node's, 409 once settled, 413 over ``liveness.LIVENESS_MAX_BYTES``."""
    body = await request.body()  # already read (and bounded) by the signature check
    try:
        return await liveness.answer_check_async(request.app.state, get_app_settings(request), get_engine(request),
                                                 node.node_id, check_id, body, scheduler.utcnow())
    except liveness.LivenessError as exc:
        raise HTTPException(exc.status, exc.message) from None


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
    scheduler.touch(engine, row.job_id)  # after the commit: see scheduler.bump


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


def _complete(engine: Engine, node_id: int, node_address: str, task_id: int, body: CompleteBody) -> None:
    """Check the manifest and record the result; the transaction (and its commit) is shared with the completions
    made side by side (``scheduler.group_commit``), each checked and written as alone; the job's version is
    bumped after the commit."""
    scheduler.group_commit(engine, partial(_complete_in, node_id=node_id, node_address=node_address,
                                           task_id=task_id, body=body))


def _complete_in(conn: Any, *, node_id: int, node_address: str, task_id: int, body: CompleteBody) -> tuple[int, bool]:
    """The completion's checks and writes inside ``conn``'s transaction; the version bump it owes (job, finish)."""
    manifest = body.manifest
    now = scheduler.utcnow()
    row = scheduler._leased(conn, task_id, node_id, now)  # noqa: SLF001
    key = conn.execute(select(mirror.nodes.c.public_key).where(mirror.nodes.c.node_id == node_id)).scalar_one()
    try:
        signature = bytes.fromhex(body.signature.removeprefix("0x"))
    except ValueError:
        raise HTTPException(400, "signature must be hex") from None
    if not manifest_signed_by(bytes(key), manifest, signature):
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
    from api.verification import enqueue_rendered  # noqa: PLC0415 - api.verification imports this module

    enqueue_rendered(conn, task_id, now)  # a checker verifies the result (issue 5)
    finish = scheduler.job_finished(conn, row.job_id)
    return row.job_id, finish  # bumped after the commit: see scheduler.bump


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


@router.post("/tasks/{task_id}/release", summary="Give a leased task back at once (not a failure)")
async def release(task_id: int, body: ReleaseBody, node: CurrentNode, request: Request) -> dict[str, str]:
    """Back to the queue now, not counted toward the job's blocklist; 404 for a task that is not this node's,
    409 when it is not leased (any more)."""
    _worker(node)
    try:
        state = await run_in_threadpool(scheduler.release_task, get_engine(request), node.node_id, task_id,
                                        body.reason, get_app_settings(request))
    except scheduler.TaskNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    scheduler.kick(request.app)  # the chain's requeue goes out now
    return {"status": "released", "state": state}


# ----------------------------------------------------------------------------- frames in parts
# A frame above the signed-body limit (an 8K OpenEXR can be) goes up in parts, each a signed request of at most
# that limit, kept in the blob store's scratch space per (task, attempt, frame); the finalize call assembles them
# into the content-addressed store, checking every part's and the whole frame's sha256 and the frame size limit.

MAX_FRAME_PARTS = 10_000


class FinalizeFrameBody(BaseModel):
    """The whole frame the parts make up."""

    model_config = ConfigDict(extra="forbid")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(ge=1)]
    parts: Annotated[int, Field(ge=1, le=MAX_FRAME_PARTS)]


def _parts_dir(store: BlobStore, task_id: int, attempt: int, frame: int) -> Path:
    return store.scratch_dir("frame-parts") / f"{task_id}-{attempt}-{frame}"


def _leased_frame(conn: Any, task_id: int, node_id: int, frame: int) -> Any:
    """The task row (locked) when it is leased to the node and ``frame`` is one of its frames."""
    row = scheduler._leased(conn, task_id, node_id, scheduler.utcnow())  # noqa: SLF001 - the lease check
    if frame not in row.frames:
        raise HTTPException(404, f"frame {frame} is not part of task {task_id}")
    return row


def _part_rows(conn: Any, task_id: int, attempt: int, frame: int) -> list[Any]:
    p = frame_parts.c
    return list(conn.execute(select(frame_parts).where(p.task_id == task_id, p.attempt == attempt, p.frame == frame)
                             .order_by(p.part)).all())


def _store_part(engine: Engine, store: BlobStore, settings: Any, node_id: int, task_id: int, frame: int, part: int,
                body: bytes, digest: str) -> int:
    """Keep one part (replacing an earlier upload of the same index); the bytes received so far for the frame."""
    now = scheduler.utcnow()
    with engine.begin() as conn:
        row = _leased_frame(conn, task_id, node_id, frame)
        p = frame_parts.c
        others = sum(int(r.size) for r in _part_rows(conn, task_id, row.attempt, frame) if r.part != part)
        if others + len(body) > settings.frame_max_bytes:
            raise HTTPException(413, f"a frame is limited to {settings.frame_max_bytes} bytes; these parts come "
                                     f"to {others + len(body)}")
        # Parts of an earlier attempt of this task are dead: drop them.
        stale = conn.execute(frame_parts.delete().where(p.task_id == task_id, p.attempt < row.attempt)
                             .returning(p.attempt, p.frame)).all()
        for old_attempt, old_frame in set(stale):
            shutil.rmtree(_parts_dir(store, task_id, old_attempt, old_frame), ignore_errors=True)
        folder = _parts_dir(store, task_id, row.attempt, frame)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{part}.tmp"
        tmp.write_bytes(body)
        os.replace(tmp, folder / str(part))  # a re-sent part replaces the old one whole
        conn.execute(pg_insert(frame_parts).values(
            task_id=task_id, attempt=row.attempt, frame=frame, part=part, node_id=node_id, sha256=digest,
            size=len(body), received_at=now,
        ).on_conflict_do_update(index_elements=["task_id", "attempt", "frame", "part"],
                                set_={"sha256": digest, "size": len(body), "received_at": now, "node_id": node_id}))
        return others + len(body)


@router.put("/tasks/{task_id}/frames/{frame}/parts/{part}", summary="Upload one part of a large frame")
async def upload_frame_part(task_id: int, frame: int, part: int, node: CurrentNode, request: Request,
                            x_pictor_content_sha256: Annotated[str, Header()] = "") -> dict[str, Any]:
    """Part ``part`` (0-based) of the frame; re-sending an index replaces it; 400 when it does not hash right."""
    if not 0 <= part < MAX_FRAME_PARTS:
        raise HTTPException(400, f"part must be 0 to {MAX_FRAME_PARTS - 1}")
    body = await request.body()  # read and bounded by the signature check: a part is at most the body limit
    if not body:
        raise HTTPException(400, "a part holds at least one byte")
    claimed = x_pictor_content_sha256.strip().lower()
    digest = hashlib.sha256(body).hexdigest()
    if digest != claimed:
        raise HTTPException(400, f"part {part}'s sha256 is {digest}, not {claimed or 'missing'} as "
                                 "X-Pictor-Content-Sha256 says; upload it again")
    try:
        received = await run_in_threadpool(_store_part, get_engine(request), get_blob_store(request),
                                           get_app_settings(request), node.node_id, task_id, frame, part, body, digest)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"part": part, "sha256": digest, "size": len(body), "received_bytes": received}


def _list_parts(engine: Engine, node_id: int, task_id: int, frame: int) -> list[Any]:
    with engine.begin() as conn:
        row = _leased_frame(conn, task_id, node_id, frame)
        return _part_rows(conn, task_id, row.attempt, frame)


@router.get("/tasks/{task_id}/frames/{frame}/parts", summary="The parts of a large frame received so far")
async def list_frame_parts(task_id: int, frame: int, node: CurrentNode, request: Request) -> dict[str, Any]:
    """What a node resuming an upload can skip, and the limits that apply."""
    settings = get_app_settings(request)
    try:
        rows = await run_in_threadpool(_list_parts, get_engine(request), node.node_id, task_id, frame)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"parts": [{"part": r.part, "sha256": r.sha256, "size": int(r.size)} for r in rows],
            "received_bytes": sum(int(r.size) for r in rows), "part_max_bytes": settings.node_request_max_body,
            "frame_max_bytes": settings.frame_max_bytes}


def _finalize_frame(engine: Engine, store: BlobStore, settings: Any, node_id: int, task_id: int, frame: int,
                    body: FinalizeFrameBody) -> str:
    """Assemble the parts into the blob store (outside any transaction), then record the frame."""
    if body.size > settings.frame_max_bytes:
        raise HTTPException(413, f"a frame is limited to {settings.frame_max_bytes} bytes")
    with engine.begin() as conn:
        row = _leased_frame(conn, task_id, node_id, frame)
        attempt, parts = row.attempt, _part_rows(conn, task_id, row.attempt, frame)
    have = {r.part for r in parts}
    missing = [i for i in range(body.parts) if i not in have]
    if missing or len(parts) != body.parts:
        extra = sorted(have - set(range(body.parts)))
        raise HTTPException(400, f"the frame has {body.parts} parts but parts {missing[:20]} are missing"
                                 + (f" and parts {extra[:20]} are beyond them" if extra else "")
                                 + "; upload them (GET …/parts lists what arrived)")
    total = sum(int(r.size) for r in parts)
    if total != body.size:
        raise HTTPException(400, f"the parts come to {total} bytes, not {body.size}")
    folder = _parts_dir(store, task_id, attempt, frame)
    with store.writer() as writer:
        for r in parts:
            part_hash = hashlib.sha256()
            with open(folder / str(r.part), "rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    part_hash.update(chunk)
                    writer.write(chunk)
            if part_hash.hexdigest() != r.sha256:
                raise HTTPException(400, f"part {r.part} is damaged on the server; upload it again")
        if writer.sha256 != body.sha256:
            raise HTTPException(400, f"the assembled frame's sha256 is {writer.sha256}, not {body.sha256}; check "
                                     "the parts (GET …/parts) and upload the wrong ones again")
        writer.commit()
    now = scheduler.utcnow()
    with engine.begin() as conn:
        row = _leased_frame(conn, task_id, node_id, frame)  # still leased (the lock was not held while hashing)
        if row.attempt != attempt:
            raise scheduler.LeaseGone(f"task {task_id} was leased again while the frame was assembled")
        conn.execute(pg_insert(blobs).values(sha256=body.sha256, size=body.size, created_at=now)
                     .on_conflict_do_nothing())
        conn.execute(update(frames).where(frames.c.job_id == row.job_id, frames.c.frame == frame)
                     .values(sha256=body.sha256, state="rendering", updated_at=now))
        p = frame_parts.c
        conn.execute(frame_parts.delete().where(p.task_id == task_id, p.attempt == attempt, p.frame == frame))
        scheduler.bump(conn, row.job_id)
    shutil.rmtree(folder, ignore_errors=True)
    return body.sha256


@router.post("/tasks/{task_id}/frames/{frame}/finalize", summary="Assemble a frame uploaded in parts")
async def finalize_frame(task_id: int, frame: int, body: FinalizeFrameBody, node: CurrentNode,
                         request: Request) -> dict[str, str]:
    """The frame becomes the parts 0…n-1 joined; 400 on a missing part or a hash or size mismatch, 413 over the
    frame size limit, 409 without a live lease. Answers as the single upload does."""
    try:
        digest = await run_in_threadpool(_finalize_frame, get_engine(request), get_blob_store(request),
                                         get_app_settings(request), node.node_id, task_id, frame, body)
    except scheduler.LeaseGone as exc:
        raise HTTPException(409, str(exc)) from None
    return {"sha256": digest}
