"""The node's performance multiplier: a short, fixed Cycles render timed against a documented reference.

The benchmark scene is built in code (:data:`BENCHMARK_SCENE`: the animated cube, eight small cubes
around it, a floor, a sun and a point light, 160×120) and rendered with 32 samples, seed 0, no
denoising and no adaptive sampling, so every node does exactly the same work. One warm-up render
(kernel load, BVH build) is discarded; the fastest timed render is the node's time (other load on
the machine only ever adds time, so the minimum is the stable estimate: measured 0.467–0.470 s over
three runs here where medians spread 0.48–0.60 s).

``multiplier = REFERENCE_SECONDS / node seconds``: 1.0 is the reference node, 2.0 renders twice as
fast. The reference is the project's CI machine, a 2-vCPU Intel Xeon rendering with Cycles on CPU
(Blender 5.0.1), which measured :data:`REFERENCE_SECONDS`. The result is cached per
hardware fingerprint (CPU, GPUs, Blender version, device, threads, benchmark version).

A scene this small is dominated by per-frame overhead on a fast GPU, so GPU multipliers are
understated; good enough to order nodes and price tasks, not a GPU review.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blender.scenegen import SceneSpec, generate_scene
from blender.session import RenderSession
from protocol.render_spec import Device, RenderParams, installed_blender_version
from protocol.telemetry import NodeTelemetry, collect_telemetry

#: Bump when the scene or settings change: cached results of another version are not comparable.
BENCHMARK_VERSION = 1
BENCHMARK_SCENE = SceneSpec(frame_start=1, frame_end=1, resolution_x=160, resolution_y=120, samples=32, extra_objects=8)
BENCHMARK_SAMPLES = 32
#: Fastest benchmark render on the reference node (2-vCPU Intel Xeon, Cycles CPU, bpy 5.0.1).
REFERENCE_SECONDS = 0.47
REFERENCE_NODE = "2-vCPU Intel Xeon (CI reference machine), Cycles on CPU, Blender 5.0.1"
#: A cached result older than this is measured again (drivers and thermal setups change).
DEFAULT_MAX_AGE_S = 30 * 24 * 3600.0
CACHE_FILE = "benchmark.json"


@dataclass(frozen=True)
class BenchmarkResult:
    """A measured (or cached) benchmark."""

    multiplier: float
    seconds: float  # fastest of the timed renders
    runs: list[float]
    device: str
    blender: str
    version: int
    reference_seconds: float
    reference_node: str
    fingerprint: str
    measured_at: float
    cached: bool = False
    hardware: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pictor`` (``~/.cache/pictor``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pictor"


def hardware_fingerprint(telemetry: NodeTelemetry, device: Device, threads: int | None) -> str:
    """What the benchmark result depends on, hashed: a change means measuring again."""
    facts = {
        "version": BENCHMARK_VERSION,
        "blender": installed_blender_version(),
        "device": device.value,
        "threads": threads,
        "cpu": telemetry.cpu.model,
        "usable_cores": telemetry.cpu.usable_cores,
        "gpus": sorted((g.name, g.uuid) for g in telemetry.gpus),
        "driver": telemetry.driver_version,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def run_benchmark(
    *,
    device: Device | str = Device.CPU,
    repeats: int = 3,
    threads: int | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    frame_timeout_s: float = 600.0,
    telemetry: NodeTelemetry | None = None,
) -> BenchmarkResult:
    """Build the benchmark scene, render it ``repeats`` + 1 times in one session, and time it."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    device = Device(device)
    telemetry = telemetry or collect_telemetry()
    params = RenderParams(
        samples=BENCHMARK_SAMPLES,
        seed=0,
        denoising=False,
        adaptive_sampling=False,
        device=device,
        resolution_x=BENCHMARK_SCENE.resolution_x,
        resolution_y=BENCHMARK_SCENE.resolution_y,
        resolution_percentage=100,
    )
    with tempfile.TemporaryDirectory(prefix="pictor-bench-", dir=work_dir) as tmp:
        blend = generate_scene(Path(tmp) / "benchmark.blend", BENCHMARK_SCENE)
        with RenderSession(blend, params, output_dir=tmp, threads=threads, frame_timeout_s=frame_timeout_s) as session:
            session.render_frame(1)  # warm-up: kernels, BVH, caches
            runs = [session.render_frame(1).render_seconds for _ in range(repeats)]
    seconds = min(runs)
    return BenchmarkResult(
        multiplier=round(REFERENCE_SECONDS / seconds, 4),
        seconds=seconds,
        runs=runs,
        device=device.value,
        blender=installed_blender_version() or "unknown",
        version=BENCHMARK_VERSION,
        reference_seconds=REFERENCE_SECONDS,
        reference_node=REFERENCE_NODE,
        fingerprint=hardware_fingerprint(telemetry, device, threads),
        measured_at=time.time(),
        hardware={"cpu": telemetry.cpu.model, "gpus": [g.name for g in telemetry.gpus]},
    )


def performance_multiplier(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: Device | str = Device.CPU,
    threads: int | None = None,
    repeats: int = 3,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    force: bool = False,
    telemetry: NodeTelemetry | None = None,
) -> BenchmarkResult:
    """The node's benchmark result: from the cache when it matches this hardware and is fresh, else measured."""
    device = Device(device)
    telemetry = telemetry or collect_telemetry()
    cache = Path(cache_dir or default_cache_dir()) / CACHE_FILE
    fingerprint = hardware_fingerprint(telemetry, device, threads)
    if not force:
        cached = _load(cache)
        entry = cached.get(fingerprint)
        if entry and time.time() - float(entry.get("measured_at", 0)) < max_age_s:
            return BenchmarkResult(**{**entry, "cached": True})
    result = run_benchmark(device=device, repeats=repeats, threads=threads, telemetry=telemetry)
    _store(cache, result)
    return result


def _load(path: Path) -> dict[str, dict[str, Any]]:
    """The cache file's entries by fingerprint (empty when missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(path: Path, result: BenchmarkResult) -> None:
    """Add a result to the cache file atomically (several fingerprints may share it)."""
    entries = _load(path)
    entries[result.fingerprint] = {**result.to_dict(), "cached": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=2, sort_keys=True))
    os.replace(tmp, path)
