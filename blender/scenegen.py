"""Small .blend scenes built from code: test scenes, the benchmark scene and the demo scene."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SceneSpec:
    """What to put in a generated scene (every field has a small, fast default)."""

    frame_start: int = 1
    frame_end: int = 5
    resolution_x: int = 64
    resolution_y: int = 48
    engine: str = "CYCLES"
    samples: int = 4
    #: Extra objects around the cube (the benchmark uses a few to give the BVH some work).
    extra_objects: int = 0
    #: Reference an image file that does not exist (for inspection tests).
    missing_texture: bool = False
    #: Add a second scene ("Alt") with its own camera, and a second camera ("Camera.Side") in the main scene.
    extra_scene: bool = False
    #: Python expression driver on the cube (only evaluated when script auto-execution is allowed).
    python_driver: bool = False
    #: Link the object "Cube" from this .blend (a library; inspection reports it when the file is gone).
    link_library: str | None = None
    #: A compositor File Output node writing into this directory (the renderer must mute it).
    file_output_dir: str | None = None


def generate_scene(path: str | os.PathLike[str], spec: SceneSpec | None = None, *, timeout_s: float = 120.0) -> Path:
    """Write a generated scene to ``path`` from a separate Python process (bpy state stays out of this one)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "blender.scenegen", str(path), json.dumps(asdict(spec or SceneSpec()))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=_child_env())
    if proc.returncode != 0 or not path.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise RuntimeError(f"scene generation failed (exit {proc.returncode}):\n{tail}")
    return path


def _child_env() -> dict[str, str]:
    """The environment for a child that must import this package from wherever it is installed or checked out."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def build_scene(path: str, spec: SceneSpec) -> None:
    """Build the scene with bpy and save it (runs only inside the child process)."""
    import bpy  # noqa: PLC0415 - bpy is imported only in child processes

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Scene"
    _fill_scene(bpy, scene, spec, cube_name="Cube", camera_name="Camera", light_name="Light")

    if spec.missing_texture:
        # An image texture whose file does not exist: Blender renders it magenta, inspection must report it.
        image = bpy.data.images.new("MissingTexture", 4, 4)
        image.source = "FILE"
        image.filepath = "//textures/does_not_exist.png"
        material = bpy.data.materials["CubeMaterial"]
        node = material.node_tree.nodes.new("ShaderNodeTexImage")
        node.image = image

    if spec.extra_scene:
        side = bpy.data.objects.new("Camera.Side", bpy.data.cameras.new("Camera.Side"))
        side.location = (0.0, -7.0, 1.0)
        side.rotation_euler = (1.45, 0.0, 0.0)
        scene.collection.objects.link(side)
        alt = bpy.data.scenes.new("Alt")
        _fill_scene(bpy, alt, spec, cube_name="AltCube", camera_name="AltCamera", light_name="AltLight")
        alt.frame_start, alt.frame_end = 10, 12
        alt.render.resolution_x, alt.render.resolution_y = 32, 32

    if spec.link_library:
        with bpy.data.libraries.load(spec.link_library, link=True) as (_source, linked):
            linked.objects = ["Cube"]
        for obj in linked.objects:
            scene.collection.objects.link(obj)

    if spec.file_output_dir:
        tree = bpy.data.node_groups.new("Compositing", "CompositorNodeTree")
        scene.compositing_node_group = tree  # Blender 5.0: the compositor is a node group
        layers = tree.nodes.new("CompositorNodeRLayers")
        output = tree.nodes.new("CompositorNodeOutputFile")
        output.file_output_items.new("RGBA", "Image")
        output.directory = spec.file_output_dir
        tree.links.new(layers.outputs["Image"], output.inputs["Image"])
        scene.render.use_compositing = True

    if spec.python_driver:
        driver = bpy.data.objects["Cube"].driver_add("location", 2).driver
        driver.type = "SCRIPTED"
        driver.expression = "__import__('os').getpid() * 0"  # not a "simple expression": needs auto-exec

    bpy.ops.wm.save_as_mainfile(filepath=path, compress=False)


def _fill_scene(bpy: Any, scene: Any, spec: SceneSpec, *, cube_name: str, camera_name: str, light_name: str) -> None:
    """Put an animated cube on a floor, a camera, a sun and a point light into ``scene``."""
    scene.frame_start, scene.frame_end = spec.frame_start, spec.frame_end
    render = scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = spec.resolution_x, spec.resolution_y, 100
    render.engine = spec.engine
    scene.cycles.samples = spec.samples
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    scene.eevee.taa_render_samples = spec.samples

    world = bpy.data.worlds.new(f"{scene.name}World")
    # Blender 5 gives new worlds and materials a node tree already (use_nodes is deprecated).
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.06, 0.08, 1.0)
    scene.world = world

    material = bpy.data.materials.get("CubeMaterial") or bpy.data.materials.new("CubeMaterial")
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (0.8, 0.25, 0.1, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.4

    mesh = bpy.data.meshes.new(cube_name)
    mesh.from_pydata(*_cube_geometry(1.0))
    mesh.materials.append(material)
    cube = bpy.data.objects.new(cube_name, mesh)
    scene.collection.objects.link(cube)
    # A full turn lands one frame past the range: keyed on the last frame, that frame would repeat the first
    # (and a checker rightly calls it a copy).
    span = max(1, spec.frame_end - spec.frame_start) + 1
    for frame, angle in ((spec.frame_start, 0.0), (spec.frame_start + span, 6.2832)):
        cube.rotation_euler = (0.3, 0.2, angle)
        cube.keyframe_insert("rotation_euler", frame=frame)
    for fcurve in _fcurves(cube):
        for point in fcurve.keyframe_points:
            point.interpolation = "LINEAR"

    floor_mesh = bpy.data.meshes.new(f"{cube_name}Floor")
    floor_mesh.from_pydata([(-6, -6, -1.2), (6, -6, -1.2), (6, 6, -1.2), (-6, 6, -1.2)], [], [(0, 1, 2, 3)])
    scene.collection.objects.link(bpy.data.objects.new(f"{cube_name}Floor", floor_mesh))

    for i in range(spec.extra_objects):
        extra_mesh = bpy.data.meshes.new(f"{cube_name}Extra{i}")
        extra_mesh.from_pydata(*_cube_geometry(0.35))
        extra_mesh.materials.append(material)
        extra = bpy.data.objects.new(f"{cube_name}Extra{i}", extra_mesh)
        angle = 6.2832 * i / spec.extra_objects  # a ring around the cube, most of it in view
        extra.location = (2.3 * math.cos(angle), 2.3 * math.sin(angle), -0.85 + 0.25 * (i % 3))
        scene.collection.objects.link(extra)

    camera = bpy.data.objects.new(camera_name, bpy.data.cameras.new(camera_name))
    camera.location = (4.5, -4.5, 3.2)
    camera.rotation_euler = (1.1, 0.0, 0.785)
    scene.collection.objects.link(camera)
    scene.camera = camera

    sun = bpy.data.objects.new(light_name, bpy.data.lights.new(light_name, "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (0.6, 0.2, 0.4)
    scene.collection.objects.link(sun)
    point = bpy.data.objects.new(f"{light_name}.Point", bpy.data.lights.new(f"{light_name}.Point", "POINT"))
    point.data.energy = 300.0
    point.location = (-3.0, -2.0, 3.0)
    scene.collection.objects.link(point)


def _fcurves(obj: Any) -> list[Any]:
    """The F-curves of an object's action (Blender 5 keeps them in layered channelbags)."""
    action = obj.animation_data.action
    if hasattr(action, "fcurves"):
        return list(action.fcurves)
    curves: list[Any] = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                curves.extend(bag.fcurves)
    return curves


def _cube_geometry(half: float) -> tuple[list[tuple[float, float, float]], list[Any], list[tuple[int, ...]]]:
    """Vertices, edges and faces of an axis-aligned cube of half-size ``half``."""
    h = half
    verts = [(-h, -h, -h), (h, -h, -h), (h, h, -h), (-h, h, -h), (-h, -h, h), (h, -h, h), (h, h, h), (-h, h, h)]
    faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    return verts, [], faces


def main(argv: list[str] | None = None) -> int:
    """Child entry point: ``python -m blender.scenegen OUT.blend '{spec json}'``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("spec", nargs="?", default="{}")
    args = parser.parse_args(argv)
    build_scene(args.path, SceneSpec(**json.loads(args.spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
