"""The low-resolution reference: a cheap re-render of the whole frame that points the crops at suspicious places.

Random crops see only a few percent of a frame, so a small local edit (a pasted patch of 5% of the
area) escapes three random crops of 10% of each side about 70% of the time. The checker therefore
also renders the *whole* frame once at a fraction of the resolution (25%: 1/16 of the pixels) with
few samples and denoising (about 1/64 of the worker's path tracing at 8 of 32 samples), shrinks the
worker's frame to the same size (area average), and scores blocks of the frame by how far the two
disagree. A worker's honest frame agrees everywhere up to the reference's noise and the difference
between an area average and Blender's pixel filter (largest on sharp silhouettes); a pasted,
re-coloured or wrong region disagrees over whole blocks. The worst blocks then get crops of their own
(``targeted_crops``), rendered exactly like the random ones, and a block far beyond anything an honest
frame shows fails the frame by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from blender.crops import CropBox, HashRng


def downsample(display: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average (box filter) display RGB to ``width``×``height``."""
    if display.shape[1] == width and display.shape[0] == height:
        return display.astype(np.float32)
    planes = [
        np.asarray(Image.fromarray(display[:, :, c].astype(np.float32), "F").resize((width, height), Image.BOX))
        for c in range(display.shape[2])
    ]
    return np.stack(planes, axis=2).astype(np.float32)


def _box_blur3(image: np.ndarray) -> np.ndarray:
    """3×3 mean (edges replicated): cuts the reference's per-pixel noise before differencing."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    total = sum(padded[y : y + h, x : x + w] for y in range(3) for x in range(3))
    return (total / 9.0).astype(np.float32)


@dataclass(frozen=True)
class BlockScore:
    """One block of the frame (in full-resolution pixels) and how much worker and reference disagree there."""

    box: CropBox
    score: float
    #: Where in the block (frame pixels) the difference peaks: a crop smaller than the block centres there.
    peak: tuple[int, int] = (0, 0)


def block_scores(
    worker_display: np.ndarray, reference_display: np.ndarray, block_px: int
) -> tuple[list[BlockScore], float]:
    """Score blocks of ``block_px`` full-resolution pixels; returns them worst first, and the frame's mean residual.

    The score of a block is the mean absolute difference (display values, mean of R, G, B) between the
    worker's frame shrunk to the reference's size and the reference, both blurred 3×3, over the block.
    """
    height, width = worker_display.shape[:2]
    rh, rw = reference_display.shape[:2]
    small = downsample(worker_display[:, :, :3], rw, rh)
    residual = np.abs(_box_blur3(small) - _box_blur3(reference_display[:, :, :3])).mean(axis=2)
    sx, sy = width / rw, height / rh
    bw = max(1, round(block_px / sx))
    bh = max(1, round(block_px / sy))
    scores: list[BlockScore] = []
    for y0 in range(0, rh, bh):
        for x0 in range(0, rw, bw):
            y1, x1 = min(rh, y0 + bh), min(rw, x0 + bw)
            cell = residual[y0:y1, x0:x1]
            py, px = np.unravel_index(int(np.argmax(cell)), cell.shape)
            box = CropBox(int(x0 * sx), int(y0 * sy), min(width, int(round(x1 * sx))), min(height, int(round(y1 * sy))))
            peak = (min(width - 1, int((x0 + px + 0.5) * sx)), min(height - 1, int((y0 + py + 0.5) * sy)))
            scores.append(BlockScore(box, float(cell.mean()), peak))
    scores.sort(key=lambda b: b.score, reverse=True)
    return scores, float(residual.mean())


def targeted_crops(
    scores: list[BlockScore],
    existing: list[CropBox],
    *,
    count: int,
    crop_w: int,
    crop_h: int,
    width: int,
    height: int,
    rng: HashRng,
) -> list[CropBox]:
    """Up to ``count`` crops on the worst blocks that no crop covers yet, each shifted by a seeded jitter.

    A crop at least as large as the block is centred on the block, jittered so the block stays inside it;
    a smaller one is centred on the block's peak difference, jittered by up to a quarter of its side, so
    the peak stays inside it. Either way the crop's exact place stays unpredictable to the worker.
    """
    chosen: list[CropBox] = []
    for block in scores:
        if len(chosen) >= count:
            break
        if crop_w >= block.box.width and crop_h >= block.box.height:
            cx, cy = (block.box.left + block.box.right) // 2, (block.box.top + block.box.bottom) // 2
            slack_x, slack_y = (crop_w - block.box.width) // 2, (crop_h - block.box.height) // 2
        else:
            cx, cy = block.peak
            slack_x, slack_y = crop_w // 4, crop_h // 4
        boxes = [*existing, *chosen]
        if any(b.left <= cx < b.right and b.top <= cy < b.bottom for b in boxes):
            continue  # already looked at
        jx = rng.below(2 * slack_x + 1) - slack_x
        jy = rng.below(2 * slack_y + 1) - slack_y
        left = min(max(0, cx - crop_w // 2 + jx), width - crop_w)
        top = min(max(0, cy - crop_h // 2 + jy), height - crop_h)
        box = CropBox(left, top, left + crop_w, top + crop_h)
        if any(box.intersection(b) * 2 >= box.area for b in boxes):
            continue
        chosen.append(box)
    return chosen


__all__ = ["BlockScore", "block_scores", "downsample", "targeted_crops"]
