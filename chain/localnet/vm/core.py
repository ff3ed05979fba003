"""Execution core of the localnet VM: state overlays, aborts, events, entry/view registries, arguments.

The localnet re-implements the Move modules in Python. Everything a module implementation needs
lives here, so that `framework.py` (0x1) and the `pictor` modules share one set of rules:

* state is a flat ``dict[str, Any]`` of keys built by :func:`resource_key` / :func:`table_key`;
  a transaction writes through an :class:`Overlay`, so an abort discards its writes;
* a Move abort is :class:`MoveAbort`, raised by :meth:`ErrorSet.check` with the same module,
  reason name, code and description as the Move constant (``/// description`` doc comment);
* events are declared once with :func:`event_type` and emitted with :meth:`TxContext.emit`;
* entry and view functions are registered with :func:`entry` / :func:`view`, with their Move
  parameter types, which decode BCS or JSON arguments and let the parity test compare them with
  the Move sources.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chain.constants import U64_MAX as U64_MAX  # the VM modules read it here, beside U8_MAX and U128_MAX
from chain.constants import object_address

U8_MAX = 2**8 - 1
U128_MAX = 2**128 - 1

FRAMEWORK = "0x" + "0" * 63 + "1"


# --------------------------------------------------------------------------- addresses


_HEX_ADDR = re.compile(r"[0-9a-f]{1,64}")
# norm_addr runs for every state key and argument: remember the strings already normalized.
_NORM_CACHE: dict[str, str] = {}


def norm_addr(value: Any) -> str:
    """Return an address as ``0x`` + 64 lowercase hex digits (accepts str, bytes, AccountAddress)."""
    if type(value) is str:
        hit = _NORM_CACHE.get(value)
        if hit is not None:
            return hit
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise ValueError(f"an address is 32 bytes, got {len(value)}")
        return "0x" + bytes(value).hex()
    text = str(value).strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not _HEX_ADDR.fullmatch(text):
        raise ValueError(f"not an account address: {value!r}")
    out = "0x" + text.rjust(64, "0")
    if type(value) is str and len(_NORM_CACHE) < 1_000_000:
        _NORM_CACHE[value] = out
    return out


def short_addr(value: Any) -> str:
    """Return an address in Aptos's shortest hex literal form (``0x1``), as used in vm_status."""
    text = norm_addr(value)[2:].lstrip("0")
    return "0x" + (text or "0")


def standard_addr(value: Any) -> str:
    """AIP-40 form used in JSON: special addresses (0x0…0xf) short, every other one in 64 digits."""
    full = norm_addr(value)
    return short_addr(full) if int(full, 16) < 16 else full


def addr_bytes(value: Any) -> bytes:
    """Return the 32 raw bytes of an address."""
    return bytes.fromhex(norm_addr(value)[2:])


def sha3(data: bytes) -> bytes:
    """SHA3-256, the hash the Aptos framework uses for addresses and authentication keys."""
    return hashlib.sha3_256(data).digest()


def object_address_from_seed(creator: Any, seed: bytes) -> str:
    """``object::create_object_address(source, seed)`` for a creator in any address form."""
    return object_address(norm_addr(creator), seed)


def user_derived_object_address(owner: Any, derive_from: Any) -> str:
    """``object::create_user_derived_object_address(source, derive_from)``: sha3(source ‖ derive_from ‖ 0xFC)."""
    return norm_addr(sha3(addr_bytes(owner) + addr_bytes(derive_from) + b"\xfc"))


def primary_store_address(owner: Any, metadata: Any) -> str:
    """``primary_fungible_store::primary_store_address(owner, metadata)``."""
    return user_derived_object_address(owner, metadata)


def ed25519_auth_key(public_key: bytes) -> str:
    """Single-key Ed25519 authentication key (and default address): sha3(pubkey ‖ 0x00)."""
    return norm_addr(sha3(bytes(public_key) + b"\x00"))


# --------------------------------------------------------------------------- aborts


class MoveAbort(Exception):
    """A Move ``abort``: the transaction commits as failed and changes nothing but gas and sequence."""

    def __init__(self, address: str, module: str, name: str, code: int, description: str) -> None:
        self.address = norm_addr(address)
        self.module = module
        self.name = name
        self.code = code
        self.description = description
        super().__init__(self.vm_status)

    @property
    def vm_status(self) -> str:
        """The node's ``vm_status`` text: ``Move abort in 0x1::module: NAME(0x…): description``."""
        return (
            f"Move abort in {short_addr(self.address)}::{self.module}: {self.name}({self.code:#x}): {self.description}"
        )


class VmError(Exception):
    """A failure that is not a Move abort (bad arguments, unknown function): ``vm_status`` is the status name."""

    def __init__(self, status: str, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}" if detail else status)

    @property
    def vm_status(self) -> str:
        return self.status


@dataclass(frozen=True)
class ErrorSet:
    """The abort codes of one Move module: ``name -> (code, description)``, as its ``const E…`` lines."""

    address: str
    module: str
    codes: dict[str, tuple[int, str]]

    def abort(self, name: str) -> MoveAbort:
        code, description = self.codes[name]
        return MoveAbort(self.address, self.module, name, code, description)

    def check(self, condition: bool, name: str) -> None:
        """``assert!(condition, NAME)``."""
        if not condition:
            raise self.abort(name)


ERROR_SETS: dict[tuple[str, str], ErrorSet] = {}


def error_set(address: str, module: str, **codes: tuple[int, str]) -> ErrorSet:
    """Declare (and register for the parity test) the abort codes of a module."""
    errors = ErrorSet(norm_addr(address), module, dict(codes))
    ERROR_SETS[(errors.address, module)] = errors
    return errors


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class EventType:
    """A ``#[event]`` struct: its type tag and its fields with their Move types (order matters)."""

    address: str
    module: str
    name: str
    fields: tuple[tuple[str, str], ...]

    @property
    def type_tag(self) -> str:
        return f"{short_addr(self.address)}::{self.module}::{self.name}"


EVENT_TYPES: dict[str, EventType] = {}


def event_type(address: str, module: str, name: str, fields: list[tuple[str, str]]) -> EventType:
    """Declare (and register) a module event type."""
    ev = EventType(norm_addr(address), module, name, tuple(fields))
    EVENT_TYPES[ev.type_tag] = ev
    return ev


# --------------------------------------------------------------------------- state


def resource_key(address: Any, type_tag: str) -> str:
    """State key of the resource ``type_tag`` stored at ``address``."""
    return f"r|{norm_addr(address)}|{type_tag}"


def table_key(handle: str, key: Any) -> str:
    """State key of one item of a Move ``Table`` (``handle`` from :func:`table_handle`)."""
    return f"t|{handle}|{key}"


def table_handle(owner: Any, name: str) -> str:
    """A stable table handle for the table ``name`` held by a resource at ``owner``."""
    return norm_addr(sha3(addr_bytes(owner) + name.encode() + b"\xfa"))


def clone(value: Any) -> Any:
    """Copy a state value deep enough that mutating the copy never touches committed state."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


_DELETED = object()


class Overlay:
    """Writes on top of a base mapping; ``commit_into`` folds them down, dropping them aborts."""

    def __init__(self, base: Any) -> None:
        self.base = base  # a dict or another Overlay
        self.writes: dict[str, Any] = {}

    def _lookup(self, key: str) -> Any:
        if key in self.writes:
            return self.writes[key]
        if isinstance(self.base, Overlay):
            return self.base._lookup(key)
        return self.base.get(key, _DELETED)

    def get(self, key: str, default: Any = None) -> Any:
        """A private copy of the value at ``key`` (mutate it, then :meth:`put` it back)."""
        value = self._lookup(key)
        return default if value is _DELETED else clone(value)

    def exists(self, key: str) -> bool:
        return self._lookup(key) is not _DELETED

    def peek(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` **without** copying it: read-only use (faster than :meth:`get`)."""
        value = self._lookup(key)
        return default if value is _DELETED else value

    def put(self, key: str, value: Any) -> None:
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes[key] = _DELETED

    def commit_into(self) -> None:
        """Apply this overlay's writes to its base."""
        if isinstance(self.base, Overlay):
            self.base.writes.update(self.writes)
        else:
            for key, value in self.writes.items():
                if value is _DELETED:
                    self.base.pop(key, None)
                else:
                    self.base[key] = value
        self.writes = {}

    def changes(self) -> dict[str, Any]:
        """This overlay's writes; a deleted key maps to ``None``."""
        return {k: (None if v is _DELETED else v) for k, v in self.writes.items()}


def peek(state: Overlay | dict[str, Any], key: str) -> Any:
    """The value at ``key`` of an overlay or a plain state dict, without copying it: read-only use."""
    return state.peek(key) if isinstance(state, Overlay) else state.get(key)


@dataclass
class TxContext:
    """What an executing entry or view function sees: sender, block time, state and the events it emits."""

    sender: str
    timestamp_us: int
    state: Overlay
    version: int = 0
    events: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)
    gas_used: int = 0
    #: Type arguments of the called function, canonical type-tag strings (``0x1::aptos_coin::AptosCoin``).
    type_args: list[str] = field(default_factory=list)
    #: Events emitted on a legacy ``EventHandle``: index in :attr:`events` -> (account, creation_num, seq).
    event_guids: dict[int, tuple[str, int, int]] = field(default_factory=dict)

    def now_seconds(self) -> int:
        """``timestamp::now_seconds()``."""
        return self.timestamp_us // 1_000_000

    def emit(self, ev: EventType, **values: Any) -> None:
        """``event::emit(Event { … })``; every declared field must be given, nothing else."""
        names = [name for name, _ in ev.fields]
        if sorted(names) != sorted(values):
            raise TypeError(f"event {ev.type_tag} wants fields {names}, got {sorted(values)}")
        self.events.append((ev, {name: values[name] for name in names}))
        self.gas_used += 2

    def emit_handle(self, ev: EventType, account: str, creation_num: int, seq: int, **values: Any) -> None:
        """``event::emit_event(&mut handle, …)``: a v1 event on the handle ``(account, creation_num)``."""
        self.emit(ev, **values)
        self.event_guids[len(self.events) - 1] = (norm_addr(account), creation_num, seq)


# --------------------------------------------------------------------------- entry & view registry


@dataclass(frozen=True)
class Function:
    """A registered Move entry or view function implemented in Python."""

    address: str
    module: str
    name: str
    params: tuple[str, ...]  # Move types of the arguments after the signer (entry) / all (view)
    returns: tuple[str, ...]  # Move return types (views)
    type_params: int
    handler: Callable[..., Any]
    is_view: bool
    gas: int
    #: How many leading ``&signer`` parameters (entry functions): the sender, then the secondary signers.
    signers: int = 1

    @property
    def function_id(self) -> str:
        return f"{short_addr(self.address)}::{self.module}::{self.name}"


ENTRY_FUNCTIONS: dict[str, Function] = {}
VIEW_FUNCTIONS: dict[str, Function] = {}


def function_key(address: Any, module: str, name: str) -> str:
    return f"{norm_addr(address)}::{module}::{name}"


def entry(
    address: str,
    module: str,
    params: list[str],
    *,
    name: str | None = None,
    type_params: int = 0,
    gas: int = 10,
    signers: int = 1,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``handler(ctx, *args)`` as the entry function ``address::module::name(&signer, params…)``.

    With ``signers`` > 1 the function takes that many ``&signer`` parameters: ``ctx.sender`` is the first,
    and the handler receives the secondary signers' addresses before the other arguments
    (``handler(ctx, second_signer, …, *args)``), as a multi-agent transaction passes them.
    """

    def register(handler: Callable[..., None]) -> Callable[..., None]:
        fn = Function(
            norm_addr(address),
            module,
            name or handler.__name__,
            tuple(params),
            (),
            type_params,
            handler,
            False,
            gas,
            signers,
        )
        ENTRY_FUNCTIONS[function_key(address, module, fn.name)] = fn
        return handler

    return register


def view(
    address: str, module: str, params: list[str], returns: list[str], *, name: str | None = None, type_params: int = 0
) -> Callable[[Callable[..., list[Any]]], Callable[..., list[Any]]]:
    """Register ``handler(ctx, *args) -> list`` as the ``#[view]`` function ``address::module::name``."""

    def register(handler: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        fn = Function(
            norm_addr(address),
            module,
            name or handler.__name__,
            tuple(params),
            tuple(returns),
            type_params,
            handler,
            True,
            0,
        )
        VIEW_FUNCTIONS[function_key(address, module, fn.name)] = fn
        return handler

    return register


# --------------------------------------------------------------------------- argument codecs


def _inner(move_type: str, prefix: str) -> str | None:
    if move_type.startswith(prefix) and move_type.endswith(">"):
        return move_type[len(prefix) : -1]
    return None


#: Byte width of each Move unsigned integer type (BCS writes them little-endian).
INT_BYTES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "u256": 32}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("unexpected end of argument bytes")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uleb128(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 32:
                raise ValueError("uleb128 length too large")


def _decode_bcs(move_type: str, reader: _Reader) -> Any:
    if move_type in INT_BYTES:
        return int.from_bytes(reader.take(INT_BYTES[move_type]), "little")
    if move_type == "bool":
        byte = reader.take(1)[0]
        if byte > 1:
            raise ValueError("bool must be 0 or 1")
        return byte == 1
    if move_type == "address" or _inner(move_type, "0x1::object::Object<") is not None:
        return norm_addr(reader.take(32))
    if move_type == "0x1::string::String":
        return reader.take(reader.uleb128()).decode("utf-8")
    if (inner := _inner(move_type, "0x1::option::Option<")) is not None:
        n = reader.uleb128()
        if n > 1:
            raise ValueError("an Option holds at most one value")
        return _decode_bcs(inner, reader) if n else None
    if (inner := _inner(move_type, "vector<")) is not None:
        n = reader.uleb128()
        if inner == "u8":
            return reader.take(n)
        return [_decode_bcs(inner, reader) for _ in range(n)]
    raise ValueError(f"unsupported argument type {move_type}")


def decode_bcs_arg(move_type: str, data: bytes) -> Any:
    """Decode one BCS-encoded entry/view argument of Move type ``move_type``."""
    reader = _Reader(data)
    value = _decode_bcs(move_type, reader)
    if reader.pos != len(data):
        raise ValueError("trailing bytes after argument")
    return value


def decode_json_arg(move_type: str, value: Any) -> Any:
    """Decode one JSON entry/view argument (u64+ as strings, bytes as 0x-hex) of Move type ``move_type``."""
    if move_type in INT_BYTES:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"expected {move_type}, got {value!r}")
        number = int(value)
        if not 0 <= number < 2 ** (8 * INT_BYTES[move_type]):
            raise ValueError(f"{value!r} does not fit in {move_type}")
        return number
    if move_type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected bool, got {value!r}")
        return value
    if move_type == "address" or _inner(move_type, "0x1::object::Object<") is not None:
        if isinstance(value, dict) and "inner" in value:
            value = value["inner"]
        return norm_addr(value)
    if move_type == "0x1::string::String":
        if not isinstance(value, str):
            raise ValueError(f"expected string, got {value!r}")
        return value
    if (inner := _inner(move_type, "0x1::option::Option<")) is not None:
        if isinstance(value, dict) and "vec" in value:
            value = value["vec"][0] if value["vec"] else None
        return None if value is None else decode_json_arg(inner, value)
    if (inner := _inner(move_type, "vector<")) is not None:
        if inner == "u8" and isinstance(value, str):
            text = value[2:] if value.startswith("0x") else value
            return bytes.fromhex(text)
        if not isinstance(value, list):
            raise ValueError(f"expected a list for {move_type}, got {value!r}")
        items = [decode_json_arg(inner, v) for v in value]
        return bytes(items) if inner == "u8" else items
    raise ValueError(f"unsupported argument type {move_type}")


def encode_json_value(move_type: str, value: Any) -> Any:
    """Render a Move value as the node's JSON does: u64/u128/u256 as strings, bytes as 0x-hex."""
    if move_type in ("u8", "u16", "u32"):
        return int(value)
    if move_type in ("u64", "u128", "u256"):
        return str(int(value))
    if move_type == "bool":
        return bool(value)
    if move_type == "address":
        return standard_addr(value)
    if _inner(move_type, "0x1::object::Object<") is not None:
        return {"inner": norm_addr(value)}
    if move_type == "0x1::string::String":
        return str(value)
    if (inner := _inner(move_type, "0x1::option::Option<")) is not None:
        return {"vec": [] if value is None else [encode_json_value(inner, value)]}
    if (inner := _inner(move_type, "vector<")) is not None:
        if inner == "u8":
            return "0x" + bytes(value).hex()
        return [encode_json_value(inner, v) for v in value]
    raise ValueError(f"unsupported value type {move_type}")


def encode_state_value(value: Any) -> Any:
    """Render a stored resource value as JSON: ints as strings, bytes as 0x-hex, recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: encode_state_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode_state_value(v) for v in value]
    return value
