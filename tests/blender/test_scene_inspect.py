"""Scene inspection in a Blender subprocess: scenes, cameras, ranges, sizes, engines, missing files."""

from __future__ import annotations

import json

import pytest

from blender import InspectError, SceneInfo, inspect_scene


def test_basic_scene(scenes):
    info = inspect_scene(scenes.basic)
    assert info.blender == "5.0.1" and info.saved_with == "5.0"
    assert [s.name for s in info.scenes] == ["Scene"] and info.cameras == ["Camera"]
    scene = info.active_scene
    assert (scene.frame_start, scene.frame_end, scene.frame_step) == (1, 5, 1)
    assert (scene.resolution_x, scene.resolution_y, scene.resolution_percentage) == (64, 48, 100)
    assert (scene.engine, scene.samples, scene.device) == ("CYCLES", 4, "CPU")
    assert (scene.denoising, scene.adaptive_sampling) == (False, False)
    assert (scene.camera, scene.cameras, scene.fps) == ("Camera", ["Camera"], 24.0)
    assert scene.output_format == "PNG" and scene.view_layers == ["ViewLayer"]
    assert info.missing_files == [] and info.scripts_blocked is None
    assert info.inspect_seconds > 0


def test_rich_scene_reports_missing_texture_scenes_cameras_and_blocked_scripts(scenes):
    info = inspect_scene(scenes.rich)
    assert sorted(s.name for s in info.scenes) == ["Alt", "Scene"]
    assert info.active_scene.name == "Scene"
    assert info.cameras == ["AltCamera", "Camera", "Camera.Side"]
    alt = next(s for s in info.scenes if s.name == "Alt")
    assert (alt.frame_start, alt.frame_end, alt.resolution_x, alt.resolution_y) == (10, 12, 32, 32)
    assert alt.cameras == ["AltCamera"] and not alt.active
    assert info.active_scene.cameras == ["Camera", "Camera.Side"]
    [missing] = info.missing_files
    assert (missing.kind, missing.name, missing.path) == ("image", "MissingTexture", "//textures/does_not_exist.png")
    assert missing.resolved == str(scenes.rich.parent / "textures" / "does_not_exist.png")
    # The Python driver was not run: scenes come from strangers.
    assert info.scripts_blocked is not None and "__import__" in info.scripts_blocked


def test_missing_library(scenes):
    info = inspect_scene(scenes.linked)
    assert [(m.kind, m.name, m.resolved) for m in info.missing_files] == [
        ("library", "library.blend", str(scenes.missing_library))
    ]


def test_json_round_trip(scenes):
    info = inspect_scene(scenes.rich)
    data = json.loads(json.dumps(info.to_dict()))
    assert SceneInfo.from_dict(data) == info


def test_not_a_blend_file(tmp_path):
    bogus = tmp_path / "scene.blend"
    bogus.write_bytes(b"BLENDER but not really" * 4)
    with pytest.raises(InspectError, match="Blender could not open"):
        inspect_scene(bogus)


def test_missing_file(tmp_path):
    with pytest.raises(InspectError, match="does not exist"):
        inspect_scene(tmp_path / "nope.blend")


def test_timeout(scenes):
    with pytest.raises(InspectError, match="took longer than 0.05 s; Blender was stopped"):
        inspect_scene(scenes.basic, timeout_s=0.05)
