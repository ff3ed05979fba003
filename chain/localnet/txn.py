"""Signed transactions: BCS decoding, building from JSON, signing, and the mempool/VM validator's prologue."""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.signing

from chain.localnet.auth import (
    RAW_TXN_PREFIX,
    TXN_FEE_PAYER,
    TXN_MULTI_AGENT,
    ZERO_ADDRESS,
    read_transaction_authenticator,
)
from chain.localnet.codec import (
    IDENT,
    BcsReader,
    TypeTagError,
    bcs_str,
    canonical_tag,
    canonical_type,
    decode_json_strict,
    encode_bcs_value,
    hex0x,
    parse_api_address,
    parse_type_tag,
    type_tag_bcs,
    uleb128,
)
from chain.localnet.errors import ApiError, Discard, invalid_input, vm_error
from chain.localnet.vm import core, framework

#: Aptos's ``min_price_per_gas_unit`` (``aptos_global_constants::GAS_UNIT_PRICE``).
MIN_GAS_UNIT_PRICE = 100
MAX_GAS_UNIT_PRICE = 10_000_000_000
#: ``maximum_number_of_gas_units`` (``aptos_global_constants::MAX_GAS_AMOUNT``).
MAX_GAS_AMOUNT = 2_000_000
#: Intrinsic gas of any transaction (Aptos: ``min_transaction_gas_units`` 2.76 units, rounded up).
INTRINSIC_GAS_UNITS = 3
MAX_TRANSACTION_SIZE = 64 * 1024

TXN_PREFIX = hashlib.sha3_256(b"APTOS::Transaction").digest()


class SignedTxn:
    """A decoded ``SignedTransaction``: an ``EntryFunction`` payload and its authenticator (any signer scheme,
    multi-agent or fee payer)."""

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
        "auth",
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

    def auth_key(self) -> str | None:
        """The authentication key the sender's keys stand for (``None`` for a simulation without keys)."""
        return self.auth.sender.auth_key()

    @property
    def secondary_signers(self) -> list[str]:
        """Addresses of the secondary signers (multi-agent and fee-payer transactions), in order."""
        return self.auth.secondary_addresses

    @property
    def fee_payer(self) -> str | None:
        """The fee payer's address, ``None`` unless this is a fee-payer transaction."""
        return self.auth.fee_payer_address

    @property
    def gas_payer(self) -> str:
        """Who pays the gas: the fee payer, else the sender."""
        return self.auth.fee_payer_address or self.sender

    def signature_valid(self) -> bool:
        """Every signature of the authenticator verifies over its signing message."""
        return self.auth.verify(self.raw)


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
    r = BcsReader(data)
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
        txn.auth = read_transaction_authenticator(r)
    except ApiError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        message = str(exc)
        if "not supported by the localnet" in message:
            raise invalid_input(message[:1].upper() + message[1:]) from None
        raise invalid_input(f"Failed to deserialize input into SignedTransaction: {exc}") from None
    if not IDENT.match(txn.module) or not IDENT.match(txn.function):
        raise invalid_input("Transaction entry function module invalid: not a valid Move identifier")
    end = r.pos
    txn.bytes = bytes(data[start:end])
    txn.raw = txn.bytes[: raw_end - start]
    txn.hash = hex0x(core.sha3(TXN_PREFIX + b"\x00" + txn.bytes))
    return txn, end


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
    out += b"\x02" + core.addr_bytes(module_addr) + bcs_str(module) + bcs_str(function)
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


def split_function_id(function_id: str) -> tuple[str, str, str]:
    """``address::module::function`` split and checked (400 when malformed)."""
    parts = function_id.split("::")
    if len(parts) != 3 or not IDENT.match(parts[1]) or not IDENT.match(parts[2]):
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
    module_addr, module, function = split_function_id(str(payload.get("function", "")))
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


def prologue(txn: SignedTxn, state: Any, *, chain_id: int, now_s: int, simulation: bool = False) -> None:
    """The checks of ``check_gas`` and ``transaction_validation``'s prologues, in Aptos's order.

    Raises :class:`Discard` with the status name. ``state`` is the committed dict or a block overlay.
    Expiration is checked against the wall clock, not the (test-)chain clock, so that SDK-built
    transactions (expiry = wall time + TTL) stay valid after a test-clock advance.

    Multi-agent and fee-payer transactions also check every secondary signer (the account exists, its
    authentication key is the one its authenticator stands for) and the fee payer's key; the fee payer,
    not the sender, must afford ``max_gas × gas_unit_price``. A fee-payer transaction at sequence number 0
    from an address with no account is a sponsored account creation: no key or account check for the
    sender (its account is created by the epilogue). A simulation may leave keys out
    (``NoAccountAuthenticator``: no key check) and the fee payer at ``0x0`` (no gas charged).
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
    if txn.chain_id != chain_id:
        raise Discard("BAD_CHAIN_ID")
    account = core.peek(state, framework.account_key(txn.sender))
    sponsored_creation = account is None and txn.fee_payer not in (None, txn.sender) and txn.seq == 0
    if account is None and not sponsored_creation:
        raise Discard("SENDING_ACCOUNT_DOES_NOT_EXIST")
    _check_key(txn.auth.sender.auth_key(), account, simulation)
    if txn.seq >= 2**63:
        raise Discard("SEQUENCE_NUMBER_TOO_BIG")
    if account is not None and txn.seq < int(account["sequence_number"]):
        raise Discard("SEQUENCE_NUMBER_TOO_OLD")
    gas_payer = txn.gas_payer
    charged = not (simulation and gas_payer == ZERO_ADDRESS)
    if charged and framework.apt_balance(state, gas_payer) < txn.max_gas * txn.gas_price:
        raise Discard("INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE")
    if txn.auth.variant not in (TXN_MULTI_AGENT, TXN_FEE_PAYER):
        return
    if len(txn.auth.secondary_addresses) != len(txn.auth.secondary):
        raise Discard("SECONDARY_KEYS_ADDRESSES_COUNT_MISMATCH")
    for address, signer in zip(txn.auth.secondary_addresses, txn.auth.secondary, strict=True):
        secondary = core.peek(state, framework.account_key(address))
        if secondary is None:
            raise Discard("SENDING_ACCOUNT_DOES_NOT_EXIST")
        _check_key(signer.auth_key(), secondary, simulation)
    if txn.auth.fee_payer is not None and txn.fee_payer is not None:
        payer = core.peek(state, framework.account_key(txn.fee_payer))
        if payer is None and not simulation:  # account::get_authentication_key of a missing account
            raise Discard("INVALID_AUTH_KEY")
        _check_key(txn.auth.fee_payer.auth_key(), payer, simulation)


def _check_key(key: str | None, account: dict[str, Any] | None, simulation: bool) -> None:
    """``INVALID_AUTH_KEY`` unless ``key`` is the account's authentication key (skipped for a sponsored creation,
    where there is no account yet, and for a simulation that gave no key)."""
    if simulation and key is None:
        return
    if key is None:
        raise Discard("INVALID_AUTH_KEY")
    if account is not None and core.norm_addr(account["authentication_key"]) != key:
        raise Discard("INVALID_AUTH_KEY")


def contains_duplicate_signers(txn: SignedTxn) -> bool:
    """The same address signs twice (sender, secondary signers, fee payer): ``SIGNERS_CONTAIN_DUPLICATES``."""
    addresses = txn.auth.all_addresses(txn.sender)
    return len(set(addresses)) != len(addresses)

