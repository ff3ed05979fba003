"""Execution: user, block-metadata and genesis transactions and views, run on state overlays and rendered as JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from chain.localnet.auth import ZERO_ADDRESS
from chain.localnet.codec import TypeTagError, canonical_type, decode_json_strict, dumps, hex0x
from chain.localnet.errors import STATUS_CODES, ApiError, invalid_input, misc_error_status
from chain.localnet.ledger import EPOCH
from chain.localnet.render import (
    HandleEvent,
    change_set_hash,
    event_root_hash,
    render_changes,
    render_event,
    render_events,
)
from chain.localnet.storage import BlockRecord
from chain.localnet.txn import INTRINSIC_GAS_UNITS, TXN_PREFIX, SignedTxn, split_function_id
from chain.localnet.vm import core, framework
from chain.localnet.vm.core import Overlay, TxContext

log = logging.getLogger("chain.localnet")

VALIDATOR_ADDRESS = core.norm_addr("0x" + "ab" * 32)


@dataclass
class Outcome:
    """What executing one user transaction produced (before rendering)."""

    success: bool
    vm_status: str
    gas_used: int
    changes: dict[str, Any]
    events: list[dict[str, Any]]
    handle_events: list[HandleEvent]


def execute(txn: SignedTxn, base: Overlay, version: int, timestamp: int, *, simulation: bool = False) -> Outcome:
    """Run one user transaction on ``base`` (the block overlay) and fold its effects into it.

    Success applies the writes; an abort or any other failure discards them and applies only the
    epilogue (sequence number, gas), as the Aptos VM does. The gas payer (the fee payer of a sponsored
    transaction, else the sender) is charged; only the sender's sequence number moves. A simulation whose
    fee payer is ``0x0`` charges nobody.
    """
    tx_state = Overlay(base)
    ctx = TxContext(
        sender=txn.sender, timestamp_us=timestamp, state=tx_state, version=version, type_args=list(txn.ty_args)
    )
    fn = txn.fn
    base_gas = INTRINSIC_GAS_UNITS
    success = False
    try:
        if fn is None:
            if core.function_key(txn.module_addr, txn.module, txn.function) in core.VIEW_FUNCTIONS:
                raise core.VmError("EXECUTE_ENTRY_FUNCTION_CALLED_ON_NON_ENTRY_FUNCTION")
            module_exists = any(
                f.address == txn.module_addr and f.module == txn.module for f in core.ENTRY_FUNCTIONS.values()
            ) or any(f.address == txn.module_addr and f.module == txn.module for f in core.VIEW_FUNCTIONS.values())
            raise core.VmError("FUNCTION_RESOLUTION_FAILURE" if module_exists else "LINKER_ERROR")
        if fn.type_params != len(txn.ty_args):
            raise core.VmError("NUMBER_OF_TYPE_ARGUMENTS_MISMATCH")
        if fn.signers and fn.signers != 1 + len(txn.secondary_signers):
            raise core.VmError("NUMBER_OF_SIGNER_ARGUMENTS_MISMATCH")
        if len(txn.args) != len(fn.params):
            raise core.VmError("NUMBER_OF_ARGUMENTS_MISMATCH")
        if txn.decoded is None:
            raise core.VmError("FAILED_TO_DESERIALIZE_ARGUMENT")
        base_gas += fn.gas
        fn.handler(ctx, *txn.secondary_signers[: max(fn.signers - 1, 0)], *txn.decoded)
        gas_used = base_gas + ctx.gas_used
        if gas_used > txn.max_gas:
            vm_status, gas_used = "Out of gas", txn.max_gas
        else:
            success, vm_status = True, "Executed successfully"
    except core.MoveAbort as abort:
        vm_status, gas_used = abort.vm_status, base_gas + ctx.gas_used
    except core.VmError as err:
        vm_status, gas_used = vm_error_status(err, fn), base_gas + ctx.gas_used
    except Exception as exc:  # a bug in a Python module: commit as failed, keep the chain going
        log.exception("entry function %s raised", txn.function_id)
        vm_status = misc_error_status("UNKNOWN_INVARIANT_VIOLATION_ERROR") + f" ({type(exc).__name__}: {exc})"
        gas_used = base_gas + ctx.gas_used
    gas_used = min(gas_used, txn.max_gas)
    if not success:
        tx_state = Overlay(base)
        ctx.events, ctx.event_guids = [], {}
    # Epilogue: create the account of a sponsored sender that had none, bump the sequence number, burn the fee.
    account_key = framework.account_key(txn.sender)
    if not tx_state.exists(account_key):
        tx_state.put(account_key, framework.new_account(txn.sender, core.addr_bytes(txn.sender)))
    account = dict(tx_state.peek(account_key))  # only a top-level field changes: a shallow copy is enough
    account["sequence_number"] = int(account["sequence_number"]) + 1
    tx_state.put(account_key, account)
    if not (simulation and txn.gas_payer == ZERO_ADDRESS):
        framework.charge_apt(tx_state, txn.gas_payer, gas_used * txn.gas_price)
    events, handle_events = render_events(ctx)
    events.append(
        render_event(
            framework.FEE_STATEMENT,
            {
                "total_charge_gas_units": gas_used,
                "execution_gas_units": gas_used,
                "io_gas_units": 0,
                "storage_fee_octas": 0,
                "storage_fee_refund_octas": 0,
            },
            None,
        )
    )
    changes = tx_state.changes()
    tx_state.commit_into()
    return Outcome(success, vm_status, gas_used, changes, events, handle_events)


def vm_error_status(err: core.VmError, fn: core.Function | None) -> str:
    """The ``vm_status`` text of a non-abort failure, as Aptos explains it."""
    code = STATUS_CODES.get(err.status)
    if code is not None and 4000 <= code < 5000 and fn is not None:
        # Aptos: ExecutionFailure -> "Execution failed in <module>::<function> at code offset N"
        return f"Execution failed in {fn.function_id} at code offset 0"
    return misc_error_status(err.status)


def render_user_transaction(
    txn: SignedTxn,
    outcome: Outcome,
    version: int,
    timestamp: int,
    accumulator: bytes,
    record: BlockRecord | None,
) -> tuple[bytes, bytes]:
    """Serialize a committed user transaction; returns it and the new accumulator."""
    rendered_changes = render_changes(outcome.changes)
    accumulator = core.sha3(accumulator + bytes.fromhex(txn.hash[2:]))
    body = {
        "type": "user_transaction",
        "version": str(version),
        "hash": txn.hash,
        "state_change_hash": change_set_hash(rendered_changes),
        "event_root_hash": event_root_hash(txn.hash, outcome.events),
        "gas_used": str(outcome.gas_used),
        "success": outcome.success,
        "vm_status": outcome.vm_status,
        "accumulator_root_hash": hex0x(accumulator),
        "changes": rendered_changes,
        "sender": core.standard_addr(txn.sender),
        "sequence_number": str(txn.seq),
        "max_gas_amount": str(txn.max_gas),
        "gas_unit_price": str(txn.gas_price),
        "expiration_timestamp_secs": str(txn.expiration),
        "payload": txn.payload_json,
        "signature": txn.signature_json,
        "events": outcome.events,
        "timestamp": str(timestamp),
    }
    if record is not None:
        for account, creation_num, seq, event in outcome.handle_events:
            record.events.append((account, creation_num, seq, version, dumps({"version": str(version), **event})))
    return dumps(body), accumulator


def block_metadata_transaction(
    block_state: Overlay,
    version: int,
    block_id: str,
    height: int,
    timestamp: int,
    accumulator: bytes,
    record: BlockRecord,
) -> tuple[bytes, str, bytes]:
    """The ``block_metadata_transaction`` opening a block: it advances ``0x1::timestamp``."""
    txn_hash = hex0x(core.sha3(TXN_PREFIX + b"\x01" + bytes.fromhex(block_id[2:])))
    bm_state = Overlay(block_state)
    fw = core.FRAMEWORK
    bm_state.put(core.resource_key(fw, framework.TIMESTAMP_T), {"microseconds": timestamp})
    block_key = core.resource_key(fw, framework.BLOCK_RESOURCE_T)
    block_res = bm_state.get(block_key)
    events: list[dict[str, Any]] = []
    if block_res is not None:
        handle = block_res["new_block_events"]
        seq = int(handle["counter"])
        handle["counter"] = seq + 1
        block_res["height"] = height
        bm_state.put(block_key, block_res)
        values = {
            "hash": block_id,
            "epoch": EPOCH,
            "round": height,
            "height": height,
            "previous_block_votes_bitvec": b"",
            "proposer": VALIDATOR_ADDRESS,
            "failed_proposer_indices": [],
            "time_microseconds": timestamp,
        }
        guid = ("0x1", int(handle["guid"]["id"]["creation_num"]), seq)
        events.append(render_event(framework.NEW_BLOCK, values, guid))
    changes = bm_state.changes()
    bm_state.commit_into()
    record.history.extend((key, version, value) for key, value in changes.items())
    rendered_changes = render_changes(changes)
    accumulator = core.sha3(accumulator + bytes.fromhex(txn_hash[2:]))
    body = {
        "type": "block_metadata_transaction",
        "version": str(version),
        "hash": txn_hash,
        "state_change_hash": change_set_hash(rendered_changes),
        "event_root_hash": event_root_hash(txn_hash, events),
        "gas_used": "0",
        "success": True,
        "vm_status": "Executed successfully",
        "accumulator_root_hash": hex0x(accumulator),
        "changes": rendered_changes,
        "id": block_id,
        "epoch": str(EPOCH),
        "round": str(height),
        "events": events,
        "previous_block_votes_bitvec": [],
        "proposer": VALIDATOR_ADDRESS,
        "failed_proposer_indices": [],
        "timestamp": str(timestamp),
    }
    for event in events:
        guid = event["guid"]
        record.events.append(
            (
                core.norm_addr(guid["account_address"]),
                int(guid["creation_number"]),
                int(event["sequence_number"]),
                version,
                dumps({"version": str(version), **event}),
            )
        )
    return dumps(body), txn_hash, accumulator


def call_view(
    state: Any,
    version: int,
    function_id: str,
    type_args: list[str],
    args: list[Any] | None,
    bcs_args: list[bytes] | None,
) -> tuple[core.Function, list[Any]]:
    """Run a ``#[view]`` function on ``state`` (the state as of ``version``); :class:`ApiError` (400) on any failure."""
    module_addr, module, name = split_function_id(function_id)
    key = core.function_key(module_addr, module, name)
    fn = core.VIEW_FUNCTIONS.get(key)
    if fn is None:
        if key in core.ENTRY_FUNCTIONS:
            raise ApiError(
                400,
                f"function {core.short_addr(module_addr)}::{module}::{name} is not marked as view",
                "invalid_input",
            )
        raise ApiError(
            400,
            f"could not find view function by {core.short_addr(module_addr)}::{module}::{name}",
            "invalid_input",
            STATUS_CODES["FUNCTION_RESOLUTION_FAILURE"],
        )
    try:
        type_args = [canonical_type(t) for t in type_args]
    except TypeTagError as exc:
        raise invalid_input(f"invalid type argument: {exc}") from None
    if len(type_args) != fn.type_params:
        raise ApiError(
            400,
            misc_error_status("NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"),
            "invalid_input",
            STATUS_CODES["NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"],
        )
    given = bcs_args if bcs_args is not None else args or []
    if len(given) != len(fn.params):
        raise ApiError(
            400,
            misc_error_status("NUMBER_OF_ARGUMENTS_MISMATCH"),
            "invalid_input",
            STATUS_CODES["NUMBER_OF_ARGUMENTS_MISMATCH"],
        )
    try:
        if bcs_args is not None:
            values = [core.decode_bcs_arg(p, a) for p, a in zip(fn.params, bcs_args, strict=True)]
        else:
            values = [decode_json_strict(p, a) for p, a in zip(fn.params, given, strict=True)]
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ApiError(
            400,
            f"{misc_error_status('FAILED_TO_DESERIALIZE_ARGUMENT')}: {exc}",
            "invalid_input",
            STATUS_CODES["FAILED_TO_DESERIALIZE_ARGUMENT"],
        ) from None
    timestamp = state.get(core.resource_key(core.FRAMEWORK, framework.TIMESTAMP_T), {"microseconds": 0})
    ctx = TxContext(
        sender=core.norm_addr("0x0"),
        timestamp_us=int(timestamp["microseconds"]),
        state=Overlay(state),
        version=version,
        type_args=type_args,
    )
    try:
        result = fn.handler(ctx, *values)
    except core.MoveAbort as abort:
        raise ApiError(400, abort.vm_status, "invalid_input", STATUS_CODES["ABORTED"]) from None
    except core.VmError as err:
        raise ApiError(400, misc_error_status(err.status), "invalid_input", STATUS_CODES.get(err.status)) from None
    return fn, list(result)


def genesis_transaction(
    changes: dict[str, Any], events: list[dict[str, Any]], accumulator: bytes
) -> tuple[str, bytes, bytes]:
    """The ``genesis_transaction`` (version 0) writing ``changes``: its hash, its JSON and the new accumulator."""
    txn_hash = hex0x(core.sha3(TXN_PREFIX + b"\x02genesis" + dumps(sorted(changes))))
    accumulator = core.sha3(accumulator + bytes.fromhex(txn_hash[2:]))
    rendered_changes = render_changes(changes)
    body = {
        "type": "genesis_transaction",
        "version": "0",
        "hash": txn_hash,
        "state_change_hash": hex0x(core.sha3(dumps(rendered_changes))),
        "event_root_hash": hex0x(core.sha3(dumps(events))),
        "gas_used": "0",
        "success": True,
        "vm_status": "Executed successfully",
        "accumulator_root_hash": hex0x(accumulator),
        "changes": rendered_changes,
        "payload": {
            "type": "write_set_payload",
            "write_set": {"type": "direct_write_set", "changes": rendered_changes, "events": events},
        },
        "events": events,
    }
    return txn_hash, dumps(body), accumulator
