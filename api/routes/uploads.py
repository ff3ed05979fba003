"""``/uploads``: a creator's .blend or .zip projects (streamed, content-addressed) and their scene inspection."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, get_blob_store, get_engine, get_settings
from api.uploads import (
    INSPECTIONS,
    InspectFailed,
    account_usage,
    blend_for_inspection,
    body_limit,
    check_account,
    check_content,
    error_answer,
    inspector_of,
    owned,
    receive_multipart,
    receive_raw,
    record_upload,
    scene_answer,
    upload_view,
)
from tables.uploads import uploads

router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.post("", status_code=201, summary="Upload a .blend or a .zip project (streamed, content-addressed)")
async def create_upload(
    request: Request,
    user: CurrentUser,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    main_blend: Annotated[str | None, Query(max_length=1024, description="Main .blend inside a .zip.")] = None,
) -> dict[str, Any]:
    """Check the body, then store it under its sha256 and record the upload for the signed-in creator."""
    settings = get_settings(request)
    engine = get_engine(request)
    now = datetime.now(UTC)

    def usage_now() -> Any:
        with engine.connect() as conn:
            return account_usage(conn, user, now)

    usage = await run_in_threadpool(usage_now)
    check_account(usage, settings, now)  # before reading a byte of the body
    limit, refusal = body_limit(usage, settings)
    multipart = request.headers.get("content-type", "").lower().startswith("multipart/form-data")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + (64 * 1024 if multipart else 0):  # multipart framing
        raise refusal
    store = get_blob_store(request)
    with store.writer() as writer:
        if multipart:
            fields = await receive_multipart(request, writer, limit, refusal)
            filename = filename or fields.get("filename")
            main_blend = main_blend or fields.get("main_blend")
        else:
            await receive_raw(request, writer, limit, refusal)
        if writer.size == 0:
            raise HTTPException(400, "the upload is empty")
        checked = await run_in_threadpool(check_content, store, writer, settings, main_blend, usage)
        try:
            row = await run_in_threadpool(record_upload, engine, store, writer, checked, user, filename, settings)
        finally:
            checked.discard()  # nothing is left when it was placed; a refused upload's project goes
    return upload_view(row)


@router.get("", summary="The signed-in creator's uploads, newest first")
async def list_uploads(
    request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The caller's uploads."""
    engine = get_engine(request)

    def load() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(select(uploads).where(uploads.c.owner == user)
                                .order_by(uploads.c.created_at.desc()).limit(limit)).fetchall()

    return {"items": [upload_view(r) for r in await run_in_threadpool(load)]}


@router.get("/{upload_id}", summary="One of the caller's uploads")
async def get_upload(upload_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    """The upload, 404 if it is not the caller's."""
    return upload_view(await run_in_threadpool(owned, get_engine(request), upload_id, user))


@router.get("/{upload_id}/scene", summary="Inspect the scene (Blender subprocess, cached)")
async def upload_scene(
    upload_id: str, request: Request, user: CurrentUser, refresh: bool = False
) -> dict[str, Any]:
    """Scenes, cameras, frame range, resolution, engine, samples and missing files of the upload."""
    engine = get_engine(request)
    row = await run_in_threadpool(owned, engine, upload_id, user)
    store = get_blob_store(request)
    if row.inspected_at is not None and not refresh:
        if row.scene_error:
            raise HTTPException(422, f"the scene could not be inspected: {error_answer(store, row, row.scene_error)}")
        return {"id": upload_id, "scene": scene_answer(store, row, row.scene), "cached": True}
    settings = get_settings(request)
    inspector = inspector_of(request.app)

    def run() -> tuple[dict[str, Any] | None, str | None]:
        with INSPECTIONS, tempfile.TemporaryDirectory(dir=store.scratch_dir("inspect")) as tmp:
            path = blend_for_inspection(store, row, settings, Path(tmp))
            try:
                return scene_answer(store, row, inspector(path, settings.inspect_timeout_s)), None
            except InspectFailed as exc:
                return None, error_answer(store, row, str(exc))[:2000]

    scene, error = await run_in_threadpool(run)

    def save() -> None:
        with engine.begin() as conn:
            conn.execute(update(uploads).where(uploads.c.upload_id == upload_id).values(
                scene=scene, scene_error=error, inspected_at=datetime.now(UTC)))

    await run_in_threadpool(save)
    if error is not None:
        raise HTTPException(422, f"the scene could not be inspected: {error}")
    return {"id": upload_id, "scene": scene, "cached": False}
