"""Helpers of the worker-node tests: the tiny render parameters and a PNG decoder (no image library needed)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from protocol.render_spec import RenderParams

#: Tiny and quick: 64×48, 4 samples, Cycles CPU, no denoising or adaptive sampling (about 0.02 s a frame here).
TINY = {
    "resolution_x": 64,
    "resolution_y": 48,
    "resolution_percentage": 100,
    "samples": 4,
    "seed": 0,
    "denoising": False,
    "adaptive_sampling": False,
}


def tiny(**changes: object) -> RenderParams:
    """The tiny render parameters with some changed."""
    return RenderParams(**{**TINY, **changes})


def read_png(path: str | Path) -> np.ndarray:
    """Pixels as an (height, width, channels) array, top row first."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    width = height = depth = color_type = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color_type, _comp, _filter, interlace = struct.unpack(">IIBBBBB", body)
            assert interlace == 0, "interlaced PNG"
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    bpp = channels * depth // 8
    stride = width * bpp
    raw = zlib.decompress(bytes(idat))
    rows = np.zeros((height, stride), dtype=np.uint8)
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = prev[x]
            upleft = prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
                line[x] = (line[x] + pred) & 0xFF
        rows[y] = np.frombuffer(bytes(line), dtype=np.uint8)
        prev = line
    if depth == 16:
        return rows.view(">u2").reshape(height, width, channels).astype(np.uint16)
    return rows.reshape(height, width, channels)


#: The job: 128×96, 8 samples, Cycles CPU, denoising and adaptive sampling off, PNG 8-bit RGBA (the .blend's dither).
JOB = RenderParams(
    resolution_x=128,
    resolution_y=96,
    resolution_percentage=100,
    samples=8,
    seed=3,
    denoising=False,
    adaptive_sampling=False,
)


CHECKER_KEY = bytes(range(1, 33))
