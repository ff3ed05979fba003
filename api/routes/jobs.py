"""``/jobs``: a creator's render jobs — estimate, create, escrow, status and events, cancel, review, downloads."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from PIL import Image
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, get_blob_store, get_engine, get_settings
from api.downloads import stream_blob
from api.jobs import (
    MEDIA,
    CreateBody,
    EstimateBody,
    cancel,
    frame_format,
    insert_job,
    job_detail,
    job_version,
    prepare_estimate,
    record_escrow_txn,
    rendered_frames,
    review_frame,
    summary,
)
from api.jobs.pretest import pretest_render
from api.verification import dispute_offer
from blender.imageinfo import read_image_info
from protocol.bounds import DbId, FrameNumber
from protocol.render_spec import JobSpecError
from tables.jobs import jobs
from tables.state_machine import TERMINAL_JOBS

router = APIRouter(prefix="/jobs", tags=["jobs"])

#: The formats a thumbnail is made from (what workers upload and Pillow reads; OpenEXR is not among them).
THUMBNAIL_FORMATS = ("PNG", "JPEG", "TIFF")


class EscrowBody(BaseModel):
    """The hash of the creator's ``open_job`` transaction."""

    txn_hash: Annotated[str, Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$")]


def _settings_error(exc: JobSpecError) -> JSONResponse:
    problems = [{"field": f, "message": m} for f, m in exc.problems]
    return JSONResponse({"detail": str(exc), "problems": problems}, status_code=422)


@router.post("/estimate", summary="Cost range, ETA and task distribution plan of a job")
async def estimate_job(body: EstimateBody, request: Request, user: CurrentUser) -> Any:
    """422 with ``problems`` (field, message) for bad settings; 404 for an upload that is not the caller's."""
    body, rendered = await pretest_render(get_engine(request), get_blob_store(request), get_settings(request), body, user)
    try:
        _, _, result = await run_in_threadpool(prepare_estimate, get_engine(request), body, user, get_settings(request))
    except JobSpecError as exc:
        return _settings_error(exc)
    return {**result, **rendered}


@router.post("", status_code=201, summary="Create a job; answers the escrow transaction to sign")
async def create_job(body: CreateBody, request: Request, user: CurrentUser) -> Any:
    """Validates every setting (422 with ``problems``), creates the job, its tasks and frames in one transaction;
    429 (``Retry-After``) when the account already holds its most jobs or frames waiting for their escrow."""
    body, _ = await pretest_render(get_engine(request), get_blob_store(request), get_settings(request), body, user)  # the same (cached) pre-test figure as the estimate
    try:
        return await run_in_threadpool(insert_job, get_engine(request), body, user, get_settings(request))
    except JobSpecError as exc:
        return _settings_error(exc)


@router.get("/{job_id}", summary="A job and the status of every frame")
async def get_job(job_id: DbId, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Polls the mirror for the escrow on read; 404 for someone else's job."""
    return await run_in_threadpool(job_detail, get_engine(request), job_id, user, get_settings(request))


@router.get("", summary="The caller's jobs, newest first (cursor: ``before``)")
async def list_jobs(request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    before: Annotated[DbId | None, Query(description="Jobs older than this id.")] = None,
                    ) -> dict[str, Any]:
    """``next`` is the ``before`` of the next page (None at the end)."""
    engine = get_engine(request)

    def load() -> dict[str, Any]:
        with engine.connect() as conn:
            query = select(jobs).where(jobs.c.owner == user)
            if before is not None:
                query = query.where(jobs.c.job_id < before)
            rows = conn.execute(query.order_by(jobs.c.job_id.desc()).limit(limit + 1)).all()
            items = [summary(conn, r) for r in rows[:limit]]
        return {"items": items, "next": rows[limit - 1].job_id if len(rows) > limit else None}

    return await run_in_threadpool(load)


@router.post("/{job_id}/escrow", summary="Link the on-chain escrow opened by the creator's transaction")
async def link_escrow(job_id: DbId, body: EscrowBody, request: Request, user: CurrentUser) -> Any:
    """200 ``active`` once the indexer shows the creator's ``JobOpened`` in that transaction; 202 until then; 409
    for a job linked already or expired (its escrow was not linked within ``PICTOR_UNPAID_JOB_TTL_S``)."""
    txn_hash = "0x" + body.txn_hash.lower().removeprefix("0x")
    engine = get_engine(request)
    await run_in_threadpool(record_escrow_txn, engine, job_id, user, txn_hash)
    detail = await run_in_threadpool(job_detail, engine, job_id, user)
    detail.pop("frames")
    return JSONResponse(detail, status_code=200 if detail["state"] != "awaiting_escrow" else 202)


@router.post("/{job_id}/cancel", summary="Cancel a job; the coordinator closes its escrow (refund)")
async def cancel_job(job_id: DbId, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Queued tasks stop now; rendering workers see ``cancel`` on their next heartbeat (seconds)."""
    return await run_in_threadpool(cancel, get_engine(request), job_id, user)


@router.get("/{job_id}/events", summary="Server-sent events of the job's status changes")
async def job_events(job_id: DbId, request: Request, user: CurrentUser,
                     timeout: Annotated[float, Query(gt=0, le=3600)] = 300,
                     interval: Annotated[float, Query(ge=0.1, le=10)] = 0.5) -> StreamingResponse:
    """One ``status`` event now and one per change (polls the job's version); ends at a terminal state or timeout."""
    engine = get_engine(request)
    await run_in_threadpool(job_version, engine, job_id, user)  # 404 before the stream starts

    async def stream() -> Any:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        seen = -1
        while True:
            version, state = await run_in_threadpool(job_version, engine, job_id, user)
            if version != seen:
                seen = version
                detail = await run_in_threadpool(job_detail, engine, job_id, user)
                body = {k: detail[k] for k in ("job_id", "state", "version", "frame_counts", "pause_reason")}
                body["frames"] = [{"frame": f["frame"], "state": f["state"]} for f in detail["frames"]]
                yield f"id: {version}\nevent: status\ndata: {json.dumps(body)}\n\n"
            if state in TERMINAL_JOBS or loop.time() >= end or await request.is_disconnected():
                yield "event: end\ndata: {}\n\n"
                return
            await asyncio.sleep(interval)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/{job_id}/frames/{frame}/accept", summary="Accept a rendered frame (inside the review window)")
async def accept_frame(job_id: DbId, frame: FrameNumber, request: Request, user: CurrentUser) -> dict[str, Any]:
    """409 outside the review window or for a frame not rendered yet."""
    return await run_in_threadpool(review_frame, get_engine(request), job_id, frame, user, get_settings(request), True)


@router.post("/{job_id}/frames/{frame}/reject", summary="Reject a rendered frame: it is rendered again")
async def reject_frame(job_id: DbId, frame: FrameNumber, request: Request, user: CurrentUser) -> dict[str, Any]:
    """A new one-frame task is queued at a higher priority; a frame verified on chain inside its review window
    also gets the ``escrow::dispute_task`` payload to sign (api/verification: another checker decides)."""
    offer = await run_in_threadpool(dispute_offer, get_engine(request), job_id, frame, user, get_settings(request))
    rejected = await run_in_threadpool(review_frame, get_engine(request), job_id, frame, user, get_settings(request),
                                       False)
    return {**rejected, **offer}


@router.get("/{job_id}/frames/{frame}", summary="A rendered frame's image")
async def download_frame(job_id: DbId, frame: FrameNumber, request: Request, user: CurrentUser) -> StreamingResponse:
    """The image as the worker uploaded it (404 until it is rendered)."""
    engine = get_engine(request)
    rows = await run_in_threadpool(rendered_frames, engine, job_id, user, frame)
    if not rows:
        raise HTTPException(404, f"frame {frame} is not rendered")
    fmt = frame_format(rows[0], "PNG")
    ext = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "OPEN_EXR": "exr"}.get(fmt, "bin")
    return stream_blob(get_blob_store(request), rows[0].sha256, MEDIA.get(fmt, "application/octet-stream"),
                       {"Content-Disposition": f'attachment; filename="frame_{frame:06d}.{ext}"'})


@router.get("/{job_id}/frames/{frame}/thumbnail", summary="A small JPEG of a rendered frame")
async def thumbnail(job_id: DbId, frame: FrameNumber, request: Request, user: CurrentUser,
                    size: Annotated[int, Query(ge=16, le=1024)] = 256) -> Response:
    """Fits ``size``×``size``; 415 for an image the thumbnailer will not open: a format Pillow does not read
    (OpenEXR), a damaged file, or more than ``PICTOR_THUMBNAIL_MAX_PIXELS`` pixels (read from the header first)."""
    engine = get_engine(request)
    rows = await run_in_threadpool(rendered_frames, engine, job_id, user, frame)
    if not rows:
        raise HTTPException(404, f"frame {frame} is not rendered")
    store, limit = get_blob_store(request), get_settings(request).thumbnail_max_pixels

    def make() -> bytes:
        unreadable = HTTPException(415, "no thumbnail for this image (its format is not read here, or it is "
                                        "damaged); download the frame")
        try:  # the size from the header, before any decoder sees the file
            info = read_image_info(store.local_path(rows[0].sha256))
        except Exception:  # noqa: BLE001 - a damaged or foreign header is the file's fault, never a server error
            raise unreadable from None
        if info.width * info.height > limit:
            raise HTTPException(415, f"frame {frame} is {info.width}×{info.height} pixels, more than the {limit} a "
                                     "thumbnail is made from; download the frame")
        try:
            with store.open(rows[0].sha256) as handle, Image.open(handle, formats=THUMBNAIL_FORMATS) as image:
                if image.size != (info.width, info.height):  # a header that tells two readers two sizes
                    raise unreadable
                image.draft("RGB", (size, size))  # a JPEG decodes at a reduced scale
                image.thumbnail((size, size))
                out = io.BytesIO()
                image.convert("RGB").save(out, "JPEG", quality=85)
                return out.getvalue()
        except HTTPException:
            raise
        except Image.DecompressionBombError:  # past Pillow's own limit, raised while opening
            raise HTTPException(415, f"frame {frame} is too large to make a thumbnail from; download the frame") \
                from None
        except Exception:  # noqa: BLE001 - whatever a damaged image makes the decoder raise is the file's fault
            raise unreadable from None

    return Response(await run_in_threadpool(make), media_type="image/jpeg")


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are taken out as they come (streamed zip)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


@router.get("/{job_id}/frames.zip", summary="A zip of every rendered frame, streamed")
async def download_zip(job_id: DbId, request: Request, user: CurrentUser) -> StreamingResponse:
    """Frames are stored (not recompressed: images are compressed already)."""
    engine = get_engine(request)
    rows = await run_in_threadpool(rendered_frames, engine, job_id, user)
    store = get_blob_store(request)

    def chunks() -> Iterator[bytes]:
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for row in rows:
                fmt = frame_format(row, "PNG")
                ext = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "OPEN_EXR": "exr"}.get(fmt, "bin")
                with store.open(row.sha256) as handle, archive.open(f"frame_{row.frame:06d}.{ext}", "w") as member:
                    while chunk := handle.read(1024 * 1024):
                        member.write(chunk)
                        yield sink.take()
                yield sink.take()
        yield sink.take()

    return StreamingResponse(chunks(), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="job_{job_id}_frames.zip"'})
