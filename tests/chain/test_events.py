"""Event decoding: one dataclass per SPEC.md event with the spec's fields, and the node's JSON decodes to it."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from chain import events as ev
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.errors import UnknownEventType
from chain.events import (
    EVENT_CLASSES,
    EVENTS_BY_TYPE,
    Attested,
    Deposited,
    PictorEvent,
    TaskSettled,
    UnstakeWithdrawn,
    decode_event,
    decode_events,
    event_to_json,
    indexed_events,
    python_field_name,
)
from tests.support import REPO_ROOT

SPEC = REPO_ROOT / "chain" / "SPEC.md"
PKG = LOCALNET_PACKAGE_ADDRESS
MODULES = ("config", "token", "vault", "registry", "staking", "escrow", "attestation", "rewards")
MOVE_TYPES = {"u8", "u64", "bool", "address", "vector<u8>", "vector<u64>", "vector<address>"}


def spec_events() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``(module, Name) -> [(field, Move type)]`` from every fully typed ``Name { f: T, … }`` in SPEC.md."""
    text = SPEC.read_text()
    parts = re.split(r"^## (\w+)\s*$", text, flags=re.M)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for section, body in zip(parts[1::2], parts[2::2], strict=True):
        # An emitted event follows an arrow ("→ `Name {…}`", "→ escrow `Name {…}`"); state structs do not.
        for match in re.finditer(r"(?:→|event)\s+(?:(\w+) )?`([A-Z]\w+) \{([^}]*)\}`( \(all u64)?", body):
            prefix, name, raw_fields, all_u64 = match.groups()
            module = prefix if prefix in MODULES else section
            fields: list[tuple[str, str]] = []
            for item in (f.strip() for f in " ".join(raw_fields.split()).split(",")):
                if ":" in item:
                    fname, ftype = (x.strip() for x in item.split(":", 1))
                elif all_u64:
                    fname, ftype = item, "u64"
                else:
                    fname, ftype = item, "?"
                fields.append((fname, ftype))
            if all(t in MOVE_TYPES for _, t in fields):
                found.setdefault((module, name), fields)
    return found


def sample(move_type: str, i: int) -> Any:
    return {
        "u8": 2,
        "u64": 10**12 + i,
        "bool": True,
        "address": "0x" + f"{i:02x}" * 32,
        "vector<u8>": bytes([i]) * 32,
        "vector<u64>": (1, 2, 2**64 - 1),
        "vector<address>": ("0x" + "aa" * 32, "0x" + "bb" * 32),
    }[move_type]


def instance(cls: type[PictorEvent]) -> PictorEvent:
    return cls(**{python_field_name(n): sample(t, i) for i, (n, t) in enumerate(cls.MOVE_FIELDS)})


def test_spec_has_32_events() -> None:
    assert len(spec_events()) == 32


def test_every_spec_event_has_a_class_with_the_spec_fields() -> None:
    spec = spec_events()
    ours = {(cls.MODULE, cls.__name__): list(cls.MOVE_FIELDS) for cls in EVENT_CLASSES}
    assert ours == spec


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_dataclass_shape(cls: type[PictorEvent]) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(cls)] == [python_field_name(n) for n, _ in cls.MOVE_FIELDS]
    py = {"u8": "int", "u64": "int", "bool": "bool", "address": "str", "vector<u8>": "bytes",
          "vector<u64>": "tuple[int, ...]", "vector<address>": "tuple[str, ...]"}  # fmt: skip
    assert [f.type for f in dataclasses.fields(cls)] == [py[t] for _, t in cls.MOVE_FIELDS]
    assert EVENTS_BY_TYPE[(cls.MODULE, cls.__name__)] is cls


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_round_trip_through_node_json(cls: type[PictorEvent]) -> None:
    event = instance(cls)
    raw = event_to_json(event, PKG)
    assert raw["type"] == f"{PKG}::{cls.MODULE}::{cls.__name__}"
    decoded = decode_event(raw, PKG)
    assert decoded == event and type(decoded) is cls
    hash(decoded)  # frozen and hashable, vectors included


def test_decodes_what_an_aptos_node_sends() -> None:
    raw = {
        "guid": {"creation_number": "0", "account_address": "0x0"},
        "sequence_number": "0",
        "type": f"{PKG}::escrow::TaskSettled",
        "data": {
            "job_id": "1",
            "task_id": "7",
            "node_id": "3",
            "charge": "2400000000",
            "worker_operator": "0x" + "0" * 62 + "5a",
            "worker_amount": "1440000000",
            "checkers": ["0xA1" + "0" * 62],
            "checker_amount": "240000000",
            "treasury": "0x1",
            "treasury_amount": "720000000",
        },
    }
    event = decode_event(raw, PKG)
    assert event == TaskSettled(
        job_id=1, task_id=7, node_id=3, charge=2_400_000_000,
        worker_operator="0x" + "0" * 62 + "5a", worker_amount=1_440_000_000,
        checkers=("0xa1" + "0" * 62,), checker_amount=240_000_000,
        treasury="0x" + "0" * 63 + "1", treasury_amount=720_000_000,
    )  # fmt: skip


def test_attested_pass_field_and_bytes() -> None:
    raw = {
        "type": f"{PKG}::attestation::Attested",
        "data": {
            "job_id": "1", "task_id": "1", "node_id": "2", "operator": PKG, "attempt": "1",
            "result_hash": "0x" + "11" * 32, "pass": False, "evidence_hash": "0x" + "22" * 32,
        },
    }  # fmt: skip
    event = decode_event(raw, PKG)
    assert isinstance(event, Attested) and event.pass_ is False and event.result_hash == b"\x11" * 32
    assert event.to_dict()["pass_"] is False


def test_vector_u64() -> None:
    raw = {
        "type": f"{PKG}::staking::UnstakeWithdrawn",
        "data": {"operator": PKG, "amount": "5", "request_ids": ["1", "3"]},
    }
    assert decode_event(raw, PKG) == UnstakeWithdrawn(operator=PKG, amount=5, request_ids=(1, 3))


def test_type_address_may_be_short_or_padded() -> None:
    pkg = "0x00" + "34" * 31
    raw = {"type": "0x" + "34" * 31 + "::vault::Deposited", "data": {"user": "0x1", "amount": "1", "balance": "1"}}
    assert isinstance(decode_event(raw, pkg), Deposited)


def test_foreign_and_framework_events_are_ignored() -> None:
    fee = {"type": "0x1::transaction_fee::FeeStatement", "data": {"total_charge_gas_units": "5"}}
    other = {"type": "0x" + "ab" * 32 + "::vault::Deposited", "data": {}}
    generic = {"type": "0x1::fungible_asset::Deposit<0x1::aptos_coin::AptosCoin>", "data": {}}
    assert decode_event(fee, PKG) is None and decode_event(other, PKG) is None and decode_event(generic, PKG) is None


def test_unknown_pictor_event_is_an_error() -> None:
    with pytest.raises(UnknownEventType, match="newer"):
        decode_event({"type": f"{PKG}::escrow::TaskTeleported", "data": {}}, PKG)
    with pytest.raises(UnknownEventType):
        decode_event({"type": f"{PKG}::oracle::Deposited", "data": {"user": PKG, "amount": "1", "balance": "1"}}, PKG)


def test_malformed_known_event_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="lacks field"):
        decode_event({"type": f"{PKG}::vault::Deposited", "data": {"user": PKG, "amount": "1"}}, PKG)
    with pytest.raises(ValueError, match="cannot decode"):
        decode_event({"type": f"{PKG}::vault::Deposited", "data": {"user": "nope", "amount": "1", "balance": "1"}}, PKG)


def test_decode_events_of_a_transaction() -> None:
    deposit = event_to_json(Deposited(user=PKG, amount=5, balance=5), PKG)
    fee = {"type": "0x1::transaction::FeeStatement", "data": {}}
    txn = {"version": "12", "success": True, "events": [fee, deposit, deposit]}
    assert decode_events(txn, PKG) == [Deposited(PKG, 5, 5)] * 2
    assert [i for i, _ in indexed_events(txn, PKG)] == [1, 2]
    assert decode_events({**txn, "success": False}, PKG) == []
    assert decode_events({"type": "block_metadata_transaction", "success": True, "events": []}, PKG) == []
    # The package address defaults to the configured one.


def test_agrees_with_the_localnet_vm_declarations() -> None:
    """Where the localnet VM is present, its declared event types are ours, field for field."""
    core = pytest.importorskip("chain.localnet.vm.core")
    pytest.importorskip("chain.localnet.vm.pictor")
    vm = {(e.module, e.name): list(e.fields) for e in core.EVENT_TYPES.values() if e.address == PKG}
    assert vm == {(c.MODULE, c.__name__): list(c.MOVE_FIELDS) for c in EVENT_CLASSES}


def test_module_list() -> None:
    assert set(ev.PICTOR_MODULES) == set(MODULES)
