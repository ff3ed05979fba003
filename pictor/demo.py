"""``pictor demo``: the network's main job end to end, on the embedded defaults, with nothing faked.

A fresh data directory gets a localnet (subprocess), the embedded PostgreSQL (migrated), the indexer
(a background task of this process) and the API (uvicorn in a thread, its scheduler loop on). A creator
wallet is funded, minted PICTOR and deposits; a worker operator stakes and registers a node with
``pictor worker init``; the creator signs in with Aptos (AIP-116), uploads a generated .blend, reads the
scene inspection and the estimate, creates the job, signs ``escrow::open_job`` and links it; ``pictor worker
run`` (subprocess) claims, renders in Blender, uploads, signs the manifest and submits the result on chain.
The frames are downloaded as a zip into the data directory.

Then the money loop is closed on the localnet: checker node verification is issue #5 and not wired into
the API yet, so *this script* registers and stakes a checker node and attests each submitted task from it,
the creator accepts and closes the job, and the final balances are printed with conservation checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

APT = 10**8
PICTOR = 10**8
CREATOR_MINT = 100 * PICTOR
DEPOSIT = 100 * PICTOR
BUDGET = 1 * PICTOR
GAS = 2 * APT
REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKER_NOTE = "checker step done by the demo script until issue #5 wires the checker node"


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def _fmt(amount: int) -> str:
    """PICTOR base units as PICTOR (8 decimals, trailing zeros dropped)."""
    from chain.demo import fmt_pictor

    return fmt_pictor(amount)


class _Services:
    """Everything the demo starts, stopped in reverse order (idempotent; also from a signal or an error)."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()

    def add(self, name: str, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stops.append((name, stop))

    def stop_all(self) -> None:
        while True:
            with self._lock:
                if not self._stops:
                    return
                name, stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"  (stopping {name}: {type(exc).__name__}: {exc})", file=sys.stderr)


class _Api:
    """The API app served by uvicorn in a thread on a free 127.0.0.1 port (lifespan on: the scheduler runs)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign] # Ctrl-C is ours
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise DemoError("the API did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


class _Demo:
    """One run: its data dir, services, printer, timeline and the transactions it saw."""

    def __init__(self, root: Path, frames: int, services: _Services) -> None:
        self.root, self.frames, self.services = root, frames, services
        self.t0 = time.monotonic()
        self.timeline: list[tuple[float, str]] = []
        self.txns: list[tuple[int, str, str, str]] = []  # version, hash, sender, step

    def step(self, text: str) -> None:
        at = time.monotonic() - self.t0
        self.timeline.append((at, text))
        print(f"[{at:6.1f}s] {text}", flush=True)

    def record(self, step: str, sender: str, result: Any) -> Any:
        self.txns.append((result.version, result.hash, sender, step))
        return result

    async def send(self, chain: Any, step: str, sender_name: str, sender: Any, payload: Any) -> Any:
        return self.record(step, sender_name, await chain.submit_and_wait(sender, payload))


def _worker_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pictor.cli", "worker", *args]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _ok(response: Any, what: str, codes: tuple[int, ...] = (200, 201)) -> Any:
    if response.status_code not in codes:
        raise DemoError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response.json()


async def _run(demo: _Demo) -> dict[str, Any]:  # noqa: C901, PLR0915 - one linear walk-through
    import httpx
    from sqlalchemy import select

    from api.app import create_app
    from api.auth import signing_message
    from chain.client import PictorChain
    from chain.demo import MODULE_STORE_SEEDS, object_address
    from chain.events import JobClosed, NodeRegistered, TaskSettled, TaskVerified
    from chain.keys import (
        account_address,
        generate_account,
        load_key_file,
        load_localnet_keys,
        registration_proof,
        write_key_file,
    )
    from chain.localnet import start_localnet_process
    from chain.payloads import ROLE_CHECKER, ROLE_WORKER, TASK_SUBMITTED
    from indexer import schema as mirror
    from indexer.runner import Indexer, IndexerConfig
    from pictor import db
    from pictor.settings import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS, Settings
    from worker_node.render.scenegen import SceneSpec, generate_scene

    root, services, n = demo.root, demo.services, demo.frames

    # ------------------------------------------------------------------ the embedded defaults
    localnet = await asyncio.to_thread(start_localnet_process, root / "localnet")
    services.add("localnet", localnet.stop)
    demo.step(f"localnet up at {localnet.node_url} (pid {localnet.pid})")
    pgdata = root / "postgres"
    url = await asyncio.to_thread(db.start_embedded, pgdata)
    services.add("embedded PostgreSQL", lambda: db.stop_embedded(pgdata))
    await asyncio.to_thread(db.upgrade, url)
    engine = db.get_engine(url)
    services.add("database engine", engine.dispose)
    demo.step(f"embedded PostgreSQL up in {pgdata}, migrated")

    def client() -> PictorChain:
        return PictorChain(localnet.node_url, LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                           faucet_url=localnet.faucet_url, wait_timeout=60)

    chain = client()
    indexer_chain = client()
    indexer = Indexer(indexer_chain, IndexerConfig(database_url=url, poll_interval=0.2))
    indexer_task = asyncio.create_task(indexer.run(), name="indexer")
    settings = Settings(data_dir=root / "api", keys_dir=localnet.keys_dir, node_url=localnet.node_url,
                        faucet_url=localnet.faucet_url, chain_id=LOCALNET_CHAIN_ID, signin_chain_id=None,
                        scheduler_interval_s=0.5)  # fmt: skip
    app = create_app(engine, client())
    app.state.settings = settings
    api = await asyncio.to_thread(_Api, app)
    services.add("API", api.stop)
    demo.step(f"indexer following the chain; API serving at {api.url}")
    worker_proc: subprocess.Popen[bytes] | None = None

    def indexer_alive() -> None:
        if indexer_task.done():
            error = None if indexer_task.cancelled() else indexer_task.exception()
            raise DemoError(f"the indexer stopped: {error!r}")

    try:
        keys = load_localnet_keys(root / "localnet")
        pay, views = chain.payloads, chain.views
        params, split = await views.params(), await views.fee_split()

        # ------------------------------------------------------------------ wallets
        creator, worker_op, checker_op = generate_account(), generate_account(), generate_account()
        addr = {"creator": account_address(creator), "worker operator": account_address(worker_op),
                "checker operator": account_address(checker_op), "treasury": account_address(keys.treasury)}
        for results in await asyncio.gather(*(chain.fund(account_address(a), GAS)
                                              for a in (creator, worker_op, checker_op))):  # fmt: skip
            for r in results:
                demo.record("faucet: APT for gas", "faucet", r)
        worker_stake, checker_stake = max(params.min_worker_stake, 1), max(params.min_checker_stake, 1)
        await demo.send(chain, "token::mint to creator", "admin", keys.admin, pay.token_mint(addr["creator"], CREATOR_MINT))
        await demo.send(chain, "token::mint to worker operator", "admin", keys.admin,
                        pay.token_mint(addr["worker operator"], worker_stake))
        await demo.send(chain, "vault::deposit", "creator", creator, pay.vault_deposit(DEPOSIT))
        demo.step(f"creator {addr['creator'][:12]}… funded: {_fmt(CREATOR_MINT)} PICTOR minted, {_fmt(DEPOSIT)} deposited")
        await demo.send(chain, "staking::stake (worker)", "worker operator", worker_op,
                        pay.staking_stake(ROLE_WORKER, worker_stake))

        # ------------------------------------------------------------------ the worker node (pictor worker init)
        wdir = root / "worker"
        wdir.mkdir(parents=True, exist_ok=True)
        write_key_file(wdir / "operator.key", worker_op)
        config = {"worker_id": "demo-worker", "api_url": api.url, "operator_address": addr["worker operator"],
                  "node_url": localnet.node_url, "package_address": LOCALNET_PACKAGE_ADDRESS,
                  "chain_id": LOCALNET_CHAIN_ID, "heartbeat_s": 1, "task_heartbeat_s": 1, "poll_s": 0.5,
                  "max_backoff_s": 2, "shutdown_grace_s": 20, "benchmark": False}  # fmt: skip
        (wdir / "worker-config.json").write_text(json.dumps(config, indent=2))
        init = await asyncio.to_thread(
            subprocess.run, _worker_command("init", "--config", str(wdir / "worker-config.json"),
                                            "--operator-key", str(wdir / "operator.key")),
            cwd=REPO_ROOT, env=_child_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
        (wdir / "init.log").write_text(init.stdout + init.stderr)
        if init.returncode != 0:
            raise DemoError(f"pictor worker init failed (exit {init.returncode}):\n{_tail(wdir / 'init.log')}")
        node_key = load_key_file(wdir / "node.key")
        worker_node = account_address(node_key)
        for r in await chain.fund(worker_node, GAS):  # the node account pays for escrow::submit_result
            demo.record("faucet: APT for gas", "faucet", r)
        registered = next((line for line in init.stdout.splitlines() if line.startswith("registered on chain")), "")
        demo.step(f"worker operator staked {_fmt(worker_stake)} PICTOR; `pictor worker init` -> {registered}")
        worker_log = open(wdir / "worker.log", "ab")  # noqa: SIM115 - the child writes to it
        worker_proc = subprocess.Popen(
            _worker_command("run", "--config", str(wdir / "worker-config.json")), cwd=REPO_ROOT, env=_child_env(),
            stdout=worker_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        worker_log.close()
        proc = worker_proc

        def stop_worker() -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)

        services.add("worker agent", stop_worker)
        demo.step(f"`pictor worker run` started (pid {proc.pid}, log {wdir / 'worker.log'})")

        async with httpx.AsyncClient(base_url=api.url, timeout=120) as http:
            # -------------------------------------------------------------- sign in with Aptos (AIP-116)
            challenge = await _ok(await http.post("/auth/nonce", json={"address": addr["creator"]}), "sign-in nonce")
            signature = creator.sign(signing_message(challenge["message"])).data()
            session = await _ok(await http.post("/auth/sign-in", json={
                "address": addr["creator"], "public_key": "0x" + creator.public_key().key.encode().hex(),
                "signature": "0x" + signature.hex(), "nonce": challenge["nonce"]}), "sign-in")  # fmt: skip
            http.headers["Authorization"] = f"Bearer {session['token']}"
            demo.step("creator signed in with Aptos (AIP-116 message signed by the wallet key)")

            # -------------------------------------------------------------- scene, upload, inspection, estimate
            blend = await asyncio.to_thread(generate_scene, root / "scene" / "demo.blend", SceneSpec(
                frame_start=1, frame_end=n, resolution_x=160, resolution_y=120, samples=16))  # fmt: skip
            upload = await _ok(await http.post("/uploads", params={"filename": "demo.blend"},
                                               content=blend.read_bytes()), "upload")  # fmt: skip
            upload_id = upload["id"]
            demo.step(f"generated {blend} ({blend.stat().st_size:,} bytes), uploaded as {upload_id}")
            scene = await _ok(await http.get(f"/uploads/{upload_id}/scene"), "scene inspection")
            info = scene.get("scene") or {}
            active = next((sc for sc in info.get("scenes", []) if sc.get("active")), {})
            print(f"  scene inspection (GET /uploads/{{id}}/scene, Blender {info.get('blender')}):"
                  f" scene {active.get('name')!r}, {active.get('engine')}, frames"
                  f" {active.get('frame_start')}-{active.get('frame_end')},"
                  f" {active.get('resolution_x')}x{active.get('resolution_y')}, samples {active.get('samples')},"
                  f" cameras {active.get('cameras')}, missing files {info.get('missing_files')}")  # fmt: skip
            per_node = max(1, -(-n // 2))
            job_settings = {"frames": f"1-{n}" if n > 1 else "1", "frames_per_node": per_node,
                            "resolution": "custom", "resolution_x": 160, "resolution_y": 120, "samples": 16,
                            "engine": "cycles", "device": "CPU", "denoising": False,
                            "adaptive_sampling": False}  # fmt: skip
            body = {"upload_id": upload_id, "settings": job_settings}
            est = await _ok(await http.post("/jobs/estimate", json=body), "estimate")
            cost = {k: _fmt(int(v)) for k, v in est.get("cost", {}).items()}
            print(f"  estimate (POST /jobs/estimate): {est.get('frames')} frames in {est.get('tasks')} tasks, cost"
                  f" {cost} PICTOR, quoted total {_fmt(int(est['quoted_total']))} PICTOR, matching workers"
                  f" {est.get('matching_workers')}, eta {est.get('eta_seconds')}s")  # fmt: skip
            # The creator locks a budget above the quotes (the rest comes back when the job closes).
            body["budget"] = max(BUDGET, int(est["quoted_total"]))
            created = await _ok(await http.post("/jobs", json=body), "create job", (201,))
            job_id = created["job_id"]
            budget, price = (int(a) for a in created["escrow_payload"]["arguments"])
            demo.step(f"job {job_id} created: budget {_fmt(budget)} PICTOR at {_fmt(price)} PICTOR per reference minute")

            # -------------------------------------------------------------- the creator's wallet opens the escrow
            opened = await demo.send(chain, "escrow::open_job", "creator", creator, pay.escrow_open_job(budget, price))
            deadline = time.monotonic() + 60
            while True:
                indexer_alive()
                linked = await http.post(f"/jobs/{job_id}/escrow", json={"txn_hash": opened.hash})
                if linked.status_code == 200:
                    break
                if linked.status_code == 409:  # the API's background task linked it between two calls
                    current = await _ok(await http.get(f"/jobs/{job_id}"), "job")
                    if current["state"] == "active" and (current.get("escrow") or {}).get("chain_job_id"):
                        break
                if linked.status_code != 202 or time.monotonic() > deadline:
                    raise DemoError(f"linking the escrow: HTTP {linked.status_code} {linked.text[:300]}")
                await asyncio.sleep(0.3)
            job = await _ok(await http.get(f"/jobs/{job_id}"), "job")
            chain_job = int(job["escrow"]["chain_job_id"])
            demo.step(f"escrow::open_job v{opened.version} signed by the creator; job {job_id} is {job['state']}"
                      f" (on-chain job {chain_job})")

            # -------------------------------------------------------------- the worker renders
            deadline = time.monotonic() + 240
            seen: set[str] = set()
            while True:
                if proc.poll() is not None:
                    raise DemoError(f"the worker agent exited ({proc.returncode}):\n{_tail(wdir / 'worker.log')}")
                job = await _ok(await http.get(f"/jobs/{job_id}"), "job")
                states = [f["state"] for f in job["frames"]]
                counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
                if counts not in seen:
                    seen.add(counts)
                    demo.step(f"frames: {counts}")
                if "failed" in states:
                    raise DemoError(f"a frame failed:\n{_tail(wdir / 'worker.log')}")
                if all(s not in ("queued", "assigned", "rendering") for s in states):
                    break
                if time.monotonic() > deadline:
                    raise DemoError(f"frames not rendered in time: {counts}\n{_tail(wdir / 'worker.log')}")
                await asyncio.sleep(0.5)
            n_tasks = len({f["task_id"] for f in job["frames"]})
            while True:  # the agent submits each result on chain after completing it at the API
                infos = [await views.task(chain_job, seq) for seq in range(1, n_tasks + 1)]
                if all(i.state >= TASK_SUBMITTED for i in infos):
                    break
                if time.monotonic() > deadline:
                    raise DemoError(f"results not submitted on chain:\n{_tail(wdir / 'worker.log')}")
                await asyncio.sleep(0.3)
            demo.step(f"all {n} frames rendered; {n_tasks} results submitted on chain by the worker node")
            esc = (await _ok(await http.get(f"/jobs/{job_id}"), "job"))["escrow"] or {}
            print(f"  escrow (mirror, GET /jobs/{{id}}): budget {_fmt(int(esc.get('budget', 0)))}, spent"
                  f" {_fmt(int(esc.get('spent', 0)))}, reserved {_fmt(int(esc.get('reserved', 0)))} PICTOR")  # fmt: skip
            stop_worker()

            # -------------------------------------------------------------- download
            frames_zip = root / "frames.zip"
            response = await http.get(f"/jobs/{job_id}/frames.zip")
            if response.status_code != 200:
                raise DemoError(f"frames.zip: HTTP {response.status_code} {response.text[:300]}")
            frames_zip.write_bytes(response.content)
            frames_dir = root / "frames"
            with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
                names = zf.namelist()
                zf.extractall(frames_dir)
            demo.step(f"downloaded {len(names)} frames ({len(response.content):,} bytes) to {frames_zip}")

            print("\nframes (from GET /jobs/{id}):")
            rendered = [f for f in job["frames"] if f["state"] in ("rendered", "verifying", "verified", "accepted")]
            for f in job["frames"]:
                secs = f["render_seconds"]
                print(f"  frame {f['frame']:>3}  {f['state']:<10} {f['width']}x{f['height']}"
                      f"  render {float(secs):.2f}s  sha256 {str(f['sha256'])[:16]}…")  # fmt: skip
            print(f"rendered frames: {len(rendered)}/{n}")

            # -------------------------------------------------------------- close the money loop (issue #5 stand-in)
            print(f"\n--- {CHECKER_NOTE} ---")
            checker_node = generate_account()
            await demo.send(chain, "token::mint to checker operator", "admin", keys.admin,
                            pay.token_mint(addr["checker operator"], checker_stake))
            await demo.send(chain, "staking::stake (checker)", "checker operator", checker_op,
                            pay.staking_stake(ROLE_CHECKER, checker_stake))
            reg = await demo.send(chain, "registry::register_node (checker)", "checker operator", checker_op,
                                  pay.registry_register_node(ROLE_CHECKER, checker_node.public_key().key.encode(),
                                                             registration_proof(checker_node, addr["checker operator"],
                                                                                ROLE_CHECKER)))  # fmt: skip
            for r in await chain.fund(account_address(checker_node), GAS):
                demo.record("faucet: APT for gas", "faucet", r)
            demo.step(f"checker node {reg.event(NodeRegistered).node_id} registered, operator staked"
                      f" {_fmt(checker_stake)} PICTOR [{CHECKER_NOTE}]")
            settlements = []
            for seq in range(1, n_tasks + 1):
                info = await views.task(chain_job, seq)
                evidence = hashlib.sha256(b"demo attestation of " + bytes(info.result_hash)).digest()
                attested = await demo.send(chain, f"attestation::attest (pass) task {seq}", "checker node", checker_node,
                                           pay.attestation_attest(chain_job, seq, info.result_hash, True, evidence))
                settled = attested.events_of(TaskSettled)
                if not settled:
                    if not attested.events_of(TaskVerified):
                        raise DemoError(f"task {seq}: a passing attestation did not verify it")
                    accepted = await demo.send(chain, f"escrow::accept_task task {seq}", "creator", creator,
                                               pay.escrow_accept_task(chain_job, seq))
                    settled = accepted.events_of(TaskSettled)
                settlements.extend(settled)
            closed = (await demo.send(chain, "escrow::close_job", "creator", creator,
                                      pay.escrow_close_job(chain_job))).event(JobClosed)  # fmt: skip
            demo.step(f"{n_tasks} tasks attested and settled, job closed (refund"
                      f" {_fmt(closed.refund_credit + closed.refund_balance)} PICTOR) [{CHECKER_NOTE}]")

            # -------------------------------------------------------------- the mirror catches up
            end = (await chain.ledger_info()).ledger_version
            deadline = time.monotonic() + 60
            while True:
                indexer_alive()
                escrow = (await http.get(f"/audit/jobs/{chain_job}"))
                if escrow.status_code == 200 and escrow.json().get("closed") and int(escrow.json()["last_version"]) <= end:
                    break
                if time.monotonic() > deadline:
                    raise DemoError(f"the indexer did not mirror the closed job: {escrow.text[:300]}")
                await asyncio.sleep(0.3)
            escrow_row = escrow.json()
    finally:
        if worker_proc is not None and worker_proc.poll() is None:
            worker_proc.terminate()
        indexer_task.cancel()
        await asyncio.gather(indexer_task, return_exceptions=True)
        await indexer_chain.close()

    # ---------------------------------------------------------------------- report
    with engine.connect() as conn:
        rows: list[tuple[int, str, str]] = []
        for table in (mirror.escrow_ledger, mirror.task_assignments, mirror.task_results, mirror.attestations,
                      mirror.task_verifications, mirror.task_settlements):  # fmt: skip
            for r in conn.execute(select(table.c.txn_version, table.c.txn_hash).where(table.c.job_id == chain_job)):
                rows.append((int(r.txn_version), str(r.txn_hash), table.name))
    by_version: dict[int, tuple[str, list[str]]] = {}
    for version, txn_hash, table in sorted(rows):
        by_version.setdefault(version, (txn_hash, []))[1].append(table)
    senders = {v: (s, step) for v, _, s, step in demo.txns}
    print(f"\non-chain transactions of job {chain_job} (from the indexer's mirror):")
    for version, (txn_hash, tables) in sorted(by_version.items()):
        who, step = senders.get(version, ("coordinator" if "task_assignments" in tables else "worker node", ""))
        print(f"  v{version:<6} {txn_hash}  {who:<16} {step or ', '.join(dict.fromkeys(tables))}")
    print(f"\nescrow in the mirror (/audit/jobs/{chain_job}): budget {_fmt(int(escrow_row['budget']))}, spent"
          f" {_fmt(int(escrow_row['spent']))}, reserved {_fmt(int(escrow_row['reserved']))},"
          f" closed {escrow_row['closed']}")  # fmt: skip

    charge = sum(int(s.charge) for s in settlements)
    worker_amt = sum(int(s.worker_amount) for s in settlements)
    checker_amt = sum(int(s.checker_amount) for s in settlements)
    treasury_amt = sum(int(s.treasury_amount) for s in settlements)
    total = worker_amt + checker_amt + treasury_amt
    refund = int(closed.refund_credit) + int(closed.refund_balance)
    vaults = {name: await views.vault_account(a) for name, a in addr.items()}
    supply = await views.token_supply()
    accounts = [*addr.values(), account_address(keys.admin), account_address(keys.coordinator), worker_node,
                account_address(checker_node)]  # fmt: skip
    wallets = sum([await views.token_balance(a) for a in dict.fromkeys(accounts)])
    stores = [await chain.fungible_store_balance(object_address(chain.package_address, seed))
              for seed in MODULE_STORE_SEEDS.values()]  # fmt: skip
    escrow_stores = 0
    for j in range(1, await views.next_job_id()):
        escrow_stores += await chain.fungible_store_balance(await views.job_store(j))
    await chain.close()
    held = wallets + sum(stores) + escrow_stores
    checks = {
        f"worker share = {split.worker_bps / 100:g}% of each charge":
            worker_amt == sum(int(s.charge) * split.worker_bps // 10_000 for s in settlements),
        "worker + checker + treasury = charged": total == charge,
        "refund = budget - charged": refund == budget - charge,
        "creator vault = deposit - charged": vaults["creator"].credit + vaults["creator"].balance == DEPOSIT - charge,
        "worker operator vault = worker share": vaults["worker operator"].balance == worker_amt,
        "checker operator vault = checker share": vaults["checker operator"].balance == checker_amt,
        "treasury vault = treasury share": vaults["treasury"].balance == treasury_amt,
        "every escrow store empty after close": escrow_stores == 0,
        "supply = wallets + vault + escrow + staking + rewards stores": supply == held,
    }
    print(f"\nsettlement [{CHECKER_NOTE}]:")
    print(f"  charged {_fmt(charge)} PICTOR for {n} frames: worker {_fmt(worker_amt)} ({split.worker_bps / 100:g}%),"
          f" checker {_fmt(checker_amt)} ({split.checker_bps / 100:g}%), treasury {_fmt(treasury_amt)} (rest);"
          f" creator refund {_fmt(refund)} of the {_fmt(budget)} budget  (base units: charged {charge} ="
          f" {worker_amt} + {checker_amt} + {treasury_amt})")  # fmt: skip
    print("final vault balances (PICTOR):")
    for name, v in vaults.items():
        print(f"  {name:<17} {addr[name]}  balance {_fmt(v.balance):>14}  credit {_fmt(v.credit)}")
    print(f"  supply {_fmt(supply)} = held {_fmt(held)} (wallets {_fmt(wallets)}, module stores"
          f" {_fmt(sum(stores))}, escrows {_fmt(escrow_stores)})")  # fmt: skip
    for text, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    conserved = all(checks.values())
    print(f"conservation: {'holds' if conserved else 'BROKEN'}")

    print("\ntimeline:")
    for at, text in demo.timeline:
        print(f"  {at:6.1f}s  {text}")
    print(f"\nframes: {frames_dir} (zip: {frames_zip}); data dir {root}")
    if not conserved:
        raise DemoError("a money check failed (see above)")
    return {"rendered": len(rendered), "conserved": conserved}


async def _main_async(demo: _Demo) -> dict[str, Any]:
    try:
        return await _run(demo)
    finally:
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0)


def main(data_dir: Path | None = None, frames: int = 8) -> int:
    """``pictor demo``: 0 when every frame rendered and every money check held; 1 with a message otherwise."""
    if frames < 1 or frames > 250:
        print("demo failed: --frames must be between 1 and 250", file=sys.stderr)
        return 2
    if data_dir is None:
        root = Path(tempfile.mkdtemp(prefix="pictor-demo-"))
    else:
        root = Path(data_dir).resolve()
        if root.exists() and any(root.iterdir()):
            print(f"demo failed: {root} is not empty (the demo needs a fresh data dir)", file=sys.stderr)
            return 2
        root.mkdir(parents=True, exist_ok=True)
    services = _Services()
    demo = _Demo(root, frames, services)
    print(f"Pictor demo: {frames} frames, data dir {root}", flush=True)
    try:
        asyncio.run(_main_async(demo))
    except KeyboardInterrupt:
        print("\ndemo interrupted; stopping everything it started", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for any failure, then clean up
        print(f"\ndemo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        services.stop_all()
        if data_dir is None:  # a temporary dir keeps the frames, logs and chain; the stopped database goes
            shutil.rmtree(root / "postgres", ignore_errors=True)
    print(f"demo finished in {time.monotonic() - demo.t0:.0f}s")
    return 0
