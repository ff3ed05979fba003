"""Choosing the crop windows a checker re-renders: deterministic for the checker, unpredictable for the worker.

The windows are drawn from ``sha256("pictor-crops-v1" ‖ result sha256 ‖ checker public key ‖ frame)``
expanded in counter mode (:class:`HashRng`), so

* the same checker reproduces the same windows for the same result (an auditor holding the evidence
  can too: the inputs are all public once the attestation is on chain), and
* a worker cannot know them before it has committed to its result: they depend on the result's own
  hash and on which checker is assigned, and a different result gives unrelated windows.

Size: Golem uses 3 crops of at least 1% of each side (and at least 8 pixels). 1% of a 1920×1080 frame is
19×10 pixels: too few pixels for SSIM's 7×7 windows to say much and, on a small frame, below the one
pixel that Blender needs ("Image too small"). This function's default is 10% of each side (at least
:data:`MIN_CROP_PIXELS`); the verifier uses ``crop_fraction`` from ``thresholds.json`` (6%: five crops —
three random, two aimed by the low-resolution reference — are 1.8% of the frame's pixels, which keeps
the checker under a tenth of the worker's CPU at 960×540). A smaller fraction is allowed down to 1%
(Golem's floor).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from protocol.render_spec import BorderWindow

#: Crops per frame (Golem's number).
DEFAULT_CROP_COUNT = 3
#: Default side of a crop, as a fraction of the frame's side.
DEFAULT_CROP_FRACTION = 0.10
#: The smallest fraction accepted (Golem's floor).
MIN_CROP_FRACTION = 0.01
#: No crop side below this many pixels (Golem: 8; SSIM needs 7×7 windows).
MIN_CROP_PIXELS = 8
#: Domain separation of the seed; bump if the drawing procedure ever changes.
CROP_SEED_DOMAIN = b"pictor-crops-v1"
#: Attempts to place a crop that overlaps earlier ones by less than half before accepting an overlap.
_PLACEMENT_TRIES = 16


@dataclass(frozen=True, order=True)
class CropBox:
    """A pixel box (left, top, right, bottom) in image coordinates: top row 0, right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        """Columns in the box."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Rows in the box."""
        return self.bottom - self.top

    @property
    def area(self) -> int:
        """Pixels in the box."""
        return self.width * self.height

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom)."""
        return (self.left, self.top, self.right, self.bottom)

    def border(self, width: int, height: int) -> BorderWindow:
        """The Blender border that renders exactly this box of a width×height frame."""
        return BorderWindow.from_pixel_box(width, height, *self.as_tuple())

    def expanded(self, margin: int, width: int, height: int) -> CropBox:
        """This box grown by ``margin`` pixels on each side, clipped to the frame."""
        return CropBox(
            max(0, self.left - margin),
            max(0, self.top - margin),
            min(width, self.right + margin),
            min(height, self.bottom + margin),
        )

    def intersection(self, other: CropBox) -> int:
        """Pixels this box shares with ``other``."""
        w = min(self.right, other.right) - max(self.left, other.left)
        h = min(self.bottom, other.bottom) - max(self.top, other.top)
        return max(0, w) * max(0, h)


def crop_seed(result_sha256: str, checker_public_key: bytes | str, frame: int) -> bytes:
    """``sha256(domain ‖ result sha256 ‖ checker public key ‖ frame)``: the root of the crop RNG.

    ``result_sha256`` is hex (the signed manifest's); the key is raw bytes or hex (with or without 0x).
    """
    result = bytes.fromhex(result_sha256)
    if len(result) != 32:
        raise ValueError("result_sha256 must be 32 bytes of hex")
    key = checker_public_key
    if isinstance(key, str):
        key = bytes.fromhex(key.removeprefix("0x"))
    if not key:
        raise ValueError("the checker public key is empty")
    if frame < 0:
        raise ValueError("frame must not be negative")
    return hashlib.sha256(CROP_SEED_DOMAIN + result + bytes(key) + frame.to_bytes(8, "big")).digest()


class HashRng:
    """Uniform integers from sha256 in counter mode: the same on every machine and in every language."""

    def __init__(self, seed: bytes) -> None:
        """Start the stream at counter 0."""
        self._seed = seed
        self._counter = 0

    def _next64(self) -> int:
        block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
        self._counter += 1
        return int.from_bytes(block[:8], "big")

    def below(self, n: int) -> int:
        """Uniform in [0, n) (rejection sampling: no modulo bias)."""
        if n <= 0:
            raise ValueError("n must be positive")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            value = self._next64()
            if value < limit:
                return value % n


def crop_size(width: int, height: int, fraction: float = DEFAULT_CROP_FRACTION) -> tuple[int, int]:
    """Crop width and height for a frame: ``ceil(fraction × side)``, at least :data:`MIN_CROP_PIXELS`, at most the side."""
    if not MIN_CROP_FRACTION <= fraction <= 1.0:
        raise ValueError(f"crop fraction must be between {MIN_CROP_FRACTION} and 1 (got {fraction})")
    if width < 1 or height < 1:
        raise ValueError("frame size must be positive")
    cw = min(width, max(MIN_CROP_PIXELS, math.ceil(fraction * width)))
    ch = min(height, max(MIN_CROP_PIXELS, math.ceil(fraction * height)))
    return cw, ch


def choose_crops(
    width: int,
    height: int,
    *,
    result_sha256: str,
    checker_public_key: bytes | str,
    frame: int,
    count: int = DEFAULT_CROP_COUNT,
    fraction: float = DEFAULT_CROP_FRACTION,
) -> list[CropBox]:
    """``count`` crop boxes inside a width×height frame, drawn from :func:`crop_seed`.

    Each box is ``crop_size(width, height, fraction)``; a box is re-drawn (up to a few times) when it
    overlaps an earlier one by half or more, so the crops cover more of the frame. Every box maps to a
    Blender border exactly (:meth:`CropBox.border` round-trips through ``BorderWindow.pixel_box``).
    """
    if count < 1:
        raise ValueError("at least one crop is needed")
    cw, ch = crop_size(width, height, fraction)
    rng = HashRng(crop_seed(result_sha256, checker_public_key, frame))
    boxes: list[CropBox] = []
    for _ in range(count):
        box = None
        for _attempt in range(_PLACEMENT_TRIES):
            left, top = rng.below(width - cw + 1), rng.below(height - ch + 1)
            box = CropBox(left, top, left + cw, top + ch)
            if all(box.intersection(other) * 2 < box.area for other in boxes):
                break
        assert box is not None
        boxes.append(box)
    return boxes


def detection_probability(
    frame_width: int, frame_height: int, region: tuple[int, int], crops: tuple[int, int], count: int
) -> float:
    """Chance that at least one of ``count`` uniformly placed crops touches a tampered ``region`` (w, h).

    The tampered region is taken at a uniformly random place too; crops are treated as independent
    (the overlap re-draw makes the real figure slightly higher). Used to quantify how a small pasted
    patch can slip between random crops.
    """
    rw, rh = region
    cw, ch = crops

    def axis(frame: int, c: int, r: int) -> float:
        # P(two intervals of lengths c and r, uniformly placed in [0, frame], intersect), over integer positions.
        positions_c, positions_r = frame - c + 1, frame - r + 1
        hits = 0
        for a in range(positions_c):
            lo, hi = max(0, a - r + 1), min(positions_r - 1, a + c - 1)
            hits += max(0, hi - lo + 1)
        return hits / (positions_c * positions_r)

    p_one = axis(frame_width, cw, rw) * axis(frame_height, ch, rh)
    return 1.0 - (1.0 - p_one) ** count
