"""verify_frame end to end with real crop re-renders (bpy), and the verdict/evidence rules without Blender."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from blender.compare import CropMetrics, fingerprint, load_frame
from blender.crops import CropBox, choose_crops, crop_size
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
from checker_node.verify.verifier import (
    FAIL,
    PASS,
    SKIPPED,
    UNSURE,
    Band,
    Evidence,
    ReferenceConfig,
    Thresholds,
    VerifyConfig,
    crop_render_params,
    regime_for,
    verify_frame,
)
from protocol.render_spec import OutputFormat, RenderParams
from tests.support.render import CHECKER_KEY, JOB


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry(path, frame: int) -> dict:
    return {"frame": frame, "sha256": sha(path)}


# -- real renders ----------------------------------------------------------------------------------


def test_honest_frame_passes(rendered, tmp_path):
    path = rendered.frames[2]
    others = [fingerprint(load_frame(rendered.frames[3]))]
    config = VerifyConfig()
    verdict = verify_frame(path, entry(path, 2), rendered.scene, JOB, CHECKER_KEY, others, work_dir=tmp_path)
    assert verdict.verdict == PASS, verdict.reasons
    data = verdict.evidence.data
    assert data["regime"] == "exact" and data["frame"] == 2 and data["result_sha256"] == sha(path)
    kinds = [c["kind"] for c in data["crops"]]
    assert kinds == ["random"] * config.crop_count + ["targeted"] * config.targeted_crops
    for crop in data["crops"]:
        assert crop["verdict"] == PASS
        left, top, right, bottom = crop["box"]
        assert (right - left, bottom - top) == crop_size(128, 96, config.crop_fraction)
        # Only dither separates an honest crop from the frame: no pixel is off by more than 2/255.
        assert crop["metrics"]["max_abs_diff"] <= 2 / 255 + 1e-6
        assert crop["render_seconds"] > 0
    # The low-resolution reference agrees with the honest frame everywhere.
    reference = data["reference"]
    assert reference["size"] == [32, 24] and reference["verdict"] == PASS
    assert reference["worst_score"] < config.reference.fail_score
    assert data["versions"]["bpy"] == "5.0.1" and data["thresholds"]["crop_count"] == config.crop_count
    # An auditor recomputes the random windows from public inputs.
    boxes = choose_crops(
        128, 96, result_sha256=sha(path), checker_public_key=CHECKER_KEY, frame=2, fraction=config.crop_fraction
    )
    assert [list(b.as_tuple()) for b in boxes] == [c["box"] for c in data["crops"] if c["kind"] == "random"]
    assert all(c["ok"] for c in data["whole_frame"])
    # The evidence hash is the sha256 of the canonical JSON, and survives a round trip through the API.
    assert verdict.evidence_hash == hashlib.sha256(verdict.evidence.canonical_json()).hexdigest()
    served = json.dumps(data, indent=2)  # any formatting, any key order
    assert Evidence.from_json(served).evidence_hash == verdict.evidence_hash


def test_honest_rerender_by_another_process_passes(rendered, tmp_path):
    from blender import RenderSession  # noqa: PLC0415

    with RenderSession(rendered.scene, JOB, output_dir=tmp_path / "w", threads=1, tile_size=16) as session:
        path = session.render_frame(3).path
    verdict = verify_frame(path, entry(path, 3), rendered.scene, JOB, CHECKER_KEY, work_dir=tmp_path / "c")
    assert verdict.verdict == PASS, verdict.reasons


def _tampered(kind: str, rendered, cheats, tmp_path):
    """Frame 2 as a cheating worker uploads it (saved again as PNG, so its bytes are the same in every run)."""
    pixels = load_frame(rendered.frames[2]).pixels
    if kind == "wrong_frame":
        tampered = load_frame(rendered.frames[3]).pixels
    elif kind == "lower_samples":
        tampered = load_frame(cheats.lower_samples).pixels
    elif kind == "noise":
        tampered = add_noise(pixels, 0.03, seed=5)
    elif kind == "blank":
        tampered = blank(pixels)
    elif kind == "pasted_region":
        tampered, _box = paste_region(pixels, load_frame(rendered.frames[4]).pixels, 0.05, seed=3)
    elif kind == "resized":
        tampered = upscale(load_frame(cheats.half_resolution).pixels, 128, 96)
    elif kind == "jpeg_q30":
        tampered = jpeg_recompress(pixels, 30)
    elif kind == "colour_shift":
        tampered = colour_shift(pixels)
    else:
        tampered = load_frame(cheats.another_scene).pixels
    return save_png(tampered, tmp_path / f"{kind}.png")


@pytest.mark.parametrize("kind", TAMPER_KINDS)
def test_every_tamper_class_fails(kind, rendered, cheat_renders, tmp_path):
    path = _tampered(kind, rendered, cheat_renders, tmp_path)
    verdict = verify_frame(path, entry(path, 2), rendered.scene, JOB, CHECKER_KEY, work_dir=tmp_path / "w")
    assert verdict.verdict == FAIL, verdict.reasons
    data = verdict.evidence.data
    if kind == "blank":
        assert data["crops"] == [] and any(r.startswith("not_blank") for r in verdict.reasons)
    else:
        assert any(c["verdict"] == FAIL for c in data["crops"]) or data["reference"]["verdict"] == FAIL


def test_the_reference_points_a_crop_at_a_pasted_patch(rendered, tmp_path):
    pixels = load_frame(rendered.frames[2]).pixels
    tampered, box = paste_region(pixels, load_frame(rendered.frames[4]).pixels, 0.05, seed=3)
    path = save_png(tampered, tmp_path / "pasted.png")
    # Judge by the crops alone (no reference verdict): a targeted crop must land on the patch and fail. Every crop
    # is rendered: the random crops' places follow the frame's hash, which differs from one CPU to another, and one
    # of them may hit the patch first.
    config = VerifyConfig(reference=ReferenceConfig(fail_score=None), stop_on_fail=False)
    verdict = verify_frame(path, entry(path, 2), rendered.scene, JOB, CHECKER_KEY, config=config, work_dir=tmp_path)
    assert verdict.verdict == FAIL, verdict.reasons
    worst = verdict.evidence.data["reference"]["worst_blocks"][0]
    assert CropBox(*worst[:4]).intersection(box) > 0
    targeted = [c for c in verdict.evidence.data["crops"] if c["kind"] == "targeted"]
    assert any(CropBox(*c["box"]).intersection(box) > 0 and c["verdict"] == FAIL for c in targeted)


def test_noisy_frame_fails(rendered, tmp_path):
    pixels = load_frame(rendered.frames[2]).pixels
    path = save_png(add_noise(pixels, 0.03, seed=5), tmp_path / "noisy.png")
    verdict = verify_frame(path, entry(path, 2), rendered.scene, JOB, CHECKER_KEY, work_dir=tmp_path / "w")
    assert verdict.verdict == FAIL
    # The first crop fails the frame; the others are not worth the CPU.
    first, *rest = verdict.evidence.data["crops"]
    assert first["verdict"] == FAIL and rest and all(c["verdict"] == SKIPPED for c in rest)
    assert [r for r in verdict.reasons if "crop" in r] == [verdict.reasons[-1]]
    # Without stop_on_fail every crop is rendered, and every one fails.
    config = VerifyConfig(stop_on_fail=False)
    full = verify_frame(path, entry(path, 2), rendered.scene, JOB, CHECKER_KEY, config=config, work_dir=tmp_path / "x")
    assert full.verdict == FAIL and all(c["verdict"] == FAIL for c in full.evidence.data["crops"])


def test_hard_whole_frame_failures_skip_the_renders(rendered, tmp_path):
    path = rendered.frames[2]
    verdict = verify_frame(path, {"frame": 2, "sha256": "ab" * 32}, rendered.scene, JOB, CHECKER_KEY, work_dir=tmp_path)
    assert verdict.verdict == FAIL and verdict.evidence.data["crops"] == []
    assert any(reason.startswith("sha256") for reason in verdict.reasons)
    other_size = JOB.model_copy(update={"resolution_x": 120})
    verdict = verify_frame(path, entry(path, 2), rendered.scene, other_size, CHECKER_KEY, work_dir=tmp_path)
    assert verdict.verdict == FAIL and any(r.startswith("dimensions") for r in verdict.reasons)


# -- rules without Blender -------------------------------------------------------------------------


def metrics(psnr: float, ssim: float, frac: float = 0.0) -> CropMetrics:
    return CropMetrics(ssim, psnr, 0.0, 0.0, frac, 0, 0)


def test_bands():
    exact = Thresholds().exact
    assert exact.classify(metrics(math.inf, 1.0))[0] == PASS
    assert exact.classify(metrics(51.5, 0.993))[0] == PASS  # dither only (measured)
    assert exact.classify(metrics(51.5, 0.993, frac=0.05))[0] == FAIL
    assert exact.classify(metrics(41.0, 0.99))[0] == UNSURE
    assert exact.classify(metrics(30.0, 0.99))[0] == FAIL
    band = Band(pass_min_psnr=40, pass_min_ssim=0.9, fail_below_psnr=30, fail_below_ssim=0.8)
    assert [band.classify(metrics(p, s))[0] for p, s in ((45, 0.95), (35, 0.95), (45, 0.85), (45, 0.7))] == [
        PASS,
        UNSURE,
        UNSURE,
        FAIL,
    ]


def test_regimes():
    assert regime_for(JOB) == "exact"
    assert regime_for(JOB.model_copy(update={"denoising": True})) == "denoised"
    assert regime_for(JOB.model_copy(update={"adaptive_sampling": None})) == "denoised"  # the .blend decides: unknown
    jpeg = RenderParams.model_validate({**JOB.model_dump(), "output_format": "JPEG", "color_mode": "RGB"})
    assert regime_for(jpeg) == "lossy"


def test_crop_params_keep_the_job_and_add_the_border():
    from blender.crops import CropBox  # noqa: PLC0415

    params = crop_render_params(JOB, CropBox(10, 20, 30, 40), 128, 96)
    assert params.border is not None and params.border.pixel_box(128, 96) == (10, 20, 30, 40)
    assert params.crop_to_border and params.samples == JOB.samples and params.seed == JOB.seed
    jpeg = RenderParams.model_validate({**JOB.model_dump(), "output_format": "JPEG", "color_mode": "RGB"})
    lossless = crop_render_params(jpeg, CropBox(0, 0, 8, 8), 128, 96)
    assert lossless.output_format is OutputFormat.PNG and lossless.color_depth == 16


def test_evidence_json_is_canonical():
    a = Evidence({"b": [1, 2.5, "inf"], "a": {"y": None, "x": "é"}})
    b = Evidence({"a": {"x": "é", "y": None}, "b": [1, 2.5, "inf"]})
    assert a.canonical_json() == b.canonical_json() == '{"a":{"x":"é","y":null},"b":[1,2.5,"inf"]}'.encode()
    assert a.evidence_hash == b.evidence_hash
    with pytest.raises(ValueError):
        Evidence({"x": float("nan")}).canonical_json()


def test_a_crop_render_failure_is_the_checkers_problem(rendered, tmp_path):
    # The checker cannot render (here: a camera the scene lacks): no verdict against the worker, a second checker decides.
    path = rendered.frames[2]
    broken = JOB.model_copy(update={"camera": "NoSuchCamera"})
    verdict = verify_frame(path, entry(path, 2), rendered.scene, broken, CHECKER_KEY, work_dir=tmp_path)
    assert verdict.verdict == UNSURE
    assert all(c["verdict"] == UNSURE and "re-render failed" in c["reason"] for c in verdict.evidence.data["crops"])
