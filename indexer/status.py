"""The indexer's lag: chain version minus indexed version, for the API's health endpoint and as a metric."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from chain.client import PictorChain
from chain.errors import ChainError
from indexer.schema import processor_status
from indexer.writer import DEFAULT_PROCESSOR


@dataclass(frozen=True)
class Lag:
    """Where the mirror stands against the chain (``None`` where a side is unknown or unreachable)."""

    processor: str
    indexed_version: int | None
    chain_version: int | None
    lag: int | None
    updated_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out = asdict(self)
        out["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return out


def read_checkpoint(engine: Engine, processor: str = DEFAULT_PROCESSOR) -> tuple[int | None, datetime | None]:
    """The processor's last committed version (None before its first batch) and when it was written."""
    query = select(processor_status.c.last_success_version, processor_status.c.updated_at).where(
        processor_status.c.processor == processor
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row[0] < 0:
        return None, None if row is None else row[1]
    return int(row[0]), row[1]


async def indexer_lag(engine: Engine, chain: PictorChain, processor: str = DEFAULT_PROCESSOR) -> Lag:
    """Indexed version, chain version and their difference (the chain part is None when the node is down)."""
    indexed, updated_at = await asyncio.to_thread(read_checkpoint, engine, processor)
    try:
        chain_version: int | None = (await chain.ledger_info()).ledger_version
    except ChainError:
        chain_version = None
    lag = None if chain_version is None else chain_version - (indexed if indexed is not None else -1)
    return Lag(processor, indexed, chain_version, lag, updated_at)


def metrics_text(lag: Lag) -> str:
    """The lag in the Prometheus text exposition format (unknown values are left out)."""
    lines = []
    for name, value, help_text in (
        ("pictor_indexer_indexed_version", lag.indexed_version, "Last ledger version committed to the mirror."),
        ("pictor_indexer_chain_version", lag.chain_version, "Latest ledger version of the chain node."),
        ("pictor_indexer_lag_versions", lag.lag, "Chain version minus indexed version."),
    ):
        if value is not None:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
                      f'{name}{{processor="{lag.processor}"}} {value}']
    return "\n".join(lines) + "\n"
