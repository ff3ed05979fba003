"""``pictor up --demo`` (also ``pictor demo``): the network's main job end to end, with nothing faked.

A fresh data directory gets the stack of :mod:`cli.up` (localnet, embedded PostgreSQL, indexer, API). Two
worker operators and one checker operator (three different accounts) stake and register their nodes with
``pictor worker init`` / ``pictor checker init``; two ``pictor worker run`` processes and one ``pictor checker
run`` start. A creator wallet is made, funded from the faucet and deposits into the vault, signs in with Aptos
(AIP-116) and submits a generated animated scene through the creator's client (:mod:`creator`:
upload, inspection, estimate, job, ``escrow::open_job`` signed by the wallet, escrow linked), then watches the
job's live event stream while the two workers claim, render in Blender, upload, sign their manifests and submit
their results on chain, and the checker node re-renders crops of each frame and attests each task on chain
(printed as the mirror shows each attestation). The frames are downloaded into ``--out``.

With quorum 1 a passing attestation verifies the task; the localnet's review window is a day, so the creator
accepts the frames (at the API, and ``escrow::accept_task`` on chain, which pays worker, checker and treasury);
were the window 0 the attestation itself would settle. The creator closes the job (refund); the on-chain trail
from the mirror (escrow opened, attestations, each settlement, the refund), the final balances with
conservation checked and the points each participant earned are printed, and ``<data dir>/demo.json`` keeps a
summary.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from blender.scenegen import SceneSpec, generate_scene
from chain.constants import MODULE_STORE_SEEDS, object_address
from chain.events import JobClosed
from chain.keys import account_address, load_role_keys
from chain.payloads import TASK_SETTLED, TASK_VERIFIED
from cli.up import CheckerNode, NodeAgent, Services, StackError, log_tail, provision_node, start_stack, stop_indexer
from creator.amounts import format_amount
from creator.api import CreatorApi, ensure_session
from creator.errors import CreatorError
from creator.jobs import download_frames, job_settings, status_line, submit_job, watch_job, watch_outcome
from creator.keys import create_wallet
from creator.wallet import deposit, fund_wallet
from protocol.render_spec import parse_job_spec
from rewards.points import total_points
from rewards.sources import credit_sources
from tables.points import points_ledger, points_withheld

PICTOR = 10**8
FUND = 100 * PICTOR
DEPOSIT = 100 * PICTOR
#: The escrow the creator locks (`pictor job submit --budget 1`): far above the quotes, the rest is refunded.
BUDGET = 1 * PICTOR
WORKERS = 2
#: How long the checker may take to verify every task once the last frame is rendered (loaded 2-core box).
VERIFY_TIMEOUT_S = 240
SUMMARY = "demo.json"


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def _fmt(amount: int) -> str:
    """PICTOR base units as PICTOR with 8 decimals (the creator CLI's format)."""
    return format_amount(amount)


class _Demo:
    """One run: its data dir, services, printer, timeline and the transactions it saw."""

    def __init__(self, root: Path, frames: int, out: Path, services: Services) -> None:
        self.root, self.frames, self.out, self.services = root, frames, out, services
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


def _logs(nodes: list[NodeAgent]) -> str:
    return "".join(f"\n{n.name} ({n.log}):\n{log_tail(n.log)}" for n in nodes)


async def follow_verification(demo: _Demo, api: Any, stack: Any, job_id: int, chunks: list[list[int]],
                              checker: NodeAgent, nodes: list[NodeAgent], rendered: asyncio.Event) -> list[dict[str, Any]]:  # fmt: skip
    """Print each attestation of the job as the mirror shows it (its task's frames, the checker node, the
    transaction) until every task has a passing attestation and every frame is verified at the API; answers
    the job's attestations. Runs beside the render watch; times out ``VERIFY_TIMEOUT_S`` after ``rendered``."""
    printed: set[str] = set()
    deadline: float | None = None
    while True:
        stack.check()
        for node in nodes:
            if not node.alive():
                raise DemoError(f"{node.name} exited (code {node.proc and node.proc.poll()}):{_logs([node])}")
        events = (await api.get(f"/jobs/{job_id}/trail"))["events"]
        attested = [e for e in events if e["event"] == "attested"]
        for e in attested:
            if e["txn_hash"] in printed:
                continue
            printed.add(e["txn_hash"])
            seq, verdict = int(e["task_id"]), "verified" if e["pass"] else "FAILED verification (requeued)"
            for frame in chunks[seq - 1]:
                demo.step(f"frame {frame} {verdict} by checker node {e['node_id']} (task {seq}, tx {e['txn_hash']},"
                          f" v{e['txn_version']})")  # fmt: skip
        passed = {int(e["task_id"]) for e in attested if e["pass"]}
        frames = (await api.get(f"/jobs/{job_id}"))["frames"]
        if passed >= set(range(1, len(chunks) + 1)) and all(f["state"] == "verified" for f in frames):
            return attested
        for f in frames:  # an unsure verdict sends nothing on chain: only the API knows it
            if f["state"] != "verifying":
                continue
            seen = (await api.get(f"/jobs/{job_id}/frames/{f['frame']}/verification"))["verifications"]
            for v in seen:
                if v["verdict"] == "unsure":
                    reasons = ((v["frame"] or {}).get("evidence") or {}).get("reasons")
                    raise DemoError(f"frame {f['frame']}: checker node {v['checker_node_id']} is unsure ({reasons});"
                                    " a checker of a second operator would decide, and the demo runs one")  # fmt: skip
        if rendered.is_set():
            deadline = deadline or time.monotonic() + VERIFY_TIMEOUT_S
            if time.monotonic() > deadline:
                states = {f["frame"]: f["state"] for f in frames}
                raise DemoError(f"not every frame verified by the checker in {VERIFY_TIMEOUT_S} s: {states}"
                                + _logs([checker]))  # fmt: skip
        await asyncio.sleep(0.5)


async def accept_and_close(demo: _Demo, chain: Any, api: Any, creator: Any, job: Any, n_tasks: int,
                           frames: list[int]) -> tuple[Any, Any]:  # fmt: skip
    """The creator's review: accepts every frame at the API and every verified task on chain
    (``escrow::accept_task`` pays worker, checker and treasury; a task settled at quorum, with no review window,
    needs nothing), then closes the job; answers the close transaction and its ``JobClosed``."""
    for frame in frames:
        await api.post(f"/jobs/{job.job_id}/frames/{frame}/accept")
    pay = chain.payloads
    for seq in range(1, n_tasks + 1):
        state = (await chain.views.task(job.chain_job_id, seq)).state
        if state == TASK_VERIFIED:
            await demo.send(chain, f"escrow::accept_task task {seq}", "creator", creator,
                            pay.escrow_accept_task(job.chain_job_id, seq))  # fmt: skip
        elif state != TASK_SETTLED:
            raise DemoError(f"task {seq} is in chain state {state}, neither verified nor settled")
    close = await demo.send(chain, "escrow::close_job", "creator", creator, pay.escrow_close_job(job.chain_job_id))
    closed = close.event(JobClosed)
    demo.step(f"creator accepted {len(frames)} frames and {n_tasks} tasks, closed the job (refund"
              f" {_fmt(closed.refund_credit + closed.refund_balance)} PICTOR)")  # fmt: skip
    return close, closed


def credit_points(engine: Any, settings: Any, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One rewards credit pass (``rewards.sources.credit_sources``); per participant its points and why
    (credited and withheld ledger lines)."""
    credit_sources(engine, settings)
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for name, address in names.items():
            credited = conn.execute(select(points_ledger.c.points, points_ledger.c.reason)
                                    .where(points_ledger.c.address == address)
                                    .order_by(points_ledger.c.entry_id)).all()  # fmt: skip
            withheld = conn.execute(select(points_withheld.c.reason).where(points_withheld.c.address == address)
                                    .order_by(points_withheld.c.created_at)).scalars().all()  # fmt: skip
            out[name] = {"address": address, "points": total_points(conn, address),
                         "credited": [f"+{r.points} {r.reason}" for r in credited], "withheld": list(withheld)}  # fmt: skip
    return out


async def _run(demo: _Demo) -> dict[str, Any]:  # noqa: C901, PLR0915 - one linear walk-through
    root, services, n = demo.root, demo.services, demo.frames
    stack = await start_stack(root, services, step=demo.step)
    chain = stack.chain()
    nodes: list[NodeAgent] = []
    try:
        keys = load_role_keys(stack.keys_dir)
        split = await chain.views.fee_split()

        # ------------------------------------------------------------------ two worker nodes and a checker node
        roles = [*((f"worker-{i}", "worker") for i in range(1, WORKERS + 1)), ("checker", "checker")]
        nodes = list(await asyncio.gather(*(
            provision_node(chain, keys, stack.api_url, root / name, name, role, demo.record)
            for name, role in roles)))  # fmt: skip
        workers = [node for node in nodes if not isinstance(node, CheckerNode)]
        (checker,) = (node for node in nodes if isinstance(node, CheckerNode))
        for node in nodes:
            pid = node.start()
            services.add(node.name, node.stop)
            demo.step(f"{node.name}: operator {node.operator_address[:12]}… staked, `pictor {node.role} init`"
                      f" registered node {node.node_id}; `pictor {node.role} run` started (pid {pid}, log {node.log})")  # fmt: skip
        by_node = {w.node_id: w.name for w in workers}

        # ------------------------------------------------------------------ the creator, through its client's code
        key_file = root / "creator" / "wallet.key"
        creator = create_wallet(key_file)
        address = account_address(creator)
        for r in await fund_wallet(chain, creator, FUND):
            demo.record("faucet: APT, token::faucet", "creator", r)
        demo.record("vault::deposit", "creator", await deposit(chain, creator, DEPOSIT))
        demo.step(f"creator wallet {key_file} ({address[:12]}…): {_fmt(FUND)} PICTOR from the faucet,"
                  f" {_fmt(DEPOSIT)} deposited into the vault")  # fmt: skip
        async with CreatorApi(stack.api_url) as api:
            await ensure_session(api, creator, key_file)
            demo.step("creator signed in with Aptos (AIP-116 message signed by the wallet key)")
            blend = await asyncio.to_thread(generate_scene, root / "scene" / "demo.blend", SceneSpec(
                frame_start=1, frame_end=n, resolution_x=160, resolution_y=120, samples=16))  # fmt: skip
            demo.step(f"generated an animated scene of {n} frames: {blend} ({blend.stat().st_size:,} bytes)")
            settings = job_settings(f"1-{n}" if n > 1 else "1", engine="cycles", device="CPU", samples=16,
                                       resolution="160x120", chunk=max(1, math.ceil(n / (2 * WORKERS))))  # fmt: skip
            settings.update(denoising=False, adaptive_sampling=False)  # fast, deterministic CPU frames
            chunks = parse_job_spec(settings).chunks()  # task seq i (the escrow's task id) = chunk i
            job = await submit_job(api, chain, creator, blend, settings, budget=BUDGET,
                                      echo=lambda s: print(f"  {s}", flush=True))  # fmt: skip
            demo.record("escrow::open_job", "creator", job.opened)
            demo.step(f"job {job.job_id} paid: escrow {job.chain_job_id} opened with {_fmt(job.budget)} PICTOR"
                      f" (transaction {job.opened.hash})")  # fmt: skip

            # -------------------------------------------------------------- live progress (SSE) and attestations
            seen: list[str] = []

            def show(status: dict[str, Any]) -> None:
                line = status_line(status)
                if not seen or seen[-1] != line:
                    seen.append(line)
                    demo.step(line)

            rendered = asyncio.Event()
            watching = asyncio.create_task(watch_job(api, job.job_id, show, timeout_s=300))
            verifying = asyncio.create_task(
                follow_verification(demo, api, stack, job.job_id, chunks, checker, nodes, rendered)
            )
            try:  # a failure of either (a checker that is unsure, a node that died) ends the wait at once
                await asyncio.wait((watching, verifying), return_when=asyncio.FIRST_COMPLETED)
                if verifying.done():
                    verifying.result()
                code, words = watch_outcome(await watching)
                if code:
                    raise DemoError(words + _logs(nodes))
                demo.step(f"{words}; the checker node verifies and attests each task on chain")
                rendered.set()
                attested = await verifying
            finally:
                for task in (watching, verifying):
                    task.cancel()
            infos = [await chain.views.task(job.chain_job_id, seq) for seq in range(1, len(chunks) + 1)]
            demo.step(f"every frame verified: {len(chunks)} tasks attested on chain by checker node {checker.node_id}")
            for seq, (info, frames) in enumerate(zip(infos, chunks, strict=True), 1):
                print(f"  task {seq}: frames {frames} rendered by {by_node.get(info.node_id, '?')}"
                      f" (node {info.node_id}, attempt {info.attempt}), verified by checker node {checker.node_id}")  # fmt: skip
            for node in nodes:
                node.stop()
            demo.step("worker and checker nodes stopped (SIGTERM)")

            # -------------------------------------------------------------- download (the client's code)
            written = await download_frames(api, job.job_id, demo.out)
            demo.step(f"downloaded {len(written)} frames to {demo.out}")
            detail = await api.get(f"/jobs/{job.job_id}")
            print("\nframes (from GET /jobs/{id}):")
            for f in detail["frames"]:
                print(f"  frame {f['frame']:>3}  {f['state']:<10} {f['width']}x{f['height']}"
                      f"  render {float(f['render_seconds']):.2f}s  sha256 {str(f['sha256'])[:16]}…")  # fmt: skip
            verified = [f for f in detail["frames"] if f["state"] == "verified"]
            print(f"rendered frames: {len(verified)}/{n} by {WORKERS} worker nodes, verified by checker node"
                  f" {checker.node_id}")  # fmt: skip

            # -------------------------------------------------------------- the creator accepts and closes
            close, closed = await accept_and_close(demo, chain, api, creator, job, len(chunks),
                                                   [f["frame"] for f in detail["frames"]])  # fmt: skip

            # -------------------------------------------------------------- the mirror catches up
            end = (await chain.ledger_info()).ledger_version
            deadline = time.monotonic() + 60
            while True:
                stack.check()
                escrow = await api.http.get(f"/audit/jobs/{job.chain_job_id}")
                escrow_row = escrow.json() if escrow.status_code == 200 else {}
                if escrow_row.get("closed") and int(escrow_row["last_version"]) <= end:
                    break
                if time.monotonic() > deadline:
                    raise DemoError(f"the indexer did not mirror the closed job: {escrow.text[:300]}")
                await asyncio.sleep(0.3)
            trail = await api.get(f"/jobs/{job.job_id}/trail")
        events = trail["events"]
        attested = [e for e in events if e["event"] == "attested"]
        settlements = [e for e in events if e["event"] == "settled"]

        # ------------------------------------------------------------------ the on-chain trail (from the mirror)
        print(
            f"\non-chain trail of job {job.job_id} (escrow {job.chain_job_id}), from the mirror (GET /jobs/{{id}}/trail):"
        )
        print(f"  escrow opened   v{job.opened.version:<6} {job.opened.hash}  budget {_fmt(job.budget)} PICTOR"
              f" from the creator's vault")  # fmt: skip
        for e in attested:
            print(f"  task {e['task_id']} attested v{e['txn_version']:<6} {e['txn_hash']}  {'pass' if e['pass'] else 'FAIL'}"
                  f" by checker node {e['node_id']} (operator {e['operator'][:12]}…)")  # fmt: skip
        for s in settlements:
            print(f"  task {s['task_id']} settled v{s['txn_version']:<6} {s['txn_hash']}  charge {_fmt(int(s['charge']))}:"
                  f" worker {_fmt(int(s['worker_amount']))} ({by_node.get(int(s['node_id']), '?')}), checker"
                  f" {_fmt(int(s['checker_amount']))}, treasury {_fmt(int(s['treasury_amount']))}")  # fmt: skip
        refund = int(closed.refund_credit) + int(closed.refund_balance)
        print(f"  refund at close v{close.version:<6} {close.hash}  {_fmt(refund)} PICTOR back to the creator's vault")
        print(f"  escrow in the mirror (/audit/jobs/{job.chain_job_id}): budget {_fmt(int(escrow_row['budget']))},"
              f" spent {_fmt(int(escrow_row['spent']))}, closed {escrow_row['closed']}")  # fmt: skip
        print("\nevery transaction of the demo (the worker and checker nodes' own are in the trail above):")
        for version, txn_hash, sender, step in sorted(demo.txns):
            print(f"  v{version:<6} {txn_hash}  {sender:<17} {step}")

        # ------------------------------------------------------------------ conservation
        charge = sum(int(s["charge"]) for s in settlements)
        worker_amt = sum(int(s["worker_amount"]) for s in settlements)
        checker_amt = sum(int(s["checker_amount"]) * len(s["checkers"]) for s in settlements)
        treasury_amt = sum(int(s["treasury_amount"]) for s in settlements)
        views = chain.views
        names = {
            "creator": address,
            **{f"{node.name} operator": node.operator_address for node in nodes},
            "treasury": account_address(keys.treasury),
        }
        vaults = {name: await views.vault_account(a) for name, a in names.items()}
        supply = await views.token_supply()
        accounts = [*names.values(), account_address(keys.admin), account_address(keys.coordinator),
                    *(node.node_address for node in nodes)]  # fmt: skip
        wallets = sum([await views.token_balance(a) for a in dict.fromkeys(accounts)])
        stores = [await chain.fungible_store_balance(object_address(chain.package_address, seed))
                  for seed in MODULE_STORE_SEEDS.values()]  # fmt: skip
        escrow_stores = 0
        for j in range(1, await views.next_job_id()):
            escrow_stores += await chain.fungible_store_balance(await views.job_store(j))
        held = wallets + sum(stores) + escrow_stores
        operators = sum(vaults[f"{w.name} operator"].balance for w in workers)
        per_worker = {w.name: sum(int(s["worker_amount"]) for s in settlements
                                  if by_node.get(int(s["node_id"])) == w.name) for w in workers}  # fmt: skip
        checks = {
            "the checker node attested every task, passing": {int(e["task_id"]) for e in attested
                if e["pass"] and int(e["node_id"]) == checker.node_id} == set(range(1, len(chunks) + 1)),
            "the checker's operator is neither worker's": checker.operator_address not in
                {w.operator_address for w in workers},
            "one settlement per task, naming the checker's operator": sorted(int(s["task_id"]) for s in settlements)
                == list(range(1, len(chunks) + 1)) and all(s["checkers"] == [checker.operator_address]
                                                           for s in settlements),
            f"worker share = {split.worker_bps / 100:g}% of each charge":
                worker_amt == sum(int(s["charge"]) * split.worker_bps // 10_000 for s in settlements),
            "worker + checker + treasury = charged": worker_amt + checker_amt + treasury_amt == charge,
            "refund = budget - charged": refund == job.budget - charge,
            "creator vault = deposit - charged": vaults["creator"].credit + vaults["creator"].balance
                == DEPOSIT - charge,
            "each worker operator vault = its node's worker share": all(
                vaults[f"{w.name} operator"].balance == per_worker[w.name] for w in workers),
            "worker operator vaults = worker share": operators == worker_amt,
            "checker operator vault = checker share": vaults["checker operator"].balance == checker_amt > 0,
            "treasury vault = treasury share": vaults["treasury"].balance == treasury_amt,
            "every escrow store empty after close": escrow_stores == 0,
            "supply = wallets + vault + escrow + staking + rewards stores": supply == held,
        }  # fmt: skip

        # ------------------------------------------------------------------ points (rewards), no window waited for
        points = await asyncio.to_thread(credit_points, stack.engine, stack.settings,
                                         {k: v for k, v in names.items() if k != "treasury"})  # fmt: skip
    finally:
        for node in nodes:
            if node.alive():
                node.stop()
        await stop_indexer(stack)
        await chain.close()

    print("\nsettlement:")
    print(f"  charged {_fmt(charge)} PICTOR for {n} frames: worker {_fmt(worker_amt)} ({split.worker_bps / 100:g}%),"
          f" checker {_fmt(checker_amt)} ({split.checker_bps / 100:g}%), treasury {_fmt(treasury_amt)} (rest);"
          f" creator refund {_fmt(refund)} of the {_fmt(job.budget)} budget  (base units: charged {charge} ="
          f" {worker_amt} + {checker_amt} + {treasury_amt})")  # fmt: skip
    print("final vault balances (PICTOR):")
    for name, v in vaults.items():
        print(f"  {name:<18} {names[name]}  balance {_fmt(v.balance):>14}  credit {_fmt(v.credit)}")
    print(f"  supply {_fmt(supply)} = held {_fmt(held)} (wallets {_fmt(wallets)}, module stores"
          f" {_fmt(sum(stores))}, escrows {_fmt(escrow_stores)})")  # fmt: skip
    for text, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    conserved = all(checks.values())
    print(f"conservation: {'holds' if conserved else 'BROKEN'}")

    print("\npoints (one rewards.sources.credit_sources pass; online time counts only for closed UTC days):")
    for name, p in points.items():
        print(f"  {name:<18} {p['points']:>4} points")
        for line in p["credited"]:
            print(f"      {line}")
        if p["withheld"]:
            print(f"      withheld {len(p['withheld'])}: {p['withheld'][0]}")

    print("\ntimeline:")
    for at, text in demo.timeline:
        print(f"  {at:6.1f}s  {text}")
    print(f"\nframes: {demo.out}; data dir {root}")
    summary = {
        "frames": n, "verified": len(verified), "conserved": conserved, "checks": checks,
        "nodes": {node.name: {"role": node.role, "pid": node.proc.pid if node.proc else None, "node_id": node.node_id,
                              "operator": node.operator_address, "node_address": node.node_address} for node in nodes},
        "creator": address, "attestations": attested, "settlements": settlements,
        "refund": {"txn_hash": close.hash, "amount": str(refund)}, "points": points,
    }  # fmt: skip
    (root / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    if not conserved:
        raise DemoError("a money check failed (see above)")
    return summary


async def _main_async(demo: _Demo) -> dict[str, Any]:
    try:
        return await _run(demo)
    finally:
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0)


def main(data_dir: Path | None = None, frames: int = 8, out: Path = Path("out")) -> int:
    """``pictor up --demo``: 0 when every frame rendered and every money check held; 1 (2: bad options) otherwise."""
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
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        print(f"demo failed: --out {out} is not a folder", file=sys.stderr)
        return 2
    services = Services()
    demo = _Demo(root, frames, out, services)
    print(
        f"Pictor demo: {frames} frames, {WORKERS} worker nodes and a checker node, data dir {root}, frames to {out}",
        flush=True,
    )
    try:
        asyncio.run(_main_async(demo))
    except KeyboardInterrupt:
        print("\ndemo interrupted; stopping everything it started", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for any failure, then clean up
        kind = "" if isinstance(exc, DemoError | StackError | CreatorError) else f"{type(exc).__name__}: "
        print(f"\ndemo failed: {kind}{exc}", file=sys.stderr)
        return 1
    finally:
        services.stop_all()
        if data_dir is None:  # a temporary dir keeps the logs and chain; the stopped database goes
            shutil.rmtree(root / "postgres", ignore_errors=True)
    print(f"demo finished in {time.monotonic() - demo.t0:.0f}s")
    return 0
