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


ADMIN, A, W, C, T = addr(0), addr(1), addr(2), addr(3), addr(4)


VAULT, STAKING, REWARDS, S1 = addr(100), addr(101), addr(102), addr(103)


PA, PW, PC, PADMIN = addr(200), addr(201), addr(202), addr(203)


ACCT1, ACCT2, ACCT3 = addr(300), addr(301), addr(302)


PK1, PK2, PK3, SIGNER = h32(1), h32(2), h32(3), h32(4)


def scenario() -> list[dict]:
    """A history touching every pictor event type (amounts worked out by hand in the asserts below)."""
    s = Synth()
    s.txn(
        ev.RolesUpdated(ADMIN, ADMIN, ADMIN),
        ev.FeeSplitUpdated(6000, 1000),
        ev.ParamsUpdated(1, 100, 100, 604800, 86400, 1000, 3, 1000),
        FA("deposit", VAULT, 0, PACKAGE),
    )
    s.block()
    s.txn(
        ev.RolesUpdated(ADMIN, ADMIN, T),
        ev.CreditSignerUpdated(SIGNER),
        ev.PausedUpdated(True),
        ev.PausedUpdated(False),
    )
    s.txn(ev.Minted(A, 10_000, 10_000), FA("deposit", PA, 10_000, A))
    s.txn(FA("withdraw", PA, 5000), FA("deposit", VAULT, 5000, PACKAGE), ev.Deposited(A, 5000, 5000))
    s.failed(ev.Deposited(A, 1, 1))
    s.txn(FA("deposit", VAULT, 1000), ev.CreditClaimed(A, 1000, 0, 1000))
    s.txn(FA("withdraw", VAULT, 500), FA("deposit", PA, 500), ev.Withdrawn(A, 500, 4500))
    s.txn(
        ev.Minted(W, 1000, 11_000), FA("deposit", PW, 1000, W), ev.Minted(C, 1000, 12_000), FA("deposit", PC, 1000, C)
    )
    s.txn(ev.NodeRegistered(1, W, 1, PK1, ACCT1))
    s.txn(ev.NodeRegistered(2, C, 2, PK2, ACCT2))
    s.txn(
        FA("withdraw", PW, 300),
        FA("deposit", STAKING, 300, PACKAGE),
        ev.Staked(W, 1, 300, 300),
        FA("withdraw", PC, 300),
        FA("deposit", STAKING, 300),
        ev.Staked(C, 2, 300, 300),
    )
    s.txn(FA("withdraw", VAULT, 2000), FA("deposit", S1, 2000, PACKAGE), ev.JobOpened(1, A, 2000, 1000, 1000, 60, S1))
    s.txn(FA("withdraw", VAULT, 500), FA("deposit", S1, 500), ev.JobToppedUp(1, 500, 0, 500, 2500))
    s.txn(ev.TaskAssigned(1, 7, 1, W, 400, 1))
    s.txn(ev.TaskRequeued(1, 7, 1, 1))
    s.txn(ev.TaskAssigned(1, 7, 1, W, 400, 2))
    s.txn(ev.ResultSubmitted(1, 7, 1, h32(10), 300_000, 300))
    s.txn(ev.Attested(1, 7, 2, C, 2, h32(10), True, h32(11)), ev.TaskVerified(1, 7, 300, 87_400))
    s.txn(
        FA("withdraw", S1, 180),
        FA("deposit", VAULT, 180),
        FA("withdraw", S1, 30),
        FA("deposit", VAULT, 30),
        FA("withdraw", S1, 90),
        FA("deposit", VAULT, 90),
        ev.TaskSettled(1, 7, 1, 300, W, 180, (C,), 30, T, 90),
    )
    s.txn(ev.TaskAssigned(1, 8, 1, W, 100, 1))
    s.txn(ev.ResultSubmitted(1, 8, 1, h32(12), 60_000, 60))
    s.txn(ev.Attested(1, 8, 2, C, 1, h32(12), False, h32(13)), ev.TaskRequeued(1, 8, 1, 2), ev.NodeStruck(1, 1))
    s.txn(ev.TaskAssigned(1, 9, 1, W, 100, 1), ev.ResultSubmitted(1, 9, 1, h32(14), 50_000, 50))
    s.txn(ev.Attested(1, 9, 2, C, 1, h32(14), True, h32(15)), ev.TaskVerified(1, 9, 50, 90_000))
    s.txn(ev.TaskDisputed(1, 9, 1))
    s.txn(
        ev.DisputeResolved(1, 9, 2, True, h32(16)),
        FA("withdraw", STAKING, 30),
        FA("deposit", VAULT, 30),
        ev.Slashed(W, 1, 30, 2, 1, 9, T),
        FA("withdraw", STAKING, 30),
        FA("deposit", VAULT, 30),
        ev.Slashed(C, 2, 30, 2, 1, 9, T),
        ev.TaskRequeued(1, 9, 1, 3),
    )
    s.txn(ev.TaskAssigned(1, 11, 1, W, 100, 1), ev.ResultSubmitted(1, 11, 1, h32(17), 10_000, 10))
    s.txn(ev.Abstained(1, 11, 2, C, 1, h32(17), h32(18)))
    s.txn(ev.TaskRequeued(1, 11, 1, 5))
    s.txn(ev.TaskAssigned(1, 10, 1, W, 100, 1))
    s.txn(
        ev.TaskRequeued(1, 10, 1, 4),
        FA("withdraw", S1, 700),
        FA("deposit", VAULT, 700),
        FA("withdraw", S1, 1500),
        FA("deposit", VAULT, 1500),
        ev.JobClosed(1, 300, 700, 1500),
    )
    s.txn(
        ev.UnstakeRequested(W, 1, 100, 1, 2000, 170),
        ev.UnstakeRequested(W, 1, 50, 2, 2001, 120),
        ev.UnstakeRequested(W, 1, 20, 3, 2002, 100),
    )
    s.txn(FA("withdraw", STAKING, 150), FA("deposit", VAULT, 150), ev.Slashed(W, 1, 150, 1, 0, 0, T))
    s.txn(FA("withdraw", STAKING, 120), FA("deposit", PW, 120), ev.UnstakeWithdrawn(W, 120, (1, 2)))
    s.txn(ev.NodeKeyRotated(1, ACCT1, PK3, ACCT3), ev.NodeDeregistered(2, C))
    s.txn(ev.FeeSplitUpdated(5000, 2000), ev.ParamsUpdated(2, 200, 200, 1000, 0, 500, 5, 0))
    s.txn(ev.Minted(ADMIN, 1000, 13_000), FA("deposit", PADMIN, 1000, ADMIN))
    s.txn(FA("withdraw", PADMIN, 1000), FA("deposit", REWARDS, 1000, PACKAGE), ev.PoolFunded(ADMIN, 1000, 1000))
    s.txn(ev.EpochPublished(1, h32(20), 600))
    s.txn(
        FA("withdraw", REWARDS, 200),
        FA("deposit", PA, 200),
        ev.RewardClaimed(1, 0, A, 200),
        FA("withdraw", REWARDS, 100),
        FA("deposit", PW, 100),
        ev.RewardClaimed(1, 3, W, 100),
    )
    s.txn(FA("deposit", addr(999), 5, addr(9), OTHER_METADATA))  # another asset: not a PICTOR movement
    s.block()
    return s.txns
