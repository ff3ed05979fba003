"""The worker agent against the real API (api/node_tasks.py) served over HTTP, on the embedded PostgreSQL and a
real localnet indexed into it: a creator's job (real open_job) is claimed, rendered with bpy, uploaded,
completed with the signed manifest, and the agent's escrow::submit_result lands on the task the API's
coordinator assigned on chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("chain.localnet")
pytest.importorskip("api.node_tasks")


import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from api.app import create_app  # noqa: E402
from chain.keys import account_address  # noqa: E402
from chain.localnet import start_localnet_process  # noqa: E402
from indexer.runner import Indexer, IndexerConfig  # noqa: E402
from pictor.blobs import LocalBlobStore  # noqa: E402
from pictor.db import create_database_like, drop_database, get_engine  # noqa: E402
from protocol.canonical import canonical_json  # noqa: E402
from protocol.manifest import result_hash  # noqa: E402
from tables.uploads import blobs, uploads  # noqa: E402
from tests.support.api import Served, chain_client, make_settings, session_for, setup_chain  # noqa: E402
from tests.support.worker import render_started, running, wait_until  # noqa: E402
from worker_node.agent import WorkerAgent  # noqa: E402
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


async def assert_released(engine: Any, job_id: int, agent: WorkerAgent) -> None:
    """The stopped agent gave its lease back: the task is queued again, no failure counted, nothing completed."""
    from sqlalchemy import select

    from tables.jobs import job_node_failures, tasks

    with engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.job_id == job_id)).one()
        failures = conn.execute(select(job_node_failures).where(job_node_failures.c.job_id == job_id)).all()
    assert task.state == "queued" and task.node_id is None and task.manifest is None, task
    assert failures == []
    assert agent.stats["released"] == 1 and agent.stats["failed"] == 0 and agent.stats["rendered"] == 0




#: The ordinary upload; frames above ``upload_part_bytes`` (OpenEXR float, ~100+ KiB) going up in parts; and a
#: stop request (what SIGTERM does) while the first frame of a 4-frame chunk renders: the lease goes back with
#: ``/release`` and is not counted as a failure.
VARIANTS = {
    "release": ({"frames_per_node": 4}, {}),
    "single": ({}, {}),
    "parts": (
        {"output_format": "OPEN_EXR", "color_depth": 32, "resolution_x": 160, "resolution_y": 120},
        {"upload_part_bytes": 64 * 1024},
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_agent_renders_a_real_job_through_the_real_api(env, tmp_path, scenes, samples_for, variant):
    job_changes, config_changes = VARIANTS[variant]
    if variant == "release":
        job_changes = {**job_changes, "samples": samples_for(2.0)}
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
                    "denoising": False, "adaptive_sampling": False, **job_changes}  # fmt: skip
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
                    "max_backoff_s": 0.5, "shutdown_grace_s": 120, "benchmark": False, **config_changes,
                }, base=tmp_path)  # fmt: skip
                agent = WorkerAgent(config, key=worker.key)
                if variant == "release":
                    async with running(agent):  # leaving it requests the stop, as SIGTERM does, and waits for exit 0
                        await wait_until(lambda: render_started(agent, 1), timeout=120, what="frame 1 rendering")
                    await assert_released(engine, job_id, agent)
                    return
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

                from tables.jobs import tasks

                with engine.connect() as conn:
                    rows = conn.execute(select(tasks.c.seq, tasks.c.manifest).where(tasks.c.job_id == job_id)).all()
                chain_job = job["escrow"]["job_id"] if isinstance(job.get("escrow"), dict) and "job_id" in job["escrow"] \
                    else agent.chain_results[0]["job_id"]  # fmt: skip
                for seq, stored in rows:
                    manifest = stored["manifest"]
                    for item in manifest["frames"]:  # the stored frame is the rendered one, whole
                        blob = store.local_path(item["sha256"]).read_bytes()
                        assert hashlib.sha256(blob).hexdigest() == item["sha256"]
                        if variant == "parts":
                            assert item["format"] == "OPEN_EXR" and len(blob) > 64 * 1024, len(blob)
                    assert hashlib.sha256(canonical_json(manifest)).digest() == result_hash(manifest)
                    info = await chain.views.task(int(chain_job), int(seq))
                    assert info.state == 2 and info.result_hash == result_hash(manifest)
            finally:
                await chain.close()
    finally:
        served.stop()
        engine.dispose()
        drop_database(url)


def test_init_with_the_api_config_registers_on_chain_and_enrolls(env, tmp_path):
    """An operator creates a worker in the API, downloads its config; `pictor worker init --config` makes the key
    (0600), registers the node on chain and enrolls it; the API then names the node in the operator's list, serves
    its signed requests, and refuses them once the worker is revoked."""
    from typer.testing import CliRunner

    from chain.keys import ROLE_WORKER, generate_account, load_key_file, write_key_file
    from cli.main import app as cli
    from protocol import signing as ns

    url = create_database_like(env["template"])
    engine = get_engine(url)
    localnet = env["localnet"]
    app = create_app(engine, chain_client(localnet))
    app.state.settings = make_settings(tmp_path, keys_dir=env["data_dir"] / "keys", public_node_url=localnet.node_url)
    served = Served(app)
    operator = generate_account()
    operator_address = account_address(operator)

    async def stake() -> None:
        chain = chain_client(localnet)
        try:
            await chain.fund(operator_address, APT)
            await chain.submit_and_wait(env["admin"], chain.payloads.token_mint(operator_address, env["minimum"]))
            await chain.submit_and_wait(operator, chain.payloads.staking_stake(ROLE_WORKER, env["minimum"]))
        finally:
            await chain.close()

    async def index() -> None:
        chain = chain_client(localnet)
        try:
            end = (await chain.ledger_info()).ledger_version
            await Indexer(chain, IndexerConfig(database_url=url, stop_at_version=end)).run()
        finally:
            await chain.close()

    try:
        asyncio.run(stake())
        headers = {"Authorization": f"Bearer {session_for(engine, operator_address)}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as http:
            created = http.post("/workers", json={"name": "rig 1", "role": "worker"})
            assert created.status_code == 201, created.text
            worker_id = created.json()["worker_id"]
            config = http.get(f"/workers/{worker_id}/config").json()
            assert config["api_url"] == served.url and config["node_url"] == localnet.node_url
            path = tmp_path / "worker-config.json"
            path.write_text(json.dumps(config))
            write_key_file(tmp_path / "operator.key", operator)
            result = CliRunner().invoke(cli, ["worker", "init", "--config", str(path), "--operator-key",
                                              str(tmp_path / "operator.key")])  # fmt: skip
            assert result.exit_code == 0, result.output
            assert "registered on chain: node id" in result.output and "enrolled with the API" in result.output
            key_file = tmp_path / "node.key"
            assert key_file.stat().st_mode & 0o777 == 0o600
            node = load_key_file(key_file)
            listed = http.get("/workers").json()["workers"]
            assert len(listed) == 1 and listed[0]["status"] == "enrolled", listed
            assert listed[0]["node"]["address"] == account_address(node)
            # The token was single-use: enrolling again (the retry command) is refused with exit 1.
            again = CliRunner().invoke(cli, ["worker", "enroll", "--config", str(path)])
            assert again.exit_code == 1 and "already enrolled" in again.output
            asyncio.run(index())
            mine = http.get(f"/workers/{worker_id}").json()
            assert mine["node"]["registered_on_chain"] is True and mine["node"]["node_id"].isdigit()
            signed = httpx.get(f"{served.url}/nodes/whoami", auth=ns.NodeAuth(node))
            assert signed.status_code == 200 and signed.json()["operator"] == operator_address, signed.text
            assert http.delete(f"/workers/{worker_id}").json()["status"] == "revoked"
            refused = httpx.get(f"{served.url}/nodes/whoami", auth=ns.NodeAuth(node))
            assert refused.status_code == 403 and "revoked" in refused.json()["detail"]
    finally:
        served.stop()
        engine.dispose()
        drop_database(url)
