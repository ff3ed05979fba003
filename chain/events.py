"""Decoding of the node's event JSON into the typed pictor events, and back.

The event classes and their registry live in :mod:`chain.event_types` and are re-exported here, so
the packages above ``chain`` reach every event as ``chain.events.X``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chain.errors import UnknownEventType
from chain.event_types import (
    EVENT_CLASSES,
    EVENTS_BY_TYPE,
    PICTOR_MODULES,
    Abstained,
    Attested,
    CreditClaimed,
    CreditSignerUpdated,
    Deposited,
    DisputeResolved,
    EpochPublished,
    FeeSplitUpdated,
    JobClosed,
    JobOpened,
    JobToppedUp,
    Minted,
    NodeDeregistered,
    NodeKeyRotated,
    NodeRegistered,
    NodeStruck,
    ParamsUpdated,
    PausedUpdated,
    PictorEvent,
    PoolFunded,
    ResultSubmitted,
    RewardClaimed,
    RolesUpdated,
    Slashed,
    Staked,
    TaskAssigned,
    TaskDisputed,
    TaskRequeued,
    TaskSettled,
    TaskVerified,
    UnstakeRequested,
    UnstakeWithdrawn,
    Withdrawn,
    python_field_name,
)
from chain.keys import normalize_address

__all__ = [
    "Abstained",
    "Attested",
    "CreditClaimed",
    "CreditSignerUpdated",
    "Deposited",
    "DisputeResolved",
    "EVENTS_BY_TYPE",
    "EVENT_CLASSES",
    "EpochPublished",
    "FeeSplitUpdated",
    "JobClosed",
    "JobOpened",
    "JobToppedUp",
    "Minted",
    "NodeDeregistered",
    "NodeKeyRotated",
    "NodeRegistered",
    "NodeStruck",
    "PICTOR_MODULES",
    "ParamsUpdated",
    "PausedUpdated",
    "PictorEvent",
    "PoolFunded",
    "ResultSubmitted",
    "RewardClaimed",
    "RolesUpdated",
    "Slashed",
    "Staked",
    "TaskAssigned",
    "TaskDisputed",
    "TaskRequeued",
    "TaskSettled",
    "TaskVerified",
    "UnstakeRequested",
    "UnstakeWithdrawn",
    "Withdrawn",
    "decode_event",
    "decode_events",
    "event_to_json",
    "indexed_events",
    "python_field_name",
    "split_type_tag",
]


def _decode_value(move_type: str, value: Any, where: str) -> Any:
    """One JSON field value as the Python value of its Move type."""
    try:
        if move_type in ("u8", "u16", "u32", "u64", "u128", "u256"):
            if isinstance(value, bool):
                raise ValueError("bool is not an integer")
            return int(value)
        if move_type == "bool":
            if not isinstance(value, bool):
                raise ValueError("not a bool")
            return value
        if move_type == "address":
            return normalize_address(value)
        if move_type == "vector<u8>":
            if isinstance(value, list):  # some encoders render bytes as a list of u8
                return bytes(int(v) for v in value)
            text = str(value)
            return bytes.fromhex(text[2:] if text.startswith("0x") else text)
        if move_type.startswith("vector<") and move_type.endswith(">"):
            inner = move_type[len("vector<") : -1]
            return tuple(_decode_value(inner, v, where) for v in value)
    except Exception as exc:  # noqa: BLE001 - any malformed value is one clear error
        raise ValueError(f"{where}: cannot decode {value!r} as {move_type}: {exc}") from exc
    raise ValueError(f"{where}: unsupported Move type {move_type}")


def split_type_tag(type_tag: str) -> tuple[str, str, str] | None:
    """Split ``0x…::module::Name`` (no generics) into (normalized address, module, name), or None."""
    parts = type_tag.split("::")
    if len(parts) != 3 or "<" in type_tag:
        return None
    try:
        return normalize_address(parts[0]), parts[1], parts[2]
    except Exception:  # noqa: BLE001 - not an address: not a pictor event
        return None


def _fast_int(value: Any) -> int:
    if value.__class__ is bool:
        raise ValueError("bool is not an integer")
    return int(value)


def _fast_bool(value: Any) -> bool:
    if value.__class__ is not bool:
        raise ValueError("not a bool")
    return value


def _fast_bytes(value: Any) -> bytes:
    if value.__class__ is not str:
        raise ValueError("not a hex string")  # lists of u8 and the rest: the general path
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _fast_vector(inner: Any) -> Any:
    return lambda value: tuple([inner(v) for v in value])


_FAST_DECODERS: dict[str, Any] = {
    **dict.fromkeys(("u8", "u16", "u32", "u64", "u128", "u256"), _fast_int),
    "bool": _fast_bool,
    "address": normalize_address,
    "vector<u8>": _fast_bytes,
}
_FAST_DECODERS |= {  # vector<u8> is bytes (above); other vectors are tuples of their element
    f"vector<{t}>": _fast_vector(_FAST_DECODERS[t]) for t in ("u16", "u32", "u64", "u128", "u256", "bool", "address")
}


@dataclass(frozen=True)
class _EventSpec:
    """How the fast path decodes one event class: its data fields and a decoder per field."""

    cls: type[PictorEvent]
    fields: tuple[tuple[str, Any], ...]  # (Move field name, decoder)
    names: tuple[str, ...]  # dataclass field names, in the same order


def _event_spec(cls: type[PictorEvent]) -> _EventSpec | None:
    """The fast decoders of ``cls`` (None if one of its Move types has none: the general path decodes it)."""
    if any(t not in _FAST_DECODERS for _, t in cls.MOVE_FIELDS):
        return None
    names = tuple(python_field_name(m) for m, _ in cls.MOVE_FIELDS)
    if names != tuple(f.name for f in dataclasses.fields(cls)) or hasattr(cls, "__slots__"):
        return None
    return _EventSpec(cls, tuple((m, _FAST_DECODERS[t]) for m, t in cls.MOVE_FIELDS), names)


_SPECS: dict[type[PictorEvent], _EventSpec | None] = {cls: _event_spec(cls) for cls in EVENT_CLASSES}
_NOT_PICTOR = object()
#: (event type string, package address as given) -> its class, or _NOT_PICTOR (bounded: cleared when full).
_TYPE_CACHE: dict[tuple[str, str], Any] = {}
_TYPE_CACHE_MAX = 4096


def _resolve_type(type_tag: str, package_address: str) -> Any:
    """The class of a pictor event type, _NOT_PICTOR, or UnknownEventType (as :func:`decode_event` decides)."""
    parsed = split_type_tag(type_tag)
    if parsed is None:
        return _NOT_PICTOR
    address, module, name = parsed
    if address != normalize_address(package_address):
        return _NOT_PICTOR
    cls = EVENTS_BY_TYPE.get((module, name))
    if cls is None:
        raise UnknownEventType(
            f"unknown pictor event type {module}::{name}: the package at {address} is newer than this client"
        )
    return cls


def decode_event(raw: dict[str, Any], package_address: str) -> PictorEvent | None:
    """Decode one event dict of the node's JSON; None if it is not a pictor event.

    Raises :class:`~chain.errors.UnknownEventType` for an event of the package this client does not
    know (the package is newer than the client), and ValueError for a malformed known event.

    Hot path (the indexer decodes every event of every transaction): the type string's class is
    cached per package address, and well-formed data is decoded by per-field decoders built once per
    class; anything unusual (missing fields, odd values) goes through :func:`_decode_event_slow`,
    which gives the same results and errors as before.
    """
    type_tag = raw.get("type", "")
    if type_tag.__class__ is not str or package_address.__class__ is not str:
        return _decode_event_slow(raw, package_address)
    key = (type_tag, package_address)
    cls = _TYPE_CACHE.get(key)
    if cls is None:
        cls = _resolve_type(type_tag, package_address)  # raises for an unknown pictor event (not cached)
        if len(_TYPE_CACHE) >= _TYPE_CACHE_MAX:
            _TYPE_CACHE.clear()
        _TYPE_CACHE[key] = cls
    if cls is _NOT_PICTOR:
        return None
    spec = _SPECS[cls]
    data = raw.get("data")
    if spec is not None and data.__class__ is dict:
        try:
            values = [decode(data[move_name]) for move_name, decode in spec.fields]
        except Exception:  # noqa: BLE001 - the general path raises the precise error
            return _decode_event_slow(raw, package_address)
        event = object.__new__(cls)  # what the frozen dataclass's __init__ does, without its per-field setattr
        event.__dict__.update(zip(spec.names, values, strict=True))
        return event
    return _decode_event_slow(raw, package_address)


def _decode_event_slow(raw: dict[str, Any], package_address: str) -> PictorEvent | None:
    """:func:`decode_event` without caches: every check, with its precise error."""
    parsed = split_type_tag(str(raw.get("type", "")))
    if parsed is None:
        return None
    address, module, name = parsed
    if address != normalize_address(package_address):
        return None
    cls = EVENTS_BY_TYPE.get((module, name))
    if cls is None:
        raise UnknownEventType(
            f"unknown pictor event type {module}::{name}: the package at {address} is newer than this client"
        )
    data = raw.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"event {module}::{name} has no data object")
    values: dict[str, Any] = {}
    for move_name, move_type in cls.MOVE_FIELDS:
        if move_name not in data:
            raise ValueError(f"event {module}::{name} lacks field {move_name!r}")
        values[python_field_name(move_name)] = _decode_value(
            move_type, data[move_name], f"{module}::{name}.{move_name}"
        )
    return cls(**values)


def decode_events(txn: dict[str, Any], package_address: str) -> list[PictorEvent]:
    """The pictor events of one transaction dict, in emission order (none for a failed transaction)."""
    if txn.get("success") is False:
        return []
    out: list[PictorEvent] = []
    for raw in txn.get("events") or []:
        event = decode_event(raw, package_address)
        if event is not None:
            out.append(event)
    return out


def indexed_events(txn: dict[str, Any], package_address: str) -> list[tuple[int, PictorEvent]]:
    """``(index in the transaction's event list, event)`` for the pictor events (a stable key for the indexer)."""
    if txn.get("success") is False:
        return []
    out: list[tuple[int, PictorEvent]] = []
    for index, raw in enumerate(txn.get("events") or []):
        event = decode_event(raw, package_address)
        if event is not None:
            out.append((index, event))
    return out


def event_to_json(event: PictorEvent, package_address: str) -> dict[str, Any]:
    """Render an event as the node's JSON (``type`` + ``data``: u64 as strings, bytes as 0x-hex)."""
    data: dict[str, Any] = {}
    for move_name, move_type in event.MOVE_FIELDS:
        data[move_name] = _encode_value(move_type, getattr(event, python_field_name(move_name)))
    return {"type": type(event).type_tag(package_address), "data": data}


def _encode_value(move_type: str, value: Any) -> Any:
    """One Python value as the node's JSON renders its Move type."""
    if move_type in ("u8", "u16", "u32"):
        return int(value)
    if move_type in ("u64", "u128", "u256"):
        return str(int(value))
    if move_type == "bool":
        return bool(value)
    if move_type == "address":
        return normalize_address(value)
    if move_type == "vector<u8>":
        return "0x" + bytes(value).hex()
    inner = move_type[len("vector<") : -1]
    return [_encode_value(inner, v) for v in value]
