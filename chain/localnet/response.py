"""Response side of the localnet's REST API: a finished response and the JSON answers built from bytes."""

from __future__ import annotations

from typing import Any

from chain.localnet.codec import dumps

JSON_CT = (b"content-type", b"application/json")


class Response:
    """A finished response: status, body bytes, extra headers."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or [JSON_CT]


def json_response(obj: Any, status: int = 200) -> Response:
    """A JSON response of ``obj``."""
    return Response(status, dumps(obj))


def raw_json(body: bytes, status: int = 200) -> Response:
    """A response of already-serialized JSON."""
    return Response(status, body)


def json_list(items: list[bytes]) -> Response:
    """A JSON array response of already-serialized items."""
    return Response(200, b"[" + b",".join(items) + b"]")
