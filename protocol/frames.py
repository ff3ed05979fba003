"""Blender's frame-list grammar (``1-250``, ``1,3,5-10``, ``1-100x5``) and the chunking of frames into tasks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

#: Blender's last usable frame number (MAXFRAME in DNA_scene_types.h).
MAX_FRAME_NUMBER = 1_048_574
#: Most frames one job may list; keeps a typo such as ``1-1000000`` from creating a million tasks.
MAX_FRAMES = 100_000
#: Longest frame specification accepted (characters), so parsing work stays bounded.
MAX_FRAME_SPEC_LENGTH = 10_000

_ITEM_RE = re.compile(r"^(?P<start>\d+)(?:-(?P<end>\d+)(?:x(?P<step>\d+))?)?$")
_EXAMPLES = "for example 1-250, 1,3,5-10 or 1-100x5"


class FrameSpecError(ValueError):
    """A frame specification that cannot be parsed; the message says what is wrong and where."""


def parse_frame_spec(spec: str, *, max_frames: int = MAX_FRAMES) -> list[int]:
    """Parse a Blender-style frame list into sorted, de-duplicated frame numbers."""
    if not isinstance(spec, str):
        raise FrameSpecError(f"frames must be text such as '1-250', not {type(spec).__name__}")
    if len(spec) > MAX_FRAME_SPEC_LENGTH:
        raise FrameSpecError(
            f"the frame list is {len(spec)} characters long; at most {MAX_FRAME_SPEC_LENGTH} are accepted"
        )
    if not spec.strip():
        raise FrameSpecError(f"the frame list is empty; give frames {_EXAMPLES}")
    frames: set[int] = set()
    for position, raw in enumerate(spec.split(","), start=1):
        item = re.sub(r"\s+", "", raw).lower()
        if not item:
            raise FrameSpecError(
                f"item {position} of '{spec.strip()}' is empty (two commas in a row or a trailing comma?)"
            )
        match = _ITEM_RE.match(item)
        if match is None:
            raise FrameSpecError(_explain_bad_item(raw.strip()))
        start = _frame_number(match["start"], raw)
        end = _frame_number(match["end"], raw) if match["end"] is not None else start
        step = int(match["step"]) if match["step"] is not None else 1
        if end < start:
            raise FrameSpecError(f"'{raw.strip()}' ends before it starts; write the range as {end}-{start}")
        if step < 1:
            raise FrameSpecError(f"'{raw.strip()}': the step after 'x' must be at least 1")
        # Refuse an oversized range by arithmetic before building it; overlaps are counted once below.
        if (end - start) // step + 1 > max_frames:
            raise FrameSpecError(f"the frame list covers more than {max_frames} frames; split the job")
        frames.update(range(start, end + 1, step))
        if len(frames) > max_frames:
            raise FrameSpecError(f"the frame list covers more than {max_frames} frames; split the job")
    return sorted(frames)


def _frame_number(digits: str, raw: str) -> int:
    """One frame number of an item, checked against Blender's frame range."""
    value = int(digits)
    if value > MAX_FRAME_NUMBER:
        raise FrameSpecError(f"'{raw.strip()}': frame {value} is beyond Blender's last frame {MAX_FRAME_NUMBER}")
    return value


def _explain_bad_item(item: str) -> str:
    """The most helpful message for an item that does not match ``N``, ``N-M`` or ``N-MxS``."""
    compact = re.sub(r"\s+", "", item).lower()
    if compact.startswith("-"):
        return f"'{item}': negative frame numbers are not supported; frames start at 0"
    if re.fullmatch(r"\d+x\d*", compact):
        return f"'{item}': a step needs a range, for example 1-100x5"
    if re.fullmatch(r"\d+-\d+x", compact):
        return f"'{item}': the step after 'x' is missing, for example 1-100x5"
    if re.fullmatch(r"\d+-", compact) or re.fullmatch(r"-\d+", compact):
        return f"'{item}': a range needs a first and a last frame, for example 1-250"
    if re.fullmatch(r"\d+(\.\d+)?(-\d+(\.\d+)?)?(x\d+(\.\d+)?)?", compact):
        return f"'{item}': frame numbers must be whole numbers"
    return f"'{item}' is not a frame, a range or a stepped range ({_EXAMPLES})"


def format_frame_spec(frames: Iterable[int]) -> str:
    """The shortest spec of runs (``1-5``, ``10-20x2``) that :func:`parse_frame_spec` turns back into ``frames``."""
    ordered = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        start = ordered[i]
        if i + 1 < len(ordered):
            step = ordered[i + 1] - start
            j = i + 1
            while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == step:
                j += 1
            # A run of two is just two frames unless they are adjacent ("4-5" and "4,5" are as short).
            if j - i >= 2 or step == 1:
                end = ordered[j]
                parts.append(f"{start}-{end}" if step == 1 else f"{start}-{end}x{step}")
                i = j + 1
                continue
        parts.append(str(start))
        i += 1
    return ",".join(parts)


def chunk_frames(frames: Sequence[int], frames_per_node: int) -> list[list[int]]:
    """Split frames, in order, into tasks of at most ``frames_per_node`` frames (the last may be shorter)."""
    if frames_per_node < 1:
        raise ValueError("frames_per_node must be at least 1")
    ordered = sorted(set(frames))
    return [ordered[i : i + frames_per_node] for i in range(0, len(ordered), frames_per_node)]
