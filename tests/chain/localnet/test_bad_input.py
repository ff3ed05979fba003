"""Bad input against a localnet process: every pictor entry function, every malformed submission.

* wrong argument counts and types, for every entry function the VM registers (derived from
  ``chain.localnet.vm.core.ENTRY_FUNCTIONS``, so a new function is covered automatically): committed as
  failed with the Aptos VM status (``NUMBER_OF_ARGUMENTS_MISMATCH``, ``FAILED_TO_DESERIALIZE_ARGUMENT``);
  the same mistakes in a JSON submission are refused with ``400 invalid_input``;
* zero and overflowing amounts (u64 max, u64 max + 1 as JSON), unknown job/task/node/epoch ids and
  unauthorized signers: the documented abort of chain/SPEC.md (module, name and code in ``vm_status``);
* malformed submissions (bad signature, wrong authentication key, old/too-new sequence number, expired,
  wrong chain id, gas out of bounds, not enough APT for gas, garbage BCS): ``400`` with an ``AptosError``
  carrying the VM status, and nothing enters the chain;
* and a committed failure changes nothing but the sender's gas and sequence number.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import nacl.signing
import pytest
from aptos_sdk.account import Account

from chain.localnet.vm import core
from chain.localnet.vm import pictor as pictor_vm
from tests.support.bcs import uleb128

pytestmark = pytest.mark.timeout(600)

PICTOR = core.norm_addr(pictor_vm.PICTOR)
PICTOR_SHORT = core.short_addr(PICTOR)
U64_MAX = 2**64 - 1
UNIT = 100_000_000
ACCOUNT_T = "0x1::account::Account"
COIN_STORE_T = "0x1::coin::CoinStore<0x1::aptos_coin::AptosCoin>"
REGISTRATION_DOMAIN = b"PICTOR_NODE_REGISTRATION"


def pictor_functions() -> list[core.Function]:
    """The package's single-signer entry functions (test_accounts_sdk.py sends the multi-agent ones)."""
    return sorted(
        (fn for fn in core.ENTRY_FUNCTIONS.values() if core.norm_addr(fn.address) == PICTOR and fn.signers == 1),
        key=lambda fn: (fn.module, fn.name),
    )


FUNCTIONS = pictor_functions()
FUNCTION_IDS = [f"{fn.module}::{fn.name}" for fn in FUNCTIONS]
MULTI_SIGNER_FUNCTIONS = sorted(
    f"{fn.module}::{fn.name}"
    for fn in core.ENTRY_FUNCTIONS.values()
    if core.norm_addr(fn.address) == PICTOR and fn.signers > 1
)


# --------------------------------------------------------------------------- argument encodings per Move type


#: A well-formed BCS value of each parameter type the package uses.
GOOD_BCS: dict[str, bytes] = {
    "u8": b"\x01",
    "u64": (1).to_bytes(8, "little"),
    "bool": b"\x01",
    "address": b"\x00" * 31 + b"\x01",
    "vector<u8>": uleb128(32) + b"\x11" * 32,
    "vector<vector<u8>>": uleb128(1) + uleb128(32) + b"\x22" * 32,
}
#: Bytes that cannot deserialize as each type (too short, out-of-range bool, truncated vectors, trailing bytes).
BAD_BCS: dict[str, list[bytes]] = {
    "u8": [b"", b"\x01\x02"],
    "u64": [b"\x01" * 7, b"\x01" * 9],
    "bool": [b"\x02", b""],
    "address": [b"\x01" * 31, b"\x01" * 33],
    "vector<u8>": [uleb128(5) + b"\x01\x02", uleb128(1) + b"\x01\x02"],
    "vector<vector<u8>>": [uleb128(2) + uleb128(32) + b"\x22" * 32, b"\x80"],
}
#: A JSON value of the right type, and JSON values Aptos refuses for each type (u64+ must be decimal strings,
#: u8 a number, addresses and byte vectors 0x-hex strings).
GOOD_JSON: dict[str, Any] = {
    "u8": 1,
    "u64": "1",
    "bool": True,
    "address": "0x1",
    "vector<u8>": "0x" + "11" * 32,
    "vector<vector<u8>>": ["0x" + "22" * 32],
}
BAD_JSON: dict[str, list[Any]] = {
    "u8": [256, -1, "x", True],
    "u64": [str(U64_MAX + 1), "-1", "1.5", True, None, [1]],
    "bool": ["yes", 1, None],
    "address": [123, "0xzz", True, "0x" + "1" * 65],
    "vector<u8>": ["0xzz", 5, True],
    "vector<vector<u8>>": ["0x11", [5], [True]],
}


#: What Aptos's JSON converter refuses although the value would be unambiguous: a u8 is a JSON number, a u64 a
#: decimal string (never a number), a vector<u8> a hex string (never an array of numbers), an address either
#: ``0x``-prefixed or exactly 64 hex digits (``api/types/src/address.rs``: "1" and "01" are invalid).
STRICT_JSON: dict[str, list[Any]] = {
    "u8": ["1"],
    "u64": [1, 0],
    "vector<u8>": [[1, 2], []],
    "address": ["1", "12345"],
}


def test_the_encodings_cover_every_parameter_type() -> None:
    used = {param for fn in FUNCTIONS for param in fn.params}
    assert FUNCTIONS, "no pictor entry function is registered"
    assert used <= set(GOOD_BCS) == set(BAD_BCS) == set(GOOD_JSON) == set(BAD_JSON), sorted(used - set(GOOD_BCS))
    for move_type, good in GOOD_BCS.items():
        assert core.decode_bcs_arg(move_type, good) is not None
        for bad in BAD_BCS[move_type]:
            with pytest.raises((ValueError, UnicodeDecodeError)):
                core.decode_bcs_arg(move_type, bad)


# --------------------------------------------------------------------------- actors and snapshots


@dataclass
class Actors:
    admin: Account
    coordinator: Account
    creator: Account  # has PICTOR, a vault balance and an open job
    stranger: Account  # APT only
    job_id: int


@pytest.fixture(scope="module")
def actors(http: Any, localnet: Any, tx: ModuleType) -> Actors:
    genesis = tx.genesis_accounts(localnet.data_dir)
    admin, coordinator = genesis["admin"], genesis["coordinator"]
    creator = http.new_account(20 * UNIT)
    stranger = http.new_account(20 * UNIT)
    for account in (admin, coordinator):
        if http.apt_balance(account.address()) < 10 * UNIT:
            http.fund(account.address(), 20 * UNIT)
    assert http.run(admin, f"{PICTOR}::token::mint", [tx.bcs_address(creator.address()), tx.bcs_u64(1000 * UNIT)])[
        "success"
    ]
    assert http.run(creator, f"{PICTOR}::vault::deposit", [tx.bcs_u64(500 * UNIT)])["success"]
    job_id = int(http.view(f"{PICTOR}::escrow::next_job_id", [])[0])
    opened = http.run(creator, f"{PICTOR}::escrow::open_job", [tx.bcs_u64(100 * UNIT), tx.bcs_u64(UNIT // 100)])
    assert opened["success"], opened["vm_status"]
    return Actors(admin, coordinator, creator, stranger, job_id)


GLOBAL_VIEWS = [
    "token::supply", "vault::totals", "vault::store_balance", "staking::totals", "escrow::next_job_id",
    "registry::node_count", "rewards::pool", "rewards::next_epoch", "config::params", "config::fee_split",
    "config::roles", "config::is_paused", "config::credit_signer",
]


def fingerprint(http: Any, account: Account) -> dict[str, Any]:
    """Every package-wide view plus the account's own balances: what a failed transaction must not change."""
    address = str(account.address())
    out: dict[str, Any] = {name: http.view(f"{PICTOR}::{name}", []) for name in GLOBAL_VIEWS}
    out["wallet"] = http.view(f"{PICTOR}::token::balance", [address])
    out["vault"] = http.view(f"{PICTOR}::vault::account", [address])
    out["stake"] = [http.view(f"{PICTOR}::staking::stake_of", [address, role]) for role in (1, 2)]
    out["nonce"] = http.view(f"{PICTOR}::vault::next_claim_nonce", [address])
    return out


def submit_failing(http: Any, signer: Account, function_id: str, args: list[bytes],
                   type_args: list[str] | None = None) -> dict[str, Any]:
    """Run a transaction that must commit as failed; check it changed nothing but gas and sequence number."""
    address = str(signer.address())
    seq, apt = http.seq(address), http.apt_balance(address)
    before = fingerprint(http, signer)
    txn = http.run(signer, function_id, args, type_args)
    assert txn["type"] == "user_transaction"
    assert txn["success"] is False, f"{function_id} succeeded: {txn['events']}"
    fee = int(txn["gas_used"]) * int(txn["gas_unit_price"])
    assert int(txn["gas_used"]) > 0
    assert http.seq(address) == seq + 1
    assert http.apt_balance(address) == apt - fee, "a failed transaction must cost exactly gas_used x gas_unit_price"
    assert fingerprint(http, signer) == before, "a failed transaction changed state"
    written = {(c.get("address"), c.get("data", {}).get("type")) for c in txn["changes"]}
    sender = core.standard_addr(address)
    assert written <= {(sender, ACCOUNT_T), (sender, COIN_STORE_T)}, f"a failed transaction wrote {written}"
    assert [e["type"] for e in txn["events"]] == ["0x1::transaction_fee::FeeStatement"]
    return txn


# --------------------------------------------------------------------------- wrong counts and types (BCS)


def good_args(fn: core.Function) -> list[bytes]:
    return [GOOD_BCS[param] for param in fn.params]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_wrong_argument_count(http: Any, actors: Actors, fn: core.Function) -> None:
    function_id = f"{PICTOR}::{fn.module}::{fn.name}"
    too_many = submit_failing(http, actors.stranger, function_id, [*good_args(fn), GOOD_BCS["u64"]])
    assert "NUMBER_OF_ARGUMENTS_MISMATCH" in too_many["vm_status"], too_many["vm_status"]
    if fn.params:
        too_few = submit_failing(http, actors.stranger, function_id, good_args(fn)[:-1])
        assert "NUMBER_OF_ARGUMENTS_MISMATCH" in too_few["vm_status"], too_few["vm_status"]


WRONG_TYPE_CASES = [
    (fn, index, variant)
    for fn in FUNCTIONS
    for index, param in enumerate(fn.params)
    for variant in range(len(BAD_BCS[param]))
]


@pytest.mark.parametrize(
    ("fn", "index", "variant"),
    WRONG_TYPE_CASES,
    ids=[f"{fn.module}::{fn.name}-arg{index}-{fn.params[index]}-{variant}" for fn, index, variant in WRONG_TYPE_CASES],
)
def test_argument_that_does_not_deserialize(http: Any, actors: Actors, fn: core.Function, index: int,
                                            variant: int) -> None:
    args = good_args(fn)
    args[index] = BAD_BCS[fn.params[index]][variant]
    txn = submit_failing(http, actors.stranger, f"{PICTOR}::{fn.module}::{fn.name}", args)
    assert "FAILED_TO_DESERIALIZE_ARGUMENT" in txn["vm_status"], txn["vm_status"]


@pytest.mark.parametrize("function", MULTI_SIGNER_FUNCTIONS)
def test_multi_signer_function_sent_by_one_signer(http: Any, actors: Actors, function: str) -> None:
    """As on Aptos: the signer count is checked before the arguments, and the transaction commits as failed."""
    txn = submit_failing(http, actors.stranger, f"{PICTOR}::{function}", [])
    assert txn["vm_status"] == "Transaction Executed and Committed with Error NUMBER_OF_SIGNER_ARGUMENTS_MISMATCH"


def test_unknown_function_and_module(http: Any, actors: Actors) -> None:
    txn = submit_failing(http, actors.stranger, f"{PICTOR}::token::no_such_function", [])
    assert "FUNCTION_RESOLUTION_FAILURE" in txn["vm_status"], txn["vm_status"]
    txn = submit_failing(http, actors.stranger, f"{PICTOR}::no_such_module::f", [])
    assert "LINKER_ERROR" in txn["vm_status"], txn["vm_status"]
    txn = submit_failing(http, actors.stranger, f"{PICTOR}::token::balance", [GOOD_BCS["address"]])  # a view
    assert "EXECUTE_ENTRY_FUNCTION_CALLED_ON_NON_ENTRY_FUNCTION" in txn["vm_status"], txn["vm_status"]


# --------------------------------------------------------------------------- the same mistakes as JSON


def json_submission(http: Any, tx: ModuleType, signer: Account, function_id: str, arguments: list[Any]) -> Any:
    raw = tx.raw_txn(signer, http.seq(signer.address()), tx.entry_payload(f"{PICTOR}::token::faucet", []),
                     chain_id=http.chain_id)
    return http.post_json("transactions", {
        "sender": str(signer.address()),
        "sequence_number": str(raw.sequence_number),
        "max_gas_amount": str(raw.max_gas_amount),
        "gas_unit_price": str(raw.gas_unit_price),
        "expiration_timestamp_secs": str(raw.expiration_timestamps_secs),
        "payload": {"type": "entry_function_payload", "function": function_id, "type_arguments": [],
                    "arguments": arguments},
        "signature": {"type": "ed25519_signature", "public_key": "0x" + "00" * 32, "signature": "0x" + "00" * 64},
    })


JSON_TYPE_CASES = [
    (fn, index, bad)
    for fn in FUNCTIONS
    for index, param in enumerate(fn.params)
    for bad in BAD_JSON[param]
]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_json_wrong_argument_count_is_refused(http: Any, tx: ModuleType, actors: Actors, fn: core.Function) -> None:
    good = [GOOD_JSON[param] for param in fn.params]
    seq = http.seq(actors.stranger.address())
    for arguments in ([*good, "1"], good[:-1] if good else None):
        if arguments is None:
            continue
        response = json_submission(http, tx, actors.stranger, f"{PICTOR}::{fn.module}::{fn.name}", arguments)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "invalid_input"
    assert http.seq(actors.stranger.address()) == seq


@pytest.mark.parametrize(
    ("fn", "index", "bad"),
    JSON_TYPE_CASES,
    ids=[f"{fn.module}::{fn.name}-arg{index}-{fn.params[index]}-{bad!r}" for fn, index, bad in JSON_TYPE_CASES],
)
def test_json_argument_of_the_wrong_type_is_refused(http: Any, tx: ModuleType, actors: Actors, fn: core.Function,
                                                   index: int, bad: Any) -> None:
    """As Aptos's API: u64 must be a decimal string in range (u64 max + 1 is refused), u8 a number, …"""
    arguments = [GOOD_JSON[param] for param in fn.params]
    arguments[index] = bad
    response = json_submission(http, tx, actors.stranger, f"{PICTOR}::{fn.module}::{fn.name}", arguments)
    assert response.status_code == 400, f"{fn.params[index]} {bad!r} was accepted: {response.text}"
    body = response.json()
    assert body["error_code"] == "invalid_input" and body["message"], body


STRICT_CASES = [
    (next(fn for fn in FUNCTIONS if move_type in fn.params), move_type, bad)
    for move_type, values in STRICT_JSON.items()
    for bad in values
]


@pytest.mark.parametrize(
    ("fn", "move_type", "bad"),
    STRICT_CASES,
    ids=[f"{move_type}-{bad!r}-via-{fn.module}::{fn.name}" for fn, move_type, bad in STRICT_CASES],
)
def test_json_argument_in_the_wrong_json_form_is_refused(http: Any, tx: ModuleType, actors: Actors,
                                                         fn: core.Function, move_type: str, bad: Any) -> None:
    """Aptos's JSON forms are strict (u64 as a string, u8 as a number, bytes as hex): a client that gets them
    wrong must fail on the localnet as it would on Aptos, not only later on devnet."""
    arguments = [GOOD_JSON[param] for param in fn.params]
    arguments[fn.params.index(move_type)] = bad
    response = json_submission(http, tx, actors.stranger, f"{PICTOR}::{fn.module}::{fn.name}", arguments)
    assert response.status_code == 400 and response.json()["error_code"] == "invalid_input", (
        f"{move_type} given as {bad!r} was converted: {response.status_code} {response.text}"
    )
    view = http.post_json("view", {"function": f"{PICTOR}::token::balance", "type_arguments": [],
                                   "arguments": [GOOD_JSON["address"]]})
    assert view.status_code == 200  # the same node still answers well-formed requests


def test_json_u64_max_is_accepted_and_reaches_the_function(http: Any, tx: ModuleType, actors: Actors) -> None:
    """u64 max itself is a valid u64: the call is executed and aborts with the documented check."""
    raw = tx.raw_txn(actors.stranger, http.seq(actors.stranger.address()),
                     tx.entry_payload(f"{PICTOR}::vault::withdraw", [tx.bcs_u64(U64_MAX)]), chain_id=http.chain_id)
    signature = actors.stranger.sign_transaction(raw).authenticator.signature.data()
    response = http.post_json("transactions", {
        "sender": str(actors.stranger.address()),
        "sequence_number": str(raw.sequence_number),
        "max_gas_amount": str(raw.max_gas_amount),
        "gas_unit_price": str(raw.gas_unit_price),
        "expiration_timestamp_secs": str(raw.expiration_timestamps_secs),
        "payload": {"type": "entry_function_payload", "function": f"{PICTOR}::vault::withdraw", "type_arguments": [],
                    "arguments": [str(U64_MAX)]},
        "signature": {"type": "ed25519_signature",
                      "public_key": "0x" + actors.stranger.public_key().key.encode().hex(),  # type: ignore[attr-defined]
                      "signature": "0x" + signature.hex()},
    })
    assert response.status_code == 202, response.text
    txn = http.wait(response.json()["hash"])
    assert txn["success"] is False and "E_INSUFFICIENT_BALANCE" in txn["vm_status"]
    assert txn["payload"]["arguments"] == [str(U64_MAX)]


# --------------------------------------------------------------------------- documented aborts


@dataclass
class AbortCase:
    name: str
    signer: str  # attribute of Actors
    function: str  # module::name (pictor) or a full 0x1 function id
    args: Callable[[Actors, ModuleType], list[bytes]]
    module: str  # abort module (as in vm_status)
    reason: str
    code: int  # chain/SPEC.md (pictor) or the framework's error::<category>(reason)
    framework: bool = False
    type_args: list[str] | None = None


def _u64(*values: int) -> Callable[[Actors, ModuleType], list[bytes]]:
    return lambda a, t: [t.bcs_u64(v) for v in values]


def _node_key_args(role: int, *, bad_key: bool = False, bad_proof: bool = False) -> Callable[[Actors, ModuleType],
                                                                                            list[bytes]]:
    def build(actors: Actors, tx: ModuleType) -> list[bytes]:
        key = nacl.signing.SigningKey(bytes(range(32)))
        public_key = b"\x01" + b"\x00" * 31 if bad_key else bytes(key.verify_key)
        message = REGISTRATION_DOMAIN + tx.bcs_address(actors.stranger.address()) + bytes([role % 256]) + public_key
        proof = key.sign(message).signature
        if bad_proof:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        return [bytes([role % 256]), tx.bcs_bytes(public_key), tx.bcs_bytes(proof)]

    return build


HASH = b"\x33" * 32
ABORT_CASES = [
    # config: every setter is admin-only, checked first
    AbortCase("set_roles by a stranger", "stranger", "config::set_roles",
              lambda a, t: [t.bcs_address(a.stranger.address())] * 3, "config", "E_NOT_ADMIN", 1),
    AbortCase("set_fee_split by a stranger", "stranger", "config::set_fee_split", _u64(1, 1), "config", "E_NOT_ADMIN", 1),
    AbortCase("set_fee_split over 100%", "admin", "config::set_fee_split", _u64(10_001, 0), "config",
              "E_INVALID_FEE_SPLIT", 2),
    AbortCase("set_fee_split u64 max", "admin", "config::set_fee_split", _u64(U64_MAX, U64_MAX), "config",
              "E_INVALID_FEE_SPLIT", 2),
    AbortCase("set_params by a stranger", "stranger", "config::set_params", _u64(1, 1, 1, 1, 1, 1, 1, 1), "config",
              "E_NOT_ADMIN", 1),
    AbortCase("set_params quorum 0", "admin", "config::set_params", _u64(0, 1, 1, 1, 1, 1, 1, 1), "config",
              "E_INVALID_PARAMETER", 3),
    AbortCase("set_params u64 max unbonding", "admin", "config::set_params", _u64(1, 1, 1, U64_MAX, 1, 1, 1, 1),
              "config", "E_INVALID_PARAMETER", 3),
    AbortCase("set_credit_signer by a stranger", "stranger", "config::set_credit_signer",
              lambda a, t: [t.bcs_bytes(b"\x00" * 32)], "config", "E_NOT_ADMIN", 1),
    AbortCase("set_credit_signer 31 bytes", "admin", "config::set_credit_signer",
              lambda a, t: [t.bcs_bytes(b"\x11" * 31)], "config", "E_INVALID_PUBLIC_KEY", 5),
    AbortCase("set_paused by a stranger", "stranger", "config::set_paused", lambda a, t: [b"\x01"], "config",
              "E_NOT_ADMIN", 1),
    # token
    AbortCase("mint by a stranger", "stranger", "token::mint",
              lambda a, t: [t.bcs_address(a.stranger.address()), t.bcs_u64(1)], "token", "E_NOT_ADMIN", 1),
    AbortCase("mint zero", "admin", "token::mint", lambda a, t: [t.bcs_address(a.stranger.address()), t.bcs_u64(0)],
              "token", "E_ZERO_AMOUNT", 2),
    AbortCase("mint u64 max", "admin", "token::mint",
              lambda a, t: [t.bcs_address(a.stranger.address()), t.bcs_u64(U64_MAX)], "token", "E_MAX_SUPPLY", 3),
    AbortCase("faucet zero", "stranger", "token::faucet", _u64(0), "token", "E_ZERO_AMOUNT", 2),
    AbortCase("faucet u64 max", "stranger", "token::faucet", _u64(U64_MAX), "token", "E_FAUCET_LIMIT", 4),
    # vault
    AbortCase("deposit zero", "creator", "vault::deposit", _u64(0), "vault", "E_ZERO_AMOUNT", 1),
    AbortCase("deposit u64 max", "creator", "vault::deposit", _u64(U64_MAX), "fungible_asset", "EINSUFFICIENT_BALANCE",
              0x10004, framework=True),
    AbortCase("withdraw zero", "creator", "vault::withdraw", _u64(0), "vault", "E_ZERO_AMOUNT", 1),
    AbortCase("withdraw u64 max", "creator", "vault::withdraw", _u64(U64_MAX), "vault", "E_INSUFFICIENT_BALANCE", 2),
    AbortCase("claim_credit zero", "creator", "vault::claim_credit",
              lambda a, t: [t.bcs_u64(0), t.bcs_u64(0), t.bcs_u64(U64_MAX), t.bcs_bytes(b"\x00" * 64)], "vault",
              "E_ZERO_AMOUNT", 1),
    AbortCase("claim_credit without a credit signer", "creator", "vault::claim_credit",
              lambda a, t: [t.bcs_u64(1), t.bcs_u64(0), t.bcs_u64(U64_MAX), t.bcs_bytes(b"\x00" * 64)], "vault",
              "E_CLAIMS_DISABLED", 6),
    # registry
    AbortCase("register_node role 0", "stranger", "registry::register_node", _node_key_args(0), "registry",
              "E_INVALID_ROLE", 1),
    AbortCase("register_node role 255", "stranger", "registry::register_node", _node_key_args(255), "registry",
              "E_INVALID_ROLE", 1),
    AbortCase("register_node invalid key", "stranger", "registry::register_node", _node_key_args(1, bad_key=True),
              "registry", "E_INVALID_PUBLIC_KEY", 2),
    AbortCase("register_node bad proof", "stranger", "registry::register_node", _node_key_args(1, bad_proof=True),
              "registry", "E_BAD_PROOF", 3),
    AbortCase("rotate_node_key unknown node", "stranger", "registry::rotate_node_key",
              lambda a, t: [t.bcs_u64(U64_MAX), t.bcs_bytes(b"\x11" * 32), t.bcs_bytes(b"\x00" * 64)], "registry",
              "E_NODE_NOT_FOUND", 5),
    AbortCase("deregister_node unknown node", "stranger", "registry::deregister_node", _u64(987_654), "registry",
              "E_NODE_NOT_FOUND", 5),
    # staking
    AbortCase("stake role 3", "creator", "staking::stake", lambda a, t: [b"\x03", t.bcs_u64(1)], "staking",
              "E_INVALID_ROLE", 2),
    AbortCase("stake zero", "creator", "staking::stake", lambda a, t: [b"\x01", t.bcs_u64(0)], "staking",
              "E_ZERO_AMOUNT", 1),
    AbortCase("stake u64 max", "creator", "staking::stake", lambda a, t: [b"\x01", t.bcs_u64(U64_MAX)],
              "fungible_asset", "EINSUFFICIENT_BALANCE", 0x10004, framework=True),
    AbortCase("request_unstake role 0", "creator", "staking::request_unstake", lambda a, t: [b"\x00", t.bcs_u64(1)],
              "staking", "E_INVALID_ROLE", 2),
    AbortCase("request_unstake zero", "creator", "staking::request_unstake", lambda a, t: [b"\x02", t.bcs_u64(0)],
              "staking", "E_ZERO_AMOUNT", 1),
    AbortCase("request_unstake u64 max", "creator", "staking::request_unstake",
              lambda a, t: [b"\x01", t.bcs_u64(U64_MAX)], "staking", "E_INSUFFICIENT_STAKE", 3),
    AbortCase("withdraw_unstaked with nothing unbonding", "stranger", "staking::withdraw_unstaked", lambda a, t: [],
              "staking", "E_NOTHING_TO_WITHDRAW", 4),
    AbortCase("slash by a stranger", "stranger", "staking::slash",
              lambda a, t: [t.bcs_address(a.creator.address()), b"\x01", t.bcs_u64(1)], "staking", "E_NOT_ADMIN", 5),
    AbortCase("slash role 9", "admin", "staking::slash",
              lambda a, t: [t.bcs_address(a.creator.address()), b"\x09", t.bcs_u64(1)], "staking", "E_INVALID_ROLE", 2),
    AbortCase("slash zero", "admin", "staking::slash",
              lambda a, t: [t.bcs_address(a.creator.address()), b"\x01", t.bcs_u64(0)], "staking", "E_ZERO_AMOUNT", 1),
    # escrow
    AbortCase("open_job zero budget", "creator", "escrow::open_job", _u64(0, 1), "escrow", "E_ZERO_AMOUNT", 1),
    AbortCase("open_job zero price", "creator", "escrow::open_job", _u64(1, 0), "escrow", "E_INVALID_PRICE", 15),
    AbortCase("open_job u64 max budget", "creator", "escrow::open_job", _u64(U64_MAX, 1), "vault",
              "E_INSUFFICIENT_FUNDS", 3),
    AbortCase("top_up unknown job", "creator", "escrow::top_up", _u64(U64_MAX, 1), "escrow", "E_JOB_NOT_FOUND", 2),
    AbortCase("top_up by a stranger", "stranger", "escrow::top_up", lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1)],
              "escrow", "E_NOT_CREATOR", 3),
    AbortCase("top_up zero", "creator", "escrow::top_up", lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(0)], "escrow",
              "E_ZERO_AMOUNT", 1),
    AbortCase("top_up u64 max", "creator", "escrow::top_up", lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(U64_MAX)],
              "vault", "E_INSUFFICIENT_FUNDS", 3),
    AbortCase("assign_task by a stranger", "stranger", "escrow::assign_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1), t.bcs_u64(1), t.bcs_u64(1)], "escrow",
              "E_NOT_COORDINATOR", 4),
    AbortCase("assign_task unknown job", "coordinator", "escrow::assign_task", _u64(U64_MAX, 1, 1, 1), "escrow",
              "E_JOB_NOT_FOUND", 2),
    AbortCase("assign_task zero quote", "coordinator", "escrow::assign_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1), t.bcs_u64(1), t.bcs_u64(0)], "escrow", "E_ZERO_AMOUNT", 1),
    AbortCase("assign_task unknown node", "coordinator", "escrow::assign_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1), t.bcs_u64(U64_MAX), t.bcs_u64(1)], "escrow",
              "E_NODE_NOT_ELIGIBLE", 14),
    AbortCase("requeue_task by a stranger", "stranger", "escrow::requeue_task", _u64(1, 1), "escrow",
              "E_NOT_COORDINATOR", 4),
    AbortCase("requeue_task unknown job", "coordinator", "escrow::requeue_task", _u64(U64_MAX, 1), "escrow",
              "E_JOB_NOT_FOUND", 2),
    AbortCase("requeue_task unknown task", "coordinator", "escrow::requeue_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(U64_MAX)], "escrow", "E_TASK_NOT_FOUND", 7),
    AbortCase("requeue_unverified by a stranger", "stranger", "escrow::requeue_unverified", _u64(1, 1), "escrow",
              "E_NOT_COORDINATOR", 4),
    AbortCase("requeue_unverified unknown job", "coordinator", "escrow::requeue_unverified", _u64(U64_MAX, 1),
              "escrow", "E_JOB_NOT_FOUND", 2),
    AbortCase("requeue_unverified unknown task", "coordinator", "escrow::requeue_unverified",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(U64_MAX)], "escrow", "E_TASK_NOT_FOUND", 7),
    AbortCase("submit_result unknown job", "stranger", "escrow::submit_result",
              lambda a, t: [t.bcs_u64(U64_MAX), t.bcs_u64(1), t.bcs_bytes(HASH), t.bcs_u64(1)], "escrow",
              "E_JOB_NOT_FOUND", 2),
    AbortCase("submit_result unknown task", "stranger", "escrow::submit_result",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(77), t.bcs_bytes(HASH), t.bcs_u64(1)], "escrow",
              "E_TASK_NOT_FOUND", 7),
    AbortCase("accept_task unknown job", "creator", "escrow::accept_task", _u64(U64_MAX, 1), "escrow",
              "E_JOB_NOT_FOUND", 2),
    AbortCase("accept_task by a stranger", "stranger", "escrow::accept_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1)], "escrow", "E_NOT_CREATOR", 3),
    AbortCase("accept_task unknown task", "creator", "escrow::accept_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(U64_MAX)], "escrow", "E_TASK_NOT_FOUND", 7),
    AbortCase("finalize_task unknown job", "stranger", "escrow::finalize_task", _u64(U64_MAX, 1), "escrow",
              "E_JOB_NOT_FOUND", 2),
    AbortCase("finalize_task unknown task", "stranger", "escrow::finalize_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(5)], "escrow", "E_TASK_NOT_FOUND", 7),
    AbortCase("dispute_task unknown job", "creator", "escrow::dispute_task", _u64(U64_MAX, 1), "escrow",
              "E_JOB_NOT_FOUND", 2),
    AbortCase("dispute_task by a stranger", "stranger", "escrow::dispute_task",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1)], "escrow", "E_NOT_CREATOR", 3),
    AbortCase("close_job unknown job", "creator", "escrow::close_job", _u64(U64_MAX), "escrow", "E_JOB_NOT_FOUND", 2),
    AbortCase("close_job by a stranger", "stranger", "escrow::close_job", lambda a, t: [t.bcs_u64(a.job_id)], "escrow",
              "E_NOT_CREATOR", 3),
    # attestation: the signer must be an active checker node, checked first
    AbortCase("attest by a non-node", "stranger", "attestation::attest",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1), t.bcs_bytes(HASH), b"\x01", t.bcs_bytes(HASH)],
              "attestation", "E_NOT_CHECKER", 1),
    AbortCase("abstain by a non-node", "stranger", "attestation::abstain",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1), t.bcs_bytes(HASH), t.bcs_bytes(HASH)],
              "attestation", "E_NOT_CHECKER", 1),
    AbortCase("resolve_dispute by a non-node", "stranger", "attestation::resolve_dispute",
              lambda a, t: [t.bcs_u64(a.job_id), t.bcs_u64(1), b"\x00", t.bcs_bytes(HASH)], "attestation",
              "E_NOT_CHECKER", 1),
    # rewards
    AbortCase("fund_pool zero", "creator", "rewards::fund_pool", _u64(0), "rewards", "E_ZERO_AMOUNT", 2),
    AbortCase("fund_pool u64 max", "creator", "rewards::fund_pool", _u64(U64_MAX), "fungible_asset",
              "EINSUFFICIENT_BALANCE", 0x10004, framework=True),
    AbortCase("publish_epoch by a stranger", "stranger", "rewards::publish_epoch",
              lambda a, t: [t.bcs_u64(1), t.bcs_bytes(HASH), t.bcs_u64(1)], "rewards", "E_NOT_ADMIN", 1),
    AbortCase("publish_epoch out of order", "admin", "rewards::publish_epoch",
              lambda a, t: [t.bcs_u64(U64_MAX), t.bcs_bytes(HASH), t.bcs_u64(1)], "rewards", "E_BAD_EPOCH", 3),
    AbortCase("publish_epoch short root", "admin", "rewards::publish_epoch",
              lambda a, t: [t.bcs_u64(1), t.bcs_bytes(HASH[:31]), t.bcs_u64(1)], "rewards", "E_INVALID_ROOT", 5),
    AbortCase("publish_epoch zero total", "admin", "rewards::publish_epoch",
              lambda a, t: [t.bcs_u64(1), t.bcs_bytes(HASH), t.bcs_u64(0)], "rewards", "E_ZERO_AMOUNT", 2),
    AbortCase("publish_epoch u64 max total", "admin", "rewards::publish_epoch",
              lambda a, t: [t.bcs_u64(1), t.bcs_bytes(HASH), t.bcs_u64(U64_MAX)], "rewards", "E_POOL_TOO_SMALL", 6),
    AbortCase("claim unknown epoch", "creator", "rewards::claim",
              lambda a, t: [t.bcs_u64(U64_MAX), t.bcs_u64(0), t.bcs_u64(1), t.bcs_vec_bytes([])], "rewards",
              "E_EPOCH_NOT_FOUND", 4),
    # the framework transfers
    AbortCase("APT transfer of u64 max", "stranger", "0x1::aptos_account::transfer",
              lambda a, t: [t.bcs_address(a.creator.address()), t.bcs_u64(U64_MAX)], "coin", "EINSUFFICIENT_BALANCE",
              0x10006, framework=True),
    AbortCase("PICTOR transfer of u64 max", "creator", "0x1::primary_fungible_store::transfer",
              lambda a, t: [t.bcs_address(pictor_vm.token.metadata_address()), t.bcs_address(a.stranger.address()),
                            t.bcs_u64(U64_MAX)], "fungible_asset", "EINSUFFICIENT_BALANCE", 0x10004, framework=True,
              type_args=["0x1::fungible_asset::Metadata"]),
]


def test_every_pictor_entry_function_has_a_documented_abort_case() -> None:
    covered = {case.function for case in ABORT_CASES}
    assert set(FUNCTION_IDS) <= covered, f"add abort cases for {sorted(set(FUNCTION_IDS) - covered)}"


@pytest.mark.parametrize("case", ABORT_CASES, ids=[c.name for c in ABORT_CASES])
def test_documented_abort(http: Any, tx: ModuleType, actors: Actors, case: AbortCase) -> None:
    signer = getattr(actors, case.signer)
    function_id = case.function if case.function.startswith("0x") else f"{PICTOR}::{case.function}"
    txn = submit_failing(http, signer, function_id, case.args(actors, tx), case.type_args)
    address = "0x1" if case.framework else PICTOR_SHORT
    pattern = rf"^Move abort in {address}::{case.module}: {case.reason}\((0x[0-9a-f]+)\): \S"
    match = re.match(pattern, txn["vm_status"])
    assert match, f"expected {case.module}::{case.reason}, got vm_status {txn['vm_status']!r}"
    assert int(match.group(1), 16) == case.code, f"{case.reason} has code {match.group(1)}, the spec says {case.code}"


# --------------------------------------------------------------------------- malformed submissions (400)


@dataclass
class Rejection:
    name: str
    make: Callable[[Any, ModuleType, Account], bytes]
    error_code: str
    status: str | None = None  # VM status name; vm_error_code must be its StatusCode


STATUS_CODES = {
    "INVALID_SIGNATURE": 1, "INVALID_AUTH_KEY": 2, "SEQUENCE_NUMBER_TOO_OLD": 3, "SEQUENCE_NUMBER_TOO_NEW": 4,
    "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE": 5, "TRANSACTION_EXPIRED": 6, "SENDING_ACCOUNT_DOES_NOT_EXIST": 7,
    "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND": 13, "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS": 14,
    "GAS_UNIT_PRICE_BELOW_MIN_BOUND": 15, "GAS_UNIT_PRICE_ABOVE_MAX_BOUND": 16, "BAD_CHAIN_ID": 23,
}  # move-core-types vm_status.rs


def _signed(http: Any, tx: ModuleType, account: Account, *, signer: Account | None = None, seq_delta: int = 0,
            **raw_kw: Any) -> bytes:
    seq = http.seq(account.address()) + seq_delta
    # amount 2: never byte-identical to the `poor` fixture's committed transaction (amount 1)
    payload = tx.entry_payload(f"{PICTOR}::token::faucet", [tx.bcs_u64(2)])
    raw = tx.raw_txn(account, seq, payload, chain_id=raw_kw.pop("chain_id", http.chain_id), **raw_kw)
    return tx.sign(signer or account, raw)


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


REJECTIONS = [
    Rejection("bad signature", lambda h, t, a: _flip_last_byte(_signed(h, t, a)), "vm_error", "INVALID_SIGNATURE"),
    Rejection("wrong authentication key", lambda h, t, a: _signed(h, t, a, signer=Account.generate()), "vm_error",
              "INVALID_AUTH_KEY"),
    Rejection("old sequence number", lambda h, t, a: _signed(h, t, a, seq_delta=-1), "vm_error",
              "SEQUENCE_NUMBER_TOO_OLD"),
    Rejection("sequence number far ahead", lambda h, t, a: _signed(h, t, a, seq_delta=1_000_000), "vm_error",
              "SEQUENCE_NUMBER_TOO_NEW"),
    Rejection("expired", lambda h, t, a: _signed(h, t, a, expiration=int(time.time()) - 1), "vm_error",
              "TRANSACTION_EXPIRED"),
    Rejection("expiration zero", lambda h, t, a: _signed(h, t, a, expiration=0), "vm_error", "TRANSACTION_EXPIRED"),
    Rejection("wrong chain id", lambda h, t, a: _signed(h, t, a, chain_id=(h.chain_id + 1) % 256), "vm_error",
              "BAD_CHAIN_ID"),
    Rejection("max gas above the bound", lambda h, t, a: _signed(h, t, a, max_gas=U64_MAX), "vm_error",
              "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND"),
    Rejection("max gas zero", lambda h, t, a: _signed(h, t, a, max_gas=0), "vm_error",
              "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS"),
    Rejection("gas price zero", lambda h, t, a: _signed(h, t, a, gas_price=0), "vm_error",
              "GAS_UNIT_PRICE_BELOW_MIN_BOUND"),
    Rejection("gas price u64 max", lambda h, t, a: _signed(h, t, a, gas_price=U64_MAX, max_gas=10), "vm_error",
              "GAS_UNIT_PRICE_ABOVE_MAX_BOUND"),
    Rejection("not enough APT for max gas", lambda h, t, a: _signed(h, t, a, max_gas=2_000_000, gas_price=1_000),
              "vm_error", "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"),
    Rejection("sender account does not exist", lambda h, t, a: _signed(h, t, Account.generate()), "vm_error",
              "SENDING_ACCOUNT_DOES_NOT_EXIST"),
    Rejection("empty body", lambda h, t, a: b"", "invalid_input"),
    Rejection("garbage BCS", lambda h, t, a: b"\xff" * 50, "invalid_input"),
    Rejection("truncated BCS", lambda h, t, a: _signed(h, t, a)[:-1], "invalid_input"),
    Rejection("trailing bytes", lambda h, t, a: _signed(h, t, a) + b"\x00", "invalid_input"),
]


@pytest.fixture(scope="module")
def poor(http: Any, tx: ModuleType) -> Account:
    """An account with a little APT and one committed transaction (sequence number 1)."""
    account = http.new_account(UNIT // 2)
    assert http.run(account, f"{PICTOR}::token::faucet", [tx.bcs_u64(1)])["success"]
    return account


@pytest.mark.parametrize("case", REJECTIONS, ids=[c.name for c in REJECTIONS])
def test_malformed_submission_is_refused(http: Any, tx: ModuleType, poor: Account, case: Rejection) -> None:
    address = str(poor.address())
    seq, apt, ledger = http.seq(address), http.apt_balance(address), http.ledger_version()
    data = case.make(http, tx, poor)
    response = http.submit(data)
    assert response.status_code == 400, f"{case.name}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["error_code"] == case.error_code, body
    assert isinstance(body["message"], str) and body["message"]
    if case.status is not None:
        assert case.status in body["message"], body
        assert body.get("vm_error_code") == STATUS_CODES[case.status], body
    # nothing entered the chain
    if data:
        assert http.get(f"transactions/by_hash/{tx.user_txn_hash(data)}").status_code == 404
    assert http.seq(address) == seq and http.apt_balance(address) == apt
    simulated = http.simulate(data) if case.error_code == "invalid_input" else None
    if simulated is not None:
        assert simulated.status_code == 400
    assert http.ledger_version() >= ledger


def test_a_refused_transaction_can_be_fixed_and_resubmitted(http: Any, tx: ModuleType, poor: Account) -> None:
    """After a refusal the same sequence number is still free."""
    seq = http.seq(poor.address())
    assert http.submit(_flip_last_byte(_signed(http, tx, poor))).status_code == 400
    txn = http.submit_and_wait(_signed(http, tx, poor))
    assert txn["success"] and int(txn["sequence_number"]) == seq
