"""Crop windows: deterministic for the checker, unrelated across keys/results, inside the frame, pixel-exact."""

from __future__ import annotations

import hashlib
import random

import pytest

from blender.crops import (
    CropBox,
    HashRng,
    choose_crops,
    crop_seed,
    crop_size,
    detection_probability,
)

RESULT = hashlib.sha256(b"frame bytes").hexdigest()
KEY = bytes(range(32))


def test_same_inputs_same_crops():
    a = choose_crops(1920, 1080, result_sha256=RESULT, checker_public_key=KEY, frame=7)
    b = choose_crops(1920, 1080, result_sha256=RESULT, checker_public_key=KEY.hex(), frame=7)
    assert a == b and len(a) == 3


def test_any_input_changes_the_crops():
    base = choose_crops(1920, 1080, result_sha256=RESULT, checker_public_key=KEY, frame=7)
    other_key = choose_crops(1920, 1080, result_sha256=RESULT, checker_public_key=bytes(32), frame=7)
    other_result = choose_crops(
        1920, 1080, result_sha256=hashlib.sha256(b"x").hexdigest(), checker_public_key=KEY, frame=7
    )
    other_frame = choose_crops(1920, 1080, result_sha256=RESULT, checker_public_key=KEY, frame=8)
    assert base != other_key and base != other_result and base != other_frame


def test_without_the_key_the_positions_look_uniform():
    # A worker that knows its result but not the checker's key sees positions spread over the whole frame.
    lefts = [
        choose_crops(
            1000, 1000, result_sha256=RESULT, checker_public_key=hashlib.sha256(bytes([i, j])).digest(), frame=1
        )[0].left
        for i in range(20)
        for j in range(20)
    ]
    quarters = [sum(1 for x in lefts if q * 225 <= x < (q + 1) * 225) for q in range(4)]
    assert min(quarters) > 60  # 400 draws, ~100 expected per quarter


@pytest.mark.parametrize("size", [(1920, 1080), (128, 96), (64, 48), (9, 8), (4, 4), (4000, 17)])
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 1.0])
def test_boxes_inside_the_frame_and_exact_as_borders(size, fraction):
    width, height = size
    for seed in range(5):
        result = hashlib.sha256(bytes([seed])).hexdigest()
        boxes = choose_crops(width, height, result_sha256=result, checker_public_key=KEY, frame=seed, fraction=fraction)
        cw, ch = crop_size(width, height, fraction)
        for box in boxes:
            assert 0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height
            assert (box.width, box.height) == (cw, ch)
            assert box.border(width, height).pixel_box(width, height) == box.as_tuple()


def test_crop_size_rules():
    assert crop_size(1920, 1080) == (192, 108)  # 10% by default
    assert crop_size(1920, 1080, 0.01) == (20, 11)  # ceil, at least 1%
    assert crop_size(128, 96) == (13, 10)
    assert crop_size(64, 48) == (8, 8)  # the 8-pixel floor
    assert crop_size(5, 4) == (5, 4)  # never more than the frame
    with pytest.raises(ValueError):
        crop_size(100, 100, 0.005)


def test_crops_avoid_large_overlaps_when_they_can():
    for seed in range(50):
        result = hashlib.sha256(bytes([seed])).hexdigest()
        boxes = choose_crops(1920, 1080, result_sha256=result, checker_public_key=KEY, frame=1, count=5)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a.intersection(b) * 2 < a.area


def test_seed_validation():
    assert crop_seed(RESULT, KEY, 1) != crop_seed(RESULT, KEY, 2)
    with pytest.raises(ValueError):
        crop_seed("abcd", KEY, 1)
    with pytest.raises(ValueError):
        crop_seed(RESULT, b"", 1)
    with pytest.raises(ValueError):
        crop_seed(RESULT, KEY, -1)


def test_hash_rng_is_uniform_and_reproducible():
    a, b = HashRng(b"s"), HashRng(b"s")
    draws = [a.below(6) for _ in range(3000)]
    assert draws == [b.below(6) for _ in range(3000)]
    assert all(400 < draws.count(v) < 600 for v in range(6))


def test_box_helpers():
    box = CropBox(10, 20, 30, 50)
    assert (box.width, box.height, box.area) == (20, 30, 600)
    assert box.expanded(16, 40, 60) == CropBox(0, 4, 40, 60)
    assert box.intersection(CropBox(25, 45, 100, 100)) == 25
    assert box.intersection(CropBox(30, 50, 40, 60)) == 0


def test_detection_probability_matches_simulation():
    width, height, region, crops, count = 128, 96, (29, 21), (13, 10), 3
    analytic = detection_probability(width, height, region, crops, count)
    rng = random.Random(1)
    hits = 0
    trials = 20_000
    for _ in range(trials):
        rx, ry = rng.randrange(width - region[0] + 1), rng.randrange(height - region[1] + 1)
        patch = CropBox(rx, ry, rx + region[0], ry + region[1])
        for _c in range(count):
            cx, cy = rng.randrange(width - crops[0] + 1), rng.randrange(height - crops[1] + 1)
            if patch.intersection(CropBox(cx, cy, cx + crops[0], cy + crops[1])):
                hits += 1
                break
    assert abs(hits / trials - analytic) < 0.02
    assert detection_probability(100, 100, (10, 10), (100, 100), 1) == 1.0
