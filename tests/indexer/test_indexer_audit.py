"""The auditor API over a mirror written from the synthetic scenario (reconcile against a chain: see the localnet tests)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from chain.client import PictorChain
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from pictor.db import get_engine
from tests.support.mirror import write_pages
from tests.support.synth import ACCT3, PK3, A, C, T, W, scenario


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    write_pages(db_url, [scenario()])
    chain = PictorChain("http://127.0.0.1:9/v1", LOCALNET_PACKAGE_ADDRESS)  # nothing listens there
    with TestClient(create_app(get_engine(db_url), chain)) as test_client:
        yield test_client
    get_engine(db_url).dispose()


def test_account_history_names_every_transaction(client: TestClient) -> None:
    body = client.get(f"/audit/accounts/{A}/history").json()
    kinds = [row["kind"] for row in body["items"]]
    assert kinds == ["deposit", "credit_claim", "withdraw", "job_lock", "job_lock", "job_refund", "reward_claim"]
    assert all(row["txn_hash"].startswith("0x") and isinstance(row["txn_version"], int) for row in body["items"])
    assert sum(int(r["credit_delta"]) for r in body["items"]) == 700
    assert sum(int(r["balance_delta"]) for r in body["items"]) == 4500
    treasury = client.get(f"/audit/accounts/{T}/history", params={"kind": "slash"}).json()["items"]
    assert [int(r["balance_delta"]) for r in treasury] == [30, 30, 150]
    worker = client.get(f"/audit/accounts/{W}/history", params={"kind": "stake_slashed"}).json()["items"]
    assert [int(r["amount"]) for r in worker] == [-30, -150]


def test_pages_filters_and_csv(client: TestClient) -> None:
    first = client.get(f"/audit/accounts/{A}/history", params={"page_size": 3}).json()
    second = client.get(f"/audit/accounts/{A}/history", params={"page_size": 3, "page": 2}).json()
    assert first["has_more"] and len(first["items"]) == 3 and second["items"][0] != first["items"][0]
    since = first["items"][2]["txn_version"]
    ranged = client.get(f"/audit/accounts/{A}/history", params={"from_version": since}).json()["items"]
    assert all(r["txn_version"] >= since for r in ranged) and len(ranged) == 5
    response = client.get(f"/audit/accounts/{A}/history", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 7 and {"txn_version", "txn_hash", "kind", "credit_delta", "balance_delta"} <= set(rows[0])


def test_job_ledger_attestations_settlements_and_tasks(client: TestClient) -> None:
    job = client.get("/audit/jobs/1").json()
    assert (job["budget"], job["spent"], job["closed"]) == ("2500", "300", True)
    ledger = client.get("/audit/jobs/1/ledger").json()["items"]
    assert [r["kind"] for r in ledger] == ["open", "top_up", "charge", "refund"]
    assert sum(int(r["delta"]) for r in ledger) == 0
    attestations = client.get("/audit/jobs/1/tasks/7/attestations").json()["items"]
    assert len(attestations) == 1 and attestations[0]["pass"] is True and attestations[0]["operator"] == C
    settlement = client.get("/audit/jobs/1/settlements").json()["items"][0]
    assert (settlement["worker_amount"], settlement["checkers"], settlement["treasury_amount"]) == ("180", [C], "90")
    assert len(client.get("/audit/jobs/1/tasks").json()["items"]) == 5
    abstentions = client.get("/audit/jobs/1/tasks/11/abstentions").json()["items"]
    assert [(a["node_id"], a["operator"], a["attempt"]) for a in abstentions] == [("2", C, "1")]
    assert client.get("/audit/jobs/1/tasks/7/abstentions").json()["items"] == []
    assert client.get("/audit/jobs/1/tasks/99/abstentions").status_code == 404


def test_node_stake_history_and_epochs(client: TestClient) -> None:
    node = client.get("/audit/nodes/1").json()
    assert (node["public_key"], node["account"], node["strikes"]) == ("0x" + PK3.hex(), ACCT3, "1")
    history = client.get("/audit/nodes/1/stake-history").json()["items"]
    assert [r["kind"] for r in history] == [
        "stake", "stake_slashed", "unstake_request", "unstake_request", "unstake_request", "stake_slashed",
        "unstake_withdraw",
    ]
    assert client.get("/audit/epochs").json()["items"][0]["claimed"] == "300"
    claims = client.get("/audit/epochs/1/claims").json()["items"]
    assert [(c["claim_index"], c["user_address"]) for c in claims] == [("0", A), ("3", W)]
    account = client.get(f"/audit/accounts/{A}").json()
    assert account["vault"]["credit"] == "700" and account["stores"][0]["owner"] == A


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/audit/accounts/0xnothex/history", {}, 400, "not an account address"),
        ("/audit/accounts/0x" + "1" * 65 + "/history", {}, 400, "not an account address"),
        (f"/audit/accounts/{A}/history", {"page": -1}, 422, "greater than or equal to 1"),
        (f"/audit/accounts/{A}/history", {"page_size": 0}, 422, "greater than or equal to 1"),
        (f"/audit/accounts/{A}/history", {"page_size": 5000}, 422, "less than or equal to 1000"),
        (f"/audit/accounts/{A}/history", {"kind": "bogus"}, 422, "Input should be"),
        (f"/audit/accounts/{A}/history", {"from_version": 9, "to_version": 3}, 400, "is after"),
        ("/audit/jobs/99", {}, 404, "job 99 not found"),
        ("/audit/jobs/99/ledger", {}, 404, "job 99 not found"),
        ("/audit/jobs/1/tasks/12345/attestations", {}, 404, "task 12345 of job 1 not found"),
        (f"/audit/jobs/{2**64}", {}, 422, f"less than or equal to {2**64 - 1}"),
        ("/audit/jobs/-3", {}, 422, "greater than or equal to 0"),
        ("/audit/nodes/77/stake-history", {}, 404, "node 77 not found"),
        ("/audit/epochs/5/claims", {}, 404, "epoch 5 not found"),
        ("/audit/jobs/abc", {}, 422, "valid integer"),
    ],
)
def test_bad_queries_get_4xx_with_a_message(
    client: TestClient, path: str, params: dict, status: int, message: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert message in response.text


def test_status_reports_the_indexed_version_when_the_node_is_down(client: TestClient) -> None:
    body = client.get("/audit/status").json()
    assert body["indexed_version"] == len(scenario()) - 1
    assert body["chain_version"] is None and body["lag"] is None


def test_openapi_documents_the_audit_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/audit/reconcile", "/audit/accounts/{address}/history", "/audit/jobs/{job_id}/ledger"} <= set(paths)


def test_health_and_metrics_report_the_lag_and_a_down_node(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    # the node at :9 is unreachable: the mirror still serves, the chain side is unknown
    assert body["status"] == "degraded"
    assert body["indexer"]["indexed_version"] is not None and body["indexer"]["indexed_version"] >= 0
    assert body["indexer"]["chain_version"] is None and body["indexer"]["lag"] is None
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    indexed = body["indexer"]["indexed_version"]
    assert f'pictor_indexer_indexed_version{{processor="pictor"}} {indexed}' in metrics.text
    assert "pictor_indexer_lag_versions" not in metrics.text  # unknown values are left out, not faked


def test_health_is_503_when_the_database_is_down() -> None:
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
    chain = PictorChain("http://127.0.0.1:9/v1", LOCALNET_PACKAGE_ADDRESS)
    with TestClient(create_app(engine, chain)) as test_client:
        response = test_client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
