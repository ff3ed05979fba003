"""Blender-style frame lists (``1-250``, ``1,3,5-10``, ``1-100x5``) and chunking into tasks.

The grammar is defined in :mod:`pictor.render_settings`, next to the job model that validates its
``frames`` field with it, so the API and the worker parse frames with the same code without
importing each other; this module is the worker's name for it.
"""

from __future__ import annotations

from pictor.render_settings import (
    MAX_FRAME_NUMBER,
    MAX_FRAME_SPEC_LENGTH,
    MAX_FRAMES,
    FrameSpecError,
    chunk_frames,
    format_frame_spec,
    parse_frame_spec,
)

__all__ = [
    "MAX_FRAMES",
    "MAX_FRAME_NUMBER",
    "MAX_FRAME_SPEC_LENGTH",
    "FrameSpecError",
    "chunk_frames",
    "format_frame_spec",
    "parse_frame_spec",
]
