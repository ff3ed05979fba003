"""The ledger's read side: ledger info (``GET /v1`` and the ``X-APTOS-*`` headers) and state as of an old version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.localnet.storage import Storage

#: The localnet never changes epoch.
EPOCH = 1
ZERO_HASH = "0x" + "00" * 32


@dataclass
class LedgerInfo:
    """The ``IndexResponse`` fields and the ``X-APTOS-*`` headers derived from them."""

    chain_id: int
    version: int
    timestamp_us: int
    block_height: int
    epoch: int = EPOCH
    oldest_version: int = 0
    oldest_block_height: int = 0

    def index(self) -> dict[str, Any]:
        """The ``IndexResponse`` of ``GET /v1``."""
        return {
            "chain_id": self.chain_id,
            "epoch": str(self.epoch),
            "ledger_version": str(self.version),
            "oldest_ledger_version": str(self.oldest_version),
            "ledger_timestamp": str(self.timestamp_us),
            "node_role": "validator",
            "oldest_block_height": str(self.oldest_block_height),
            "block_height": str(self.block_height),
            "git_hash": "pictor-localnet",
        }

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The ``X-APTOS-*`` headers of every response."""
        return [
            (b"x-aptos-chain-id", str(self.chain_id).encode()),
            (b"x-aptos-ledger-version", str(self.version).encode()),
            (b"x-aptos-ledger-oldest-version", str(self.oldest_version).encode()),
            (b"x-aptos-ledger-timestampusec", str(self.timestamp_us).encode()),
            (b"x-aptos-epoch", str(self.epoch).encode()),
            (b"x-aptos-block-height", str(self.block_height).encode()),
            (b"x-aptos-oldest-block-height", str(self.oldest_block_height).encode()),
        ]


class HistoricalState:
    """Read-only state as of an older version (the base of an :class:`Overlay` for reads and views)."""

    def __init__(self, storage: Storage, version: int) -> None:
        self.storage = storage
        self.version = version

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` as of this version (``default`` when absent)."""
        value = self.storage.value_at(key, self.version)
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.storage.value_at(key, self.version) is not None
