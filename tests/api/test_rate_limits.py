"""Rate limits: anonymous endpoints per client (behind trusted proxies, the forwarded client), signed-in requests
per account, signed node requests per node; 429 with Retry-After and a sentence; counts shared through
PostgreSQL by every API process; old counters swept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from api.app import create_app
from api.limits import _sweep_due, client_key, hit, sweep
from chain.keys import generate_account
from pictor.db import get_engine
from protocol import signing as ns
from tables.auth import rate_limits
from tests.support.api import OPERATOR, NoChain, make_settings, register_on_chain, session_for

ADDRESS = "0x" + "34" * 32
#: Tests count in one window this long, so no test straddles a window's end (windows are aligned to the epoch).
WINDOW = 10**7


@pytest.fixture
def make_app(db_url: str, tmp_path: Path) -> Iterator[Callable[..., FastAPI]]:
    """Apps on one fresh database (several apps: several API processes), with the given settings."""
    engine = get_engine(db_url)

    def make(**overrides: Any) -> FastAPI:
        app = create_app(engine, NoChain())  # type: ignore[arg-type]
        values = {"signin_chain_id": "aptos:4", "scheduler_background": False, "rate_limit_window_s": WINDOW}
        app.state.settings = make_settings(tmp_path, **{**values, **overrides})
        return app

    yield make
    engine.dispose()


def _client(app: FastAPI, host: str = "192.0.2.10") -> TestClient:
    return TestClient(app, client=(host, 40000))


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(rate_limits)).scalar_one()


def _refused(response: Any, words: str) -> None:
    assert response.status_code == 429, response.text
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= WINDOW
    assert response.json()["detail"].startswith(words) and f"try again in {retry} s" in response.json()["detail"]


def test_nonces_for_random_addresses_are_limited_per_client(make_app) -> None:
    app = make_app(rate_limit_signin=5)
    attacker, victim = _client(app, "198.51.100.1"), _client(app, "203.0.113.7")
    for i in range(5):
        assert attacker.post("/auth/nonce", json={"address": f"0x{i + 1:064x}"}).status_code == 200
    _refused(attacker.post("/auth/nonce", json={"address": ADDRESS}), "too many sign-in requests from this address")
    _refused(attacker.post("/auth/sign-in", json={}), "too many sign-in requests")  # the same bucket, before validation
    _refused(attacker.post("/nodes/enroll", json={}), "too many sign-in requests")
    assert victim.post("/auth/nonce", json={"address": ADDRESS}).status_code == 200  # someone else is not affected


def test_public_reads_are_limited_per_client(make_app) -> None:
    app = make_app(rate_limit_public=4)
    reader = _client(app)
    assert reader.get("/audit/epochs").status_code == 200
    assert reader.get("/leaderboard").status_code == 200
    assert reader.get("/rewards/epochs").status_code == 200
    assert reader.get("/verification/evidence/" + "0" * 64).status_code == 404
    for path in ("/audit/jobs/1", "/leaderboard", "/rewards/epochs", "/verification/evidence/" + "0" * 64):
        _refused(reader.get(path), "too many public reads from this address")
    assert _client(app, "192.0.2.99").get("/audit/epochs").status_code == 200
    assert reader.get("/health").status_code in (200, 503)  # not a limited endpoint


def test_the_forwarded_client_counts_only_behind_a_trusted_proxy(make_app) -> None:
    app = make_app(rate_limit_signin=2, trusted_proxies=["10.0.0.0/8", "fd00::/8"])
    proxy = _client(app, "10.1.2.3")

    def nonce(client: TestClient, forwarded: str | None) -> int:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return client.post("/auth/nonce", json={"address": ADDRESS}, headers=headers).status_code

    # Behind the proxy: each forwarded client has its own allowance.
    assert [nonce(proxy, "203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert nonce(proxy, "203.0.113.2") == 200
    # Read from the right, skipping trusted hops; what the client itself wrote (left) does not count.
    assert nonce(proxy, "1.1.1.1, 203.0.113.2, 10.9.9.9") == 200
    assert nonce(proxy, "2.2.2.2, 203.0.113.2") == 429
    # A peer that is not a trusted proxy is the client, whatever it forwards.
    direct = _client(app, "198.51.100.50")
    assert [nonce(direct, f"203.0.113.{i}") for i in range(10, 13)] == [200, 200, 429]


def test_client_keys() -> None:
    assert client_key(ip_address("203.0.113.9"), "203.0.113.9") == "ip:203.0.113.9"
    # One host's IPv6 /64 is one client, and an IPv4-mapped address is the IPv4 client.
    a, b = ip_address("2001:db8:1:2:aaaa::1"), ip_address("2001:db8:1:2:ffff::9")
    assert client_key(a, "") == client_key(b, "") == "ip:2001:db8:1:2::/64"
    assert client_key(ip_address("2001:db8:1:3::1"), "") != client_key(a, "")
    assert client_key(ip_address("::ffff:192.0.2.1"), "") == "ip:192.0.2.1"
    assert client_key(None, "testclient") == "peer:testclient"


def test_processes_share_the_counts(make_app) -> None:
    first, second = make_app(rate_limit_signin=4), make_app(rate_limit_signin=4)
    one, two = _client(first), _client(second)
    codes = [c.post("/auth/nonce", json={"address": ADDRESS}).status_code for c in (one, two, one, two, one)]
    assert codes == [200, 200, 200, 200, 429]


def test_signed_in_requests_are_limited_per_account(make_app) -> None:
    app = make_app(rate_limit_account=3, rate_limit_signin=100)
    engine = app.state.engine
    mine, theirs = session_for(engine, ADDRESS), session_for(engine, "0x" + "56" * 32)
    client = _client(app)
    for _ in range(3):
        assert client.get("/auth/me", headers={"Authorization": f"Bearer {mine}"}).status_code == 200
    _refused(client.get("/jobs", headers={"Authorization": f"Bearer {mine}"}), "too many requests for this account")
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {theirs}"}).status_code == 200
    # Without the token nobody spends the account's allowance: an unknown session is a plain 401.
    assert client.get("/auth/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_signed_node_requests_are_limited_per_node(make_app) -> None:
    app = make_app(rate_limit_node=3)
    engine = app.state.engine
    node, impostor = generate_account(), generate_account()
    register_on_chain(engine, node, OPERATOR, node_id=31)
    client = _client(app)
    # Requests that fail the signature check spend nothing of the node's allowance.
    for _ in range(5):
        forged = ns.sign_request(impostor, "GET", "/nodes/whoami")
        forged[ns.HEADER_NODE] = ns.sign_request(node, "GET", "/nodes/whoami")[ns.HEADER_NODE]
        assert client.get("/nodes/whoami", headers=forged).status_code == 401
    for _ in range(3):
        assert client.get("/nodes/whoami", auth=ns.NodeAuth(node)).status_code == 200
    _refused(client.get("/nodes/whoami", auth=ns.NodeAuth(node)), "too many requests from this node")


def test_zero_means_no_limit_and_no_counting(make_app) -> None:
    app = make_app(rate_limit_signin=0, rate_limit_public=0)
    client = _client(app)
    for _ in range(40):
        assert client.post("/auth/nonce", json={"address": ADDRESS}).status_code == 200
    assert client.get("/audit/epochs").status_code == 200
    assert _rows(app.state.engine) == 0


def test_windows_count_afresh_and_retry_after_names_the_next_one(make_app) -> None:
    engine = make_app().state.engine
    start = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    at = [start + timedelta(seconds=s) for s in (1, 20, 45, 59.2)]
    assert [hit(engine, "ip:x", "signin", 2, 60, t) for t in at] == [None, None, 15, 1]
    assert hit(engine, "ip:x", "signin", 2, 60, start + timedelta(seconds=60)) is None  # the next window
    assert hit(engine, "ip:x", "public", 2, 60, start + timedelta(seconds=61)) is None  # another bucket
    # A process whose clock is a little behind counts in the newer window, not a stale one.
    assert hit(engine, "ip:x", "signin", 2, 60, start + timedelta(seconds=58)) is None
    assert hit(engine, "ip:x", "signin", 2, 60, start + timedelta(seconds=62)) == 58


def test_old_counters_are_swept(make_app) -> None:
    app = make_app()
    engine = app.state.engine
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(rate_limits), [
            {"client": f"ip:198.51.100.{i}", "bucket": "signin", "window_start": now - timedelta(seconds=600),
             "hits": 3} for i in range(50)
        ] + [{"client": "ip:192.0.2.1", "bucket": "signin", "window_start": now - timedelta(seconds=30), "hits": 1}])
    assert sweep(engine, 60, now) == 50
    assert _rows(engine) == 1
    # A request sweeps at most once a window per process.
    assert _sweep_due(app, 60) is True and _sweep_due(app, 60) is False
    fresh = make_app(rate_limit_window_s=60)  # sweeps what ended more than a minute ago
    with engine.begin() as conn:
        conn.execute(insert(rate_limits).values(client="ip:old", bucket="public",
                                                window_start=now - timedelta(hours=1), hits=9))  # fmt: skip
    assert _client(fresh).get("/audit/epochs").status_code == 200
    with engine.connect() as conn:
        clients = set(conn.execute(select(rate_limits.c.client)).scalars())
    assert "ip:old" not in clients and "ip:192.0.2.10" in clients
