"""The points tests' app (with an admin, on a fresh database) and a builder of jobs, tasks, frames and node
heartbeats written straight into the API tables (the rows the credit pass reads)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, update

from pictor.settings import Settings
from tables.jobs import frames, jobs, node_status, tasks
from tables.uploads import blobs, uploads
from tests.support.api import session_for


def new_address() -> str:
    """A fresh account address (0x + 64 lowercase hex)."""
    return "0x" + secrets.token_hex(32)


@dataclass
class Points:
    """An app on a fresh database, its engine and settings, an admin, and row builders."""

    client: TestClient
    engine: Engine
    settings: Settings
    admin: str
    _tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, address: str) -> dict[str, str]:
        """Headers of a live session for ``address``."""
        if address not in self._tokens:
            self._tokens[address] = session_for(self.engine, address)
        return {"Authorization": f"Bearer {self._tokens[address]}"}

    def heartbeat(
        self,
        node_id: int,
        operator: str,
        last_seen: datetime,
        gpus: list[tuple[str, str]] | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Write a node's last heartbeat (``gpus``: (name, uuid) pairs; none for a CPU node)."""
        telemetry: dict[str, Any] = {
            "gpus": [{"name": n, "uuid": u, "vendor": "nvidia", "memory_total_mb": 24576} for n, u in gpus or []]
        }
        if fingerprint:
            telemetry["benchmark"] = {"fingerprint": fingerprint, "multiplier": 1.0}
        with self.engine.begin() as conn:
            values = {
                "operator": operator,
                "telemetry": telemetry,
                "agent_version": "test",
                "multiplier": 1.0,
                "last_seen": last_seen,
            }
            if conn.execute(update(node_status).where(node_status.c.node_id == node_id).values(**values)).rowcount == 0:
                conn.execute(insert(node_status).values(node_id=node_id, **values))

    def job(self, owner: str, state: str = "active") -> int:
        """A job row (and the upload it names)."""
        now = datetime.now(UTC)
        sha = secrets.token_hex(32)
        upload_id = secrets.token_hex(8)
        with self.engine.begin() as conn:
            conn.execute(insert(blobs).values(sha256=sha, size=1, created_at=now))
            conn.execute(
                insert(uploads).values(
                    upload_id=upload_id,
                    owner=owner,
                    blob_sha256=sha,
                    kind="blend",
                    compression="none",
                    filename="s.blend",
                    size=1,
                    created_at=now,
                )
            )
            return conn.execute(
                insert(jobs)
                .values(
                    owner=owner,
                    upload_id=upload_id,
                    settings={},
                    state=state,
                    priority=0,
                    price_per_minute=1,
                    budget=1000,
                    estimate={},
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(jobs.c.job_id)
            ).scalar_one()

    def task(
        self,
        job_id: int,
        seq: int,
        frame_numbers: list[int],
        node_id: int | None,
        ref_minutes: float,
        state: str = "rendered",
        frame_state: str = "rendered",
        completed_at: datetime | None = None,
    ) -> int:
        """A task of ``job_id`` (rendered by ``node_id`` by default) with its frames."""
        now = datetime.now(UTC)
        done = completed_at or now
        with self.engine.begin() as conn:
            task_id = conn.execute(
                insert(tasks)
                .values(
                    job_id=job_id,
                    seq=seq,
                    frames=frame_numbers,
                    state=state,
                    priority=0,
                    attempt=1,
                    node_id=node_id,
                    ref_minutes=ref_minutes,
                    completed_at=done if state == "rendered" else None,
                    updated_at=done,
                )
                .returning(tasks.c.task_id)
            ).scalar_one()
            for f in frame_numbers:
                conn.execute(
                    insert(frames).values(
                        job_id=job_id,
                        frame=f,
                        task_id=task_id,
                        state=frame_state,
                        rendered_at=done if state == "rendered" else None,
                        updated_at=done,
                    )
                )
        return task_id

    def set_frame(self, job_id: int, frame: int, **values: Any) -> None:
        """Change one frame row."""
        with self.engine.begin() as conn:
            conn.execute(update(frames).where(frames.c.job_id == job_id, frames.c.frame == frame).values(**values))


def at(text: str) -> datetime:
    """A UTC time from ``YYYY-MM-DDTHH:MM:SS``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours(n: float) -> timedelta:
    """``n`` hours."""
    return timedelta(hours=n)
