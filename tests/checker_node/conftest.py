"""Fixtures of the checker-node tests: one small generated scene and a worker's honest renders of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cn_helpers import JOB


@dataclass(frozen=True)
class Rendered:
    """The scene and the worker's honest frames 2 and 3."""

    scene: Path
    frames: dict[int, Path]


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Generate the scene and render frames 2 and 3 as an honest worker would (a few seconds)."""
    from worker_node.render import RenderSession  # noqa: PLC0415
    from worker_node.render.scenegen import SceneSpec, generate_scene  # noqa: PLC0415

    root = tmp_path_factory.mktemp("checker")
    scene = generate_scene(root / "scene.blend", SceneSpec(frame_end=12, resolution_x=128, resolution_y=96))
    with RenderSession(scene, JOB, output_dir=root / "worker") as session:
        frames = {f: session.render_frame(f).path for f in (2, 3)}
    return Rendered(scene, frames)
