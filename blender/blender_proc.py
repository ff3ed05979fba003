"""The Blender side of rendering: the only code that imports bpy, always in a process of its own.

Run as ``python -m blender.blender_proc serve`` (render frames on request) or
``python -m blender.blender_proc inspect SCENE.blend`` (describe a scene once).

Protocol: one JSON object per line. Requests come on stdin; replies go out on the process's
original stdout, which is claimed as the protocol channel before bpy is imported, after which fd 1
is pointed at stderr, so Blender's own printing ("Fra:1 Mem:…", warnings) lands in the log, never
in the protocol.

serve: ``{"op": "init", "blend": PATH, "params": RenderParams, "threads": N|null, "gpu_backends": [...],
"tile_size": N|null, "persistent_data": bool|null}``
→ ``{"type": "ready", …}`` or ``{"type": "error", "kind": "settings"|"load", "error": …}`` (then exit);
``{"op": "render", "id": N, "frame": F, "path": OUT, "region": REGION|null}`` → ``{"type": "frame", "id": N,
"frame": F, "path": OUT, "render_seconds": S, "width": W, "height": H}`` or ``{"type": "error", "id": N,
"kind": "render"|"settings", …}``. ``REGION`` (optional, for one request only; the session's settings are
restored afterwards) is ``{"border": {"min_x", "min_y", "max_x", "max_y"}|null, "crop_to_border": bool,
"resolution_percentage": N|null, "samples": N|null, "denoising": bool|null}``: a checker renders its crop
windows and a low-resolution reference of one frame in one process this way.
``{"op": "quit"}`` → ``{"type": "bye"}``. SIGTERM: the frame being rendered is finished and
reported, then ``{"type": "stopped"}`` and exit 0; when idle, ``stopped`` and exit 0 at once.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protocol.render_spec import (
    WORKBENCH_SAMPLES,
    BorderWindow,
    Device,
    OutputFormat,
    RenderEngine,
    RenderParams,
    output_size,
)

#: GPU backends tried in order when a job asks for device GPU (OptiX first: fastest on NVIDIA RTX).
DEFAULT_GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")


class Problem(Exception):
    """An error to report over the protocol with a kind (settings, load, render)."""

    def __init__(self, kind: str, message: str) -> None:
        """Keep the kind next to the message."""
        self.kind = kind
        super().__init__(message)


class Channel:
    """The protocol channel: JSON lines written straight to a file descriptor (no buffering to lose)."""

    def __init__(self, fd: int) -> None:
        """Wrap the protocol file descriptor."""
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        """Write one message as one line."""
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        while data:
            written = os.write(self.fd, data)
            data = data[written:]


def log(message: str) -> None:
    """A line in the render log (stderr), marked as ours rather than Blender's."""
    print(f"pictor-render[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Loading and applying settings
# --------------------------------------------------------------------------------------------------


def load_blend(bpy: Any, path: str) -> None:
    """Open a .blend without running any Python stored in it (drivers, registered scripts)."""
    if not os.path.isfile(path):
        raise Problem("load", f"scene file {path} does not exist")
    # Auto-run of scripts is off by default in bpy; say so explicitly: scenes come from strangers.
    bpy.context.preferences.filepaths.use_scripts_auto_execute = False
    try:
        bpy.ops.wm.open_mainfile(filepath=path, load_ui=False, use_scripts=False)
    except RuntimeError as exc:
        raise Problem("load", f"Blender could not open {path}: {_clean(exc)}") from None


def apply_params(bpy: Any, params: Any, *, threads: int | None, gpu_backends: list[str]) -> tuple[Any, dict[str, Any]]:
    """Set the job's exact render settings on the chosen scene; returns it and facts for the ready message."""

    scene = _pick_scene(bpy, params.scene)
    render = scene.render
    render.engine = params.engine.value
    facts: dict[str, Any] = {"device": "CPU", "gpu_devices": []}

    if params.engine is RenderEngine.CYCLES:
        cycles = scene.cycles
        if params.device is Device.GPU:
            backend, names = _use_gpu(bpy, gpu_backends)
            cycles.device = "GPU"
            facts.update(device=f"GPU:{backend}", gpu_devices=names)
        else:
            cycles.device = "CPU"
        if params.samples is not None:
            cycles.samples = params.samples
        cycles.seed = params.seed
        cycles.use_animated_seed = params.animated_seed
        if params.denoising is not None:
            cycles.use_denoising = params.denoising
        if params.adaptive_sampling is not None:
            cycles.use_adaptive_sampling = params.adaptive_sampling
        # A time limit makes the sample count depend on the machine: nobody could verify the frame.
        cycles.time_limit = 0.0
    elif params.engine is RenderEngine.EEVEE:
        # EEVEE always draws with the node's OpenGL/Vulkan device (software llvmpipe on GPU-less nodes).
        if params.samples is not None:
            scene.eevee.taa_render_samples = params.samples
        facts["device"] = "OpenGL"
    else:
        if params.samples is not None:
            scene.display.render_aa = WORKBENCH_SAMPLES[params.samples]
        facts["device"] = "OpenGL"

    if params.resolution_x is not None:
        render.resolution_x = params.resolution_x
    if params.resolution_y is not None:
        render.resolution_y = params.resolution_y
    if params.resolution_percentage is not None:
        render.resolution_percentage = params.resolution_percentage

    if params.dither is not None:
        render.dither_intensity = params.dither

    border = params.border
    render.use_border = border is not None
    render.use_crop_to_border = bool(border is not None and params.crop_to_border)
    if border is not None:
        render.border_min_x, render.border_max_x = border.min_x, border.max_x
        render.border_min_y, render.border_max_y = border.min_y, border.max_y

    image = render.image_settings
    if hasattr(image, "media_type"):  # Blender 5.0: image vs multi-layer vs video is chosen first
        image.media_type = "IMAGE"
    image.file_format = params.output_format.value
    image.color_mode = params.effective_color_mode.value
    image.color_depth = str(params.effective_color_depth)
    if params.output_format is OutputFormat.JPEG:
        image.quality = params.jpeg_quality
    elif params.output_format is OutputFormat.OPEN_EXR:
        image.exr_codec = "ZIP"  # lossless, and the same bytes on every node (a .blend may ask for lossy DWAA)
    elif params.output_format is OutputFormat.TIFF:
        image.tiff_codec = "DEFLATE"
    render.use_file_extension = False  # the parent names every file, extension included

    # Burnt-in and metadata stamps would publish the node's host name and file paths; keep them out.
    for name in dir(render):
        if name.startswith("use_stamp"):
            setattr(render, name, False)

    _mute_file_outputs(bpy)

    if threads:
        render.threads_mode = "FIXED"
        render.threads = threads

    camera = _pick_camera(scene, params.camera)
    width, height = output_size(render.resolution_x, render.resolution_y, render.resolution_percentage)
    if border is not None:
        left, top, right, bottom = border.pixel_box(width, height)
        if right <= left or bottom <= top:  # Blender would fail every frame with "Image too small"
            raise Problem("settings", f"the border window selects no whole pixel of the {width}×{height} frame")
        if params.crop_to_border:
            width, height = right - left, bottom - top
    facts.update(
        scene=scene.name,
        camera=camera.name,
        engine=render.engine,
        width=width,
        height=height,
        frame_start=scene.frame_start,
        frame_end=scene.frame_end,
    )
    return scene, facts


def apply_performance(scene: Any, *, tile_size: int | None, persistent_data: bool | None) -> None:
    """Node-side tuning that never changes a pixel: Cycles' tile size, and keeping synced data between renders."""
    if tile_size is not None:
        if not isinstance(tile_size, int) or isinstance(tile_size, bool) or not 8 <= tile_size <= 8192:
            raise Problem("settings", f"tile_size must be an integer from 8 to 8192, not {tile_size!r}")
        scene.cycles.use_auto_tile = True
        scene.cycles.tile_size = tile_size
    if persistent_data is not None:
        scene.render.use_persistent_data = bool(persistent_data)


_REGION_KEYS = frozenset({"border", "crop_to_border", "resolution_percentage", "samples", "denoising"})


@contextlib.contextmanager
def _region(scene: Any, region: dict[str, Any] | None, facts: dict[str, Any]) -> Iterator[tuple[int, int]]:
    """Apply one request's region (border, size, samples) around a render, then restore the session's settings.

    Yields the pixel size the render will have.
    """
    if not region:
        yield facts["width"], facts["height"]
        return

    if not isinstance(region, dict) or set(region) - _REGION_KEYS:
        raise Problem("protocol", f"region must be an object with keys from {sorted(_REGION_KEYS)}")
    render, cycles = scene.render, scene.cycles
    saved = {
        "use_border": render.use_border,
        "use_crop_to_border": render.use_crop_to_border,
        "border": (render.border_min_x, render.border_max_x, render.border_min_y, render.border_max_y),
        "resolution_percentage": render.resolution_percentage,
        "samples": cycles.samples,
        "use_denoising": cycles.use_denoising,
    }
    try:
        percentage = region.get("resolution_percentage")
        if percentage is not None:
            if not isinstance(percentage, int) or isinstance(percentage, bool) or not 1 <= percentage <= 32767:
                raise Problem("settings", f"resolution_percentage must be 1..32767, not {percentage!r}")
            render.resolution_percentage = percentage
        samples = region.get("samples")
        if samples is not None:
            if render.engine != "CYCLES" or not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
                raise Problem("settings", "a region's samples need Cycles and a positive integer")
            cycles.samples = samples
        if region.get("denoising") is not None:
            if render.engine != "CYCLES":
                raise Problem("settings", "a region's denoising needs Cycles")
            cycles.use_denoising = bool(region["denoising"])
        width, height = output_size(render.resolution_x, render.resolution_y, render.resolution_percentage)
        if "border" in region:
            raw = region["border"]
            if raw is None:
                render.use_border = False
                render.use_crop_to_border = False
            else:
                try:
                    border = BorderWindow.model_validate(raw)
                except ValueError as exc:
                    raise Problem("settings", f"bad region border: {exc}") from None
                left, top, right, bottom = border.pixel_box(width, height)
                if right <= left or bottom <= top:
                    raise Problem("settings", f"the border window selects no whole pixel of the {width}×{height} frame")
                render.use_border = True
                render.use_crop_to_border = bool(region.get("crop_to_border", True))
                render.border_min_x, render.border_max_x = border.min_x, border.max_x
                render.border_min_y, render.border_max_y = border.min_y, border.max_y
                if render.use_crop_to_border:
                    width, height = right - left, bottom - top
        elif render.use_border and render.use_crop_to_border:
            # The session's own border stays; its size follows the (possibly new) percentage.
            border = BorderWindow(
                min_x=render.border_min_x,
                max_x=render.border_max_x,
                min_y=render.border_min_y,
                max_y=render.border_max_y,
            )
            left, top, right, bottom = border.pixel_box(width, height)
            width, height = right - left, bottom - top
        yield width, height
    finally:
        render.use_border = saved["use_border"]
        render.use_crop_to_border = saved["use_crop_to_border"]
        render.border_min_x, render.border_max_x, render.border_min_y, render.border_max_y = saved["border"]
        render.resolution_percentage = saved["resolution_percentage"]
        if render.engine == "CYCLES":
            cycles.samples = saved["samples"]
            cycles.use_denoising = saved["use_denoising"]


def _mute_file_outputs(bpy: Any) -> None:
    """Mute compositor File Output nodes: a stranger's .blend must not write files anywhere on this node."""
    for tree in bpy.data.node_groups:
        if tree.bl_idname != "CompositorNodeTree":
            continue
        for node in tree.nodes:
            if node.bl_idname == "CompositorNodeOutputFile" and not node.mute:
                node.mute = True
                log(f"muted compositor File Output node {node.name!r} in {tree.name!r}")


def _pick_scene(bpy: Any, name: str | None) -> Any:
    """The named scene, or the file's active one."""
    if name is None:
        return bpy.context.scene
    scene = bpy.data.scenes.get(name)
    if scene is None:
        names = ", ".join(repr(s.name) for s in bpy.data.scenes)
        raise Problem("settings", f"the file has no scene {name!r}; its scenes are {names}")
    return scene


def _pick_camera(scene: Any, name: str | None) -> Any:
    """Make the named camera the scene's camera (or check the scene has one)."""
    cameras = [obj for obj in scene.objects if obj.type == "CAMERA"]
    if name is None:
        if scene.camera is None:
            listed = ", ".join(repr(c.name) for c in cameras) or "none"
            raise Problem("settings", f"scene {scene.name!r} has no active camera; choose one (cameras: {listed})")
        return scene.camera
    camera = next((c for c in cameras if c.name == name), None)
    if camera is None:
        listed = ", ".join(repr(c.name) for c in cameras) or "none"
        raise Problem("settings", f"scene {scene.name!r} has no camera {name!r}; its cameras are {listed}")
    scene.camera = camera
    # Timeline markers bound to cameras switch the camera while rendering; the chosen one must win.
    for marker in scene.timeline_markers:
        marker.camera = None
    return camera


def _use_gpu(bpy: Any, backends: list[str]) -> tuple[str, list[str]]:
    """Enable the first GPU backend that has devices; a clear error when there is none."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    tried: list[str] = []
    for backend in backends:
        try:
            prefs.compute_device_type = backend
        except TypeError:  # not compiled into this build of Blender (e.g. METAL on Linux)
            continue
        prefs.refresh_devices()
        devices = [d for d in prefs.devices if d.type == backend]
        tried.append(backend)
        if devices:
            for device in prefs.devices:
                device.use = device.type == backend
            return backend, [d.name for d in devices]
    raise Problem(
        "settings",
        "GPU rendering was requested but Cycles found no usable GPU on this node "
        f"(looked for {', '.join(tried) or 'no backend available in this build'}); "
        "render this job with device CPU or on a node with a supported GPU",
    )


def render_frame(bpy: Any, scene: Any, frame: int, path: str) -> float:
    """Render one frame of ``scene`` to ``path``; returns the seconds Blender spent."""
    scene.frame_set(frame)
    scene.render.filepath = path
    started = time.perf_counter()
    try:
        bpy.ops.render.render(write_still=True, scene=scene.name)
    except RuntimeError as exc:
        raise Problem("render", f"Blender could not render frame {frame}: {_clean(exc)}") from None
    seconds = time.perf_counter() - started
    if not os.path.isfile(path):
        raise Problem("render", f"Blender finished frame {frame} but wrote no file at {path}")
    return seconds


def _clean(exc: BaseException) -> str:
    """Blender's error text without its "Error: " prefix and trailing newline."""
    return str(exc).strip().removeprefix("Error: ").strip()


# --------------------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------------------


class _State:
    """What the SIGTERM handler needs to know."""

    busy = True  # loading counts as work: finish it, then stop
    stop_requested = False


def serve(channel: Channel) -> int:
    """Load the scene once, then render frames until told to quit, stdin closes, or SIGTERM."""
    state = _State()

    def on_sigterm(signum: int, _frame: object) -> None:
        """Finish the current frame (the main loop stops after it), or stop now when idle."""
        if state.busy:
            state.stop_requested = True
            log("SIGTERM: stopping after the current frame")
            return
        log("SIGTERM while idle: stopping")
        channel.send({"type": "stopped"})
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    _exit_with_parent()
    init = _read(sys.stdin)
    if init is None or init.get("op") != "init":
        channel.send({"type": "error", "kind": "protocol", "error": "the first request must be init"})
        return 2
    try:
        params = RenderParams.model_validate(init["params"])
        log(f"loading {init['blend']}")
        import bpy  # noqa: PLC0415 - the reason this process exists

        load_blend(bpy, init["blend"])
        scene, facts = apply_params(
            bpy,
            params,
            threads=init.get("threads"),
            gpu_backends=list(init.get("gpu_backends") or DEFAULT_GPU_BACKENDS),
        )
        apply_performance(scene, tile_size=init.get("tile_size"), persistent_data=init.get("persistent_data"))
    except Problem as exc:
        log(f"{exc.kind} error: {exc}")
        channel.send({"type": "error", "kind": exc.kind, "error": str(exc)})
        return 2
    except Exception as exc:  # settings that pydantic or Blender refuse
        log(traceback.format_exc())
        channel.send({"type": "error", "kind": "settings", "error": f"{type(exc).__name__}: {exc}"})
        return 2
    channel.send({"type": "ready", "blender": bpy.app.version_string, "pid": os.getpid(), **facts})
    log(
        f"ready: scene {facts['scene']!r}, camera {facts['camera']!r}, {facts['width']}×{facts['height']}, {facts['device']}"
    )
    state.busy = False
    if state.stop_requested:
        channel.send({"type": "stopped"})
        return 0

    while True:
        request = _read(sys.stdin)
        if request is None:
            log("stdin closed: exiting")
            return 0
        # Busy from here on: a SIGTERM now waits until this request is answered (no half-written reply).
        state.busy = True
        op = request.get("op")
        if op == "quit":
            channel.send({"type": "bye"})
            return 0
        frame = request.get("frame")
        try:
            if op != "render":
                raise Problem("protocol", f"unknown op {op!r}")
            if not isinstance(frame, int) or isinstance(frame, bool):
                raise Problem("protocol", f"frame must be an integer, not {frame!r}")
            region = request.get("region")
            log(f"rendering frame {frame}" + (f" (region {region})" if region else ""))
            with _region(scene, region, facts) as (width, height):
                seconds = render_frame(bpy, scene, frame, request["path"])
            log(f"frame {frame} done in {seconds:.3f} s")
            channel.send(
                {
                    "type": "frame",
                    "id": request.get("id"),
                    "frame": frame,
                    "path": request["path"],
                    "render_seconds": seconds,
                    "width": width,
                    "height": height,
                }
            )
        except Problem as exc:
            log(f"frame {frame}: {exc}")
            channel.send({"type": "error", "id": request.get("id"), "kind": exc.kind, "error": str(exc)})
        finally:
            state.busy = False
        if state.stop_requested:
            channel.send({"type": "stopped"})
            return 0


def _exit_with_parent() -> None:
    """Exit when the agent dies (even mid-frame): nobody would read the frame, and it holds the CPU/GPU."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:  # re-parented: the agent is gone
                log("the agent process is gone: exiting")
                os._exit(3)

    # A thread, not PR_SET_PDEATHSIG: that fires when the *thread* that started us ends, which agents do.
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _read(stream: Any) -> dict[str, Any] | None:
    """The next request, or None at end of input."""
    while True:
        line = stream.readline()
        if not line:
            return None
        if line.strip():
            return json.loads(line)


# --------------------------------------------------------------------------------------------------
# inspect
# --------------------------------------------------------------------------------------------------


def inspect_blend(bpy: Any, path: str) -> dict[str, Any]:
    """Everything the API shows before a job is created: scenes, cameras, ranges, sizes, missing files."""
    load_blend(bpy, path)
    scenes = []
    for scene in bpy.data.scenes:
        render = scene.render
        engine = render.engine
        if engine == "CYCLES":
            samples = scene.cycles.samples
        elif engine == "BLENDER_EEVEE":
            samples = scene.eevee.taa_render_samples
        elif engine == "BLENDER_WORKBENCH":
            aa = scene.display.render_aa
            samples = {"OFF": 1, "FXAA": 1}.get(aa, int(aa) if aa.isdigit() else 1)
        else:
            samples = None
        scenes.append(
            {
                "name": scene.name,
                "active": scene == bpy.context.scene,
                "frame_start": scene.frame_start,
                "frame_end": scene.frame_end,
                "frame_step": scene.frame_step,
                "fps": scene.render.fps / scene.render.fps_base,
                "resolution_x": render.resolution_x,
                "resolution_y": render.resolution_y,
                "resolution_percentage": render.resolution_percentage,
                "engine": engine,
                "samples": samples,
                "device": scene.cycles.device if engine == "CYCLES" else None,
                "denoising": scene.cycles.use_denoising if engine == "CYCLES" else None,
                "adaptive_sampling": scene.cycles.use_adaptive_sampling if engine == "CYCLES" else None,
                "camera": scene.camera.name if scene.camera else None,
                "cameras": sorted(obj.name for obj in scene.objects if obj.type == "CAMERA"),
                "output_format": render.image_settings.file_format,
                "color_depth": render.image_settings.color_depth,
                "use_border": render.use_border,
                "view_layers": [layer.name for layer in scene.view_layers],
            }
        )
    cameras = sorted(obj.name for obj in bpy.data.objects if obj.type == "CAMERA")
    return {
        "path": path,
        "blender": bpy.app.version_string,
        "saved_with": "{}.{}".format(*bpy.data.version[:2]),
        "scenes": scenes,
        "cameras": cameras,
        "missing_files": _missing_files(bpy),
        "packed_files": sum(1 for image in bpy.data.images if image.packed_file),
        "scripts_blocked": bpy.app.autoexec_fail_message if bpy.app.autoexec_fail else None,
    }


def _missing_files(bpy: Any) -> list[dict[str, str]]:
    """External files the scene refers to that are not where it says (images, libraries, sounds, …)."""
    missing: list[dict[str, str]] = []

    def check(kind: str, block: Any, raw: str, *, tiled: bool = False) -> None:
        if not raw or raw.startswith("<"):  # "<builtin>" fonts and similar
            return
        resolved = bpy.path.abspath(raw, library=block.library)
        if tiled:  # UDIM: the path has a <UDIM> token; the first tile must exist
            resolved = resolved.replace("<UDIM>", "1001").replace("<UVTILE>", "u1_v1")
        if not os.path.exists(resolved):
            missing.append({"kind": kind, "name": block.name, "path": raw, "resolved": os.path.normpath(resolved)})

    for image in bpy.data.images:
        if image.source in {"FILE", "SEQUENCE", "MOVIE", "TILED"} and not image.packed_file:
            check("image", image, image.filepath, tiled=image.source == "TILED")
    for library in bpy.data.libraries:
        if not library.packed_file:
            check("library", library, library.filepath)
    for sound in bpy.data.sounds:
        if not sound.packed_file:
            check("sound", sound, sound.filepath)
    for clip in bpy.data.movieclips:
        check("movieclip", clip, clip.filepath)
    for font in bpy.data.fonts:
        if not font.packed_file:
            check("font", font, font.filepath)
    for cache in bpy.data.cache_files:
        check("cache_file", cache, cache.filepath)
    for volume in bpy.data.volumes:
        if not volume.packed_file:
            check("volume", volume, volume.filepath)
    return missing


def inspect(channel: Channel, path: str) -> int:
    """Inspect one file and report it (or the error) over the channel."""
    try:
        import bpy  # noqa: PLC0415 - bpy only ever loads in this process

        info = inspect_blend(bpy, path)
    except Problem as exc:
        channel.send({"type": "error", "kind": exc.kind, "error": str(exc)})
        return 2
    except Exception as exc:
        log(traceback.format_exc())
        channel.send({"type": "error", "kind": "inspect", "error": f"{type(exc).__name__}: {exc}"})
        return 2
    channel.send({"type": "inspection", **info})
    return 0


def _line_buffer_c_stdout() -> None:
    """Make C's stdout (Blender's log) line-buffered, so its last lines reach the log even if Blender crashes."""
    try:

        libc = ctypes.CDLL(None)
        libc.setvbuf(ctypes.c_void_p.in_dll(libc, "stdout"), None, 1, 0)  # 1 = _IOLBF (glibc)
    except (OSError, ValueError, AttributeError):  # another libc: the log may lag, nothing breaks
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the Blender process."""
    # Claim the protocol channel before bpy exists, then send everything printed to fd 1 to the log.
    channel = Channel(os.dup(1))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    faulthandler.enable(file=sys.stderr)  # a segfault in Blender leaves a Python traceback in the log
    _line_buffer_c_stdout()
    parser = argparse.ArgumentParser(prog="python -m blender.blender_proc", description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve", help="render frames on request (JSON lines on stdin)")
    inspect_parser = sub.add_parser("inspect", help="describe a .blend")
    inspect_parser.add_argument("blend", type=Path)
    args = parser.parse_args(argv)
    if args.mode == "inspect":
        return inspect(channel, str(args.blend.resolve()))
    return serve(channel)


if __name__ == "__main__":
    sys.exit(main())
