"""The authorization matrix: every creator endpoint (``/uploads``, ``/jobs/…``) and every worker-node endpoint
(``/nodes/heartbeat``, ``/nodes/claim``, ``/nodes/blobs/…``, ``/nodes/tasks/…``) called by each kind of caller.

* creator endpoints: the owner is served; another creator gets 404 (or, on a list, sees nothing of the
  owner's); an anonymous caller and a node (signed, no session) get 401;
* node endpoints: the node holding the lease is served; another staked worker node gets 404/409 for the
  task and its scene; a checker node gets 403/404/409; an anonymous caller and a creator session get 401.

Nodes are real: registered and staked on the module's localnet and read from the indexer's mirror (a second
worker is registered here). Each refused call is checked to change nothing: every table of the ``api`` schema
(except the replay-protection nonce tables that authentication itself writes) and the blob store are
snapshotted before and after it. ``test_the_matrix_covers_every_endpoint`` fails when a route is added under
these prefixes without a row here.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aptos_sdk.account import Account
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text, update

from api.app import create_app
from chain.keys import ROLE_WORKER, account_address, generate_account, load_localnet_keys, registration_proof
from indexer.runner import Indexer, IndexerConfig
from pictor.blobs import LocalBlobStore
from pictor.db import create_database_like, drop_database, get_engine
from protocol import signing as ns
from tables.uploads import uploads
from tests.support.api import ChainEnv, make_settings, session_for
from tests.support.jobs import SMALL, activate, make_upload, telemetry

OWNER = "0x" + "a1" * 32
OTHER = "0x" + "b2" * 32
#: Tables authentication writes on every signed or sign-in request (replay protection, rate limit counters),
#: whatever the outcome.
AUTH_BOOKKEEPING = {"node_request_nonces", "signin_nonces", "rate_limits"}


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (seed * 30 % 256, 20, 90)).save(out, "PNG")
    return out.getvalue()


@dataclass
class World:
    """The template database every test copies, and what lives in it."""

    template: str
    blob_root: Path
    owner_token: str
    other_token: str
    upload_id: str
    scene_sha: str
    job_id: int  # active: frames 1-2 rendered (task 1), task 2 leased to the worker, task 3 queued
    waiting_job_id: int  # awaiting its escrow
    task_id: int  # task 2: leased to ``worker``, frame 3 uploaded
    worker: Account
    other_worker: Account
    checker: Account
    extra: dict[str, Any] = field(default_factory=dict)


async def _register_second_worker(env: ChainEnv, template: str) -> Account:
    """A second staked worker node (real transactions), indexed into ``template`` from its checkpoint."""
    chain = env.chain()
    try:
        admin, pay = load_localnet_keys(env.data_dir).admin, chain.payloads
        operator, node = generate_account(), generate_account()
        await chain.fund(account_address(operator), 10 * 10**8)
        await chain.submit_and_wait(admin, pay.token_mint(account_address(operator), env.min_worker_stake))
        await chain.submit_and_wait(operator, pay.staking_stake(ROLE_WORKER, env.min_worker_stake))
        await chain.submit_and_wait(operator, pay.registry_register_node(
            ROLE_WORKER, node.public_key().key.encode(), registration_proof(node, account_address(operator),
                                                                            ROLE_WORKER)))  # fmt: skip
        end = (await chain.ledger_info()).ledger_version
        await Indexer(chain, IndexerConfig(database_url=template, stop_at_version=end)).run()
        return node
    finally:
        await chain.close()


def _manifest(world_key: Account, job_id: int, task_id: int, attempt: int, frames: dict[int, bytes]) -> dict:
    manifest = {"job_id": job_id, "task_id": task_id, "attempt": attempt, "device": "CPU",
                "node": account_address(world_key),
                "frames": [{"frame": f, "sha256": hashlib.sha256(d).hexdigest(), "render_seconds": 0.5, "width": 64,
                            "height": 64, "format": "PNG"} for f, d in sorted(frames.items())]}  # fmt: skip
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return {"manifest": manifest, "signature": world_key.sign(canonical).signature.hex()}


@pytest.fixture(scope="module")
def world(chain_env: ChainEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Owner's upload and jobs, a rendered task, a task leased to the staked worker: built through the API."""
    template = create_database_like(chain_env.template_url)
    blob_root = tmp_path_factory.mktemp("authz")
    try:
        other_worker = asyncio.run(_register_second_worker(chain_env, template))
        engine = get_engine(template)
        app = create_app(engine, chain_env.chain())
        # The world's lease must outlive the whole module (minutes on a loaded machine): the matrix is about who
        # may call what, not about leases ending.
        app.state.settings = make_settings(blob_root, scheduler_background=False, lease_s=3600)
        worker = chain_env.staked_worker.key
        with TestClient(app) as client:
            store = client.app.state.blob_store = LocalBlobStore(app.state.settings.blobs_path)
            owner = {"Authorization": f"Bearer {session_for(engine, OWNER)}"}
            other_token = session_for(engine, OTHER)
            scene = {"scenes": [{"name": "Scene", "active": True, "samples": 16}], "missing_files": []}
            upload_id = make_upload(engine, OWNER, scene=scene, store=store)
            with engine.begin() as conn:  # inspected already: the scene endpoint answers from its cache
                conn.execute(update(uploads).where(uploads.c.upload_id == upload_id)
                             .values(inspected_at=datetime.now(UTC)))  # fmt: skip
                scene_sha = conn.execute(text("SELECT blob_sha256 FROM api.uploads WHERE upload_id = :u"),
                                         {"u": upload_id}).scalar_one()  # fmt: skip
            job = client.post("/jobs", json={"upload_id": upload_id, "settings": SMALL}, headers=owner)
            assert job.status_code == 201, job.text
            job_id = job.json()["job_id"]
            activate(engine, job_id, 7001)
            waiting = client.post("/jobs", json={"upload_id": upload_id, "settings": SMALL}, headers=owner)
            waiting_job_id = waiting.json()["job_id"]
            auth = ns.NodeAuth(worker)
            assert client.post("/nodes/heartbeat", json={"telemetry": telemetry()}, auth=auth).status_code == 200
            first = client.post("/nodes/claim", json={}, auth=auth).json()
            frames = {f: png(f) for f in first["frames"]}
            for f, data in frames.items():
                put = client.put(f"/nodes/tasks/{first['task_id']}/frames/{f}", content=data, auth=auth,
                                 headers={"X-Pictor-Content-Sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
                assert put.status_code == 200, put.text
            done = client.post(f"/nodes/tasks/{first['task_id']}/complete", auth=auth,
                               json=_manifest(worker, job_id, first["task_id"], first["attempt"], frames))  # fmt: skip
            assert done.status_code == 200, done.text
            second = client.post("/nodes/claim", json={}, auth=auth).json()
            assert second["job_id"] == job_id and second["frames"] == [3, 4], second
            data = png(3)
            put = client.put(f"/nodes/tasks/{second['task_id']}/frames/3", content=data, auth=auth,
                             headers={"X-Pictor-Content-Sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
            assert put.status_code == 200, put.text
        engine.dispose()  # a template must have no open connection to be copied
        yield World(template, blob_root, owner["Authorization"].split()[1], other_token, upload_id, scene_sha,
                    job_id, waiting_job_id, second["task_id"], worker, other_worker, chain_env.staked_checker.key,
                    {"attempt": second["attempt"]})  # fmt: skip
    finally:
        drop_database(template)


@pytest.fixture
def served(world: World, chain_env: ChainEnv) -> Iterator[tuple[TestClient, Engine, LocalBlobStore]]:
    """An app on a fresh copy of the world."""
    url = create_database_like(world.template)
    engine = get_engine(url)
    app = create_app(engine, chain_env.chain())
    app.state.settings = make_settings(world.blob_root, scheduler_background=False)
    try:
        with TestClient(app) as client:
            store = client.app.state.blob_store = LocalBlobStore(app.state.settings.blobs_path)
            yield client, engine, store
    finally:
        engine.dispose()
        drop_database(url)


# ----------------------------------------------------------------------------- the endpoints


Call = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route: how to call it (for a world), what its owner gets, and an optional owner-side setup."""

    method: str
    route: str  # as in the OpenAPI paths
    kind: str  # "creator" or "node"
    call: Callable[[World], Call]
    owner: tuple[int, ...] = (200,)
    setup: Callable[[TestClient, World], None] | None = None
    #: For collection routes another creator may call: what they must not see in the answer.
    other_sees_none: bool = False


def _frame_put(world: World, frame: int) -> dict[str, Any]:
    data = png(frame)
    return {"content": data, "headers": {"X-Pictor-Content-Sha256": hashlib.sha256(data).hexdigest()}}


def _upload_frame_4(client: TestClient, world: World) -> None:
    put = client.put(f"/nodes/tasks/{world.task_id}/frames/4", auth=ns.NodeAuth(world.worker),
                     **_frame_put(world, 4))  # fmt: skip
    assert put.status_code == 200, put.text


def _upload_part_0(client: TestClient, world: World) -> None:
    put = client.put(f"/nodes/tasks/{world.task_id}/frames/4/parts/0", auth=ns.NodeAuth(world.worker),
                     **_frame_put(world, 4))  # fmt: skip
    assert put.status_code == 200, put.text


def _complete_body(world: World) -> dict[str, Any]:
    return _manifest(world.worker, world.job_id, world.task_id, world.extra["attempt"], {3: png(3), 4: png(4)})


ENDPOINTS = [
    Endpoint(
        "POST",
        "/uploads",
        "creator",
        lambda w: ("POST", "/uploads?filename=s.blend", {"content": b"BLENDER-v500 authz matrix"}),
        owner=(201,),
    ),
    Endpoint("GET", "/uploads", "creator", lambda w: ("GET", "/uploads", {}), other_sees_none=True),
    Endpoint("GET", "/uploads/{upload_id}", "creator", lambda w: ("GET", f"/uploads/{w.upload_id}", {})),
    Endpoint("GET", "/uploads/{upload_id}/scene", "creator", lambda w: ("GET", f"/uploads/{w.upload_id}/scene", {})),
    Endpoint(
        "POST",
        "/jobs/estimate",
        "creator",
        lambda w: ("POST", "/jobs/estimate", {"json": {"upload_id": w.upload_id, "settings": SMALL}}),
    ),
    Endpoint(
        "POST",
        "/jobs",
        "creator",
        lambda w: ("POST", "/jobs", {"json": {"upload_id": w.upload_id, "settings": SMALL}}),
        owner=(201,),
    ),
    Endpoint("GET", "/jobs", "creator", lambda w: ("GET", "/jobs", {}), other_sees_none=True),
    Endpoint("GET", "/jobs/{job_id}", "creator", lambda w: ("GET", f"/jobs/{w.job_id}", {})),
    Endpoint(
        "POST",
        "/jobs/{job_id}/escrow",
        "creator",
        lambda w: ("POST", f"/jobs/{w.waiting_job_id}/escrow", {"json": {"txn_hash": "ab" * 32}}),
        owner=(202,),
    ),
    Endpoint("POST", "/jobs/{job_id}/cancel", "creator", lambda w: ("POST", f"/jobs/{w.job_id}/cancel", {})),
    Endpoint(
        "GET",
        "/jobs/{job_id}/events",
        "creator",
        lambda w: ("GET", f"/jobs/{w.job_id}/events?timeout=0.3&interval=0.1", {}),
    ),
    Endpoint(
        "POST",
        "/jobs/{job_id}/frames/{frame}/accept",
        "creator",
        lambda w: ("POST", f"/jobs/{w.job_id}/frames/1/accept", {}),
    ),
    Endpoint(
        "POST",
        "/jobs/{job_id}/frames/{frame}/reject",
        "creator",
        lambda w: ("POST", f"/jobs/{w.job_id}/frames/2/reject", {}),
    ),
    Endpoint("GET", "/jobs/{job_id}/frames/{frame}", "creator", lambda w: ("GET", f"/jobs/{w.job_id}/frames/1", {})),
    Endpoint(
        "GET",
        "/jobs/{job_id}/frames/{frame}/thumbnail",
        "creator",
        lambda w: ("GET", f"/jobs/{w.job_id}/frames/1/thumbnail?size=32", {}),
    ),
    Endpoint("GET", "/jobs/{job_id}/frames.zip", "creator", lambda w: ("GET", f"/jobs/{w.job_id}/frames.zip", {})),
    Endpoint(
        "GET",
        "/jobs/{job_id}/frames/{frame}/verification",
        "creator",
        lambda w: ("GET", f"/jobs/{w.job_id}/frames/1/verification", {}),
    ),
    Endpoint("GET", "/jobs/{job_id}/trail", "creator", lambda w: ("GET", f"/jobs/{w.job_id}/trail", {})),
    Endpoint(
        "POST", "/nodes/heartbeat", "node", lambda w: ("POST", "/nodes/heartbeat", {"json": {"telemetry": telemetry()}})
    ),
    Endpoint("POST", "/nodes/claim", "node", lambda w: ("POST", "/nodes/claim", {"json": {}})),
    Endpoint("GET", "/nodes/blobs/{sha256}", "node", lambda w: ("GET", f"/nodes/blobs/{w.scene_sha}", {})),
    Endpoint(
        "POST",
        "/nodes/tasks/{task_id}/heartbeat",
        "node",
        lambda w: ("POST", f"/nodes/tasks/{w.task_id}/heartbeat", {"json": {"frames_done": [3]}}),
    ),
    Endpoint(
        "PUT",
        "/nodes/tasks/{task_id}/frames/{frame}",
        "node",
        lambda w: ("PUT", f"/nodes/tasks/{w.task_id}/frames/4", _frame_put(w, 4)),
    ),
    Endpoint(
        "PUT",
        "/nodes/tasks/{task_id}/frames/{frame}/parts/{part}",
        "node",
        lambda w: ("PUT", f"/nodes/tasks/{w.task_id}/frames/4/parts/0", _frame_put(w, 4)),
    ),
    Endpoint(
        "GET",
        "/nodes/tasks/{task_id}/frames/{frame}/parts",
        "node",
        lambda w: ("GET", f"/nodes/tasks/{w.task_id}/frames/4/parts", {}),
    ),
    Endpoint(
        "POST",
        "/nodes/tasks/{task_id}/frames/{frame}/finalize",
        "node",
        lambda w: (
            "POST",
            f"/nodes/tasks/{w.task_id}/frames/4/finalize",
            {"json": {"parts": 1, "size": len(png(4)), "sha256": hashlib.sha256(png(4)).hexdigest()}},
        ),
        setup=_upload_part_0,
    ),  # fmt: skip
    Endpoint(
        "POST",
        "/nodes/tasks/{task_id}/complete",
        "node",
        lambda w: ("POST", f"/nodes/tasks/{w.task_id}/complete", {"json": _complete_body(w)}),
        setup=_upload_frame_4,
    ),  # fmt: skip
    Endpoint(
        "POST",
        "/nodes/tasks/{task_id}/fail",
        "node",
        lambda w: ("POST", f"/nodes/tasks/{w.task_id}/fail", {"json": {"error": "matrix"}}),
    ),
    Endpoint(
        "POST",
        "/nodes/tasks/{task_id}/release",
        "node",
        lambda w: ("POST", f"/nodes/tasks/{w.task_id}/release", {"json": {"reason": "matrix"}}),
    ),
]

#: Callers refused by each kind of endpoint, and the answers they may get.
REFUSED = {
    "creator": {"other creator": (404,), "anonymous": (401,), "node": (401,)},
    "node": {"other worker": (404, 409), "checker": (403, 404, 409), "anonymous": (401,), "creator": (401,)},
}
#: Routes that are not about one owner's resource: another caller of the same kind is simply served its own.
COLLECTIONS = {("POST", "/uploads"), ("POST", "/nodes/heartbeat"), ("POST", "/nodes/claim")}
PREFIXES = ("/uploads", "/jobs", "/nodes/heartbeat", "/nodes/claim", "/nodes/blobs", "/nodes/tasks")


def _cases() -> list[Any]:
    cases = []
    for ep in ENDPOINTS:
        cases.append(pytest.param(ep, "owner", id=f"{ep.method} {ep.route} owner"))
        for who in REFUSED[ep.kind]:
            if (ep.method, ep.route) in COLLECTIONS and who in ("other creator", "other worker", "checker"):
                continue
            cases.append(pytest.param(ep, who, id=f"{ep.method} {ep.route} {who}"))
    return cases


def _credentials(world: World, who: str, kind: str) -> dict[str, Any]:
    """Request keyword arguments that make the call as ``who``."""
    if who == "anonymous":
        return {}
    if kind == "creator":
        token = {"owner": world.owner_token, "other creator": world.other_token}.get(who)
        if token:
            return {"headers": {"Authorization": f"Bearer {token}"}}
        return {"auth": ns.NodeAuth(world.worker)}  # a node, signed, with no session
    key = {"owner": world.worker, "other worker": world.other_worker, "checker": world.checker}.get(who)
    if key is not None:
        return {"auth": ns.NodeAuth(key)}
    return {"headers": {"Authorization": f"Bearer {world.owner_token}"}}  # a creator session on a node route


def snapshot(engine: Engine, store: LocalBlobStore) -> dict[str, Any]:
    """Every row of every ``api`` table (but authentication's nonces), and every file of the blob store."""
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'api' "
                                   "AND table_type = 'BASE TABLE' ORDER BY 1")).scalars().all()  # fmt: skip
        rows = {t: sorted(conn.execute(text(f'SELECT row_to_json(x)::text FROM api."{t}" x')).scalars().all())
                for t in tables if t not in AUTH_BOOKKEEPING}  # fmt: skip
    files = sorted((str(p), p.stat().st_size) for p in Path(store.root).rglob("*") if p.is_file())
    return {"rows": rows, "files": files}


def _merge(kwargs: dict[str, Any], creds: dict[str, Any]) -> dict[str, Any]:
    merged = dict(kwargs)
    if "headers" in creds:
        merged["headers"] = {**kwargs.get("headers", {}), **creds["headers"]}
    if "auth" in creds:
        merged["auth"] = creds["auth"]
    return merged


@pytest.mark.parametrize(("endpoint", "who"), _cases())
def test_authorization_matrix(served, world: World, endpoint: Endpoint, who: str) -> None:
    client, engine, store = served
    if who == "owner" and endpoint.setup is not None:
        endpoint.setup(client, world)
    method, path, kwargs = endpoint.call(world)
    before = snapshot(engine, store)
    response = client.request(method, path, **_merge(kwargs, _credentials(world, who, endpoint.kind)))
    if who == "owner":
        assert response.status_code in endpoint.owner, response.text
        return
    if endpoint.other_sees_none and who == "other creator":
        assert response.status_code == 200, response.text
        assert response.json()["items"] == [], response.text  # none of the owner's uploads or jobs
    else:
        assert response.status_code in REFUSED[endpoint.kind][who], (response.status_code, response.text)
        if response.status_code == 401:
            assert response.json()["detail"], response.text  # a message a person understands
    assert snapshot(engine, store) == before, "a refused call changed something"


def test_the_matrix_covers_every_endpoint() -> None:
    paths = create_app(None, None).openapi()["paths"]  # type: ignore[arg-type]
    routes = {(m.upper(), p) for p, ops in paths.items() if p.startswith(PREFIXES) for m in ops}
    assert routes == {(ep.method, ep.route) for ep in ENDPOINTS}


def test_the_owner_calls_really_acted(served, world: World) -> None:
    """Spot checks that the owner column is not vacuous: a served cancel, reject and release change state."""
    client, engine, _ = served
    owner = {"Authorization": f"Bearer {world.owner_token}"}
    assert client.post(f"/jobs/{world.job_id}/frames/2/reject", headers=owner).json()["state"] == "rejected"
    released = client.post(f"/nodes/tasks/{world.task_id}/release", json={}, auth=ns.NodeAuth(world.worker))
    assert released.status_code == 200, released.text
    with engine.connect() as conn:
        state = conn.execute(text("SELECT state, node_id FROM api.tasks WHERE task_id = :t"),
                             {"t": world.task_id}).one()  # fmt: skip
    assert state.state == "queued" and state.node_id is None
    assert client.post(f"/jobs/{world.job_id}/cancel", headers=owner).json()["state"] == "cancelled"
    assert client.get(f"/jobs/{world.job_id}", headers=owner).json()["state"] == "cancelled"
