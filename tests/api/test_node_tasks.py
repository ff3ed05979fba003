"""Jobs and the node endpoints against a real localnet, indexed in process: the creator's real ``open_job``
activates the job, the staked worker claims, renders (uploads) and completes through signed requests, the
coordinator's outbox assigns on chain exactly once, and an exhausted escrow pauses the job until a top-up."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from api import scheduler
from api.app import create_app
from chain.errors import NodeUnavailable
from chain.keys import account_address, generate_account, load_localnet_keys
from indexer import schema as mirror
from indexer.runner import Indexer, IndexerConfig
from pictor.blobs import LocalBlobStore
from pictor.db import create_database_like, drop_database, get_engine
from protocol import signing as ns
from tables.jobs import chain_outbox, job_node_failures, tasks
from tests.support.api import ChainEnv, make_settings, run_with_chain, session_for
from tests.support.jobs import OTHER, SMALL, make_upload, telemetry

DEPOSIT = 10**8


@pytest.fixture(scope="module")
def funded(chain_env: ChainEnv) -> ChainEnv:
    """The module's creator with PICTOR in the vault (real mint and deposit)."""

    async def go() -> None:
        chain = chain_env.chain()
        try:
            user = chain_env.onchain_user
            await chain.submit_and_wait(chain_env.admin, chain.payloads.token_mint(account_address(user), DEPOSIT))
            await chain.submit_and_wait(user, chain.payloads.vault_deposit(DEPOSIT))
        finally:
            await chain.close()

    asyncio.run(go())
    return chain_env


@pytest.fixture
def app(funded: ChainEnv, tmp_path: Path) -> Iterator[tuple[TestClient, Engine, str]]:
    """An app on a copy of the indexed template, no background task (tests drive the sweep and the outbox)."""
    url = create_database_like(funded.template_url)
    engine = get_engine(url)
    application = create_app(engine, funded.chain())
    application.state.settings = make_settings(tmp_path, scheduler_background=False, keys_dir=funded.data_dir / "keys")
    try:
        with TestClient(application) as client:
            yield client, engine, url
    finally:
        engine.dispose()
        drop_database(url)


def on_chain(env: ChainEnv, work) -> object:
    return run_with_chain(env.chain, work)


def index(env: ChainEnv, url: str) -> None:
    """Index the chain up to its current version into the test's database."""

    async def work(chain) -> None:
        end = (await chain.ledger_info()).ledger_version
        await Indexer(chain, IndexerConfig(database_url=url, stop_at_version=end)).run()

    on_chain(env, work)


def create_and_open(
    client: TestClient, engine: Engine, env: ChainEnv, url: str, *, budget: int | None = None, **settings: object
) -> tuple[int, str, dict]:
    """Create a job as the module's creator, sign its open_job payload, index it, link the escrow."""
    user = account_address(env.onchain_user)
    token = session_for(engine, user)
    headers = {"Authorization": f"Bearer {token}"}
    store = client.app.state.blob_store = LocalBlobStore(client.app.state.settings.blobs_path)
    body = {"upload_id": make_upload(engine, user, store=store), "settings": {**SMALL, **settings}}
    if budget is not None:
        body["budget"] = budget
    created = client.post("/jobs", json=body, headers=headers)
    assert created.status_code == 201, created.text
    answer = created.json()
    payload = answer["escrow_payload"]
    assert payload["function"].endswith("::escrow::open_job") and payload["type_arguments"] == []
    budget_arg, price_arg = (int(a) for a in payload["arguments"])

    async def sign(chain) -> str:
        result = await chain.submit_and_wait(env.onchain_user, chain.payloads.escrow_open_job(budget_arg, price_arg))
        return result.hash

    txn_hash = on_chain(env, sign)
    job_id = answer["job_id"]
    early = client.post(f"/jobs/{job_id}/escrow", json={"txn_hash": txn_hash}, headers=headers)
    assert early.status_code == 202 and early.json()["state"] == "awaiting_escrow"  # not indexed yet
    index(env, url)
    assert client.get(f"/jobs/{job_id}", headers=headers).json()["state"] == "active"  # linked on read
    return job_id, txn_hash, headers


def node_client(client: TestClient, env: ChainEnv) -> TestClient:
    client.auth = ns.NodeAuth(env.staked_worker.key)
    return client


def node_id_of(engine: Engine, env: ChainEnv) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(mirror.nodes.c.node_id).where(mirror.nodes.c.account == env.staked_worker.address)
            ).scalar_one()
        )


def test_create_open_escrow_activates_and_others_get_404(app, funded) -> None:
    client, engine, url = app
    job_id, txn_hash, headers = create_and_open(client, engine, funded, url)
    job = client.get(f"/jobs/{job_id}", headers=headers)
    assert job.status_code == 200 and job.json()["state"] == "active", job.text
    assert int(job.json()["escrow"]["budget"]) == int(job.json()["budget"])
    assert {f["state"] for f in job.json()["frames"]} == {"queued"} and len(job.json()["frames"]) == 6
    other = {"Authorization": f"Bearer {session_for(engine, OTHER)}"}
    for method, path in [
        ("GET", f"/jobs/{job_id}"),
        ("POST", f"/jobs/{job_id}/cancel"),
        ("GET", f"/jobs/{job_id}/events"),
        ("POST", f"/jobs/{job_id}/frames/1/accept"),
    ]:
        assert client.request(method, path, headers=other).status_code == 404, path
    # Another creator cannot claim this escrow for a job of theirs.
    mine = client.post("/jobs", json={"upload_id": make_upload(engine, OTHER), "settings": SMALL}, headers=other)
    linked = client.post(f"/jobs/{mine.json()['job_id']}/escrow", json={"txn_hash": txn_hash}, headers=other)
    assert linked.status_code == 409 and "another account" in linked.json()["detail"]
    again = client.post(f"/jobs/{job_id}/escrow", json={"txn_hash": txn_hash}, headers=headers)
    assert again.status_code == 409


def test_node_flow_render_complete_and_outbox(app, funded) -> None:
    client, engine, url = app
    job_id, _, headers = create_and_open(client, engine, funded, url)
    node = node_client(client, funded)
    try:
        beat = node.post("/nodes/heartbeat", json={"telemetry": telemetry(), "version": "test"})
        assert beat.status_code == 200 and beat.json()["cancel_tasks"] == []
        lease = node.post("/nodes/claim", json={})
        assert lease.status_code == 200, lease.text
        lease = lease.json()
        assert lease["job_id"] == job_id and lease["frames"] == [1, 2] and lease["attempt"] == 1
        assert lease["scene"]["kind"] == "blend" and lease["settings"]["frames"] == "1-6"
        assert lease["chain_task_id"] == "1" and lease["chain_job_id"].isdigit()
        task_id = lease["task_id"]
        scene = node.get(f"/nodes/blobs/{lease['scene']['sha256']}")
        assert scene.status_code == 200 and scene.content.startswith(b"BLENDER")
        assert node.get("/nodes/blobs/" + "0" * 64).status_code == 404
        node.auth = ns.NodeAuth(funded.staked_checker.key)  # another node: not its task, and no claims
        assert node.post(f"/nodes/tasks/{task_id}/heartbeat", json={}).status_code == 409
        assert node.post(f"/nodes/tasks/{task_id}/fail", json={"error": "x"}).status_code == 409
        assert node.get(f"/nodes/blobs/{lease['scene']['sha256']}").status_code == 404
        assert node.post("/nodes/claim").status_code == 403
        node.auth = ns.NodeAuth(funded.staked_worker.key)
        hb = node.post(f"/nodes/tasks/{task_id}/heartbeat", json={"frames_done": []})
        assert hb.status_code == 200 and hb.json()["cancel"] is False
        images = {}
        for frame in lease["frames"]:
            from PIL import Image

            out = io.BytesIO()
            Image.new("RGB", (64, 64), (frame * 40, 10, 10)).save(out, "PNG")
            images[frame] = out.getvalue()
        bad = node.put(
            f"/nodes/tasks/{task_id}/frames/1",
            content=images[1],
            headers={"X-Pictor-Content-Sha256": hashlib.sha256(b"other").hexdigest()},
        )
        assert bad.status_code == 400 and "sha256" in bad.json()["detail"]
        for frame, data in images.items():
            put = node.put(
                f"/nodes/tasks/{task_id}/frames/{frame}",
                content=data,
                headers={"X-Pictor-Content-Sha256": hashlib.sha256(data).hexdigest()},
            )
            assert put.status_code == 200, put.text
        manifest = {
            "job_id": job_id,
            "task_id": task_id,
            "attempt": 1,
            "device": "CPU",
            "node": funded.staked_worker.address,
            "frames": [
                {
                    "frame": f,
                    "sha256": hashlib.sha256(d).hexdigest(),
                    "render_seconds": 0.5,
                    "width": 64,
                    "height": 64,
                    "format": "PNG",
                }
                for f, d in images.items()
            ],
        }
        canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        forged = generate_account().sign(canonical).signature.hex()
        refused = node.post(f"/nodes/tasks/{task_id}/complete", json={"manifest": manifest, "signature": forged})
        assert refused.status_code == 400 and "signature" in refused.json()["detail"]
        tampered = {**manifest, "attempt": 2}
        signature = funded.staked_worker.key.sign(canonical).signature.hex()
        refused = node.post(f"/nodes/tasks/{task_id}/complete", json={"manifest": tampered, "signature": signature})
        assert refused.status_code == 400
        done = node.post(f"/nodes/tasks/{task_id}/complete", json={"manifest": manifest, "signature": signature})
        assert done.status_code == 200 and done.json() == {"status": "rendered"}, done.text
        assert node.post(f"/nodes/tasks/{task_id}/heartbeat", json={}).status_code == 409
    finally:
        client.auth = None
    job = client.get(f"/jobs/{job_id}", headers=headers).json()
    states = {f["frame"]: f["state"] for f in job["frames"]}
    assert states[1] == states[2] == "rendered" and states[3] == "queued"
    image = client.get(f"/jobs/{job_id}/frames/1", headers=headers)
    assert image.status_code == 200 and image.content == images[1] and image.headers["content-type"] == "image/png"
    thumb = client.get(f"/jobs/{job_id}/frames/2/thumbnail?size=32", headers=headers)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/jobs/{job_id}/frames.zip", headers=headers).content))
    assert archive.namelist() == ["frame_000001.png", "frame_000002.png"]
    assert archive.read("frame_000002.png") == images[2]
    assert client.post(f"/jobs/{job_id}/frames/1/accept", headers=headers).json()["state"] == "accepted"
    assert client.post(f"/jobs/{job_id}/frames/3/accept", headers=headers).status_code == 409  # not rendered
    rejected = client.post(f"/jobs/{job_id}/frames/2/reject", headers=headers).json()
    assert rejected["state"] == "rejected" and rejected["rerender_task_id"]
    with engine.connect() as conn:  # the re-render never goes back to the node whose frame was rejected
        rendered_by = conn.execute(select(tasks.c.node_id).where(tasks.c.task_id == task_id)).scalar_one()
        excluded = conn.execute(select(tasks.c.excluded_nodes).where(tasks.c.task_id == rejected["rerender_task_id"]))
    assert rendered_by is not None and excluded.scalar_one() == [rendered_by]

    # The coordinator's assignment reaches the chain once, though the first answer is lost.
    settings = client.app.state.settings
    coordinator = load_localnet_keys(funded.data_dir).coordinator
    chain_job_id = int(job["escrow"]["chain_job_id"])

    class LosesFirstAnswer:
        def __init__(self, chain) -> None:
            self.chain, self.lost = chain, False

        def __getattr__(self, name: str):
            return getattr(self.chain, name)

        async def submit_and_wait(self, sender, payload):
            result = await self.chain.submit_and_wait(sender, payload)
            if not self.lost:
                self.lost = True
                raise NodeUnavailable("connection reset after the node accepted the transaction")
            return result

    async def drain(chain) -> object:
        flaky = LosesFirstAnswer(chain)
        first = await scheduler.process_outbox(engine, flaky, coordinator, settings)
        from sqlalchemy import update

        with engine.begin() as conn:
            conn.execute(update(chain_outbox).values(next_try_at=scheduler.utcnow()))
        second = await scheduler.process_outbox(engine, flaky, coordinator, settings)
        return first, second, await chain.views.task(chain_job_id, 1)

    first, second, on_chain_task = on_chain(funded, drain)
    assert (first, second) == (0, 1)
    assert on_chain_task.state == 1 and on_chain_task.attempt == 1
    assert on_chain_task.node_id == node_id_of(engine, funded)
    index(funded, url)
    with engine.connect() as conn:
        assigned = conn.execute(
            select(mirror.task_assignments).where(mirror.task_assignments.c.job_id == chain_job_id)
        ).all()
        row = conn.execute(select(chain_outbox)).one()
    assert len(assigned) == 1 and row.status == "done" and row.tries == 2


def test_cancel_flag_reaches_the_worker(app, funded) -> None:
    client, engine, url = app
    job_id, _, headers = create_and_open(client, engine, funded, url)
    node = node_client(client, funded)
    try:
        node.post("/nodes/heartbeat", json={"telemetry": telemetry()})
        task_id = node.post("/nodes/claim").json()["task_id"]
        cancelled = client.post(f"/jobs/{job_id}/cancel", auth=None, headers=headers)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert node.post("/nodes/heartbeat", json={"telemetry": telemetry()}).json()["cancel_tasks"] == [task_id]
        assert node.post(f"/nodes/tasks/{task_id}/heartbeat", json={}).json()["cancel"] is True
        assert node.post("/nodes/claim").status_code == 204
        failed = node.post(f"/nodes/tasks/{task_id}/fail", json={"error": "cancelled by the creator"})
        assert failed.json() == {"status": "failed", "blocklisted": False}
    finally:
        client.auth = None
    with engine.connect() as conn:
        kinds = conn.execute(select(chain_outbox.c.kind).order_by(chain_outbox.c.id)).scalars().all()
        states = set(conn.execute(select(tasks.c.state).where(tasks.c.job_id == job_id)).scalars())
    assert kinds == ["assign", "close"] and states == {"cancelled"}


def test_release_gives_the_lease_back_without_a_failure(app, funded) -> None:
    client, engine, url = app
    job_id, _, _ = create_and_open(client, engine, funded, url)
    node = node_client(client, funded)
    try:
        node.post("/nodes/heartbeat", json={"telemetry": telemetry()})
        lease = node.post("/nodes/claim").json()
        task_id = lease["task_id"]
        assert node.post(f"/nodes/tasks/{task_id}/release", json={"reason": "SIGTERM", "x": 1}).status_code == 422
        assert node.post(f"/nodes/tasks/{task_id}/release", json={"reason": "x" * 2001}).status_code == 422
        assert node.post("/nodes/tasks/999999/release", json={"reason": "SIGTERM"}).status_code == 404
        released = node.post(f"/nodes/tasks/{task_id}/release", json={"reason": "SIGTERM"})
        assert released.status_code == 200 and released.json() == {"status": "released", "state": "queued"}
        again = node.post(f"/nodes/tasks/{task_id}/release", json={"reason": "SIGTERM"})
        assert again.status_code == 409 and "not leased" in again.json()["detail"]
        assert node.post(f"/nodes/tasks/{task_id}/heartbeat", json={}).status_code == 409  # the lease is gone
        second = node.post("/nodes/claim").json()
        assert second["task_id"] == task_id and second["attempt"] == 2
        with engine.begin() as conn:  # leased to another node: not this node's to release, and nothing changes
            conn.execute(update(tasks).where(tasks.c.task_id == task_id).values(node_id=10**6))
        assert node.post(f"/nodes/tasks/{task_id}/release", json={"reason": "SIGTERM"}).status_code == 404
        assert node.post(f"/nodes/tasks/{task_id}/release", json={}).status_code == 404  # the reason is optional
    finally:
        client.auth = None
    with engine.connect() as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == task_id)).one()
        kinds = (
            conn.execute(select(chain_outbox.c.kind).where(chain_outbox.c.job_id == job_id).order_by(chain_outbox.c.id))
            .scalars()
            .all()
        )
        assert conn.execute(select(job_node_failures)).first() is None
    assert row.state == "assigned" and row.attempt == 2 and kinds == ["assign", "requeue", "assign"]


def test_claim_mismatch_answers_204(app, funded) -> None:
    client, engine, url = app
    create_and_open(client, engine, funded, url, device="GPU", hardware={"min_vram_gb": 16})
    node = node_client(client, funded)
    try:
        node.post("/nodes/heartbeat", json={"telemetry": telemetry(gpus=1, vram_mb=8192)})
        assert node.post("/nodes/claim").status_code == 204
        assert node.post("/nodes/claim", content=b"{not json").status_code == 422
        assert node.post("/nodes/claim", json={"max_frames": 0}).status_code == 422
        node.post("/nodes/heartbeat", json={"telemetry": telemetry(gpus=1, vram_mb=24576)})
        assert node.post("/nodes/claim").status_code == 200
    finally:
        client.auth = None


def test_exhausted_escrow_pauses_until_top_up(app, funded) -> None:
    client, engine, url = app
    job_id, _, headers = create_and_open(client, engine, funded, url, budget=3)
    node = node_client(client, funded)
    try:
        node.post("/nodes/heartbeat", json={"telemetry": telemetry()})
        assert node.post("/nodes/claim").status_code == 204
    finally:
        client.auth = None
    job = client.get(f"/jobs/{job_id}", headers=headers).json()
    assert job["state"] == "paused" and "top it up" in job["pause_reason"]
    chain_job_id = int(job["escrow"]["chain_job_id"])
    on_chain(
        funded,
        lambda chain: chain.submit_and_wait(funded.onchain_user, chain.payloads.escrow_top_up(chain_job_id, 10**6)),
    )
    index(funded, url)
    assert client.get(f"/jobs/{job_id}", headers=headers).json()["state"] == "active"  # resumed on read
    node = node_client(client, funded)
    try:
        assert node.post("/nodes/claim").status_code == 200
    finally:
        client.auth = None


def test_background_task_assigns_on_chain_after_a_claim(funded, tmp_path: Path) -> None:
    import time

    url = create_database_like(funded.template_url)
    engine = get_engine(url)
    application = create_app(engine, funded.chain())
    application.state.settings = make_settings(
        tmp_path, keys_dir=funded.data_dir / "keys", scheduler_interval_s=30
    )  # only the claim's kick can wake it
    try:
        with TestClient(application) as client:
            job_id, _, _ = create_and_open(client, engine, funded, url)
            node = node_client(client, funded)
            try:
                node.post("/nodes/heartbeat", json={"telemetry": telemetry()})
                lease = node.post("/nodes/claim").json()
            finally:
                client.auth = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    row = conn.execute(select(chain_outbox).where(chain_outbox.c.job_id == job_id)).one()
                if row.status != "pending":
                    break
                time.sleep(0.1)
            assert row.status == "done" and row.txn_hash, row.last_error
            task = on_chain(funded, lambda chain: chain.views.task(int(lease["chain_job_id"]), 1))
            assert task.state == 1 and task.node_id == node_id_of(engine, funded) and task.quote == int(lease["quote"])
    finally:
        engine.dispose()
        drop_database(url)
