"""Integers enter bounded: out-of-range path, query and body integers answer 422 naming the bound, never 500, and
the OpenAPI document shows every integer parameter's bounds."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from protocol.bounds import INT64_MAX, MAX_PAGE
from protocol.frames import MAX_FRAME_NUMBER
from tests.support.api import session_for

BIG = 2**63  # one past PostgreSQL's BIGINT
HUGE = 2**64  # one past a Move u64
USER = "0x" + "ab" * 32

#: Public /audit reads with an integer out of range, and the bound the answer must name.
AUDIT = [
    (f"/audit/epochs?page={2**57}", str(MAX_PAGE)),
    (f"/audit/epochs?from_version={BIG}", str(INT64_MAX)),
    (f"/audit/epochs?to_version={BIG}", str(INT64_MAX)),
    (f"/audit/epochs/{HUGE}/claims", str(HUGE - 1)),
    (f"/audit/jobs/{HUGE}", str(HUGE - 1)),
    (f"/audit/jobs/{HUGE}/ledger", str(HUGE - 1)),
    (f"/audit/jobs/{HUGE}/tasks", str(HUGE - 1)),
    (f"/audit/jobs/1/tasks/{HUGE}/attestations", str(HUGE - 1)),
    (f"/audit/jobs/1/tasks/{HUGE}/abstentions", str(HUGE - 1)),
    (f"/audit/jobs/{HUGE}/settlements", str(HUGE - 1)),
    (f"/audit/nodes/{HUGE}", str(HUGE - 1)),
    (f"/audit/nodes/{HUGE}/stake-history", str(HUGE - 1)),
    (f"/audit/accounts/0x1/history?page={BIG}", str(MAX_PAGE)),
    (f"/leaderboard?campaign={BIG}", str(INT64_MAX)),
    (f"/rewards/epochs?page={BIG}", str(MAX_PAGE)),
]

#: Signed-in requests (method, path, body) with an integer out of range, and the bound the answer must name.
SIGNED_IN: list[tuple[str, str, Any, str]] = [
    ("GET", f"/jobs/{BIG}", None, str(INT64_MAX)),
    ("GET", f"/jobs?before={BIG}", None, str(INT64_MAX)),
    ("GET", f"/jobs/1/frames/{BIG}", None, str(MAX_FRAME_NUMBER)),
    ("GET", f"/jobs/1/frames/{MAX_FRAME_NUMBER + 1}/thumbnail", None, str(MAX_FRAME_NUMBER)),
    ("GET", f"/jobs/{BIG}/events", None, str(INT64_MAX)),
    ("GET", f"/jobs/{BIG}/frames.zip", None, str(INT64_MAX)),
    ("GET", f"/jobs/{BIG}/trail", None, str(INT64_MAX)),
    ("GET", f"/jobs/1/frames/{BIG}/verification", None, str(MAX_FRAME_NUMBER)),
    ("POST", f"/jobs/{BIG}/cancel", None, str(INT64_MAX)),
    ("POST", f"/jobs/{BIG}/escrow", {"txn_hash": "0x" + "1" * 64}, str(INT64_MAX)),
    ("POST", f"/jobs/1/frames/{BIG}/accept", None, str(MAX_FRAME_NUMBER)),
    ("POST", f"/jobs/{BIG}/frames/1/reject", None, str(INT64_MAX)),
    ("GET", f"/rewards/points?before={BIG}", None, str(INT64_MAX)),
    ("GET", f"/rewards/epochs/{BIG}/proof", None, str(INT64_MAX)),
    ("GET", f"/leaderboard/me?campaign={BIG}", None, str(INT64_MAX)),
]


@pytest.fixture
def client(offline_app):
    client, engine = offline_app
    client.headers["Authorization"] = f"Bearer {session_for(engine, USER)}"
    return client


@pytest.mark.parametrize(("path", "bound"), AUDIT)
def test_public_reads_refuse_integers_out_of_range(client, path: str, bound: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert bound in response.text


def test_u64_ids_at_the_top_of_their_range_are_simply_not_found(client) -> None:
    top = 2**64 - 1
    for path in (f"/audit/jobs/{top}", f"/audit/nodes/{top}", f"/audit/epochs/{top}/claims",
                 f"/audit/jobs/1/tasks/{top}/attestations"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/audit/epochs?from_version={INT64_MAX}&page={MAX_PAGE}").json()["items"] == []


@pytest.mark.parametrize(("method", "path", "body", "bound"), SIGNED_IN)
def test_signed_in_routes_refuse_integers_out_of_range(client, method: str, path: str, body: Any,
                                                       bound: str) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert bound in response.text


def test_ids_at_the_top_of_bigint_are_simply_not_found(client) -> None:
    assert client.get(f"/jobs/{INT64_MAX}").status_code == 404
    assert client.post(f"/jobs/{INT64_MAX}/cancel").status_code == 404
    assert client.get(f"/jobs?before={INT64_MAX}").json()["items"] == []
    assert client.get(f"/rewards/points?before={INT64_MAX}").status_code == 200


def test_every_integer_parameter_shows_its_bounds_in_openapi() -> None:
    unbounded = []
    for path, item in create_app().openapi()["paths"].items():
        for method, operation in item.items():
            for param in operation.get("parameters", []):
                schemas = param["schema"].get("anyOf", [param["schema"]])
                for schema in schemas:
                    if schema.get("type") == "integer" and ("minimum" not in schema or "maximum" not in schema):
                        unbounded.append(f"{method.upper()} {path} {param['name']}")
    assert unbounded == []


def test_every_integer_field_of_a_request_body_shows_its_bounds_in_openapi() -> None:
    document = create_app().openapi()
    bodies = set()
    for item in document["paths"].values():
        for operation in item.values():
            ref = (operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                   .get("schema", {}).get("$ref"))
            if ref:
                bodies.add(ref.rsplit("/", 1)[1])
    schemas = document["components"]["schemas"]
    unbounded = []

    def walk(name: str, schema: dict[str, Any], seen: set[str]) -> None:
        if "$ref" in schema:
            target = schema["$ref"].rsplit("/", 1)[1]
            if target not in seen:
                walk(target, schemas[target], seen | {target})
            return
        if schema.get("type") == "integer" and ("minimum" not in schema or "maximum" not in schema):
            unbounded.append(name)
        for key in ("anyOf", "allOf", "oneOf"):
            for sub in schema.get(key, []):
                walk(name, sub, seen)
        for field, sub in schema.get("properties", {}).items():
            walk(f"{name}.{field}", sub, seen)
        if isinstance(schema.get("items"), dict):
            walk(f"{name}[]", schema["items"], seen)

    for name in sorted(bodies):
        walk(name, schemas[name], {name})
    assert unbounded == []
