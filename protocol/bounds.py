"""How integers that cross the HTTP boundary are typed: annotated ints whose bounds pydantic checks and OpenAPI shows.

Every integer a route takes (path, query or body) is one of these, so a number the database or the chain cannot
hold is refused where it enters (422 naming the bound) instead of failing deep inside (``bigint out of range``):

- :data:`DbId` — a row id of one of our tables (PostgreSQL ``BIGINT`` identity): 1..2^63−1.
- :data:`DbCursor` — a keyset cursor over such ids, where 0 means "from the start": 0..2^63−1.
- :data:`U64` — a Move ``u64`` (on-chain job, task, node and epoch ids, amounts): 0..2^64−1.
- :data:`Version` — an Aptos transaction version as the mirror stores it (``BIGINT``): 0..2^63−1.
- :data:`ByteCount` — a size in bytes as a table stores it (``BIGINT``): 0..2^63−1.
- :data:`Page` — a page number, from 1, small enough that ``(page − 1) × page size`` stays far inside ``BIGINT``.
- :data:`FrameNumber` — a Blender frame number: 0..:data:`protocol.frames.MAX_FRAME_NUMBER`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chain.constants import U64_MAX
from protocol.frames import MAX_FRAME_NUMBER, MAX_FRAMES

#: The largest PostgreSQL ``BIGINT``.
INT64_MAX = 2**63 - 1
#: The largest page number of a paginated list (with at most 1000 rows a page: a billion rows deep).
MAX_PAGE = 1_000_000

DbId = Annotated[int, Field(ge=1, le=INT64_MAX)]
DbCursor = Annotated[int, Field(ge=0, le=INT64_MAX)]
U64 = Annotated[int, Field(ge=0, le=U64_MAX)]
Version = Annotated[int, Field(ge=0, le=INT64_MAX)]
ByteCount = Annotated[int, Field(ge=0, le=INT64_MAX)]
Page = Annotated[int, Field(ge=1, le=MAX_PAGE)]
FrameNumber = Annotated[int, Field(ge=0, le=MAX_FRAME_NUMBER)]
#: How many frames one request may ask for or report (a job lists at most this many).
FrameCount = Annotated[int, Field(ge=1, le=MAX_FRAMES)]

__all__ = [
    "INT64_MAX", "MAX_PAGE", "U64_MAX",
    "ByteCount", "DbCursor", "DbId", "FrameCount", "FrameNumber", "Page", "U64", "Version",
]
