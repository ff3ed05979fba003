"""Constants of the checker-node tests (imported by name, so they live outside conftest.py)."""

from __future__ import annotations

from protocol.render_spec import RenderParams

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
