"""Reading a job: its summary, detail with every frame, version (for the event stream) and rendered frames."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from api.jobs.lifecycle import owned_job, refresh
from indexer import schema as mirror
from pictor.settings import Settings
from tables.jobs import frames

MEDIA = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "OPEN_EXR": "image/x-exr"}


def _escrow(conn: Any, job: Any) -> dict[str, Any] | None:
    if job.chain_job_id is None:
        return None
    row = conn.execute(select(mirror.jobs).where(mirror.jobs.c.job_id == job.chain_job_id)).first()
    if row is None:
        return {"chain_job_id": str(job.chain_job_id)}
    return {"chain_job_id": str(job.chain_job_id), "budget": str(row.budget), "spent": str(row.spent),
            "reserved": str(row.reserved), "available": str(int(row.budget) - int(row.spent) - int(row.reserved)),
            "closed": row.closed}


def summary(conn: Any, job: Any) -> dict[str, Any]:
    """A job without its frames."""
    counts = dict(conn.execute(select(frames.c.state, func.count()).where(frames.c.job_id == job.job_id)
                               .group_by(frames.c.state)).all())
    return {"job_id": job.job_id, "state": job.state, "pause_reason": job.pause_reason, "upload_id": job.upload_id,
            "priority": job.priority, "budget": str(job.budget), "price_per_minute": str(job.price_per_minute),
            "escrow_txn_hash": job.escrow_txn_hash, "escrow": _escrow(conn, job), "version": job.version,
            "frame_counts": counts, "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat()}


def job_detail(engine: Engine, job_id: int, user: str, settings: Settings | None = None) -> dict[str, Any]:
    refresh(engine, job_id, user, settings)
    with engine.connect() as conn:
        job = owned_job(conn, job_id, user)
        rows = conn.execute(select(frames).where(frames.c.job_id == job_id).order_by(frames.c.frame)).all()
        out = summary(conn, job)
    out["settings"], out["estimate"] = job.settings, job.estimate
    out["frames"] = [{"frame": r.frame, "state": r.state, "task_id": r.task_id, "sha256": r.sha256,
                      "render_seconds": r.render_seconds, "width": r.width, "height": r.height} for r in rows]
    return out


def job_version(engine: Engine, job_id: int, user: str) -> tuple[int, str]:
    with engine.connect() as conn:
        job = owned_job(conn, job_id, user)
        return int(job.version), job.state


def rendered_frames(engine: Engine, job_id: int, user: str, frame: int | None = None) -> list[Any]:
    with engine.connect() as conn:
        owned_job(conn, job_id, user)
        query = select(frames).where(frames.c.job_id == job_id, frames.c.sha256.is_not(None),
                                     frames.c.state.not_in(("queued", "assigned", "rendering", "failed")))
        if frame is not None:
            query = query.where(frames.c.frame == frame)
        return conn.execute(query.order_by(frames.c.frame)).all()


def frame_format(row: Any, settings_format: str) -> str:
    return (row.format or settings_format or "PNG").upper()
