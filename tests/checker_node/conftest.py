"""Fixtures of the checker-node tests: small generated scenes, a worker's honest renders, and cheaters' renders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cn_helpers import JOB


@dataclass(frozen=True)
class Rendered:
    """The scene and the worker's honest frames 2, 3 and 4."""

    scene: Path
    frames: dict[int, Path]


@dataclass(frozen=True)
class CheatRenders:
    """Frame 2 as a lazy worker renders it: a quarter of the samples, half the resolution, another scene."""

    lower_samples: Path
    half_resolution: Path
    another_scene: Path


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Generate the scene and render frames 2–4 as an honest worker would (a few seconds)."""
    from blender import RenderSession  # noqa: PLC0415
    from blender.scenegen import SceneSpec, generate_scene  # noqa: PLC0415

    root = tmp_path_factory.mktemp("checker")
    scene = generate_scene(root / "scene.blend", SceneSpec(frame_end=12, resolution_x=128, resolution_y=96))
    with RenderSession(scene, JOB, output_dir=root / "worker") as session:
        frames = {f: session.render_frame(f).path for f in (2, 3, 4)}
    return Rendered(scene, frames)


@pytest.fixture(scope="session")
def cheat_renders(rendered: Rendered, tmp_path_factory: pytest.TempPathFactory) -> CheatRenders:
    """Frame 2 rendered with a quarter of the samples, at 50%, and from a different scene."""
    from blender import RenderSession  # noqa: PLC0415
    from blender.scenegen import SceneSpec, generate_scene  # noqa: PLC0415

    root = tmp_path_factory.mktemp("cheats")
    paths = {}
    for name, params in (
        ("low", JOB.model_copy(update={"samples": JOB.samples // 4})),
        ("half", JOB.model_copy(update={"resolution_percentage": 50})),
    ):
        with RenderSession(rendered.scene, params, output_dir=root / name) as session:
            paths[name] = session.render_frame(2).path
    other = generate_scene(
        root / "other.blend", SceneSpec(frame_end=12, resolution_x=128, resolution_y=96, extra_objects=6)
    )
    with RenderSession(other, JOB, output_dir=root / "other") as session:
        paths["other"] = session.render_frame(2).path
    return CheatRenders(paths["low"], paths["half"], paths["other"])
