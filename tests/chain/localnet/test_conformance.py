"""Conformance of the localnet's REST API with the official Aptos Node API v1 spec.

Every response the client and the SDK use, success and error, is checked against the response the
OpenAPI document (``../shared/conformance/aptos-node-api-v1.2.0.spec.json``) declares for that
operation and status: the JSON body against the schema (``$ref``s resolved, OpenAPI ``nullable`` /
``oneOf`` + discriminator / ``allOf`` translated to JSON Schema), the declared ``X-APTOS-*`` headers
present and well-formed, the content type one the operation declares.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx
import pytest
from aptos_sdk.account import Account

from chain.client import PictorChain
from chain.localnet import start_localnet_process
from chain.localnet.vm import pictor as pictor_vm

pytestmark = pytest.mark.timeout(300)

PICTOR = pictor_vm.PICTOR
APT_COIN = "0x1::aptos_coin::AptosCoin"
COIN_STORE = f"0x1::coin::CoinStore<{APT_COIN}>"
LEDGER_HEADERS = (
    "X-APTOS-CHAIN-ID",
    "X-APTOS-LEDGER-VERSION",
    "X-APTOS-LEDGER-OLDEST-VERSION",
    "X-APTOS-LEDGER-TIMESTAMPUSEC",
    "X-APTOS-EPOCH",
    "X-APTOS-BLOCK-HEIGHT",
    "X-APTOS-OLDEST-BLOCK-HEIGHT",
)


@dataclass
class World:
    """Accounts and transactions every test of this module can read."""

    alice: Account
    bob: Account
    ok_txn: dict[str, Any]  # a successful pictor transaction
    failed_txn: dict[str, Any]  # a committed transaction that aborted


@pytest.fixture(scope="module")
def world(http: Any, tx: ModuleType) -> World:
    alice = http.new_account(5 * tx.OCTAS)
    bob = http.new_account(tx.OCTAS)
    ok_txn = http.run(alice, f"{PICTOR}::token::faucet", [tx.bcs_u64(30 * tx.OCTAS)])
    assert ok_txn["success"], ok_txn["vm_status"]
    failed_txn = http.run(alice, f"{PICTOR}::vault::withdraw", [tx.bcs_u64(1)])
    assert not failed_txn["success"]
    return World(alice, bob, ok_txn, failed_txn)


def ok(spec_validator: Any, response: httpx.Response, status: int = 200) -> Any:
    return spec_validator.validate(response, expect_status=status)


def aptos_error(spec_validator: Any, response: httpx.Response, status: int, error_code: str | None = None) -> dict:
    body = spec_validator.validate(response, expect_status=status)
    if error_code is not None:
        assert body["error_code"] == error_code, body
    return body


# --------------------------------------------------------------------------- the spec and the validator


def test_spec_file_is_the_official_openapi_document(node_api_spec: dict[str, Any]) -> None:
    assert node_api_spec["openapi"].startswith("3.0")
    assert node_api_spec["info"]["version"] == "1.2.0"
    for path in ("/", "/-/healthy", "/transactions", "/transactions/simulate", "/view", "/estimate_gas_price"):
        assert path in node_api_spec["paths"]


def _fake(method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request(method, f"http://localnet/v1{path}")
    base = {h: "1" for h in LEDGER_HEADERS}
    return httpx.Response(status, json=body, headers={**base, **(headers or {})}, request=request)


def test_the_validator_rejects_what_the_spec_forbids(spec_validator: Any) -> None:
    """The validator itself: conforming bodies pass, each kind of deviation is caught."""
    ConformanceError = AssertionError  # noqa: N806 - the validator's error is an AssertionError subclass
    index = {
        "chain_id": 4, "epoch": "1", "ledger_version": "10", "oldest_ledger_version": "0",
        "ledger_timestamp": "1", "node_role": "validator", "oldest_block_height": "0", "block_height": "3",
    }
    spec_validator.validate(_fake("GET", "", 200, index), expect_status=200)
    for bad in (
        {**index, "ledger_version": 10},  # u64 must be a string
        {**index, "node_role": "miner"},  # enum
        {k: v for k, v in index.items() if k != "epoch"},  # required
        {**index, "block_height": "-1"},  # uint64 format
    ):
        with pytest.raises(ConformanceError):
            spec_validator.validate(_fake("GET", "", 200, bad))
    with pytest.raises(ConformanceError, match="required header"):
        response = _fake("GET", "", 200, index)
        del response.headers["X-APTOS-EPOCH"]
        spec_validator.validate(response)
    with pytest.raises(ConformanceError, match="declares only"):
        spec_validator.validate(_fake("GET", "", 418, index))
    # discriminated unions: the tag selects the branch, an unknown tag fails
    error = {"message": "x", "error_code": "not_a_code"}
    with pytest.raises(ConformanceError):
        spec_validator.validate(_fake("GET", "/accounts/0x1", 404, error))
    pending = {
        "type": "pending_transaction", "hash": "0x" + "ab" * 32, "sender": "0x1", "sequence_number": "0",
        "max_gas_amount": "1", "gas_unit_price": "1", "expiration_timestamp_secs": "1",
        "payload": {"type": "entry_function_payload", "function": "0x1::a::b", "type_arguments": [], "arguments": []},
    }
    spec_validator.validate(_fake("GET", f"/transactions/by_hash/0x{'ab' * 32}", 200, pending))
    with pytest.raises(ConformanceError):
        spec_validator.validate(_fake("GET", f"/transactions/by_hash/0x{'ab' * 32}", 200, {**pending, "type": "user_transaction"}))
    with pytest.raises(ConformanceError):
        spec_validator.validate(_fake("GET", f"/transactions/by_hash/0x{'ab' * 32}", 200, {**pending, "type": "other"}))


# --------------------------------------------------------------------------- ledger, health, gas


def test_index_and_its_headers(http: Any, spec_validator: Any, world: World) -> None:
    response = http.get("")
    body = ok(spec_validator, response)
    headers = response.headers
    assert int(headers["X-APTOS-CHAIN-ID"]) == body["chain_id"]
    assert headers["X-APTOS-LEDGER-VERSION"] == body["ledger_version"]
    assert headers["X-APTOS-LEDGER-TIMESTAMPUSEC"] == body["ledger_timestamp"]
    assert headers["X-APTOS-BLOCK-HEIGHT"] == body["block_height"]
    assert headers["X-APTOS-EPOCH"] == body["epoch"]
    assert headers["X-APTOS-LEDGER-OLDEST-VERSION"] == body["oldest_ledger_version"] == "0"
    assert int(body["ledger_timestamp"]) > 1_600_000_000 * 10**6  # microseconds of a real clock


def test_healthy(http: Any, spec_validator: Any, world: World) -> None:
    assert ok(spec_validator, http.get("-/healthy"))["message"]
    ok(spec_validator, http.get("-/healthy", duration_secs=3600))


def test_a_fresh_localnet_is_healthy_within_a_latency_bound(tmp_path: Any, spec_validator: Any) -> None:
    """Once ``start_localnet_process`` returns, the ledger clock is current (Aptos's local testnet produces
    blocks from the start): ``/-/healthy?duration_secs=N`` is 200 and the ledger timestamp is not 1970."""

    proc = start_localnet_process(tmp_path / "fresh")
    try:
        with httpx.Client(timeout=30) as client:
            index = ok(spec_validator, client.get(proc.node_url))
            health = client.get(proc.node_url + "/-/healthy", params={"duration_secs": 60})
        assert health.status_code == 200, f"fresh localnet unhealthy: {health.text}"
        assert abs(int(index["ledger_timestamp"]) / 1e6 - time.time()) < 60, index
    finally:
        proc.stop()


def test_estimate_gas_price(http: Any, spec_validator: Any) -> None:
    body = ok(spec_validator, http.get("estimate_gas_price"))
    assert body["gas_estimate"] >= 100
    assert body["deprioritized_gas_estimate"] <= body["gas_estimate"] <= body["prioritized_gas_estimate"]


# --------------------------------------------------------------------------- accounts, resources, modules


def test_account(http: Any, spec_validator: Any, world: World, tx: ModuleType) -> None:
    body = ok(spec_validator, http.get(f"accounts/{world.alice.address()}"))
    assert body["authentication_key"] == world.alice.auth_key()
    assert int(body["sequence_number"]) == 2
    at_genesis = http.get(f"accounts/{world.alice.address()}", ledger_version=0)
    aptos_error(spec_validator, at_genesis, 404, "account_not_found")
    aptos_error(spec_validator, http.get(f"accounts/{Account.generate().address()}"), 404, "account_not_found")
    aptos_error(spec_validator, http.get("accounts/0xnothex"), 400)
    aptos_error(spec_validator, http.get("accounts/1"), 400)  # short hex needs the 0x prefix (Aptos's Address)
    unprefixed = str(world.alice.address())[2:].rjust(64, "0")
    assert ok(spec_validator, http.get(f"accounts/{unprefixed}")) == body  # 64 digits without 0x are fine
    aptos_error(spec_validator, http.get(f"accounts/{world.alice.address()}", ledger_version=2**62), 404)


def test_resources(http: Any, spec_validator: Any, world: World) -> None:
    resources = ok(spec_validator, http.get(f"accounts/{world.alice.address()}/resources"))
    types = [r["type"] for r in resources]
    assert "0x1::account::Account" in types and COIN_STORE in types
    page = http.get(f"accounts/{world.alice.address()}/resources", limit=1)
    first_page = ok(spec_validator, page)
    assert len(first_page) == 1
    cursor = page.headers.get("X-APTOS-CURSOR")
    assert cursor, "a truncated page must carry X-APTOS-CURSOR"
    rest = ok(spec_validator, http.get(f"accounts/{world.alice.address()}/resources", start=cursor))
    assert [r["type"] for r in first_page + rest] == types
    aptos_error(spec_validator, http.get(f"accounts/{Account.generate().address()}/resources"), 404)


def test_resource_by_type(http: Any, spec_validator: Any, world: World) -> None:
    account = ok(spec_validator, http.get(f"accounts/{world.alice.address()}/resource/0x1::account::Account"))
    assert account["type"] == "0x1::account::Account"
    store = ok(spec_validator, http.get(f"accounts/{world.alice.address()}/resource/{COIN_STORE}"))
    assert int(store["data"]["coin"]["value"]) == http.apt_balance(world.alice.address())
    config = ok(spec_validator, http.get(f"accounts/{PICTOR}/resource/{PICTOR}::config::Config"))
    assert config["data"]["paused"] is False
    missing = http.get(f"accounts/{world.bob.address()}/resource/{PICTOR}::config::Config")
    body = aptos_error(spec_validator, missing, 404, "resource_not_found")
    assert "Config" in body["message"]
    aptos_error(spec_validator, http.get(f"accounts/{world.bob.address()}/resource/not::a type"), 400)


def test_modules(http: Any, spec_validator: Any) -> None:
    modules = ok(spec_validator, http.get(f"accounts/{PICTOR}/modules"))
    names = {m["abi"]["name"] for m in modules if "abi" in m}
    assert {"config", "token", "vault", "registry", "staking", "escrow", "attestation", "rewards"} <= names
    escrow = ok(spec_validator, http.get(f"accounts/{PICTOR}/module/escrow"))
    functions = {f["name"]: f for f in escrow["abi"]["exposed_functions"]}
    assert functions["open_job"]["is_entry"] and not functions["open_job"]["is_view"]
    assert functions["job"]["is_view"]
    aptos_error(spec_validator, http.get(f"accounts/{PICTOR}/module/no_such_module"), 404, "module_not_found")


# --------------------------------------------------------------------------- transactions


def test_transactions_list_genesis_and_blocks(http: Any, spec_validator: Any, world: World) -> None:
    page = ok(spec_validator, http.get("transactions", start=0, limit=5))
    assert [int(t["version"]) for t in page] == list(range(len(page)))
    assert page[0]["type"] == "genesis_transaction"
    kinds = {t["type"] for t in page}
    assert "block_metadata_transaction" in kinds
    latest = ok(spec_validator, http.get("transactions"))
    assert latest and int(latest[-1]["version"]) <= http.ledger_version()
    aptos_error(spec_validator, http.get("transactions", start=2**62), 400)
    aptos_error(spec_validator, http.get("transactions", limit="many"), 400)


def test_transaction_by_hash_and_version(http: Any, spec_validator: Any, world: World) -> None:
    for txn in (world.ok_txn, world.failed_txn):
        by_hash = ok(spec_validator, http.get(f"transactions/by_hash/{txn['hash']}"))
        by_version = ok(spec_validator, http.get(f"transactions/by_version/{txn['version']}"))
        assert by_hash == by_version == txn
        assert by_hash["type"] == "user_transaction"
    genesis = ok(spec_validator, http.get("transactions/by_version/0"))
    assert genesis["type"] == "genesis_transaction"
    assert ok(spec_validator, http.get(f"transactions/by_hash/{genesis['hash']}"))["version"] == "0"
    aptos_error(spec_validator, http.get(f"transactions/by_hash/0x{'00' * 32}"), 404, "transaction_not_found")
    aptos_error(spec_validator, http.get(f"transactions/by_version/{2**62}"), 404)
    aptos_error(spec_validator, http.get("transactions/by_hash/0x1234"), 400)
    aptos_error(spec_validator, http.get("transactions/by_version/minus-one"), 400)


def test_pending_transaction(http: Any, spec_validator: Any, tx: ModuleType) -> None:
    """A transaction whose predecessor is missing waits in the mempool: by_hash shows it pending."""
    carol = http.new_account(2 * tx.OCTAS)
    later = http.build(carol, f"{PICTOR}::token::faucet", [tx.bcs_u64(2)], seq=1)
    submitted = ok(spec_validator, http.submit(later), 202)
    pending = ok(spec_validator, http.get(f"transactions/by_hash/{submitted['hash']}"))
    assert pending["type"] == "pending_transaction"
    assert pending["hash"] == submitted["hash"] == tx.user_txn_hash(later)
    again = ok(spec_validator, http.submit(later), 202)  # the same bytes again: accepted, not duplicated
    assert again["hash"] == submitted["hash"]
    first_txn = http.run(carol, f"{PICTOR}::token::faucet", [tx.bcs_u64(1)])
    assert first_txn["success"]
    committed = http.wait(submitted["hash"])
    assert committed["type"] == "user_transaction" and committed["sequence_number"] == "1"
    assert http.seq(carol.address()) == 2
    history = ok(spec_validator, http.get(f"accounts/{carol.address()}/transactions"))
    assert [t["sequence_number"] for t in history] == ["0", "1"]
    spec_validator.validate(http.get(f"transactions/by_hash/{submitted['hash']}"), expect_status=200)


def test_account_transactions(http: Any, spec_validator: Any, world: World) -> None:
    txns = ok(spec_validator, http.get(f"accounts/{world.alice.address()}/transactions"))
    assert [t["hash"] for t in txns] == [world.ok_txn["hash"], world.failed_txn["hash"]]
    assert ok(spec_validator, http.get(f"accounts/{world.alice.address()}/transactions", start=1, limit=1)) == [
        world.failed_txn
    ]
    aptos_error(spec_validator, http.get(f"accounts/{Account.generate().address()}/transactions"), 404)


def test_blocks(http: Any, spec_validator: Any, world: World) -> None:
    block = ok(spec_validator, http.get(f"blocks/by_version/{world.ok_txn['version']}", with_transactions="true"))
    assert int(block["first_version"]) <= int(world.ok_txn["version"]) <= int(block["last_version"])
    assert world.ok_txn["hash"] in [t["hash"] for t in block["transactions"]]
    by_height = ok(spec_validator, http.get(f"blocks/by_height/{block['block_height']}"))
    assert by_height["block_hash"] == block["block_hash"] and "transactions" not in by_height
    aptos_error(spec_validator, http.get(f"blocks/by_height/{2**62}"), 404, "block_not_found")


# --------------------------------------------------------------------------- submission


def json_request(signer: Account, raw: Any, function_id: str, arguments: list[Any], signature: bytes) -> dict:
    """The JSON ``SubmitTransactionRequest`` equivalent of a BCS transaction."""
    return {
        "sender": str(signer.address()),
        "sequence_number": str(raw.sequence_number),
        "max_gas_amount": str(raw.max_gas_amount),
        "gas_unit_price": str(raw.gas_unit_price),
        "expiration_timestamp_secs": str(raw.expiration_timestamps_secs),
        "payload": {
            "type": "entry_function_payload",
            "function": function_id,
            "type_arguments": [],
            "arguments": arguments,
        },
        "signature": {
            "type": "ed25519_signature",
            "public_key": "0x" + signer.public_key().key.encode().hex(),  # type: ignore[attr-defined]
            "signature": "0x" + signature.hex(),
        },
    }


def test_submit_bcs_and_json(http: Any, spec_validator: Any, tx: ModuleType) -> None:
    dave = http.new_account(2 * tx.OCTAS)
    signed = http.build(dave, f"{PICTOR}::token::faucet", [tx.bcs_u64(5)])
    pending = ok(spec_validator, http.submit(signed), 202)
    assert pending["hash"] == tx.user_txn_hash(signed)
    assert pending["sequence_number"] == "0"
    assert http.wait(pending["hash"])["success"]

    function_id = f"{PICTOR}::vault::deposit"
    raw = tx.raw_txn(dave, 1, tx.entry_payload(function_id, [tx.bcs_u64(3)]), chain_id=http.chain_id)
    signed = tx.sign(dave, raw)
    signature = dave.sign_transaction(raw).authenticator.signature.data()
    request = json_request(dave, raw, function_id, ["3"], signature)
    spec_validator.validate_body({"$ref": "#/components/schemas/SubmitTransactionRequest"}, request, "request")
    pending = ok(spec_validator, http.post_json("transactions", request), 202)
    assert pending["hash"] == tx.user_txn_hash(signed), "JSON and BCS submissions of one transaction differ"
    committed = http.wait(pending["hash"])
    assert committed["success"], committed["vm_status"]
    assert committed["payload"]["arguments"] == ["3"]


@dataclass
class BadSubmission:
    name: str
    build: Any  # (http, tx, account) -> httpx.Response
    error_code: str
    vm_status: str | None = None


def _raw(http: Any, tx: ModuleType, account: Account, **kw: Any) -> Any:
    seq = kw.pop("seq", http.seq(account.address()))
    payload = tx.entry_payload(f"{PICTOR}::token::faucet", [tx.bcs_u64(1)])
    return tx.raw_txn(account, seq, payload, chain_id=kw.pop("chain_id", http.chain_id), **kw)


def _bcs(http: Any, tx: ModuleType, account: Account, signer: Account | None = None, **kw: Any) -> httpx.Response:
    return http.submit(tx.sign(signer or account, _raw(http, tx, account, **kw)))


def _tampered(http: Any, tx: ModuleType, account: Account) -> httpx.Response:
    signed = bytearray(tx.sign(account, _raw(http, tx, account)))
    signed[-1] ^= 0x01
    return http.submit(bytes(signed))


def _json(http: Any, tx: ModuleType, account: Account, arguments: list[Any], **overrides: Any) -> httpx.Response:
    raw = _raw(http, tx, account)
    request = json_request(account, raw, f"{PICTOR}::token::faucet", arguments, b"\x00" * 64)
    request.update(overrides)
    return http.post_json("transactions", request)


BAD_SUBMISSIONS = [
    BadSubmission("bad signature", _tampered, "vm_error", "INVALID_SIGNATURE"),
    BadSubmission("wrong auth key", lambda h, t, a: _bcs(h, t, a, signer=Account.generate()), "vm_error", "INVALID_AUTH_KEY"),
    BadSubmission("sequence number too old", lambda h, t, a: _bcs(h, t, a, seq=0), "vm_error", "SEQUENCE_NUMBER_TOO_OLD"),
    BadSubmission("sequence number too new", lambda h, t, a: _bcs(h, t, a, seq=h.seq(a.address()) + 10_000), "vm_error",
                  "SEQUENCE_NUMBER_TOO_NEW"),
    BadSubmission("expired", lambda h, t, a: _bcs(h, t, a, expiration=int(time.time()) - 5), "vm_error",
                  "TRANSACTION_EXPIRED"),
    BadSubmission("wrong chain id", lambda h, t, a: _bcs(h, t, a, chain_id=h.chain_id + 1), "vm_error", "BAD_CHAIN_ID"),
    BadSubmission("max gas above the bound", lambda h, t, a: _bcs(h, t, a, max_gas=2_000_001), "vm_error",
                  "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND"),
    BadSubmission("max gas below the intrinsic cost", lambda h, t, a: _bcs(h, t, a, max_gas=1), "vm_error",
                  "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS"),
    BadSubmission("gas price below the minimum", lambda h, t, a: _bcs(h, t, a, gas_price=99), "vm_error",
                  "GAS_UNIT_PRICE_BELOW_MIN_BOUND"),
    BadSubmission("not enough APT for max gas", lambda h, t, a: _bcs(h, t, a, max_gas=2_000_000, gas_price=10_000),
                  "vm_error", "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"),
    BadSubmission("garbage BCS", lambda h, t, a: h.submit(b"\x01\x02\x03 not a transaction"), "invalid_input"),
    BadSubmission("truncated BCS", lambda h, t, a: h.submit(t.sign(a, _raw(h, t, a))[:-10]), "invalid_input"),
    BadSubmission("JSON u64 max + 1", lambda h, t, a: _json(h, t, a, [str(2**64)]), "invalid_input"),
    BadSubmission("JSON argument of the wrong type", lambda h, t, a: _json(h, t, a, [True]), "invalid_input"),
    BadSubmission("JSON wrong argument count", lambda h, t, a: _json(h, t, a, ["1", "2"]), "invalid_input"),
    BadSubmission("JSON unknown function", lambda h, t, a: _json(
        h, t, a, ["1"], payload={"type": "entry_function_payload", "function": f"{PICTOR}::token::nope",
                                 "type_arguments": [], "arguments": ["1"]}), "invalid_input"),
    BadSubmission("JSON missing signature", lambda h, t, a: _json(h, t, a, ["1"], signature=None), "invalid_input"),
]


@pytest.fixture(scope="module")
def submitter(http: Any, tx: ModuleType) -> Iterator[Account]:
    account = http.new_account(tx.OCTAS)
    assert http.run(account, f"{PICTOR}::token::faucet", [tx.bcs_u64(1)])["success"]  # seq 1: "too old" exists
    yield account


@pytest.mark.parametrize("case", BAD_SUBMISSIONS, ids=[c.name for c in BAD_SUBMISSIONS])
def test_rejected_submissions_are_aptos_errors(
    http: Any, spec_validator: Any, tx: ModuleType, submitter: Account, case: BadSubmission
) -> None:
    response = case.build(http, tx, submitter)
    body = aptos_error(spec_validator, response, 400, case.error_code)
    if case.vm_status is not None:
        assert case.vm_status in body["message"], body
        assert "vm_error_code" in body


# --------------------------------------------------------------------------- simulation


def test_simulate(http: Any, spec_validator: Any, tx: ModuleType, world: World) -> None:
    bob = world.bob
    raw = _raw(http, tx, bob)
    out = ok(spec_validator, http.simulate(tx.sign_simulated(bob, raw)))
    assert len(out) == 1 and out[0]["success"] is True
    failing = tx.raw_txn(bob, http.seq(bob.address()), tx.entry_payload(f"{PICTOR}::vault::withdraw", [tx.bcs_u64(9)]),
                         chain_id=http.chain_id)
    out = ok(spec_validator, http.simulate(tx.sign_simulated(bob, failing)))
    assert out[0]["success"] is False and "E_INSUFFICIENT_BALANCE" in out[0]["vm_status"]
    estimated = http.post_bcs("transactions/simulate", tx.sign_simulated(bob, raw),
                              "application/x.aptos.signed_transaction+bcs",
                              estimate_gas_unit_price="true", estimate_max_gas_amount="true")
    assert ok(spec_validator, estimated)[0]["success"] is True
    aptos_error(spec_validator, http.simulate(tx.sign(bob, raw)), 400)  # a real signature is refused
    aptos_error(spec_validator, http.simulate(b"\x00garbage"), 400)


# --------------------------------------------------------------------------- view


def test_view_json_and_bcs(http: Any, spec_validator: Any, tx: ModuleType, world: World) -> None:
    address = str(world.alice.address())
    request = {"function": f"{PICTOR}::token::balance", "type_arguments": [], "arguments": [address]}
    spec_validator.validate_body({"$ref": "#/components/schemas/ViewRequest"}, request, "request")
    json_out = ok(spec_validator, http.post_json("view", request))
    assert json_out == [str(30 * tx.OCTAS)]
    coin = ok(spec_validator, http.post_json("view", {"function": "0x1::coin::balance",
                                                       "type_arguments": [APT_COIN], "arguments": [address]}))
    assert int(coin[0]) == http.apt_balance(address)
    # BCS request: EntryFunction-shaped (module id, name, type args, BCS args)
    bcs_request = (
        tx.bcs_address(PICTOR) + tx.bcs_bytes(b"token") + tx.bcs_bytes(b"balance") + tx.uleb128(0)
        + tx.uleb128(1) + tx.bcs_bytes(tx.bcs_address(address))
    )
    bcs_out = ok(spec_validator, http.post_bcs("view", bcs_request, "application/x.aptos.view_function+bcs"))
    assert bcs_out == json_out
    raw_out = http.client.post(http.url("view"), json=request, headers={"Accept": "application/x-bcs"})
    body = spec_validator.validate(raw_out, expect_status=200)
    assert body == tx.uleb128(1) + tx.bcs_u64(30 * tx.OCTAS)
    at_version = ok(spec_validator, http.post_json("view", request, ledger_version=int(world.ok_txn["version"]) - 1))
    assert at_version == ["0"]


def test_view_errors(http: Any, spec_validator: Any, tx: ModuleType) -> None:
    abort = http.post_json("view", {"function": f"{PICTOR}::escrow::job", "type_arguments": [], "arguments": ["999999"]})
    body = aptos_error(spec_validator, abort, 400)
    assert "E_JOB_NOT_FOUND" in body["message"]
    for request in (
        {"function": f"{PICTOR}::token::nope", "type_arguments": [], "arguments": []},
        {"function": f"{PICTOR}::token::balance", "type_arguments": [], "arguments": []},
        {"function": f"{PICTOR}::token::balance", "type_arguments": [], "arguments": [12345]},  # number as address
        {"function": f"{PICTOR}::token::balance", "type_arguments": [], "arguments": ["0xzz"]},
        {"function": f"{PICTOR}::escrow::job", "type_arguments": [], "arguments": [str(2**64)]},
        {"function": f"{PICTOR}::token::faucet", "type_arguments": [], "arguments": ["1"]},  # not a view
        {"function": "not a function id", "type_arguments": [], "arguments": []},
    ):
        aptos_error(spec_validator, http.post_json("view", request), 400)
    aptos_error(spec_validator, http.post_bcs("view", b"\x01\x02", "application/x.aptos.view_function+bcs"), 400)
    aptos_error(spec_validator, http.post_json("view", {"function": f"{PICTOR}::token::supply", "type_arguments": [],
                                                        "arguments": []}, ledger_version=2**62), 404)


# --------------------------------------------------------------------------- events


def test_events(http: Any, spec_validator: Any, world: World) -> None:
    address = world.alice.address()
    store = ok(spec_validator, http.get(f"accounts/{address}/resource/{COIN_STORE}"))
    creation = int(store["data"]["deposit_events"]["guid"]["id"]["creation_num"])
    by_number = ok(spec_validator, http.get(f"accounts/{address}/events/{creation}"))
    by_handle = ok(spec_validator, http.get(f"accounts/{address}/events/{COIN_STORE}/deposit_events"))
    assert by_number == by_handle
    assert [int(e["data"]["amount"]) for e in by_number] == [5 * 10**8]  # the faucet's one deposit
    assert by_number[0]["type"] == "0x1::coin::DepositEvent"
    limited = ok(spec_validator, http.get(f"accounts/{address}/events/{COIN_STORE}/withdraw_events", start=0, limit=1))
    assert limited == []
    aptos_error(spec_validator, http.get(f"accounts/{address}/events/{COIN_STORE}/no_such_field"), 404)
    aptos_error(spec_validator, http.get(f"accounts/{address}/events/0x1::nope::Nope/x"), 404)
    # module events ride on the transactions, with the zero GUID
    minted = [e for e in world.ok_txn["events"] if e["type"].endswith("::token::Minted")]
    assert minted and minted[0]["guid"] == {"creation_number": "0", "account_address": "0x0"}


# --------------------------------------------------------------------------- the client's own traffic


async def test_every_response_the_client_uses_conforms(localnet: Any, spec_validator: Any, tx: ModuleType) -> None:
    """Run the ``PictorChain`` client through its calls and validate every node response it received."""

    responses: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        if response.request.url.path.startswith("/v1"):
            await response.aread()
            responses.append(response)

    chain = PictorChain(localnet.node_url, PICTOR, faucet_url=localnet.faucet_url, wait_timeout=90)
    chain.rest.client.event_hooks["response"].append(record)
    try:
        user, other = Account.generate(), Account.generate()
        await chain.ledger_info()
        await chain.chain_id()
        assert await chain.healthy()
        assert await chain.account(user.address()) is None
        await chain.fund(user.address(), 3 * tx.OCTAS)
        assert await chain.account_sequence_number(user.address()) == 0
        assert await chain.account_resource(user.address(), "0x1::account::Account") is not None
        assert await chain.account_resource(user.address(), f"{PICTOR}::config::Config") is None
        await chain.gas_unit_price()
        assert await chain.apt_balance(user.address()) == 3 * tx.OCTAS
        ok_result = await chain.submit_and_wait(user, chain.payloads.token_faucet(10 * tx.OCTAS))
        assert ok_result.success
        assert await chain.pictor_balance(user.address()) == 10 * tx.OCTAS
        failed = await chain.submit_and_wait(user, chain.payloads.vault_withdraw(1), check=False)
        assert not failed.success
        simulated = await chain.simulate(user, chain.payloads.vault_deposit(1))
        assert simulated.success
        await chain.transfer_apt(user, other.address(), 1000)
        await chain.transfer_pictor(user, other.address(), 1000)
        assert await chain.transaction_by_hash(ok_result.hash) is not None
        assert await chain.transaction_by_hash("0x" + "00" * 32) is None
        await chain.transaction_by_version(ok_result.version)
        assert await chain.result_by_hash(failed.hash) is not None
        await chain.transactions(0, 10)
        await chain.view(f"{PICTOR}::config::params", [], [])
        with pytest.raises(Exception, match="E_JOB_NOT_FOUND"):
            await chain.view(f"{PICTOR}::escrow::job", [], ["424242"])
        job_store = await chain.views.job_store(1) if await chain.views.next_job_id() > 1 else None
        if job_store is not None:
            await chain.fungible_store_balance(job_store)
        assert await chain.views.vault_store_balance() >= 0
    finally:
        await chain.close()

    assert len(responses) >= 20
    seen: set[tuple[str, str, int]] = set()
    for response in responses:
        spec_validator.validate(response)
        seen.add((response.request.method, spec_validator.template_for(response.request.url.path),
                  response.status_code))
    expected = {
        ("GET", "/", 200), ("GET", "/-/healthy", 200), ("GET", "/accounts/{address}", 200),
        ("GET", "/accounts/{address}", 404), ("GET", "/accounts/{address}/resource/{resource_type}", 200),
        ("GET", "/accounts/{address}/resource/{resource_type}", 404), ("GET", "/estimate_gas_price", 200),
        ("POST", "/view", 200), ("POST", "/view", 400), ("POST", "/transactions", 202),
        ("GET", "/transactions/by_hash/{txn_hash}", 200), ("GET", "/transactions/by_hash/{txn_hash}", 404),
        ("GET", "/transactions/by_version/{txn_version}", 200), ("GET", "/transactions", 200),
        ("POST", "/transactions/simulate", 200),
    }
    assert expected <= seen, f"not exercised: {sorted(expected - seen)}"
