"""Signed node requests against nodes really registered and staked on a localnet, as the indexer mirrored them."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from chain.keys import generate_account
from protocol import signing as ns


def _call(client: TestClient, node, method: str = "GET", path: str = "/nodes/whoami", body: bytes = b"",
          **sign: object) -> httpx.Response:
    headers = ns.sign_request(node.key, method, path, body, **sign)
    return client.request(method, path, content=body, headers=headers)


def test_registered_staked_nodes_are_accepted(chain_app, chain_env) -> None:
    client, _ = chain_app
    worker = _call(client, chain_env.staked_worker)
    assert worker.status_code == 200, worker.text
    assert worker.json()["role"] == "worker"
    assert worker.json()["operator"] == ns.normalize_address(chain_env.staked_worker.operator.address())
    checker = _call(client, chain_env.staked_checker, "POST", "/nodes/whoami?x=1&y=%20", b'{"a": 1}')
    assert checker.status_code == 200, checker.text
    assert checker.json()["role"] == "checker" and checker.json()["body_sha256"] == ns.body_sha256(b'{"a": 1}')


def test_node_auth_httpx_signer(chain_app, chain_env) -> None:
    client, _ = chain_app
    client.auth = ns.NodeAuth(chain_env.staked_worker.key)
    try:
        assert client.post("/nodes/whoami?q=a%2Fb", json={"frame": 1}).status_code == 200
    finally:
        client.auth = None


def test_stale_and_future_timestamps_are_refused(chain_app, chain_env) -> None:
    client, _ = chain_app
    for skew in (-120, 120):
        response = _call(client, chain_env.staked_worker, timestamp=int(time.time()) + skew)
        assert response.status_code == 401 and "clock" in response.json()["detail"]


def test_replay_is_refused(chain_app, chain_env) -> None:
    client, _ = chain_app
    headers = ns.sign_request(chain_env.staked_worker.key, "GET", "/nodes/whoami")
    assert client.get("/nodes/whoami", headers=headers).status_code == 200
    replay = client.get("/nodes/whoami", headers=headers)
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]


def test_unregistered_node_is_refused(chain_app, chain_env) -> None:
    client, _ = chain_app
    response = _call(client, chain_env.unregistered)
    assert response.status_code == 403 and "not registered" in response.json()["detail"]


def test_understaked_node_is_refused(chain_app, chain_env) -> None:
    client, _ = chain_app
    response = _call(client, chain_env.understaked_worker)
    assert response.status_code == 403 and "below the minimum" in response.json()["detail"]


def test_deregistered_node_is_refused(chain_app, chain_env) -> None:
    client, engine = chain_app
    with engine.begin() as conn:  # as the mirror shows a deregistration
        conn.execute(text("UPDATE nodes SET active = false WHERE account = :a"), {"a": chain_env.staked_worker.address})
    response = _call(client, chain_env.staked_worker)
    assert response.status_code == 403 and "deregistered" in response.json()["detail"]


@pytest.mark.parametrize("change", ["body", "path", "method", "nonce", "key"])
def test_tampering_is_refused(chain_app, chain_env, change: str) -> None:
    client, _ = chain_app
    node = chain_env.staked_worker
    headers = ns.sign_request(node.key, "POST", "/nodes/whoami", b'{"frame": 1}')
    method, path, body = "POST", "/nodes/whoami", b'{"frame": 1}'
    if change == "body":
        body = b'{"frame": 2}'
    elif change == "path":
        path = "/nodes/whoami?frame=2"
    elif change == "method":
        method = "GET"
    elif change == "nonce":
        headers[ns.HEADER_NONCE] = "0" * 32
    else:  # a valid signature by a key that is not the registered one
        headers = ns.sign_request(generate_account(), "POST", path, body)
        headers[ns.HEADER_NODE] = node.address
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == 401 and "does not verify" in response.json()["detail"], response.text


def test_missing_or_malformed_headers(chain_app, chain_env) -> None:
    client, _ = chain_app
    assert client.get("/nodes/whoami").status_code == 401
    good = ns.sign_request(chain_env.staked_worker.key, "GET", "/nodes/whoami")
    for header, value in [(ns.HEADER_NODE, "0xzz"), (ns.HEADER_TIMESTAMP, "yesterday"),
                          (ns.HEADER_NONCE, "short"), (ns.HEADER_SIGNATURE, "0x" + "ab" * 100)]:
        response = client.get("/nodes/whoami", headers={**good, header: value})
        assert response.status_code == 401, (header, response.text)


def test_canonical_string_is_fixed() -> None:
    node = "0x" + "ab" * 32
    message = ns.canonical_request("post", "/a?b=1", ns.body_sha256(b""), 1700000000, "n" * 16, node)
    assert message == (
        b"PICTOR-NODE-REQUEST-V1\nPOST\n/a?b=1\n"
        b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n1700000000\nnnnnnnnnnnnnnnnn\n" + node.encode()
    )
    with pytest.raises(ValueError):
        ns.canonical_request("GET", "/a\nb", "00", 1, "n" * 16, node)
