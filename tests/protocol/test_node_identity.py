"""A node's identity step: the key file (never overwritten), the operator check, the proof, enrollment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chain.keys import (
    ROLE_CHECKER,
    account_address,
    generate_account,
    load_key_file,
    normalize_address,
    public_key_bytes,
    registration_message,
    verify_signature,
    write_key_file,
)
from protocol.enrollment import enrollment_message
from protocol.node_config import NodeConfig
from protocol.node_identity import NodeIdentityError, enroll_node, load_node_key, new_node_identity


def make_config(tmp_path: Path, operator: str = "0xa11ce", **changes: Any) -> NodeConfig:
    data = {"worker_id": "w-1", "api_url": "http://127.0.0.1:9", "operator_address": operator, **changes}
    return NodeConfig.parse(data, base=tmp_path)


def test_a_new_identity_is_a_0600_key_with_its_registration_proof(tmp_path: Path) -> None:
    config = make_config(tmp_path, package_address="0xbee")
    identity = new_node_identity(config, None, ROLE_CHECKER)
    assert identity.operator is None and identity.role == ROLE_CHECKER
    assert (tmp_path / "node.key").stat().st_mode & 0o777 == 0o600
    assert account_address(load_key_file(tmp_path / "node.key")) == account_address(identity.node)
    message = registration_message(normalize_address("0xa11ce"), ROLE_CHECKER, identity.node)
    assert verify_signature(identity.public_key, message, identity.proof)
    assert identity.register_payload() == {
        "function": f"{normalize_address('0xbee')}::registry::register_node",
        "type_arguments": [],
        "arguments": [ROLE_CHECKER, "0x" + identity.public_key.hex(), "0x" + identity.proof.hex()],
    }
    summary = identity.summary().splitlines()
    assert summary[1].endswith(account_address(identity.node)) and summary[3].endswith(identity.proof.hex())
    before = (tmp_path / "node.key").read_bytes()
    with pytest.raises(NodeIdentityError, match="refusing to overwrite"):
        new_node_identity(config, None, ROLE_CHECKER)
    assert (tmp_path / "node.key").read_bytes() == before


def test_the_operator_key_must_be_the_configs_operator(tmp_path: Path) -> None:
    operator = generate_account()
    write_key_file(tmp_path / "operator.key", operator)
    write_key_file(tmp_path / "someone.key", generate_account())
    (tmp_path / "garbage.key").write_text("not a key")
    config = make_config(tmp_path, account_address(operator))
    with pytest.raises(NodeIdentityError, match="config's operator_address"):
        new_node_identity(config, tmp_path / "someone.key", ROLE_CHECKER)
    with pytest.raises(NodeIdentityError, match="cannot read the operator key"):
        new_node_identity(config, tmp_path / "garbage.key", ROLE_CHECKER)
    assert not (tmp_path / "node.key").exists()  # nothing is written before the operator checks out
    identity = new_node_identity(config, tmp_path / "operator.key", ROLE_CHECKER)
    assert identity.operator is not None and account_address(identity.operator) == account_address(operator)


def test_load_node_key_names_the_command_that_creates_it(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(NodeIdentityError, match=r"run `pictor checker init --config cfg.json` first"):
        load_node_key(config, Path("cfg.json"), "checker")
    (tmp_path / "node.key").write_text("garbage")
    with pytest.raises(NodeIdentityError, match="cannot read the node key"):
        load_node_key(config, Path("cfg.json"), "worker")


@pytest.fixture
def enroll_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for ``POST /nodes/enroll``: accepts token ``good``, refuses others with a detail."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append({"path": self.path, **body})
            ok = body["enrollment_token"] == "good"
            answer = {"node_address": "0xn0de"} if ok else {"detail": "the token is spent"}
            data = json.dumps(answer).encode()
            self.send_response(200 if ok else 409)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_enrollment_signs_the_token_and_reports_the_apis_answer(tmp_path: Path, enroll_api: Any) -> None:
    url, bodies = enroll_api
    node = generate_account()
    ok, message = enroll_node(make_config(tmp_path, api_url=url), node)
    assert ok and message.startswith("enrollment skipped") and bodies == []
    ok, message = enroll_node(make_config(tmp_path, api_url=url, enrollment_token="good"), node)
    assert ok and message == "enrolled with the API: worker w-1, node 0xn0de"
    body = bodies[-1]
    assert body["path"] == "/nodes/enroll" and body["worker_id"] == "w-1"
    signed = enrollment_message("good", "w-1", public_key_bytes(node))
    assert verify_signature(public_key_bytes(node), signed, bytes.fromhex(body["signature"][2:]))
    ok, message = enroll_node(make_config(tmp_path, api_url=url, enrollment_token="spent"), node)
    assert not ok and message == "the API refused the enrollment: HTTP 409: the token is spent"
    ok, message = enroll_node(make_config(tmp_path, api_url="http://127.0.0.1:9", enrollment_token="good"), node)
    assert not ok and message.startswith("enrolling with the API at http://127.0.0.1:9 failed")
