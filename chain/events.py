"""Typed pictor events: one frozen dataclass per ``#[event]`` struct of chain/SPEC.md, and their decoder.

Field names and order are the spec's. Move types become Python types: ``u8``/``u64`` → int, ``bool`` →
bool, ``address`` → str (``0x`` + 64 hex), ``vector<u8>`` → bytes, ``vector<u64>`` → tuple[int, ...],
``vector<address>`` → tuple[str, ...] (tuples keep the dataclasses hashable).
"""

from __future__ import annotations

import dataclasses
import keyword
from dataclasses import dataclass
from typing import Any, ClassVar

from chain.errors import UnknownEventType
from chain.keys import normalize_address

#: The modules of the ``pictor`` package (an event type under the package in another module is unknown).
PICTOR_MODULES = ("config", "token", "vault", "registry", "staking", "escrow", "attestation", "rewards")


@dataclass(frozen=True)
class PictorEvent:
    """Base of every pictor event; ``MODULE`` and ``MOVE_FIELDS`` describe the Move struct."""

    MODULE: ClassVar[str] = ""
    #: (Move field name, Move type) in declaration order, as in SPEC.md.
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def event_name(cls) -> str:
        """The Move struct name (same as the class name)."""
        return cls.__name__

    @classmethod
    def type_tag(cls, package_address: str) -> str:
        """The full event type, ``0x…::module::Name`` (long address form)."""
        return f"{normalize_address(package_address)}::{cls.MODULE}::{cls.__name__}"

    def to_dict(self) -> dict[str, Any]:
        """Field values as a plain dict (bytes stay bytes, tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class RolesUpdated(PictorEvent):
    """``config::RolesUpdated``."""

    MODULE: ClassVar[str] = "config"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("admin", "address"),
        ("coordinator", "address"),
        ("treasury", "address"),
    )
    admin: str
    coordinator: str
    treasury: str


@dataclass(frozen=True)
class FeeSplitUpdated(PictorEvent):
    """``config::FeeSplitUpdated``."""

    MODULE: ClassVar[str] = "config"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("worker_bps", "u64"), ("checker_bps", "u64"))
    worker_bps: int
    checker_bps: int


@dataclass(frozen=True)
class ParamsUpdated(PictorEvent):
    """``config::ParamsUpdated``."""

    MODULE: ClassVar[str] = "config"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("quorum", "u64"),
        ("min_worker_stake", "u64"),
        ("min_checker_stake", "u64"),
        ("unbonding_secs", "u64"),
        ("review_window_secs", "u64"),
        ("slash_bps", "u64"),
        ("max_strikes", "u64"),
        ("faucet_max", "u64"),
    )
    quorum: int
    min_worker_stake: int
    min_checker_stake: int
    unbonding_secs: int
    review_window_secs: int
    slash_bps: int
    max_strikes: int
    faucet_max: int


@dataclass(frozen=True)
class CreditSignerUpdated(PictorEvent):
    """``config::CreditSignerUpdated``."""

    MODULE: ClassVar[str] = "config"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("public_key", "vector<u8>"),)
    public_key: bytes


@dataclass(frozen=True)
class PausedUpdated(PictorEvent):
    """``config::PausedUpdated``."""

    MODULE: ClassVar[str] = "config"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("paused", "bool"),)
    paused: bool


# --------------------------------------------------------------------------- token


@dataclass(frozen=True)
class Minted(PictorEvent):
    """``token::Minted`` (supply after the mint)."""

    MODULE: ClassVar[str] = "token"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("to", "address"), ("amount", "u64"), ("supply", "u64"))
    to: str
    amount: int
    supply: int


# --------------------------------------------------------------------------- vault


@dataclass(frozen=True)
class Deposited(PictorEvent):
    """``vault::Deposited`` (balance after)."""

    MODULE: ClassVar[str] = "vault"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("user", "address"), ("amount", "u64"), ("balance", "u64"))
    user: str
    amount: int
    balance: int


@dataclass(frozen=True)
class Withdrawn(PictorEvent):
    """``vault::Withdrawn`` (balance after)."""

    MODULE: ClassVar[str] = "vault"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("user", "address"), ("amount", "u64"), ("balance", "u64"))
    user: str
    amount: int
    balance: int


@dataclass(frozen=True)
class CreditClaimed(PictorEvent):
    """``vault::CreditClaimed`` (credit after)."""

    MODULE: ClassVar[str] = "vault"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("user", "address"),
        ("amount", "u64"),
        ("nonce", "u64"),
        ("credit", "u64"),
    )
    user: str
    amount: int
    nonce: int
    credit: int


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class NodeRegistered(PictorEvent):
    """``registry::NodeRegistered``."""

    MODULE: ClassVar[str] = "registry"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("node_id", "u64"),
        ("operator", "address"),
        ("role", "u8"),
        ("public_key", "vector<u8>"),
        ("account", "address"),
    )
    node_id: int
    operator: str
    role: int
    public_key: bytes
    account: str


@dataclass(frozen=True)
class NodeKeyRotated(PictorEvent):
    """``registry::NodeKeyRotated``."""

    MODULE: ClassVar[str] = "registry"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("node_id", "u64"),
        ("old_account", "address"),
        ("public_key", "vector<u8>"),
        ("account", "address"),
    )
    node_id: int
    old_account: str
    public_key: bytes
    account: str


@dataclass(frozen=True)
class NodeDeregistered(PictorEvent):
    """``registry::NodeDeregistered``."""

    MODULE: ClassVar[str] = "registry"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("node_id", "u64"), ("operator", "address"))
    node_id: int
    operator: str


@dataclass(frozen=True)
class NodeStruck(PictorEvent):
    """``registry::NodeStruck`` (strikes after)."""

    MODULE: ClassVar[str] = "registry"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("node_id", "u64"), ("strikes", "u64"))
    node_id: int
    strikes: int


# --------------------------------------------------------------------------- staking


@dataclass(frozen=True)
class Staked(PictorEvent):
    """``staking::Staked`` (active stake of that role after)."""

    MODULE: ClassVar[str] = "staking"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("operator", "address"),
        ("role", "u8"),
        ("amount", "u64"),
        ("active", "u64"),
    )
    operator: str
    role: int
    amount: int
    active: int


@dataclass(frozen=True)
class UnstakeRequested(PictorEvent):
    """``staking::UnstakeRequested``."""

    MODULE: ClassVar[str] = "staking"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("operator", "address"),
        ("role", "u8"),
        ("amount", "u64"),
        ("request_id", "u64"),
        ("release_at", "u64"),
        ("active", "u64"),
    )
    operator: str
    role: int
    amount: int
    request_id: int
    release_at: int
    active: int


@dataclass(frozen=True)
class UnstakeWithdrawn(PictorEvent):
    """``staking::UnstakeWithdrawn``."""

    MODULE: ClassVar[str] = "staking"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("operator", "address"),
        ("amount", "u64"),
        ("request_ids", "vector<u64>"),
    )
    operator: str
    amount: int
    request_ids: tuple[int, ...]


@dataclass(frozen=True)
class Slashed(PictorEvent):
    """``staking::Slashed`` (reason 1 admin, 2 lost dispute, 3 too many strikes)."""

    MODULE: ClassVar[str] = "staking"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("operator", "address"),
        ("role", "u8"),
        ("amount", "u64"),
        ("reason", "u8"),
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("treasury", "address"),
    )
    operator: str
    role: int
    amount: int
    reason: int
    job_id: int
    task_id: int
    treasury: str


# --------------------------------------------------------------------------- escrow


@dataclass(frozen=True)
class JobOpened(PictorEvent):
    """``escrow::JobOpened``."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("creator", "address"),
        ("budget", "u64"),
        ("credit_used", "u64"),
        ("balance_used", "u64"),
        ("price_per_minute", "u64"),
        ("store", "address"),
    )
    job_id: int
    creator: str
    budget: int
    credit_used: int
    balance_used: int
    price_per_minute: int
    store: str


@dataclass(frozen=True)
class JobToppedUp(PictorEvent):
    """``escrow::JobToppedUp`` (budget after)."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("amount", "u64"),
        ("credit_used", "u64"),
        ("balance_used", "u64"),
        ("budget", "u64"),
    )
    job_id: int
    amount: int
    credit_used: int
    balance_used: int
    budget: int


@dataclass(frozen=True)
class TaskAssigned(PictorEvent):
    """``escrow::TaskAssigned``."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("worker_operator", "address"),
        ("quote", "u64"),
        ("attempt", "u64"),
    )
    job_id: int
    task_id: int
    node_id: int
    worker_operator: str
    quote: int
    attempt: int


@dataclass(frozen=True)
class TaskRequeued(PictorEvent):
    """``escrow::TaskRequeued`` (reason 1 lease expired, 2 failed verification, 3 dispute upheld, 4 job closed,
    5 unverifiable)."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("reason", "u8"),
    )
    job_id: int
    task_id: int
    node_id: int
    reason: int


@dataclass(frozen=True)
class ResultSubmitted(PictorEvent):
    """``escrow::ResultSubmitted``."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("reference_ms", "u64"),
        ("charge", "u64"),
    )
    job_id: int
    task_id: int
    node_id: int
    result_hash: bytes
    reference_ms: int
    charge: int


@dataclass(frozen=True)
class TaskVerified(PictorEvent):
    """``escrow::TaskVerified``."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("charge", "u64"),
        ("review_deadline", "u64"),
    )
    job_id: int
    task_id: int
    charge: int
    review_deadline: int


@dataclass(frozen=True)
class TaskDisputed(PictorEvent):
    """``escrow::TaskDisputed``."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("job_id", "u64"), ("task_id", "u64"), ("node_id", "u64"))
    job_id: int
    task_id: int
    node_id: int


@dataclass(frozen=True)
class TaskSettled(PictorEvent):
    """``escrow::TaskSettled`` (checker_amount is each passer's share)."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("charge", "u64"),
        ("worker_operator", "address"),
        ("worker_amount", "u64"),
        ("checkers", "vector<address>"),
        ("checker_amount", "u64"),
        ("treasury", "address"),
        ("treasury_amount", "u64"),
    )
    job_id: int
    task_id: int
    node_id: int
    charge: int
    worker_operator: str
    worker_amount: int
    checkers: tuple[str, ...]
    checker_amount: int
    treasury: str
    treasury_amount: int


@dataclass(frozen=True)
class JobClosed(PictorEvent):
    """``escrow::JobClosed``."""

    MODULE: ClassVar[str] = "escrow"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("spent", "u64"),
        ("refund_credit", "u64"),
        ("refund_balance", "u64"),
    )
    job_id: int
    spent: int
    refund_credit: int
    refund_balance: int


# --------------------------------------------------------------------------- attestation


@dataclass(frozen=True)
class Attested(PictorEvent):
    """``attestation::Attested``."""

    MODULE: ClassVar[str] = "attestation"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("operator", "address"),
        ("attempt", "u64"),
        ("result_hash", "vector<u8>"),
        ("pass", "bool"),
        ("evidence_hash", "vector<u8>"),
    )
    job_id: int
    task_id: int
    node_id: int
    operator: str
    attempt: int
    result_hash: bytes
    pass_: bool  # Move field ``pass`` (a Python keyword)
    evidence_hash: bytes


@dataclass(frozen=True)
class Abstained(PictorEvent):
    """``attestation::Abstained``: a checker could not decide a submitted result (its operator's vote is used)."""

    MODULE: ClassVar[str] = "attestation"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("operator", "address"),
        ("attempt", "u64"),
        ("result_hash", "vector<u8>"),
        ("evidence_hash", "vector<u8>"),
    )
    job_id: int
    task_id: int
    node_id: int
    operator: str
    attempt: int
    result_hash: bytes
    evidence_hash: bytes


@dataclass(frozen=True)
class DisputeResolved(PictorEvent):
    """``attestation::DisputeResolved``."""

    MODULE: ClassVar[str] = "attestation"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("upheld", "bool"),
        ("evidence_hash", "vector<u8>"),
    )
    job_id: int
    task_id: int
    node_id: int
    upheld: bool
    evidence_hash: bytes


# --------------------------------------------------------------------------- rewards


@dataclass(frozen=True)
class PoolFunded(PictorEvent):
    """``rewards::PoolFunded`` (pool store balance after)."""

    MODULE: ClassVar[str] = "rewards"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (("funder", "address"), ("amount", "u64"), ("pool", "u64"))
    funder: str
    amount: int
    pool: int


@dataclass(frozen=True)
class EpochPublished(PictorEvent):
    """``rewards::EpochPublished``."""

    MODULE: ClassVar[str] = "rewards"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("epoch", "u64"),
        ("root", "vector<u8>"),
        ("total", "u64"),
    )
    epoch: int
    root: bytes
    total: int


@dataclass(frozen=True)
class RewardClaimed(PictorEvent):
    """``rewards::RewardClaimed``."""

    MODULE: ClassVar[str] = "rewards"
    MOVE_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("epoch", "u64"),
        ("index", "u64"),
        ("user", "address"),
        ("amount", "u64"),
    )
    epoch: int
    index: int
    user: str
    amount: int


# --------------------------------------------------------------------------- registry of types

EVENT_CLASSES: tuple[type[PictorEvent], ...] = tuple(
    cls for cls in list(globals().values()) if isinstance(cls, type) and issubclass(cls, PictorEvent) and cls.MODULE
)
#: (module, struct name) -> class.
EVENTS_BY_TYPE: dict[tuple[str, str], type[PictorEvent]] = {(cls.MODULE, cls.__name__): cls for cls in EVENT_CLASSES}


def python_field_name(move_name: str) -> str:
    """The dataclass field of a Move field (``pass`` is a Python keyword, so it becomes ``pass_``)."""
    return move_name + "_" if keyword.iskeyword(move_name) else move_name


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
