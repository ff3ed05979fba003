"""Blender-style frame lists: parsing, every error, formatting back, chunking into tasks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.frames import (
    MAX_FRAME_NUMBER,
    MAX_FRAMES,
    FrameSpecError,
    chunk_frames,
    format_frame_spec,
    parse_frame_spec,
)


@pytest.mark.parametrize(
    ("spec", "frames"),
    [
        ("1", [1]),
        ("0", [0]),
        ("1-5", [1, 2, 3, 4, 5]),
        ("1,3,5-7", [1, 3, 5, 6, 7]),
        ("1-10x3", [1, 4, 7, 10]),
        ("1-100x25", [1, 26, 51, 76]),
        ("  1 - 3 ,  8 ", [1, 2, 3, 8]),
        ("1 - 9 x 4", [1, 5, 9]),
        ("1-10X5", [1, 6]),
        ("5,1,3,1,5", [1, 3, 5]),  # ordered and de-duplicated
        ("1-5,3-7", [1, 2, 3, 4, 5, 6, 7]),
        ("7-7", [7]),
        ("3-3x9", [3]),
        (f"{MAX_FRAME_NUMBER}", [MAX_FRAME_NUMBER]),
        ("001-003", [1, 2, 3]),
    ],
)
def test_valid_specs(spec, frames):
    assert parse_frame_spec(spec) == frames


def test_250_frames():
    assert parse_frame_spec("1-250") == list(range(1, 251))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "the frame list is empty"),
        ("   ", "the frame list is empty"),
        ("1,,2", "item 2 of '1,,2' is empty"),
        ("1,2,", "item 3 of '1,2,' is empty"),
        (",1", "item 1 of ',1' is empty"),
        ("10-1", "'10-1' ends before it starts; write the range as 1-10"),
        ("1-10x0", "the step after 'x' must be at least 1"),
        ("5x2", "a step needs a range"),
        ("1-10x", "the step after 'x' is missing"),
        ("1-", "a range needs a first and a last frame"),
        ("-5", "negative frame numbers are not supported"),
        ("-5-3", "negative frame numbers are not supported"),
        ("1.5", "frame numbers must be whole numbers"),
        ("1-2.5", "frame numbers must be whole numbers"),
        ("abc", "'abc' is not a frame, a range or a stepped range"),
        ("1-5-9", "'1-5-9' is not a frame, a range or a stepped range"),
        ("1..5", "'1..5' is not a frame, a range or a stepped range"),
        ("2000000", "frame 2000000 is beyond Blender's last frame 1048574"),
        ("1-2000000", "frame 2000000 is beyond Blender's last frame"),
        ("0-100000", f"more than {MAX_FRAMES} frames"),
        ("1-60000,60001-100001", f"more than {MAX_FRAMES} frames"),
        ("1," * 6000, "characters long"),
    ],
)
def test_errors_say_what_is_wrong(spec, message):
    with pytest.raises(FrameSpecError) as info:
        parse_frame_spec(spec)
    assert message in str(info.value)


def test_not_text():
    with pytest.raises(FrameSpecError, match="must be text"):
        parse_frame_spec(5)  # type: ignore[arg-type]


def test_limit_counts_unique_frames():
    # Overlapping ranges count once: 1-60000 twice is 60000 frames, within the limit.
    assert len(parse_frame_spec("1-60000,1-60000")) == 60_000
    assert len(parse_frame_spec(f"1-{MAX_FRAMES}")) == MAX_FRAMES
    assert len(parse_frame_spec("1-10", max_frames=10)) == 10
    with pytest.raises(FrameSpecError):
        parse_frame_spec("1-11", max_frames=10)


def test_huge_ranges_are_refused_without_expanding():
    with pytest.raises(FrameSpecError, match="more than"):
        parse_frame_spec("0-1048574")  # a million frames: refused by arithmetic, not by building the list


@pytest.mark.parametrize(
    ("frames", "spec"),
    [
        ([1, 2, 3, 4, 5], "1-5"),
        ([1, 3, 5, 7], "1-7x2"),
        ([1, 2, 3, 10], "1-3,10"),
        ([1, 5], "1,5"),
        ([4, 5], "4-5"),
        ([7], "7"),
        ([1, 26, 51, 76], "1-76x25"),
        ([], ""),
    ],
)
def test_format(frames, spec):
    assert format_frame_spec(frames) == spec


@given(st.sets(st.integers(min_value=0, max_value=400), min_size=1, max_size=60))
def test_format_round_trips(frames):
    spec = format_frame_spec(frames)
    assert parse_frame_spec(spec) == sorted(frames)


def test_chunks():
    assert chunk_frames([1, 2, 3, 4, 5, 6, 7], 3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert chunk_frames([5, 1, 3, 3], 2) == [[1, 3], [5]]
    assert chunk_frames(parse_frame_spec("1-100x5"), 10) == [list(range(1, 51, 5)), list(range(51, 101, 5))]
    assert chunk_frames([1, 2], 10) == [[1, 2]]
    assert chunk_frames([], 4) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunk_frames([1], 0)
