"""Entry-function arguments: the checks every builder runs before sending, and their BCS encoding by Move type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Serializer
from nacl.bindings import crypto_core_ed25519_is_valid_point

from chain.constants import U64_MAX
from chain.errors import InvalidArgument
from chain.keys import ROLE_CHECKER, ROLE_WORKER, normalize_address

U8_MAX = 2**8 - 1
Address = str | bytes | AccountAddress
Bytes = bytes | bytearray | str


def check_u64(name: str, value: Any) -> int:
    """``value`` as a u64 (int only: no bool, float or str)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise InvalidArgument(f"{name} must fit in u64, got {value}")
    return value


def check_u8(name: str, value: Any) -> int:
    """``value`` as a u8."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= U8_MAX:
        raise InvalidArgument(f"{name} must fit in u8, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool (no truthy ints)."""
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_positive(name: str, value: Any) -> int:
    """A u64 greater than zero."""
    if check_u64(name, value) == 0:
        raise InvalidArgument(f"{name} must be greater than zero")
    return value


def check_address(name: str, value: Any) -> AccountAddress:
    """An account address (hex string, 32 bytes or AccountAddress)."""
    try:
        return AccountAddress(bytes.fromhex(normalize_address(value)[2:]))
    except InvalidArgument as exc:
        raise InvalidArgument(f"{name}: {exc}") from None


def check_bytes(name: str, value: Any, length: int | None = None) -> bytes:
    """Bytes given as bytes or hex text (``0x`` optional), of exactly ``length`` bytes when given."""
    if isinstance(value, str):
        text = value[2:] if value.startswith("0x") else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise InvalidArgument(f"{name} is not hex") from None
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidArgument(f"{name} must be bytes, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise InvalidArgument(f"{name} must be {length} bytes, got {len(value)}")
    return bytes(value)


def check_role(name: str, value: Any) -> int:
    """A node role: 1 worker or 2 checker."""
    if check_u8(name, value) not in (ROLE_WORKER, ROLE_CHECKER):
        raise InvalidArgument(f"{name} must be 1 (worker) or 2 (checker), got {value}")
    return value


def check_public_key(name: str, value: Any) -> bytes:
    """A 32-byte Ed25519 public key that is a valid curve point (the chain's own check)."""
    key = check_bytes(name, value, 32)
    if not crypto_core_ed25519_is_valid_point(key):
        raise InvalidArgument(f"{name} is not a valid Ed25519 public key")
    return key


# --------------------------------------------------------------------------- encoding


def _encoder(move_type: str) -> Callable[[Serializer, Any], None]:
    """The BCS serializer of a Move argument type."""
    if move_type == "u8":
        return Serializer.u8
    if move_type == "u64":
        return Serializer.u64
    if move_type == "bool":
        return Serializer.bool
    if move_type == "address":
        return Serializer.struct
    if move_type == "vector<u8>":
        return Serializer.to_bytes
    if move_type == "vector<vector<u8>>":
        return Serializer.sequence_serializer(Serializer.to_bytes)
    raise ValueError(f"no encoder for {move_type}")


def _coerce(name: str, move_type: str, value: Any) -> Any:
    # The checks every call needs to be encodable at all, strict or not.
    """Check and convert one argument to what its Move type's serializer takes."""
    if move_type == "u8":
        return check_u8(name, value)
    if move_type == "u64":
        return check_u64(name, value)
    if move_type == "bool":
        return check_bool(name, value)
    if move_type == "address":
        return check_address(name, value)
    if move_type == "vector<u8>":
        return check_bytes(name, value)
    if move_type == "vector<vector<u8>>":
        if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
            raise InvalidArgument(f"{name} must be a list of byte strings")
        return [check_bytes(f"{name}[{i}]", v) for i, v in enumerate(value)]
    raise ValueError(f"unsupported Move type {move_type}")


def encode_args(params: Sequence[tuple[str, str]], values: Sequence[Any]) -> list[bytes]:
    """BCS-encode entry-function arguments against their Move types (InvalidArgument on a bad value)."""
    if len(params) != len(values):
        raise InvalidArgument(f"expected {len(params)} arguments, got {len(values)}")
    out: list[bytes] = []
    for (name, move_type), value in zip(params, values, strict=True):
        ser = Serializer()
        _encoder(move_type)(ser, _coerce(name, move_type, value))
        out.append(ser.output())
    return out
