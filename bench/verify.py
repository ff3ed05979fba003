"""Verification benchmark: ``pictor bench verify`` (the full corpus by default; ``--quick`` for development).

Builds a corpus of real Cycles renders (CPU, denoising and adaptive sampling off, PNG 8-bit, the
.blend's dither) of three different generated scenes — ``cube`` (the animated cube), ``ring`` (the cube
in a ring of extra objects) and ``studio`` (a close, low camera, a checker-and-noise textured floor, a
glossy cube, more objects and another light) — and verifies every frame with
:func:`checker_node.verify.verifier.verify_frame` as a checker would:

* honest frames: ``--frames`` per scene rendered by a worker session (all threads, Cycles' default
  tiles), and ``--rerenders`` of them rendered again by another process with one thread and 32-pixel
  tiles (the default 8 + 4 per scene × 3 scenes = 36 honest frames);
* tampered copies of every first-process honest frame: the wrong frame (frame + 1), lower samples (a
  quarter, rendered), added noise (σ = 0.03), blank, a region pasted from another frame (5% of the
  area), upscaled from a half-resolution render, JPEG-recompressed at quality 30, colour shift, and
  another scene's frame.

Renders are cached on disk (``--cache``, keyed by the scene's recipe, the render settings, the frame,
threads and tiles), so a second run only re-verifies. The worker's cost of a frame is the CPU seconds
its Blender process spent on that frame (read from /proc around the request; the session's start-up
is not counted, which favours the worker); the checker's is the CPU seconds of its own process plus its
Blender children around one ``verify_frame`` call (getrusage), start-up included.

Last line: JSON with ``detection_rate`` (tampered frames not passed: ``fail`` or ``unsure``),
``false_reject_rate`` (honest frames not passed), ``verify_cost_ratio`` (mean over honest frames of
checker CPU s / worker render CPU s of the same frame), ``per_class`` and more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from blender import sha256_file
from blender.compare import fingerprint, load_frame
from blender.crops import CropBox
from blender.scenegen import SceneSpec, _child_env, generate_scene
from blender.session import RenderSession
from checker_node.verify.tamper import (
    TAMPER_KINDS,
    add_noise,
    blank,
    colour_shift,
    jpeg_recompress,
    paste_region,
    save_png,
    upscale,
)
from checker_node.verify.verifier import PASS, VerifyConfig, verify_frame
from protocol.render_spec import RenderParams

CHECKER_KEY = bytes(range(32))  # a fixed public key: the crops vary with each frame's hash anyway
#: Bump when the corpus recipe changes in a way the cache keys do not see.
CACHE_VERSION = "bench-verify-v2"
HONEST_KINDS = ("honest", "honest_rerender", "honest_denoise", "honest_jpeg")
#: Tamper classes that must be caught every time.
MUST_CATCH = ("blank", "wrong_frame", "another_scene")
#: The scene generator turns the cube once over the frame range: 12 frames = 30° a frame.
FRAME_END = 12

#: Turns a generated scene into a different one (run by Blender's Python in a child process).
_STUDIO_SCRIPT = r"""
import sys, bpy
src, dst = sys.argv[1], sys.argv[2]
bpy.ops.wm.open_mainfile(filepath=src, load_ui=False, use_scripts=False)
scene = bpy.context.scene
cam = scene.camera
cam.location = (3.2, -3.6, 1.2)
cam.rotation_euler = (1.38, 0.0, 0.72)
floor = bpy.data.objects["CubeFloor"]
mat = bpy.data.materials.new("StudioFloor")
nodes, links = mat.node_tree.nodes, mat.node_tree.links
bsdf = nodes["Principled BSDF"]
checker = nodes.new("ShaderNodeTexChecker")
checker.inputs["Scale"].default_value = 9.0
checker.inputs["Color1"].default_value = (0.75, 0.72, 0.65, 1.0)
checker.inputs["Color2"].default_value = (0.12, 0.14, 0.2, 1.0)
noise = nodes.new("ShaderNodeTexNoise")
noise.inputs["Scale"].default_value = 14.0
links.new(checker.outputs["Color"], bsdf.inputs["Base Color"])
links.new(noise.outputs["Fac"], bsdf.inputs["Roughness"])
floor.data.materials.append(mat)
cube_mat = bpy.data.materials["CubeMaterial"]
cb = cube_mat.node_tree.nodes["Principled BSDF"]
cb.inputs["Base Color"].default_value = (0.1, 0.35, 0.8, 1.0)
cb.inputs["Metallic"].default_value = 0.7
cb.inputs["Roughness"].default_value = 0.25
scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.25, 0.3, 0.38, 1.0)
spot = bpy.data.objects.new("Spot", bpy.data.lights.new("Spot", "SPOT"))
spot.data.energy = 600.0
spot.data.color = (1.0, 0.8, 0.6)
spot.location = (2.5, 2.0, 3.5)
spot.rotation_euler = (-0.6, 0.5, 0.0)
scene.collection.objects.link(spot)
bpy.data.objects["Light"].rotation_euler = (0.9, -0.3, 1.4)
bpy.ops.wm.save_as_mainfile(filepath=dst, compress=False)
"""

@dataclass(frozen=True)
class CorpusConfig:
    """The corpus's size and settings (defaults: the full corpus)."""
    width: int = 960
    height: int = 540
    samples: int = 32
    frames: int = 8
    rerenders: int = 4
    #: Also denoised and JPEG honest frames (the two other comparison regimes).
    extra_regimes: bool = False


# -- CPU accounting ------------------------------------------------------------------------------


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_and_self_cpu() -> float:
    """CPU seconds of this process and of its reaped children (the checker's Blender processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# -- the corpus ------------------------------------------------------------------------------------


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str).encode()).hexdigest()[:20]


def build_scenes(cfg: CorpusConfig, cache: Path) -> dict[str, Path]:
    """The three scenes, generated once per size and kept in the cache."""
    specs = {
        "cube": SceneSpec(frame_end=FRAME_END, resolution_x=cfg.width, resolution_y=cfg.height),
        "ring": SceneSpec(frame_end=FRAME_END, resolution_x=cfg.width, resolution_y=cfg.height, extra_objects=6),
        "studio": SceneSpec(frame_end=FRAME_END, resolution_x=cfg.width, resolution_y=cfg.height, extra_objects=10),
    }
    scenes: dict[str, Path] = {}
    for name, spec in specs.items():
        extra = _STUDIO_SCRIPT if name == "studio" else ""
        path = cache / "scenes" / f"{name}-{_key(asdict(spec), extra)}.blend"
        if not path.is_file():
            base = generate_scene(path.with_suffix(".base.blend"), spec)
            if extra:
                cmd = [sys.executable, "-c", extra, str(base), str(path)]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_child_env())
                if proc.returncode != 0 or not path.is_file():
                    raise RuntimeError(f"studio scene failed: {proc.stderr[-2000:]}")
                base.unlink()
            else:
                base.rename(path)
        scenes[name] = path
    return scenes


def render_set(
    scene: Path,
    params: RenderParams,
    frames: list[int],
    cache: Path,
    *,
    threads: int | None = None,
    tile_size: int | None = None,
) -> dict[int, dict[str, Any]]:
    """Render (or find in the cache) ``frames``; per frame its path and the render's CPU and wall seconds."""
    folder = cache / "renders" / _key(scene.name, params.model_dump(mode="json"), threads, tile_size)
    out: dict[int, dict[str, Any]] = {}
    missing = []
    for frame in frames:
        meta = folder / f"frame_{frame:06d}.json"
        if meta.is_file():
            out[frame] = json.loads(meta.read_text())
        else:
            missing.append(frame)
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        with RenderSession(scene, params, output_dir=folder, threads=threads, tile_size=tile_size) as session:
            assert session.pid is not None
            for frame in missing:
                before = _process_cpu(session.pid)
                result = session.render_frame(frame)
                record = {
                    "path": str(result.path),
                    "cpu_s": _process_cpu(session.pid) - before,
                    "render_s": result.render_seconds,
                    "wall_s": result.wall_seconds,
                }
                (folder / f"frame_{frame:06d}.json").write_text(json.dumps(record))
                out[frame] = record
                print(f"rendered {scene.stem} frame {frame} ({record['cpu_s']:.1f} CPU s)", file=sys.stderr)
    return out


def _with(params: RenderParams, **changes: Any) -> RenderParams:
    return RenderParams.model_validate({**params.model_dump(), **changes})


def build_cases(cfg: CorpusConfig, cache: Path) -> tuple[dict[str, Path], list[dict[str, Any]], dict[Any, Any]]:
    """Scenes, the list of cases to verify, and each scene's honest frames (for fingerprints and costs)."""
    scenes = build_scenes(cfg, cache)
    job = RenderParams(
        resolution_x=cfg.width,
        resolution_y=cfg.height,
        resolution_percentage=100,
        samples=cfg.samples,
        seed=7,
        denoising=False,
        adaptive_sampling=False,
    )
    frames = list(range(1, cfg.frames + 1))
    rerendered = frames[: cfg.rerenders]
    honest: dict[str, dict[int, dict[str, Any]]] = {}
    cases: list[dict[str, Any]] = []
    names = list(scenes)
    # Honest renders first (every scene), tamper renders after: a partial cache is useful early.
    for name in names:
        honest[name] = render_set(scenes[name], job, [*frames, cfg.frames + 1], cache)
    for name in names:
        rerender = render_set(scenes[name], job, rerendered, cache, threads=1, tile_size=32)
        for f in rerendered:
            cases.append({"kind": "honest_rerender", "scene": name, "frame": f, "path": rerender[f]["path"]})
    tamper_root = cache / "tampered" / _key(cfg.width, cfg.height, cfg.samples)
    for index, name in enumerate(names):
        other = names[(index + 1) % len(names)]
        low = render_set(scenes[name], _with(job, samples=max(1, cfg.samples // 4)), frames, cache)
        half = render_set(scenes[name], _with(job, resolution_percentage=50), frames, cache)
        for f in frames:
            path = Path(honest[name][f]["path"])
            cases.append({"kind": "honest", "scene": name, "frame": f, "path": path})
            pixels = load_frame(path).pixels
            source = load_frame(honest[name][(f + 2) % cfg.frames + 1]["path"]).pixels
            pasted, box = paste_region(pixels, source, 0.05, seed=f)
            made = {
                "noise": lambda p=pixels, f=f: add_noise(p, 0.03, seed=f),
                "pasted_region": lambda p=pasted: p,
                "blank": lambda p=pixels: blank(p),
                "colour_shift": lambda p=pixels: colour_shift(p),
                "jpeg_q30": lambda p=pixels: jpeg_recompress(p, 30),
                "resized": lambda f=f, h=half: upscale(load_frame(h[f]["path"]).pixels, cfg.width, cfg.height),
            }
            for kind, make in made.items():
                target = tamper_root / name / f"{kind}_{f}.png"
                if not target.is_file():
                    save_png(make(), target)
                case = {"kind": kind, "scene": name, "frame": f, "path": target}
                if kind == "pasted_region":
                    case["changed"] = box
                cases.append(case)
            cases.append({"kind": "lower_samples", "scene": name, "frame": f, "path": low[f]["path"]})
            cases.append({"kind": "wrong_frame", "scene": name, "frame": f, "path": honest[name][f + 1]["path"]})
            cases.append({"kind": "another_scene", "scene": name, "frame": f, "path": honest[other][f]["path"]})
        if cfg.extra_regimes:
            for kind, params in (
                ("honest_denoise", _with(job, denoising=True)),
                ("honest_jpeg", _with(job, output_format="JPEG", color_mode="RGB")),
            ):
                extra = render_set(scenes[name], params, rerendered, cache)
                for f in rerendered:
                    cases.append({"kind": kind, "scene": name, "frame": f, "path": extra[f]["path"], "params": params})
    for case in cases:
        case.setdefault("params", job)
        case["path"] = Path(case["path"])
    return scenes, cases, honest


# -- the benchmark ---------------------------------------------------------------------------------


def run_bench(
    cfg: CorpusConfig | None = None, *, cache: Path | None = None, config: VerifyConfig | None = None
) -> dict[str, Any]:
    """Build (or load) the corpus, verify every case, return the figures."""
    cfg = cfg or CorpusConfig()
    cache = cache or default_cache()
    config = config or VerifyConfig()
    started = time.monotonic()
    scenes, cases, honest = build_cases(cfg, cache)
    corpus_s = time.monotonic() - started
    frames = range(1, cfg.frames + 1)
    # The "other frames of the job" of every verification: fingerprints of the scene's honest frames.
    prints = {(name, f): fingerprint(load_frame(honest[name][f]["path"])) for name in scenes for f in frames}
    by_kind: dict[str, dict[str, Any]] = defaultdict(lambda: {"pass": 0, "fail": 0, "unsure": 0, "worst": []})
    ratios: list[float] = []
    checker_cpu: list[float] = []
    checker_wall: list[float] = []
    pasted: list[dict[str, Any]] = []
    reference_scores: dict[str, list[float]] = defaultdict(list)
    work = cache / "checker-work"
    # Every verdict with its evidence, one JSON line per case: what the thresholds are chosen from.
    records_path = cache / f"verdicts-{cfg.width}x{cfg.height}-{cfg.samples}.jsonl"
    records = records_path.open("w")
    for case in cases:
        others = [p for (scene, f), p in prints.items() if scene == case["scene"] and f != case["frame"]]
        entry = {"frame": case["frame"], "sha256": sha256_file(case["path"])}
        t0, c0 = time.monotonic(), _children_and_self_cpu()
        verdict = verify_frame(
            case["path"],
            entry,
            scenes[case["scene"]],
            case["params"],
            CHECKER_KEY,
            others,
            config=config,
            work_dir=work,
        )
        wall, cpu = time.monotonic() - t0, _children_and_self_cpu() - c0
        kind = case["kind"]
        record = {"kind": kind, "scene": case["scene"], "frame": case["frame"], "cpu_s": cpu, "wall_s": wall}
        records.write(json.dumps({**record, "evidence": verdict.evidence.data}) + "\n")
        records.flush()
        stats = by_kind[kind]
        stats[verdict.verdict] += 1
        data = verdict.evidence.data
        crops = [c for c in data["crops"] if "metrics" in c]
        if crops:
            stats["worst"].append(
                {
                    "psnr": min(_psnr(c["metrics"]) for c in crops),
                    "frac_over_3": max(c["metrics"]["frac_over_3"] for c in crops),
                }
            )
        reference = data.get("reference") or {}
        if "worst_score" in reference:
            reference_scores[kind].append(float(reference["worst_score"]))
        if kind in ("honest", "honest_rerender") and data["crops"]:
            worker_cpu = honest[case["scene"]][case["frame"]]["cpu_s"]
            ratios.append(cpu / worker_cpu)
            checker_cpu.append(cpu)
            checker_wall.append(wall)
        if kind == "pasted_region":
            changed: CropBox = case["changed"]
            boxes = [CropBox(*c["box"]) for c in data["crops"] if "metrics" in c]
            pasted.append(
                {"intersects": any(changed.intersection(b) > 0 for b in boxes), "detected": verdict.verdict != PASS}
            )
        if verdict.verdict != PASS and kind in HONEST_KINDS:
            print(f"false reject: {kind} {case['scene']} frame {case['frame']}: {verdict.reasons}", file=sys.stderr)
        if verdict.verdict == PASS and kind not in HONEST_KINDS:
            print(f"missed: {kind} {case['scene']} frame {case['frame']}", file=sys.stderr)

    records.close()
    per_class: dict[str, Any] = {}
    for kind in (*HONEST_KINDS, *TAMPER_KINDS):
        if kind not in by_kind:
            continue
        stats = by_kind[kind]
        total = stats["pass"] + stats["fail"] + stats["unsure"]
        summary: dict[str, Any] = {k: stats[k] for k in ("pass", "fail", "unsure")}
        rate = round((total - stats["pass"]) / total, 4)
        summary["false_reject_rate" if kind in HONEST_KINDS else "detection_rate"] = rate
        if stats["worst"]:
            psnrs = [w["psnr"] for w in stats["worst"]]
            offs = [w["frac_over_3"] for w in stats["worst"]]
            summary["worst_crop_psnr_range"] = [_r(min(psnrs)), _r(max(psnrs))]
            summary["worst_crop_off_range"] = [_r(min(offs)), _r(max(offs))]
        if reference_scores.get(kind):
            scores = reference_scores[kind]
            summary["reference_score_range"] = [_r(min(scores)), _r(max(scores))]
        per_class[kind] = summary
    tampered = [k for k in by_kind if k not in HONEST_KINDS]
    t_total = sum(sum(by_kind[k][v] for v in ("pass", "fail", "unsure")) for k in tampered)
    t_caught = sum(by_kind[k]["fail"] + by_kind[k]["unsure"] for k in tampered)
    honest_kinds = [k for k in HONEST_KINDS if k in by_kind]
    h_total = sum(sum(by_kind[k][v] for v in ("pass", "fail", "unsure")) for k in honest_kinds)
    h_rejected = sum(by_kind[k]["fail"] + by_kind[k]["unsure"] for k in honest_kinds)
    worker_cpu_all = [honest[n][f]["cpu_s"] for n in scenes for f in frames]
    return {
        "bench": "verify",
        "frame_size": [cfg.width, cfg.height],
        "samples": cfg.samples,
        "scenes": len(scenes),
        "honest_frames": h_total,
        "tampered_frames": t_total,
        "verifications": len(cases),
        "hard_fail_rate": round(sum(by_kind[k]["fail"] for k in tampered) / t_total, 4),
        "pasted_region": {
            "cases": len(pasted),
            "a_crop_intersects": sum(p["intersects"] for p in pasted),
            "detected": sum(p["detected"] for p in pasted),
        },
        "checker_cpu_s_per_frame": round(statistics.mean(checker_cpu), 3),
        "checker_wall_s_per_frame": round(statistics.mean(checker_wall), 3),
        "worker_render_cpu_s_per_frame": round(statistics.mean(worker_cpu_all), 3),
        "verify_cost_ratio_max": round(max(ratios), 4),
        "config": {
            "crop_count": config.crop_count,
            "targeted_crops": config.targeted_crops,
            "crop_fraction": config.crop_fraction,
            "reference": {
                "percentage": config.reference.percentage,
                "samples": config.reference.samples,
                "fail_score": config.reference.fail_score,
            },
        },
        "corpus_s": round(corpus_s, 1),
        "total_s": round(time.monotonic() - started, 1),
        "verdicts_file": str(records_path),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "detection_rate": round(t_caught / t_total, 4),
        "false_reject_rate": round(h_rejected / h_total, 4),
        "verify_cost_ratio": round(statistics.mean(ratios), 4),
        "per_class": per_class,
    }


def default_cache() -> Path:
    """Where renders are kept between runs: ``$PICTOR_BENCH_CACHE`` or ``~/.cache/pictor/bench-verify``."""
    env = os.environ.get("PICTOR_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pictor" / "bench-verify"


def _psnr(metrics: dict[str, Any]) -> float:
    value = metrics["psnr_db"]
    return float("inf") if value == "inf" else float(value)


def _r(value: float) -> float | str:
    return "inf" if value == float("inf") else round(value, 4)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (``python -m bench.verify``): the JSON result is the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small corpus: 320×180, 16 samples, 3 + 1 frames")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--frames", type=int, default=None, help="first-process honest frames per scene")
    parser.add_argument("--rerenders", type=int, default=None, help="of those, re-rendered by another process")
    parser.add_argument("--extra-regimes", action="store_true", help="also denoised and JPEG honest frames")
    parser.add_argument("--cache", type=Path, default=None, help="render cache folder")
    args = parser.parse_args(argv)
    base = CorpusConfig(width=320, height=180, samples=16, frames=3, rerenders=1) if args.quick else CorpusConfig()
    cfg = CorpusConfig(
        width=args.width or base.width,
        height=args.height or base.height,
        samples=args.samples or base.samples,
        frames=args.frames or base.frames,
        rerenders=base.rerenders if args.rerenders is None else args.rerenders,
        extra_regimes=args.extra_regimes,
    )
    print(json.dumps(run_bench(cfg, cache=args.cache)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
