"""The worker-side endpoints of ``api/NODE_API.md``: heartbeat, claim, task heartbeat, scene download, frame
upload, complete (signed manifest), fail and release. Every request is signed by the node (:func:`current_node`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api import scheduler
from api.verification.queue import enqueue_rendered
from blender.imageinfo import ImageInfo, ImageInfoError, read_image_info
from chain.keys import normalize_address
from indexer import schema as mirror
from pictor.blobs import BlobStore
from pictor.settings import Settings
from protocol.bounds import ByteCount
from protocol.manifest import manifest_signed_by
from protocol.render_spec import JobSpec, parse_job_spec
from tables.jobs import frames, jobs, tasks
from tables.state_machine import LEASED, FrameState, TaskState, bump, finish_job, move_frames, move_task
from tables.uploads import blobs, uploads
from tables.workers import frame_parts

MAX_FRAME_BYTES = 16 * 1024 * 1024


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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


def may_download(engine: Engine, node_id: int, sha256: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(
            select(tasks.c.task_id).join(jobs, jobs.c.job_id == tasks.c.job_id)
            .join(uploads, uploads.c.upload_id == jobs.c.upload_id)
            .where(tasks.c.node_id == node_id, tasks.c.state.in_(LEASED), uploads.c.blob_sha256 == sha256)
            .limit(1)
        ).first() is not None


def store_frame(engine: Engine, store: BlobStore, node_id: int, task_id: int, frame: int, body: bytes,
                 digest: str) -> None:
    now = scheduler.utcnow()
    with engine.begin() as conn:
        row = scheduler.leased_task(conn, task_id, node_id, now)
        if frame not in row.frames:
            raise HTTPException(404, f"frame {frame} is not part of task {task_id}")
        if not store.exists(digest):
            with store.writer() as writer:
                writer.write(body)
                writer.commit()
        conn.execute(pg_insert(blobs).values(sha256=digest, size=len(body), created_at=now).on_conflict_do_nothing())
        move_frames(conn, row.job_id, FrameState.RENDERING, numbers=[frame], sha256=digest, updated_at=now)
    scheduler.touch(engine, row.job_id)  # after the commit: see tables.state_machine.bump


class FrameRefused(ValueError):
    """An uploaded frame that is not what the job renders or what the manifest says: the node's failed attempt."""


def manifest_frames(manifest: dict[str, Any]) -> list[ManifestFrame]:
    """The manifest's frames, validated (400 with the problem)."""
    listed = manifest.get("frames") or []
    if not isinstance(listed, list):
        raise HTTPException(400, "manifest frames must be a list of frames")
    try:
        return [ManifestFrame.model_validate(f) for f in listed]
    except ValueError as exc:
        raise HTTPException(400, f"manifest frames: {exc}") from None


def image_header(store: BlobStore, sha256: str) -> ImageInfo | str:
    """The header of the stored image ``sha256`` (read without decoding a pixel), or why there is none."""
    try:
        return read_image_info(store.local_path(sha256))
    except FileNotFoundError:
        return "not uploaded"
    except (ImageInfoError, OSError, struct.error, ValueError, IndexError):  # a damaged or foreign header
        return "not a PNG, JPEG, TIFF or OpenEXR image"


def frame_problem(item: ManifestFrame, info: ImageInfo | str, spec: JobSpec) -> str | None:
    """Why a frame's uploaded image is not what the job renders (size, format, bits per channel) or not what the
    manifest says it is; None when it is both."""
    if isinstance(info, str):
        return f"frame {item.frame} is {info}"
    width, height = spec.output_size
    fmt, depth = spec.output_format.value, spec.render_params().effective_color_depth
    if info.format != fmt:
        return f"frame {item.frame} is a {info.format} image; the job renders {fmt}"
    if (info.width, info.height) != (width, height):
        return f"frame {item.frame} is {info.width}×{info.height} pixels; the job renders {width}×{height}"
    if info.bit_depth != depth:
        return f"frame {item.frame} has {info.bit_depth} bits per channel; the job renders {depth}"
    if (item.width, item.height, item.format) != (info.width, info.height, info.format):
        return (f"the manifest says frame {item.frame} is {item.width}×{item.height} {item.format} but the image is "
                f"{info.width}×{info.height} {info.format}")
    return None


def complete_task(engine: Engine, store: BlobStore, settings: Settings, node_id: int, node_address: str,
                  task_id: int, body: CompleteBody) -> None:
    """Check the manifest and every frame's image, and record the result; the transaction (and its commit) is
    shared with the completions made side by side (``scheduler.group_commit``), each checked and written as
    alone; the job's version is bumped after the commit.

    A frame that is not what the job renders or what the manifest says is a 400 and a failed attempt of the node:
    the task goes back to the queue (``scheduler.fail_task``, the blocklist rule included)."""
    items = manifest_frames(body.manifest)
    # Headers are read before the shared transaction (blobs are content-addressed: the bytes of a sha256 never
    # change), for the task's frames only; inside it, a frame is checked by the sha256 the upload recorded.
    with engine.connect() as conn:
        task_frames = conn.execute(select(tasks.c.frames).where(tasks.c.task_id == task_id)).scalar_one_or_none()
    headers = ({item.sha256: image_header(store, item.sha256) for item in items}
               if task_frames is not None and sorted(f.frame for f in items) == sorted(task_frames) else {})
    try:
        scheduler.group_commit(engine, partial(_complete_in, store=store, node_id=node_id,
                                               node_address=node_address, task_id=task_id, body=body, items=items,
                                               headers=headers))
    except FrameRefused as exc:
        try:
            blocked = scheduler.fail_task(engine, node_id, task_id, str(exc), settings)
        except scheduler.LeaseGone:  # the lease ended meanwhile: nothing left to count against
            raise HTTPException(400, f"{exc}; the result is refused") from None
        blocklisted = " (this node is now blocklisted for the job)" if blocked else ""
        raise HTTPException(400, f"{exc}; the result is refused, the task goes back to the queue and counts as a "
                                 f"failed attempt{blocklisted}") from None


def _complete_in(conn: Any, *, store: BlobStore, node_id: int, node_address: str, task_id: int, body: CompleteBody,
                 items: list[ManifestFrame], headers: dict[str, ImageInfo | str]) -> tuple[int, bool]:
    """The completion's checks and writes inside ``conn``'s transaction; the version bump it owes (job, finish)."""
    manifest = body.manifest
    now = scheduler.utcnow()
    row = scheduler.leased_task(conn, task_id, node_id, now)
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
    if sorted(f.frame for f in items) != sorted(row.frames):
        raise HTTPException(400, f"the manifest must list exactly the task's frames {list(row.frames)}")
    uploaded = dict(conn.execute(select(frames.c.frame, frames.c.sha256).where(
        frames.c.job_id == row.job_id, frames.c.task_id == task_id)).all())
    for item in items:
        if uploaded.get(item.frame) != item.sha256:
            raise HTTPException(400, f"frame {item.frame}: upload it first (the manifest's sha256 differs from "
                                     "the uploaded image's)")
    spec = parse_job_spec(conn.execute(select(jobs.c.settings).where(jobs.c.job_id == row.job_id)).scalar_one())
    problems = [problem for item in items if (problem := frame_problem(
        item, headers[item.sha256] if item.sha256 in headers else image_header(store, item.sha256), spec))]
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise FrameRefused("; ".join(problems[:5]) + more)
    for item in items:
        move_frames(conn, row.job_id, FrameState.RENDERED, numbers=[item.frame], render_seconds=item.render_seconds,
                    width=item.width, height=item.height, format=item.format, rendered_at=now, updated_at=now)
    move_task(conn, task_id, TaskState.RENDERED, manifest={"manifest": manifest, "signature": body.signature},
              lease_deadline=None, completed_at=now, updated_at=now)
    enqueue_rendered(conn, task_id, now)  # a checker verifies the result
    finish = finish_job(conn, row.job_id)
    return row.job_id, finish  # bumped after the commit: see tables.state_machine.bump


# ----------------------------------------------------------------------------- frames in parts
# A frame above the signed-body limit (an 8K OpenEXR can be) goes up in parts, each a signed request of at most
# that limit, kept in the blob store's scratch space per (task, attempt, frame); the finalize call assembles them
# into the content-addressed store, checking every part's and the whole frame's sha256 and the frame size limit.

MAX_FRAME_PARTS = 10_000


class FinalizeFrameBody(BaseModel):
    """The whole frame the parts make up."""

    model_config = ConfigDict(extra="forbid")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[ByteCount, Field(ge=1)]
    parts: Annotated[int, Field(ge=1, le=MAX_FRAME_PARTS)]


def _parts_dir(store: BlobStore, task_id: int, attempt: int, frame: int) -> Path:
    return store.scratch_dir("frame-parts") / f"{task_id}-{attempt}-{frame}"


def _leased_frame(conn: Any, task_id: int, node_id: int, frame: int) -> Any:
    """The task row (locked) when it is leased to the node and ``frame`` is one of its frames."""
    row = scheduler.leased_task(conn, task_id, node_id, scheduler.utcnow())
    if frame not in row.frames:
        raise HTTPException(404, f"frame {frame} is not part of task {task_id}")
    return row


def _part_rows(conn: Any, task_id: int, attempt: int, frame: int) -> list[Any]:
    p = frame_parts.c
    return list(conn.execute(select(frame_parts).where(p.task_id == task_id, p.attempt == attempt, p.frame == frame)
                             .order_by(p.part)).all())


def store_part(engine: Engine, store: BlobStore, settings: Any, node_id: int, task_id: int, frame: int, part: int,
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


def list_parts(engine: Engine, node_id: int, task_id: int, frame: int) -> list[Any]:
    with engine.begin() as conn:
        row = _leased_frame(conn, task_id, node_id, frame)
        return _part_rows(conn, task_id, row.attempt, frame)


def assemble_frame(engine: Engine, store: BlobStore, settings: Any, node_id: int, task_id: int, frame: int,
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
        move_frames(conn, row.job_id, FrameState.RENDERING, numbers=[frame], sha256=body.sha256, updated_at=now)
        p = frame_parts.c
        conn.execute(frame_parts.delete().where(p.task_id == task_id, p.attempt == attempt, p.frame == frame))
        bump(conn, row.job_id)
    shutil.rmtree(folder, ignore_errors=True)
    return body.sha256


