"""BCS encoders for hand-built entry-function arguments in the localnet tests."""

from __future__ import annotations


def bcs_u64(value: int) -> bytes:
    return int(value).to_bytes(8, "little")


def bcs_u8(value: int) -> bytes:
    return int(value).to_bytes(1, "little")


def bcs_bool(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def uleb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def bcs_bytes(value: bytes) -> bytes:
    return uleb128(len(value)) + bytes(value)


def bcs_vec_bytes(items: list[bytes]) -> bytes:
    return uleb128(len(items)) + b"".join(bcs_bytes(item) for item in items)
