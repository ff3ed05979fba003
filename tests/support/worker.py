"""Shared test helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from blender import RenderSession
from blender.benchmark import CACHE_FILE
from protocol.render_spec import RenderParams
from tests.support import REPO_ROOT
from tests.support.node_api import NodeApiServer
from worker_node.agent import WorkerAgent

REPO = REPO_ROOT


#: A frame this heavy renders for minutes: the tests that use it kill it long before.
SLOW_SAMPLES = 60_000


def tiny_settings(frames: str = "1-5", **changes: Any) -> dict[str, Any]:
    return {
        "frames": frames, "resolution": "custom", "resolution_x": 64, "resolution_y": 48,
        "samples": 4, "seed": 0, "denoising": False, "adaptive_sampling": False, **changes,
    }  # fmt: skip


@pytest.fixture(scope="module")
def samples_for(scenes: Any, tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], int]:
    """Samples that keep a 64×48 frame busy for about the given seconds here (measured once)."""
    settings = {k: v for k, v in tiny_settings().items() if k not in ("frames", "resolution")}
    with RenderSession(scenes.basic, RenderParams(**{**settings, "samples": 200, "resolution_percentage": 100}),
                       output_dir=tmp_path_factory.mktemp("calibrate")) as session:  # fmt: skip
        session.render_frame(1)
        per_sample = session.render_frame(1).render_seconds / 200
    return lambda seconds: max(50, min(SLOW_SAMPLES, int(seconds / per_sample)))


def write_config(tmp_path: Path, server: NodeApiServer, bench_cache: Path | None, **changes: Any) -> Path:
    """A worker config like the API hands out, with fast test timings; the benchmark result pre-cached."""
    cache = tmp_path / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    if bench_cache is not None:
        shutil.copy(bench_cache, cache / CACHE_FILE)
    data = {
        "worker_id": "w-test", "api_url": server.url, "operator_address": "0xa11ce",
        "cache_dir": "cache", "key_path": "node.key",
        "heartbeat_s": 0.5, "task_heartbeat_s": 0.3, "poll_s": 0.2, "max_backoff_s": 0.5,
        "shutdown_grace_s": 20, "submit_on_chain": False, "location": "europe", **changes,
    }  # fmt: skip
    path = tmp_path / "worker-config.json"
    path.write_text(json.dumps(data))
    return path


@contextlib.asynccontextmanager
async def running(agent: WorkerAgent) -> AsyncIterator[WorkerAgent]:
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        agent.request_stop()
        assert await asyncio.wait_for(task, 60) == 0


async def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def render_started(agent: WorkerAgent, frame: int) -> int | None:
    """The Blender pid once the current task's log shows the frame rendering."""
    run = agent.current
    session = run.session if run else None
    if session is not None and session.pid and f"rendering frame {frame}" in session.log_tail(200):
        return session.pid
    return None
