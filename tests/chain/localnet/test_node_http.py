"""Unit tests of the localnet's HTTP layer against a real process: routes, headers, error shapes, faucet,
JSON and batch submission, the test clock, and crash recovery (``kill -9``).

Responses are checked against the official Node API spec with the shared ``spec_validator``.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aptos_sdk.account import Account

from chain.localnet import start_localnet_process
from tests.chain.localnet.conftest import (
    OCTAS,
    LocalnetHttp,
    SpecValidator,
    addr_hex,
    bcs_address,
    bcs_u64,
    entry_payload,
    raw_txn,
    sign,
    sign_simulated,
    uleb128,
    user_txn_hash,
)

pytestmark = pytest.mark.timeout(300)

LEDGER_HEADERS = (
    "x-aptos-chain-id",
    "x-aptos-ledger-version",
    "x-aptos-ledger-oldest-version",
    "x-aptos-ledger-timestampusec",
    "x-aptos-epoch",
    "x-aptos-block-height",
    "x-aptos-oldest-block-height",
)
TRANSFER = "0x1::aptos_account::transfer"


def transfer(http: LocalnetHttp, sender: Account, to: Any, amount: int, **kw: Any) -> bytes:
    return http.build(sender, TRANSFER, [bcs_address(to), bcs_u64(amount)], **kw)


def assert_ledger_headers(response: httpx.Response) -> None:
    for name in LEDGER_HEADERS:
        assert response.headers.get(name, "").isdigit(), f"{name} missing on {response.request.url}"


def test_every_response_carries_the_ledger_headers(http: LocalnetHttp) -> None:
    responses = [
        http.get(""),
        http.get("-/healthy"),
        http.get("accounts/0x1"),
        http.get("accounts/0xdeadbeef"),  # 404
        http.get("accounts/not-an-address"),  # 400
        http.get("transactions/by_hash/0x" + "ab" * 32),  # 404
        http.get("no/such/route"),  # 404
        http.post_bcs("transactions", b"\x00", "application/x.aptos.signed_transaction+bcs"),  # 400
        http.post_json("view", {"function": "0x1::timestamp::now_microseconds", "type_arguments": [], "arguments": []}),
    ]
    for response in responses:
        assert_ledger_headers(response)
    assert [r.status_code for r in responses] == [200, 200, 200, 404, 400, 404, 404, 400, 200]
    assert responses[6].json() == {"message": "not found", "error_code": "web_framework_error"}


def test_read_endpoints_match_the_spec(http: LocalnetHttp, spec_validator: SpecValidator) -> None:
    alice = http.new_account(2 * OCTAS)
    address = addr_hex(alice.address())
    txn = http.submit_and_wait(transfer(http, alice, "0x1234", 1000))
    version = int(txn["version"])
    checks = [
        (http.get(""), 200),
        (http.get("-/healthy"), 200),
        (http.get(f"accounts/{address}"), 200),
        (http.get(f"accounts/{address}/resources"), 200),
        (http.get(f"accounts/{address}/resource/0x1::account::Account"), 200),
        (http.get(f"accounts/{address}/resource/0x1::nope::Nope"), 404),
        (http.get(f"accounts/{address}/transactions"), 200),
        (http.get(f"accounts/{address}/events/3"), 200),
        (
            http.get(f"accounts/{address}/events/0x1::coin::CoinStore%3C0x1::aptos_coin::AptosCoin%3E/withdraw_events"),
            200,
        ),
        (http.get("accounts/0x1/modules"), 200),
        (http.get("accounts/0x1/module/coin"), 200),
        (http.get("transactions", start=0, limit=5), 200),
        (http.get(f"transactions/by_hash/{txn['hash']}"), 200),
        (http.get(f"transactions/by_version/{version}"), 200),
        (http.get(f"transactions/by_version/{version + 10**9}"), 404),
        (http.get("transactions/by_version/0"), 200),
        (http.get("estimate_gas_price"), 200),
        (http.get("blocks/by_version/1", with_transactions="true"), 200),
        (http.get("blocks/by_height/1"), 200),
        (http.get(f"accounts/{address}", ledger_version=version - 1), 200),
    ]
    for response, status in checks:
        assert_ledger_headers(response)
        spec_validator.validate(response, expect_status=status)
    resources = http.get(f"accounts/{address}/resources").json()
    assert {r["type"] for r in resources} >= {
        "0x1::account::Account",
        "0x1::coin::CoinStore<0x1::aptos_coin::AptosCoin>",
    }
    page = http.get("transactions", start=version, limit=1).json()
    assert page == [txn]
    events = http.get(f"accounts/{address}/events/3").json()
    assert events[-1]["version"] == str(version) and events[-1]["type"] == "0x1::coin::WithdrawEvent"


def test_submission_errors_match_the_spec(http: LocalnetHttp, spec_validator: SpecValidator) -> None:
    alice = http.new_account(OCTAS)
    bad_chain = transfer(http, alice, "0x1", 1, seq=0)
    raw = raw_txn(alice, 0, entry_payload(TRANSFER, [bcs_address("0x1"), bcs_u64(1)]), chain_id=http.chain_id + 1)
    for data, code in ((sign(alice, raw), "vm_error"), (b"\x01\x02", "invalid_input")):
        response = http.submit(data)
        body = spec_validator.validate(response, expect_status=400)
        assert body["error_code"] == code
    response = http.submit(sign(alice, raw))
    assert response.json()["vm_error_code"] == 23  # BAD_CHAIN_ID
    assert response.json()["message"] == "Invalid transaction: Type: Validation Code: BAD_CHAIN_ID"
    accepted = http.submit(bad_chain)
    assert spec_validator.validate(accepted, expect_status=202)["hash"] == user_txn_hash(bad_chain)
    http.wait(user_txn_hash(bad_chain))


def test_json_submission_batch_and_wait_by_hash(http: LocalnetHttp, spec_validator: SpecValidator) -> None:
    alice = http.new_account(OCTAS)
    signed = transfer(http, alice, "0x77", 5, seq=0)
    auth = signed[-(1 + 32 + 1 + 64) :]
    body = {
        "sender": addr_hex(alice.address()),
        "sequence_number": "0",
        "max_gas_amount": "100000",
        "gas_unit_price": "100",
        "expiration_timestamp_secs": str(int.from_bytes(signed[-(1 + 1 + 32 + 1 + 64 + 1 + 8) :][:8], "little")),
        "payload": {
            "type": "entry_function_payload",
            "function": TRANSFER,
            "type_arguments": [],
            "arguments": ["0x77", "5"],
        },
        "signature": {
            "type": "ed25519_signature",
            "public_key": "0x" + auth[1:33].hex(),
            "signature": "0x" + auth[34:].hex(),
        },
    }
    response = http.post_json("transactions", body)
    assert spec_validator.validate(response, expect_status=202)["hash"] == user_txn_hash(signed)
    waited = http.get(f"transactions/wait_by_hash/{user_txn_hash(signed)}")
    assert waited.status_code == 200 and waited.json()["type"] == "user_transaction"

    good = [transfer(http, alice, "0x77", 1, seq=s) for s in (1, 2)]
    bad = transfer(http, alice, "0x77", 1, seq=1000)
    batch = uleb128(3) + good[0] + good[1] + bad
    response = http.post_bcs("transactions/batch", batch, "application/x.aptos.signed_transaction+bcs")
    result = spec_validator.validate(response, expect_status=206)
    assert [f["transaction_index"] for f in result["transaction_failures"]] == [2]
    assert result["transaction_failures"][0]["error"]["error_code"] == "vm_error"
    for data in good:
        assert http.wait(user_txn_hash(data))["success"]

    parked = transfer(http, alice, "0x77", 1, seq=10)  # a gap: waits in the mempool
    assert http.submit(parked).status_code == 202
    pending = http.get(f"transactions/by_hash/{user_txn_hash(parked)}")
    assert spec_validator.validate(pending, expect_status=200)["type"] == "pending_transaction"


def test_simulate_and_view_over_http(http: LocalnetHttp, spec_validator: SpecValidator) -> None:
    alice = http.new_account(OCTAS)
    raw = raw_txn(alice, 0, entry_payload(TRANSFER, [bcs_address("0x99"), bcs_u64(3)]), chain_id=http.chain_id)
    response = http.simulate(sign_simulated(alice, raw))
    sim = spec_validator.validate(response, expect_status=200)
    assert sim[0]["success"] is True
    response = http.simulate(sign(alice, raw))
    assert spec_validator.validate(response, expect_status=400)["error_code"] == "invalid_input"
    view = http.post_json(
        "view",
        {
            "function": "0x1::coin::balance",
            "type_arguments": ["0x1::aptos_coin::AptosCoin"],
            "arguments": [addr_hex(alice.address())],
        },
    )
    # (the spec's MoveValue schema says "type: object", which no scalar result can match: not validated)
    assert view.status_code == 200 and view.json() == [str(OCTAS)]
    request = bytes(31) + b"\x01" + uleb128(9) + b"timestamp" + uleb128(16) + b"now_microseconds" + b"\x00\x00"
    bcs_view = http.post_bcs("view", request, "application/x.aptos.view_function+bcs")
    assert bcs_view.status_code == 200 and int(bcs_view.json()[0]) > 0
    bcs_out = http.client.post(
        http.url("view"),
        content=request,
        headers={"Content-Type": "application/x.aptos.view_function+bcs", "Accept": "application/x-bcs"},
    )
    assert bcs_out.status_code == 200 and bcs_out.content[0] == 1 and len(bcs_out.content) == 9
    malformed = http.post_bcs("view", request[:-1], "application/x.aptos.view_function+bcs")
    assert spec_validator.validate(malformed, expect_status=400)["error_code"] == "invalid_input"
    error = http.post_json("view", {"function": "0x1::nope::nope", "type_arguments": [], "arguments": []})
    assert spec_validator.validate(error, expect_status=400)["error_code"] == "invalid_input"


def test_faucet_and_test_clock(localnet: Any, http: LocalnetHttp) -> None:
    assert httpx.get(localnet.faucet_url).text == "tap:ok"
    account = Account.generate()
    response = httpx.post(localnet.faucet_url + "/mint", params={"address": str(account.address()), "amount": 7})
    assert response.status_code == 200
    (txn_hash,) = response.json()
    assert http.get(f"transactions/by_hash/{txn_hash}").json()["success"] is True  # committed before answering
    assert http.apt_balance(account.address()) == 7
    assert httpx.post(localnet.faucet_url + "/mint", params={"address": "zz", "amount": 1}).status_code == 400

    before = int(http.get("").json()["ledger_timestamp"])
    advanced = http.client.post(http.url("-/test/clock/advance"), params={"seconds": 86_400})
    assert advanced.status_code == 200
    now = int(advanced.json()["timestamp_us"])
    assert now >= before + 86_400_000_000
    assert int(http.get("").json()["ledger_timestamp"]) >= now
    seconds = http.view("0x1::timestamp::now_seconds", [])
    assert int(seconds[0]) >= now // 1_000_000
    # SDK-style transactions (expiry = wall clock + TTL) still go through after the advance
    alice = http.new_account(OCTAS)
    assert http.submit_and_wait(transfer(http, alice, "0x5", 1))["success"]


def test_kill_9_loses_no_committed_transaction(tmp_path: Path) -> None:
    data_dir = tmp_path / "chain"
    proc = start_localnet_process(data_dir)
    try:
        http = LocalnetHttp(proc.node_url, proc.faucet_url)
        assert http.client.post(http.url("-/test/clock/advance"), params={"seconds": 1}).status_code == 404
        alice = http.new_account(10 * OCTAS)
        committed = [http.submit_and_wait(transfer(http, alice, "0x42", 1, seq=s))["hash"] for s in range(3)]
        in_flight = [transfer(http, alice, "0x42", 1, seq=s) for s in range(3, 40)]
        for data in in_flight:
            http.submit(data)
        # wait until at least one more is reported committed, then crash mid-stream
        http.wait(user_txn_hash(in_flight[0]))
        reported = committed + [
            user_txn_hash(d)
            for d in in_flight
            if http.get(f"transactions/by_hash/{user_txn_hash(d)}").json().get("type") == "user_transaction"
        ]
        proc.kill(signal.SIGKILL)
        http.close()
    finally:
        proc.stop()

    proc = start_localnet_process(data_dir)
    try:
        http = LocalnetHttp(proc.node_url, proc.faucet_url)
        for txn_hash in reported:
            assert http.get(f"transactions/by_hash/{txn_hash}").json()["type"] == "user_transaction"
        last = http.ledger_version()
        versions = [
            int(t["version"])
            for start in range(0, last + 1, 100)
            for t in http.get("transactions", start=start, limit=100).json()
        ]
        assert versions == list(range(last + 1))
        seq = http.seq(alice.address())
        assert seq >= len(reported)  # every reported transaction bumped the sequence number
        assert http.submit_and_wait(transfer(http, alice, "0x42", 1, seq=seq))["success"]
        http.close()
    finally:
        proc.stop()
