"""Errors at the chain boundary: one base type, node rejections, failed transactions and Move aborts.

Every pictor abort code of ``chain/SPEC.md`` gets its own exception class (``VaultInsufficientBalance``,
``EscrowInsufficientEscrow``, …), generated from the declarative table :data:`PICTOR_ABORTS`, so callers
can ``except`` exactly the rule they care about. ``MoveAbortError.from_vm_status`` parses the node's
``vm_status`` text (``Move abort in 0x…::module: NAME(0x…): description``) into the most specific class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

FRAMEWORK_ADDRESS = "0x" + "0" * 63 + "1"


def _norm_addr(value: str) -> str:
    """``0x`` + 64 lowercase hex digits (error parsing must not depend on keys.py or payloads.py)."""
    text = value.strip().lower()
    text = text[2:] if text.startswith("0x") else text
    return "0x" + text.rjust(64, "0")


class ChainError(Exception):
    """Base of every error raised by the chain client."""


class InvalidArgument(ChainError, ValueError):
    """An argument was rejected in Python before anything was sent to the node."""


class Timeout(ChainError, TimeoutError):
    """A wait ran past its deadline (the transaction may still commit later)."""

    def __init__(self, message: str, txn_hash: str | None = None) -> None:
        super().__init__(message)
        self.txn_hash = txn_hash


class TransactionDiscarded(ChainError):
    """An accepted transaction will never commit: another transaction took its sequence number."""

    def __init__(self, message: str, txn_hash: str | None = None) -> None:
        super().__init__(message)
        self.txn_hash = txn_hash


class NodeUnavailable(ChainError):
    """The node could not be reached or answered with a server error (HTTP 5xx)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class NodeRejected(ChainError):
    """The node answered HTTP 4xx (validation failure, unknown resource, bad input …)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        vm_error_code: int | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code} {error_code or ''}: {message}".replace("  ", " "))
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.vm_error_code = vm_error_code

    @property
    def vm_status_name(self) -> str | None:
        """The validation status name (``SEQUENCE_NUMBER_TOO_OLD`` …) when the node rejected a transaction."""
        if self.vm_error_code is not None and self.vm_error_code in VALIDATION_STATUS_NAMES:
            return VALIDATION_STATUS_NAMES[self.vm_error_code]
        if self.error_code == "sequence_number_too_old":  # mempool's own check, no vm_error_code
            return "SEQUENCE_NUMBER_TOO_OLD"
        for name in VALIDATION_STATUS_NAMES.values():
            if re.search(rf"\b{name}\b", self.message):
                return name
        return None

    @property
    def is_not_found(self) -> bool:
        """True for a 404 (account, resource, transaction … not found)."""
        return self.status_code == 404

    @classmethod
    def from_response(cls, status_code: int, body: Any, text: str = "") -> NodeRejected:
        """Build from an Aptos error body ``{"message", "error_code", "vm_error_code"}``."""
        if isinstance(body, dict):
            vm_code = body.get("vm_error_code")
            return cls(
                str(body.get("message", text)),
                status_code=status_code,
                error_code=body.get("error_code"),
                vm_error_code=int(vm_code) if vm_code is not None else None,
            )
        return cls(text or str(body), status_code=status_code)


#: Validation status codes the node reports as ``vm_error_code`` (move-core-types ``StatusCode``).
VALIDATION_STATUS_NAMES: dict[int, str] = {
    1: "INVALID_SIGNATURE",
    2: "INVALID_AUTH_KEY",
    3: "SEQUENCE_NUMBER_TOO_OLD",
    4: "SEQUENCE_NUMBER_TOO_NEW",
    5: "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE",
    6: "TRANSACTION_EXPIRED",
    7: "SENDING_ACCOUNT_DOES_NOT_EXIST",
    10: "EXCEEDED_MAX_TRANSACTION_SIZE",
    13: "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND",
    14: "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS",
    15: "GAS_UNIT_PRICE_BELOW_MIN_BOUND",
    16: "GAS_UNIT_PRICE_ABOVE_MAX_BOUND",
    23: "BAD_CHAIN_ID",
    24: "SEQUENCE_NUMBER_TOO_BIG",
}


class TransactionFailed(ChainError):
    """A transaction committed but did not succeed (``success: false``); ``vm_status`` says why."""

    def __init__(
        self,
        vm_status: str,
        *,
        txn_hash: str | None = None,
        version: int | None = None,
        gas_used: int | None = None,
    ) -> None:
        super().__init__(vm_status)
        self.vm_status = vm_status
        self.txn_hash = txn_hash
        self.version = version
        self.gas_used = gas_used

    @staticmethod
    def from_vm_status(
        vm_status: str,
        *,
        txn_hash: str | None = None,
        version: int | None = None,
        gas_used: int | None = None,
        package_address: str | None = None,
    ) -> TransactionFailed:
        """The most specific error for a failed transaction's ``vm_status`` (a Move abort class when it is one)."""
        abort = MoveAbortError.from_vm_status(
            vm_status, txn_hash=txn_hash, version=version, gas_used=gas_used, package_address=package_address
        )
        if abort is not None:
            return abort
        return TransactionFailed(vm_status, txn_hash=txn_hash, version=version, gas_used=gas_used)


# ``Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): Not enough coins…`` or without reason info
# ``Move abort in 0x1::coin: 0x10006`` (aptos-core api/types convert.rs ``explain_vm_status``).
_ABORT_WITH_INFO = re.compile(
    r"Move abort in (?P<addr>0x[0-9a-fA-F]+)::(?P<module>\w+): (?P<name>\w+)\((?P<code>0x[0-9a-fA-F]+|\d+)\)"
    r"(?::\s*(?P<description>.*))?",
    re.S,
)
_ABORT_BARE = re.compile(r"Move abort in (?P<addr>0x[0-9a-fA-F]+)::(?P<module>\w+): (?P<code>0x[0-9a-fA-F]+|\d+)\s*$")


class MoveAbortError(TransactionFailed):
    """A Move ``abort``: module address and name, reason name, abort code and its description."""

    #: Set on the generated per-abort classes (``None`` on the generic class).
    ADDRESS_KIND: ClassVar[str | None] = None  # "pictor" or "framework"
    MODULE: ClassVar[str | None] = None
    REASON: ClassVar[str | None] = None
    CODE: ClassVar[int | None] = None
    DESCRIPTION: ClassVar[str | None] = None

    def __init__(
        self,
        vm_status: str,
        *,
        address: str,
        module: str,
        reason: str | None,
        code: int,
        description: str = "",
        txn_hash: str | None = None,
        version: int | None = None,
        gas_used: int | None = None,
    ) -> None:
        super().__init__(vm_status, txn_hash=txn_hash, version=version, gas_used=gas_used)
        self.address = _norm_addr(address)
        self.module = module
        self.reason = reason
        self.code = code
        self.description = description

    @staticmethod
    def parse(vm_status: str) -> tuple[str, str, str | None, int, str] | None:
        """Split a ``vm_status`` into (address, module, reason name, code, description), or None."""
        match = _ABORT_WITH_INFO.search(vm_status)
        if match:
            description = (match.group("description") or "").strip()
            return (
                _norm_addr(match.group("addr")),
                match.group("module"),
                match.group("name"),
                int(match.group("code"), 0),
                description,
            )
        match = _ABORT_BARE.search(vm_status)
        if match:
            return _norm_addr(match.group("addr")), match.group("module"), None, int(match.group("code"), 0), ""
        return None

    @staticmethod
    def from_vm_status(
        vm_status: str,
        *,
        txn_hash: str | None = None,
        version: int | None = None,
        gas_used: int | None = None,
        package_address: str | None = None,
    ) -> MoveAbortError | None:
        """Parse ``vm_status``; return an instance of the most specific abort class, or None if it is no abort.

        With ``package_address`` given, only aborts from that address map to the pictor classes;
        without it, any non-framework address whose module and reason match the table does.
        """
        parsed = MoveAbortError.parse(vm_status)
        if parsed is None:
            return None
        address, module, reason, code, description = parsed
        cls = abort_class(address, module, reason, code, package_address=package_address)
        return cls(
            vm_status,
            address=address,
            module=module,
            reason=reason if reason is not None else cls.REASON,
            code=code,
            description=description or (cls.DESCRIPTION or ""),
            txn_hash=txn_hash,
            version=version,
            gas_used=gas_used,
        )


@dataclass(frozen=True)
class AbortSpec:
    """One row of the abort table: where it comes from, its reason name, code, description and class name."""

    kind: str  # "pictor" (the package, whatever its address) or "framework" (0x1)
    module: str
    reason: str
    code: int
    description: str
    class_name: str


def _camel(text: str) -> str:
    """``SOME_NAME`` as ``SomeName``."""
    return "".join(part.capitalize() for part in text.lower().split("_") if part)


def _class_name(module: str, reason: str) -> str:
    # E_INSUFFICIENT_BALANCE in vault -> VaultInsufficientBalance; framework EINSUFFICIENT_BALANCE keeps its E.
    """The exception class name of ``module::reason``."""
    name = reason[2:] if reason.startswith("E_") else reason[1:] if reason.startswith("E") else reason
    return _camel(module) + _camel(name)


#: The pictor abort codes, exactly as in chain/SPEC.md: module -> (NAME, code, description).
PICTOR_ABORTS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "config": (
        ("E_NOT_ADMIN", 1, "The signer is not the admin."),
        ("E_INVALID_FEE_SPLIT", 2, "Worker and checker shares exceed 100%."),
        ("E_INVALID_PARAMETER", 3, "A parameter is out of range."),
        ("E_PAUSED", 4, "The protocol is paused."),
        ("E_INVALID_PUBLIC_KEY", 5, "The public key is not a valid Ed25519 public key."),
    ),
    "token": (
        ("E_NOT_ADMIN", 1, "The signer is not the admin."),
        ("E_ZERO_AMOUNT", 2, "Amount must be greater than zero."),
        ("E_MAX_SUPPLY", 3, "Minting would exceed the maximum supply."),
        ("E_FAUCET_LIMIT", 4, "Faucet amount is above the per-call limit."),
    ),
    "vault": (
        ("E_ZERO_AMOUNT", 1, "Amount must be greater than zero."),
        ("E_INSUFFICIENT_BALANCE", 2, "Withdrawable balance is too low."),
        ("E_INSUFFICIENT_FUNDS", 3, "Credit plus balance is too low."),
        ("E_BAD_NONCE", 4, "Credit claim nonce is not the next one for this user."),
        ("E_BAD_SIGNATURE", 5, "Credit claim signature does not verify."),
        ("E_CLAIMS_DISABLED", 6, "No credit signer is configured."),
        ("E_EXPIRED", 7, "Credit claim has expired."),
    ),
    "registry": (
        ("E_INVALID_ROLE", 1, "Role must be 1 (worker) or 2 (checker)."),
        ("E_INVALID_PUBLIC_KEY", 2, "The node key is not a valid Ed25519 public key."),
        ("E_BAD_PROOF", 3, "The node key did not sign the registration."),
        ("E_KEY_IN_USE", 4, "The node key is already registered."),
        ("E_NODE_NOT_FOUND", 5, "No node has this id."),
        ("E_NOT_OPERATOR", 6, "The signer is not the node's operator."),
        ("E_NODE_INACTIVE", 7, "The node is deregistered."),
    ),
    "staking": (
        ("E_ZERO_AMOUNT", 1, "Amount must be greater than zero."),
        ("E_INVALID_ROLE", 2, "Role must be 1 (worker) or 2 (checker)."),
        ("E_INSUFFICIENT_STAKE", 3, "Active stake is too low."),
        ("E_NOTHING_TO_WITHDRAW", 4, "No unbonded stake is ready to withdraw."),
        ("E_NOT_ADMIN", 5, "The signer is not the admin."),
    ),
    "escrow": (
        ("E_ZERO_AMOUNT", 1, "Amount must be greater than zero."),
        ("E_JOB_NOT_FOUND", 2, "No job has this id."),
        ("E_NOT_CREATOR", 3, "The signer is not the job's creator."),
        ("E_NOT_COORDINATOR", 4, "The signer is not the coordinator."),
        ("E_JOB_CLOSED", 5, "The job is closed."),
        ("E_INSUFFICIENT_ESCROW", 6, "The escrow cannot cover this task's quote."),
        ("E_TASK_NOT_FOUND", 7, "No task has this id in the job."),
        ("E_BAD_TASK_STATE", 8, "The task is not in a state that allows this."),
        ("E_NOT_ASSIGNED_NODE", 9, "The signer is not the node the task is assigned to."),
        ("E_INVALID_HASH", 10, "A result hash must be 32 bytes."),
        ("E_REVIEW_WINDOW_OPEN", 11, "The review window has not ended."),
        ("E_REVIEW_WINDOW_CLOSED", 12, "The review window has ended."),
        ("E_TASKS_IN_FLIGHT", 13, "Tasks are submitted or under review; settle them first."),
        ("E_NODE_NOT_ELIGIBLE", 14, "The node is not an active worker with enough stake."),
        ("E_INVALID_PRICE", 15, "Price per minute must be greater than zero."),
        ("E_NOT_UNVERIFIABLE", 16, "No checker abstained and the task was submitted less than a review window ago."),
    ),
    "attestation": (
        ("E_NOT_CHECKER", 1, "The signer is not an active checker node."),
        ("E_INSUFFICIENT_STAKE", 2, "The checker's operator has too little stake."),
        ("E_CONFLICT_OF_INTEREST", 3, "A checker cannot judge work its own operator or its attesters did."),
        ("E_ALREADY_ATTESTED", 4, "This node, or another node of the same operator, already attested this task."),
        ("E_RESULT_MISMATCH", 5, "The result hash is not the one the worker submitted."),
        ("E_INVALID_HASH", 6, "Hashes must be 32 bytes."),
        ("E_BAD_TASK_STATE", 7, "The task is not awaiting this verdict."),
    ),
    "rewards": (
        ("E_NOT_ADMIN", 1, "The signer is not the admin."),
        ("E_ZERO_AMOUNT", 2, "Amount must be greater than zero."),
        ("E_BAD_EPOCH", 3, "Epochs are published in order starting at 1."),
        ("E_EPOCH_NOT_FOUND", 4, "No epoch has this number."),
        ("E_INVALID_ROOT", 5, "A Merkle root must be 32 bytes."),
        ("E_POOL_TOO_SMALL", 6, "The pool cannot cover this epoch's total."),
        ("E_ALREADY_CLAIMED", 7, "This leaf was already claimed."),
        ("E_INVALID_PROOF", 8, "The Merkle proof does not match the epoch root."),
        ("E_EPOCH_EXHAUSTED", 9, "Claims would exceed the epoch's total."),
    ),
}

#: Framework (0x1) aborts the pictor flows can hit; codes carry the std::error category (invalid_argument).
FRAMEWORK_ABORTS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "fungible_asset": (("EINSUFFICIENT_BALANCE", 0x10004, "Insufficient balance to withdraw or transfer."),),
    "coin": (("EINSUFFICIENT_BALANCE", 0x10006, "Not enough coins to complete transaction"),),
}


class PictorAbort(MoveAbortError):
    """Base of the generated per-abort classes of the ``pictor`` package."""


class FrameworkAbort(MoveAbortError):
    """Base of the generated per-abort classes of the Aptos framework (0x1)."""


ABORT_SPECS: list[AbortSpec] = []
_BY_NAME: dict[tuple[str, str, str], type[MoveAbortError]] = {}  # (kind, module, reason) -> class
_BY_CODE: dict[tuple[str, str, int], type[MoveAbortError]] = {}  # (kind, module, code) -> class
ABORT_CLASSES: dict[str, type[MoveAbortError]] = {}  # class name -> class


def _define(kind: str, module: str, reason: str, code: int, description: str) -> type[MoveAbortError]:
    """Create, register and return the exception class of one abort."""
    spec = AbortSpec(kind, module, reason, code, description, _class_name(module, reason))
    base = PictorAbort if kind == "pictor" else FrameworkAbort
    cls = type(
        spec.class_name,
        (base,),
        {
            "__doc__": f"``{module}::{reason}`` ({code:#x}): {description}",
            "__module__": __name__,
            "ADDRESS_KIND": kind,
            "MODULE": module,
            "REASON": reason,
            "CODE": code,
            "DESCRIPTION": description,
        },
    )
    if spec.class_name in ABORT_CLASSES:
        raise RuntimeError(f"duplicate abort class name {spec.class_name}")
    ABORT_SPECS.append(spec)
    ABORT_CLASSES[spec.class_name] = cls
    _BY_NAME[(kind, module, reason)] = cls
    # Framework codes are compared without their std::error category, so both 0x10004 and 4 map.
    _BY_CODE[(kind, module, code & 0xFFFF if kind == "framework" else code)] = cls
    return cls


for _module, _rows in PICTOR_ABORTS.items():
    for _reason, _code, _description in _rows:
        globals()[_class_name(_module, _reason)] = _define("pictor", _module, _reason, _code, _description)
for _module, _rows in FRAMEWORK_ABORTS.items():
    for _reason, _code, _description in _rows:
        globals()[_class_name(_module, _reason)] = _define("framework", _module, _reason, _code, _description)


def abort_class(
    address: str, module: str, reason: str | None, code: int, *, package_address: str | None = None
) -> type[MoveAbortError]:
    """The class for an abort at ``address::module`` (by reason name, else by code); generic if unknown."""
    address = _norm_addr(address)
    if address == FRAMEWORK_ADDRESS:
        kind, key_code = "framework", code & 0xFFFF
    elif package_address is None or address == _norm_addr(package_address):
        kind, key_code = "pictor", code
    else:
        return MoveAbortError
    if reason is not None:
        return _BY_NAME.get((kind, module, reason), MoveAbortError)
    return _BY_CODE.get((kind, module, key_code), MoveAbortError)


def abort_class_for(module: str, reason: str) -> type[MoveAbortError]:
    """The generated class of the pictor abort ``module::reason`` (KeyError if the spec has none)."""
    return _BY_NAME[("pictor", module, reason)]


class UnknownEventType(ChainError):
    """A pictor event type this client does not know: the package is newer than the client."""


# Static names for type checkers and ``from chain.errors import VaultInsufficientBalance``; the values are
# the generated classes above (kept in one list so a new row in the table shows up here in review).
__all__ = [
    "ABORT_CLASSES",
    "ABORT_SPECS",
    "FRAMEWORK_ABORTS",
    "PICTOR_ABORTS",
    "AbortSpec",
    "ChainError",
    "FrameworkAbort",
    "InvalidArgument",
    "MoveAbortError",
    "NodeRejected",
    "NodeUnavailable",
    "PictorAbort",
    "Timeout",
    "TransactionDiscarded",
    "TransactionFailed",
    "UnknownEventType",
    "abort_class",
    "abort_class_for",
    *ABORT_CLASSES,
]
