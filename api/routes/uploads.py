"""``/uploads``: a creator's .blend or .zip projects (streamed, content-addressed) and their scene inspection."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, get_blob_store, get_engine, get_settings
from api.uploads import (
    INSPECTIONS,
    InspectFailed,
    blend_for_inspection,
    find_main_blend,
    forget,
    inspector_of,
    owned,
    project_dir,
    receive_multipart,
    receive_raw,
    too_large,
    upload_filename,
    upload_view,
)
from pictor.blobs import (
    ZIP_MAGIC,
    BlobError,
    blend_compression,
    file_head,
)
from tables.uploads import blobs, uploads

router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.post("", status_code=201, summary="Upload a .blend or a .zip project (streamed, content-addressed)")
async def create_upload(
    request: Request,
    user: CurrentUser,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    main_blend: Annotated[str | None, Query(max_length=1024, description="Main .blend inside a .zip.")] = None,
) -> dict[str, Any]:
    """Store the body under its sha256 and record the upload for the signed-in creator."""
    settings = get_settings(request)
    limit = settings.upload_max_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 64 * 1024:  # multipart framing adds a little
        raise too_large(limit)
    store = get_blob_store(request)
    writer = store.writer()
    with writer:
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            fields = await receive_multipart(request, writer, limit)
            filename = filename or fields.get("filename")
            main_blend = main_blend or fields.get("main_blend")
        else:
            await receive_raw(request, writer, limit)
        if writer.size == 0:
            raise HTTPException(400, "the upload is empty")
        info = await run_in_threadpool(writer.commit)
    head = file_head(store.local_path(info.sha256))
    compression = blend_compression(head)
    if compression is not None:
        kind, main = "blend", None
        if main_blend:
            raise HTTPException(400, "main_blend applies to .zip projects only")
    elif head.startswith(ZIP_MAGIC):
        kind = "zip"
        try:
            dest, files = await run_in_threadpool(project_dir, store, info.sha256, settings)
        except BlobError as exc:
            forget(store, info)
            raise HTTPException(422, f"the .zip project was refused: {exc}") from None
        # A wrong main_blend refuses this request only: the content itself is a sound project (and a concurrent
        # upload of the same content may be using the blob), so it is kept.
        main, compression = find_main_blend(dest, files, main_blend)
    else:
        forget(store, info)
        raise HTTPException(415, "not a Blender file (.blend, no BLENDER header) or a .zip project")
    now = datetime.now(UTC)
    upload_id = uuid.uuid4().hex
    engine = get_engine(request)

    def record() -> Any:
        with engine.begin() as conn:
            conn.execute(pg_insert(blobs).values(sha256=info.sha256, size=info.size, created_at=now)
                         .on_conflict_do_nothing())
            conn.execute(uploads.insert().values(
                upload_id=upload_id, owner=user, blob_sha256=info.sha256, kind=kind, compression=compression,
                filename=upload_filename(filename, kind), main_blend=main, size=info.size, created_at=now,
            ))
            return conn.execute(select(uploads).where(uploads.c.upload_id == upload_id)).one()

    row = await run_in_threadpool(record)
    return {**upload_view(row), "deduplicated": not info.created}


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
    if row.inspected_at is not None and not refresh:
        if row.scene_error:
            raise HTTPException(422, f"the scene could not be inspected: {row.scene_error}")
        return {"id": upload_id, "scene": row.scene, "cached": True}
    settings = get_settings(request)
    store = get_blob_store(request)
    inspector = inspector_of(request.app)

    def run() -> tuple[dict[str, Any] | None, str | None]:
        with INSPECTIONS, tempfile.TemporaryDirectory(dir=store.scratch_dir("inspect")) as tmp:
            path = blend_for_inspection(store, row, settings, Path(tmp))
            try:
                return inspector(path, settings.inspect_timeout_s), None
            except InspectFailed as exc:
                return None, str(exc)[:2000]

    scene, error = await run_in_threadpool(run)

    def save() -> None:
        with engine.begin() as conn:
            conn.execute(update(uploads).where(uploads.c.upload_id == upload_id).values(
                scene=scene, scene_error=error, inspected_at=datetime.now(UTC)))

    await run_in_threadpool(save)
    if error is not None:
        raise HTTPException(422, f"the scene could not be inspected: {error}")
    return {"id": upload_id, "scene": scene, "cached": False}
