"""Request side of the localnet's HTTP APIs: ASGI types, content types, path/query parameter parsing, bodies."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from chain.localnet.codec import parse_api_address
from chain.localnet.errors import framework_error, invalid_input
from chain.localnet.vm import core

BCS_TXN = "application/x.aptos.signed_transaction+bcs"
BCS_VIEW = "application/x.aptos.view_function+bcs"
BCS_OUT = "application/x-bcs"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def parse_address(value: str, what: str = "address") -> str:
    """An address path parameter (400 ``web_framework_error`` when malformed)."""
    try:
        return parse_api_address(value)
    except ValueError as exc:
        raise framework_error(f'failed to parse path `{what}`: failed to parse "string(Address)": {exc}') from None


def parse_u64(value: str | None, what: str, where: str = "query") -> int | None:
    """A u64 query/path parameter, ``None`` when absent (400 when malformed)."""
    if value is None:
        return None
    try:
        number = int(value)
        if not 0 <= number <= core.U64_MAX:
            raise ValueError("out of range")
        return number
    except ValueError:
        raise framework_error(f"failed to parse {where} `{what}`: invalid u64 {value!r}") from None


def parse_bool(value: str | None, what: str) -> bool:
    """A boolean query parameter (absent: False)."""
    if value is None:
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise framework_error(f"failed to parse query `{what}`: invalid bool {value!r}")


def page_limit(query: dict[str, list[str]]) -> int:
    """Aptos ``Page::limit``: default 25, clamped to 100, zero rejected."""
    limit = parse_u64(first(query, "limit"), "limit")
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if limit == 0:
        raise invalid_input(f"Given limit value ({limit}) must not be zero")
    return min(limit, MAX_PAGE_SIZE)


def first(query: dict[str, list[str]], name: str) -> str | None:
    """The first value of a query parameter."""
    values = query.get(name)
    return values[0] if values else None


_HASH = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def is_hash(value: str) -> bool:
    """True for a 32-byte hex hash (``0x`` optional)."""
    return _HASH.fullmatch(value) is not None


def content_type(scope: Scope) -> str:
    """The request's content type, lower-cased, without parameters."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def accepts_bcs(scope: Scope) -> bool:
    """True when the client asks for BCS output."""
    for name, value in scope["headers"]:
        if name == b"accept":
            return BCS_OUT in value.decode("latin-1")
    return False


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
