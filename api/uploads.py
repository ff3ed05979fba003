"""Uploads: streaming, content-addressed uploads of a .blend or a .zip project, and scene inspection.

``POST /uploads?filename=…&main_blend=…`` takes the file as the raw request body (or as the ``file`` field of
a ``multipart/form-data`` body, with ``main_blend`` as a field). The body is streamed to the blob store while
it is hashed and counted: never held in memory, refused with 413 past ``upload_max_bytes``. A .blend is
recognised by its magic bytes (``BLENDER``, also gzip/zstd compressed); a .zip is extracted safely
(:func:`pictor.blobs.safe_extract_zip`) once per content and must hold the named main .blend. Uploads belong
to the signed-in creator; anyone else gets 404. ``GET /uploads/{id}/scene`` inspects the scene in a Blender
subprocess (``blender.inspect``) with a time limit and caches the result.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import Engine, select

from blender.errors import InspectError
from blender.inspect import inspect_scene
from pictor.blobs import (
    BlobStore,
    BlobWriter,
    ZipLimits,
    blend_compression,
    file_head,
    safe_extract_zip,
)
from pictor.settings import Settings
from tables.uploads import uploads

#: Runs one inspection: (path of the .blend, timeout in seconds) → the scene description.
Inspector = Callable[[Path, float], dict[str, Any]]
INSPECTIONS = threading.BoundedSemaphore(2)  # each is a whole Blender process: bound them on a shared host
_MAX_FIELD = 1024  # bytes of a multipart text field
_ID = re.compile(r"[0-9a-f]{32}")


def _default_inspector(path: Path, timeout_s: float) -> dict[str, Any]:
    """Inspect with the Blender toolkit (a subprocess with a time limit)."""
    try:
        return inspect_scene(path, timeout_s=timeout_s).to_dict()
    except InspectError as exc:
        raise InspectFailed(str(exc).split("\n--- last lines", 1)[0]) from None


class InspectFailed(Exception):
    """The scene could not be inspected (the message is for the creator); inspectors raise it, it is cached."""


def inspector_of(app: Any) -> Inspector:
    """The app's scene inspector (``app.state.scene_inspector``, a seam for tests), else Blender's."""
    return getattr(app.state, "scene_inspector", None) or _default_inspector


# ----------------------------------------------------------------------------- receiving the body


async def receive_raw(request: Request, writer: BlobWriter, limit: int) -> None:
    """Stream the raw body into ``writer``; 413 past ``limit``."""
    async for chunk in request.stream():
        if writer.size + len(chunk) > limit:
            raise too_large(limit)
        writer.write(chunk)  # a page-cache write of ≤ 64 KiB: cheaper than a thread hop per chunk


async def receive_multipart(request: Request, writer: BlobWriter, limit: int) -> dict[str, str]:
    """Stream the ``file`` part of a multipart body into ``writer``; answer the small text fields."""

    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "multipart body without a boundary")
    fields: dict[str, str] = {}
    state: dict[str, Any] = {"name": None, "filename": None, "header": b"", "value": b"", "headers": {},
                             "buffer": bytearray(), "files": 0}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["header"].lower()] = state["value"]
        state["header"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["name"] = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        state["filename"] = filename.decode("utf-8", "replace") if filename is not None else None
        if state["name"] == "file":
            state["files"] += 1
            if state["files"] > 1:
                raise HTTPException(400, "send one file per upload")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["name"] == "file":
            if writer.size + (end - start) > limit:
                raise too_large(limit)
            writer.write(data[start:end])
        else:
            state["buffer"] += data[start:end]
            if len(state["buffer"]) > _MAX_FIELD:
                raise HTTPException(400, f"form field {state['name']!r} is longer than {_MAX_FIELD} bytes")

    def on_part_end() -> None:
        if state["name"] == "file":
            if state["filename"]:
                fields.setdefault("filename", state["filename"])
        elif state["name"]:
            fields[state["name"]] = state["buffer"].decode("utf-8", "replace")
        state.update(name=None, filename=None, headers={}, buffer=bytearray())

    parser = MultipartParser(boundary, {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    async for chunk in request.stream():
        parser.write(chunk)
    parser.finalize()
    if state["files"] != 1:
        raise HTTPException(400, "the multipart body has no 'file' part")
    return fields


def too_large(limit: int) -> HTTPException:
    """413 with the limit in words."""
    return HTTPException(413, f"the upload is larger than the limit of {limit} bytes ({limit / 2**20:.0f} MiB)")


# ----------------------------------------------------------------------------- checking the content


def _zip_limits(settings: Settings) -> ZipLimits:
    """The configured limits of .zip projects."""
    return ZipLimits(max_entries=settings.zip_max_entries, max_total_bytes=settings.zip_max_total_bytes,
                     max_ratio=settings.zip_max_ratio)


def project_dir(store: BlobStore, sha256: str, settings: Settings) -> tuple[Path, list[str]]:
    """The extracted tree of a .zip blob (extracted once per content) and its files."""
    root = store.scratch_dir("projects")
    dest = root / sha256
    if not dest.exists():
        # FileExistsError: another request extracted the same content at the same moment.
        with contextlib.suppress(FileExistsError):
            safe_extract_zip(store.local_path(sha256), dest, _zip_limits(settings))
    files = sorted(str(p.relative_to(dest).as_posix()) for p in dest.rglob("*") if p.is_file())
    return dest, files


def find_main_blend(dest: Path, files: list[str], wanted: str | None) -> tuple[str, str]:
    """The main .blend of a project (named, or the only one) and its compression; 400 with the reason."""
    blends = [f for f in files if f.lower().endswith((".blend", ".blend.gz", ".blend.zst"))]
    if not wanted:
        if len(blends) != 1:
            names = ", ".join(blends[:20]) or "none"
            raise HTTPException(400, f"name the main .blend of the project with main_blend (found: {names})")
        wanted = blends[0]
    wanted = str(PurePosixPath(wanted.strip().lstrip("./")))
    if wanted not in files:
        raise HTTPException(400, f"main_blend {wanted!r} is not a file of the .zip")
    compression = blend_compression(file_head(dest / wanted))
    if compression is None:
        raise HTTPException(415, f"main_blend {wanted!r} is not a Blender file (no BLENDER header)")
    return wanted, compression


def upload_view(row: Any) -> dict[str, Any]:
    """An upload as the API shows it."""
    return {
        "id": row.upload_id, "sha256": row.blob_sha256, "kind": row.kind, "compression": row.compression,
        "filename": row.filename, "main_blend": row.main_blend, "size": row.size,
        "created_at": row.created_at.isoformat(), "inspected": row.inspected_at is not None,
    }


def upload_filename(value: str | None, kind: str) -> str:
    """A display name: the last path component, printable, at most 255 characters."""
    name = PurePosixPath((value or "").replace("\\", "/")).name
    name = "".join(c for c in name if c.isprintable())[:255]
    return name or ("project.zip" if kind == "zip" else "scene.blend")


# ----------------------------------------------------------------------------- endpoints


def forget(store: BlobStore, info: Any) -> None:
    """Drop refused content this request created (refused content is refused for every upload of it)."""
    if info.created:
        store.delete(info.sha256)


def owned(engine: Engine, upload_id: str, user: str) -> Any:
    """The caller's upload, 404 for an unknown one or someone else's (the same answer: ids leak nothing)."""
    if not _ID.fullmatch(upload_id):
        raise HTTPException(404, "no such upload")
    with engine.connect() as conn:
        row = conn.execute(
            select(uploads).where(uploads.c.upload_id == upload_id, uploads.c.owner == user)
        ).first()
    if row is None:
        raise HTTPException(404, "no such upload")
    return row


def blend_for_inspection(store: BlobStore, row: Any, settings: Settings, workdir: Path) -> Path:
    """A local ``.blend`` path of the upload (the zip's main file, in its extracted project)."""
    if row.kind == "zip":
        dest, _ = project_dir(store, row.blob_sha256, settings)
        return dest / row.main_blend
    # Blobs have no extension; give Blender a file that looks like what it is (a link, not a copy).
    target = workdir / "scene.blend"
    source = store.local_path(row.blob_sha256)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


