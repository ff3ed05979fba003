"""Rendering with Blender (bpy) in subprocesses: sessions per chunk, scene inspection, frame lists.

Nothing here imports bpy; only :mod:`worker_node.render.blender_proc` and
:mod:`worker_node.render.scenegen` do, and only inside their own processes.
"""

from __future__ import annotations

from worker_node.render.errors import (
    InspectError,
    RenderCancelled,
    RenderError,
    RenderFailed,
    RenderSettingsError,
    RenderStopped,
    RenderTimeout,
)
from worker_node.render.frames import FrameSpecError, chunk_frames, format_frame_spec, parse_frame_spec
from worker_node.render.imageinfo import ImageInfo, read_image_info
from worker_node.render.inspect import SceneInfo, inspect_scene
from worker_node.render.session import FrameResult, RenderSession, sha256_file

__all__ = [
    "FrameResult",
    "FrameSpecError",
    "ImageInfo",
    "InspectError",
    "RenderCancelled",
    "RenderError",
    "RenderFailed",
    "RenderSession",
    "RenderSettingsError",
    "RenderStopped",
    "RenderTimeout",
    "SceneInfo",
    "chunk_frames",
    "format_frame_spec",
    "inspect_scene",
    "parse_frame_spec",
    "read_image_info",
    "sha256_file",
]
