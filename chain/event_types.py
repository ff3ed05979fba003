"""Typed pictor events: one frozen dataclass per ``#[event]`` struct of chain/SPEC.md, and their registry.

Field names and order are the spec's. Move types become Python types: ``u8``/``u64`` → int, ``bool`` →
bool, ``address`` → str (``0x`` + 64 hex), ``vector<u8>`` → bytes, ``vector<u64>`` → tuple[int, ...],
``vector<address>`` → tuple[str, ...] (tuples keep the dataclasses hashable).
"""

from __future__ import annotations

import dataclasses
import keyword
from dataclasses import dataclass
from typing import Any, ClassVar

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
