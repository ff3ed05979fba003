"""The nodes' HTTP client: signed requests, retries on network errors, 5xx and 429, streamed downloads, waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from chain.keys import account_address, generate_account
from protocol import signing as ns
from protocol.client import ApiUnavailable, NodeApi, interruptible_sleep, response_detail
from protocol.signing import NodeAuth

Handler = Callable[[httpx.Request], httpx.Response]


def make_api(handler: Handler) -> tuple[NodeApi, str]:
    """A client whose requests go to ``handler`` instead of the network (signed as on the wire)."""
    key = generate_account()
    api = NodeApi("http://api.test", key, max_backoff_s=0.01)
    api.http = httpx.AsyncClient(base_url="http://api.test", auth=NodeAuth(key), transport=httpx.MockTransport(handler))
    return api, account_address(key)


async def test_call_retries_5xx_and_429_then_answers_with_signed_requests() -> None:
    answers = [httpx.Response(503, text="busy"), httpx.Response(429), httpx.Response(200, json={"ok": True})]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1]

    api, address = make_api(handler)
    try:
        response = await api.call("POST", "/nodes/claim", json={}, give_up=lambda: False)
    finally:
        await api.close()
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(seen) == 3
    assert {r.headers[ns.HEADER_NODE] for r in seen} == {address}
    assert len({r.headers[ns.HEADER_NONCE] for r in seen}) == 3  # every try is signed afresh


async def test_call_gives_up_when_told_and_4xx_is_an_answer() -> None:
    api, _ = make_api(lambda request: httpx.Response(502 if request.url.path == "/down" else 404, json={}))
    try:
        with pytest.raises(ApiUnavailable, match="POST /down: HTTP 502"):
            await api.call("POST", "/down", give_up=lambda: True)
        assert (await api.call("GET", "/missing", give_up=lambda: True)).status_code == 404
    finally:
        await api.close()


async def test_network_errors_are_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api, _ = make_api(handler)
    try:
        with pytest.raises(ApiUnavailable, match="GET /x: ConnectError: refused"):
            await api.once("GET", "/x")
        with pytest.raises(ApiUnavailable, match="GET /blob: ConnectError"):
            await anext(aiter(api.stream("/blob", RuntimeError)))
    finally:
        await api.close()


async def test_stream_yields_the_bytes_or_raises_what_the_caller_makes_of_a_refusal() -> None:
    data = bytes(range(256)) * 10_000

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ok":
            return httpx.Response(200, content=data)
        if request.url.path == "/busy":
            return httpx.Response(503)
        return httpx.Response(409, json={"detail": "lease gone"})

    class Refused(Exception):
        pass

    def refused(response: httpx.Response) -> Exception:
        return Refused(f"{response.status_code} {response_detail(response)}")

    api, _ = make_api(handler)
    try:
        assert b"".join([chunk async for chunk in api.stream("/ok", refused)]) == data
        with pytest.raises(Refused, match="409 lease gone"):
            _ = [chunk async for chunk in api.stream("/gone", refused)]
        with pytest.raises(ApiUnavailable, match="GET /busy: HTTP 503"):
            _ = [chunk async for chunk in api.stream("/busy", refused)]
    finally:
        await api.close()


def test_response_detail_reads_detail_or_the_body() -> None:
    assert response_detail(httpx.Response(400, json={"detail": "bad frame"})) == "bad frame"
    assert response_detail(httpx.Response(400, json={"error": 1})) == "{'error': 1}"
    assert response_detail(httpx.Response(400, json=[1, 2])) == "[1, 2]"
    assert response_detail(httpx.Response(502, text="x" * 1000)) == "x" * 300


async def test_interruptible_sleep_wakes_when_the_event_is_set() -> None:
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wake.set)
    started = time.monotonic()
    await interruptible_sleep(30, wake)
    assert time.monotonic() - started < 5
    started = time.monotonic()
    await interruptible_sleep(0.05, None)
    assert time.monotonic() - started >= 0.04
