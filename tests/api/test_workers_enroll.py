"""Operator-created workers and node enrollment through the real API on PostgreSQL: config download, single-use
expiring tokens, the node key's signature, ownership, revoke, and what enrollment changes in node request
authentication (the chain rule is read from mirror rows written as the indexer writes them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from api.app import create_app
from chain.keys import ROLE_CHECKER, ROLE_WORKER, account_address, generate_account, public_key_bytes
from pictor.db import get_engine
from protocol import signing as ns
from protocol.enrollment import enrollment_body, enrollment_message
from tables.workers import workers
from tests.support.api import MIN_STAKE, OPERATOR, NoChain, make_settings, register_on_chain, session_for
from worker_node.config import parse_config

STRANGER = "0x" + "0b" * 32


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, scheduler_background=False, public_api_url="https://api.example/",
                                       public_node_url="https://chain.example/v1")  # fmt: skip
    with TestClient(app) as client:
        yield client, engine
    engine.dispose()


def auth(engine: Engine, address: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_for(engine, address)}"}


def new_worker(client: TestClient, headers: dict[str, str], role: str = "worker") -> str:
    created = client.post("/workers", json={"name": f"rig {role}", "role": role}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending" and created.json()["role"] == role
    return created.json()["worker_id"]


def whoami(client: TestClient, node) -> tuple[int, str]:
    response = client.get("/nodes/whoami", headers=ns.sign_request(node, "GET", "/nodes/whoami"))
    return response.status_code, response.text


def snapshot(engine: Engine) -> list:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(workers).order_by(workers.c.worker_id)).all()]


def test_create_download_config_enroll_list_and_revoke(api) -> None:
    client, engine = api
    headers = auth(engine, OPERATOR)
    wid = new_worker(client, headers)
    config = client.get(f"/workers/{wid}/config", headers=headers)
    assert config.status_code == 200, config.text
    data = config.json()
    assert data["worker_id"] == wid and data["operator_address"] == OPERATOR and data["role"] == "worker"
    assert data["api_url"] == "https://api.example" and data["node_url"] == "https://chain.example/v1"
    assert data["enrollment_token"].startswith("pwe_") and data["enrollment_expires_at"].endswith("Z")
    parsed = parse_config(data)  # the worker reads exactly this file
    assert parsed.worker_id == wid and parsed.enrollment_token == data["enrollment_token"]
    with engine.connect() as conn:  # only the token's hash is stored
        stored = conn.execute(select(workers.c.token_hash).where(workers.c.worker_id == int(wid))).scalar_one()
    assert data["enrollment_token"] not in stored and len(stored) == 64

    node = generate_account()
    enrolled = client.post("/nodes/enroll", json=enrollment_body(node, data["enrollment_token"], wid))
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["node_address"] == account_address(node)
    assert enrolled.json()["registered_on_chain"] is False and enrolled.json()["node_id"] is None
    listed = client.get("/workers", headers=headers).json()["workers"]
    assert [w["worker_id"] for w in listed] == [wid]
    assert listed[0]["status"] == "enrolled" and listed[0]["node"]["public_key"] == "0x" + public_key_bytes(node).hex()
    assert listed[0]["online"] is False and listed[0]["last_heartbeat"] is None

    # On chain (as the indexer saw it) with enough stake: the node's requests pass; a heartbeat makes it online.
    register_on_chain(engine, node, OPERATOR)
    assert whoami(client, node)[0] == 200
    beat = client.post("/nodes/heartbeat", json={"telemetry": {}}, auth=ns.NodeAuth(node))
    assert beat.status_code == 200, beat.text
    one = client.get(f"/workers/{wid}", headers=headers).json()
    assert one["status"] == "online" and one["node"]["node_id"] == "7" and one["node"]["registered_on_chain"]
    assert one["last_heartbeat"] is not None
    # Once enrolled, no new token is handed out.
    again = client.get(f"/workers/{wid}/config", headers=headers)
    assert again.status_code == 409 and "already enrolled" in again.json()["detail"]

    # Revoke: the node is refused at once, though still registered and staked on chain.
    revoked = client.delete(f"/workers/{wid}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    code, text = whoami(client, node)
    assert code == 403 and "revoked" in text
    assert client.delete(f"/workers/{wid}", headers=headers).json()["revoked_at"] == revoked.json()["revoked_at"]
    assert client.get(f"/workers/{wid}/config", headers=headers).status_code == 409


def test_workers_belong_to_their_operator(api) -> None:
    client, engine = api
    mine, theirs = auth(engine, OPERATOR), auth(engine, STRANGER)
    wid = new_worker(client, mine)
    before = snapshot(engine)
    for method, path in [
        ("GET", f"/workers/{wid}"),
        ("GET", f"/workers/{wid}/config"),
        ("DELETE", f"/workers/{wid}"),
        ("GET", "/workers/abc"),
        ("GET", "/workers/99999"),
    ]:
        response = client.request(method, path, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/workers", headers=theirs).json() == {"workers": []}
    assert snapshot(engine) == before  # no token issued, nothing revoked
    for method, path in [
        ("GET", "/workers"),
        ("POST", "/workers"),
        ("GET", f"/workers/{wid}/config"),
        ("DELETE", f"/workers/{wid}"),
    ]:
        assert client.request(method, path).status_code == 401
    assert client.post("/workers", json={"name": ""}, headers=mine).status_code == 422
    assert client.post("/workers", json={"name": "x", "role": "boss"}, headers=mine).status_code == 422
    assert snapshot(engine) == before


def test_token_is_single_use_and_replaced_by_a_new_download(api) -> None:
    client, engine = api
    headers = auth(engine, OPERATOR)
    wid = new_worker(client, headers)
    first = client.get(f"/workers/{wid}/config", headers=headers).json()["enrollment_token"]
    second = client.get(f"/workers/{wid}/config", headers=headers).json()["enrollment_token"]
    node, other = generate_account(), generate_account()
    before = snapshot(engine)
    stale = client.post("/nodes/enroll", json=enrollment_body(node, first, wid))
    assert stale.status_code == 403 and "not valid" in stale.json()["detail"]
    assert client.post("/nodes/enroll", json=enrollment_body(node, second, "99999")).status_code == 403
    assert snapshot(engine) == before
    assert client.post("/nodes/enroll", json=enrollment_body(node, second, wid)).status_code == 200
    after = snapshot(engine)
    reused = client.post("/nodes/enroll", json=enrollment_body(other, second, wid))
    assert reused.status_code == 409 and "single-use" in reused.json()["detail"]
    # The same node key cannot be enrolled for a second worker either.
    wid2 = new_worker(client, headers)
    token2 = client.get(f"/workers/{wid2}/config", headers=headers).json()["enrollment_token"]
    twice = client.post("/nodes/enroll", json=enrollment_body(node, token2, wid2))
    assert twice.status_code == 409 and "already enrolled" in twice.json()["detail"]
    rows = snapshot(engine)
    assert rows[0] == after[0] and rows[1][8] is None  # worker 2 still pending


def test_expired_token_is_refused(api) -> None:
    client, engine = api
    headers = auth(engine, OPERATOR)
    wid = new_worker(client, headers)
    token = client.get(f"/workers/{wid}/config", headers=headers).json()["enrollment_token"]
    with engine.begin() as conn:
        conn.execute(
            update(workers)
            .where(workers.c.worker_id == int(wid))
            .values(token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    before = snapshot(engine)
    expired = client.post("/nodes/enroll", json=enrollment_body(generate_account(), token, wid))
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    assert snapshot(engine) == before
    listed = client.get(f"/workers/{wid}", headers=headers).json()
    assert listed["status"] == "pending" and listed["enrollment"]["token_live"] is False


def test_bad_signatures_and_keys_are_refused_and_the_token_survives(api) -> None:
    client, engine = api
    headers = auth(engine, OPERATOR)
    wid = new_worker(client, headers)
    token = client.get(f"/workers/{wid}/config", headers=headers).json()["enrollment_token"]
    node, thief = generate_account(), generate_account()
    before = snapshot(engine)
    # A key the sender does not hold: signed by another key.
    forged = {**enrollment_body(thief, token, wid), "public_key": "0x" + public_key_bytes(node).hex()}
    refused = client.post("/nodes/enroll", json=forged)
    assert refused.status_code == 400 and "signature" in refused.json()["detail"]
    # A signature for another worker id does not carry over.
    wrong_id = enrollment_body(node, token, wid)
    wrong_id["signature"] = "0x" + node.sign(enrollment_message(token, "1" + wid, public_key_bytes(node))).data().hex()
    assert client.post("/nodes/enroll", json=wrong_id).status_code == 400
    for change in ({"public_key": "0xzz" + "0" * 62}, {"signature": "0x" + "ab" * 63 + "zz"},
                   {"public_key": "0x" + "00" * 31}):  # fmt: skip
        response = client.post("/nodes/enroll", json={**enrollment_body(node, token, wid), **change})
        assert 400 <= response.status_code < 500, response.text
    assert snapshot(engine) == before
    assert client.post("/nodes/enroll", json=enrollment_body(node, token, wid)).status_code == 200


def test_enrollment_must_match_the_chain(api) -> None:
    client, engine = api
    headers = auth(engine, OPERATOR)
    # Registered on chain by someone else: the operator cannot claim the node.
    wid = new_worker(client, headers)
    token = client.get(f"/workers/{wid}/config", headers=headers).json()["enrollment_token"]
    foreign = generate_account()
    register_on_chain(engine, foreign, STRANGER, node_id=8)
    refused = client.post("/nodes/enroll", json=enrollment_body(foreign, token, wid))
    assert refused.status_code == 409 and STRANGER in refused.json()["detail"]
    assert whoami(client, foreign)[0] == 200  # a node that never enrolled still serves on the chain rule
    # A checker worker for a node registered as a worker: refused.
    cid = new_worker(client, headers, role="checker")
    ctoken = client.get(f"/workers/{cid}/config", headers=headers).json()["enrollment_token"]
    node = generate_account()
    register_on_chain(engine, node, OPERATOR, role=ROLE_WORKER, node_id=9)
    mismatch = client.post("/nodes/enroll", json=enrollment_body(node, ctoken, cid))
    assert mismatch.status_code == 409 and "role" in mismatch.json()["detail"]
    # Enrolled first, then registered on chain by another operator: its requests are refused.
    late = generate_account()
    assert client.post("/nodes/enroll", json=enrollment_body(late, token, wid)).status_code == 200
    register_on_chain(engine, late, STRANGER, node_id=10, stake=MIN_STAKE)
    code, text = whoami(client, late)
    assert code == 403 and "enrolled" in text
    # Understaked: today's rule still applies to enrolled nodes.
    checker = generate_account()
    assert client.post("/nodes/enroll", json=enrollment_body(checker, ctoken, cid)).status_code == 200
    register_on_chain(engine, checker, OPERATOR, role=ROLE_CHECKER, node_id=11, stake=MIN_STAKE - 1)
    code, text = whoami(client, checker)
    assert code == 403 and "below the minimum" in text


def test_an_operator_holds_a_bounded_number_of_workers(api) -> None:
    client, engine = api
    settings = client.app.state.settings
    settings.workers_max, settings.workers_max_per_day = 3, 4
    headers = auth(engine, OPERATOR)
    made = [new_worker(client, headers) for _ in range(3)]
    before = snapshot(engine)
    full = client.post("/workers", json={"name": "one more"}, headers=headers)
    assert full.status_code == 409 and "3 workers" in full.json()["detail"] and "revoke" in full.json()["detail"]
    assert snapshot(engine) == before  # nothing written
    assert client.delete(f"/workers/{made[0]}", headers=headers).status_code == 200
    new_worker(client, headers)  # a revoked worker frees its place
    assert client.delete(f"/workers/{made[1]}", headers=headers).status_code == 200
    daily = client.post("/workers", json={"name": "one more"}, headers=headers)  # but not its day's creation
    assert daily.status_code == 429 and "4 workers in the last 24 hours" in daily.json()["detail"]
    assert 86_000 < int(daily.headers["Retry-After"]) <= 86_400
    with engine.begin() as conn:  # a day later the window has moved on
        conn.execute(update(workers).values(created_at=datetime.now(UTC) - timedelta(days=1, seconds=1)))
    new_worker(client, headers)
    new_worker(client, auth(engine, STRANGER))  # another operator has its own room
