"""The nodes' HTTP client: signed calls to the Pictor API with retries, streamed downloads, interruptible waits.

Worker and checker agents both talk to the API through :class:`NodeApi`: every request is signed with the
node key (:class:`protocol.signing.NodeAuth`), network errors, 5xx and 429 answers become
:class:`ApiUnavailable`, and :meth:`NodeApi.call` retries those with exponential back-off until the caller
gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
from aptos_sdk.account import Account

from protocol.signing import NodeAuth

#: Downloads are read in chunks of this many bytes.
STREAM_CHUNK_BYTES = 1 << 20


class ApiUnavailable(Exception):
    """The API could not be reached (or kept answering 5xx) and the caller gave up retrying."""


def response_detail(response: httpx.Response) -> str:
    """The ``detail`` of an error answer (or the start of its body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:300]


async def interruptible_sleep(seconds: float, wake: asyncio.Event | None) -> None:
    """Sleep, waking early when ``wake`` is set."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)


def _unavailable(response: httpx.Response) -> bool:
    """5xx and 429: the API is there but cannot answer now, so the call is worth repeating."""
    return response.status_code >= 500 or response.status_code == 429


class NodeApi:
    """Signed HTTP calls to the Pictor API with retry and exponential back-off on network errors and 5xx."""

    def __init__(
        self,
        base_url: str,
        key: Account,
        *,
        max_backoff_s: float = 30.0,
        timeout_s: float = 60.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, auth=NodeAuth(key), timeout=httpx.Timeout(timeout_s, connect=10.0)
        )
        self.max_backoff_s = max_backoff_s
        self.log = log or logging.getLogger("pictor.node")

    async def close(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One attempt (ApiUnavailable on a network error or 5xx)."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # connect/read errors, timeouts, dropped connections
            raise ApiUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if _unavailable(response):
            raise ApiUnavailable(f"{method} {path}: HTTP {response.status_code}: {response.text[:200]}")
        return response

    async def call(
        self, method: str, path: str, *, give_up: Callable[[], bool], wake: asyncio.Event | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Retry until a non-5xx answer; ApiUnavailable once ``give_up()`` says so (checked between tries)."""
        delay = 0.25
        while True:
            try:
                return await self.once(method, path, **kwargs)
            except ApiUnavailable as exc:
                if give_up():
                    raise
                self.log.warning("%s; retrying in %.2g s", exc, delay)
            await interruptible_sleep(delay, wake)
            delay = min(delay * 2, self.max_backoff_s)

    async def stream(self, path: str, refused: Callable[[httpx.Response], Exception]) -> AsyncIterator[bytes]:
        """``GET path`` in chunks: ApiUnavailable on network errors, 5xx and 429; any other answer but 200 raises
        ``refused(response)`` (its body read, so :func:`response_detail` works on it)."""
        try:
            async with self.http.stream("GET", path) as response:
                if _unavailable(response):
                    raise ApiUnavailable(f"GET {path}: HTTP {response.status_code}")
                if response.status_code != 200:
                    await response.aread()
                    raise refused(response)
                async for chunk in response.aiter_bytes(STREAM_CHUNK_BYTES):
                    yield chunk
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"GET {path}: {type(exc).__name__}: {exc}") from None


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM or SIGINT while inside (where the running loop can take signal handlers)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
