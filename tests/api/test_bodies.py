"""Request bodies: each route's size limit holds before the body is read (413 with a sentence), JSON is parsed
strictly (400 for NaN, Infinity and lone surrogates), and a 422 is always valid JSON — never a 500."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.bodies import BODY_LIMITS, body_limit, json_problem, validation_error_handler
from pictor.db import get_engine
from tests.support.api import NoChain, Served, make_settings, session_for

USER = "0x" + "cd" * 32
ADDRESS = "0x" + "12" * 32


def _settings(tmp_path: Path, **overrides: Any) -> Any:
    # A fixed chain id line: nonces are issued without asking a chain.
    return make_settings(tmp_path, signin_chain_id="aptos:4", upload_max_bytes=256 * 1024, **overrides)


@pytest.fixture
def app_env(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = _settings(tmp_path, node_request_max_body=64 * 1024)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, engine
    engine.dispose()


def _nonces(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM api.signin_nonces")).scalar_one()


# ----------------------------------------------------------------------------- size limits


def test_a_large_json_body_is_refused_with_413_and_changes_nothing(app_env) -> None:
    client, engine = app_env
    big = json.dumps({"address": ADDRESS, "pad": "x" * (2 * 1024 * 1024)})
    response = client.post("/auth/nonce", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "the body of POST /auth/nonce is limited to 8192 bytes, and this one is larger"
    assert _nonces(engine) == 0
    assert client.post("/auth/nonce", json={"address": ADDRESS}).status_code == 200  # a normal one still works


def test_a_body_streamed_without_content_length_is_cut_off_at_the_limit(app_env) -> None:
    client, engine = app_env
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b'{"address": "' + ADDRESS.encode() + b'", "pad": "'
        for _ in range(64):
            sent.append(1)
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/auth/nonce", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "8192 bytes" in response.json()["detail"]
    token = session_for(engine, USER)
    headers = {"Authorization": f"Bearer {token}", "content-type": "text/plain"}
    response = client.post("/workers", content=chunks(), headers=headers)  # not JSON: counted as it streams
    assert response.status_code == 413 and "POST /workers" in response.json()["detail"]
    assert _nonces(engine) == 0


def test_limits_come_from_the_route_table(tmp_path: Path) -> None:
    settings = _settings(tmp_path, node_request_max_body=1000, body_max_bytes=300, body_max_bytes_jobs=5000)
    assert body_limit(settings, "POST", "/auth/nonce") == (300, "")
    assert body_limit(settings, "POST", "/nodes/enroll") == (300, "")  # anonymous, though under /nodes
    assert body_limit(settings, "PUT", "/nodes/tasks/1/frames/2")[0] == 1000
    assert "in parts" in body_limit(settings, "PUT", "/nodes/tasks/1/frames/2")[1]
    assert body_limit(settings, "POST", "/jobs") == (5000, "")
    assert body_limit(settings, "POST", "/jobs/estimate/") == (5000, "")
    assert body_limit(settings, "POST", "/jobs/1/escrow") == (300, "")
    assert body_limit(settings, "POST", "/uploads")[0] == 256 * 1024 + 64 * 1024
    assert body_limit(settings, "GET", "/uploads")[0] == 300
    assert all(hasattr(settings, row.setting) for row in BODY_LIMITS)


def test_each_route_gets_its_own_limit(app_env) -> None:
    client, engine = app_env
    auth = {"Authorization": f"Bearer {session_for(engine, USER)}"}
    settings = {"frames": "1", "pad": "x" * 20_000}  # over the small limit, inside the jobs' one
    response = client.post("/jobs/estimate", json={"upload_id": "nope", "settings": settings}, headers=auth)
    assert response.status_code == 422 and "not a render setting" in response.text  # read and judged: not a 413
    assert client.post("/jobs/1/escrow", json={"txn_hash": "0x" + "1" * 64, "pad": "x" * 20_000},
                       headers=auth).status_code == 413  # fmt: skip
    # Signed node routes take node_request_max_body (64 KiB here): within it the signature check answers.
    assert client.post("/nodes/heartbeat", json={"telemetry": {"pad": "x" * 20_000}}).status_code == 401
    over = client.post("/nodes/heartbeat", json={"telemetry": {"pad": "x" * 70_000}})
    assert over.status_code == 413 and "in parts" in over.json()["detail"]


def test_a_declared_length_over_the_limit_is_answered_before_the_body_arrives(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = _settings(tmp_path, scheduler_background=False)
    served = Served(app)
    try:
        host, port = served.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            # 200 MiB announced, 20 bytes sent: the answer must come without waiting for the rest.
            sock.sendall(b"POST /auth/nonce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 209715200\r\n\r\n" + b'{"address": "0x1", ')  # fmt: skip
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"limited to 8192 bytes" in answer
    finally:
        served.stop()
        engine.dispose()


def test_uploads_still_stream_up_to_their_own_limit(app_env) -> None:
    client, engine = app_env
    auth = {"Authorization": f"Bearer {session_for(engine, USER)}"}
    blend = b"BLENDER-v300" + b"\0" * (200 * 1024)  # far over the small-body limit, inside upload_max_bytes

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(blend), 8192):
            yield blend[i : i + 8192]

    response = client.post("/uploads?filename=a.blend", content=chunks(), headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(blend)


# ----------------------------------------------------------------------------- strict JSON

NON_STANDARD = [
    ('{"address": NaN}', "NaN"),
    ('{"address": Infinity}', "Infinity"),
    ('{"address": -Infinity}', "-Infinity"),
    ('{"address": 1e400}', "too large for a float"),
    ('{"address": "\\ud800"}', "lone UTF-16 surrogate"),
    ('{"address": "0x1", "x": ["\\udfff"]}', "lone UTF-16 surrogate"),
    ('{"\\ud800": 1}', "lone UTF-16 surrogate"),
]
ROUTES = ["/auth/nonce", "/auth/sign-in", "/nodes/enroll", "/jobs", "/jobs/estimate", "/workers", "/rewards/checkin"]


@pytest.mark.parametrize("route", ROUTES)
def test_non_standard_json_is_a_400_sentence_on_every_route(app_env, route: str) -> None:
    client, engine = app_env
    auth = {"Authorization": f"Bearer {session_for(engine, USER)}", "content-type": "application/json"}
    for raw, named in NON_STANDARD:
        response = client.post(route, content=raw, headers=auth)
        assert response.status_code == 400, (route, raw, response.text)
        assert named in response.json()["detail"], (route, raw, response.text)
    assert _nonces(engine) == 0


def test_surrogate_pairs_and_ordinary_json_pass() -> None:
    assert json_problem(b'{"name": "\\ud83d\\ude00 ok", "n": 1.5e10, "m": -0.0}') is None
    assert json_problem("{\"name\": \"caf\u00e9 \U0001F600\"}".encode()) is None
    assert json_problem(b"not json at all") is None  # the route's own parsing answers that (422)
    assert json_problem(b"[" * 100_000 + b"]" * 100_000) == "the JSON body is nested too deeply"
    assert "lone UTF-16 surrogate" in json_problem(b'{"a": "\xed\xa0\x80"}')  # U+D800 encoded as if UTF-8


def test_a_body_that_is_not_json_at_all_is_still_a_4xx(app_env) -> None:
    client, _ = app_env
    for raw, content_type in ((b"\xff\xfe\x00", "application/json"), (b"\xff\xfe\x00", "text/plain"),
                              (b'{"address": ', "application/json"), (b"[" * 5000, "application/json")):  # fmt: skip
        response = client.post("/auth/nonce", content=raw, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, (raw, content_type, response.text)
        response.json()


def test_validation_errors_always_serialize() -> None:
    exc = RequestValidationError([
        {"type": "string_type", "loc": ("body", "address"), "msg": "Input should be a valid string",
         "input": float("nan")},
        {"type": "x", "loc": ("body", "\ud800"), "msg": "bad \ud800", "input": "\ud800" * 1000,
         "ctx": {"error": ValueError("no"), "le": float("inf")}},
        {"type": "y", "loc": ("body",), "msg": "m", "input": {"k": [b"\xff", 2**4000, {1, 2}]}},
    ])
    response = asyncio.run(validation_error_handler(None, exc))  # type: ignore[arg-type]
    body = json.loads(response.body)
    assert response.status_code == 422
    first, second, third = body["detail"]
    assert first["input"] == "nan" and first["msg"] == "Input should be a valid string"
    assert second["loc"] == ["body", "\\ud800"] and second["input"].startswith("\\ud800") and len(second["input"]) < 300
    assert second["ctx"] == {"error": "no", "le": "inf"}
    assert third["input"]["k"][0] == "\\xff" and "bits" in third["input"]["k"][1]


def test_keep_alive_clients_get_answers_after_a_refused_body(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = _settings(tmp_path, scheduler_background=False)
    served = Served(app)
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            for raw in ('{"address": NaN}', '{"address": "\\ud800"}', '{"address": Infinity}'):
                bad = http.post("/auth/nonce", content=raw, headers={"content-type": "application/json"})
                assert bad.status_code == 400
            good = http.post("/auth/nonce", json={"address": ADDRESS})
            assert good.status_code == 200, good.text
    finally:
        served.stop()
        engine.dispose()
