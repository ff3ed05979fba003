"""Liveness renders: the tiny scene a liveness challenge stands for, generated and rendered in Blender.

Nodes render it to answer a challenge and the API renders it for its reference, with the same function, so
an honest node's image matches the API's.
"""

from __future__ import annotations

from pathlib import Path

from blender.scenegen import SceneSpec, generate_scene
from blender.session import RenderSession
from protocol.liveness import LIVENESS_FRAMES, LivenessChallenge
from protocol.render_spec import Device, RenderParams

#: Generating and rendering a liveness scene takes seconds; these bound a hang.
LIVENESS_TIMEOUT_S = 120.0


def liveness_scene(challenge: LivenessChallenge) -> tuple[SceneSpec, RenderParams]:
    """The scene spec and render settings a challenge stands for, a pure function of its fields.

    The seed picks the number of extra objects and Cycles' sampling seed, the frame the cube's angle; the API
    renders its reference from the same function, so an honest node's image matches it.
    """
    spec = SceneSpec(
        frame_start=1,
        frame_end=LIVENESS_FRAMES,
        resolution_x=challenge.width,
        resolution_y=challenge.height,
        samples=challenge.samples,
        extra_objects=challenge.seed % 7,
    )
    params = RenderParams(
        device=Device.CPU,  # the same pixels on every node: GPU kernels round differently
        resolution_x=challenge.width,
        resolution_y=challenge.height,
        resolution_percentage=100,
        samples=challenge.samples,
        seed=challenge.seed,
        denoising=False,
        adaptive_sampling=False,
        dither=0.0,
    )
    return spec, params


def render_liveness(
    challenge: LivenessChallenge,
    workdir: str | Path,
    *,
    threads: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = LIVENESS_TIMEOUT_S,
) -> bytes:
    """Generate the challenge's scene and render its frame in a RenderSession; the PNG's bytes (RenderError)."""
    workdir = Path(workdir)
    spec, params = liveness_scene(challenge)
    blend = generate_scene(workdir / "liveness.blend", spec, timeout_s=timeout_s)
    with RenderSession(
        blend,
        params,
        output_dir=workdir,
        frame_timeout_s=timeout_s,
        load_timeout_s=timeout_s,
        threads=threads,
        env=env,
        file_prefix="liveness_",
    ) as session:
        result = session.render_frame(challenge.frame)
    return result.path.read_bytes()
