"""Uploads: streaming, content-addressed uploads of a .blend or a .zip project, and scene inspection.

``POST /uploads?filename=…&main_blend=…`` takes the file as the raw request body (or as the ``file`` field of
a ``multipart/form-data`` body, with ``main_blend`` as a field). The body is streamed into the blob store's
staging area while it is hashed and counted: never held in memory, refused with 413 past ``upload_max_bytes``
or past what is left of the account's storage quota. A .blend is recognised by its magic bytes
(``BLENDER``, also gzip/zstd compressed: decompressed as a stream within ``blend_max_decompressed_bytes`` and
``blend_max_ratio``); a .zip is checked from its central directory, extracted safely
(:func:`pictor.blobs.safe_extract_zip`: the whole archive's total and ratio) and must hold the named main .blend.
Only content that passed every check is committed to the store, so a refusal keeps nothing.

Each account has a storage quota (``upload_quota_bytes``: its uploads' bytes and their extracted projects'),
at most ``uploads_per_hour`` uploads an hour (429) and at most ``upload_max_open`` uploads no job uses (409);
checked before the body is read and again, under a per-account lock, when the upload is recorded. Identical
bytes are stored once, silently: the answer is the same whoever else has them, and each account's quota counts
its own uploads. Uploads belong to the signed-in creator; anyone else gets 404. ``GET /uploads/{id}/scene``
inspects the scene in a Blender subprocess (``blender.inspect``) with a time limit and caches the result; its
answers name files relative to the project only, never a path on the server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import Connection, Engine, and_, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from blender.errors import InspectError
from blender.inspect import inspect_scene
from pictor.blobs import (
    ZIP_MAGIC,
    BlendLimits,
    BlobError,
    BlobStore,
    BlobWriter,
    TooLarge,
    ZipLimits,
    blend_compression,
    check_compressed_blend,
    check_zip_sizes,
    file_head,
    safe_extract_zip,
)
from pictor.settings import Settings
from tables.jobs import jobs
from tables.uploads import blobs, uploads

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


async def receive_raw(request: Request, writer: BlobWriter, limit: int, refusal: HTTPException) -> None:
    """Stream the raw body into ``writer``; ``refusal`` past ``limit``."""
    async for chunk in request.stream():
        if writer.size + len(chunk) > limit:
            raise refusal
        writer.write(chunk)  # a page-cache write of ≤ 64 KiB: cheaper than a thread hop per chunk


async def receive_multipart(
    request: Request, writer: BlobWriter, limit: int, refusal: HTTPException
) -> dict[str, str]:
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
                raise refusal
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


# ----------------------------------------------------------------------------- each account's share

#: Advisory lock space of an account's uploads ("upld"): recording one takes turns with the account's others.
ACCOUNT_LOCK_SPACE = 0x7570_6C64


@dataclass(frozen=True)
class Usage:
    """What an account holds: the bytes its quota counts, its uploads of the last hour, those no job uses."""

    used: int
    last_hour: int
    first_in_hour: datetime | None
    open: int


def account_usage(conn: Connection, owner: str, now: datetime) -> Usage:
    """The account's usage, read in one statement."""
    since = now - timedelta(hours=1)
    recent = uploads.c.created_at > since
    used_by_a_job = exists().where(and_(jobs.c.owner == owner, jobs.c.upload_id == uploads.c.upload_id))
    row = conn.execute(
        select(
            func.coalesce(func.sum(uploads.c.size + uploads.c.extracted_size), 0),
            func.count().filter(recent),
            func.min(uploads.c.created_at).filter(recent),
            func.count().filter(~used_by_a_job),
        ).where(uploads.c.owner == owner)
    ).one()
    return Usage(int(row[0]), int(row[1]), row[2], int(row[3]))


def check_account(usage: Usage, settings: Settings, now: datetime) -> None:
    """429 past the hourly uploads, 409 past the open uploads, 413 when the quota is used up."""
    if usage.last_hour >= settings.uploads_per_hour:
        wait = 3600.0
        if usage.first_in_hour is not None:
            wait = (usage.first_in_hour + timedelta(hours=1) - now).total_seconds()
        wait_s = max(1, int(wait) + 1)
        raise HTTPException(
            429, f"you have made {usage.last_hour} uploads in the last hour and an account may make "
                 f"{settings.uploads_per_hour} uploads per hour; try again in {(wait_s + 59) // 60} minutes",
            headers={"Retry-After": str(wait_s)})
    if usage.open >= settings.upload_max_open:
        raise HTTPException(
            409, f"you have {usage.open} uploads that no job uses and an account may hold at most "
                 f"{settings.upload_max_open}; create a job with one of them before uploading more")
    if usage.used >= settings.upload_quota_bytes:
        raise HTTPException(413, f"your storage quota is {settings.upload_quota_bytes} bytes and {usage.used} are "
                                 "used; nothing more can be uploaded")


def quota_left(usage: Usage, settings: Settings) -> int:
    """Bytes the account may still store."""
    return max(0, settings.upload_quota_bytes - usage.used)


def over_quota(usage: Usage, settings: Settings, need: int | None = None, *, zip_: bool = False) -> HTTPException:
    """413 for an upload that does not fit in what is left of the quota (``need``: its bytes, when known)."""
    left = quota_left(usage, settings)
    head = f"{usage.used} bytes of your storage quota of {settings.upload_quota_bytes} bytes are used"
    if need is None:
        return HTTPException(413, f"{head}; this upload is larger than the {left} bytes left")
    what = "the .zip and its extracted files" if zip_ else "the upload"
    return HTTPException(413, f"{head}; this upload needs {need} bytes ({what}) and {left} are left")


def body_limit(usage: Usage, settings: Settings) -> tuple[int, HTTPException]:
    """The most bytes the body may have, and the refusal past them (the size limit's or the quota's)."""
    if settings.upload_max_bytes <= quota_left(usage, settings):
        return settings.upload_max_bytes, too_large(settings.upload_max_bytes)
    return quota_left(usage, settings), over_quota(usage, settings)


# ----------------------------------------------------------------------------- checking the content


def _zip_limits(settings: Settings) -> ZipLimits:
    """The configured limits of .zip projects (and of the compressed .blend files in them)."""
    return ZipLimits(max_entries=settings.zip_max_entries, max_total_bytes=settings.zip_max_total_bytes,
                     max_ratio=settings.zip_max_ratio, blend=_blend_limits(settings))


def _blend_limits(settings: Settings) -> BlendLimits:
    """The configured bounds of what a compressed .blend decompresses to."""
    return BlendLimits(max_bytes=settings.blend_max_decompressed_bytes, max_ratio=settings.blend_max_ratio)


def project_dir(store: BlobStore, sha256: str, settings: Settings) -> tuple[Path, list[str]]:
    """The extracted tree of a stored .zip (extracted again should it be missing) and its files."""
    dest = store.scratch_dir("projects") / sha256
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


@dataclass(frozen=True)
class Checked:
    """Staged content that passed every check: what it is, and the project extracted from it (not yet placed)."""

    kind: str  # blend | zip
    compression: str
    main_blend: str | None
    extracted_size: int = 0
    staging: Path | None = None  # the extracted project, moved under its sha256 when the upload is recorded

    def discard(self) -> None:
        """Remove the staged project (a refused or already extracted one)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


def check_content(store: BlobStore, writer: BlobWriter, settings: Settings, main_blend: str | None,
                  usage: Usage) -> Checked:
    """Check the staged body before anything is stored: a .blend (compressed ones decompressed within bounds) or
    a .zip project (sizes from its central directory, then extracted) with its main .blend; 4xx with the reason."""
    path = writer.staged_path()
    head = file_head(path)
    compression = blend_compression(head)
    what = "the .blend" if compression is not None else "the .zip project"
    try:
        if compression is not None:
            if main_blend:
                raise HTTPException(400, "main_blend applies to .zip projects only")
            check_compressed_blend(path, _blend_limits(settings))
            return Checked("blend", compression, None)
        if not head.startswith(ZIP_MAGIC):
            raise HTTPException(415, "not a Blender file (.blend, no BLENDER header) or a .zip project")
        limits = _zip_limits(settings)
        declared = check_zip_sizes(path, limits)
        if writer.size + declared > quota_left(usage, settings):
            raise over_quota(usage, settings, writer.size + declared, zip_=True)
        staging = store.scratch_dir("projects") / f".upload-{uuid.uuid4().hex}"
        try:
            files = safe_extract_zip(path, staging, limits)
            main, main_compression = find_main_blend(staging, files, main_blend)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Checked("zip", main_compression, main, declared, staging)
    except TooLarge as exc:
        raise HTTPException(413, f"{what} was refused: {exc}") from None
    except BlobError as exc:
        raise HTTPException(422, f"{what} was refused: {exc}") from None


def record_upload(engine: Engine, store: BlobStore, writer: BlobWriter, checked: Checked, owner: str,
                  filename: str | None, settings: Settings) -> Any:
    """Under the account's lock: check its limits again with this upload, commit the blob, place the project,
    and insert the upload; the new row."""
    upload_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(select(func.pg_advisory_xact_lock(ACCOUNT_LOCK_SPACE, func.hashtext(owner))))
        usage = account_usage(conn, owner, now)
        check_account(usage, settings, now)
        need = writer.size + checked.extracted_size
        if need > quota_left(usage, settings):
            raise over_quota(usage, settings, need, zip_=checked.kind == "zip")
        info = writer.commit()
        if checked.staging is not None:
            try:
                os.rename(checked.staging, store.scratch_dir("projects") / info.sha256)
            except OSError:
                checked.discard()  # the same bytes were extracted before: that project is this one
        conn.execute(pg_insert(blobs).values(sha256=info.sha256, size=info.size, created_at=now)
                     .on_conflict_do_nothing())
        conn.execute(uploads.insert().values(
            upload_id=upload_id, owner=owner, blob_sha256=info.sha256, kind=checked.kind,
            compression=checked.compression, filename=upload_filename(filename, checked.kind),
            main_blend=checked.main_blend, size=info.size, extracted_size=checked.extracted_size, created_at=now,
        ))
        return conn.execute(select(uploads).where(uploads.c.upload_id == upload_id)).one()


def upload_view(row: Any) -> dict[str, Any]:
    """An upload as the API shows it."""
    return {
        "id": row.upload_id, "sha256": row.blob_sha256, "kind": row.kind, "compression": row.compression,
        "filename": row.filename, "main_blend": row.main_blend, "size": row.size,
        "extracted_size": row.extracted_size, "created_at": row.created_at.isoformat(),
        "inspected": row.inspected_at is not None,
    }


def upload_filename(value: str | None, kind: str) -> str:
    """A display name: the last path component, printable, at most 255 characters."""
    name = PurePosixPath((value or "").replace("\\", "/")).name
    name = "".join(c for c in name if c.isprintable())[:255]
    return name or ("project.zip" if kind == "zip" else "scene.blend")


# ----------------------------------------------------------------------------- endpoints


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


# ----------------------------------------------------------------------------- what an inspection may say

#: An absolute path left in a message once the project's own are made relative: shown by its last part only.
_ABSOLUTE_DIRS = re.compile(r"(?<![\w.~/-])/(?:[^\s'\"/:]+/)+")


def _project_roots(store: BlobStore, row: Any) -> list[re.Pattern[str]]:
    """Where Blender saw the upload's project: its extracted tree, or (a lone .blend) an inspection folder."""
    if row.kind == "zip":
        return [re.compile(re.escape(str(store.scratch_dir("projects") / row.blob_sha256)))]
    return [re.compile(re.escape(str(store.scratch_dir("inspect"))) + r"/[^/]+")]


def _relative(value: Any, roots: list[re.Pattern[str]]) -> str | None:
    """``value`` relative to the project when it is a path inside it, else None."""
    if not isinstance(value, str):
        return None
    normal = os.path.normpath(value)
    if not normal.startswith("/"):  # made relative already (an answer cached as it was shown)
        return None if normal.split("/", 1)[0] == ".." else normal
    for root in roots:
        match = re.fullmatch(root.pattern + r"(?:/(.*))?", normal)
        if match:
            return match.group(1) or "."
    return None


def scrub_paths(text: str, roots: list[re.Pattern[str]]) -> str:
    """``text`` with the project's paths made relative and any other absolute path cut to its last part."""
    for root in roots:
        text = re.sub(root.pattern + r"/", "", text)
        text = re.sub(root.pattern + r"(?![^\s'\":])", ".", text)
    return _ABSOLUTE_DIRS.sub("", text)


def scene_answer(store: BlobStore, row: Any, scene: dict[str, Any] | None) -> dict[str, Any] | None:
    """An inspection as the creator sees it: the scene by its name in the project, missing files by theirs
    (None outside the project), never a path on the server."""
    if not isinstance(scene, dict):
        return scene
    roots = _project_roots(store, row)
    out = dict(scene)
    if "path" in out:
        out["path"] = row.main_blend if row.kind == "zip" else row.filename
    missing = out.get("missing_files")
    if isinstance(missing, list):
        out["missing_files"] = [
            {**item, "resolved": _relative(item.get("resolved"), roots)} if isinstance(item, dict) else item
            for item in missing
        ]
    if isinstance(out.get("scripts_blocked"), str):
        out["scripts_blocked"] = scrub_paths(out["scripts_blocked"], roots)
    return out


def error_answer(store: BlobStore, row: Any, error: str) -> str:
    """An inspection failure as the creator sees it: no path on the server."""
    return scrub_paths(error, _project_roots(store, row))
