"""JSON the node's API answers with: resources, write-set changes, events, entry-function payloads, signatures."""

from __future__ import annotations

import hashlib
from typing import Any

from chain.localnet.codec import hex0x
from chain.localnet.txn import SignedTxn
from chain.localnet.vm import core, framework

_STATE_KEY_PREFIX = hashlib.sha3_256(b"APTOS::StateKey").digest()


def encode_value(move_type: str, value: Any) -> Any:
    """JSON of a Move value; struct-typed values fall back to ``encode_state_value``."""
    try:
        return core.encode_json_value(move_type, value)
    except ValueError:
        return core.encode_state_value(value)


def encode_state(value: Any) -> Any:
    """``core.encode_state_value`` with exact-type dispatch (the hot path of rendering write sets)."""
    t = type(value)
    if t is dict:
        return {k: encode_state(v) for k, v in value.items()}
    if t is int:
        return str(value)
    if t is str or t is bool or value is None:
        return value
    if t is list:
        return [encode_state(v) for v in value]
    if t is bytes:
        return "0x" + value.hex()
    return core.encode_state_value(value)


def render_resource(type_tag: str, value: Any) -> dict[str, Any]:
    """A ``MoveResource``: ``{type, data}`` (u8/u16/u32 framework fields as numbers, as Aptos renders them)."""
    data = encode_state(value)
    small = framework.SMALL_INT_FIELDS.get(type_tag)
    if small and isinstance(data, dict):
        for name in small:
            if name in data:
                data[name] = int(data[name])
    return {"type": type_tag, "data": data}


_KEY_HASHES: dict[str, str] = {}


def state_key_hash(key: str) -> str:
    """Hash naming a state key in write sets (memoized: the same keys change again and again)."""
    out = _KEY_HASHES.get(key)
    if out is None:
        out = hex0x(core.sha3(_STATE_KEY_PREFIX + key.encode()))
        if len(_KEY_HASHES) < 500_000:
            _KEY_HASHES[key] = out
    return out


def change_set_hash(rendered_changes: list[dict[str, Any]]) -> str:
    """``state_change_hash``: over the state key hashes and change kinds (cheaper than hashing the JSON)."""
    return hex0x(core.sha3("".join(c["type"][0] + c["state_key_hash"] for c in rendered_changes).encode()))


def event_root_hash(txn_hash: str, events: list[dict[str, Any]]) -> str:
    """``event_root_hash``: over the transaction hash and the event types, in order."""
    return hex0x(core.sha3((txn_hash + "".join(e["type"] for e in events)).encode()))


def render_change(key: str, value: Any) -> dict[str, Any] | None:
    """A ``WriteSetChange`` for one state key (``None`` for keys that are not resources or table items)."""
    kind, _, rest = key.partition("|")
    if kind == "r":
        address, _, type_tag = rest.partition("|")
        if value is None:
            return {
                "type": "delete_resource",
                "address": core.standard_addr(address),
                "state_key_hash": state_key_hash(key),
                "resource": type_tag,
            }
        return {
            "type": "write_resource",
            "address": core.standard_addr(address),
            "state_key_hash": state_key_hash(key),
            "data": render_resource(type_tag, value),
        }
    if kind == "t":
        handle, _, item = rest.partition("|")
        if value is None:
            return {
                "type": "delete_table_item",
                "state_key_hash": state_key_hash(key),
                "handle": handle,
                "key": hex0x(item.encode()),
                "data": {"key": item, "key_type": ""},
            }
        return {
            "type": "write_table_item",
            "state_key_hash": state_key_hash(key),
            "handle": handle,
            "key": hex0x(item.encode()),
            "value": "0x",
            "data": {"key": item, "key_type": "", "value": encode_state(value), "value_type": ""},
        }
    return None


def render_changes(changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``changes`` list of a transaction, in state-key order."""
    out = []
    for key in sorted(changes):
        change = render_change(key, changes[key])
        if change is not None:
            out.append(change)
    return out


_MODULE_GUID = {"creation_number": "0", "account_address": "0x0"}


def render_event(ev: core.EventType, values: dict[str, Any], guid: tuple[str, int, int] | None) -> dict[str, Any]:
    """An ``Event``: module events carry the zero GUID, handle events their handle's GUID and counter."""
    data = {name: encode_value(ftype, values[name]) for name, ftype in ev.fields}
    if guid is None:
        return {"guid": _MODULE_GUID, "sequence_number": "0", "type": ev.type_tag, "data": data}
    account, creation_num, seq = guid
    return {
        "guid": {"creation_number": str(creation_num), "account_address": core.standard_addr(account)},
        "sequence_number": str(seq),
        "type": ev.type_tag,
        "data": data,
    }


#: A handle event as stored for the events-by-handle API: (account, creation number, sequence number, event JSON).
HandleEvent = tuple[str, int, int, dict[str, Any]]


def render_events(ctx: core.TxContext) -> tuple[list[dict[str, Any]], list[HandleEvent]]:
    """The events a transaction emitted, in order, and those of them emitted on a legacy event handle."""
    events: list[dict[str, Any]] = []
    handle_events: list[HandleEvent] = []
    for i, (ev, values) in enumerate(ctx.events):
        guid = ctx.event_guids.get(i)
        rendered = render_event(ev, values, guid)
        events.append(rendered)
        if guid is not None:
            handle_events.append((guid[0], guid[1], guid[2], rendered))
    return events, handle_events


def render_payload(txn: SignedTxn) -> dict[str, Any]:
    """The ``entry_function_payload`` JSON; arguments decoded with the function's ABI when it is known."""
    if txn.fn is not None and txn.decoded is not None:
        arguments = [encode_value(p, v) for p, v in zip(txn.fn.params, txn.decoded, strict=True)]
    else:
        arguments = [hex0x(a) for a in txn.args]
    return {
        "function": txn.function_id,
        "type_arguments": list(txn.ty_args),
        "arguments": arguments,
        "type": "entry_function_payload",
    }


def render_signature(txn: SignedTxn) -> dict[str, Any]:
    """The ``signature`` JSON of a transaction."""
    return txn.auth.json()


def prepare(txn: SignedTxn) -> None:
    """Resolve the function and decode the arguments once (reused for rendering and execution)."""
    txn.fn = core.ENTRY_FUNCTIONS.get(core.function_key(txn.module_addr, txn.module, txn.function))
    if txn.fn is not None and len(txn.args) == len(txn.fn.params):
        try:
            txn.decoded = [core.decode_bcs_arg(p, a) for p, a in zip(txn.fn.params, txn.args, strict=True)]
        except (ValueError, UnicodeDecodeError):
            txn.decoded = None
    txn.payload_json = render_payload(txn)
    txn.signature_json = render_signature(txn)
    txn.pending_body = {
        "hash": txn.hash,
        "sender": core.standard_addr(txn.sender),
        "sequence_number": str(txn.seq),
        "max_gas_amount": str(txn.max_gas),
        "gas_unit_price": str(txn.gas_price),
        "expiration_timestamp_secs": str(txn.expiration),
        "payload": txn.payload_json,
        "signature": txn.signature_json,
    }
