"""Worker render overhead vs raw bpy: ``python -m bench.render [--frames 32] [--samples 16] [--width 320] [--height 240]``.

It generates an animated scene (``blender.scenegen``, Cycles, the given size and samples),
then renders the same frames twice with the same settings (CPU, fixed seed, no denoising, no adaptive
sampling, 8-bit RGBA PNG):

* **raw**: one Python subprocess imports ``bpy``, opens the .blend and renders every frame in a loop;
  only the frame loop is timed, from inside that process (no start-up, no scene load);
* **worker**: one :class:`blender.session.RenderSession` renders the frames, timed from opening
  the session (Blender process start, scene load, settings) to the last frame's result (written, read
  back, hashed), which is what a worker node pays per chunk.

``overhead_ratio`` = worker seconds per frame / raw seconds per frame (the target: at most 1.10).
The last line printed is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from blender.scenegen import SceneSpec, generate_scene
from blender.session import RenderSession
from protocol.render_spec import RenderParams

#: Objects around the cube so the BVH has some work (as the worker benchmark scene does).
EXTRA_OBJECTS = 8

# Runs in the raw subprocess: argv = blend, output dir, first frame, last frame, samples, width, height.
RAW_SCRIPT = """
import json, os, sys, time
import bpy
blend, out, first, last, samples, width, height = sys.argv[1:8]
bpy.context.preferences.filepaths.use_scripts_auto_execute = False
bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False, use_scripts=False)
scene = bpy.context.scene
render = scene.render
render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = int(samples)
scene.cycles.seed = 0
scene.cycles.use_animated_seed = False
scene.cycles.use_denoising = False
scene.cycles.use_adaptive_sampling = False
scene.cycles.time_limit = 0.0
render.resolution_x, render.resolution_y, render.resolution_percentage = int(width), int(height), 100
render.use_border = False
image = render.image_settings
if hasattr(image, "media_type"):
    image.media_type = "IMAGE"
image.file_format = "PNG"
image.color_mode = "RGBA"
image.color_depth = "8"
render.use_file_extension = False
frames = range(int(first), int(last) + 1)
started = time.perf_counter()
for frame in frames:
    scene.frame_set(frame)
    render.filepath = os.path.join(out, f"raw_{frame:06d}.png")
    bpy.ops.render.render(write_still=True, scene=scene.name)
seconds = time.perf_counter() - started
for frame in frames:
    assert os.path.isfile(os.path.join(out, f"raw_{frame:06d}.png")), frame
print("PICTOR-RAW " + json.dumps({"seconds": seconds, "frames": len(frames)}), flush=True)
"""


def _child_env() -> dict[str, str]:
    """Environment for the raw child: this checkout importable, like the worker's Blender process."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_raw(blend: Path, out_dir: Path, *, frames: int, samples: int, width: int, height: int) -> float:
    """Render frames 1..frames in one bpy process; returns the seconds of the frame loop (measured inside)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [str(blend), str(out_dir), "1", str(frames), str(samples), str(width), str(height)]
    proc = subprocess.run(
        [sys.executable, "-c", RAW_SCRIPT, *args], capture_output=True, text=True, env=_child_env(), timeout=3600
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("PICTOR-RAW "):
            result = json.loads(line.removeprefix("PICTOR-RAW "))
            if proc.returncode == 0 and result["frames"] == frames:
                return float(result["seconds"])
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
    raise RuntimeError(f"raw bpy render failed (exit {proc.returncode}):\n{tail}")


def run_worker(blend: Path, out_dir: Path, *, frames: int, samples: int, width: int, height: int) -> float:
    """Render frames 1..frames in one RenderSession; seconds from opening the session to the last frame."""
    params = RenderParams(
        samples=samples,
        resolution_x=width,
        resolution_y=height,
        resolution_percentage=100,
        denoising=False,
        adaptive_sampling=False,
    )
    session = RenderSession(blend, params, output_dir=out_dir)
    started = time.perf_counter()
    try:
        session.start()
        for frame in range(1, frames + 1):
            result = session.render_frame(frame)
            if (result.width, result.height) != (width, height):
                raise RuntimeError(f"frame {frame}: {result.width}×{result.height}, expected {width}×{height}")
        seconds = time.perf_counter() - started
    finally:
        session.close()
    return seconds


def run_bench(*, frames: int = 32, samples: int = 16, width: int = 320, height: int = 240) -> dict[str, Any]:
    """Generate the scene, render it raw and through a worker session; returns the figures."""
    if frames < 1 or samples < 1 or width < 1 or height < 1:
        raise ValueError("frames, samples, width and height must be positive")
    with tempfile.TemporaryDirectory(prefix="pictor-bench-render-") as tmp:
        root = Path(tmp)
        spec = SceneSpec(
            frame_start=1,
            frame_end=frames,
            resolution_x=width,
            resolution_y=height,
            engine="CYCLES",
            samples=samples,
            extra_objects=EXTRA_OBJECTS,
        )
        blend = generate_scene(root / "scene.blend", spec)
        raw_s = run_raw(blend, root / "raw", frames=frames, samples=samples, width=width, height=height)
        worker_s = run_worker(blend, root / "worker", frames=frames, samples=samples, width=width, height=height)
    raw_per_frame = raw_s / frames
    worker_per_frame = worker_s / frames
    return {
        "raw_s_per_frame": round(raw_per_frame, 4),
        "worker_s_per_frame": round(worker_per_frame, 4),
        "overhead_ratio": round(worker_per_frame / raw_per_frame, 3),
        "frames": frames,
        "width": width,
        "height": height,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: print the JSON result as the last line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args(argv)
    print(json.dumps(run_bench(frames=args.frames, samples=args.samples, width=args.width, height=args.height)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
