"""Verification through the API on a real localnet indexed into the embedded PostgreSQL: work items appear when a
worker's result is submitted, checkers claim them (never their own operator's), report verdicts with evidence,
attest on chain with their node keys; pass settles, fail requeues with a strike, unsure asks another operator
(unsure in every round, or nobody left who may judge: another worker renders the task again, no strike), a
creator's dispute is decided by a third checker and the wrong side is slashed; the chain refuses replayed and
forged attestations and settles a task once when two checkers attest at the same time; the books reconcile.

The evidence here is built by hand in the format the checker agent sends (the agent and the real verifier are
exercised in tests/checker_node/test_checker_agent_e2e.py); the chain, the database and the signatures are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aptos_sdk.account import Account
from aptos_sdk.transactions import SignedTransaction
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from api import scheduler
from api.app import create_app
from api.node_auth import NodeIdentity
from api.verification import claim, escalate_stalled, finalize_due
from api.verification.queue import _excluded_for
from chain.errors import ChainError, MoveAbortError
from chain.keys import (
    ROLE_CHECKER,
    ROLE_WORKER,
    account_address,
    generate_account,
    load_localnet_keys,
    registration_proof,
)
from indexer import schema as mirror
from indexer.reconcile import reconcile
from indexer.runner import Indexer, IndexerConfig
from pictor.blobs import LocalBlobStore
from pictor.db import create_database_like, drop_database, get_engine
from protocol import signing as ns
from protocol.canonical import canonical_json
from tables.jobs import chain_outbox, frames, job_node_failures, tasks
from tables.verification import verifications
from tests.support.api import NodeKey, chain_client, make_settings, run_with_chain, session_for
from tests.support.jobs import OTHER, make_upload, telemetry

pytestmark = pytest.mark.timeout(600)
APT = 10**8
DEPOSIT = 10 * 10**8
JOB = {"resolution": "custom", "resolution_x": 64, "resolution_y": 48, "samples": 4, "engine": "cycles",
       "device": "CPU", "frames_per_node": 1}  # fmt: skip


@dataclass
class Net:
    """The module's localnet and its actors: a worker operator (worker node and a checker node of its own), two
    checker operators, a creator and an unregistered account."""

    localnet: Any
    data_dir: Path
    template: str
    admin: Account
    coordinator: Account
    creator: Account
    worker: NodeKey
    own_checker: NodeKey  # registered by the worker's operator
    a: NodeKey
    b: NodeKey
    stranger: Account
    params: Any
    worker2: NodeKey  # a second worker operator's node: it takes a task another worker failed


def run(net: Net, work: Any) -> Any:
    return run_with_chain(lambda: chain_client(net.localnet), work)


def index(net: Net, url: str) -> None:
    async def work(chain: Any) -> None:
        end = (await chain.ledger_info()).ledger_version
        await Indexer(chain, IndexerConfig(database_url=url, stop_at_version=end)).run()

    run(net, work)


async def set_params(chain: Any, admin: Account, params: Any, **changes: int) -> None:
    values = {"quorum": params.quorum, "min_worker_stake": params.min_worker_stake,
              "min_checker_stake": params.min_checker_stake, "unbonding_secs": params.unbonding_secs,
              "review_window_secs": params.review_window_secs, "slash_bps": params.slash_bps,
              "max_strikes": params.max_strikes, "faucet_max": params.faucet_max, **changes}  # fmt: skip
    await chain.submit_and_wait(admin, chain.payloads.config_set_params(*values.values()))


@pytest.fixture(scope="module")
def net(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    from chain.localnet import start_localnet_process

    data_dir = tmp_path_factory.mktemp("verify-localnet")
    localnet = start_localnet_process(data_dir, test_clock=True)
    template = create_database_like(pg_server)
    try:

        async def go(chain: Any) -> Net:
            keys = load_localnet_keys(data_dir)
            admin, pay = keys.admin, chain.payloads
            params = await chain.views.params()
            await set_params(chain, admin, params, quorum=1, review_window_secs=0)
            await chain.submit_and_wait(admin, pay.config_set_paused(False))  # the mirror holds every config field
            ops = {n: generate_account() for n in ("worker", "a", "b", "worker2")}
            creator, stranger = generate_account(), generate_account()
            await asyncio.gather(
                *(chain.fund(account_address(x), 10 * APT) for x in [*ops.values(), creator, stranger])
            )
            wstake, cstake = params.min_worker_stake, params.min_checker_stake
            await chain.submit_and_wait(admin, pay.token_mint(account_address(ops["worker"]), wstake + cstake))
            for name in ("a", "b"):
                await chain.submit_and_wait(admin, pay.token_mint(account_address(ops[name]), cstake))
            await chain.submit_and_wait(admin, pay.token_mint(account_address(ops["worker2"]), wstake))
            await chain.submit_and_wait(admin, pay.token_mint(account_address(creator), DEPOSIT))
            await chain.submit_and_wait(creator, pay.vault_deposit(DEPOSIT))
            for name in ("worker", "worker2"):
                await chain.submit_and_wait(ops[name], pay.staking_stake(ROLE_WORKER, wstake))
            for name in ("worker", "a", "b"):
                await chain.submit_and_wait(ops[name], pay.staking_stake(ROLE_CHECKER, cstake))
            nodes = {}
            for name, op, role in (("worker", "worker", ROLE_WORKER), ("own", "worker", ROLE_CHECKER),
                                   ("a", "a", ROLE_CHECKER), ("b", "b", ROLE_CHECKER),
                                   ("worker2", "worker2", ROLE_WORKER)):  # fmt: skip
                key = generate_account()
                await chain.submit_and_wait(
                    ops[op],
                    pay.registry_register_node(
                        role, key.public_key().key.encode(), registration_proof(key, account_address(ops[op]), role)
                    ),
                )
                await chain.fund(account_address(key), APT)  # the node account pays its own gas
                nodes[name] = NodeKey(key, ops[op], role)
            end = (await chain.ledger_info()).ledger_version
            await Indexer(chain, IndexerConfig(database_url=template, stop_at_version=end)).run()
            return Net(localnet, data_dir, template, admin, keys.coordinator, creator, nodes["worker"], nodes["own"],
                       nodes["a"], nodes["b"], stranger, await chain.views.params(), nodes["worker2"])  # fmt: skip

        holder = Net(localnet, data_dir, template, *([None] * 10))  # type: ignore[arg-type]
        made = run(holder, go)
        get_engine(template).dispose()
        yield made
    finally:
        localnet.stop()
        drop_database(template)


@pytest.fixture
def app(net: Net, tmp_path: Path) -> Iterator[tuple[TestClient, Engine, str]]:
    url = create_database_like(net.template)
    engine = get_engine(url)
    application = create_app(engine, chain_client(net.localnet))
    application.state.settings = make_settings(tmp_path, scheduler_background=False, keys_dir=net.data_dir / "keys")
    application.state.blob_store = LocalBlobStore(application.state.settings.blobs_path)
    try:
        with TestClient(application) as client:
            yield client, engine, url
    finally:
        engine.dispose()
        drop_database(url)


def png(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 37 % 256, 90, 200)).save(out, "PNG")
    return out.getvalue()


def as_node(client: TestClient, key: NodeKey | Account | None) -> TestClient:
    client.auth = None if key is None else ns.NodeAuth(key.key if isinstance(key, NodeKey) else key)
    return client


def identity(engine: Engine, node: NodeKey) -> NodeIdentity:
    with engine.connect() as conn:
        row = conn.execute(select(mirror.nodes).where(mirror.nodes.c.account == node.address)).one()
    return NodeIdentity(int(row.node_id), row.operator, int(row.role))


@dataclass
class Rendered:
    job_id: int
    chain_job_id: int
    headers: dict[str, str]
    tasks: list[dict[str, Any]]  # task_id, seq, frame, sha256, result_hash


def render_job(
    client: TestClient, engine: Engine, url: str, net: Net, frame_count: int = 1, *, submit: bool = True
) -> Rendered:
    """A creator's job (real open_job), each task claimed, assigned on chain, uploaded and completed by the
    worker node, its result submitted on chain by the node, everything indexed."""
    creator = account_address(net.creator)
    headers = {"Authorization": f"Bearer {session_for(engine, creator)}"}
    body = {"upload_id": make_upload(engine, creator, store=client.app.state.blob_store),
            "settings": {**JOB, "frames": f"1-{frame_count}" if frame_count > 1 else "1"}}  # fmt: skip
    created = as_node(client, None).post("/jobs", json=body, headers=headers)
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    budget, price = (int(a) for a in created.json()["escrow_payload"]["arguments"])
    opened = run(net, lambda chain: chain.submit_and_wait(net.creator, chain.payloads.escrow_open_job(budget, price)))
    client.post(f"/jobs/{job_id}/escrow", json={"txn_hash": opened.hash}, headers=headers)
    index(net, url)
    job = client.get(f"/jobs/{job_id}", headers=headers).json()
    assert job["state"] == "active", job
    chain_job = int(job["escrow"]["chain_job_id"])
    worker = as_node(client, net.worker)
    done = []
    try:
        assert worker.post("/nodes/heartbeat", json={"telemetry": telemetry()}).status_code == 200
        for _ in range(frame_count):
            lease = worker.post("/nodes/claim", json={})
            assert lease.status_code == 200, lease.text
            lease = lease.json()
            run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, client.app.state.settings))
            (frame,) = lease["frames"]
            data = png(frame + 7 * job_id)
            sha = hashlib.sha256(data).hexdigest()
            put = worker.put(f"/nodes/tasks/{lease['task_id']}/frames/{frame}", content=data,
                             headers={"X-Pictor-Content-Sha256": sha})  # fmt: skip
            assert put.status_code == 200, put.text
            manifest = {"job_id": job_id, "task_id": lease["task_id"], "attempt": lease["attempt"], "device": "CPU",
                        "node": net.worker.address, "frames": [{"frame": frame, "sha256": sha, "render_seconds": 0.5,
                                                                "width": 64, "height": 48, "format": "PNG"}]}  # fmt: skip
            signature = net.worker.key.sign(canonical_json(manifest)).signature.hex()
            completed = worker.post(f"/nodes/tasks/{lease['task_id']}/complete",
                                    json={"manifest": manifest, "signature": signature})  # fmt: skip
            assert completed.status_code == 200, completed.text
            digest = hashlib.sha256(canonical_json(manifest)).digest()
            seq = int(lease["chain_task_id"])
            if submit:
                run(
                    net,
                    lambda chain, seq=seq, digest=digest: chain.submit_and_wait(
                        net.worker.key, chain.payloads.escrow_submit_result(chain_job, seq, digest, 30_000)
                    ),
                )
            done.append({"task_id": lease["task_id"], "seq": seq, "frame": frame, "sha256": sha,
                         "result_hash": digest.hex()})  # fmt: skip
    finally:
        as_node(client, None)
    index(net, url)
    return Rendered(job_id, chain_job, headers, done)


def evidence_for(item: dict[str, Any], checker: NodeKey, verdicts: dict[int, str] | None = None) -> dict[str, Any]:
    """Task evidence in the checker agent's format (per-frame evidence as checker_node.verify builds it)."""
    verdicts = verdicts or {}
    key = checker.key.public_key().key.encode().hex()
    per_frame = [{"version": "pictor-evidence-v1", "frame": f["frame"], "result_sha256": f["sha256"],
                  "checker_public_key": key, "verdict": verdicts.get(f["frame"], "pass"), "reasons": [],
                  "crops": [{"box": [1, 1, 9, 9], "metrics": {"psnr_db": "inf", "ssim": 1.0}}],
                  "fingerprint": {"phash": "0" * 16, "dhash": "f" * 16, "pixels_sha256": f["sha256"]}}
                 for f in item["frames"]]  # fmt: skip
    combined = [v["verdict"] for v in per_frame]
    verdict = "fail" if "fail" in combined else "unsure" if "unsure" in combined else "pass"
    return {"version": "pictor-task-evidence-v1", "verification_id": item["verification_id"],
            "purpose": item["purpose"], "round": item["round"], "job_id": item["job_id"], "task_id": item["task_id"],
            "attempt": item["attempt"], "chain_job_id": item["chain_job_id"], "chain_task_id": item["chain_task_id"],
            "result_hash": item["result_hash"], "checker": checker.address, "checker_public_key": key,
            "manifest_check": {"ok": True, "detail": "test"}, "frames": per_frame, "verdict": verdict}  # fmt: skip


def attest(net: Net, checker: NodeKey | Account, item: dict[str, Any], verdict: str, evidence: dict[str, Any]) -> str:
    key = checker.key if isinstance(checker, NodeKey) else checker
    digest = hashlib.sha256(canonical_json(evidence)).digest()
    job, task = int(item["chain_job_id"]), int(item["chain_task_id"])

    async def work(chain: Any) -> str:
        if item["purpose"] == "dispute":
            payload = chain.payloads.attestation_resolve_dispute(job, task, verdict == "fail", digest)
        elif verdict == "unsure":
            payload = chain.payloads.attestation_abstain(job, task, bytes.fromhex(item["result_hash"]), digest)
        else:
            payload = chain.payloads.attestation_attest(job, task, bytes.fromhex(item["result_hash"]),
                                                        verdict == "pass", digest)  # fmt: skip
        return (await chain.submit_and_wait(key, payload)).hash

    return run(net, work)


def report(
    client: TestClient,
    checker: NodeKey,
    item: dict[str, Any],
    verdict: str,
    evidence: dict[str, Any],
    txn_hash: str | None,
) -> Any:
    body = {"verdict": verdict, "evidence": evidence, "evidence_hash": hashlib.sha256(canonical_json(evidence)).hexdigest(),
            "txn_hash": txn_hash}  # fmt: skip
    try:
        return as_node(client, checker).post(f"/nodes/verify/{item['verification_id']}/verdict", json=body)
    finally:
        as_node(client, None)


def claim_as(client: TestClient, checker: NodeKey | Account) -> Any:
    try:
        return as_node(client, checker).post("/nodes/verify/claim")
    finally:
        as_node(client, None)


@contextlib.contextmanager
def review_window(net: Net, url: str, seconds: int) -> Iterator[None]:
    """The protocol's review window at ``seconds`` (and the mirror indexed) for the block, then back to 0."""
    run(net, lambda chain: set_params(chain, net.admin, net.params, review_window_secs=seconds))
    try:
        index(net, url)
        yield
    finally:
        run(net, lambda chain: set_params(chain, net.admin, net.params, review_window_secs=0))


def verified_by_a(client: TestClient, engine: Engine, url: str, net: Net) -> tuple[Any, dict[str, Any], str]:
    """A one-task job rendered, passed on chain by checker A and indexed: (the job, A's item, its transaction)."""
    job = render_job(client, engine, url, net)
    item = claim_as(client, net.a).json()
    evidence = evidence_for(item, net.a)
    txn = attest(net, net.a, item, "pass", evidence)
    assert report(client, net.a, item, "pass", evidence, txn).json()["outcome"] == "verified"
    index(net, url)
    return job, item, txn


def frame_states(engine: Engine, job_id: int) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(frames.c.frame, frames.c.state).where(frames.c.job_id == job_id)).all())


def test_claims_wait_for_the_chain_and_never_go_to_the_workers_operator(app, net) -> None:
    client, engine, url = app
    job = render_job(client, engine, url, net, frame_count=2, submit=False)
    with engine.connect() as conn:
        queued = conn.execute(select(verifications).where(verifications.c.job_id == job.job_id)).all()
    assert len(queued) == 2 and {r.state for r in queued} == {"queued"}
    assert {r.result_hash for r in queued} == {t["result_hash"] for t in job.tasks}
    assert claim_as(client, net.a).status_code == 204  # not submitted on chain yet: nothing to attest
    for t in job.tasks:
        run(
            net,
            lambda chain, t=t: chain.submit_and_wait(
                net.worker.key,
                chain.payloads.escrow_submit_result(
                    job.chain_job_id, t["seq"], bytes.fromhex(t["result_hash"]), 30_000
                ),
            ),
        )
    index(net, url)
    assert claim_as(client, net.own_checker).status_code == 204  # the worker's own operator: never
    assert claim_as(client, net.worker).status_code == 403  # a worker node does not verify
    # Two checkers of other operators claim at the same time: each gets a different item (SKIP LOCKED).
    settings = client.app.state.settings
    got: dict[str, Any] = {}
    barrier = threading.Barrier(3)

    def grab(name: str, node: NodeKey) -> None:
        me = identity(engine, node)
        barrier.wait()
        got[name] = claim(engine, me, settings)

    threads = [
        threading.Thread(target=grab, args=(n, k)) for n, k in (("a", net.a), ("b", net.b), ("own", net.own_checker))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got["own"] is None
    assert got["a"] is not None and got["b"] is not None
    assert got["a"]["verification_id"] != got["b"]["verification_id"]
    assert got["a"]["worker_operator"] == account_address(net.worker.operator)
    assert claim_as(client, net.a).status_code == 204  # both items are held
    assert set(frame_states(engine, job.job_id).values()) == {"verifying"}
    # Downloads: the holder gets its frame and the scene; another checker gets neither.
    item = got["a"]
    frame_sha = item["frames"][0]["sha256"]
    try:
        mine = as_node(client, net.a).get(f"/nodes/verify/{item['verification_id']}/blobs/{frame_sha}")
        assert mine.status_code == 200 and hashlib.sha256(mine.content).hexdigest() == frame_sha
        scene = client.get(f"/nodes/verify/{item['verification_id']}/blobs/{item['scene']['sha256']}")
        assert scene.status_code == 200 and scene.content.startswith(b"BLENDER")
        assert client.get(f"/nodes/verify/{item['verification_id']}/blobs/{'0' * 64}").status_code == 404
        theirs = as_node(client, net.b).get(f"/nodes/verify/{item['verification_id']}/blobs/{frame_sha}")
        assert theirs.status_code == 404
        assert client.post(f"/nodes/verify/{item['verification_id']}/heartbeat").status_code == 409
        beat = as_node(client, net.a).post("/nodes/verify/heartbeat", json={"telemetry": {"cpu": {}}})
        assert beat.status_code == 200
        assert client.post(f"/nodes/verify/{item['verification_id']}/heartbeat").status_code == 200
        # Released items go back to the queue (frames rendered again), still never to the worker's operator.
        for node, held in ((net.a, got["a"]), (net.b, got["b"])):
            released = as_node(client, node).post(f"/nodes/verify/{held['verification_id']}/release",
                                                  json={"reason": "test"})  # fmt: skip
            assert released.status_code == 200
    finally:
        as_node(client, None)
    assert set(frame_states(engine, job.job_id).values()) == {"rendered"}
    assert claim_as(client, net.own_checker).status_code == 204


def test_pass_settles_and_the_evidence_is_served(app, net) -> None:
    client, engine, url = app
    job = render_job(client, engine, url, net)
    item = claim_as(client, net.a).json()
    assert item["purpose"] == "verify" and item["manifest"]["frames"][0]["sha256"] == item["frames"][0]["sha256"]
    evidence = evidence_for(item, net.a)
    # Bad reports are refused and change nothing.
    bad_hash = {"verdict": "pass", "evidence": evidence, "evidence_hash": "0" * 64}
    try:
        node = as_node(client, net.a)
        answer = node.post(f"/nodes/verify/{item['verification_id']}/verdict", json=bad_hash)
        assert answer.status_code == 400 and "hash" in answer.json()["detail"]
    finally:
        as_node(client, None)
    wrong_sha = json.loads(json.dumps(evidence))
    wrong_sha["frames"][0]["result_sha256"] = "ab" * 32
    assert report(client, net.a, item, "pass", wrong_sha, None).status_code == 400
    mixed = evidence_for(item, net.a, {item["frames"][0]["frame"]: "fail"})
    mixed["verdict"] = "pass"
    assert report(client, net.a, item, "pass", mixed, None).status_code == 400
    assert report(client, net.b, item, "pass", evidence_for(item, net.b), None).status_code == 409  # not its claim
    assert set(frame_states(engine, job.job_id).values()) == {"verifying"}

    txn = attest(net, net.a, item, "pass", evidence)
    # A transaction hash is checked on chain: unknown, or an attestation of other evidence, is refused.
    assert report(client, net.a, item, "pass", evidence, "0x" + "ab" * 32).status_code == 400
    other_evidence = {**evidence, "manifest_check": {"ok": True, "detail": "other"}}
    assert report(client, net.a, item, "pass", other_evidence, txn).status_code == 400
    answer = report(client, net.a, item, "pass", evidence, txn)
    assert answer.status_code == 200 and answer.json()["outcome"] == "verified", answer.text
    assert set(frame_states(engine, job.job_id).values()) == {"verified"}
    index(net, url)
    with engine.connect() as conn:
        settled = conn.execute(
            select(mirror.task_settlements).where(mirror.task_settlements.c.job_id == job.chain_job_id)
        ).all()
    a_operator = account_address(net.a.operator)
    assert len(settled) == 1 and settled[0].checkers == [a_operator] and int(settled[0].worker_amount) > 0
    assert settled[0].txn_hash == txn  # paid in the attestation's own transaction (no review window)

    seen = client.get(f"/jobs/{job.job_id}/frames/1/verification", headers=job.headers)
    assert seen.status_code == 200, seen.text
    (record,) = seen.json()["verifications"]
    assert record["verdict"] == "pass" and record["checker_operator"] == a_operator and record["txn_hash"] == txn
    assert record["attestations"][0]["txn_hash"] == txn and record["attestations"][0]["pass"] is True
    task_hash = hashlib.sha256(canonical_json(evidence)).hexdigest()
    assert record["evidence_hash"] == task_hash
    assert record["attestations"][0]["evidence_hash"] == "0x" + task_hash
    served = client.get(f"/verification/evidence/{task_hash}")  # public: no session
    assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == task_hash
    frame_hash = record["frame"]["evidence_hash"]
    assert hashlib.sha256(client.get(f"/verification/evidence/{frame_hash}").content).hexdigest() == frame_hash
    assert client.get(f"/verification/evidence/{'1' * 64}").status_code == 404
    assert client.get("/verification/evidence/nothex").status_code == 400
    other = {"Authorization": f"Bearer {session_for(engine, OTHER)}"}
    assert client.get(f"/jobs/{job.job_id}/frames/1/verification", headers=other).status_code == 404
    assert client.get(f"/jobs/{job.job_id}/trail", headers=other).status_code == 404

    trail = client.get(f"/jobs/{job.job_id}/trail", headers=job.headers).json()
    kinds = [e["event"] for e in trail["events"]]
    assert kinds[0] == "escrow" and {"assigned", "submitted", "attested", "verified", "settled"} <= set(kinds)
    assert all(e["txn_hash"].startswith("0x") and e["txn_version"] > 0 for e in trail["events"])
    versions = [e["txn_version"] for e in trail["events"]]
    assert versions == sorted(versions)
    split = settled[0]
    assert int(trail["totals"]["worker"]) == int(split.worker_amount)
    assert int(trail["totals"]["checkers"]) == int(split.checker_amount)
    assert int(trail["totals"]["treasury"]) == int(split.treasury_amount)


def test_fail_requeues_the_task_for_another_try_with_a_strike(app, net) -> None:
    client, engine, url = app
    job = render_job(client, engine, url, net)
    item = claim_as(client, net.b).json()
    evidence = evidence_for(item, net.b, {item["frames"][0]["frame"]: "fail"})
    txn = attest(net, net.b, item, "fail", evidence)
    answer = report(client, net.b, item, "fail", evidence, txn)
    assert answer.status_code == 200 and answer.json()["outcome"] == "requeued", answer.text
    assert set(frame_states(engine, job.job_id).values()) == {"queued"}
    with engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.task_id == item["task_id"])).one()
        failures = conn.execute(select(job_node_failures).where(job_node_failures.c.job_id == job.job_id)).one()
    assert task.state == "queued" and task.node_id is None
    assert failures.node_id == identity(engine, net.worker).node_id and failures.failures == 1
    index(net, url)
    with engine.connect() as conn:
        requeued = conn.execute(
            select(mirror.task_requeues).where(mirror.task_requeues.c.job_id == job.chain_job_id)
        ).all()
        strikes = conn.execute(
            select(mirror.node_strikes).where(mirror.node_strikes.c.node_id == identity(engine, net.worker).node_id)
        ).all()
    assert [r.reason for r in requeued] == [2] and requeued[0].txn_hash == txn
    assert strikes and strikes[-1].txn_hash == txn
    # The task is rendered again, never by the worker whose result failed: another worker leases it (attempt 2)
    # and the chain assigns it.
    assert task.excluded_nodes == [identity(engine, net.worker).node_id]
    try:
        assert as_node(client, net.worker).post("/nodes/claim", json={}).status_code == 204
        worker2 = as_node(client, net.worker2)
        assert worker2.post("/nodes/heartbeat", json={"telemetry": telemetry()}).status_code == 200
        lease = worker2.post("/nodes/claim", json={})
    finally:
        as_node(client, None)
    assert lease.status_code == 200 and lease.json()["task_id"] == item["task_id"] and lease.json()["attempt"] == 2
    settings = client.app.state.settings
    run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, settings))
    info = run(net, lambda chain: chain.views.task(job.chain_job_id, item_seq(item)))
    assert info.state == 1 and info.attempt == 2


def item_seq(item: dict[str, Any]) -> int:
    return int(item["chain_task_id"])


def test_unsure_asks_a_checker_of_another_operator(app, net) -> None:
    client, engine, url = app
    render_job(client, engine, url, net)
    item = claim_as(client, net.a).json()
    evidence = evidence_for(item, net.a, {item["frames"][0]["frame"]: "unsure"})
    answer = report(client, net.a, item, "unsure", evidence, None)
    assert answer.status_code == 200 and answer.json()["outcome"] == "asked another checker"
    assert claim_as(client, net.a).status_code == 204  # it judged this attempt already
    assert claim_as(client, net.own_checker).status_code == 204
    second = claim_as(client, net.b)
    assert second.status_code == 200 and second.json()["round"] == 2
    assert second.json()["task_id"] == item["task_id"]


def complete_as(client: TestClient, net: Net, node: NodeKey, lease: dict[str, Any], chain_job_id: int) -> str:
    """Upload, complete and submit on chain a leased one-frame task as ``node``; the result hash (hex)."""
    (frame,) = lease["frames"]
    data = png(frame + 11 * lease["task_id"] + lease["attempt"])
    sha = hashlib.sha256(data).hexdigest()
    try:
        worker = as_node(client, node)
        put = worker.put(f"/nodes/tasks/{lease['task_id']}/frames/{frame}", content=data,
                         headers={"X-Pictor-Content-Sha256": sha})  # fmt: skip
        assert put.status_code == 200, put.text
        manifest = {"job_id": lease["job_id"], "task_id": lease["task_id"], "attempt": lease["attempt"],
                    "device": "CPU", "node": node.address, "frames": [{"frame": frame, "sha256": sha,
                    "render_seconds": 0.5, "width": 64, "height": 48, "format": "PNG"}]}  # fmt: skip
        signature = node.key.sign(canonical_json(manifest)).signature.hex()
        completed = worker.post(f"/nodes/tasks/{lease['task_id']}/complete",
                                json={"manifest": manifest, "signature": signature})  # fmt: skip
        assert completed.status_code == 200, completed.text
    finally:
        as_node(client, None)
    digest = hashlib.sha256(canonical_json(manifest)).digest()
    seq = int(lease["chain_task_id"])
    run(net, lambda chain: chain.submit_and_wait(
        node.key, chain.payloads.escrow_submit_result(chain_job_id, seq, digest, 30_000)))  # fmt: skip
    return digest.hex()


def unsure_rounds(client: TestClient, net: Net, checkers: list[NodeKey], *, on_chain: bool = True) -> list[Any]:
    """Each checker in turn claims the next round and reports ``unsure`` (abstaining on chain unless told not
    to: then the report says the chain refused); the answers."""
    answers = []
    for round_, checker in enumerate(checkers, start=1):
        item = claim_as(client, checker)
        assert item.status_code == 200, item.text
        item = item.json()
        assert item["round"] == round_ and item["purpose"] == "verify"
        evidence = evidence_for(item, checker, {item["frames"][0]["frame"]: "unsure"})
        txn = attest(net, checker, item, "unsure", evidence) if on_chain else None
        answers.append(report(client, checker, item, "unsure", evidence, txn))
        assert answers[-1].status_code == 200, answers[-1].text
    return answers


def outbox_rows(engine: Engine, job_id: int, kind: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(chain_outbox).where(chain_outbox.c.job_id == job_id, chain_outbox.c.kind == kind)
        ).all()


def test_a_task_unsure_in_every_round_is_taken_back_on_chain_and_rendered_again_without_a_strike(
    app, net, caplog: pytest.LogCaptureFixture
) -> None:
    client, engine, url = app
    settings = client.app.state.settings
    settings.verify_max_rounds = 2  # checkers A and B; the worker's own checker never judges its operator's work
    job = render_job(client, engine, url, net)
    (first,) = job.tasks
    worker_id = identity(engine, net.worker).node_id
    strikes = run(net, lambda chain: chain.views.node(worker_id)).strikes
    with caplog.at_level("WARNING", logger="api.verification"):
        answers = unsure_rounds(client, net, [net.a, net.b])
    assert [a.json()["outcome"] for a in answers] == ["asked another checker", "requeued as unverifiable"]
    assert any("unverifiable" in r.getMessage() and "checker abstained" in r.getMessage() for r in caplog.records)
    index(net, url)
    with engine.connect() as conn:
        abstained = conn.execute(
            select(mirror.abstentions.c.node_id).where(mirror.abstentions.c.job_id == job.chain_job_id)
        ).all()
        task = conn.execute(select(tasks).where(tasks.c.task_id == first["task_id"])).one()
    assert sorted(int(r.node_id) for r in abstained) == sorted(identity(engine, n).node_id for n in (net.a, net.b))
    assert task.state == "rendered"  # until the chain took the result back
    for checker in (net.a, net.b, net.own_checker):
        assert claim_as(client, checker).status_code == 204  # the attempt is not verified any more
    (row,) = outbox_rows(engine, job.job_id, "unverified")
    assert row.status == "pending" and row.attempt == 1 and int(row.chain_task_id) == first["seq"]
    run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, settings))
    (row,) = outbox_rows(engine, job.job_id, "unverified")
    assert row.status == "done" and row.txn_hash
    index(net, url)  # the mirror's escrow shows the quote released again
    onchain = run(net, lambda chain: chain.views.task(job.chain_job_id, first["seq"]))
    assert onchain.state == 0  # QUEUED: the chain took it back (reason 5), nothing paid
    assert set(frame_states(engine, job.job_id).values()) == {"queued"}
    with engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.task_id == first["task_id"])).one()
        failures = conn.execute(select(job_node_failures).where(job_node_failures.c.job_id == job.job_id)).all()
    assert task.state == "queued" and task.node_id is None and task.excluded_nodes == [worker_id]
    assert task.seq == first["seq"]  # the same on-chain task, attempt 2
    assert failures == []  # nothing was proven: no failure counted, no blocklist
    try:
        assert as_node(client, net.worker).post("/nodes/claim", json={}).status_code == 204  # excluded
        worker2 = as_node(client, net.worker2)
        assert worker2.post("/nodes/heartbeat", json={"telemetry": telemetry()}).status_code == 200
        lease = worker2.post("/nodes/claim", json={})
    finally:
        as_node(client, None)
    assert lease.status_code == 200, lease.text
    lease = lease.json()
    assert lease["task_id"] == first["task_id"] and lease["attempt"] == 2 and int(lease["chain_task_id"]) == task.seq
    run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, settings))
    result_hash = complete_as(client, net, net.worker2, lease, job.chain_job_id)
    index(net, url)
    item = claim_as(client, net.a).json()  # A abstained on attempt 1, not on attempt 2
    assert (item["task_id"], item["attempt"], item["round"]) == (first["task_id"], 2, 1)
    assert item["result_hash"] == result_hash and int(item["chain_task_id"]) == task.seq
    evidence = evidence_for(item, net.a)
    txn = attest(net, net.a, item, "pass", evidence)
    answer = report(client, net.a, item, "pass", evidence, txn)
    assert answer.status_code == 200 and answer.json()["outcome"] == "verified", answer.text
    assert set(frame_states(engine, job.job_id).values()) == {"verified"}
    index(net, url)
    with engine.connect() as conn:
        settled = conn.execute(
            select(mirror.task_settlements).where(mirror.task_settlements.c.job_id == job.chain_job_id)
        ).all()
        requeued = conn.execute(
            select(mirror.task_requeues).where(mirror.task_requeues.c.job_id == job.chain_job_id)
        ).all()
    assert len(settled) == 1 and int(settled[0].task_id) == task.seq and settled[0].txn_hash == txn
    assert settled[0].worker_operator == account_address(net.worker2.operator)
    assert [(int(r.task_id), r.reason) for r in requeued] == [(task.seq, 5)]  # unverifiable, not a failure
    assert run(net, lambda chain: chain.views.node(worker_id)).strikes == strikes
    trail = client.get(f"/jobs/{job.job_id}/trail", headers=job.headers).json()
    assert [e["event"] for e in trail["events"]].count("abstained") == 2
    report_ = run(net, lambda chain: reconcile(engine, chain))
    assert report_.ok, [m.as_dict() for m in report_.mismatches]


def test_without_an_abstention_the_chain_takes_the_result_back_only_after_a_review_window(app, net) -> None:
    client, engine, url = app
    settings = client.app.state.settings
    settings.verify_max_rounds = 2
    window = 600
    with review_window(net, url, window):
        job = render_job(client, engine, url, net)
        (first,) = job.tasks
        # both checkers' abstentions failed to commit: nothing on chain says anyone tried
        answers = unsure_rounds(client, net, [net.a, net.b], on_chain=False)
        assert [a.json()["outcome"] for a in answers] == ["asked another checker", "requeued as unverifiable"]
        (row,) = outbox_rows(engine, job.job_id, "unverified")
        with engine.connect() as conn:
            created = conn.execute(
                select(func.min(verifications.c.created_at)).where(verifications.c.task_id == first["task_id"])
            ).scalar_one()
        assert row.next_try_at == created + timedelta(seconds=window)
        assert run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, settings)) == 0
        # tried early anyway: the chain refuses and the row waits
        with engine.begin() as conn:
            conn.execute(update(chain_outbox).where(chain_outbox.c.id == row.id).values(next_try_at=scheduler.utcnow()))
        run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, settings))
        (row,) = outbox_rows(engine, job.job_id, "unverified")
        assert row.status == "pending" and "NOT_UNVERIFIABLE" in row.last_error
        assert run(net, lambda chain: chain.views.task(job.chain_job_id, first["seq"])).state == 2  # SUBMITTED

        async def later(chain: Any) -> int:
            async with httpx.AsyncClient() as http:
                moved = await http.post(f"{net.localnet.node_url}/-/test/clock/advance", params={"seconds": window + 1})
                assert moved.status_code == 200, moved.text
            return await scheduler.process_outbox(engine, chain, net.coordinator, settings)

        with engine.begin() as conn:
            conn.execute(update(chain_outbox).where(chain_outbox.c.id == row.id).values(next_try_at=scheduler.utcnow()))
        assert run(net, later) == 1
        assert outbox_rows(engine, job.job_id, "unverified")[0].status == "done"
        assert run(net, lambda chain: chain.views.task(job.chain_job_id, first["seq"])).state == 0
        assert set(frame_states(engine, job.job_id).values()) == {"queued"}


def test_a_round_nobody_may_claim_escalates_after_the_round_timeout(app, net, caplog: pytest.LogCaptureFixture) -> None:
    client, engine, url = app
    settings = client.app.state.settings
    assert settings.verify_max_rounds == 3  # one round more than the operators that may judge this worker
    job = render_job(client, engine, url, net)
    (first,) = job.tasks
    answers = unsure_rounds(client, net, [net.a, net.b])
    assert [a.json()["outcome"] for a in answers] == ["asked another checker"] * 2
    for checker in (net.a, net.b, net.own_checker):
        assert claim_as(client, checker).status_code == 204  # round 3 is queued, but nobody may claim it
    now = scheduler.utcnow()
    assert escalate_stalled(engine, settings, now) == 0  # not before a whole round went by
    later = now + timedelta(seconds=settings.verify_lease_s + 1)
    with caplog.at_level("WARNING", logger="api.verification"):
        assert escalate_stalled(engine, settings, later) == 1
    assert any("no eligible checker operator claimed round 3" in r.getMessage() for r in caplog.records)
    assert escalate_stalled(engine, settings, later) == 0  # once
    run(net, lambda chain: scheduler.process_outbox(engine, chain, net.coordinator, settings))
    with engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.task_id == first["task_id"])).one()
        items = conn.execute(
            select(verifications.c.round, verifications.c.state, verifications.c.chain_error)
            .where(verifications.c.task_id == first["task_id"])
            .order_by(verifications.c.round)
        ).all()
        failures = conn.execute(select(job_node_failures).where(job_node_failures.c.job_id == job.job_id)).all()
    assert task.state == "queued" and task.seq == first["seq"]
    assert task.excluded_nodes == [identity(engine, net.worker).node_id] and failures == []
    assert [(r.round, r.state) for r in items] == [(1, "done"), (2, "done"), (3, "done")]
    assert "unverifiable" in items[2].chain_error
    assert set(frame_states(engine, job.job_id).values()) == {"queued"}
    assert run(net, lambda chain: chain.views.task(job.chain_job_id, first["seq"])).state == 0


def test_the_chain_refuses_forged_replayed_and_conflicted_attestations_and_settles_once(app, net) -> None:
    client, engine, url = app
    job = render_job(client, engine, url, net)
    (task,) = job.tasks
    result = bytes.fromhex(task["result_hash"])
    evidence = hashlib.sha256(b"evidence").digest()

    async def work(chain: Any) -> dict[str, Any]:
        pay = chain.payloads
        out: dict[str, Any] = {}
        for name, who, digest in (("stranger", net.stranger, result), ("own", net.own_checker.key, result),
                                  ("mismatch", net.a.key, hashlib.sha256(b"other").digest())):  # fmt: skip
            try:
                await chain.submit_and_wait(who, pay.attestation_attest(job.chain_job_id, task["seq"], digest, True,
                                                                        evidence))  # fmt: skip
            except MoveAbortError as exc:
                out[name] = exc.reason
        # Two checkers of different operators attest at the same moment; A's transaction is signed by hand so
        # the very same bytes can be replayed afterwards.
        payload = pay.attestation_attest(job.chain_job_id, task["seq"], result, True, evidence)
        sender = net.a.key
        raw = await chain._raw_transaction(sender.address(), await chain.account_sequence_number(account_address(sender)),
                                           payload, None, None)  # fmt: skip
        signed = SignedTransaction(raw, sender.sign_transaction(raw))

        async def a_side() -> Any:
            return await chain.wait_for_result(await chain._post_signed(signed))

        async def b_side() -> Any:
            return await chain.submit_and_wait(net.b.key, payload, check=False)

        out["results"] = await asyncio.gather(a_side(), b_side())
        try:
            await chain._post_signed(signed)
            out["replay"] = "accepted"
        except ChainError as exc:
            out["replay"] = type(exc).__name__
        out["task"] = await chain.views.task(job.chain_job_id, task["seq"])
        return out

    out = run(net, work)
    assert out["stranger"] == "E_NOT_CHECKER"
    assert out["own"] == "E_CONFLICT_OF_INTEREST"
    assert out["mismatch"] == "E_RESULT_MISMATCH"
    results = out["results"]
    winners = [r for r in results if r.success]
    losers = [r for r in results if not r.success]
    assert len(winners) == 1 and len(losers) == 1, [r.vm_status for r in results]
    assert "E_BAD_TASK_STATE" in losers[0].vm_status
    assert out["replay"] != "accepted"
    assert out["task"].state == 4 and out["task"].pass_count == 1
    index(net, url)
    with engine.connect() as conn:
        settled = conn.execute(
            select(mirror.task_settlements).where(mirror.task_settlements.c.job_id == job.chain_job_id)
        ).all()
        attested = conn.execute(
            select(mirror.attestations).where(mirror.attestations.c.job_id == job.chain_job_id)
        ).all()
    assert len(settled) == 1 and len(attested) == 1 and settled[0].txn_hash == winners[0].hash
    report_ = run(net, lambda chain: reconcile(engine, chain))
    assert report_.ok, [m.as_dict() for m in report_.mismatches]


def test_a_dispute_the_checker_rejects_settles_without_a_slash(app, net) -> None:
    client, engine, url = app
    with review_window(net, url, 3600):
        job, item, txn = verified_by_a(client, engine, url, net)
        assert "dispute_payload" in client.post(f"/jobs/{job.job_id}/frames/1/reject", headers=job.headers).json()
        run(
            net,
            lambda chain: chain.submit_and_wait(
                net.creator, chain.payloads.escrow_dispute_task(job.chain_job_id, item_seq(item))
            ),
        )
        index(net, url)
        dispute = claim_as(client, net.b).json()
        assert dispute["purpose"] == "dispute"
        evidence = evidence_for(dispute, net.b)
        txn = attest(net, net.b, dispute, "pass", evidence)
        answer = report(client, net.b, dispute, "pass", evidence, txn)
        assert answer.status_code == 200 and answer.json()["outcome"] == "dispute rejected"
        index(net, url)
        with engine.connect() as conn:
            slashes = conn.execute(select(mirror.slashes).where(mirror.slashes.c.job_id == job.chain_job_id)).all()
            settled = conn.execute(
                select(mirror.task_settlements).where(mirror.task_settlements.c.job_id == job.chain_job_id)
            ).all()
        assert slashes == [] and len(settled) == 1 and settled[0].txn_hash == txn
        assert settled[0].checkers == [account_address(net.a.operator)]  # the passer is paid, the resolver not
        # The re-render of the rejected frame excludes whoever passed it, not the judge of the dispute.
        with engine.connect() as conn:
            excluded = _excluded_for(conn, job.job_id, -1, [1])
        assert excluded == [account_address(net.a.operator)]


def test_a_dispute_no_checker_resolves_within_a_review_window_is_settled_by_the_finalizer(app, net) -> None:
    client, engine, url = app
    window = 600
    with review_window(net, url, window):
        job, item, txn = verified_by_a(client, engine, url, net)
        assert "dispute_payload" in client.post(f"/jobs/{job.job_id}/frames/1/reject", headers=job.headers).json()
        seq = item_seq(item)
        run(net, lambda chain: chain.submit_and_wait(net.creator, chain.payloads.escrow_dispute_task(job.chain_job_id, seq)))
        index(net, url)
        dispute = claim_as(client, net.b).json()  # B is the only checker that may judge it (A passed it)
        assert dispute["purpose"] == "dispute"
        evidence = evidence_for(dispute, net.b, {dispute["frames"][0]["frame"]: "unsure"})
        assert report(client, net.b, dispute, "unsure", evidence, None).json()["outcome"] == "asked another checker"
        for checker in (net.a, net.b, net.own_checker):
            assert claim_as(client, checker).status_code == 204  # nobody else may judge it
        assert run(net, lambda chain: finalize_due(engine, chain, net.coordinator)) == 0  # the dispute is young
        # a review window later (the API's clock and the chain's)
        with engine.begin() as conn:
            conn.execute(
                update(verifications)
                .where(verifications.c.task_id == dispute["task_id"])
                .values(created_at=verifications.c.created_at - timedelta(seconds=window + 1))
            )

        async def later(chain: Any) -> int:
            async with httpx.AsyncClient() as http:
                moved = await http.post(f"{net.localnet.node_url}/-/test/clock/advance", params={"seconds": window + 1})
                assert moved.status_code == 200, moved.text
            return await finalize_due(engine, chain, net.coordinator)

        assert run(net, later) == 1
        assert run(net, lambda chain: chain.views.task(job.chain_job_id, seq)).state == 4  # SETTLED
        index(net, url)
        with engine.connect() as conn:
            slashes = conn.execute(select(mirror.slashes).where(mirror.slashes.c.job_id == job.chain_job_id)).all()
            settled = conn.execute(
                select(mirror.task_settlements).where(mirror.task_settlements.c.job_id == job.chain_job_id)
            ).all()
            items = conn.execute(
                select(verifications.c.round, verifications.c.state, verifications.c.verdict, verifications.c.chain_error)
                .where(verifications.c.task_id == dispute["task_id"], verifications.c.purpose == "dispute")
                .order_by(verifications.c.round)
            ).all()
        assert slashes == [] and len(settled) == 1  # not proven wrong: nobody slashed, the passer paid
        assert settled[0].checkers == [account_address(net.a.operator)]
        assert [(r.round, r.state, r.verdict) for r in items] == [(1, "done", "unsure"), (2, "done", None)]
        assert items[1].chain_error.startswith("unresolved: no checker decided the dispute")
        assert run(net, lambda chain: finalize_due(engine, chain, net.coordinator)) == 0  # once
        run(net, lambda chain: chain.submit_and_wait(net.creator, chain.payloads.escrow_close_job(job.chain_job_id)))
        assert run(net, lambda chain: chain.views.job(job.chain_job_id)).closed


def test_a_verified_task_is_settled_by_the_finalizer_when_its_review_window_ends(app, net) -> None:
    client, engine, url = app
    with review_window(net, url, 600):
        job, item, txn = verified_by_a(client, engine, url, net)
        seq = item_seq(item)
        assert run(net, lambda chain: finalize_due(engine, chain, net.coordinator)) == 0  # the window is open
        assert run(net, lambda chain: chain.views.task(job.chain_job_id, seq)).state == 3

        async def advance(chain: Any) -> int:
            async with httpx.AsyncClient() as http:
                moved = await http.post(f"{net.localnet.node_url}/-/test/clock/advance", params={"seconds": 601})
                assert moved.status_code == 200, moved.text
            return await finalize_due(engine, chain, net.coordinator)

        assert run(net, advance) == 1
        assert run(net, lambda chain: chain.views.task(job.chain_job_id, seq)).state == 4
        index(net, url)
        trail = client.get(f"/jobs/{job.job_id}/trail", headers=job.headers).json()
        settled = [e for e in trail["events"] if e["event"] == "settled"]
        assert len(settled) == 1 and settled[0]["checkers"] == [account_address(net.a.operator)]
        assert run(net, lambda chain: finalize_due(engine, chain, net.coordinator)) == 0  # only once
        # Closing the job refunds the rest; the trail shows the refund next to the charge.
        closed = run(
            net, lambda chain: chain.submit_and_wait(net.creator, chain.payloads.escrow_close_job(job.chain_job_id))
        )
        index(net, url)
        trail = client.get(f"/jobs/{job.job_id}/trail", headers=job.headers).json()
        totals = trail["totals"]
        assert totals["closed"] is True and int(totals["refunded"]) == int(totals["budget"]) - int(totals["spent"])
        assert int(totals["spent"]) == int(settled[0]["charge"]) > 0
        refund = [e for e in trail["events"] if e["event"] == "escrow" and e["kind"] == "refund"]
        assert len(refund) == 1 and refund[0]["txn_hash"] == closed.hash


def test_a_dispute_ends_in_the_right_slash(app, net) -> None:
    """Last in the module: the slash leaves the worker and checker A below the minimum stakes."""
    client, engine, url = app
    with review_window(net, url, 3600):
        job, item, txn = verified_by_a(client, engine, url, net)
        rejected = client.post(f"/jobs/{job.job_id}/frames/1/reject", headers=job.headers)
        assert rejected.status_code == 200, rejected.text
        offer = rejected.json()
        assert offer["state"] == "rejected" and offer["rerender_task_id"]
        payload = offer["dispute_payload"]
        assert payload["function"].endswith("::escrow::dispute_task")
        assert payload["arguments"] == [str(job.chain_job_id), str(item_seq(item))]
        run(
            net,
            lambda chain: chain.submit_and_wait(
                net.creator, chain.payloads.escrow_dispute_task(job.chain_job_id, item_seq(item))
            ),
        )
        index(net, url)
        before = run(
            net,
            lambda chain: asyncio.gather(
                chain.views.stake_of(account_address(net.worker.operator), ROLE_WORKER),
                chain.views.stake_of(account_address(net.a.operator), ROLE_CHECKER),
            ),
        )
        assert claim_as(client, net.a).status_code == 204  # the passer cannot judge the dispute
        assert claim_as(client, net.own_checker).status_code == 204  # nor the worker's operator
        dispute = claim_as(client, net.b).json()
        assert dispute["purpose"] == "dispute" and dispute["task_id"] == item["task_id"]
        evidence = evidence_for(dispute, net.b, {dispute["frames"][0]["frame"]: "fail"})
        txn = attest(net, net.b, dispute, "fail", evidence)
        answer = report(client, net.b, dispute, "fail", evidence, txn)
        assert answer.status_code == 200 and answer.json()["outcome"] == "dispute upheld"
        index(net, url)
        bps = net.params.slash_bps
        with engine.connect() as conn:
            slashes = conn.execute(select(mirror.slashes).where(mirror.slashes.c.job_id == job.chain_job_id)
                                   .order_by(mirror.slashes.c.event_index)).all()  # fmt: skip
        assert [(s.operator, s.role, s.reason) for s in slashes] == [
            (account_address(net.worker.operator), ROLE_WORKER, 2),
            (account_address(net.a.operator), ROLE_CHECKER, 2),
        ]
        assert int(slashes[0].amount) == before[0].active * bps // 10000
        assert int(slashes[1].amount) == before[1].active * bps // 10000
        assert all(s.txn_hash == txn for s in slashes)
        history = client.get(f"/audit/accounts/{account_address(net.worker.operator)}/history")
        assert history.status_code == 200 and txn in history.text
        trail = client.get(f"/jobs/{job.job_id}/trail", headers=job.headers).json()
        kinds = [e["event"] for e in trail["events"]]
        assert {"disputed", "dispute_resolved", "slashed", "requeued"} <= set(kinds) and "settled" not in kinds
        assert int(trail["totals"]["slashed"]) == sum(int(s.amount) for s in slashes)
        report_ = run(net, lambda chain: reconcile(engine, chain))
        assert report_.ok, [m.as_dict() for m in report_.mismatches]
