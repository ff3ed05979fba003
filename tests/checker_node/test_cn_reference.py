"""The low-resolution reference: block scores point at a local edit, targeted crops land on it, settings from the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blender.crops import CropBox, HashRng
from checker_node.verify.reference import BlockScore, block_scores, downsample, targeted_crops
from checker_node.verify.verifier import DEFAULTS_PATH, ReferenceConfig, Thresholds, VerifyConfig


def scene_like(width: int = 256, height: int = 192) -> np.ndarray:
    """A smooth image with an edge, in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 0.4 + 0.3 * np.sin(x / 23)
    g = 0.3 + 0.2 * np.cos(y / 17)
    b = np.where(x + y > 200, 0.8, 0.2)
    return np.stack([r, g, b], axis=2).astype(np.float32)


def test_downsample_is_an_area_average():
    image = scene_like()
    small = downsample(image, 64, 48)
    assert small.shape == (48, 64, 3)
    assert small[10, 10] == pytest.approx(image[40:44, 40:44].mean(axis=(0, 1)), abs=1e-5)


def test_block_scores_point_at_a_pasted_patch():
    frame = scene_like()
    reference = downsample(frame, 64, 48) + np.random.default_rng(1).normal(0, 0.01, (48, 64, 3)).astype(np.float32)
    tampered = frame.copy()
    tampered[100:140, 30:90] = frame[10:50, 150:210]  # a patch from elsewhere
    honest_scores, _ = block_scores(frame, reference, 32)
    scores, _ = block_scores(tampered, reference, 32)
    patch = CropBox(30, 100, 90, 140)
    assert scores[0].box.intersection(patch) > 0
    assert scores[0].score > 3 * honest_scores[0].score
    # Blocks tile the frame.
    assert sum(s.box.area for s in scores) == 256 * 192


def test_targeted_crops_cover_the_worst_blocks_and_skip_covered_ones():
    worst = BlockScore(CropBox(64, 64, 96, 96), 0.5)
    second = BlockScore(CropBox(160, 32, 192, 64), 0.4)
    third = BlockScore(CropBox(0, 160, 32, 192), 0.3)
    rng = HashRng(b"seed")
    chosen = targeted_crops([worst, second, third], [], count=2, crop_w=48, crop_h=40, width=256, height=192, rng=rng)
    assert len(chosen) == 2
    for crop, block in zip(chosen, (worst, second), strict=True):
        assert crop.intersection(block.box) == block.box.area  # the whole block is inside the crop
        assert (crop.width, crop.height) == (48, 40)
    # A block already inside an existing (random) crop is skipped for the next one.
    covering = CropBox(60, 60, 110, 110)
    chosen = targeted_crops(
        [worst, second, third], [covering], count=1, crop_w=48, crop_h=40, width=256, height=192, rng=HashRng(b"s")
    )
    assert chosen[0].intersection(second.box) == second.box.area
    # The jitter depends on the seed: windows on the same block differ between seeds.
    places = {
        targeted_crops([worst], [], count=1, crop_w=48, crop_h=40, width=256, height=192, rng=HashRng(bytes([i])))[0]
        for i in range(20)
    }
    assert len(places) > 3


def test_settings_come_from_the_documented_file(tmp_path):
    documented = json.loads(DEFAULTS_PATH.read_text())
    config = VerifyConfig()
    assert config.crop_count == documented["crop_count"]
    assert config.targeted_crops == documented["targeted_crops"]
    assert config.crop_fraction == documented["crop_fraction"]
    assert config.reference.samples == documented["reference"]["samples"]
    assert config.reference.fail_score == documented["reference"]["fail_score"]
    assert config.thresholds.exact.pass_min_psnr == documented["bands"]["exact"]["pass_min_psnr"]
    assert config.thresholds.lossy.fail_below_ssim == documented["bands"]["lossy"]["fail_below_ssim"]
    assert config.whole_frame.min_std == documented["whole_frame"]["min_std"]
    assert VerifyConfig.load() == config
    # An operator's file overrides what it names and keeps the rest.
    custom = tmp_path / "verify.json"
    custom.write_text(
        json.dumps(
            {
                "crop_count": 5,
                "reference": {"fail_score": None},
                "bands": {"exact": {**documented["bands"]["exact"], "pass_min_psnr": 47.0}},
            }
        )
    )
    loaded = VerifyConfig.load(custom)
    assert loaded.crop_count == 5 and loaded.reference.fail_score is None
    assert loaded.reference.samples == documented["reference"]["samples"]
    assert loaded.thresholds.exact.pass_min_psnr == 47.0 and loaded.thresholds.denoised == Thresholds().denoised
    custom.write_text(json.dumps({"crop_cuont": 5}))
    with pytest.raises(ValueError, match="crop_cuont"):
        VerifyConfig.load(custom)
    with pytest.raises(ValueError):
        ReferenceConfig(samples=0)
    with pytest.raises(ValueError):
        VerifyConfig(crop_count=0)


def test_a_crop_smaller_than_its_block_covers_the_peak():
    block = BlockScore(CropBox(64, 64, 96, 96), 0.5, peak=(90, 70))
    for i in range(10):
        (crop,) = targeted_crops(
            [block], [], count=1, crop_w=12, crop_h=10, width=256, height=192, rng=HashRng(bytes([i]))
        )
        assert crop.left <= 90 < crop.right and crop.top <= 70 < crop.bottom
    # block_scores finds the peak where the difference is.
    frame = scene_like()
    reference = downsample(frame, 64, 48)
    tampered = frame.copy()
    tampered[148:156, 200:208] = 1.0 - tampered[148:156, 200:208]
    top = block_scores(tampered, reference, 64)[0][0]
    assert 196 <= top.peak[0] < 212 and 144 <= top.peak[1] < 160
