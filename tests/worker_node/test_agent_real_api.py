"""The worker agent against the real API (api/node_tasks.py) served over HTTP, on the embedded PostgreSQL and a
real localnet indexed into it: a creator's job (real open_job) is claimed, rendered with bpy, uploaded,
completed with the signed manifest, and the agent's escrow::submit_result lands on the task the API's
coordinator assigned on chain."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chain.localnet")
pytest.importorskip("api.node_tasks")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from api_helpers import chain_client, make_settings, session_for, setup_chain  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from test_agent import running, wait_until  # noqa: E402

from api.app import create_app  # noqa: E402
from api.upload_tables import blobs, uploads  # noqa: E402
from chain.keys import account_address  # noqa: E402
from chain.localnet import start_localnet_process  # noqa: E402
from indexer.runner import Indexer, IndexerConfig  # noqa: E402
from pictor.blobs import LocalBlobStore  # noqa: E402
from pictor.db import create_database_like, drop_database, get_engine  # noqa: E402
from worker_node.agent import WorkerAgent, canonical_json, result_hash  # noqa: E402
from worker_node.config import parse_config  # noqa: E402

pytestmark = pytest.mark.timeout(400)
APT = 10**8
DEPOSIT = 10**8


@pytest.fixture(scope="module")
def env(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("real-api-localnet")
    localnet = start_localnet_process(data_dir)
    template = create_database_like(pg_server)
    try:

        async def go() -> dict[str, Any]:
            chain = chain_client(localnet)
            try:
                made = await setup_chain(chain, data_dir)
                user = made["user"]
                await chain.submit_and_wait(made["admin"], chain.payloads.token_mint(account_address(user), DEPOSIT))
                await chain.submit_and_wait(user, chain.payloads.vault_deposit(DEPOSIT))
                worker = made["nodes"]["worker"]
                await chain.fund(worker.address, APT)  # the operator pays the node account's gas
                end = (await chain.ledger_info()).ledger_version
                await Indexer(chain, IndexerConfig(database_url=template, stop_at_version=end)).run()
                return made
            finally:
                await chain.close()

        made = asyncio.run(go())
        get_engine(template).dispose()
        yield {"localnet": localnet, "data_dir": data_dir, "template": template, **made}
    finally:
        localnet.stop()
        drop_database(template)


class Served:
    """The API app on 127.0.0.1 with uvicorn in a thread (lifespan on: the scheduler loop runs)."""

    def __init__(self, app: Any) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


async def test_agent_renders_a_real_job_through_the_real_api(env, tmp_path, scenes):
    url = create_database_like(env["template"])
    engine = get_engine(url)
    localnet = env["localnet"]
    app = create_app(engine, chain_client(localnet))
    app.state.settings = make_settings(tmp_path, keys_dir=env["data_dir"] / "keys", scheduler_interval_s=0.5)
    store = app.state.blob_store = LocalBlobStore(app.state.settings.blobs_path)
    served = Served(app)
    user = env["user"]
    creator = account_address(user)
    try:
        # A real .blend upload (rows as api/uploads.py writes them) and a job of 4 frames, 2 per task.
        data = scenes.basic.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        with store.writer() as writer:
            writer.write(data)
            writer.commit()
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(insert(blobs).values(sha256=sha, size=len(data), created_at=now))
            conn.execute(insert(uploads).values(upload_id="u1", owner=creator, blob_sha256=sha, kind="blend",
                                                compression="none", filename="basic.blend", size=len(data),
                                                created_at=now, scene=None))  # fmt: skip
        headers = {"Authorization": f"Bearer {session_for(engine, creator)}"}
        settings = {"frames": "1-4", "frames_per_node": 2, "resolution": "custom", "resolution_x": 64,
                    "resolution_y": 48, "samples": 4, "engine": "cycles", "device": "CPU",
                    "denoising": False, "adaptive_sampling": False}  # fmt: skip
        async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=60) as http:
            created = await http.post("/jobs", json={"upload_id": "u1", "settings": settings})
            assert created.status_code == 201, created.text
            job_id = created.json()["job_id"]
            budget, price = (int(a) for a in created.json()["escrow_payload"]["arguments"])
            chain = chain_client(localnet)
            try:
                opened = await chain.submit_and_wait(user, chain.payloads.escrow_open_job(budget, price))
                linked = await http.post(f"/jobs/{job_id}/escrow", json={"txn_hash": opened.hash})
                assert linked.status_code in (200, 202), linked.text
                end = (await chain.ledger_info()).ledger_version
                await Indexer(chain, IndexerConfig(database_url=url, stop_at_version=end)).run()
                job = (await http.get(f"/jobs/{job_id}")).json()
                assert job["state"] == "active", job

                worker = env["nodes"]["worker"]
                config = parse_config({
                    "worker_id": "w-real", "api_url": served.url, "operator_address": account_address(worker.operator),
                    "node_url": localnet.node_url, "heartbeat_s": 0.5, "task_heartbeat_s": 0.5, "poll_s": 0.2,
                    "max_backoff_s": 0.5, "shutdown_grace_s": 120, "benchmark": False,
                }, base=tmp_path)  # fmt: skip
                agent = WorkerAgent(config, key=worker.key)
                async with running(agent):

                    async def rendered() -> bool:
                        frames = (await http.get(f"/jobs/{job_id}")).json()["frames"]
                        return all(f["state"] not in ("queued", "assigned", "rendering") for f in frames)

                    deadline = time.monotonic() + 180
                    while not await rendered():
                        assert time.monotonic() < deadline, (await http.get(f"/jobs/{job_id}")).text
                        await asyncio.sleep(0.2)
                    await wait_until(lambda: len(agent.chain_results) == 2, timeout=150, what="two chain submissions")
                job = (await http.get(f"/jobs/{job_id}")).json()
                assert {f["state"] for f in job["frames"]} <= {"rendered", "verifying"}, job["frames"]
                assert agent.stats["rendered"] == 2 and agent.stats["failed"] == 0
                assert all(r["status"] == "committed" for r in agent.chain_results), agent.chain_results
                # The task rows hold the signed manifests; the chain holds their hashes.
                from sqlalchemy import select

                from api.job_tables import tasks

                with engine.connect() as conn:
                    rows = conn.execute(select(tasks.c.seq, tasks.c.manifest).where(tasks.c.job_id == job_id)).all()
                chain_job = job["escrow"]["job_id"] if isinstance(job.get("escrow"), dict) and "job_id" in job["escrow"] \
                    else agent.chain_results[0]["job_id"]  # fmt: skip
                for seq, stored in rows:
                    manifest = stored["manifest"]
                    assert hashlib.sha256(canonical_json(manifest)).digest() == result_hash(manifest)
                    info = await chain.views.task(int(chain_job), int(seq))
                    assert info.state == 2 and info.result_hash == result_hash(manifest)
            finally:
                await chain.close()
    finally:
        served.stop()
        engine.dispose()
        drop_database(url)
