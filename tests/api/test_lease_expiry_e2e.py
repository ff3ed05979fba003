"""Lease expiry end to end: ``pictor up`` (real API, indexer, localnet) with a 10-second lease, a creator paying a
real job, and real ``pictor worker run`` processes. Worker A is killed with SIGKILL (with its Blender) after it
uploaded a frame of its task; the lease expires, the scheduler returns the task to the queue (and the
coordinator requeues it on chain), worker B claims it as attempt 2, renders it and submits it, and the job
completes with every frame."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from blender.scenegen import SceneSpec, generate_scene
from chain.client import PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.keys import load_role_keys
from chain.payloads import TASK_SUBMITTED
from cli.up import UpProcess, WorkerNode, log_tail, provision_worker
from creator.api import CreatorApi, ensure_session
from creator.jobs import download_frames, job_settings, submit_job, watch_job, watch_outcome
from creator.keys import create_wallet
from creator.wallet import deposit, fund_wallet
from pictor.db import get_engine
from tables.jobs import chain_outbox, tasks
from tests.support.stack import up_stack

pytestmark = pytest.mark.timeout(900)
PICTOR = 10**8
FRAMES = 6


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """``pictor up`` with a 10 s lease (a live worker heartbeats its task every second, even on a loaded machine)."""
    yield from up_stack(pg_server, tmp_path_factory.mktemp("up"), PICTOR_LEASE_S="10")


def chain_of(stack: UpProcess) -> object:
    return PictorChain(stack.info["PICTOR_NODE_URL"], LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                       faucet_url=stack.info["PICTOR_FAUCET_URL"], wait_timeout=60)  # fmt: skip


def test_killed_worker_lease_expires_and_another_worker_finishes(stack: UpProcess, tmp_path: Path) -> None:
    engine = get_engine(stack.info["database_url"])
    api_url = stack.info["PICTOR_API_URL"]
    scene = generate_scene(tmp_path / "scene.blend", SceneSpec(frame_start=1, frame_end=FRAMES, resolution_x=128,
                                                               resolution_y=96, samples=32))  # fmt: skip
    workers: list[WorkerNode] = []

    async def go() -> dict[str, object]:
        chain = chain_of(stack)
        keys = load_role_keys(stack.info["PICTOR_KEYS_DIR"])
        try:
            a, b = await asyncio.gather(
                provision_worker(chain, keys, api_url, tmp_path / "a", "worker-a"),
                provision_worker(chain, keys, api_url, tmp_path / "b", "worker-b"),
            )
            workers.extend((a, b))
            key_file = tmp_path / "creator.key"
            creator = create_wallet(key_file)
            await fund_wallet(chain, creator, 10 * PICTOR)
            await deposit(chain, creator, 10 * PICTOR)
            a.start()  # only A runs when the job appears: it takes the one task
            async with CreatorApi(api_url) as api:
                await ensure_session(api, creator, key_file)
                settings = job_settings(f"1-{FRAMES}", engine="cycles", device="CPU", samples=32,
                                        resolution="128x96", chunk=FRAMES)  # fmt: skip
                # An explicit budget: the default (the estimate's quoted total) can fall short of the claim's quote
                # (api/jobs stores tasks' minutes from the rounded per-frame estimate; reported).
                job = await submit_job(api, chain, creator, scene, settings, budget=PICTOR // 100,
                                       echo=lambda _: None)  # fmt: skip
                # Wait until A has uploaded a frame of its task (mid-task), then kill -9 it and its Blender.
                deadline = time.monotonic() + 180
                while True:
                    detail = await api.get(f"/jobs/{job.job_id}")
                    uploaded = [f for f in detail["frames"] if f["sha256"]]
                    if uploaded:
                        break
                    assert a.alive(), log_tail(a.log)
                    assert time.monotonic() < deadline, detail
                    await asyncio.sleep(0.1)
                a.kill()
                after_kill = await api.get(f"/jobs/{job.job_id}")
                b.start()
                final = await watch_job(api, job.job_id, lambda _: None, timeout_s=400)
                frames = await download_frames(api, job.job_id, tmp_path / "out")
            infos = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # B submits its result on chain after completing at the API
                infos = await chain.views.task(job.chain_job_id, 1)
                if infos.state >= TASK_SUBMITTED:
                    break
                await asyncio.sleep(0.3)
            return {"job": job, "uploaded": uploaded, "after_kill": after_kill, "final": final, "frames": frames,
                    "chain_task": infos}  # fmt: skip
        finally:
            await chain.close()
            for worker in workers:
                worker.stop()

    try:
        got = asyncio.run(go())
    finally:
        for worker in workers:
            worker.stop()
    a, b = workers
    job = got["job"]
    # A was killed mid-task: some but not all frames uploaded, the job not finished.
    assert 1 <= len(got["uploaded"]) < FRAMES
    assert got["after_kill"]["state"] == "active"
    assert any(f["state"] != "rendered" for f in got["after_kill"]["frames"])
    # The lease expired, the task went back to the queue and B finished it as the second attempt.
    code, words = watch_outcome(got["final"])
    assert code == 0 and got["final"]["state"] == "completed", (words, log_tail(b.log))
    with engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.job_id == job.job_id)).one()
        outbox = conn.execute(select(chain_outbox.c.kind, chain_outbox.c.attempt, chain_outbox.c.node_id,
                                     chain_outbox.c.status).where(chain_outbox.c.job_id == job.job_id)
                              .order_by(chain_outbox.c.id)).all()  # fmt: skip
    assert task.state == "rendered" and task.attempt == 2 and task.node_id == b.node_id
    assert task.manifest["manifest"]["node"] == b.node_address
    assert [tuple(r) for r in outbox] == [("assign", 1, a.node_id, "done"), ("requeue", 1, a.node_id, "done"),
                                          ("assign", 2, b.node_id, "done")]  # fmt: skip
    chain_task = got["chain_task"]
    assert chain_task.state >= TASK_SUBMITTED and chain_task.attempt == 2 and chain_task.node_id == b.node_id
    assert sorted(p.name for p in got["frames"]) == [f"frame_{i:06d}.png" for i in range(1, FRAMES + 1)]
    for path in got["frames"]:
        with Image.open(path) as image:
            assert image.size == (128, 96)
    assert not a.alive()
