"""A whole ``pictor up`` stack in a subprocess, on a fresh copy of the migrated template database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cli.up import UpProcess
from pictor.db import create_database_like, drop_database, get_engine


def up_stack(pg_server: str, root: Path, **env: str) -> Iterator[UpProcess]:
    """Yield a running ``pictor up`` (extra environment ``env``; the scheduler passes every 0.5 s), then stop it
    and drop its database."""
    url = create_database_like(pg_server)
    up = UpProcess(root, env={"DATABASE_URL": url, "PICTOR_SCHEDULER_INTERVAL_S": "0.5", **env})
    up.info["database_url"] = url
    try:
        yield up
    finally:
        up.stop()
        get_engine(url).dispose()
        drop_database(url)
