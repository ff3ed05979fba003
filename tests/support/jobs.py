"""Helpers of the job and scheduler tests (no tests here): uploads, jobs, mirror rows, node telemetry."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from indexer import schema as mirror
from tables.jobs import jobs
from tables.uploads import blobs, uploads

CREATOR = "0x" + "c1" * 32
OTHER = "0x" + "d2" * 32

#: Small, fast job settings (a CPU Cycles job of 64×64 pixels).
SMALL = {"frames": "1-6", "frames_per_node": 2, "resolution": "custom", "resolution_x": 64, "resolution_y": 64,
         "samples": 16, "engine": "cycles", "device": "CPU"}


def make_upload(engine: Engine, owner: str, scene: dict[str, Any] | None = None, store: Any = None) -> str:
    """An upload row (and its blob row) owned by ``owner``; the bytes go to ``store`` when given."""
    upload_id = uuid.uuid4().hex
    content = b"BLENDER-v500" + upload_id.encode()
    sha = hashlib.sha256(content).hexdigest()
    if store is not None:
        with store.writer() as writer:
            writer.write(content)
            writer.commit()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(blobs).values(sha256=sha, size=100, created_at=now))
        conn.execute(insert(uploads).values(upload_id=upload_id, owner=owner, blob_sha256=sha, kind="blend",
                                            compression="none", filename="scene.blend", size=100, created_at=now,
                                            scene=scene))
    return upload_id


def telemetry(*, gpus: int = 0, vram_mb: int = 8192, vendor: str = "nvidia", model: str = "NVIDIA RTX 4090",
              multiplier: float = 1.0, location: str = "europe", engines: list[str] | None = None,
              ram_mb: int = 32768) -> dict[str, Any]:
    """A heartbeat telemetry as protocol.telemetry builds it, plus multiplier/location/engines."""
    body: dict[str, Any] = {
        "cpu": {"model": "Test CPU", "ram_total_mb": ram_mb},
        "gpus": [{"name": model, "vendor": vendor, "memory_total_mb": vram_mb} for _ in range(gpus)],
        "multiplier": multiplier, "location": location,
    }
    if engines is not None:
        body["engines"] = engines
    return body


def fake_escrow(engine: Engine, chain_job_id: int, creator: str, budget: int, *, spent: int = 0,
                reserved: int = 0, price: int = 50_000) -> None:
    """A mirror row of an on-chain escrow (offline tests: as if the indexer had written it)."""
    with engine.begin() as conn:
        conn.execute(insert(mirror.jobs).values(
            job_id=chain_job_id, creator=creator, store="0x" + "ee" * 32, budget=budget, credit_in=0, spent=spent,
            reserved=reserved, price_per_minute=price, closed=False, opened_version=1, last_version=1))


def activate(engine: Engine, job_id: int, chain_job_id: int, budget: int = 10**12) -> None:
    """Link a job to a fake escrow and make it active (offline tests)."""
    from sqlalchemy import update

    with engine.begin() as conn:
        owner, price = conn.execute(select(jobs.c.owner, jobs.c.price_per_minute)
                                    .where(jobs.c.job_id == job_id)).one()
    fake_escrow(engine, chain_job_id, owner, budget, price=int(price))
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(state="active", chain_job_id=chain_job_id))
