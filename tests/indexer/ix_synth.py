"""Synthetic committed transactions, shaped as the node's JSON, for decode/write tests without a chain."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chain import events as ev
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from indexer.processor import FUNGIBLE_STORE_T, OBJECT_CORE_T, TX_FA_DEPOSIT, TX_FA_WITHDRAW, pictor_metadata_address

PACKAGE = LOCALNET_PACKAGE_ADDRESS
METADATA = pictor_metadata_address(PACKAGE)
OTHER_METADATA = "0x" + "ab" * 32  # another fungible asset: its movements are not PICTOR's


def addr(n: int) -> str:
    """A deterministic test address."""
    return "0x" + hashlib.sha3_256(b"addr" + n.to_bytes(8, "little")).hexdigest()


def h32(n: int) -> bytes:
    """A deterministic 32-byte hash."""
    return hashlib.sha3_256(b"h" + n.to_bytes(8, "little")).digest()


@dataclass(frozen=True)
class FA:
    """A ``0x1::fungible_asset`` movement: ``kind`` deposit|withdraw; ``owner`` set when the store's ObjectCore is written."""

    kind: str
    store: str
    amount: int
    owner: str | None = None
    metadata: str = METADATA


class Synth:
    """Builds a contiguous, version-ordered list of transaction dicts."""

    def __init__(self, first_version: int = 0) -> None:
        self.version = first_version
        self.txns: list[dict[str, Any]] = []

    def _base(self, kind: str, success: bool = True) -> dict[str, Any]:
        txn = {
            "type": kind,
            "version": str(self.version),
            "hash": "0x" + hashlib.sha3_256(b"txn" + self.version.to_bytes(8, "little")).hexdigest(),
            "success": success,
            "vm_status": "Executed successfully" if success else "Move abort",
            "timestamp": str(1_700_000_000_000_000 + self.version),
            "events": [],
            "changes": [],
        }
        self.version += 1
        self.txns.append(txn)
        return txn

    def txn(self, *items: Any, success: bool = True) -> dict[str, Any]:
        """A user transaction emitting ``items`` (pictor events and :class:`FA` movements), then a FeeStatement."""
        txn = self._base("user_transaction", success)
        for item in items:
            if isinstance(item, ev.PictorEvent):
                raw = ev.event_to_json(item, PACKAGE)
            else:
                raw = {
                    "type": TX_FA_DEPOSIT if item.kind == "deposit" else TX_FA_WITHDRAW,
                    "data": {"store": item.store, "amount": str(item.amount)},
                }
                txn["changes"].append({
                    "type": "write_resource",
                    "address": item.store,
                    "data": {"type": FUNGIBLE_STORE_T, "data": {"metadata": {"inner": item.metadata}, "balance": "0"}},
                })
                if item.owner is not None:
                    txn["changes"].append({
                        "type": "write_resource",
                        "address": item.store,
                        "data": {"type": OBJECT_CORE_T, "data": {"owner": item.owner}},
                    })
            raw.update(guid={"creation_number": "0", "account_address": "0x0"}, sequence_number="0")
            txn["events"].append(raw)
        txn["events"].append({
            "type": "0x1::transaction_fee::FeeStatement",
            "data": {"total_charge_gas_units": "7"},
            "guid": {"creation_number": "0", "account_address": "0x0"},
            "sequence_number": "0",
        })
        return txn

    def block(self) -> dict[str, Any]:
        """A block-metadata transaction (no pictor event)."""
        return self._base("block_metadata_transaction")

    def failed(self, *items: Any) -> dict[str, Any]:
        """A failed user transaction (its events, if any were listed, must be ignored)."""
        return self.txn(*items, success=False)
