"""Request bodies: a size limit per route, enforced before a body is read into memory, and strict JSON.

:class:`BodyLimits` (an ASGI middleware) finds a request's limit in :data:`BODY_LIMITS`, the one table of routes
and their limits (first match wins; any other route gets ``body_max_bytes``). A ``Content-Length`` over the limit
is answered 413 before a byte of the body is read; a body sent without one is counted as it streams and refused
with 413 the moment it passes the limit. A JSON body (``application/json`` or ``…+json``: what FastAPI parses) is
small by its limit, so it is read whole and checked first: NaN, ±Infinity, numbers too large for a float and lone
UTF-16 surrogates are not standard JSON, and are refused with a 400 sentence, so no route ever holds a value that
cannot be written back out. :func:`validation_error_handler` answers 422 with pydantic's errors made always
serializable (an input is echoed only as safe JSON, shortened).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.state import settings_of
from pictor.settings import Settings

#: Room for the multipart framing around an upload's file (the upload route allows the same).
MULTIPART_SLACK = 64 * 1024
_PARTS_HINT = (
    "; upload a larger frame in parts (PUT …/frames/{frame}/parts/{n}, then POST …/frames/{frame}/finalize)"
)


@dataclass(frozen=True)
class BodyLimit:
    """The body limit of the routes whose method and path match: the setting that holds it, plus ``slack`` bytes."""

    methods: frozenset[str]  # empty: every method
    path: re.Pattern[str]  # matched against the whole path
    setting: str
    slack: int = 0
    hint: str = ""  # said after the limit in the 413 sentence

    def matches(self, method: str, path: str) -> bool:
        """Whether this row is the limit of ``method path``."""
        return (not self.methods or method in self.methods) and self.path.fullmatch(path) is not None


def _route(methods: str, pattern: str, setting: str, slack: int = 0, hint: str = "") -> BodyLimit:
    """A table row: ``methods`` space-separated (``*``: any), ``pattern`` a regular expression of the whole path."""
    chosen = frozenset() if methods == "*" else frozenset(methods.split())
    return BodyLimit(chosen, re.compile(pattern), setting, slack, hint)


#: Request body limits by route, first match first; every other route gets ``body_max_bytes``.
BODY_LIMITS: tuple[BodyLimit, ...] = (
    _route("POST", r"/uploads", "upload_max_bytes", MULTIPART_SLACK),  # streamed into the blob store
    _route("POST", r"/nodes/enroll", "body_max_bytes"),  # anonymous, though under /nodes
    _route("*", r"/nodes/.+", "node_request_max_body", hint=_PARTS_HINT),  # signed node requests: frames, manifests
    _route("POST", r"/jobs|/jobs/estimate", "body_max_bytes_jobs"),  # a job's render settings
    _route("POST", r"/rewards/admin/campaigns", "body_max_bytes_jobs"),  # a campaign's rank bands
)
DEFAULT_BODY_SETTING = "body_max_bytes"


def body_limit(settings: Settings, method: str, path: str) -> tuple[int, str]:
    """The largest body ``method path`` accepts, in bytes, and the hint its 413 sentence ends with."""
    path = path.rstrip("/") or "/"
    for row in BODY_LIMITS:
        if row.matches(method, path):
            return int(getattr(settings, row.setting)) + row.slack, row.hint
    return int(getattr(settings, DEFAULT_BODY_SETTING)), ""


def too_large_sentence(method: str, path: str, limit: int, hint: str = "") -> str:
    """What a 413 says."""
    return f"the body of {method} {path[:200]} is limited to {limit} bytes, and this one is larger{hint}"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit; the app answers it as any 413."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


class BodyLimits:
    """ASGI middleware: each request's body within its route's limit (:data:`BODY_LIMITS`), JSON bodies strict."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit, hint = body_limit(settings_of(scope["app"]), method, path)
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _answer(scope, receive, send, 413, too_large_sentence(method, path, limit, hint))
            return
        if is_json(headers.get("content-type")):
            await self._strict_json(scope, receive, send, limit, hint)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(too_large_sentence(method, path, limit, hint))
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # raised where nothing turned it into an answer
            if started:
                raise
            await _answer(scope, receive, send, 413, str(exc.detail))

    async def _strict_json(self, scope: Scope, receive: Receive, send: Send, limit: int, hint: str) -> None:
        """Read the (bounded) JSON body whole, refuse what is not standard JSON, then hand the app the same bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                sentence = too_large_sentence(scope["method"], scope["path"], limit, hint)
                await _answer(scope, receive, send, 413, sentence)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem(body)
        if problem is not None:
            await _answer(scope, receive, send, 400, problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: disconnect notices, as the server sends them

        await self.app(scope, replay, send)


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    """Answer ``{"detail": …}`` without involving the app."""
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


# ----------------------------------------------------------------------------- strict JSON


class _NotStandard(ValueError):
    """A value standard JSON does not have."""


def _refuse_constant(name: str) -> Any:
    raise _NotStandard(f"{name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStandard(f"the number {text[:40]}, which is too large for a float")
    return value


#: Any surrogate code point left after parsing is a lone one: json pairs proper surrogate escapes into characters.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string (or key) in a parsed JSON value holds a lone surrogate (iterative: depth cannot hurt)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_problem(body: bytes) -> str | None:
    """Why ``body`` is not standard JSON, as a sentence; None when it is, or when it is not JSON at all (the route's
    own parsing then answers 4xx as usual)."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotStandard as exc:
        return f"the JSON body holds {exc}; send standard JSON"
    except RecursionError:
        return "the JSON body is nested too deeply"
    except ValueError:
        return None
    if _has_lone_surrogate(value):
        return ("the JSON body holds a lone UTF-16 surrogate (such as \\ud800), which is not a character; "
                "send valid Unicode")
    return None


# ----------------------------------------------------------------------------- validation errors

#: How much of an invalid input a 422 echoes.
ECHO_CHARS = 200
ECHO_ITEMS = 20
ECHO_DEPTH = 4


def safe_json(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON that always serializes: non-finite floats and odd objects as text, lone surrogates
    escaped, long strings and containers shortened."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: ECHO_CHARS * 4]).decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"
    if depth >= ECHO_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:ECHO_ITEMS]
        return {str(safe_json(str(k), depth + 1)): safe_json(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [safe_json(v, depth + 1) for v in list(value)[:ECHO_ITEMS]]
    return safe_json(str(value), depth)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 with each error's type, location, message, and the offending input and context made safe JSON."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = []
    for error in errors:
        item: dict[str, Any] = {
            "type": safe_json(error.get("type")),
            "loc": [safe_json(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")).encode("utf-8", "backslashreplace").decode("utf-8"),
        }
        if "input" in error:
            item["input"] = safe_json(error["input"])
        if error.get("ctx"):
            item["ctx"] = {str(k): safe_json(v, 1) for k, v in error["ctx"].items()}
        detail.append(item)
    return JSONResponse({"detail": detail}, status_code=422)
