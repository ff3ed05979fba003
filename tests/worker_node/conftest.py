"""Fixtures of the worker-node tests: small .blend scenes generated from code in a Blender subprocess."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from blender.scenegen import SceneSpec, generate_scene


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
