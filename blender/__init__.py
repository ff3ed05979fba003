"""Rendering with Blender (bpy) in subprocesses: sessions per chunk, scene inspection, frame lists.

Nothing here imports bpy; only :mod:`blender.blender_proc` and
:mod:`blender.scenegen` do, and only inside their own processes.
"""

from __future__ import annotations

from blender.errors import (
    InspectError,
    RenderCancelled,
    RenderError,
    RenderFailed,
    RenderSettingsError,
    RenderStopped,
    RenderTimeout,
)
from blender.imageinfo import ImageInfo, read_image_info
from blender.inspect import SceneInfo, inspect_scene
from blender.session import FrameResult, RenderSession, sha256_file

__all__ = [
    "FrameResult",
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
    "inspect_scene",
    "read_image_info",
    "sha256_file",
]
