"""Frame decoding, per-crop metrics on synthetic arrays, and each whole-frame check failing on a crafted frame."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
import tifffile
from PIL import Image

from blender.compare import (
    ExpectedFrame,
    FrameDecodeError,
    FrameFingerprint,
    WholeFrameConfig,
    compare_crops,
    fingerprint,
    hash_distance,
    load_frame,
    psnr,
    srgb_encode,
    ssim,
    whole_frame_checks,
)
from blender.crops import CropBox
from checker_node.verify.tamper import add_noise, blank, colour_shift, jpeg_recompress, paste_region, save_png, upscale


def gradient(width: int = 64, height: int = 48, channels: int = 4, shift: float = 0.0) -> np.ndarray:
    """A smooth, structured test image in [0, 1] (alpha 1)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 0.5 + 0.4 * np.sin(x / 5 + shift)
    g = 0.5 + 0.4 * np.cos(y / 4)
    b = (x + y) / (width + height)
    planes = [r, g, b, np.ones_like(r)][:channels]
    return np.stack(planes, axis=2).astype(np.float32)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- metrics ---------------------------------------------------------------------------------------


def test_identical_crops():
    a = gradient()
    m = compare_crops(a, a.copy())
    assert m.ssim == pytest.approx(1.0) and math.isinf(m.psnr_db)
    assert m.max_abs_diff == 0 and m.frac_over_3 == 0 and m.phash_distance == 0 and m.dhash_distance == 0
    assert m.to_dict()["psnr_db"] == "inf"


def test_noise_lowers_every_metric():
    a = gradient()
    light, heavy = add_noise(a, 0.01, seed=1), add_noise(a, 0.08, seed=1)
    m_light, m_heavy = compare_crops(light, a), compare_crops(heavy, a)
    assert 1.0 > m_light.ssim > m_heavy.ssim
    assert 60 > m_light.psnr_db > m_heavy.psnr_db > 15
    assert m_heavy.max_abs_diff > m_light.max_abs_diff > 0
    assert m_heavy.frac_over_3 > 0.5


def test_psnr_and_ssim_values():
    a = np.zeros((16, 16, 3), np.float32)
    b = a + 0.1
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-4)
    assert ssim(a, a) == pytest.approx(1.0)
    tiny = np.zeros((2, 2, 3), np.float32)
    assert ssim(tiny, tiny) == 1.0 and ssim(tiny, tiny + 0.5) == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        compare_crops(gradient(10, 10), gradient(11, 10))


def test_linear_values_are_compared_through_srgb():
    lin = np.clip(gradient(), 0, 1) ** 2.2
    m = compare_crops(lin, lin * 1.01, linear=True)
    assert m.max_abs_diff_linear is not None and 0 < m.max_abs_diff_linear <= 0.011
    assert srgb_encode(np.array([0.0, 1.0], np.float32)).tolist() == pytest.approx([0.0, 1.0])


def test_hash_distance():
    assert hash_distance("ff00", "ff00") == 0 and hash_distance("ff00", "00ff") == 16


# -- decoding --------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [8, 16])
def test_png_round_trip(tmp_path, depth):
    pixels = gradient()
    frame = load_frame(save_png(pixels, tmp_path / "f.png", depth))
    assert (frame.file_format, frame.bit_depth, frame.channels, frame.width, frame.height) == ("PNG", depth, 4, 64, 48)
    assert np.abs(frame.pixels - pixels).max() <= 0.5 / (255 if depth == 8 else 65535) + 1e-6


@pytest.mark.parametrize("dtype,depth", [(np.uint8, 8), (np.uint16, 16)])
def test_tiff(tmp_path, dtype, depth):
    data = (gradient(channels=3) * np.iinfo(dtype).max).astype(dtype)
    tifffile.imwrite(tmp_path / "f.tif", data, compression="zlib")
    frame = load_frame(tmp_path / "f.tif")
    assert (frame.file_format, frame.bit_depth, frame.channels) == ("TIFF", depth, 3)


def test_jpeg(tmp_path):
    Image.fromarray((gradient(channels=3) * 255).astype(np.uint8)).save(tmp_path / "f.jpg", quality=95)
    frame = load_frame(tmp_path / "f.jpg")
    assert (frame.file_format, frame.bit_depth, frame.channels) == ("JPEG", 8, 3)
    assert np.abs(frame.pixels - gradient(channels=3)).mean() < 0.02


@pytest.mark.parametrize("dtype,depth", [(np.float16, 16), (np.float32, 32)])
def test_exr(tmp_path, dtype, depth):
    pixels = (gradient() * 3.0).astype(dtype)  # scene-linear, above 1 in places
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"RGBA": pixels}) as f:
        f.write(str(tmp_path / "f.exr"))
    frame = load_frame(tmp_path / "f.exr")
    assert (frame.file_format, frame.bit_depth, frame.channels, frame.linear) == ("OPEN_EXR", depth, 4, True)
    assert frame.pixels.max() > 1.0
    display = frame.display()
    assert display.shape == (48, 64, 3) and display.min() >= 0.0 and display.max() <= 1.0


def test_garbage_does_not_decode(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    (tmp_path / "y.bin").write_bytes(b"hello")
    for name in ("x.png", "y.bin"):
        with pytest.raises(FrameDecodeError):
            load_frame(tmp_path / name)


# -- whole-frame checks ----------------------------------------------------------------------------


def expected_for(path: Path, **changes: object) -> ExpectedFrame:
    base = {"file_format": "PNG", "bit_depth": 8, "width": 64, "height": 48, "sha256": sha(path), "channels": (4,)}
    return ExpectedFrame(**{**base, **changes})


def failed(checks: list) -> set[str]:
    return {c.name for c in checks if not c.ok}


def test_good_frame_passes_every_check(tmp_path):
    path = save_png(gradient(), tmp_path / "good.png")
    checks, frame, print_ = whole_frame_checks(path, expected_for(path), [])
    assert failed(checks) == set() and frame is not None and print_ is not None
    assert {c.name for c in checks} == {
        "sha256",
        "decodes",
        "format",
        "bit_depth",
        "dimensions",
        "channels",
        "not_blank",
        "not_a_copy",
    }


def test_each_check_fails_on_a_crafted_frame(tmp_path):
    good = save_png(gradient(), tmp_path / "good.png")
    assert failed(whole_frame_checks(good, expected_for(good, sha256="0" * 64))[0]) == {"sha256"}

    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert failed(whole_frame_checks(garbage, expected_for(garbage))[0]) == {"decodes"}

    jpeg = tmp_path / "f.jpg"
    Image.fromarray((gradient(channels=3) * 255).astype(np.uint8)).save(jpeg)
    assert failed(whole_frame_checks(jpeg, expected_for(jpeg))[0]) == {"format", "channels"}

    deep = save_png(gradient(), tmp_path / "deep.png", 16)
    assert failed(whole_frame_checks(deep, expected_for(deep))[0]) == {"bit_depth"}

    small = save_png(gradient(32, 24), tmp_path / "small.png")
    assert failed(whole_frame_checks(small, expected_for(small))[0]) == {"dimensions"}

    rgb = save_png(gradient(channels=3), tmp_path / "rgb.png")
    assert failed(whole_frame_checks(rgb, expected_for(rgb))[0]) == {"channels"}

    flat = save_png(blank(gradient()), tmp_path / "blank.png")
    assert failed(whole_frame_checks(flat, expected_for(flat))[0]) == {"not_blank"}


def test_copy_of_another_frame(tmp_path):
    frame_a = save_png(gradient(), tmp_path / "a.png")
    frame_b = save_png(gradient(shift=2.0), tmp_path / "b.png")
    prints = [fingerprint(load_frame(frame_b)), fingerprint(load_frame(frame_a))]
    copy = tmp_path / "copy.png"
    copy.write_bytes(frame_a.read_bytes())
    # Default: a copy is suspicious (unsure), not proof: static scenes repeat frames legitimately.
    checks = whole_frame_checks(copy, expected_for(copy), prints)[0]
    (dup,) = [c for c in checks if c.name == "not_a_copy"]
    assert not dup.ok and dup.severity == "unsure" and "#1" in dup.detail
    strict = whole_frame_checks(copy, expected_for(copy), prints, WholeFrameConfig(duplicate_policy="fail"))[0]
    assert [c.severity for c in strict if not c.ok] == ["fail"]
    static = whole_frame_checks(copy, expected_for(copy), prints, WholeFrameConfig(duplicate_policy="ignore"))[0]
    assert failed(static) == set()
    # A different frame is not a copy.
    assert failed(whole_frame_checks(frame_b, expected_for(frame_b), prints[1:])[0]) == set()
    # Fingerprints travel as dicts.
    assert FrameFingerprint.from_dict(prints[0].to_dict()) == prints[0]
    with pytest.raises(ValueError):
        WholeFrameConfig(duplicate_policy="maybe")


# -- tampers ---------------------------------------------------------------------------------------


def test_tampers_change_what_they_should():
    a = gradient()
    pasted, box = paste_region(a, gradient(shift=3.0), 0.05, seed=1)
    changed = np.argwhere(np.any(pasted != a, axis=2))
    assert len(changed) > 0
    assert changed[:, 0].min() >= box.top and changed[:, 0].max() < box.bottom
    assert changed[:, 1].min() >= box.left and changed[:, 1].max() < box.right
    assert abs(box.area / (64 * 48) - 0.05) < 0.01 and isinstance(box, CropBox)
    assert np.ptp(blank(a)[:, :, 0]) == 0
    assert compare_crops(colour_shift(a), a).psnr_db < 35
    assert 20 < compare_crops(jpeg_recompress(a, 30), a).psnr_db < 45
    assert upscale(a[::2, ::2], 64, 48).shape == (48, 64, 4)
