"""Verification tamper suite: ``python -m bench.verify [--frames 4] [--width 128 --height 96 --samples 16]``.

Builds a corpus from real Cycles renders of two generated scenes (``worker_node.render.scenegen``: the
animated cube, and the cube with a ring of extra objects), then verifies every frame with
:func:`checker_node.verify.verifier.verify_frame` as a checker would:

* honest frames (PNG 8-bit, denoising and adaptive sampling off, the .blend's default dither), rendered
  once by a worker session with all threads and once by another process with one thread;
* honest frames of a denoised job and of a JPEG job (the ``statistical`` regime);
* tampered copies of each honest frame: added noise, a region pasted from another frame (5% of the
  area), blank, colour shift, JPEG-recompressed at quality 30 (saved back as PNG), the wrong frame
  (frame+1), lower samples (a quarter), rendered at half resolution and upscaled, and another scene.

The last line is JSON: per kind the verdict counts and detection rate (``detected`` = not ``pass``; an
``unsure`` frame is not paid before a second checker agrees), the false-reject rate on honest frames,
the metric ranges per kind (how the thresholds were chosen), the pasted-region analysis, and the cost:
``verify_cost_ratio`` is the checker's CPU seconds per honest frame (its Blender processes and its
own decoding/metrics) over the CPU seconds of a worker's one-frame task (a fresh render process:
start, scene load, one frame); ``verify_wall_ratio`` the same in wall time; ``crop_render_ratio`` the
crops' Blender render seconds over the full frame's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from checker_node.verify.compare import fingerprint, load_frame
from checker_node.verify.crops import CropBox, crop_size, detection_probability
from checker_node.verify.tamper import (
    add_noise,
    blank,
    colour_shift,
    jpeg_recompress,
    paste_region,
    save_png,
    upscale,
)
from checker_node.verify.verifier import PASS, VerifyConfig, verify_frame
from pictor.render_settings import RenderParams
from worker_node.render import RenderSession
from worker_node.render.scenegen import SceneSpec, generate_scene

CHECKER_KEY = bytes(range(32))  # a fixed public key: the crops vary with each frame's hash anyway
HONEST_KINDS = ("honest", "honest_threads1", "honest_denoise", "honest_jpeg")


def _with(params: RenderParams, **changes: Any) -> RenderParams:
    """``params`` with some fields changed, validated again."""
    return RenderParams.model_validate({**params.model_dump(), **changes})


def _render(
    scene: Path, params: RenderParams, frames: list[int], out: Path, threads: int | None = None
) -> dict[int, Any]:
    with RenderSession(scene, params, output_dir=out, threads=threads) as session:
        return {f: session.render_frame(f) for f in frames}


def run_bench(
    *, frames: int = 2, width: int = 128, height: int = 96, samples: int = 16, work: Path | None = None
) -> dict[str, Any]:
    """Build the corpus, verify everything, return the figures."""
    tmp = tempfile.TemporaryDirectory(prefix="pictor-bench-verify-") if work is None else None
    root = Path(tmp.name) if tmp else Path(work)  # type: ignore[union-attr]
    started = time.monotonic()
    frame_list = list(range(1, frames + 1))
    scenes = {
        "cube": generate_scene(root / "cube.blend", SceneSpec(frame_end=12, resolution_x=width, resolution_y=height)),
        "ring": generate_scene(
            root / "ring.blend", SceneSpec(frame_end=12, resolution_x=width, resolution_y=height, extra_objects=6)
        ),
    }
    job = RenderParams(
        resolution_x=width,
        resolution_y=height,
        resolution_percentage=100,
        samples=samples,
        seed=7,
        denoising=False,
        adaptive_sampling=False,
    )
    jobs = {
        "honest": job,
        "honest_denoise": _with(job, denoising=True),
        "honest_jpeg": _with(job, output_format="JPEG", color_mode="RGB"),
    }
    cases: list[dict[str, Any]] = []  # {kind, scene, frame, path, sha256, params, changed_box?}
    renders: dict[tuple[str, str], dict[int, Any]] = {}
    worker_cost: list[dict[str, float]] = []
    for name, scene in scenes.items():
        # A worker's one-frame task: a fresh process, scene load, one frame.
        t0, c0 = time.monotonic(), _child_cpu()
        one = _render(scene, job, [1], root / name / "cold")[1]
        worker_cost.append(
            {"wall_s": time.monotonic() - t0, "render_s": one.render_seconds, "cpu_s": _child_cpu() - c0}
        )
        renders[(name, "honest")] = _render(scene, job, [*frame_list, frames + 1], root / name / "honest")
        renders[(name, "honest_threads1")] = _render(scene, job, frame_list, root / name / "t1", threads=1)
        half = frame_list[: max(1, frames // 2)]
        renders[(name, "honest_denoise")] = _render(scene, jobs["honest_denoise"], half, root / name / "dn")
        renders[(name, "honest_jpeg")] = _render(scene, jobs["honest_jpeg"], frame_list, root / name / "jpg")
        renders[(name, "lower_samples")] = _render(
            scene, _with(job, samples=max(1, samples // 4)), frame_list, root / name / "low"
        )
        renders[(name, "lower_samples_jpeg")] = _render(
            scene, _with(jobs["honest_jpeg"], samples=max(1, samples // 4)), frame_list, root / name / "lowjpg"
        )
        renders[(name, "half_res")] = _render(
            scene, _with(job, resolution_percentage=50), frame_list, root / name / "half"
        )
    for name in scenes:
        other_scene = "ring" if name == "cube" else "cube"
        for kind in HONEST_KINDS:
            for f, result in renders[(name, kind)].items():
                if f in frame_list:
                    params = jobs.get(kind, job)
                    cases.append({"kind": kind, "scene": name, "frame": f, "path": result.path, "params": params})
        for f in frame_list:
            honest = renders[(name, "honest")][f]
            pixels = load_frame(honest.path).pixels
            tdir = root / name / "tampered"
            source = load_frame(renders[(name, "honest")][(f + 2) % frames + 1].path).pixels
            pasted, box = paste_region(pixels, source, 0.05, seed=f)
            made = {
                "noise": (add_noise(pixels, 0.03, seed=f), None),
                "pasted_region": (pasted, box),
                "blank": (blank(pixels), None),
                "colour_shift": (colour_shift(pixels), None),
                "jpeg_q30": (jpeg_recompress(pixels, 30), None),
                "lower_samples": (load_frame(renders[(name, "lower_samples")][f].path).pixels, None),
                "resized": (upscale(load_frame(renders[(name, "half_res")][f].path).pixels, width, height), None),
            }
            for kind, (tampered, changed) in made.items():
                path = save_png(tampered, tdir / f"{kind}_{f}.png")
                cases.append({"kind": kind, "scene": name, "frame": f, "path": path, "params": job, "changed": changed})
            # The same cheats on the JPEG job (the lossy regime): how much weaker is it?
            jpeg_honest = load_frame(renders[(name, "honest_jpeg")][f].path).pixels
            for kind, tampered in (
                ("jpeg_job_noise", add_noise(jpeg_honest, 0.03, seed=f)),
                ("jpeg_job_lower_samples", load_frame(renders[(name, "lower_samples_jpeg")][f].path).pixels),
            ):
                path = save_jpeg(tampered, tdir / f"{kind}_{f}.jpg", quality=90)
                cases.append({"kind": kind, "scene": name, "frame": f, "path": path, "params": jobs["honest_jpeg"]})
            cases.append(
                {
                    "kind": "wrong_frame",
                    "scene": name,
                    "frame": f,
                    "path": renders[(name, "honest")][f + 1].path,
                    "params": job,
                }
            )
            cases.append(
                {
                    "kind": "another_scene",
                    "scene": name,
                    "frame": f,
                    "path": renders[(other_scene, "honest")][f].path,
                    "params": job,
                }
            )
    corpus_s = time.monotonic() - started

    # Fingerprints of each scene's honest frames: the "other frames of the job" of every verification.
    prints = {
        (name, f): fingerprint(load_frame(renders[(name, "honest")][f].path)) for name in scenes for f in frame_list
    }
    config = VerifyConfig()
    by_kind: dict[str, dict[str, Any]] = defaultdict(lambda: {"pass": 0, "fail": 0, "unsure": 0, "metrics": []})
    verify_walls: list[float] = []
    verify_cpus: list[float] = []
    crop_render_s: list[float] = []
    pasted: list[dict[str, Any]] = []
    from worker_node.render import sha256_file  # noqa: PLC0415

    for case in cases:
        others = [p for (scene, f), p in prints.items() if scene == case["scene"] and f != case["frame"]]
        entry = {"frame": case["frame"], "sha256": sha256_file(case["path"])}
        t0, c0 = time.monotonic(), _child_cpu() + _own_cpu()
        verdict = verify_frame(
            case["path"],
            entry,
            scenes[case["scene"]],
            case["params"],
            CHECKER_KEY,
            others,
            config=config,
            work_dir=root / "checker",
        )
        wall, cpu = time.monotonic() - t0, _child_cpu() + _own_cpu() - c0
        stats = by_kind[case["kind"]]
        stats[verdict.verdict] += 1
        crops = verdict.evidence.data["crops"]
        if crops and all("metrics" in c for c in crops):
            worst = min(crops, key=lambda c: _psnr(c["metrics"]))["metrics"]
            stats["metrics"].append(
                {
                    "min_psnr": _psnr(worst),
                    "min_ssim": min(c["metrics"]["ssim"] for c in crops),
                    "max_frac_over_3": max(c["metrics"]["frac_over_3"] for c in crops),
                    "max_phash": max(c["metrics"]["phash_distance"] for c in crops),
                }
            )
        if case["kind"] in ("honest", "honest_threads1") and crops:
            verify_walls.append(wall)
            verify_cpus.append(cpu)
            crop_render_s.append(sum(float(c.get("render_seconds", 0)) for c in crops))
        if case["kind"] == "pasted_region":
            changed: CropBox = case["changed"]
            boxes = [CropBox(*c["box"]) for c in crops]
            pasted.append(
                {"intersects": any(changed.intersection(b) > 0 for b in boxes), "detected": verdict.verdict != PASS}
            )
        if verdict.verdict != PASS and case["kind"] in HONEST_KINDS:
            print(
                f"false reject: {case['kind']} {case['scene']} frame {case['frame']}: {verdict.reasons}",
                file=sys.stderr,
            )
        if verdict.verdict == PASS and case["kind"] not in HONEST_KINDS:
            print(f"missed: {case['kind']} {case['scene']} frame {case['frame']}", file=sys.stderr)

    per_kind: dict[str, Any] = {}
    for kind, stats in by_kind.items():
        total = stats["pass"] + stats["fail"] + stats["unsure"]
        metrics = stats["metrics"]
        summary: dict[str, Any] = {k: stats[k] for k in ("pass", "fail", "unsure")}
        if kind in HONEST_KINDS:
            summary["false_reject_rate"] = round((total - stats["pass"]) / total, 4)
        else:
            summary["detection_rate"] = round((total - stats["pass"]) / total, 4)
        if metrics:
            summary["min_psnr_range"] = [
                _r(min(m["min_psnr"] for m in metrics)),
                _r(max(m["min_psnr"] for m in metrics)),
            ]
            summary["min_ssim_range"] = [
                _r(min(m["min_ssim"] for m in metrics)),
                _r(max(m["min_ssim"] for m in metrics)),
            ]
            summary["max_frac_over_3_range"] = [
                _r(min(m["max_frac_over_3"] for m in metrics)),
                _r(max(m["max_frac_over_3"] for m in metrics)),
            ]
            summary["max_phash_range"] = [min(m["max_phash"] for m in metrics), max(m["max_phash"] for m in metrics)]
        per_kind[kind] = summary
    tampered = [k for k in by_kind if k not in HONEST_KINDS]
    t_total = sum(by_kind[k]["pass"] + by_kind[k]["fail"] + by_kind[k]["unsure"] for k in tampered)
    t_detected = sum(by_kind[k]["fail"] + by_kind[k]["unsure"] for k in tampered)
    h_total = sum(by_kind[k]["pass"] + by_kind[k]["fail"] + by_kind[k]["unsure"] for k in HONEST_KINDS if k in by_kind)
    h_rejected = sum(by_kind[k]["fail"] + by_kind[k]["unsure"] for k in HONEST_KINDS if k in by_kind)
    cw, ch = crop_size(width, height, config.crop_fraction)
    region = (max(1, round(width * 0.05**0.5)), max(1, round(height * 0.05**0.5)))
    worker_wall = statistics.mean(w["wall_s"] for w in worker_cost)
    worker_render = statistics.mean(w["render_s"] for w in worker_cost)
    result = {
        "bench": "verify",
        "frame_size": [width, height],
        "samples": samples,
        "frames": len(cases),
        "detection_rate": round(t_detected / t_total, 4),
        "hard_fail_rate": round(sum(by_kind[k]["fail"] for k in tampered) / t_total, 4),
        "false_reject_rate": round(h_rejected / h_total, 4),
        "per_class": per_kind,
        "pasted_region": {
            "cases": len(pasted),
            "intersecting_crops": sum(p["intersects"] for p in pasted),
            "detected": sum(p["detected"] for p in pasted),
            "detected_when_intersecting": sum(p["detected"] and p["intersects"] for p in pasted),
            "analytic_hit_probability": round(
                detection_probability(width, height, region, (cw, ch), config.crop_count), 4
            ),
            "patch_px": list(region),
            "crop_px": [cw, ch],
        },
        "verify_cost_ratio": round(statistics.mean(verify_cpus) / statistics.mean(w["cpu_s"] for w in worker_cost), 3),
        "verify_wall_ratio": round(statistics.mean(verify_walls) / worker_wall, 3),
        "checker_cpu_s_per_frame": round(statistics.mean(verify_cpus), 3),
        "worker_one_frame_task_cpu_s": round(statistics.mean(w["cpu_s"] for w in worker_cost), 3),
        "crop_render_ratio": round(statistics.mean(crop_render_s) / worker_render, 3),
        "checker_wall_s_per_frame": round(statistics.mean(verify_walls), 3),
        "worker_one_frame_task_wall_s": round(worker_wall, 3),
        "worker_frame_render_s": round(worker_render, 3),
        "corpus_s": round(corpus_s, 1),
        "total_s": round(time.monotonic() - started, 1),
    }
    if tmp is not None:
        tmp.cleanup()
    return result


def save_jpeg(pixels: Any, path: Path, quality: int) -> Path:
    """Write float RGB pixels in [0, 1] as a baseline JPEG (what a cheating worker on a JPEG job uploads)."""
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(pixels[:, :, :3], 0, 1) * 255).astype(np.uint8), "RGB").save(path, quality=quality)
    return path


def _child_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children (the Blender processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    """CPU seconds of this process (the checker's decoding and metrics)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _psnr(metrics: dict[str, Any]) -> float:
    value = metrics["psnr_db"]
    return float("inf") if value == "inf" else float(value)


def _r(value: float) -> float | str:
    return "inf" if value == float("inf") else round(value, 4)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: the JSON result is the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2, help="honest frames per scene")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--work", type=Path, default=None, help="keep the corpus here")
    args = parser.parse_args(argv)
    result = run_bench(frames=args.frames, width=args.width, height=args.height, samples=args.samples, work=args.work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
