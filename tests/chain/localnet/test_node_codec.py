"""Unit tests of the localnet's transaction codec: BCS decoding, hashing, signatures, type tags, JSON builds."""

from __future__ import annotations

import hashlib
import time

import nacl.signing
import pytest
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Deserializer, Serializer
from aptos_sdk.transactions import (
    EntryFunction,
    RawTransaction,
    SignedTransaction,
    TransactionArgument,
    TransactionPayload,
)
from aptos_sdk.type_tag import StructTag, TypeTag

from chain.localnet.auth import TXN_SINGLE_SENDER
from chain.localnet.codec import (
    BcsReader,
    TypeTagError,
    canonical_tag,
    canonical_type,
    encode_bcs_value,
    parse_type_tag,
    type_tag_bcs,
)
from chain.localnet.errors import ApiError, status_type, vm_error
from chain.localnet.render import prepare
from chain.localnet.txn import (
    decode_signed_transaction,
    raw_transaction_bcs,
    sign_raw_transaction,
    signed_transaction_from_json,
)
from chain.localnet.vm import core


def sdk_transfer(
    sender: Account,
    to: AccountAddress,
    amount: int,
    *,
    seq: int = 0,
    chain_id: int = 4,
    ty_args: list[str] | None = None,
) -> SignedTransaction:
    payload = EntryFunction.natural(
        "0x1::aptos_account",
        "transfer",
        [TypeTag(StructTag.from_str(t)) for t in (ty_args or [])],
        [TransactionArgument(to, Serializer.struct), TransactionArgument(amount, Serializer.u64)],
    )
    raw = RawTransaction(
        sender.address(), seq, TransactionPayload(payload), 100_000, 100, int(time.time()) + 600, chain_id
    )
    return SignedTransaction(raw, sender.sign_transaction(raw))


def aptos_hash(signed: bytes) -> str:
    prefix = hashlib.sha3_256(b"APTOS::Transaction").digest()
    return "0x" + hashlib.sha3_256(prefix + b"\x00" + signed).hexdigest()


def test_decodes_an_sdk_signed_transaction() -> None:
    alice, bob = Account.generate(), Account.generate()
    signed = sdk_transfer(alice, bob.address(), 1234, seq=7)
    txn = decode_signed_transaction(signed.bytes())
    assert txn.sender == core.norm_addr(str(alice.address()))
    assert txn.seq == 7
    assert txn.function_id == "0x1::aptos_account::transfer"
    assert txn.args == [bytes.fromhex(str(bob.address())[2:]), (1234).to_bytes(8, "little")]
    assert (txn.max_gas, txn.gas_price, txn.chain_id) == (100_000, 100, 4)
    assert txn.hash == aptos_hash(signed.bytes())
    assert txn.signature_valid()
    assert txn.auth_key() == alice.auth_key()
    prepare(txn)
    assert txn.payload_json == {
        "function": "0x1::aptos_account::transfer",
        "type_arguments": [],
        "arguments": [core.norm_addr(str(bob.address())), "1234"],
        "type": "entry_function_payload",
    }
    assert txn.signature_json["type"] == "ed25519_signature"


def test_tampered_signature_is_detected() -> None:
    alice = Account.generate()
    data = bytearray(sdk_transfer(alice, alice.address(), 1).bytes())
    data[-1] ^= 0x01
    assert not decode_signed_transaction(bytes(data)).signature_valid()


def test_simulation_signature_is_not_valid() -> None:
    alice = Account.generate()
    signed = sdk_transfer(alice, alice.address(), 1)
    raw = signed.transaction
    simulated = SignedTransaction(raw, alice.sign_simulated_transaction(raw))
    txn = decode_signed_transaction(simulated.bytes())
    assert not txn.signature_valid()
    assert txn.auth_key() == alice.auth_key()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # truncated signature
        lambda b: b + b"\x00",  # trailing byte
        lambda b: b[:10],  # truncated everywhere
        lambda b: b"",
    ],
)
def test_malformed_bcs_is_invalid_input(mutate) -> None:
    alice = Account.generate()
    data = mutate(sdk_transfer(alice, alice.address(), 1).bytes())
    with pytest.raises(ApiError) as err:
        decode_signed_transaction(data)
    assert (err.value.status, err.value.error_code) == (400, "invalid_input")


def test_unsupported_payloads_and_authenticators_are_clean_400s() -> None:
    alice = Account.generate()
    good = sdk_transfer(alice, alice.address(), 1).bytes()
    script = good[:40] + b"\x00" + good[41:]  # payload variant 0 (Script)
    with pytest.raises(ApiError) as err:
        decode_signed_transaction(script)
    assert err.value.status == 400 and "Script" in err.value.message
    raw_end = len(good) - (1 + 1 + 32 + 1 + 64)
    garbled_multi_agent = good[:raw_end] + b"\x02" + good[raw_end + 1 :]  # its sender authenticator is malformed
    with pytest.raises(ApiError) as err:
        decode_signed_transaction(garbled_multi_agent)
    assert err.value.status == 400 and err.value.error_code == "invalid_input"
    keyless = good[:raw_end] + b"\x04\x02\x03" + good[raw_end + 1 :]  # SingleKey with a Keyless public key
    with pytest.raises(ApiError) as err:
        decode_signed_transaction(keyless)
    assert err.value.status == 400 and "Keyless" in err.value.message and "not supported" in err.value.message


def test_single_sender_authenticator_is_accepted() -> None:
    alice = Account.generate()
    good = sdk_transfer(alice, alice.address(), 1).bytes()
    raw_end = len(good) - (1 + 1 + 32 + 1 + 64)
    single_sender = good[:raw_end] + b"\x04\x00" + good[raw_end + 1 :]
    txn = decode_signed_transaction(single_sender)
    assert txn.auth.variant == TXN_SINGLE_SENDER
    assert txn.signature_valid() and txn.auth_key() == alice.auth_key()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0x1::aptos_coin::AptosCoin", "0x1::aptos_coin::AptosCoin"),
        (
            "0x0000000000000000000000000000000000000000000000000000000000000001::coin::CoinStore<0x01::aptos_coin::AptosCoin>",
            "0x1::coin::CoinStore<0x1::aptos_coin::AptosCoin>",
        ),
        ("vector<u8>", "vector<u8>"),
        ("0x1::m::Pair<u64,vector<address>>", "0x1::m::Pair<u64, vector<address>>"),
    ],
)
def test_type_tags_canonicalize_and_match_the_sdk_bcs(text: str, canonical: str) -> None:
    assert canonical_type(text) == canonical
    tag = parse_type_tag(text)
    if text.startswith("0x") and "vector" not in text:  # the SDK's StructTag.from_str parses structs only
        ser = Serializer()
        TypeTag(StructTag.from_str(canonical)).serialize(ser)
        assert type_tag_bcs(tag) == ser.output()
    reader = BcsReader(type_tag_bcs(tag))
    assert canonical_tag(reader.type_tag()) == canonical


@pytest.mark.parametrize("bad", ["", "0x1::coin", "u9", "vector<u8", "0x1::coin::Coin<", "0xzz::a::B"])
def test_bad_type_tags_raise(bad: str) -> None:
    with pytest.raises(TypeTagError):
        parse_type_tag(bad)


@pytest.mark.parametrize(
    ("move_type", "value"),
    [
        ("u8", 255),
        ("u16", 65535),
        ("u64", 2**64 - 1),
        ("u128", 2**128 - 1),
        ("u256", 7),
        ("bool", True),
        ("address", core.norm_addr("0xabc")),
        ("0x1::string::String", "héllo"),
        ("vector<u8>", b"\x00\x01"),
        ("vector<u64>", [1, 2, 3]),
        ("0x1::option::Option<u64>", None),
        ("0x1::option::Option<u64>", 5),
        ("0x1::object::Object<0x1::fungible_asset::Metadata>", core.norm_addr("0x5")),
    ],
)
def test_bcs_encoding_round_trips_through_core(move_type: str, value: object) -> None:
    assert core.decode_bcs_arg(move_type, encode_bcs_value(move_type, value)) == value


def test_json_submission_builds_the_same_bytes_as_the_sdk() -> None:
    alice, bob = Account.generate(), Account.generate()
    signed = sdk_transfer(alice, bob.address(), 99, seq=3)
    raw = signed.transaction
    auth = signed.authenticator.authenticator
    body = {
        "sender": str(alice.address()),
        "sequence_number": "3",
        "max_gas_amount": str(raw.max_gas_amount),
        "gas_unit_price": str(raw.gas_unit_price),
        "expiration_timestamp_secs": str(raw.expiration_timestamps_secs),
        "payload": {
            "type": "entry_function_payload",
            "function": "0x1::aptos_account::transfer",
            "type_arguments": [],
            "arguments": [str(bob.address()), "99"],
        },
        "signature": {
            "type": "ed25519_signature",
            "public_key": "0x" + auth.public_key.key.encode().hex(),
            "signature": "0x" + auth.signature.signature.hex(),
        },
    }
    assert signed_transaction_from_json(body, 4) == signed.bytes()


def test_json_submission_of_an_unknown_function_is_invalid_input() -> None:
    body = {
        "sender": "0x1",
        "sequence_number": "0",
        "max_gas_amount": "10",
        "gas_unit_price": "100",
        "expiration_timestamp_secs": "1",
        "signature": {},
        "payload": {
            "type": "entry_function_payload",
            "function": "0x1::nope::nope",
            "type_arguments": [],
            "arguments": [],
        },
    }
    with pytest.raises(ApiError) as err:
        signed_transaction_from_json(body, 4)
    assert (err.value.status, err.value.error_code) == (400, "invalid_input")


def test_vm_error_shape_matches_aptos() -> None:
    err = vm_error("SEQUENCE_NUMBER_TOO_OLD")
    assert err.body() == {
        "message": "Invalid transaction: Type: Validation Code: SEQUENCE_NUMBER_TOO_OLD",
        "error_code": "vm_error",
        "vm_error_code": 3,
    }
    assert status_type(1098) == "Verification" and status_type(4016) == "Execution"


def test_sign_raw_transaction_verifies_with_the_sdk() -> None:
    key = nacl.signing.SigningKey.generate()
    sender = core.ed25519_auth_key(bytes(key.verify_key))
    raw = raw_transaction_bcs(
        sender,
        0,
        core.FRAMEWORK,
        "aptos_account",
        "transfer",
        [],
        [core.addr_bytes(sender), (1).to_bytes(8, "little")],
        1000,
        100,
        2**40,
        4,
    )
    signed = sign_raw_transaction(key, raw)

    assert SignedTransaction.deserialize(Deserializer(signed)).verify()
