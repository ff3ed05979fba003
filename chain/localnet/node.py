"""The localnet node: transaction codec, validation, mempool, block production and execution.

One :class:`Node` runs inside the server's event loop:

* :meth:`Node.submit` decodes a BCS ``SignedTransaction`` (or builds one from a JSON
  ``SubmitTransactionRequest``), validates it as an Aptos node's mempool and VM validator do
  (signature, authentication key, sequence number, expiration, chain id, gas bounds, gas balance) and
  parks it in the mempool, keyed by sender and sequence number;
* a background task (:meth:`Node.run`) drains the transactions whose sequence number is next for
  their sender into a block and executes them one after the other (each in its own
  :class:`core.Overlay`) on top of the chain's tip; the block is written durably in one SQLite commit
  (:mod:`chain.localnet.storage`, on a writer thread) and only then published (state, ledger info,
  the waiters of ``wait_by_hash``) by a second task. While one block is being fsynced the next one
  already executes on top of it (at most :data:`PIPELINE_DEPTH` blocks between execution and
  publication); nothing of a block is visible before its commit returned;
* reads (accounts, resources, transactions, events, views) are answered from memory, or from SQLite
  for old transactions.

Every block starts with a ``block_metadata_transaction`` (as on Aptos) that advances
``0x1::timestamp``; an idle chain still produces one such block a second, so the ledger timestamp
stays close to the wall clock, and a test-clock advance is committed at once in an empty block.

Deliberate differences from Aptos are documented where they are made (search for "Aptos").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

from chain.localnet.storage import BlockRecord, Storage
from chain.localnet.vm import core, framework, load_pictor
from chain.localnet.vm.core import Overlay, TxContext

log = logging.getLogger("chain.localnet")

try:  # orjson is ~5x faster than json for our payloads; the stdlib is the fallback.
    import orjson

    def dumps(obj: Any) -> bytes:
        """Serialize to compact JSON bytes."""
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson
    import json

    def dumps(obj: Any) -> bytes:
        """Serialize to compact JSON bytes."""
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads


# --------------------------------------------------------------------------- chain parameters

EPOCH = 1
#: Aptos's ``min_price_per_gas_unit`` (``aptos_global_constants::GAS_UNIT_PRICE``).
MIN_GAS_UNIT_PRICE = 100
MAX_GAS_UNIT_PRICE = 10_000_000_000
#: ``maximum_number_of_gas_units`` (``aptos_global_constants::MAX_GAS_AMOUNT``).
MAX_GAS_AMOUNT = 2_000_000
#: Intrinsic gas of any transaction (Aptos: ``min_transaction_gas_units`` 2.76 units, rounded up).
INTRINSIC_GAS_UNITS = 3
MAX_TRANSACTION_SIZE = 64 * 1024
#: How far ahead of the committed sequence number a sender may pipeline (Aptos: mempool capacity_per_user).
MAX_SEQUENCE_AHEAD = 100
MEMPOOL_CAPACITY = 200_000
MAX_BLOCK_TXNS = 250
#: Execute this many transactions, then let the event loop serve requests, while building a block.
EXECUTION_SLICE = 32
IDLE_BLOCK_INTERVAL_S = 1.0
#: Blocks executed but not yet published: the next block executes while the previous one is fsynced.
PIPELINE_DEPTH = 2
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
RECENT_TXN_CACHE = 50_000
ZERO_HASH = "0x" + "00" * 32
VALIDATOR_ADDRESS = core.norm_addr("0x" + "ab" * 32)

_TXN_PREFIX = hashlib.sha3_256(b"APTOS::Transaction").digest()
RAW_TXN_PREFIX = hashlib.sha3_256(b"APTOS::RawTransaction").digest()
_STATE_KEY_PREFIX = hashlib.sha3_256(b"APTOS::StateKey").digest()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# VM status codes, from move-core-types' ``vm_status.rs`` (StatusCode).
STATUS_CODES: dict[str, int] = {
    "UNKNOWN_VALIDATION_STATUS": 0,
    "INVALID_SIGNATURE": 1,
    "INVALID_AUTH_KEY": 2,
    "SEQUENCE_NUMBER_TOO_OLD": 3,
    "SEQUENCE_NUMBER_TOO_NEW": 4,
    "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE": 5,
    "TRANSACTION_EXPIRED": 6,
    "SENDING_ACCOUNT_DOES_NOT_EXIST": 7,
    "EXCEEDED_MAX_TRANSACTION_SIZE": 10,
    "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND": 13,
    "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS": 14,
    "GAS_UNIT_PRICE_BELOW_MIN_BOUND": 15,
    "GAS_UNIT_PRICE_ABOVE_MAX_BOUND": 16,
    "BAD_CHAIN_ID": 23,
    "SEQUENCE_NUMBER_TOO_BIG": 24,
    "NUMBER_OF_TYPE_ARGUMENTS_MISMATCH": 1076,
    "LINKER_ERROR": 1081,
    "FUNCTION_RESOLUTION_FAILURE": 1091,
    "NUMBER_OF_ARGUMENTS_MISMATCH": 1098,
    "FAILED_TO_DESERIALIZE_ARGUMENT": 1100,
    "EXECUTE_ENTRY_FUNCTION_CALLED_ON_NON_ENTRY_FUNCTION": 1103,
    "UNKNOWN_INVARIANT_VIOLATION_ERROR": 2000,
    "EXECUTED": 4001,
    "OUT_OF_GAS": 4002,
    "RESOURCE_DOES_NOT_EXIST": 4003,
    "RESOURCE_ALREADY_EXISTS": 4004,
    "ABORTED": 4016,
    "ARITHMETIC_ERROR": 4017,
    "VECTOR_OPERATION_ERROR": 4018,
}


def status_type(code: int) -> str:
    """``StatusType`` of a VM status code, as Aptos prints it (``{:?}``)."""
    if code < 1000:
        return "Validation"
    if code < 2000:
        return "Verification"
    if code < 3000:
        return "InvariantViolation"
    if code < 4000:
        return "Deserialization"
    if code < 5000:
        return "Execution"
    return "Unknown"


class ApiError(Exception):
    """An error answer of the REST API: HTTP status plus the ``AptosError`` body."""

    def __init__(self, status: int, message: str, error_code: str, vm_error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.vm_error_code = vm_error_code

    def body(self) -> dict[str, Any]:
        """The ``AptosError`` JSON object."""
        out: dict[str, Any] = {"message": self.message, "error_code": self.error_code}
        if self.vm_error_code is not None:
            out["vm_error_code"] = self.vm_error_code
        return out


def vm_error(name: str) -> ApiError:
    """A mempool/VM-validator rejection: ``400 vm_error`` with the message format of ``api/src/transactions.rs``."""
    code = STATUS_CODES[name]
    return ApiError(400, f"Invalid transaction: Type: {status_type(code)} Code: {name}", "vm_error", code)


def invalid_input(message: str, status: int = 400) -> ApiError:
    """A ``400 invalid_input`` error."""
    return ApiError(status, message, "invalid_input")


def misc_error_status(name: str) -> str:
    """``vm_status`` text of a kept ``MiscellaneousError`` (``explain_vm_status`` in Aptos's converter)."""
    return f"Transaction Executed and Committed with Error {name}"


_API_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,64}|[0-9a-fA-F]{64}")


def parse_api_address(text: Any) -> str:
    """An address as Aptos's API parses one: ``0x`` + 1..64 hex digits, or exactly 64 digits without ``0x``."""
    if not isinstance(text, str) or not _API_ADDRESS.fullmatch(text):
        raise ValueError(f"invalid account address: {text!r}")
    return core.norm_addr(text)


def sha3(data: bytes) -> bytes:
    """SHA3-256."""
    return hashlib.sha3_256(data).digest()


def hex0x(data: bytes) -> str:
    """Bytes as ``0x``-hex."""
    return "0x" + data.hex()


# --------------------------------------------------------------------------- type tags


class TypeTagError(ValueError):
    """A type tag that does not parse."""


_PRIMS = {"bool": 0, "u8": 1, "u64": 2, "u128": 3, "address": 4, "signer": 5, "u16": 8, "u32": 9, "u256": 10}
_PRIM_BY_CODE = {v: k for k, v in _PRIMS.items()}
_TOKEN = re.compile(r"\s*(::|<|>|,|[A-Za-z0-9_]+)")


def _tokens(text: str) -> list[str]:
    """Split a type tag into tokens."""
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise TypeTagError(f"invalid type tag: {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _parse_tag(tokens: list[str], i: int, depth: int) -> tuple[tuple, int]:
    """Parse one type tag from ``tokens[i:]``; returns it and the next index."""
    if depth > 8:
        raise TypeTagError("type tag nests too deep")
    if i >= len(tokens):
        raise TypeTagError("unexpected end of type tag")
    tok = tokens[i]
    if tok == "vector":
        if i + 1 >= len(tokens) or tokens[i + 1] != "<":
            raise TypeTagError("vector needs a type argument")
        inner, i = _parse_tag(tokens, i + 2, depth + 1)
        if i >= len(tokens) or tokens[i] != ">":
            raise TypeTagError("unclosed vector<")
        return ("vector", inner), i + 1
    if tok in _PRIMS:
        return ("prim", tok), i + 1
    # struct: ADDRESS :: module :: Name [<args>]
    if len(tokens) < i + 5 or tokens[i + 1] != "::" or tokens[i + 3] != "::":
        raise TypeTagError(f"invalid type tag near {tok!r}")
    try:
        address = parse_api_address(tok)
    except ValueError as exc:
        raise TypeTagError(str(exc)) from None
    module, name = tokens[i + 2], tokens[i + 4]
    if not _IDENT.match(module) or not _IDENT.match(name):
        raise TypeTagError(f"invalid identifier in {module}::{name}")
    i += 5
    args: list[tuple] = []
    if i < len(tokens) and tokens[i] == "<":
        i += 1
        while True:
            arg, i = _parse_tag(tokens, i, depth + 1)
            args.append(arg)
            if i < len(tokens) and tokens[i] == ",":
                i += 1
                continue
            if i < len(tokens) and tokens[i] == ">":
                i += 1
                break
            raise TypeTagError("unclosed type arguments")
    return ("struct", address, module, name, tuple(args)), i


def parse_type_tag(text: str) -> tuple:
    """Parse a Move type tag string into a tree (``("prim", …)``, ``("vector", …)``, ``("struct", …)``)."""
    tokens = _tokens(text)
    tag, i = _parse_tag(tokens, 0, 0)
    if i != len(tokens):
        raise TypeTagError(f"trailing characters in type tag {text!r}")
    return tag


def canonical_tag(tag: tuple) -> str:
    """Render a parsed type tag as the node does: short addresses, ``, `` between type arguments."""
    kind = tag[0]
    if kind == "prim":
        return tag[1]
    if kind == "vector":
        return f"vector<{canonical_tag(tag[1])}>"
    _, address, module, name, args = tag
    base = f"{core.short_addr(address)}::{module}::{name}"
    return base + ("<" + ", ".join(canonical_tag(a) for a in args) + ">" if args else "")


def canonical_type(text: str) -> str:
    """Normalize a type tag string (``0x0…01::coin::CoinStore<…>`` → ``0x1::coin::CoinStore<…>``)."""
    return canonical_tag(parse_type_tag(text))


def type_tag_bcs(tag: tuple) -> bytes:
    """BCS of a ``TypeTag``."""
    kind = tag[0]
    if kind == "prim":
        return bytes([_PRIMS[tag[1]]])
    if kind == "vector":
        return b"\x06" + type_tag_bcs(tag[1])
    _, address, module, name, args = tag
    out = b"\x07" + core.addr_bytes(address) + _bcs_str(module) + _bcs_str(name) + uleb128(len(args))
    return out + b"".join(type_tag_bcs(a) for a in args)


# --------------------------------------------------------------------------- BCS


def uleb128(value: int) -> bytes:
    """ULEB128 encoding of a length or variant index."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bcs_str(text: str) -> bytes:
    """BCS of a string."""
    raw = text.encode()
    return uleb128(len(raw)) + raw


_INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "u256": 32}


def encode_bcs_value(move_type: str, value: Any) -> bytes:
    """BCS-encode a Python value of Move type ``move_type`` (the inverse of ``core.decode_bcs_arg``)."""
    if move_type in _INT_SIZES:
        return int(value).to_bytes(_INT_SIZES[move_type], "little")
    if move_type == "bool":
        return b"\x01" if value else b"\x00"
    if move_type == "address" or move_type.startswith("0x1::object::Object<"):
        return core.addr_bytes(value)
    if move_type == "0x1::string::String":
        return _bcs_str(value)
    if move_type.startswith("0x1::option::Option<") and move_type.endswith(">"):
        inner = move_type[len("0x1::option::Option<") : -1]
        return b"\x00" if value is None else b"\x01" + encode_bcs_value(inner, value)
    if move_type.startswith("vector<") and move_type.endswith(">"):
        inner = move_type[len("vector<") : -1]
        if inner == "u8":
            raw = bytes(value)
            return uleb128(len(raw)) + raw
        return uleb128(len(value)) + b"".join(encode_bcs_value(inner, v) for v in value)
    raise ValueError(f"cannot BCS-encode a value of type {move_type}")


class _Reader:
    """Bounds-checked cursor over BCS bytes."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        end = self.pos + n
        if end > len(self.data):
            raise ValueError("unexpected end of input")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        """The next byte."""
        if self.pos >= len(self.data):
            raise ValueError("unexpected end of input")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u64(self) -> int:
        """The next little-endian u64."""
        return int.from_bytes(self.take(8), "little")

    def uleb(self) -> int:
        """The next ULEB128 integer."""
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("uleb128 too large")

    def bytes_(self) -> bytes:
        """The next length-prefixed byte string."""
        return self.take(self.uleb())

    def string(self) -> str:
        """The next length-prefixed UTF-8 string."""
        return self.bytes_().decode("utf-8")

    def type_tag(self, depth: int = 0) -> tuple:
        """The next BCS ``TypeTag``, as a parsed tree."""
        if depth > 8:
            raise ValueError("type tag nests too deep")
        code = self.uleb()
        if code in _PRIM_BY_CODE:
            return ("prim", _PRIM_BY_CODE[code])
        if code == 6:
            return ("vector", self.type_tag(depth + 1))
        if code == 7:
            address = core.norm_addr(self.take(32))
            module, name = self.string(), self.string()
            args = tuple(self.type_tag(depth + 1) for _ in range(self.uleb()))
            return ("struct", address, module, name, args)
        raise ValueError(f"unknown type tag variant {code}")


# --------------------------------------------------------------------------- signed transactions

AUTH_ED25519 = "ed25519"
AUTH_SINGLE_SENDER_ED25519 = "single_sender_ed25519"
AUTH_SINGLE_KEY_ED25519 = "single_key_ed25519"


class SignedTxn:
    """A decoded ``SignedTransaction`` with an ``EntryFunction`` payload and a single Ed25519 signer."""

    __slots__ = (
        "bytes",
        "raw",
        "hash",
        "sender",
        "seq",
        "module_addr",
        "module",
        "function",
        "ty_args",
        "args",
        "max_gas",
        "gas_price",
        "expiration",
        "chain_id",
        "auth_kind",
        "public_key",
        "signature",
        "fn",
        "decoded",
        "payload_json",
        "signature_json",
        "pending_body",
        "received",
    )

    def __init__(self) -> None:
        self.fn: core.Function | None = None
        self.decoded: list[Any] | None = None
        self.payload_json: dict[str, Any] | None = None
        self.signature_json: dict[str, Any] | None = None
        self.pending_body: dict[str, Any] | None = None
        self.received = 0.0

    @property
    def function_id(self) -> str:
        """``address::module::function`` as the API prints it."""
        return f"{core.standard_addr(self.module_addr)}::{self.module}::{self.function}"

    def auth_key(self) -> str:
        """Authentication key the public key stands for (Ed25519 scheme 0, SingleKey scheme 2)."""
        if self.auth_kind == AUTH_SINGLE_KEY_ED25519:
            return core.norm_addr(sha3(b"\x00" + uleb128(32) + self.public_key + b"\x02"))
        return core.norm_addr(sha3(self.public_key + b"\x00"))

    def signature_valid(self) -> bool:
        """Ed25519 check of the signature over ``sha3("APTOS::RawTransaction") ‖ raw``."""
        try:
            nacl.signing.VerifyKey(self.public_key).verify(RAW_TXN_PREFIX + self.raw, self.signature)
            return True
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            return False


def decode_signed_transaction(data: bytes) -> SignedTxn:
    """Decode BCS ``SignedTransaction`` bytes; ``400 invalid_input`` on anything malformed or unsupported."""
    if len(data) > MAX_TRANSACTION_SIZE:
        raise vm_error("EXCEEDED_MAX_TRANSACTION_SIZE")
    txn, end = decode_signed_transaction_at(data, 0)
    if end != len(data):
        raise invalid_input("Failed to deserialize input into SignedTransaction: trailing bytes")
    return txn


def decode_signed_transaction_at(data: bytes, start: int) -> tuple[SignedTxn, int]:
    """Decode one ``SignedTransaction`` starting at ``start``; returns it and the offset just after it."""
    r = _Reader(data)
    r.pos = start
    txn = SignedTxn()
    try:
        txn.sender = core.norm_addr(r.take(32))
        txn.seq = r.u64()
        variant = r.uleb()
        if variant == 1:
            raise invalid_input("Module bundle payload has been removed")
        if variant != 2:
            kind = {0: "Script", 3: "Multisig"}.get(variant, f"variant {variant}")
            raise invalid_input(f"{kind} payloads are not supported by the localnet: only entry functions")
        txn.module_addr = core.norm_addr(r.take(32))
        txn.module = r.string()
        txn.function = r.string()
        txn.ty_args = [canonical_tag(r.type_tag()) for _ in range(r.uleb())]
        txn.args = [r.bytes_() for _ in range(r.uleb())]
        txn.max_gas = r.u64()
        txn.gas_price = r.u64()
        txn.expiration = r.u64()
        txn.chain_id = r.u8()
        raw_end = r.pos
        auth = r.uleb()
        if auth == 0:
            txn.auth_kind = AUTH_ED25519
            txn.public_key, txn.signature = r.bytes_(), r.bytes_()
        elif auth == 4:
            account_auth = r.uleb()
            if account_auth == 0:
                txn.auth_kind = AUTH_SINGLE_SENDER_ED25519
                txn.public_key, txn.signature = r.bytes_(), r.bytes_()
            elif account_auth == 2:
                if r.uleb() != 0:
                    raise invalid_input("Only Ed25519 single-key authenticators are supported by the localnet")
                txn.public_key = r.bytes_()
                if r.uleb() != 0:
                    raise invalid_input("Only Ed25519 single-key authenticators are supported by the localnet")
                txn.signature = r.bytes_()
                txn.auth_kind = AUTH_SINGLE_KEY_ED25519
            else:
                raise invalid_input("This account authenticator is not supported by the localnet: use Ed25519")
        elif auth in (1, 2, 3):
            kind = {1: "Multi-Ed25519", 2: "Multi-agent", 3: "Fee-payer"}[auth]
            raise invalid_input(f"{kind} transactions are not supported by the localnet: use a single Ed25519 signer")
        else:
            raise ValueError(f"unknown transaction authenticator variant {auth}")
    except ApiError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_input(f"Failed to deserialize input into SignedTransaction: {exc}") from None
    if len(txn.public_key) != 32 or len(txn.signature) != 64:
        raise invalid_input("Failed to deserialize input into SignedTransaction: bad Ed25519 key or signature length")
    if not _IDENT.match(txn.module) or not _IDENT.match(txn.function):
        raise invalid_input("Transaction entry function module invalid: not a valid Move identifier")
    end = r.pos
    txn.bytes = bytes(data[start:end])
    txn.raw = txn.bytes[: raw_end - start]
    txn.hash = hex0x(sha3(_TXN_PREFIX + b"\x00" + txn.bytes))
    return txn, end


_SMALL_UINTS = ("u8", "u16", "u32")
_BIG_UINTS = ("u64", "u128", "u256")


def decode_json_strict(move_type: str, value: Any) -> Any:
    """A JSON argument in the exact form Aptos's API accepts, then ``core.decode_json_arg``.

    u8/u16/u32 are JSON numbers, u64/u128/u256 decimal strings, ``vector<u8>`` a ``0x`` hex string,
    addresses strings: a client that gets the forms wrong fails here as it would on an Aptos node.
    """
    if move_type in _SMALL_UINTS:
        if type(value) is not int:
            raise ValueError(f"{move_type} must be a JSON number, got {value!r}")
    elif move_type in _BIG_UINTS:
        if not isinstance(value, str) or not value.isdigit():
            raise ValueError(f"{move_type} must be a decimal string, got {value!r}")
    elif move_type == "vector<u8>":
        if not isinstance(value, str) or not value.startswith("0x"):
            raise ValueError(f"vector<u8> must be a 0x-hex string, got {value!r}")
    elif move_type == "address" or move_type.startswith("0x1::object::Object<"):
        inner = value.get("inner") if isinstance(value, dict) and move_type != "address" else value
        parse_api_address(inner)
    elif move_type.startswith("vector<") and move_type.endswith(">"):
        if not isinstance(value, list):
            raise ValueError(f"{move_type} must be a JSON array, got {value!r}")
        item_type = move_type[len("vector<") : -1]
        for item in value:
            decode_json_strict(item_type, item)
    elif move_type.startswith("0x1::option::Option<") and move_type.endswith(">"):
        inner_type = move_type[len("0x1::option::Option<") : -1]
        items = value["vec"] if isinstance(value, dict) and "vec" in value else ([] if value is None else [value])
        if not isinstance(items, list) or len(items) > 1:
            raise ValueError(f"{move_type} must hold at most one value, got {value!r}")
        for item in items:
            decode_json_strict(inner_type, item)
    return core.decode_json_arg(move_type, value)


def _hex_arg(value: Any, what: str) -> bytes:
    """Bytes of a ``0x``-hex JSON field (400 when malformed)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise invalid_input(f"Failed to create SignedTransaction from SubmitTransactionRequest: bad {what}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise invalid_input(f"Failed to create SignedTransaction from SubmitTransactionRequest: bad {what}") from None


def _u64_field(body: dict[str, Any], name: str) -> int:
    """A u64 field of a JSON request (400 when missing or malformed)."""
    value = body.get(name)
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise invalid_input(f"Failed to parse SubmitTransactionRequest: `{name}` must be a u64 string") from None
    if not 0 <= number <= core.U64_MAX:
        raise invalid_input(f"Failed to parse SubmitTransactionRequest: `{name}` out of range")
    return number


def raw_transaction_bcs(
    sender: str,
    seq: int,
    module_addr: str,
    module: str,
    function: str,
    ty_args: list[str],
    args: list[bytes],
    max_gas: int,
    gas_price: int,
    expiration: int,
    chain_id: int,
) -> bytes:
    """BCS ``RawTransaction`` with an ``EntryFunction`` payload."""
    out = bytearray(core.addr_bytes(sender))
    out += seq.to_bytes(8, "little")
    out += b"\x02" + core.addr_bytes(module_addr) + _bcs_str(module) + _bcs_str(function)
    out += uleb128(len(ty_args)) + b"".join(type_tag_bcs(parse_type_tag(t)) for t in ty_args)
    out += uleb128(len(args)) + b"".join(uleb128(len(a)) + a for a in args)
    out += max_gas.to_bytes(8, "little") + gas_price.to_bytes(8, "little") + expiration.to_bytes(8, "little")
    out += bytes([chain_id])
    return bytes(out)


def sign_raw_transaction(key: nacl.signing.SigningKey, raw: bytes) -> bytes:
    """A BCS ``SignedTransaction``: ``raw`` plus an Ed25519 authenticator signed by ``key``."""
    signature = key.sign(RAW_TXN_PREFIX + raw).signature
    public_key = bytes(key.verify_key)
    return raw + b"\x00" + uleb128(32) + public_key + uleb128(64) + signature


def _split_function_id(function_id: str) -> tuple[str, str, str]:
    """``address::module::function`` split and checked (400 when malformed)."""
    parts = function_id.split("::")
    if len(parts) != 3 or not _IDENT.match(parts[1]) or not _IDENT.match(parts[2]):
        raise invalid_input(f"invalid entry function id: {function_id!r}")
    try:
        return parse_api_address(parts[0]), parts[1], parts[2]
    except ValueError:
        raise invalid_input(f"invalid entry function id: {function_id!r}") from None


def signed_transaction_from_json(body: Any, chain_id: int) -> bytes:
    """Build BCS ``SignedTransaction`` bytes from a JSON ``SubmitTransactionRequest`` (arguments need the ABI)."""
    if not isinstance(body, dict):
        raise invalid_input("Failed to parse SubmitTransactionRequest: expected a JSON object")
    try:
        sender = parse_api_address(body.get("sender", ""))
    except ValueError:
        raise invalid_input("Failed to parse SubmitTransactionRequest: bad `sender`") from None
    seq = _u64_field(body, "sequence_number")
    max_gas = _u64_field(body, "max_gas_amount")
    price = _u64_field(body, "gas_unit_price")
    expiration = _u64_field(body, "expiration_timestamp_secs")
    payload = body.get("payload")
    if not isinstance(payload, dict) or payload.get("type") != "entry_function_payload":
        raise invalid_input("Failed to parse SubmitTransactionRequest: only entry_function_payload is supported")
    module_addr, module, function = _split_function_id(str(payload.get("function", "")))
    try:
        ty_args = [canonical_type(t) for t in payload.get("type_arguments", [])]
    except (TypeTagError, TypeError) as exc:
        raise invalid_input(f"Transaction entry function type arg invalid: {exc}") from None
    fn = core.ENTRY_FUNCTIONS.get(core.function_key(module_addr, module, function))
    if fn is None:
        raise invalid_input(
            "Failed to create SignedTransaction from SubmitTransactionRequest: "
            f"could not find entry function by {core.short_addr(module_addr)}::{module}::{function}"
        )
    arguments = payload.get("arguments", [])
    if not isinstance(arguments, list) or len(arguments) != len(fn.params):
        raise invalid_input(
            f"Failed to create SignedTransaction from SubmitTransactionRequest: expected {len(fn.params)} arguments"
        )
    try:
        args = [encode_bcs_value(p, decode_json_strict(p, a)) for p, a in zip(fn.params, arguments, strict=True)]
    except (ValueError, TypeError) as exc:
        raise invalid_input(f"Failed to create SignedTransaction from SubmitTransactionRequest: {exc}") from None
    raw = raw_transaction_bcs(
        sender, seq, module_addr, module, function, ty_args, args, max_gas, price, expiration, chain_id
    )
    sig = body.get("signature")
    if not isinstance(sig, dict):
        raise invalid_input("Failed to parse SubmitTransactionRequest: missing `signature`")
    if sig.get("type") == "ed25519_signature":
        public_key = _hex_arg(sig.get("public_key"), "public_key")
        signature = _hex_arg(sig.get("signature"), "signature")
        return raw + b"\x00" + uleb128(len(public_key)) + public_key + uleb128(len(signature)) + signature
    if sig.get("type") == "single_sender" and isinstance(sig.get("public_key"), str):
        public_key = _hex_arg(sig.get("public_key"), "public_key")
        signature = _hex_arg(sig.get("signature"), "signature")
        return raw + b"\x04\x00" + uleb128(len(public_key)) + public_key + uleb128(len(signature)) + signature
    raise invalid_input("Only ed25519_signature transaction signatures are supported by the localnet")


# --------------------------------------------------------------------------- JSON rendering


def encode_value(move_type: str, value: Any) -> Any:
    """JSON of a Move value; struct-typed values fall back to ``encode_state_value``."""
    try:
        return core.encode_json_value(move_type, value)
    except ValueError:
        return core.encode_state_value(value)


def encode_state(value: Any) -> Any:
    """``core.encode_state_value`` with exact-type dispatch (the hot path of rendering write sets)."""
    t = type(value)
    if t is dict:
        return {k: encode_state(v) for k, v in value.items()}
    if t is int:
        return str(value)
    if t is str or t is bool or value is None:
        return value
    if t is list:
        return [encode_state(v) for v in value]
    if t is bytes:
        return "0x" + value.hex()
    return core.encode_state_value(value)


def render_resource(type_tag: str, value: Any) -> dict[str, Any]:
    """A ``MoveResource``: ``{type, data}`` (u8/u16/u32 framework fields as numbers, as Aptos renders them)."""
    data = encode_state(value)
    small = framework.SMALL_INT_FIELDS.get(type_tag)
    if small and isinstance(data, dict):
        for name in small:
            if name in data:
                data[name] = int(data[name])
    return {"type": type_tag, "data": data}


_KEY_HASHES: dict[str, str] = {}


def state_key_hash(key: str) -> str:
    """Hash naming a state key in write sets (memoized: the same keys change again and again)."""
    out = _KEY_HASHES.get(key)
    if out is None:
        out = hex0x(sha3(_STATE_KEY_PREFIX + key.encode()))
        if len(_KEY_HASHES) < 500_000:
            _KEY_HASHES[key] = out
    return out


def change_set_hash(rendered_changes: list[dict[str, Any]]) -> str:
    """``state_change_hash``: over the state key hashes and change kinds (cheaper than hashing the JSON)."""
    return hex0x(sha3("".join(c["type"][0] + c["state_key_hash"] for c in rendered_changes).encode()))


def event_root_hash(txn_hash: str, events: list[dict[str, Any]]) -> str:
    """``event_root_hash``: over the transaction hash and the event types, in order."""
    return hex0x(sha3((txn_hash + "".join(e["type"] for e in events)).encode()))


def render_change(key: str, value: Any) -> dict[str, Any] | None:
    """A ``WriteSetChange`` for one state key (``None`` for keys that are not resources or table items)."""
    kind, _, rest = key.partition("|")
    if kind == "r":
        address, _, type_tag = rest.partition("|")
        if value is None:
            return {
                "type": "delete_resource",
                "address": core.standard_addr(address),
                "state_key_hash": state_key_hash(key),
                "resource": type_tag,
            }
        return {
            "type": "write_resource",
            "address": core.standard_addr(address),
            "state_key_hash": state_key_hash(key),
            "data": render_resource(type_tag, value),
        }
    if kind == "t":
        handle, _, item = rest.partition("|")
        if value is None:
            return {
                "type": "delete_table_item",
                "state_key_hash": state_key_hash(key),
                "handle": handle,
                "key": hex0x(item.encode()),
                "data": {"key": item, "key_type": ""},
            }
        return {
            "type": "write_table_item",
            "state_key_hash": state_key_hash(key),
            "handle": handle,
            "key": hex0x(item.encode()),
            "value": "0x",
            "data": {"key": item, "key_type": "", "value": encode_state(value), "value_type": ""},
        }
    return None


def render_changes(changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``changes`` list of a transaction, in state-key order."""
    out = []
    for key in sorted(changes):
        change = render_change(key, changes[key])
        if change is not None:
            out.append(change)
    return out


_MODULE_GUID = {"creation_number": "0", "account_address": "0x0"}


def render_event(ev: core.EventType, values: dict[str, Any], guid: tuple[str, int, int] | None) -> dict[str, Any]:
    """An ``Event``: module events carry the zero GUID, handle events their handle's GUID and counter."""
    data = {name: encode_value(ftype, values[name]) for name, ftype in ev.fields}
    if guid is None:
        return {"guid": _MODULE_GUID, "sequence_number": "0", "type": ev.type_tag, "data": data}
    account, creation_num, seq = guid
    return {
        "guid": {"creation_number": str(creation_num), "account_address": core.standard_addr(account)},
        "sequence_number": str(seq),
        "type": ev.type_tag,
        "data": data,
    }


def render_payload(txn: SignedTxn) -> dict[str, Any]:
    """The ``entry_function_payload`` JSON; arguments decoded with the function's ABI when it is known."""
    if txn.fn is not None and txn.decoded is not None:
        arguments = [encode_value(p, v) for p, v in zip(txn.fn.params, txn.decoded, strict=True)]
    else:
        arguments = [hex0x(a) for a in txn.args]
    return {
        "function": txn.function_id,
        "type_arguments": list(txn.ty_args),
        "arguments": arguments,
        "type": "entry_function_payload",
    }


def render_signature(txn: SignedTxn) -> dict[str, Any]:
    """The ``signature`` JSON of a transaction."""
    if txn.auth_kind == AUTH_ED25519:
        return {"public_key": hex0x(txn.public_key), "signature": hex0x(txn.signature), "type": "ed25519_signature"}
    if txn.auth_kind == AUTH_SINGLE_SENDER_ED25519:
        return {"public_key": hex0x(txn.public_key), "signature": hex0x(txn.signature), "type": "single_sender"}
    return {
        "public_key": {"type": "ed25519", "value": hex0x(txn.public_key)},
        "signature": {"type": "ed25519", "value": hex0x(txn.signature)},
        "type": "single_sender",
    }


def prepare(txn: SignedTxn) -> None:
    """Resolve the function and decode the arguments once (reused for rendering and execution)."""
    txn.fn = core.ENTRY_FUNCTIONS.get(core.function_key(txn.module_addr, txn.module, txn.function))
    if txn.fn is not None and len(txn.args) == len(txn.fn.params):
        try:
            txn.decoded = [core.decode_bcs_arg(p, a) for p, a in zip(txn.fn.params, txn.args, strict=True)]
        except (ValueError, UnicodeDecodeError):
            txn.decoded = None
    txn.payload_json = render_payload(txn)
    txn.signature_json = render_signature(txn)
    txn.pending_body = {
        "hash": txn.hash,
        "sender": core.standard_addr(txn.sender),
        "sequence_number": str(txn.seq),
        "max_gas_amount": str(txn.max_gas),
        "gas_unit_price": str(txn.gas_price),
        "expiration_timestamp_secs": str(txn.expiration),
        "payload": txn.payload_json,
        "signature": txn.signature_json,
    }


# --------------------------------------------------------------------------- execution results


@dataclass
class Outcome:
    """What executing one user transaction produced (before rendering)."""

    success: bool
    vm_status: str
    gas_used: int
    changes: dict[str, Any]
    events: list[dict[str, Any]]
    handle_events: list[tuple[str, int, int, dict[str, Any]]]


class Discard(Exception):
    """The transaction fails the prologue at execution time: it is dropped, not committed (as on Aptos)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class _Executed:
    """A block executed on top of the chain's tip, waiting for its durable commit to be published."""

    record: BlockRecord
    state: Overlay
    ledger: LedgerInfo
    block_id: str
    accumulator: bytes
    batch: list[SignedTxn]
    committed: list[tuple[SignedTxn | None, str, bytes, int]]
    discarded: list[SignedTxn]
    returned: list[SignedTxn]
    commit: asyncio.Future[None] | None = None


@dataclass
class LedgerInfo:
    """The ``IndexResponse`` fields and the ``X-APTOS-*`` headers derived from them."""

    chain_id: int
    version: int
    timestamp_us: int
    block_height: int
    epoch: int = EPOCH
    oldest_version: int = 0
    oldest_block_height: int = 0

    def index(self) -> dict[str, Any]:
        """The ``IndexResponse`` of ``GET /v1``."""
        return {
            "chain_id": self.chain_id,
            "epoch": str(self.epoch),
            "ledger_version": str(self.version),
            "oldest_ledger_version": str(self.oldest_version),
            "ledger_timestamp": str(self.timestamp_us),
            "node_role": "validator",
            "oldest_block_height": str(self.oldest_block_height),
            "block_height": str(self.block_height),
            "git_hash": "pictor-localnet",
        }

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The ``X-APTOS-*`` headers of every response."""
        return [
            (b"x-aptos-chain-id", str(self.chain_id).encode()),
            (b"x-aptos-ledger-version", str(self.version).encode()),
            (b"x-aptos-ledger-oldest-version", str(self.oldest_version).encode()),
            (b"x-aptos-ledger-timestampusec", str(self.timestamp_us).encode()),
            (b"x-aptos-epoch", str(self.epoch).encode()),
            (b"x-aptos-block-height", str(self.block_height).encode()),
            (b"x-aptos-oldest-block-height", str(self.oldest_block_height).encode()),
        ]


class HistoricalState:
    """Read-only state as of an older version (the base of an :class:`Overlay` for reads and views)."""

    def __init__(self, storage: Storage, version: int) -> None:
        self.storage = storage
        self.version = version

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` as of this version (``default`` when absent)."""
        value = self.storage.value_at(key, self.version)
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.storage.value_at(key, self.version) is not None


# --------------------------------------------------------------------------- the node


class Node:
    """Mempool, block producer and read model of one localnet, bound to its data dir."""

    def __init__(
        self,
        data_dir: Path,
        *,
        chain_id: int,
        test_clock: bool = False,
        idle_block_interval: float = IDLE_BLOCK_INTERVAL_S,
    ) -> None:
        load_pictor()  # register the package's functions before any transaction can name them
        self.data_dir = Path(data_dir)
        self.chain_id = chain_id
        self.test_clock = test_clock
        self.idle_block_interval = idle_block_interval
        self.storage = Storage(self.data_dir / "ledger.sqlite")
        self.state: dict[str, Any] = {}
        self.resources: dict[str, dict[str, str]] = {}  # address -> type tag -> state key
        self.ledger = LedgerInfo(chain_id, 0, 0, 0)
        self.header_list: list[tuple[bytes, bytes]] = self.ledger.headers()
        self.block_id = ZERO_HASH
        self.accumulator = bytes(32)
        self.clock_offset_us = 0
        # mempool
        self.pool: dict[str, dict[int, SignedTxn]] = {}
        self.pool_by_hash: dict[str, SignedTxn] = {}
        self.ready: dict[str, None] = {}  # ordered set: senders whose next sequence number is pooled
        self.in_flight: dict[str, SignedTxn] = {}
        self.recent: OrderedDict[str, tuple[int, bytes]] = OrderedDict()  # hash -> (version, json)
        self.recent_versions: dict[int, bytes] = {}
        self._waiters: dict[str, list[asyncio.Future[bytes | None]]] = {}
        self._wake = asyncio.Event()
        self._force_block = False
        self._block_committed = asyncio.Condition()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localnet-writer")
        self._task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._unpublished: deque[_Executed] = deque()
        self._to_publish: asyncio.Queue[_Executed | None] = asyncio.Queue()
        self._pipeline = asyncio.Semaphore(PIPELINE_DEPTH)
        self._broken: str | None = None
        self._closing = False
        self.on_publish: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> bool:
        """Load the committed ledger from disk; False when the data dir holds no chain yet."""
        if self.storage.is_empty():
            return False
        meta = self.storage.load_meta()
        self.state = self.storage.load_state()
        self._apply_meta(meta)
        self._rebuild_resource_index()
        for version, txn_hash, body in self.storage.recent_txns(RECENT_TXN_CACHE):
            self._remember(version, txn_hash, body)
        return True

    def _apply_meta(self, meta: dict[str, Any]) -> None:
        """Adopt the ledger info stored with the last block."""
        self.ledger = LedgerInfo(self.chain_id, meta["version"], meta["timestamp_us"], meta["block_height"])
        self.header_list = self.ledger.headers()
        self.block_id = meta["block_id"]
        self.accumulator = meta["accumulator"]
        self.clock_offset_us = meta.get("clock_offset_us", 0)

    def _meta(self, ledger: LedgerInfo, block_id: str, accumulator: bytes) -> dict[str, Any]:
        """The ledger info stored with a block."""
        return {
            "version": ledger.version,
            "timestamp_us": ledger.timestamp_us,
            "block_height": ledger.block_height,
            "block_id": block_id,
            "accumulator": accumulator,
            "clock_offset_us": self.clock_offset_us,
            "chain_id": self.chain_id,
        }

    def _rebuild_resource_index(self) -> None:
        """Index every resource by address (after loading the state)."""
        self.resources = {}
        for key in self.state:
            self._index_key(key, present=True)

    def _index_key(self, key: str, *, present: bool) -> None:
        """Add or remove one state key in the per-address resource index."""
        if not key.startswith("r|"):
            return
        _, address, type_tag = key.split("|", 2)
        if present:
            self.resources.setdefault(address, {})[type_tag] = key
        else:
            by_type = self.resources.get(address)
            if by_type is not None:
                by_type.pop(type_tag, None)
                if not by_type:
                    del self.resources[address]

    def commit_genesis(
        self,
        ctx_state: Overlay,
        events: list[dict[str, Any]],
        handle_events: list[tuple[str, int, int, dict[str, Any]]],
    ) -> None:
        """Write version 0 (the genesis transaction, block 0) synchronously and load it."""
        changes = ctx_state.changes()
        txn_hash = hex0x(sha3(_TXN_PREFIX + b"\x02genesis" + dumps(sorted(changes))))
        self.accumulator = sha3(self.accumulator + bytes.fromhex(txn_hash[2:]))
        rendered_changes = render_changes(changes)
        body = {
            "type": "genesis_transaction",
            "version": "0",
            "hash": txn_hash,
            "state_change_hash": hex0x(sha3(dumps(rendered_changes))),
            "event_root_hash": hex0x(sha3(dumps(events))),
            "gas_used": "0",
            "success": True,
            "vm_status": "Executed successfully",
            "accumulator_root_hash": hex0x(self.accumulator),
            "changes": rendered_changes,
            "payload": {
                "type": "write_set_payload",
                "write_set": {"type": "direct_write_set", "changes": rendered_changes, "events": events},
            },
            "events": events,
        }
        json_body = dumps(body)
        self.block_id = hex0x(sha3(b"genesis" + bytes(32)))
        self.ledger = LedgerInfo(self.chain_id, 0, 0, 0)
        record = BlockRecord(
            height=0,
            block_id=self.block_id,
            timestamp=0,
            first_version=0,
            last_version=0,
            txns=[(0, txn_hash, None, None, json_body)],
            events=[(a, c, s, 0, dumps({"version": "0", **e})) for a, c, s, e in handle_events],
            writes=changes,
            history=[(key, 0, value) for key, value in changes.items()],
            meta=self._meta(self.ledger, self.block_id, self.accumulator),
        )
        self.storage.commit_block(record)
        self.load()

    def start(self) -> None:
        """Start the block producer and publisher (call from inside the running event loop)."""
        loop = asyncio.get_running_loop()
        self._publisher = loop.create_task(self._publish_loop(), name="localnet-block-publisher")
        self._task = loop.create_task(self.run(), name="localnet-block-producer")

    async def close(self) -> None:
        """Stop producing blocks, let the blocks in flight commit and publish, close the database."""
        self._closing = True
        self._wake.set()
        for task in (self._task, self._publisher):
            if task is None:
                continue
            if task is self._publisher:
                self._to_publish.put_nowait(None)
            try:
                await asyncio.wait_for(task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._writer.shutdown(wait=True)
        self.storage.close()

    # ------------------------------------------------------------------ the tip (executed, maybe unpublished)

    def _tip(self) -> tuple[LedgerInfo, str, bytes]:
        """Ledger info, block id and accumulator after the last *executed* block."""
        if self._unpublished:
            last = self._unpublished[-1]
            return last.ledger, last.block_id, last.accumulator
        return self.ledger, self.block_id, self.accumulator

    def _tip_state(self) -> Any:
        """The state after the last executed block (what the next block executes on)."""
        return self._unpublished[-1].state if self._unpublished else self.state

    def next_seq(self, address: str) -> int | None:
        """The sequence number the sender's next transaction must carry, counting executed blocks."""
        state = self._tip_state()
        key = framework.account_key(address)
        account = state.peek(key) if isinstance(state, Overlay) else state.get(key)
        return None if account is None else int(account["sequence_number"])

    # ------------------------------------------------------------------ clock

    def now_us(self) -> int:
        """Chain time for the next block: wall clock plus the test offset, strictly after the last block."""
        return max(time.time_ns() // 1000 + self.clock_offset_us, self._tip()[0].timestamp_us + 1)

    async def advance_clock(self, microseconds: int) -> int:
        """Test clock: move chain time forward and commit an empty block at the new time; returns it."""
        if microseconds < 0:
            raise invalid_input("the clock only moves forward")
        self.clock_offset_us += microseconds
        return await self.tick()

    async def tick(self) -> int:
        """Commit a block now (empty if nothing is ready) and wait until it is published; its timestamp.

        The server ticks once at start, so the ledger clock is current before the first request.
        """
        target = self._tip()[0].block_height + 1
        self._force_block = True
        self._wake.set()
        async with self._block_committed:
            await self._block_committed.wait_for(lambda: self.ledger.block_height >= target)
        return self.ledger.timestamp_us

    # ------------------------------------------------------------------ reads

    def _remember(self, version: int, txn_hash: str, body: bytes) -> None:
        """Keep a committed transaction's JSON in the in-memory cache."""
        self.recent[txn_hash] = (version, body)
        self.recent_versions[version] = body
        while len(self.recent) > RECENT_TXN_CACHE:
            _, (old_version, _) = self.recent.popitem(last=False)
            self.recent_versions.pop(old_version, None)

    def committed_txn_by_hash(self, txn_hash: str) -> bytes | None:
        """The committed transaction's JSON, ``None`` when not committed."""
        hit = self.recent.get(txn_hash)
        if hit is not None:
            return hit[1]
        if txn_hash in self.in_flight or txn_hash in self.pool_by_hash:
            return None  # pending: not in the database either (saves a query per poll)
        return self.storage.txn_by_hash(txn_hash)

    def will_commit_soon(self, txn_hash: str) -> bool:
        """True when the transaction is in a block being committed, or next in line for its sender."""
        if txn_hash in self.in_flight:
            return True
        txn = self.pool_by_hash.get(txn_hash)
        return txn is not None and txn.sender in self.ready and txn.seq == self.next_seq(txn.sender)

    def pending_txn_by_hash(self, txn_hash: str) -> SignedTxn | None:
        """The transaction while it waits in the mempool or in the block being committed."""
        return self.in_flight.get(txn_hash) or self.pool_by_hash.get(txn_hash)

    def txn_by_version(self, version: int) -> bytes | None:
        """The committed transaction at ``version``, ``None`` past the ledger."""
        if version > self.ledger.version:
            return None
        body = self.recent_versions.get(version)
        return body if body is not None else self.storage.txn_by_version(version)

    def txns_range(self, start: int, limit: int) -> list[bytes]:
        """Up to ``limit`` committed transactions from ``start`` on."""
        end = min(self.ledger.version, start + limit - 1)
        out = [self.recent_versions.get(v) for v in range(start, end + 1)]
        if any(b is None for b in out):
            return self.storage.txns_range(start, end - start + 1)
        return out  # type: ignore[return-value]

    def state_at(self, version: int | None) -> Any:
        """The state as of ``version`` (the live dict for the latest version), for reads and views."""
        if version is None or version >= self.ledger.version:
            return self.state
        return HistoricalState(self.storage, version)

    def account_resource(self, address: str, type_tag: str, version: int | None = None) -> Any:
        """One resource of an account as of ``version`` (latest by default)."""
        return self.state_at(version).get(core.resource_key(address, type_tag))

    def account_resources(self, address: str, version: int | None = None) -> list[tuple[str, Any]]:
        """Every resource of an account as of ``version``, sorted by type."""
        address = core.norm_addr(address)
        if version is not None and version < self.ledger.version:
            found = self.storage.keys_at(f"r|{address}|", version)
            return sorted((key.split("|", 2)[2], value) for key, value in found.items())
        by_type = self.resources.get(address, {})
        return [(t, self.state[k]) for t, k in sorted(by_type.items())]

    def committed_seq(self, address: str) -> int | None:
        """The account's committed sequence number, ``None`` when there is no account."""
        account = self.state.get(framework.account_key(address))
        return None if account is None else int(account["sequence_number"])

    async def wait_committed(self, txn_hash: str, timeout: float) -> bytes | None:
        """Wait until ``txn_hash`` is committed (its JSON) or dropped / timed out (``None``)."""
        body = self.committed_txn_by_hash(txn_hash)
        if body is not None or self.pending_txn_by_hash(txn_hash) is None:
            return body
        fut: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(txn_hash, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(txn_hash)
            if waiters is not None:
                if fut in waiters:
                    waiters.remove(fut)
                if not waiters:
                    del self._waiters[txn_hash]

    def _resolve(self, txn_hash: str, body: bytes | None) -> None:
        """Wake the waiters of ``txn_hash``."""
        for fut in self._waiters.pop(txn_hash, ()):
            if not fut.done():
                fut.set_result(body)

    # ------------------------------------------------------------------ validation & mempool

    def _prologue(self, txn: SignedTxn, state: Any, *, now_s: int) -> None:
        """The checks of ``check_gas`` and ``transaction_validation::prologue_common``, in Aptos's order.

        Raises :class:`Discard` with the status name. ``state`` is the committed dict or a block overlay.
        Expiration is checked against the wall clock, not the (test-)chain clock, so that SDK-built
        transactions (expiry = wall time + TTL) stay valid after a test-clock advance.
        """
        if txn.max_gas > MAX_GAS_AMOUNT:
            raise Discard("MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND")
        if txn.max_gas < INTRINSIC_GAS_UNITS:
            raise Discard("MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS")
        if txn.gas_price < MIN_GAS_UNIT_PRICE:
            raise Discard("GAS_UNIT_PRICE_BELOW_MIN_BOUND")
        if txn.gas_price > MAX_GAS_UNIT_PRICE:
            raise Discard("GAS_UNIT_PRICE_ABOVE_MAX_BOUND")
        if now_s >= txn.expiration:
            raise Discard("TRANSACTION_EXPIRED")
        if txn.chain_id != self.chain_id:
            raise Discard("BAD_CHAIN_ID")
        peek = state.peek if isinstance(state, Overlay) else state.get
        account = peek(framework.account_key(txn.sender))
        if account is None:
            raise Discard("SENDING_ACCOUNT_DOES_NOT_EXIST")
        if core.norm_addr(account["authentication_key"]) != txn.auth_key():
            raise Discard("INVALID_AUTH_KEY")
        if txn.seq >= 2**63:
            raise Discard("SEQUENCE_NUMBER_TOO_BIG")
        if txn.seq < int(account["sequence_number"]):
            raise Discard("SEQUENCE_NUMBER_TOO_OLD")
        store = peek(framework.coin_store_key(txn.sender))
        balance = 0 if store is None else int(store["coin"]["value"])
        if balance < txn.max_gas * txn.gas_price:
            raise Discard("INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE")

    def submit(self, data: bytes) -> SignedTxn:
        """Validate a BCS ``SignedTransaction`` and add it to the mempool (idempotent for a resubmission)."""
        txn = decode_signed_transaction(data)
        return self.submit_decoded(txn)

    def submit_decoded(self, txn: SignedTxn) -> SignedTxn:
        """Mempool admission of a decoded transaction; raises :class:`ApiError` as Aptos's API does."""
        if txn.hash in self.pool_by_hash or txn.hash in self.in_flight:
            return self.pool_by_hash.get(txn.hash) or self.in_flight[txn.hash]
        if self._broken is not None:
            raise ApiError(503, f"the localnet stopped producing blocks: {self._broken}", "internal_error")
        if not txn.signature_valid():
            raise vm_error("INVALID_SIGNATURE")
        try:
            self._prologue(txn, self.state, now_s=int(time.time()))
        except Discard as exc:
            raise vm_error(exc.status) from None
        committed = self.committed_seq(txn.sender) or 0
        if txn.seq > committed + MAX_SEQUENCE_AHEAD:
            raise vm_error("SEQUENCE_NUMBER_TOO_NEW")
        by_seq = self.pool.get(txn.sender)
        current = by_seq.get(txn.seq) if by_seq else None
        if current is not None:
            if current.args != txn.args or current.function_id != txn.function_id or current.ty_args != txn.ty_args:
                raise ApiError(
                    400, "Transaction already in mempool with a different payload", "invalid_transaction_update"
                )
            if current.expiration != txn.expiration:
                raise ApiError(
                    400,
                    "Transaction already in mempool with a different expiration timestamp",
                    "invalid_transaction_update",
                )
            if current.max_gas != txn.max_gas:
                raise ApiError(
                    400, "Transaction already in mempool with a different max gas amount", "invalid_transaction_update"
                )
            if current.gas_price > txn.gas_price:
                raise ApiError(
                    400, "Transaction already in mempool with a higher gas price", "invalid_transaction_update"
                )
            if current.gas_price == txn.gas_price:
                return current  # same raw transaction: idempotent
            self._drop(current, resolve=False)  # a higher gas price replaces it
        if len(self.pool_by_hash) >= MEMPOOL_CAPACITY:
            raise ApiError(
                507,
                f"Mempool is full. Mempool size: {len(self.pool_by_hash)}, Capacity: {MEMPOOL_CAPACITY}",
                "mempool_is_full",
            )
        prepare(txn)
        txn.received = time.monotonic()
        self.pool.setdefault(txn.sender, {})[txn.seq] = txn
        self.pool_by_hash[txn.hash] = txn
        if txn.seq == self.next_seq(txn.sender):
            self.ready[txn.sender] = None
            self._wake.set()
        return txn

    def _drop(self, txn: SignedTxn, *, resolve: bool = True) -> None:
        """Remove a transaction from the mempool (and wake its waiters with ``None``)."""
        by_seq = self.pool.get(txn.sender)
        if by_seq is not None and by_seq.get(txn.seq) is txn:
            del by_seq[txn.seq]
            if not by_seq:
                del self.pool[txn.sender]
        self.pool_by_hash.pop(txn.hash, None)
        if resolve:
            self._resolve(txn.hash, None)

    def _gc_pool(self) -> None:
        """Drop pooled transactions that can never run: expired, or behind their sender's sequence number."""
        now_s = int(time.time())
        for sender in list(self.pool):
            expected = self.next_seq(sender) or 0
            for txn in list(self.pool[sender].values()):
                if txn.seq < expected or txn.expiration <= now_s:
                    self._drop(txn)
            if sender in self.pool and expected in self.pool[sender]:
                self.ready[sender] = None

    # ------------------------------------------------------------------ block production

    async def run(self) -> None:
        """Block producer: a block as soon as transactions are ready, an empty one when idle for a while."""
        last_gc = time.monotonic()
        while not self._closing and self._broken is None:
            if not self.ready and not self._force_block:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_block_interval)
            self._wake.clear()
            if self._closing or self._broken is not None:
                break
            if time.monotonic() - last_gc > 1.0:
                self._gc_pool()
                last_gc = time.monotonic()
            await self._pipeline.acquire()  # at most PIPELINE_DEPTH blocks between execution and publication
            try:
                block = await self._execute_block()
            except Exception:  # a bug must not stop the chain; nothing of this block was kept
                self._pipeline.release()
                log.exception("block execution failed")
                await asyncio.sleep(0.05)
                continue
            self._to_publish.put_nowait(block)

    async def _publish_loop(self) -> None:
        """Publish executed blocks in order, each once its commit is durable."""
        while True:
            block = await self._to_publish.get()
            if block is None:
                return
            try:
                await self._finish(block)
            except Exception:  # logged by _finish; the chain is stopped (fail-stop)
                pass
            finally:
                self._pipeline.release()

    def _take_ready(self) -> list[SignedTxn]:
        """Pop the next block's transactions: each ready sender's contiguous run of sequence numbers."""
        batch: list[SignedTxn] = []
        for sender in list(self.ready):
            by_seq = self.pool.get(sender)
            seq = self.next_seq(sender)
            while by_seq and seq is not None and seq in by_seq and len(batch) < MAX_BLOCK_TXNS:
                txn = by_seq.pop(seq)
                self.pool_by_hash.pop(txn.hash, None)
                self.in_flight[txn.hash] = txn
                batch.append(txn)
                seq += 1
            if by_seq is not None and not by_seq:
                del self.pool[sender]
            if not by_seq or seq not in by_seq:
                del self.ready[sender]
            if len(batch) >= MAX_BLOCK_TXNS:
                break
        return batch

    async def produce_block(self) -> None:
        """Execute, persist and publish one block now (tests drive the node with this instead of :meth:`start`)."""
        await self._finish(await self._execute_block())

    async def _execute_block(self) -> _Executed:
        """Execute the next block on top of the tip and start its durable commit (published later)."""
        self._force_block = False
        batch = self._take_ready()
        timestamp = self.now_us()
        tip, tip_id, accumulator = self._tip()
        height = tip.block_height + 1
        block_state = Overlay(self._tip_state())
        block_id = hex0x(
            sha3(bytes.fromhex(tip_id[2:]) + height.to_bytes(8, "little") + timestamp.to_bytes(8, "little"))
        )
        version = tip.version + 1
        record = BlockRecord(height, block_id, timestamp, version, version)

        body, txn_hash, accumulator = self._block_metadata(
            block_state, version, block_id, height, timestamp, accumulator, record
        )
        record.txns.append((version, txn_hash, None, None, body))
        block = _Executed(
            record, block_state, tip, block_id, accumulator, batch, [(None, txn_hash, body, version)], [], []
        )
        blocked: set[str] = set()
        now_s = int(time.time())
        for i, txn in enumerate(batch):
            if i and i % EXECUTION_SLICE == 0:
                await asyncio.sleep(0)  # keep serving API requests while a big block executes
            if txn.sender in blocked:
                block.returned.append(txn)
                continue
            try:
                self._prologue(txn, block_state, now_s=now_s)
                if txn.seq != int(block_state.peek(framework.account_key(txn.sender))["sequence_number"]):
                    raise Discard("SEQUENCE_NUMBER_TOO_NEW")
            except Discard as exc:
                log.info("discarding %s at execution: %s", txn.hash, exc.status)
                block.discarded.append(txn)
                blocked.add(txn.sender)
                continue
            version += 1
            outcome = self.execute(txn, block_state, version, timestamp)
            body, accumulator = self._render_user(txn, outcome, version, timestamp, accumulator, record)
            record.txns.append((version, txn.hash, txn.sender, txn.seq, body))
            record.history.extend((key, version, value) for key, value in outcome.changes.items())
            block.committed.append((txn, txn.hash, body, version))

        record.last_version = version
        record.writes = block_state.changes()
        block.ledger = LedgerInfo(self.chain_id, version, timestamp, height)
        block.accumulator = accumulator
        record.meta = self._meta(block.ledger, block_id, accumulator)
        # Transactions that could not run go back to the mempool now, so the next block can take them.
        for txn in block.discarded:
            self.in_flight.pop(txn.hash, None)
            self._resolve(txn.hash, None)
        for txn in block.returned:
            self.in_flight.pop(txn.hash, None)
            self.pool.setdefault(txn.sender, {})[txn.seq] = txn
            self.pool_by_hash[txn.hash] = txn
        self._unpublished.append(block)  # from here on, the tip includes this block
        for txn in block.returned:
            if self.next_seq(txn.sender) == txn.seq:
                self.ready[txn.sender] = None
        block.commit = asyncio.get_running_loop().run_in_executor(self._writer, self.storage.commit_block, record)
        return block

    async def _finish(self, block: _Executed) -> None:
        """Wait for ``block``'s commit, then publish it: state, ledger info, waiters, mempool."""
        assert block.commit is not None
        try:
            await block.commit
            if self._broken is not None:
                raise RuntimeError(self._broken)
        except BaseException as exc:
            # Not durable, so never committed. Later blocks were built on it: stop the chain (fail-stop);
            # a restart resumes from the last durable block.
            self._broken = f"{type(exc).__name__}: {exc}"
            log.critical("could not persist block %s: %s", block.ledger.block_height, self._broken)
            for pending in self._unpublished:
                for txn in pending.batch:
                    self.in_flight.pop(txn.hash, None)
                    self._resolve(txn.hash, None)
            self._unpublished.clear()
            self._wake.set()
            raise
        assert self._unpublished and self._unpublished[0] is block
        self._unpublished.popleft()
        record = block.record
        for key, value in record.writes.items():
            self._index_key(key, present=value is not None)
        # Fold the block's writes into the state; later blocks built on its overlay now read through it.
        folding = Overlay(self.state)
        folding.writes = block.state.writes
        folding.commit_into()
        block.state.writes = {}
        block.state.base = self.state
        self.ledger, self.block_id, self.accumulator = block.ledger, block.block_id, block.accumulator
        self.header_list = block.ledger.headers()
        for _, txn_hash, body, version in block.committed:
            self._remember(version, txn_hash, body)
        for txn, txn_hash, body, _ in block.committed:
            if txn is not None:
                self.in_flight.pop(txn_hash, None)
                self._resolve(txn_hash, body)
        for sender in {txn.sender for txn in block.batch}:
            by_seq = self.pool.get(sender)
            if not by_seq:
                continue
            seq = self.next_seq(sender) or 0
            for stale in [t for s, t in by_seq.items() if s < seq]:
                self._drop(stale)
            if seq in by_seq:
                self.ready[sender] = None
                self._wake.set()
        async with self._block_committed:
            self._block_committed.notify_all()
        for callback in self.on_publish:
            callback()

    def _block_metadata(
        self,
        block_state: Overlay,
        version: int,
        block_id: str,
        height: int,
        timestamp: int,
        accumulator: bytes,
        record: BlockRecord,
    ) -> tuple[bytes, str, bytes]:
        """The ``block_metadata_transaction`` opening a block: it advances ``0x1::timestamp``."""
        txn_hash = hex0x(sha3(_TXN_PREFIX + b"\x01" + bytes.fromhex(block_id[2:])))
        bm_state = Overlay(block_state)
        fw = core.FRAMEWORK
        bm_state.put(core.resource_key(fw, framework.TIMESTAMP_T), {"microseconds": timestamp})
        block_key = core.resource_key(fw, framework.BLOCK_RESOURCE_T)
        block_res = bm_state.get(block_key)
        events: list[dict[str, Any]] = []
        if block_res is not None:
            handle = block_res["new_block_events"]
            seq = int(handle["counter"])
            handle["counter"] = seq + 1
            block_res["height"] = height
            bm_state.put(block_key, block_res)
            values = {
                "hash": block_id,
                "epoch": EPOCH,
                "round": height,
                "height": height,
                "previous_block_votes_bitvec": b"",
                "proposer": VALIDATOR_ADDRESS,
                "failed_proposer_indices": [],
                "time_microseconds": timestamp,
            }
            guid = ("0x1", int(handle["guid"]["id"]["creation_num"]), seq)
            events.append(render_event(framework.NEW_BLOCK, values, guid))
        changes = bm_state.changes()
        bm_state.commit_into()
        record.history.extend((key, version, value) for key, value in changes.items())
        rendered_changes = render_changes(changes)
        accumulator = sha3(accumulator + bytes.fromhex(txn_hash[2:]))
        body = {
            "type": "block_metadata_transaction",
            "version": str(version),
            "hash": txn_hash,
            "state_change_hash": change_set_hash(rendered_changes),
            "event_root_hash": event_root_hash(txn_hash, events),
            "gas_used": "0",
            "success": True,
            "vm_status": "Executed successfully",
            "accumulator_root_hash": hex0x(accumulator),
            "changes": rendered_changes,
            "id": block_id,
            "epoch": str(EPOCH),
            "round": str(height),
            "events": events,
            "previous_block_votes_bitvec": [],
            "proposer": VALIDATOR_ADDRESS,
            "failed_proposer_indices": [],
            "timestamp": str(timestamp),
        }
        for event in events:
            guid = event["guid"]
            record.events.append(
                (
                    core.norm_addr(guid["account_address"]),
                    int(guid["creation_number"]),
                    int(event["sequence_number"]),
                    version,
                    dumps({"version": str(version), **event}),
                )
            )
        return dumps(body), txn_hash, accumulator

    # ------------------------------------------------------------------ execution

    def execute(self, txn: SignedTxn, base: Overlay, version: int, timestamp: int) -> Outcome:
        """Run one user transaction on ``base`` (the block overlay) and fold its effects into it.

        Success applies the writes; an abort or any other failure discards them and applies only the
        epilogue (sequence number, gas), as the Aptos VM does.
        """
        tx_state = Overlay(base)
        ctx = TxContext(
            sender=txn.sender, timestamp_us=timestamp, state=tx_state, version=version, type_args=list(txn.ty_args)
        )
        fn = txn.fn
        base_gas = INTRINSIC_GAS_UNITS
        success = False
        try:
            if fn is None:
                if core.function_key(txn.module_addr, txn.module, txn.function) in core.VIEW_FUNCTIONS:
                    raise core.VmError("EXECUTE_ENTRY_FUNCTION_CALLED_ON_NON_ENTRY_FUNCTION")
                module_exists = any(
                    f.address == txn.module_addr and f.module == txn.module for f in core.ENTRY_FUNCTIONS.values()
                ) or any(f.address == txn.module_addr and f.module == txn.module for f in core.VIEW_FUNCTIONS.values())
                raise core.VmError("FUNCTION_RESOLUTION_FAILURE" if module_exists else "LINKER_ERROR")
            if fn.type_params != len(txn.ty_args):
                raise core.VmError("NUMBER_OF_TYPE_ARGUMENTS_MISMATCH")
            if len(txn.args) != len(fn.params):
                raise core.VmError("NUMBER_OF_ARGUMENTS_MISMATCH")
            if txn.decoded is None:
                raise core.VmError("FAILED_TO_DESERIALIZE_ARGUMENT")
            base_gas += fn.gas
            fn.handler(ctx, *txn.decoded)
            gas_used = base_gas + ctx.gas_used
            if gas_used > txn.max_gas:
                vm_status, gas_used = "Out of gas", txn.max_gas
            else:
                success, vm_status = True, "Executed successfully"
        except core.MoveAbort as abort:
            vm_status, gas_used = abort.vm_status, base_gas + ctx.gas_used
        except core.VmError as err:
            vm_status, gas_used = self._vm_error_status(err, fn), base_gas + ctx.gas_used
        except Exception as exc:  # a bug in a Python module: commit as failed, keep the chain going
            log.exception("entry function %s raised", txn.function_id)
            vm_status = misc_error_status("UNKNOWN_INVARIANT_VIOLATION_ERROR") + f" ({type(exc).__name__}: {exc})"
            gas_used = base_gas + ctx.gas_used
        gas_used = min(gas_used, txn.max_gas)
        if not success:
            tx_state = Overlay(base)
            ctx.events, ctx.event_guids = [], {}
        # Epilogue: bump the sequence number, burn the fee.
        account_key = framework.account_key(txn.sender)
        account = dict(tx_state.peek(account_key))  # only a top-level field changes: a shallow copy is enough
        account["sequence_number"] = int(account["sequence_number"]) + 1
        tx_state.put(account_key, account)
        fee = gas_used * txn.gas_price
        store_key = framework.coin_store_key(txn.sender)
        store = tx_state.peek(store_key)
        if store is not None and fee > 0:
            store = dict(store)
            store["coin"] = {"value": max(0, int(store["coin"]["value"]) - fee)}
            tx_state.put(store_key, store)
        events = []
        handle_events = []
        for i, (ev, values) in enumerate(ctx.events):
            guid = ctx.event_guids.get(i)
            rendered = render_event(ev, values, guid)
            events.append(rendered)
            if guid is not None:
                handle_events.append((guid[0], guid[1], guid[2], rendered))
        events.append(
            render_event(
                framework.FEE_STATEMENT,
                {
                    "total_charge_gas_units": gas_used,
                    "execution_gas_units": gas_used,
                    "io_gas_units": 0,
                    "storage_fee_octas": 0,
                    "storage_fee_refund_octas": 0,
                },
                None,
            )
        )
        changes = tx_state.changes()
        tx_state.commit_into()
        return Outcome(success, vm_status, gas_used, changes, events, handle_events)

    @staticmethod
    def _vm_error_status(err: core.VmError, fn: core.Function | None) -> str:
        """The ``vm_status`` text of a non-abort failure, as Aptos explains it."""
        code = STATUS_CODES.get(err.status)
        if code is not None and 4000 <= code < 5000 and fn is not None:
            # Aptos: ExecutionFailure -> "Execution failed in <module>::<function> at code offset N"
            return f"Execution failed in {fn.function_id} at code offset 0"
        return misc_error_status(err.status)

    def _render_user(
        self,
        txn: SignedTxn,
        outcome: Outcome,
        version: int,
        timestamp: int,
        accumulator: bytes,
        record: BlockRecord | None,
    ) -> tuple[bytes, bytes]:
        """Serialize a committed user transaction; returns it and the new accumulator."""
        rendered_changes = render_changes(outcome.changes)
        accumulator = sha3(accumulator + bytes.fromhex(txn.hash[2:]))
        body = {
            "type": "user_transaction",
            "version": str(version),
            "hash": txn.hash,
            "state_change_hash": change_set_hash(rendered_changes),
            "event_root_hash": event_root_hash(txn.hash, outcome.events),
            "gas_used": str(outcome.gas_used),
            "success": outcome.success,
            "vm_status": outcome.vm_status,
            "accumulator_root_hash": hex0x(accumulator),
            "changes": rendered_changes,
            "sender": core.standard_addr(txn.sender),
            "sequence_number": str(txn.seq),
            "max_gas_amount": str(txn.max_gas),
            "gas_unit_price": str(txn.gas_price),
            "expiration_timestamp_secs": str(txn.expiration),
            "payload": txn.payload_json,
            "signature": txn.signature_json,
            "events": outcome.events,
            "timestamp": str(timestamp),
        }
        if record is not None:
            for account, creation_num, seq, event in outcome.handle_events:
                record.events.append((account, creation_num, seq, version, dumps({"version": str(version), **event})))
        return dumps(body), accumulator

    # ------------------------------------------------------------------ simulation & views

    def simulate(self, txn: SignedTxn, *, estimate_max_gas: bool = False, estimate_price: bool = False) -> dict:
        """``/transactions/simulate``: run on a throw-away overlay; prologue failures come back as a failed output."""
        if txn.signature_valid():
            raise invalid_input("Simulated transactions must not have a valid signature")
        if estimate_price:
            txn.gas_price = MIN_GAS_UNIT_PRICE
        if estimate_max_gas:
            balance = framework.apt_balance(self.state, txn.sender)
            txn.max_gas = max(INTRINSIC_GAS_UNITS, min(MAX_GAS_AMOUNT, balance // max(txn.gas_price, 1)))
        prepare(txn)
        version = self.ledger.version
        timestamp = self.ledger.timestamp_us
        scratch = Overlay(self.state)
        try:
            self._prologue(txn, scratch, now_s=int(time.time()))
            account = scratch.get(framework.account_key(txn.sender))
            if txn.seq != int(account["sequence_number"]):
                raise Discard("SEQUENCE_NUMBER_TOO_NEW")
            outcome = self.execute(txn, scratch, version, timestamp)
        except Discard as exc:
            outcome = Outcome(False, misc_error_status(exc.status), 0, {}, [], [])
        body_bytes, _ = self._render_user(txn, outcome, version, timestamp, bytes(32), None)
        body = loads(body_bytes)
        del body["type"]  # the endpoint answers Vec<UserTransaction>, not the tagged Transaction enum
        body["state_change_hash"] = body["event_root_hash"] = body["accumulator_root_hash"] = ZERO_HASH
        return body

    def view(
        self,
        function_id: str,
        type_args: list[str],
        args: list[Any] | None,
        bcs_args: list[bytes] | None,
        version: int | None = None,
    ) -> tuple[core.Function, list[Any]]:
        """Run a ``#[view]`` function on the state as of ``version``; :class:`ApiError` (400) on any failure."""
        module_addr, module, name = _split_function_id(function_id)
        key = core.function_key(module_addr, module, name)
        fn = core.VIEW_FUNCTIONS.get(key)
        if fn is None:
            if key in core.ENTRY_FUNCTIONS:
                raise ApiError(
                    400,
                    f"function {core.short_addr(module_addr)}::{module}::{name} is not marked as view",
                    "invalid_input",
                )
            raise ApiError(
                400,
                f"could not find view function by {core.short_addr(module_addr)}::{module}::{name}",
                "invalid_input",
                STATUS_CODES["FUNCTION_RESOLUTION_FAILURE"],
            )
        try:
            type_args = [canonical_type(t) for t in type_args]
        except TypeTagError as exc:
            raise invalid_input(f"invalid type argument: {exc}") from None
        if len(type_args) != fn.type_params:
            raise ApiError(
                400,
                misc_error_status("NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"),
                "invalid_input",
                STATUS_CODES["NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"],
            )
        given = bcs_args if bcs_args is not None else args or []
        if len(given) != len(fn.params):
            raise ApiError(
                400,
                misc_error_status("NUMBER_OF_ARGUMENTS_MISMATCH"),
                "invalid_input",
                STATUS_CODES["NUMBER_OF_ARGUMENTS_MISMATCH"],
            )
        try:
            if bcs_args is not None:
                values = [core.decode_bcs_arg(p, a) for p, a in zip(fn.params, bcs_args, strict=True)]
            else:
                values = [decode_json_strict(p, a) for p, a in zip(fn.params, given, strict=True)]
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise ApiError(
                400,
                f"{misc_error_status('FAILED_TO_DESERIALIZE_ARGUMENT')}: {exc}",
                "invalid_input",
                STATUS_CODES["FAILED_TO_DESERIALIZE_ARGUMENT"],
            ) from None
        base = self.state_at(version)
        timestamp = base.get(core.resource_key(core.FRAMEWORK, framework.TIMESTAMP_T), {"microseconds": 0})
        ctx = TxContext(
            sender=core.norm_addr("0x0"),
            timestamp_us=int(timestamp["microseconds"]),
            state=Overlay(base),
            version=self.ledger.version if version is None else version,
            type_args=type_args,
        )
        try:
            result = fn.handler(ctx, *values)
        except core.MoveAbort as abort:
            raise ApiError(400, abort.vm_status, "invalid_input", STATUS_CODES["ABORTED"]) from None
        except core.VmError as err:
            raise ApiError(400, misc_error_status(err.status), "invalid_input", STATUS_CODES.get(err.status)) from None
        return fn, list(result)
