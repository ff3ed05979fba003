"""Downloads: a job's scene (what nodes fetch) and any blob streamed in chunks."""

from __future__ import annotations

from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import Engine, select

from pictor.blobs import BlobStore
from tables.jobs import jobs
from tables.uploads import uploads


def job_scene(engine: Engine, job_id: int) -> dict[str, Any]:
    """The blob, size, main .blend and kind of the upload a job renders."""
    with engine.connect() as conn:
        row = conn.execute(select(uploads.c.blob_sha256, uploads.c.size, uploads.c.main_blend, uploads.c.kind)
                           .join(jobs, jobs.c.upload_id == uploads.c.upload_id).where(jobs.c.job_id == job_id)).one()
    return {"sha256": row.blob_sha256, "size": int(row.size), "main_blend": row.main_blend, "kind": row.kind}


def stream_blob(store: BlobStore, sha256: str, media_type: str = "application/octet-stream",
                headers: dict[str, str] | None = None) -> StreamingResponse:
    """A blob, streamed in 1 MiB chunks."""

    def chunks() -> Any:
        with store.open(sha256) as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
