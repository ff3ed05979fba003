"""Verify one rendered frame: whole-frame checks, crop re-renders with the job's exact settings, a verdict.

``verify_frame(...) -> Verdict``; the verdict carries its :class:`Evidence` (every metric of every crop,
the crop boxes, timings, the thresholds used, software versions), serialised as canonical JSON whose
sha256 is the ``evidence_hash`` an attestation puts on chain.

Three comparison regimes (thresholds in :class:`Thresholds`, chosen from ``python -m bench.verify``; see
checker_node/README.md):

* ``exact`` — denoising and adaptive sampling off and a lossless format: Cycles with a fixed seed
  renders a border crop with the very pixels of the full frame (dither moves 8/16-bit values by at
  most 2/255), so anything beyond a few 1/255 steps on more than a handful of pixels is a different
  image;
* ``denoised`` — denoising or adaptive sampling on (or left to the .blend): the crop re-render
  legitimately differs (the denoiser sees other neighbours), so SSIM/PSNR bands decide; the crop is
  rendered with a margin around it (the denoiser then sees nearly the frame's neighbourhood: measured
  worst crop 46–52 dB against the full frame, 32–49 dB without the margin) and the margin is cut off
  before comparing;
* ``lossy`` — JPEG output: the worker's JPEG is compared with a 16-bit PNG crop (no second lossy
  encoding, whose blocks would fall elsewhere), so the honest difference is the JPEG error itself and
  the band is the loosest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from checker_node.verify.compare import (
    Check,
    CropMetrics,
    ExpectedFrame,
    FrameFingerprint,
    WholeFrameConfig,
    compare_crops,
    cut,
    load_frame,
    whole_frame_checks,
)
from checker_node.verify.crops import (
    DEFAULT_CROP_COUNT,
    DEFAULT_CROP_FRACTION,
    CropBox,
    choose_crops,
    crop_seed,
)
from pictor.render_settings import ColorMode, OutputFormat, RenderParams, output_size

EVIDENCE_VERSION = "pictor-evidence-v1"
PASS, FAIL, UNSURE = "pass", "fail", "unsure"


@dataclass(frozen=True)
class Band:
    """Per-crop limits: a crop passes at or beyond the ``pass_`` limits, fails beyond the ``fail_`` ones, else unsure."""

    pass_min_psnr: float
    pass_min_ssim: float
    fail_below_psnr: float
    fail_below_ssim: float
    #: Share of pixels differing by more than 3/255: pass at most / fail above.
    pass_max_frac_over_3: float = 1.0
    fail_above_frac_over_3: float = 1.0

    def classify(self, m: CropMetrics) -> tuple[str, str]:
        """(verdict, reason) for one crop's metrics."""
        if (
            m.psnr_db < self.fail_below_psnr
            or m.ssim < self.fail_below_ssim
            or m.frac_over_3 > self.fail_above_frac_over_3
        ):
            return FAIL, (
                f"psnr {m.psnr_db:.2f} dB, ssim {m.ssim:.4f}, {m.frac_over_3:.2%} pixels off by >3/255 "
                f"(fail below {self.fail_below_psnr} dB / {self.fail_below_ssim} / above {self.fail_above_frac_over_3:.2%})"
            )
        if (
            m.psnr_db >= self.pass_min_psnr
            and m.ssim >= self.pass_min_ssim
            and m.frac_over_3 <= self.pass_max_frac_over_3
        ):
            return PASS, "within the pass band"
        return UNSURE, (
            f"psnr {m.psnr_db:.2f} dB, ssim {m.ssim:.4f}, {m.frac_over_3:.2%} off: between the pass and fail bands"
        )


@dataclass(frozen=True)
class Thresholds:
    """The per-regime bands (measured: checker_node/README.md, ``python -m bench.verify``)."""

    #: Honest crops differ by dither only (≤ 2/255, PSNR ≈ 51 dB, no pixel off by more than 3/255); SSIM is kept
    #: loose (0.97) because ±2/255 of dither already costs SSIM 0.007 in dark flat areas.
    exact: Band = Band(
        pass_min_psnr=45.0,
        pass_min_ssim=0.97,
        fail_below_psnr=38.0,
        fail_below_ssim=0.93,
        pass_max_frac_over_3=0.002,
        fail_above_frac_over_3=0.02,
    )
    #: Denoising with a 16-pixel margin: honest worst crop 46–52 dB, SSIM ≥ 0.991, up to 6% of pixels off by >3/255.
    denoised: Band = Band(pass_min_psnr=42.0, pass_min_ssim=0.97, fail_below_psnr=34.0, fail_below_ssim=0.93)
    #: JPEG jobs (the worker's JPEG against a lossless crop): honest q90 measured PSNR ≥ 32 dB, SSIM ≥ 0.80 on
    #: 13×10 crops; the JPEG error itself is as large as some tampers', so this band is the weakest (README).
    lossy: Band = Band(pass_min_psnr=29.0, pass_min_ssim=0.70, fail_below_psnr=22.0, fail_below_ssim=0.50)


@dataclass(frozen=True)
class VerifyConfig:
    """Everything a checker operator may tune."""

    crop_count: int = DEFAULT_CROP_COUNT
    crop_fraction: float = DEFAULT_CROP_FRACTION
    #: Pixels rendered around each crop outside the exact regime (the denoiser's context), cut off before comparing.
    margin: int = 16
    #: Crop render processes run at once (their start-up, scene load and BVH build overlap).
    parallel_renders: int = 3
    thresholds: Thresholds = field(default_factory=Thresholds)
    whole_frame: WholeFrameConfig = field(default_factory=WholeFrameConfig)
    #: Per-crop render limit (seconds).
    crop_timeout_s: float = 600.0
    threads: int | None = None


@dataclass
class Evidence:
    """What the checker saw and decided; :meth:`canonical_json` hashes to the on-chain evidence hash."""

    data: dict[str, Any]

    def canonical_json(self) -> bytes:
        """Sorted keys, no spaces, UTF-8, no NaN/inf (they are strings here)."""
        return json.dumps(
            self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()

    @property
    def evidence_hash(self) -> str:
        """Hex sha256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json()).hexdigest()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Evidence:
        """Parse evidence served by the API (the hash is recomputed, never trusted)."""
        return cls(json.loads(raw))


@dataclass
class Verdict:
    """pass / fail / unsure, why, and the evidence."""

    verdict: str
    reasons: list[str]
    evidence: Evidence

    @property
    def evidence_hash(self) -> str:
        """The hash an attestation signs."""
        return self.evidence.evidence_hash


def regime_for(params: RenderParams) -> str:
    """``lossy`` for JPEG; ``denoised`` when denoising or adaptive sampling may be on; else ``exact``.

    ``None`` (the .blend's own value) counts as on: the checker cannot assume it is off.
    """
    if params.output_format is OutputFormat.JPEG:
        return "lossy"
    if params.denoising is not False or params.adaptive_sampling is not False:
        return "denoised"
    return "exact"


def crop_render_params(params: RenderParams, box: CropBox, width: int, height: int) -> RenderParams:
    """The job's parameters with a border that renders exactly ``box`` (JPEG jobs render 16-bit PNG crops)."""
    update: dict[str, Any] = {"border": box.border(width, height), "crop_to_border": True}
    if params.output_format is OutputFormat.JPEG:
        update.update(output_format=OutputFormat.PNG, color_depth=16, color_mode=ColorMode.RGB)
    return params.model_copy(update=update)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("pictor", "bpy", "numpy", "scikit-image", "ImageHash", "imagecodecs", "OpenEXR", "tifffile"):
        try:
            out[dist.lower()] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist.lower()] = "absent"
    return out


def _num(value: float) -> float | str:
    return "inf" if isinstance(value, float) and math.isinf(value) else round(float(value), 6)


def verify_frame(
    frame_path: str | os.PathLike[str],
    manifest_entry: Mapping[str, Any],
    scene_path: str | os.PathLike[str],
    render_params: RenderParams,
    checker_key: bytes | str,
    other_frame_hashes: Sequence[FrameFingerprint | Mapping[str, str]] = (),
    *,
    config: VerifyConfig | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Verdict:
    """Verify the worker's frame at ``frame_path`` against its signed ``manifest_entry`` (``frame``, ``sha256``).

    ``render_params`` are the job's (no border); ``checker_key`` is this checker's public key (seeds the
    crops); ``other_frame_hashes`` are fingerprints of the job's other frames (copy detection).
    """
    from worker_node.render import RenderError, RenderSession  # noqa: PLC0415 - keeps the metrics importable alone

    config = config or VerifyConfig()
    started = time.monotonic()
    frame_number = int(manifest_entry["frame"])
    result_sha = str(manifest_entry["sha256"]).lower()
    if render_params.resolution_x is None or render_params.resolution_y is None:
        raise ValueError("render_params must carry the job's resolution")
    width, height = output_size(
        render_params.resolution_x, render_params.resolution_y, render_params.resolution_percentage or 100
    )
    expected = ExpectedFrame(
        file_format=render_params.output_format.value,
        bit_depth=render_params.effective_color_depth,
        width=width,
        height=height,
        sha256=result_sha,
        channels=(3,) if render_params.effective_color_mode is ColorMode.RGB else (4,),
    )
    others = [o if isinstance(o, FrameFingerprint) else FrameFingerprint.from_dict(dict(o)) for o in other_frame_hashes]
    checks, frame, print_ = whole_frame_checks(frame_path, expected, others, config.whole_frame)
    whole_s = time.monotonic() - started
    reasons: list[str] = []
    verdict = PASS
    for check in checks:
        if not check.ok:
            reasons.append(f"{check.name}: {check.detail}")
            if check.severity == FAIL:
                verdict = FAIL
            elif check.severity == UNSURE and verdict == PASS:
                verdict = UNSURE

    regime = regime_for(render_params)
    band = getattr(config.thresholds, regime)
    margin = config.margin if regime != "exact" else 0
    key_hex = checker_key.hex() if isinstance(checker_key, bytes) else checker_key.removeprefix("0x").lower()
    boxes = choose_crops(
        width,
        height,
        result_sha256=result_sha,
        checker_public_key=key_hex,
        frame=frame_number,
        count=config.crop_count,
        fraction=config.crop_fraction,
    )
    crops: list[dict[str, Any]] = []
    render_s = compare_s = 0.0
    # Crops are only worth rendering when the frame decodes at the right size; a frame that fails a hard
    # check is rejected without spending render time.
    shape_ok = frame is not None and (frame.width, frame.height) == (width, height)
    if shape_ok and verdict != FAIL:
        tmp = tempfile.TemporaryDirectory(prefix="pictor-crops-") if work_dir is None else None
        root = Path(work_dir) if work_dir is not None else Path(tmp.name)  # type: ignore[union-attr]
        try:
            render_boxes = [box.expanded(margin, width, height) for box in boxes]

            def render(index: int) -> tuple[Any, float]:
                t0 = time.monotonic()
                params = crop_render_params(render_params, render_boxes[index], width, height)
                try:
                    with RenderSession(
                        scene_path,
                        params,
                        output_dir=root / f"crop{index}",
                        frame_timeout_s=config.crop_timeout_s,
                        threads=config.threads,
                    ) as session:
                        return session.render_frame(frame_number), time.monotonic() - t0
                except RenderError as exc:
                    return exc, time.monotonic() - t0

            t_render = time.monotonic()
            with ThreadPoolExecutor(max_workers=max(1, config.parallel_renders)) as pool:
                outcomes = list(pool.map(render, range(len(boxes))))
            render_s = time.monotonic() - t_render
            for index, (box, render_box, (result, seconds)) in enumerate(
                zip(boxes, render_boxes, outcomes, strict=True)
            ):
                entry: dict[str, Any] = {
                    "box": list(box.as_tuple()),
                    "render_box": list(render_box.as_tuple()),
                    "wall_seconds": _num(seconds),
                }
                if isinstance(result, RenderError):
                    entry.update(verdict=UNSURE, reason=f"the crop re-render failed: {result}")
                    crops.append(entry)
                    verdict = FAIL if verdict == FAIL else UNSURE
                    reasons.append(f"crop {index}: re-render failed ({type(result).__name__})")
                    continue
                entry["render_seconds"] = _num(result.render_seconds)
                t1 = time.monotonic()
                reference = load_frame(result.path).pixels
                inner = CropBox(
                    box.left - render_box.left,
                    box.top - render_box.top,
                    box.right - render_box.left,
                    box.bottom - render_box.top,
                )
                metrics = compare_crops(cut(frame.pixels, box), cut(reference, inner), linear=frame.linear)
                crop_verdict, why = band.classify(metrics)
                compare_s += time.monotonic() - t1
                entry.update(metrics=metrics.to_dict(), verdict=crop_verdict, reason=why)
                crops.append(entry)
                if crop_verdict == FAIL:
                    verdict = FAIL
                    reasons.append(f"crop {index} {list(box.as_tuple())}: {why}")
                elif crop_verdict == UNSURE:
                    verdict = verdict if verdict == FAIL else UNSURE
                    reasons.append(f"crop {index} {list(box.as_tuple())}: {why}")
        finally:
            if tmp is not None:
                tmp.cleanup()
    elif verdict != FAIL:
        verdict = FAIL
        reasons.append("the frame cannot be compared (undecodable or wrong size)")

    evidence = Evidence(
        {
            "version": EVIDENCE_VERSION,
            "frame": frame_number,
            "result_sha256": result_sha,
            "checker_public_key": key_hex,
            "crop_seed": crop_seed(result_sha, key_hex, frame_number).hex(),
            "regime": regime,
            "margin": margin,
            "frame_size": [width, height],
            "render_params": render_params.model_dump(mode="json"),
            "whole_frame": [c.to_dict() for c in checks],
            "fingerprint": print_.to_dict() if print_ else None,
            "crops": crops,
            "thresholds": {
                "band": asdict(band),
                "whole_frame": asdict(config.whole_frame),
                "crop_count": config.crop_count,
                "crop_fraction": config.crop_fraction,
            },
            "timings_s": {
                "whole_frame": _num(whole_s),
                "crop_renders": _num(render_s),
                "compare": _num(compare_s),
                "total": _num(time.monotonic() - started),
            },
            "versions": _versions(),
            "verdict": verdict,
            "reasons": reasons,
        }
    )
    return Verdict(verdict, reasons, evidence)


__all__ = [
    "FAIL",
    "PASS",
    "UNSURE",
    "Band",
    "Check",
    "Evidence",
    "Thresholds",
    "Verdict",
    "VerifyConfig",
    "crop_render_params",
    "regime_for",
    "verify_frame",
]
