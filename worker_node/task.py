"""One leased task: the claim answer's fields, the run's state while the agent works on it, its result manifest."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blender import FrameResult, RenderSession
from protocol.render_spec import Device, JobSpec
from protocol.telemetry import NodeTelemetry


class LeaseError(ValueError):
    """The claim answer does not follow NODE_API.md."""


class LeaseLost(Exception):
    """The lease is gone (expired, reassigned, cancelled)."""


def _int(lease: dict[str, Any], name: str) -> int:
    value = lease.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LeaseError(f"lease field {name!r} must be an integer, got {value!r}")
    return value


def chain_ids(lease: dict[str, Any]) -> tuple[int, int] | None:
    """The escrow's (job id, task id) of a lease: ``chain_job_id`` and ``chain_task_id`` (None when absent)."""
    job, task = lease.get("chain_job_id"), lease.get("chain_task_id")
    if isinstance(job, str) and job.isdigit():
        job = int(job)
    if isinstance(task, str) and task.isdigit():
        task = int(task)
    if isinstance(job, bool) or isinstance(task, bool) or not isinstance(job, int) or not isinstance(task, int):
        return None
    return job, task


def device_label(settings: JobSpec, telemetry: NodeTelemetry | None, gpus: list[int] | None) -> str:
    """The manifest's ``device``: the GPUs the job could use (of the ``gpus`` selection) or the CPU."""
    if telemetry is None:
        return settings.device.value
    if settings.device == Device.GPU and telemetry.gpus:
        names = [g.name for g in telemetry.gpus if gpus is None or g.index in gpus]
        return "GPU: " + ", ".join(names or [g.name for g in telemetry.gpus])
    return f"CPU: {telemetry.cpu.model} ({telemetry.cpu.usable_cores} cores)"


@dataclass
class TaskRun:
    """The state of one leased task while the agent works on it."""

    lease: dict[str, Any]
    job_id: int
    task_id: int
    attempt: int
    frames: list[int]
    workdir: Path
    session: RenderSession | None = None
    rendered: dict[int, FrameResult] = field(default_factory=dict)
    uploaded: list[int] = field(default_factory=list)
    uploads: asyncio.Queue[FrameResult | None] = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    lost: bool = False
    upload_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def from_lease(cls, lease: dict[str, Any], work_root: Path) -> TaskRun:
        """The run of a claim answer, working in ``work_root/task-<id>-<attempt>`` (LeaseError when malformed)."""
        job_id, task_id, attempt = _int(lease, "job_id"), _int(lease, "task_id"), _int(lease, "attempt")
        frames = lease.get("frames")
        if (
            not isinstance(frames, list)
            or not frames
            or any(isinstance(f, bool) or not isinstance(f, int) for f in frames)
        ):
            raise LeaseError(f"lease field 'frames' must be a non-empty list of frame numbers, got {frames!r}")
        return cls(lease, job_id, task_id, attempt, list(frames), work_root / f"task-{task_id}-{attempt}")

    @property
    def aborted(self) -> bool:
        """Cancelled by the API or lease lost: stop working on it and send nothing more."""
        return self.cancelled or self.lost

    def abort(self, *, lost: bool = False) -> None:
        """Mark the task aborted and kill its render now."""
        if lost:
            self.lost = True
        else:
            self.cancelled = True
        session = self.session
        if session is not None:
            session.cancel()

    def manifest(self, device: str, node: str) -> dict[str, Any]:
        """The result manifest of NODE_API.md for the rendered frames, rendered on ``device`` by ``node``."""
        frames = [self.rendered[f] for f in self.frames]
        return {
            "job_id": self.job_id,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "frames": [
                {
                    "frame": r.frame,
                    "sha256": r.sha256,
                    "render_seconds": round(r.render_seconds, 3),
                    "width": r.width,
                    "height": r.height,
                    "format": r.file_format,
                }
                for r in frames
            ],
            "device": device,
            "node": node,
        }
