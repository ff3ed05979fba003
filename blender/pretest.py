"""The pre-test frame: one frame of a job rendered at low cost, its time scaled to the job's settings.

The job's pre-test frame is rendered in a Blender subprocess (:class:`RenderSession`) with the job's settings
except a lower resolution percentage (at most ``max_pixels`` pixels, same aspect) and at most
``max_samples`` samples, within a time limit. Cycles' time grows with pixels × samples, so the measured
seconds are scaled by the ratio of the job's to the test's pixels and samples: an upper-leaning estimate,
since the scene load and BVH build in the measured time do not grow with either.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from blender import RenderSession
from protocol.render_spec import Device, JobSpec, output_size

#: Settings that change neither the pixels nor the render time of one frame (left out of the cache key).
_NOT_RENDER = ("frames", "frames_per_node", "timeouts", "worker_location", "hardware", "pricing_tier")


@dataclass(frozen=True)
class PretestResult:
    """A pre-test render: what was rendered, how long it took, and the time scaled to the job's settings."""

    frame: int
    render_seconds: float  # measured by Blender for the reduced frame
    test_size: tuple[int, int]
    test_samples: int | None
    job_size: tuple[int, int]
    job_samples: int | None
    scale: float
    estimated_seconds: float  # one frame at the job's settings, on this machine

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretestResult:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**data, "test_size": tuple(data["test_size"]), "job_size": tuple(data["job_size"])})


def settings_hash(cfg: JobSpec) -> str:
    """sha256 of the settings that decide a frame's pixels and render time (cache key with the scene's hash)."""
    data = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in _NOT_RENDER}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def reduced_settings(
    cfg: JobSpec, *, max_pixels: int, max_samples: int, scene_samples: int | None = None
) -> tuple[JobSpec, float]:
    """The test's settings (lower percentage, fewer samples) and the factor from test time to job time."""
    width, height = cfg.output_size
    percentage = cfg.resolution_percentage
    if width * height > max_pixels:
        ratio = math.sqrt(max_pixels / (width * height))
        percentage = max(1, min(percentage, math.floor(cfg.resolution_percentage * ratio)))
    test_w, test_h = output_size(cfg.width, cfg.height, percentage)
    if test_w < 1 or test_h < 1:  # a very thin frame: keep one pixel row
        percentage = cfg.resolution_percentage
        test_w, test_h = width, height
    job_samples = cfg.samples or scene_samples
    test_samples = min(job_samples, max_samples) if job_samples else max_samples
    sample_scale = job_samples / test_samples if job_samples else 1.0
    # On the CPU whatever the job asks: the time is turned into reference time with this machine's CPU multiplier.
    reduced = cfg.model_copy(
        update={"resolution_percentage": percentage, "samples": test_samples, "device": Device.CPU}
    )
    return reduced, (width * height) / (test_w * test_h) * sample_scale


def render_pretest(
    blend: str | Path,
    cfg: JobSpec,
    *,
    timeout_s: float,
    max_pixels: int = 320 * 180,
    max_samples: int = 16,
    scene_samples: int | None = None,
    work_dir: str | Path | None = None,
    threads: int | None = None,
) -> PretestResult:
    """Render the job's ``pretest_frame`` reduced; RenderTimeout/RenderFailed/RenderSettingsError as a task would."""
    if cfg.pretest_frame is None:
        raise ValueError("the job's settings name no pre-test frame")
    reduced, scale = reduced_settings(cfg, max_pixels=max_pixels, max_samples=max_samples,
                                      scene_samples=scene_samples)  # fmt: skip
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="pretest-") as tmp:
        session = RenderSession(blend, reduced, output_dir=tmp, frame_timeout_s=timeout_s, load_timeout_s=timeout_s,
                                threads=threads)  # fmt: skip
        with session:
            result = session.render_frame(cfg.pretest_frame)
    job_samples = cfg.samples or scene_samples
    return PretestResult(
        frame=cfg.pretest_frame,
        render_seconds=round(result.render_seconds, 4),
        test_size=(result.width, result.height),
        test_samples=reduced.samples,
        job_size=cfg.output_size,
        job_samples=job_samples,
        scale=round(scale, 4),
        estimated_seconds=round(result.render_seconds * scale, 4),
    )
