"""Tampered frames for the verification benchmark and tests: what a lazy or dishonest worker might upload.

Pixel tampers take an honest frame's pixels (float, [0, 1], display-referred) and return new pixels;
render tampers (wrong frame, lower samples, lower resolution, another scene) are made by rendering with
other settings, in :mod:`bench.verify`. :func:`save_png` writes the result as the job's PNG so the
tampered file has its own sha256 — the one a cheating worker would sign.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from blender.crops import CropBox, HashRng

#: Every tamper kind the suite knows, in report order.
PIXEL_TAMPERS = ("noise", "pasted_region", "blank", "colour_shift", "jpeg_q30")
RENDER_TAMPERS = ("wrong_frame", "lower_samples", "resized", "another_scene")
#: Every tamper class of the suite, in the order the benchmark and the tests report them.
TAMPER_KINDS = (
    "wrong_frame",
    "lower_samples",
    "noise",
    "blank",
    "pasted_region",
    "resized",
    "jpeg_q30",
    "colour_shift",
    "another_scene",
)


def add_noise(pixels: np.ndarray, sigma: float = 0.03, seed: int = 0) -> np.ndarray:
    """Gaussian noise of ``sigma`` (display units) on the colour channels."""
    rng = np.random.default_rng(seed)
    out = pixels.copy()
    colour = min(3, out.shape[2])
    out[:, :, :colour] += rng.normal(0.0, sigma, size=out[:, :, :colour].shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def blank(pixels: np.ndarray) -> np.ndarray:
    """A constant frame: the honest frame's mean colour everywhere (alpha kept opaque)."""
    out = np.empty_like(pixels)
    out[...] = pixels.reshape(-1, pixels.shape[2]).mean(axis=0)
    return out


def colour_shift(pixels: np.ndarray, gain: tuple[float, float, float] = (1.08, 1.0, 0.92)) -> np.ndarray:
    """A white-balance change: red up, blue down."""
    out = pixels.copy()
    out[:, :, :3] *= np.asarray(gain, dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def jpeg_recompress(pixels: np.ndarray, quality: int = 30) -> np.ndarray:
    """Round-trip the colour through JPEG at ``quality`` (alpha kept)."""
    rgb = Image.fromarray(np.round(pixels[:, :, :3] * 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32) / 255
    out = pixels.copy()
    out[:, :, :3] = decoded
    return out


def paste_region(
    pixels: np.ndarray, source: np.ndarray, area_fraction: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, CropBox]:
    """Paste a patch of ``area_fraction`` of the frame, cut from ``source`` at one place, at another place.

    The patch is square-ish in the frame's aspect (each side ``sqrt(area_fraction)`` of the frame's);
    returns the tampered pixels and the box that changed.
    """
    h, w = pixels.shape[:2]
    side = float(np.sqrt(area_fraction))
    pw, ph = max(1, round(w * side)), max(1, round(h * side))
    rng = HashRng(b"paste" + seed.to_bytes(8, "big"))
    sx, sy = rng.below(w - pw + 1), rng.below(h - ph + 1)
    for _ in range(32):  # a destination away from the source, so the patch really changes pixels
        dx, dy = rng.below(w - pw + 1), rng.below(h - ph + 1)
        if abs(dx - sx) >= pw // 2 or abs(dy - sy) >= ph // 2:
            break
    out = pixels.copy()
    out[dy : dy + ph, dx : dx + pw] = source[sy : sy + ph, sx : sx + pw]
    return out, CropBox(dx, dy, dx + pw, dy + ph)


def upscale(small: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear upscale (per channel, Pillow) of a lower-resolution render to the job's size."""
    channels = [
        np.asarray(Image.fromarray(small[:, :, c].astype(np.float32), "F").resize((width, height), Image.BILINEAR))
        for c in range(small.shape[2])
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(np.float32)


def save_png(pixels: np.ndarray, path: str | os.PathLike[str], bit_depth: int = 8) -> Path:
    """Write float pixels in [0, 1] as an 8- or 16-bit PNG (grey, RGB or RGBA as the channels say)."""
    import imagecodecs  # noqa: PLC0415 - lazy: its codecs load with it and only saving needs them

    scale, dtype = (255.0, np.uint8) if bit_depth == 8 else (65535.0, np.uint16)
    data = np.round(np.clip(pixels, 0.0, 1.0) * scale).astype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(imagecodecs.png_encode(data))
    return path
