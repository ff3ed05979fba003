"""``pictor close-epoch``: close one reward epoch or every due one, printing one JSON line each."""

from __future__ import annotations

import asyncio
import json
import sys

from chain.client import PictorChain
from chain.errors import ChainError
from pictor import db
from pictor.settings import Settings, get_settings
from rewards.epochs import EpochCloser, EpochError, EpochSummary, publisher_key, summary_json


def close_cli(epoch: int | None, settings: Settings | None = None) -> int:
    """``pictor close-epoch``: close one epoch or every due one; prints one JSON line each; exit code."""
    settings = settings or get_settings()
    if epoch is not None and epoch < 1:
        print(f"error: epochs are numbered from 1, got {epoch}", file=sys.stderr)
        return 2

    try:
        publisher = publisher_key(settings)
    except (OSError, ValueError) as exc:
        print(f"error: no publisher key ({exc}); set PICTOR_KEYS_DIR to the folder holding admin.key", file=sys.stderr)
        return 2

    async def go() -> list[EpochSummary]:
        chain = PictorChain.from_settings(settings)
        try:
            closer = EpochCloser(db.get_engine(db.database_url(settings)), chain, publisher, settings)
            return [await closer.close(epoch)] if epoch is not None else await closer.close_due()
        finally:
            await chain.close()

    try:
        summaries = asyncio.run(go())
    except EpochError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ChainError, OSError) as exc:
        print(
            f"error: the chain did not take the epoch ({exc.__class__.__name__}: {exc}); run the close again",
            file=sys.stderr,
        )
        return 1
    for s in summaries:
        print(json.dumps(summary_json(s)))
    return 0
