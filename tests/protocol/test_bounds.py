"""The integer types of the HTTP boundary hold exactly what the database and the chain can store."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from chain.constants import U64_MAX
from protocol.bounds import INT64_MAX, MAX_PAGE, U64, ByteCount, DbCursor, DbId, FrameCount, FrameNumber, Page, Version
from protocol.frames import MAX_FRAME_NUMBER, MAX_FRAMES

EDGES: list[tuple[Any, int, int]] = [
    (DbId, 1, INT64_MAX),
    (DbCursor, 0, INT64_MAX),
    (U64, 0, U64_MAX),
    (Version, 0, INT64_MAX),
    (ByteCount, 0, INT64_MAX),
    (Page, 1, MAX_PAGE),
    (FrameNumber, 0, MAX_FRAME_NUMBER),
    (FrameCount, 1, MAX_FRAMES),
]


@pytest.mark.parametrize(("kind", "low", "high"), EDGES)
def test_each_type_takes_its_range_and_names_the_bound_it_refuses(kind: Any, low: int, high: int) -> None:
    adapter = TypeAdapter(kind)
    assert adapter.validate_python(low) == low and adapter.validate_python(high) == high
    with pytest.raises(ValidationError, match=str(low)):
        adapter.validate_python(low - 1)
    with pytest.raises(ValidationError, match=str(high)):
        adapter.validate_python(high + 1)
    schema = adapter.json_schema()
    assert (schema["minimum"], schema["maximum"]) == (low, high)


def test_a_page_offset_stays_inside_bigint() -> None:
    assert (MAX_PAGE - 1) * 1000 < INT64_MAX
