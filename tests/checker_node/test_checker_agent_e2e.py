"""The checker agent end to end: a real localnet, the API over HTTP (uvicorn, its scheduler and finalizer on),
the indexer following the chain, real Blender renders (64×48, 4 samples) by the worker agent, and a checker node
set up with ``pictor checker init`` (key 0600, checker stake, on-chain registration) running ``CheckerAgent``.

Honest frames pass and settle in the attestation's transaction; a worker that uploads a noise-altered frame (a
test node driving the node API by hand) fails verification, its task goes back to the queue and is rendered by
the honest worker, who is paid; the tamperer is blocklisted for the job and struck on chain; the books reconcile.
A disputed honest frame is judged by a second checker agent and paid. A checker that cannot decide abstains on
chain and the coordinator takes the result back without a strike.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx  # noqa: E402
import pytest
from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: E402

from api.app import create_app  # noqa: E402
from chain.events import Abstained, Attested  # noqa: E402
from chain.keys import (  # noqa: E402
    ROLE_CHECKER,
    ROLE_WORKER,
    account_address,
    generate_account,
    load_key_file,
    load_localnet_keys,
    registration_proof,
    write_key_file,
)
from checker_node.agent import CheckerAgent  # noqa: E402
from checker_node.config import load_checker_config  # noqa: E402
from indexer import schema as mirror  # noqa: E402
from indexer.reconcile import reconcile  # noqa: E402
from indexer.runner import Indexer, IndexerConfig  # noqa: E402
from pictor.blobs import LocalBlobStore  # noqa: E402
from pictor.db import create_database_like, drop_database, get_engine  # noqa: E402
from protocol.canonical import canonical_json  # noqa: E402
from protocol.render_spec import parse_job_spec  # noqa: E402
from protocol.signing import NodeAuth  # noqa: E402
from tables.jobs import job_node_failures  # noqa: E402
from tables.jobs import tasks as api_tasks  # noqa: E402
from tables.uploads import blobs, uploads  # noqa: E402
from tests.support.api import Served, chain_client, make_settings, session_for  # noqa: E402
from worker_node.agent import WorkerAgent  # noqa: E402
from worker_node.config import parse_config  # noqa: E402

pytestmark = pytest.mark.timeout(900)
APT = 10**8
DEPOSIT = 10 * 10**8
JOB = {"resolution": "custom", "resolution_x": 64, "resolution_y": 48, "samples": 4, "engine": "cycles",
       "device": "CPU", "denoising": False, "adaptive_sampling": False, "frames_per_node": 1}  # fmt: skip




@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Localnet with a creator, an honest and a tampering worker operator, and a checker from ``pictor checker init``."""
    from typer.testing import CliRunner

    from blender.scenegen import SceneSpec, generate_scene
    from chain.localnet import start_localnet_process
    from cli.main import app as cli

    root = tmp_path_factory.mktemp("checker-e2e")
    localnet = start_localnet_process(root / "localnet")
    template = create_database_like(pg_server)
    try:
        scene = generate_scene(root / "scene.blend", SceneSpec(frame_end=4))

        async def setup() -> dict[str, Any]:
            chain = chain_client(localnet)
            try:
                keys = load_localnet_keys(root / "localnet")
                admin, pay = keys.admin, chain.payloads
                p = await chain.views.params()
                await chain.submit_and_wait(admin, pay.config_set_params(
                    1, p.min_worker_stake, p.min_checker_stake, p.unbonding_secs, 0, p.slash_bps, p.max_strikes,
                    p.faucet_max))  # fmt: skip
                await chain.submit_and_wait(admin, pay.config_set_paused(False))
                creator, honest_op, tamper_op, checker_op = (generate_account() for _ in range(4))
                await asyncio.gather(*(chain.fund(account_address(a), 10 * APT)
                                       for a in (creator, honest_op, tamper_op, checker_op)))  # fmt: skip
                await chain.submit_and_wait(admin, pay.token_mint(account_address(creator), DEPOSIT))
                await chain.submit_and_wait(creator, pay.vault_deposit(DEPOSIT))
                await chain.submit_and_wait(admin, pay.token_mint(account_address(checker_op), p.min_checker_stake))
                workers = {}
                for name, op in (("honest", honest_op), ("tamper", tamper_op)):
                    await chain.submit_and_wait(admin, pay.token_mint(account_address(op), p.min_worker_stake))
                    await chain.submit_and_wait(op, pay.staking_stake(ROLE_WORKER, p.min_worker_stake))
                    node = generate_account()
                    await chain.submit_and_wait(op, pay.registry_register_node(
                        ROLE_WORKER, node.public_key().key.encode(),
                        registration_proof(node, account_address(op), ROLE_WORKER)))  # fmt: skip
                    await chain.fund(account_address(node), APT)
                    workers[name] = (op, node)
                # A second checker operator (registered directly) to decide disputes.
                judge_op, judge_node = generate_account(), generate_account()
                await chain.fund(account_address(judge_op), 10 * APT)
                await chain.submit_and_wait(admin, pay.token_mint(account_address(judge_op), p.min_checker_stake))
                await chain.submit_and_wait(judge_op, pay.staking_stake(ROLE_CHECKER, p.min_checker_stake))
                await chain.submit_and_wait(judge_op, pay.registry_register_node(
                    ROLE_CHECKER, judge_node.public_key().key.encode(),
                    registration_proof(judge_node, account_address(judge_op), ROLE_CHECKER)))  # fmt: skip
                await chain.fund(account_address(judge_node), APT)
                return {"admin": admin, "keys_dir": root / "localnet" / "keys", "creator": creator,
                        "workers": workers, "checker_op": checker_op, "params": p,
                        "judge": (judge_op, judge_node)}  # fmt: skip
            finally:
                await chain.close()

        made = asyncio.run(setup())
        # The checker node: `pictor checker init` with the operator key stakes and registers it.
        cdir = root / "checker"
        cdir.mkdir()
        write_key_file(cdir / "operator.key", made["checker_op"])
        config = {"worker_id": "c-1", "role": "checker", "api_url": "http://127.0.0.1:9", "node_url": localnet.node_url,
                  "operator_address": account_address(made["checker_op"]), "heartbeat_s": 0.5, "poll_s": 0.3,
                  "max_backoff_s": 0.5, "verify_heartbeat_s": 1.0, "cache_dir": "cache"}  # fmt: skip
        (cdir / "checker-config.json").write_text(json.dumps(config))
        env = {**os.environ, "PICTOR_NODE_URL": localnet.node_url}
        result = CliRunner().invoke(cli, ["checker", "init", "--config", str(cdir / "checker-config.json"),
                                          "--operator-key", str(cdir / "operator.key")], env=env)  # fmt: skip
        made.update(root=root, localnet=localnet, template=template, scene=scene, checker_dir=cdir,
                    checker_config=config, init_output=result.output + (result.stderr if result.stderr_bytes is not None else '') + repr(result.exception),
                    init_code=result.exit_code)  # fmt: skip

        async def fund_checker() -> None:
            chain = chain_client(localnet)
            try:
                await chain.fund(account_address(load_key_file(cdir / "node.key")), APT)
                end = (await chain.ledger_info()).ledger_version
                await Indexer(chain, IndexerConfig(database_url=template, stop_at_version=end)).run()
            finally:
                await chain.close()

        if result.exit_code == 0:
            asyncio.run(fund_checker())
        get_engine(template).dispose()
        yield made
    finally:
        localnet.stop()
        drop_database(template)


def test_checker_init_creates_the_key_stakes_and_registers(stack) -> None:
    assert stack["init_code"] == 0, stack["init_output"]
    key_path = stack["checker_dir"] / "node.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    node = load_key_file(key_path)
    assert "registered on chain: checker node id" in stack["init_output"]
    assert "staked" in stack["init_output"]

    async def check() -> tuple[Any, Any]:
        chain = chain_client(stack["localnet"])
        try:
            node_id = await chain.views.node_of_account(account_address(node))
            return await chain.views.node(node_id), await chain.views.stake_of(
                account_address(stack["checker_op"]), ROLE_CHECKER
            )
        finally:
            await chain.close()

    info, stake = asyncio.run(check())
    assert info.role == ROLE_CHECKER and info.operator == account_address(stack["checker_op"]) and info.active
    assert stake.active == stack["params"].min_checker_stake
    # A second init refuses to overwrite the node's identity (exit code 2), and a worker config is refused.
    from typer.testing import CliRunner

    from cli.main import app as cli

    again = CliRunner().invoke(cli, ["checker", "init", "--config", str(stack["checker_dir"] / "checker-config.json")])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    worker_cfg = stack["root"] / "worker-as-checker.json"
    worker_cfg.write_text(json.dumps({**stack["checker_config"], "role": "worker"}))
    refused = CliRunner().invoke(cli, ["checker", "run", "--config", str(worker_cfg)])
    assert refused.exit_code == 2 and "role checker" in refused.output


async def _tampered_task(http: httpx.AsyncClient, chain: Any, node: Any, scene: Path, workdir: Path) -> dict[str, Any]:
    """A dishonest worker node driving the node API by hand: renders honestly, adds noise, uploads, signs."""
    from blender import RenderSession
    from blender.compare import load_frame
    from checker_node.verify.tamper import add_noise, save_png

    telemetry = {"cpu": {"model": "test", "ram_total_mb": 32768}, "gpus": [], "multiplier": 1.0, "location": "europe"}
    assert (await http.post("/nodes/heartbeat", json={"telemetry": telemetry})).status_code == 200
    deadline = time.monotonic() + 60
    while (claimed := await http.post("/nodes/claim", json={})).status_code == 204:
        assert time.monotonic() < deadline, "the tamperer got no task"
        await asyncio.sleep(0.3)
    lease = claimed.json()
    (frame,) = lease["frames"]
    with RenderSession(scene, parse_job_spec(lease["settings"]), output_dir=workdir) as session:
        honest = session.render_frame(frame)
    noisy = save_png(add_noise(load_frame(honest.path).pixels, sigma=0.05), workdir / "noisy.png")
    data = noisy.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    put = await http.put(f"/nodes/tasks/{lease['task_id']}/frames/{frame}", content=data,
                         headers={"X-Pictor-Content-Sha256": sha})  # fmt: skip
    assert put.status_code == 200, put.text
    manifest = {"job_id": lease["job_id"], "task_id": lease["task_id"], "attempt": lease["attempt"], "device": "CPU",
                "node": account_address(node), "frames": [{"frame": frame, "sha256": sha, "render_seconds": 0.5,
                                                           "width": 64, "height": 48, "format": "PNG"}]}  # fmt: skip
    signature = node.sign(canonical_json(manifest)).signature.hex()
    done = await http.post(
        f"/nodes/tasks/{lease['task_id']}/complete", json={"manifest": manifest, "signature": signature}
    )
    assert done.status_code == 200, done.text
    job, seq = int(lease["chain_job_id"]), int(lease["chain_task_id"])
    while (await chain.views.task(job, seq)).state != 1:  # the coordinator's assign_task (the API's outbox)
        assert time.monotonic() < deadline + 60
        await asyncio.sleep(0.2)
    await chain.submit_and_wait(
        node, chain.payloads.escrow_submit_result(job, seq, hashlib.sha256(canonical_json(manifest)).digest(), 500)
    )
    return {"lease": lease, "sha256": sha}


async def _until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def test_honest_frames_pass_and_settle_a_tampered_frame_fails_and_is_rendered_again(stack, tmp_path) -> None:
    assert stack["init_code"] == 0, stack["init_output"]
    agents: list[tuple[Any, asyncio.Task[int]]] = []
    async with _running_api(stack, tmp_path, blocklist_failures=1) as api:
        http, engine, chain = api.http, api.engine, api.chain
        try:
            cfg = load_checker_config(stack["checker_dir"] / "checker-config.json")
            checker = CheckerAgent(cfg.model_copy(update={"api_url": api.url}))
            agents.append((checker, asyncio.create_task(checker.run())))

            # 1. A tampering worker takes the first job's only task and uploads a noisy frame.
            bad_job, bad_chain_job = await _open_job(stack, api, "2")
            tamper_op, tamper_node = stack["workers"]["tamper"]
            async with httpx.AsyncClient(base_url=api.url, auth=NodeAuth(tamper_node), timeout=60) as node_http:
                tampered = await _tampered_task(node_http, chain, tamper_node, stack["scene"], tmp_path / "tamper")

                async def failed() -> Any:
                    return next((r for r in checker.results if r["verdict"] == "fail"), None)

                record = await _until(failed, 300, "the checker's fail verdict")
                assert record["txn_hash"] and record["outcome"] == "requeued", record
                # The tamperer is blocklisted for the job (blocklist_failures = 1): its next claim finds nothing.
                assert (await node_http.post("/nodes/claim", json={})).status_code == 204
            with engine.connect() as conn:
                failure = conn.execute(select(job_node_failures).where(job_node_failures.c.job_id == bad_job)).one()
            assert failure.blocklisted
            seen = (await http.get(f"/jobs/{bad_job}/frames/2/verification")).json()
            (first,) = seen["verifications"]
            assert first["verdict"] == "fail" and first["frame"]["sha256"] == tampered["sha256"]
            crops = first["frame"]["evidence"]["crops"]
            assert crops and any(c["verdict"] == "fail" for c in crops), crops
            evidence = await http.get(f"/verification/evidence/{first['evidence_hash']}")
            assert hashlib.sha256(evidence.content).hexdigest() == first["evidence_hash"]

            # 2. The honest worker renders the requeued task and a two-frame job; the checker passes all three.
            good_job, good_chain_job = await _open_job(stack, api, "1-2")
            honest_op, honest_node = stack["workers"]["honest"]
            worker = _worker(stack, "honest", api.url, tmp_path / "honest")
            agents.append((worker, asyncio.create_task(worker.run())))

            async def all_verified() -> bool:
                states = []
                for job_id in (bad_job, good_job):
                    states += [f["state"] for f in (await http.get(f"/jobs/{job_id}")).json()["frames"]]
                return set(states) == {"verified"}

            await _until(all_verified, 420, "every frame verified")
            passes = [r for r in checker.results if r["verdict"] == "pass"]
            assert len(passes) == 3 and all(r["txn_hash"] and r["outcome"] == "verified" for r in passes), passes

            # 3. The mirror shows each task paid once, to the honest worker; the tamperer was struck, not paid.
            async def settled() -> list[Any] | None:
                with engine.connect() as conn:
                    rows = conn.execute(
                        select(mirror.task_settlements).where(
                            mirror.task_settlements.c.job_id.in_([bad_chain_job, good_chain_job])
                        )
                    ).all()
                return rows if len(rows) == 3 else None

            rows = await _until(settled, 60, "three settlements in the mirror")
            checker_operator = account_address(stack["checker_op"])
            assert {r.worker_operator for r in rows} == {account_address(honest_op)}
            assert all(r.checkers == [checker_operator] for r in rows)
            assert {r.txn_hash for r in rows} == {r["txn_hash"] for r in passes}
            with engine.connect() as conn:
                requeues = conn.execute(
                    select(mirror.task_requeues).where(mirror.task_requeues.c.job_id == bad_chain_job)
                ).all()
                tamper_node_id = conn.execute(
                    select(mirror.nodes.c.node_id).where(mirror.nodes.c.account == account_address(tamper_node))
                ).scalar_one()
                strikes = conn.execute(
                    select(mirror.node_strikes).where(mirror.node_strikes.c.node_id == tamper_node_id)
                ).all()
            assert [r.reason for r in requeues] == [2] and len(strikes) == 1
            trail = (await http.get(f"/jobs/{bad_job}/trail")).json()
            kinds = [e["event"] for e in trail["events"]]
            assert kinds.count("attested") == 2 and kinds.count("requeued") == 1 and kinds.count("settled") == 1
            report = await reconcile(engine, chain)
            assert report.ok, [m.as_dict() for m in report.mismatches]
        finally:
            for agent, task in agents:
                agent.request_stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 120)


async def test_a_disputed_honest_frame_is_judged_by_another_checker_agent_and_paid(stack, tmp_path) -> None:
    """Review window on: the creator rejects a verified frame and signs the dispute; the checker that passed it may
    not judge it; the second checker agent re-verifies, rejects the dispute on chain (resolve_dispute) and the
    task settles with no slash; the re-render of the rejected frame goes to the second checker too."""
    assert stack["init_code"] == 0, stack["init_output"]
    localnet, p = stack["localnet"], stack["params"]
    chain = chain_client(localnet)

    async def window(seconds: int) -> None:
        await chain.submit_and_wait(stack["admin"], chain.payloads.config_set_params(
            1, p.min_worker_stake, p.min_checker_stake, p.unbonding_secs, seconds, p.slash_bps, p.max_strikes,
            p.faucet_max))  # fmt: skip

    await window(3600)
    agents: list[tuple[Any, asyncio.Task[int]]] = []
    try:
        async with _running_api(stack, tmp_path) as api:
            http, engine, creator = api.http, api.engine, stack["creator"]
            try:
                job_id, chain_job = await _open_job(stack, api, "3", budget=10**8)
                cfg = load_checker_config(stack["checker_dir"] / "checker-config.json")
                first = CheckerAgent(cfg.model_copy(update={"api_url": api.url, "cache_dir": tmp_path / "c1"}))
                agents.append((first, asyncio.create_task(first.run())))
                worker = _worker(stack, "honest", api.url, tmp_path / "honest", "w-honest-2")
                agents.append((worker, asyncio.create_task(worker.run())))

                async def frame_state() -> str:
                    return (await http.get(f"/jobs/{job_id}")).json()["frames"][0]["state"]

                await _until(lambda: _is(frame_state, "verified"), 300, "the frame verified")
                assert (await chain.views.task(chain_job, 1)).state == 3  # verified, in its review window

                async def mirrored_verified() -> bool:  # the reject answer reads the mirror
                    with engine.connect() as conn:
                        return (
                            conn.execute(
                                select(mirror.tasks.c.state).where(
                                    mirror.tasks.c.job_id == chain_job, mirror.tasks.c.task_id == 1
                                )
                            ).scalar_one_or_none()
                            == 3
                        )

                await _until(mirrored_verified, 60, "the mirror showing the task verified")
                rejected = await http.post(f"/jobs/{job_id}/frames/3/reject")
                assert rejected.status_code == 200, rejected.text
                offer = rejected.json()
                assert offer["dispute_payload"]["arguments"] == [str(chain_job), "1"], offer
                await chain.submit_and_wait(creator, chain.payloads.escrow_dispute_task(chain_job, 1))
                # The re-render goes to another worker than the one whose frame was rejected: start the module's
                # other registered worker node (its operator differs from the honest worker's and the checkers').
                other = _worker(stack, "tamper", api.url, tmp_path / "other", "w-other-2")
                agents.append((other, asyncio.create_task(other.run())))

                judge_op, judge_node = stack["judge"]
                jcfg = cfg.model_copy(update={"api_url": api.url, "cache_dir": tmp_path / "c2", "worker_id": "judge",
                                              "operator_address": account_address(judge_op)})  # fmt: skip
                judge = CheckerAgent(jcfg, key=judge_node)
                agents.append((judge, asyncio.create_task(judge.run())))

                async def resolved() -> Any:
                    return next((r for r in judge.results if r["purpose"] == "dispute"), None)

                record = await _until(resolved, 300, "the judge's dispute verdict")
                assert record["verdict"] == "pass" and record["txn_hash"] and record["outcome"] == "dispute rejected"
                assert all(r["purpose"] == "verify" for r in first.results)  # the passer never judged the dispute
                info = await chain.views.task(chain_job, 1)
                assert info.state == 4  # settled by the rejected dispute

                async def rerendered() -> Any:  # the re-render of the rejected frame, verified by the judge
                    return next((r for r in judge.results if r["purpose"] == "verify" and r["verdict"] == "pass"), None)

                try:
                    await _until(rerendered, 300, "the re-render verified by the other operator's checker")
                except AssertionError:
                    from tables.jobs import tasks as api_tasks
                    from tables.verification import verifications as vt

                    with engine.connect() as conn:
                        diag = [
                            dict(r._mapping) for r in conn.execute(select(api_tasks).where(api_tasks.c.job_id == job_id))
                        ]
                        diag += [{k: v for k, v in r._mapping.items() if k != "evidence_json"}
                                 for r in conn.execute(select(vt).where(vt.c.job_id == job_id))]  # fmt: skip
                    raise AssertionError(
                        f"{(await http.get(f'/jobs/{job_id}')).text}\n{diag}\n{worker.stats}\n"
                        f"{judge.results}\n{first.results}"
                    ) from None
                assert worker.stats["rendered"] == 1 and other.stats["rendered"] == 1  # the re-render was the other's

                async def mirrored() -> list[Any] | None:
                    with engine.connect() as conn:
                        rows = conn.execute(
                            select(mirror.dispute_resolutions).where(mirror.dispute_resolutions.c.job_id == chain_job)
                        ).all()
                    return rows or None

                (resolution,) = await _until(mirrored, 60, "the dispute resolution in the mirror")
                assert resolution.upheld is False and resolution.txn_hash == record["txn_hash"]
                with engine.connect() as conn:
                    slashes = conn.execute(select(mirror.slashes).where(mirror.slashes.c.job_id == chain_job)).all()
                assert slashes == []
                seen = (await http.get(f"/jobs/{job_id}/frames/3/verification")).json()["verifications"]
                assert [v["purpose"] for v in seen][:2] == ["verify", "dispute"]
                assert seen[1]["dispute_resolutions"][0]["txn_hash"] == record["txn_hash"]
            finally:
                for agent, task in agents:
                    agent.request_stop()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, 120)
    finally:
        await window(0)
        await chain.close()


async def _is(read: Any, value: str) -> bool:
    return await read() == value



@dataclass
class Running:
    """The API served over HTTP on a fresh copy of the module's database, with the indexer following the chain."""

    url: str
    http: httpx.AsyncClient  # the creator's
    engine: Any
    chain: Any
    store: LocalBlobStore


@contextlib.asynccontextmanager
async def _running_api(stack: dict[str, Any], tmp_path: Path, **settings: Any) -> AsyncIterator[Running]:
    """Serve the API (scheduler and finalizer on) and run the indexer for the length of the block."""
    localnet = stack["localnet"]
    url = create_database_like(stack["template"])
    engine = get_engine(url)
    app = create_app(engine, chain_client(localnet))
    app.state.settings = make_settings(tmp_path, keys_dir=stack["keys_dir"], scheduler_interval_s=0.3,
                                       verify_finalize_interval_s=1.0, **settings)  # fmt: skip
    store = app.state.blob_store = LocalBlobStore(app.state.settings.blobs_path)
    served = Served(app)
    chain = chain_client(localnet)
    indexer = asyncio.create_task(
        Indexer(chain_client(localnet), IndexerConfig(database_url=url, poll_interval=0.2)).run()
    )
    try:
        headers = {"Authorization": f"Bearer {session_for(engine, account_address(stack['creator']))}"}
        async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=60) as http:
            yield Running(served.url, http, engine, chain, store)
    finally:
        indexer.cancel()
        with contextlib.suppress(BaseException):
            await indexer
        await chain.close()
        served.stop()
        engine.dispose()
        drop_database(url)


async def _open_job(stack: dict[str, Any], api: Running, frames: str, budget: int | None = None) -> tuple[int, int]:
    """Upload the module's scene, create a job of ``frames`` and open its escrow; (job id, chain job id)."""
    data = stack["scene"].read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with api.store.writer() as writer:
        writer.write(data)
        writer.commit()
    now = datetime.now(UTC)
    upload_id = f"scene-{frames}"
    with api.engine.begin() as conn:
        conn.execute(pg_insert(blobs).values(sha256=sha, size=len(data), created_at=now).on_conflict_do_nothing())
        conn.execute(insert(uploads).values(upload_id=upload_id, owner=account_address(stack["creator"]),
                                            blob_sha256=sha, kind="blend", compression="none",
                                            filename="scene.blend", size=len(data), created_at=now,
                                            scene=None))  # fmt: skip
    body = {"upload_id": upload_id, "settings": {**JOB, "frames": frames}, **({"budget": budget} if budget else {})}
    created = await api.http.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    amount, price = (int(a) for a in created.json()["escrow_payload"]["arguments"])
    opened = await api.chain.submit_and_wait(stack["creator"], api.chain.payloads.escrow_open_job(amount, price))
    await api.http.post(f"/jobs/{job_id}/escrow", json={"txn_hash": opened.hash})

    async def active() -> dict[str, Any] | None:
        job = (await api.http.get(f"/jobs/{job_id}")).json()
        return job if job["state"] == "active" else None

    job = await _until(active, 60, "the escrow link")
    return job_id, int(job["escrow"]["chain_job_id"])


def _worker(stack: dict[str, Any], name: str, api_url: str, base: Path, worker_id: str | None = None) -> WorkerAgent:
    """A worker agent for the module's ``name`` worker node (``honest`` or ``tamper``)."""
    operator, node = stack["workers"][name]
    config = parse_config({"worker_id": worker_id or f"w-{name}", "api_url": api_url,
                           "node_url": stack["localnet"].node_url, "operator_address": account_address(operator),
                           "heartbeat_s": 0.5, "task_heartbeat_s": 0.5, "poll_s": 0.2, "max_backoff_s": 0.5,
                           "shutdown_grace_s": 120, "benchmark": False}, base=base)  # fmt: skip
    return WorkerAgent(config, key=node)


async def test_a_checker_that_cannot_decide_abstains_and_the_chain_takes_the_result_back(stack, tmp_path) -> None:
    """A checker whose crop renders cannot finish (a 1 ms limit) answers ``unsure``: it abstains on chain, the
    API (one round allowed) has the coordinator call ``requeue_unverified``, the task goes back to the queue for
    another worker with no strike and nothing paid, and the job can be cancelled and refunded at once."""
    assert stack["init_code"] == 0, stack["init_output"]
    agents: list[tuple[Any, asyncio.Task[int]]] = []
    async with _running_api(stack, tmp_path, verify_max_rounds=1) as api:
        try:
            job_id, chain_job = await _open_job(stack, api, "4")
            cfg = load_checker_config(stack["checker_dir"] / "checker-config.json")
            checker = CheckerAgent(cfg.model_copy(update={"api_url": api.url, "cache_dir": tmp_path / "c",
                                                          "crop_timeout_s": 0.001}))  # fmt: skip
            agents.append((checker, asyncio.create_task(checker.run())))
            worker = _worker(stack, "honest", api.url, tmp_path / "honest")
            agents.append((worker, asyncio.create_task(worker.run())))

            async def unsure() -> Any:
                return next((r for r in checker.results if r["verdict"] == "unsure"), None)

            record = await _until(unsure, 300, "the checker's unsure verdict")
            assert record["txn_hash"] and record["outcome"] == "requeued as unverifiable", record
            committed = await api.chain.result_by_hash(record["txn_hash"])
            assert len(committed.events_of(Abstained)) == 1 and committed.events_of(Attested) == []

            async def taken_back() -> bool:
                return (await api.chain.views.task(chain_job, 1)).state == 0  # QUEUED again on chain

            await _until(taken_back, 60, "the coordinator's requeue_unverified")

            async def queued() -> dict[str, Any] | None:
                job = (await api.http.get(f"/jobs/{job_id}")).json()
                return job if job["frames"][0]["state"] == "queued" else None

            await _until(queued, 60, "the frame queued again")
            with api.engine.connect() as conn:
                honest_id = int(conn.execute(
                    select(mirror.nodes.c.node_id).where(
                        mirror.nodes.c.account == account_address(stack["workers"]["honest"][1])
                    )
                ).scalar_one())
                task = conn.execute(select(api_tasks).where(api_tasks.c.job_id == job_id)).one()
                failures = conn.execute(select(job_node_failures).where(job_node_failures.c.job_id == job_id)).all()
            assert task.state == "queued" and task.excluded_nodes == [honest_id] and failures == []
            assert (await api.chain.views.node(honest_id)).strikes == 0
            cancelled = await api.http.post(f"/jobs/{job_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text

            async def closed() -> bool:
                return (await api.chain.views.job(chain_job)).closed

            await _until(closed, 60, "the job closed on chain (nothing left in flight)")

            async def mirrored() -> list[Any] | None:
                with api.engine.connect() as conn:
                    rows = conn.execute(
                        select(mirror.task_requeues.c.reason).where(mirror.task_requeues.c.job_id == chain_job)
                    ).all()
                    refunds = conn.execute(
                        select(mirror.escrow_ledger).where(
                            mirror.escrow_ledger.c.job_id == chain_job, mirror.escrow_ledger.c.kind == "refund"
                        )
                    ).all()
                return rows if refunds else None

            reasons = await _until(mirrored, 60, "the requeue and the refund in the mirror")
            assert [r.reason for r in reasons] == [5]  # unverifiable: not a failure
            info = await api.chain.views.job(chain_job)
            assert info.spent == 0  # nothing was paid for the undecided result
        finally:
            for agent, task_ in agents:
                agent.request_stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task_, 120)
