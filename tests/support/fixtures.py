"""Fixtures shared by several test folders (registered by tests/conftest.py): generated scenes and renders, the
points tests' app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from blender import RenderSession
from blender.scenegen import SceneSpec, generate_scene
from pictor.db import get_engine
from tests.support.api import NoChain, make_settings
from tests.support.points import Points, new_address
from tests.support.render import JOB


@dataclass(frozen=True)
class Scenes:
    """Paths of the generated test scenes."""

    basic: Path  # cube, camera, lights, material; frames 1–5
    rich: Path  # + missing texture, second scene "Alt", second camera, Python driver
    linked: Path  # links "Cube" from a library file that has since been deleted
    missing_library: Path  # the deleted library's path


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Scenes:
    """Generate the test scenes once per test session (about a second each)."""
    root = tmp_path_factory.mktemp("scenes")
    basic = generate_scene(root / "basic.blend")
    rich = generate_scene(root / "rich.blend", SceneSpec(missing_texture=True, extra_scene=True, python_driver=True))
    library = generate_scene(root / "library.blend")
    linked = generate_scene(root / "linked.blend", SceneSpec(link_library=str(library)))
    os.remove(library)
    return Scenes(basic=basic, rich=rich, linked=linked, missing_library=library)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where a test's frames go."""
    path = tmp_path / "out"
    path.mkdir()
    return path



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
    root = tmp_path_factory.mktemp("checker")
    scene = generate_scene(root / "scene.blend", SceneSpec(frame_end=12, resolution_x=128, resolution_y=96))
    with RenderSession(scene, JOB, output_dir=root / "worker") as session:
        frames = {f: session.render_frame(f).path for f in (2, 3, 4)}
    return Rendered(scene, frames)


@pytest.fixture(scope="session")
def cheat_renders(rendered: Rendered, tmp_path_factory: pytest.TempPathFactory) -> CheatRenders:
    """Frame 2 rendered with a quarter of the samples, at 50%, and from a different scene."""
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


@pytest.fixture
def pts(db_url: str, tmp_path: Path) -> Iterator[Points]:
    """An app on a fresh migrated database with one admin, and the row builders."""
    engine = get_engine(db_url)
    admin = new_address()
    settings = make_settings(tmp_path, admin_addresses=[admin.upper().replace("0X", "0x")], scheduler_background=False)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = settings
    try:
        with TestClient(app) as client:
            yield Points(client, engine, settings, admin)
    finally:
        engine.dispose()
