"""Verify one rendered frame: whole-frame checks, then re-renders with the job's exact settings, a verdict.

``verify_frame(...) -> Verdict`` is the public entry point; the verdict carries its :class:`Evidence`
(every metric of every crop, the reference's block scores, the crop boxes, timings, the thresholds used,
software versions), serialised as canonical JSON whose sha256 is the ``evidence_hash`` an attestation
puts on chain.

All re-renders of one frame run in **one** Blender process (``RenderSession`` with per-request
``RenderRegion`` objects): first a low-resolution reference of the whole frame (:mod:`.reference`), whose
worst-agreeing blocks get *targeted* crops next to the seeded *random* ones, then every crop. Settings and
thresholds come from ``thresholds.json`` beside this module (:class:`VerifyConfig`; measured with
``pictor bench verify``, see checker_node/README.md).

Three comparison regimes:

* ``exact`` — denoising and adaptive sampling off and a lossless format: Cycles with a fixed seed
  renders a border crop with the very pixels of the full frame (dither moves 8/16-bit values by at
  most 2/255), so anything beyond a few 1/255 steps on more than a handful of pixels is a different
  image;
* ``denoised`` — denoising or adaptive sampling on (or left to the .blend): the crop re-render
  legitimately differs (the denoiser sees other neighbours), so SSIM/PSNR bands decide; the crop is
  rendered with a margin around it that is cut off before comparing;
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
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from blender import RenderError
from blender.compare import (
    Check,
    CropMetrics,
    ExpectedFrame,
    FrameFingerprint,
    LoadedFrame,
    WholeFrameConfig,
    compare_crops,
    cut,
    load_frame,
    whole_frame_checks,
)
from blender.crops import (
    CropBox,
    HashRng,
    choose_crops,
    crop_seed,
    crop_size,
)
from blender.session import RenderRegion, RenderSession
from checker_node.verify.reference import block_scores, targeted_crops
from protocol.canonical import canonical_json
from protocol.evidence import FAIL, FRAME_EVIDENCE_VERSION, PASS, UNSURE
from protocol.render_spec import ColorMode, OutputFormat, RenderEngine, RenderParams, output_size

#: A crop not rendered because an earlier one already failed the frame (``stop_on_fail``).
SKIPPED = "skipped"


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


def _load_defaults(path: Path) -> dict[str, Any]:
    """The settings file's content (see :data:`DEFAULTS_PATH`)."""
    return json.loads(path.read_text())


#: The documented settings and thresholds (checker_node/README.md explains every number).
DEFAULTS_PATH = Path(__file__).with_name("thresholds.json")
_DEFAULTS = _load_defaults(DEFAULTS_PATH)


@dataclass(frozen=True)
class Thresholds:
    """The per-regime bands (from :data:`DEFAULTS_PATH`; measured with ``pictor bench verify``)."""

    #: Honest crops differ by dither only (≤ 2/255, PSNR ≈ 51 dB, no pixel off by more than 3/255); SSIM is kept
    #: loose (0.97) because ±2/255 of dither already costs SSIM 0.007 in dark flat areas.
    exact: Band = Band(**_DEFAULTS["bands"]["exact"])
    #: Denoising with a 16-pixel margin: honest worst crop 46–52 dB, SSIM ≥ 0.991, up to 6% of pixels off by >3/255.
    denoised: Band = Band(**_DEFAULTS["bands"]["denoised"])
    #: JPEG jobs (the worker's JPEG against a lossless crop): the JPEG error itself is as large as some tampers'.
    lossy: Band = Band(**_DEFAULTS["bands"]["lossy"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        """Bands from ``{"exact": {...}, "denoised": {...}, "lossy": {...}}`` (missing regimes keep the defaults)."""
        unknown = set(data) - {"exact", "denoised", "lossy"}
        if unknown:
            raise ValueError(f"unknown regimes in bands: {sorted(unknown)}")
        return cls(**{name: Band(**dict(band)) for name, band in data.items()})


@dataclass(frozen=True)
class ReferenceConfig:
    """The low-resolution whole-frame reference (checker_node/verify/reference.py)."""

    #: Its resolution, as a percentage of the job's output size (0 turns the reference off).
    percentage: int = _DEFAULTS["reference"]["percentage"]
    samples: int = _DEFAULTS["reference"]["samples"]
    denoise: bool = _DEFAULTS["reference"]["denoise"]
    #: Side of a scored block, in the frame's pixels.
    block_px: int = _DEFAULTS["reference"]["block_px"]
    #: A block scoring above this (mean absolute display difference) fails the frame by itself (None: never).
    fail_score: float | None = _DEFAULTS["reference"]["fail_score"]
    #: Regimes where ``fail_score`` judges (measured there); elsewhere the reference only aims crops.
    judge_regimes: tuple[str, ...] = tuple(_DEFAULTS["reference"]["judge_regimes"])

    def __post_init__(self) -> None:
        """Reject settings that cannot work."""
        if not 0 <= self.percentage <= 100 or self.samples < 1 or self.block_px < 4:
            raise ValueError("reference: percentage 0..100, samples ≥ 1, block_px ≥ 4")


@dataclass(frozen=True)
class VerifyConfig:
    """Everything a checker operator may tune; defaults from :data:`DEFAULTS_PATH`."""

    #: Crops at seeded random places (the worker cannot predict them); at least one.
    crop_count: int = _DEFAULTS["crop_count"]
    #: Further crops on the blocks where the low-resolution reference disagrees most with the frame.
    targeted_crops: int = _DEFAULTS["targeted_crops"]
    crop_fraction: float = _DEFAULTS["crop_fraction"]
    #: Pixels rendered around each crop outside the exact regime (the denoiser's context), cut off before comparing.
    margin: int = _DEFAULTS["margin"]
    #: Unused since every crop renders in one Blender process; kept so older configurations still load.
    parallel_renders: int = 1
    thresholds: Thresholds = field(default_factory=Thresholds)
    whole_frame: WholeFrameConfig = field(default_factory=lambda: WholeFrameConfig(**_DEFAULTS["whole_frame"]))
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    #: Stop rendering crops once one fails: the frame is failed already, the rest would be wasted CPU.
    stop_on_fail: bool = _DEFAULTS["stop_on_fail"]
    #: Per-render limit (seconds) in the checker's Blender process.
    crop_timeout_s: float = _DEFAULTS["crop_timeout_s"]
    threads: int | None = None

    def __post_init__(self) -> None:
        """Reject settings that cannot work."""
        if self.crop_count < 1 or self.targeted_crops < 0 or self.margin < 0:
            raise ValueError("crop_count ≥ 1, targeted_crops ≥ 0, margin ≥ 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyConfig:
        """A configuration from the settings file's shape; keys left out keep their defaults."""
        data = {k: v for k, v in data.items() if not k.startswith("_")}
        known = {"crop_count", "targeted_crops", "crop_fraction", "margin", "crop_timeout_s", "threads", "stop_on_fail"}
        unknown = set(data) - known - {"bands", "whole_frame", "reference", "parallel_renders"}
        if unknown:
            raise ValueError(f"unknown verification settings: {sorted(unknown)}")
        kwargs: dict[str, Any] = {k: data[k] for k in known if k in data}
        if "bands" in data:
            kwargs["thresholds"] = Thresholds.from_dict(data["bands"])
        if "whole_frame" in data:
            kwargs["whole_frame"] = WholeFrameConfig(**{**_DEFAULTS["whole_frame"], **data["whole_frame"]})
        if "reference" in data:
            ref = {**_DEFAULTS["reference"], **data["reference"]}
            ref["judge_regimes"] = tuple(ref["judge_regimes"])
            kwargs["reference"] = ReferenceConfig(**ref)
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> VerifyConfig:
        """Read a settings file (default: the documented :data:`DEFAULTS_PATH`)."""
        return cls.from_dict(_load_defaults(Path(path) if path else DEFAULTS_PATH))


@dataclass
class Evidence:
    """What the checker saw and decided; :meth:`canonical_json` hashes to the on-chain evidence hash."""

    data: dict[str, Any]

    def canonical_json(self) -> bytes:
        """Sorted keys, no spaces, UTF-8, no NaN/inf (they are strings here)."""
        return canonical_json(self.data)

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


def session_render_params(params: RenderParams) -> RenderParams:
    """The job's parameters as the checker's Blender process uses them: no border, JPEG jobs as 16-bit PNG.

    A JPEG crop would put its 8×8 blocks elsewhere than the worker's whole-frame JPEG, so the checker
    renders lossless and compares against the worker's JPEG (the ``lossy`` band).
    """
    update: dict[str, Any] = {"border": None, "crop_to_border": True}
    if params.output_format is OutputFormat.JPEG:
        update.update(output_format=OutputFormat.PNG, color_depth=16, color_mode=ColorMode.RGB)
    return params.model_copy(update=update)


def crop_render_params(params: RenderParams, box: CropBox, width: int, height: int) -> RenderParams:
    """The job's parameters with a border that renders exactly ``box`` (what one crop request amounts to)."""
    return session_render_params(params).model_copy(
        update={"border": box.border(width, height), "crop_to_border": True}
    )


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
    crops); ``other_frame_hashes`` are fingerprints of the job's other frames (copy detection). All
    re-renders (the low-resolution reference, then every crop) run in one Blender process.
    """
    config = config or VerifyConfig()
    started = time.monotonic()
    frame_number = int(manifest_entry["frame"])
    result_sha = str(manifest_entry["sha256"]).lower()
    if render_params.resolution_x is None or render_params.resolution_y is None:
        raise ValueError("render_params must carry the job's resolution")
    percentage = render_params.resolution_percentage or 100
    width, height = output_size(render_params.resolution_x, render_params.resolution_y, percentage)
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
    seed = crop_seed(result_sha, key_hex, frame_number)
    boxes = choose_crops(
        width,
        height,
        result_sha256=result_sha,
        checker_public_key=key_hex,
        frame=frame_number,
        count=config.crop_count,
        fraction=config.crop_fraction,
    )
    kinds = ["random"] * len(boxes)
    crops: list[dict[str, Any]] = []
    reference: dict[str, Any] = {}
    render_s = compare_s = 0.0
    # Crops are only worth rendering when the frame decodes at the right size; a frame that fails a hard
    # check is rejected without spending render time.
    shape_ok = frame is not None and (frame.width, frame.height) == (width, height)
    if shape_ok and verdict != FAIL:
        assert frame is not None
        tmp = tempfile.TemporaryDirectory(prefix="pictor-crops-") if work_dir is None else None
        root = Path(work_dir) if work_dir is not None else Path(tmp.name)  # type: ignore[union-attr]
        try:
            t_render = time.monotonic()
            outcome = _render_and_compare(
                frame,
                boxes,
                kinds,
                scene_path=scene_path,
                params=render_params,
                frame_number=frame_number,
                regime=regime,
                band=band,
                margin=margin,
                config=config,
                seed=seed,
                root=root,
                size=(width, height),
            )
            crops, reference, compare_s = outcome
            render_s = time.monotonic() - t_render - compare_s
        finally:
            if tmp is not None:
                tmp.cleanup()
        for index, crop in enumerate(crops):
            if crop["verdict"] == FAIL:
                verdict = FAIL
            elif crop["verdict"] == UNSURE and verdict != FAIL:
                verdict = UNSURE
            if crop["verdict"] not in (PASS, SKIPPED):
                reasons.append(f"crop {index} ({crop['kind']}) {crop['box']}: {crop['reason']}")
        if reference.get("verdict") == FAIL:
            verdict = FAIL
            reasons.append(f"reference: {reference['reason']}")
    elif verdict != FAIL:
        verdict = FAIL
        reasons.append("the frame cannot be compared (undecodable or wrong size)")

    evidence = Evidence(
        {
            "version": FRAME_EVIDENCE_VERSION,
            "frame": frame_number,
            "result_sha256": result_sha,
            "checker_public_key": key_hex,
            "crop_seed": seed.hex(),
            "regime": regime,
            "margin": margin,
            "frame_size": [width, height],
            "render_params": render_params.model_dump(mode="json"),
            "whole_frame": [c.to_dict() for c in checks],
            "fingerprint": print_.to_dict() if print_ else None,
            "reference": reference,
            "crops": crops,
            "thresholds": {
                "band": asdict(band),
                "whole_frame": asdict(config.whole_frame),
                "reference": {**asdict(config.reference), "judge_regimes": list(config.reference.judge_regimes)},
                "crop_count": config.crop_count,
                "targeted_crops": config.targeted_crops,
                "crop_fraction": config.crop_fraction,
                "stop_on_fail": config.stop_on_fail,
            },
            "timings_s": {
                "whole_frame": _num(whole_s),
                "renders": _num(render_s),
                "compare": _num(compare_s),
                "total": _num(time.monotonic() - started),
            },
            "versions": _versions(),
            "verdict": verdict,
            "reasons": reasons,
        }
    )
    return Verdict(verdict, reasons, evidence)


def _render_and_compare(
    frame: LoadedFrame,
    boxes: list[CropBox],
    kinds: list[str],
    *,
    scene_path: str | os.PathLike[str],
    params: RenderParams,
    frame_number: int,
    regime: str,
    band: Band,
    margin: int,
    config: VerifyConfig,
    seed: bytes,
    root: Path,
    size: tuple[int, int],
) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """One Blender process: the low-resolution reference, the targeted crops it points at, then every crop.

    Returns the per-crop evidence, the reference's evidence and the seconds spent comparing.
    """
    width, height = size
    compare_s = 0.0
    reference: dict[str, Any] = {}
    crops: list[dict[str, Any]] = []
    ref_cfg = config.reference
    cycles = params.engine is RenderEngine.CYCLES
    try:
        session = RenderSession(
            scene_path,
            session_render_params(params),
            output_dir=root,
            frame_timeout_s=config.crop_timeout_s,
            threads=config.threads,
            persistent_data=True,
        )
        session.start()
    except RenderError as exc:
        for box, kind in zip(boxes, kinds, strict=True):
            crops.append(
                {
                    "box": list(box.as_tuple()),
                    "kind": kind,
                    "verdict": UNSURE,
                    "reason": f"the crop re-render failed: {exc}",
                }
            )
        return crops, {"error": f"the checker's render process did not start: {exc}"}, compare_s
    try:
        job_percentage = params.resolution_percentage or 100
        ref_percentage = max(1, round(job_percentage * ref_cfg.percentage / 100)) if ref_cfg.percentage else 0
        if ref_percentage and (config.targeted_crops or ref_cfg.fail_score is not None):
            region = RenderRegion(
                border=None,
                resolution_percentage=ref_percentage,
                samples=ref_cfg.samples if cycles else None,
                denoising=ref_cfg.denoise if cycles else None,
            )
            try:
                result = session.render_frame(frame_number, output_path=root / "reference.png", region=region)
            except RenderError as exc:
                reference = {"error": f"the reference render failed: {exc}"}
            else:
                t0 = time.monotonic()
                ref_pixels = load_frame(result.path)
                scores, mean = block_scores(frame.display(), ref_pixels.display(), ref_cfg.block_px)
                cw, ch = crop_size(width, height, config.crop_fraction)
                rng = HashRng(seed + b"targeted")
                targeted = targeted_crops(
                    scores,
                    boxes,
                    count=config.targeted_crops,
                    crop_w=cw,
                    crop_h=ch,
                    width=width,
                    height=height,
                    rng=rng,
                )
                boxes = [*boxes, *targeted]
                kinds = [*kinds, *(["targeted"] * len(targeted))]
                worst = scores[0]
                reference = {
                    "size": [result.width, result.height],
                    "percentage": ref_percentage,
                    "samples": region.samples,
                    "denoise": region.denoising,
                    "render_seconds": _num(result.render_seconds),
                    "mean_score": _num(mean),
                    "worst_score": _num(worst.score),
                    "worst_blocks": [[*b.box.as_tuple(), _num(b.score)] for b in scores[:5]],
                    "verdict": PASS,
                    "reason": "",
                }
                if (
                    ref_cfg.fail_score is not None
                    and regime in ref_cfg.judge_regimes
                    and worst.score > ref_cfg.fail_score
                ):
                    reference["verdict"] = FAIL
                    reference["reason"] = (
                        f"block {list(worst.box.as_tuple())} differs from the low-resolution re-render by "
                        f"{worst.score:.4f} on average (fail above {ref_cfg.fail_score})"
                    )
                compare_s += time.monotonic() - t0
        for index, (box, kind) in enumerate(zip(boxes, kinds, strict=True)):
            render_box = box.expanded(margin, width, height)
            entry: dict[str, Any] = {
                "box": list(box.as_tuple()),
                "render_box": list(render_box.as_tuple()),
                "kind": kind,
            }
            try:
                result = session.render_frame(
                    frame_number,
                    output_path=root / f"crop{index}.png",
                    region=RenderRegion(border=render_box.border(width, height), crop_to_border=True),
                )
            except RenderError as exc:
                entry.update(verdict=UNSURE, reason=f"the crop re-render failed: {exc}")
                crops.append(entry)
                if not session.alive:
                    break
                continue
            entry["render_seconds"] = _num(result.render_seconds)
            t1 = time.monotonic()
            rendered = load_frame(result.path).pixels
            inner = CropBox(
                box.left - render_box.left,
                box.top - render_box.top,
                box.right - render_box.left,
                box.bottom - render_box.top,
            )
            metrics = compare_crops(cut(frame.pixels, box), cut(rendered, inner), linear=frame.linear)
            crop_verdict, why = band.classify(metrics)
            compare_s += time.monotonic() - t1
            entry.update(metrics=metrics.to_dict(), verdict=crop_verdict, reason=why)
            crops.append(entry)
            if crop_verdict == FAIL and config.stop_on_fail:
                break
        failed = any(c["verdict"] == FAIL for c in crops)
        for box, kind in list(zip(boxes, kinds, strict=True))[len(crops) :]:
            crops.append(
                {"box": list(box.as_tuple()), "kind": kind, "verdict": SKIPPED, "reason": "not rendered: a crop failed"}
                if failed
                else {"box": list(box.as_tuple()), "kind": kind, "verdict": UNSURE, "reason": "the render process died"}
            )
    finally:
        session.close()
    return crops, reference, compare_s


__all__ = [
    "FAIL",
    "PASS",
    "SKIPPED",
    "UNSURE",
    "Band",
    "Check",
    "Evidence",
    "ReferenceConfig",
    "Thresholds",
    "Verdict",
    "VerifyConfig",
    "crop_render_params",
    "regime_for",
    "session_render_params",
    "verify_frame",
]
