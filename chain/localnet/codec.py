"""Wire formats of the localnet: JSON bytes, Move type tags, BCS values and the JSON argument forms Aptos accepts."""

from __future__ import annotations

import re
from typing import Any

from chain.localnet.vm import core

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

#: A Move identifier (module, function or struct name).
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_API_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,64}|[0-9a-fA-F]{64}")


def parse_api_address(text: Any) -> str:
    """An address as Aptos's API parses one: ``0x`` + 1..64 hex digits, or exactly 64 digits without ``0x``."""
    if not isinstance(text, str) or not _API_ADDRESS.fullmatch(text):
        raise ValueError(f"invalid account address: {text!r}")
    return core.norm_addr(text)


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
    if not IDENT.match(module) or not IDENT.match(name):
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
    out = b"\x07" + core.addr_bytes(address) + bcs_str(module) + bcs_str(name) + uleb128(len(args))
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


def bcs_str(text: str) -> bytes:
    """BCS of a string."""
    raw = text.encode()
    return uleb128(len(raw)) + raw


def encode_bcs_value(move_type: str, value: Any) -> bytes:
    """BCS-encode a Python value of Move type ``move_type`` (the inverse of ``core.decode_bcs_arg``)."""
    if move_type in core.INT_BYTES:
        return int(value).to_bytes(core.INT_BYTES[move_type], "little")
    if move_type == "bool":
        return b"\x01" if value else b"\x00"
    if move_type == "address" or move_type.startswith("0x1::object::Object<"):
        return core.addr_bytes(value)
    if move_type == "0x1::string::String":
        return bcs_str(value)
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


class BcsReader:
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
