"""``/jobs``: estimate, create (escrow payload to sign), link the on-chain escrow, status, events, cancel,
review and downloads. A creator sees and changes only their own jobs (404 otherwise).

Lifecycle: ``awaiting_escrow`` → (the indexer shows the creator's ``JobOpened`` in the named transaction)
``active`` ⇄ ``paused`` (the escrow cannot cover the next task's quote / topped up) → ``completed``; or
``cancelled`` at any time: queued tasks stop, leased ones are told on their next heartbeat, and the
**coordinator** closes the escrow on chain (``close_job`` through the outbox), refunding the rest to the
creator's vault — the creator signs nothing more.

Prices: ``settings.tier_prices`` (base units per reference-GPU-minute per pricing tier). A task's estimate is
its frames × reference seconds per frame (from a pre-test frame's measured time × the measuring node's
multiplier when given, else from the scene: ``ref_seconds_per_frame`` scaled by pixels, samples and engine).
"""

from __future__ import annotations

import asyncio
import heapq
import io
import json
import math
import os
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, insert, select, update
from starlette.concurrency import run_in_threadpool

from api import scheduler
from api.audit import get_engine
from api.auth import CurrentUser, get_app_settings
from api.node_tasks import stream_blob
from api.uploads import get_blob_store
from chain.payloads import PictorPayloads
from indexer import schema as mirror
from pictor.settings import Settings
from protocol.frames import format_frame_spec
from protocol.render_spec import JobSpec, JobSpecError, RenderEngine, parse_job_spec
from tables.jobs import frames, jobs, node_status, tasks
from tables.uploads import uploads

router = APIRouter(prefix="/jobs", tags=["jobs"])

ENGINE_FACTOR = {RenderEngine.CYCLES: 1.0, RenderEngine.EEVEE: 0.1, RenderEngine.WORKBENCH: 0.02}
REFERENCE_PIXELS, REFERENCE_SAMPLES = 1920 * 1080, 128
TERMINAL = ("completed", "cancelled")
REVIEWABLE = ("rendered", "verified")
MEDIA = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "OPEN_EXR": "image/x-exr"}


class Pretest(BaseModel):
    """A pre-test frame's measured render time and the multiplier of the node that rendered it."""

    render_seconds: Annotated[float, Field(gt=0, le=86_400)]
    multiplier: Annotated[float, Field(gt=0, le=1000)] = 1.0


class EstimateBody(BaseModel):
    """What to estimate."""

    upload_id: str
    settings: dict[str, Any]
    pretest: Pretest | None = None


EB = TypeVar("EB", bound=EstimateBody)


class CreateBody(EstimateBody):
    """A job to create; ``budget`` (base units) defaults to the estimate's quoted total."""

    budget: Annotated[int | None, Field(ge=1, le=2**64 - 1)] = None
    priority: Annotated[int, Field(ge=0, le=100)] = 50


class EscrowBody(BaseModel):
    """The hash of the creator's ``open_job`` transaction."""

    txn_hash: Annotated[str, Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$")]


def _settings_error(exc: JobSpecError) -> JSONResponse:
    problems = [{"field": f, "message": m} for f, m in exc.problems]
    return JSONResponse({"detail": str(exc), "problems": problems}, status_code=422)


def _owned_upload(conn: Any, upload_id: str, user: str) -> Any:
    row = conn.execute(select(uploads).where(uploads.c.upload_id == upload_id, uploads.c.owner == user)).first()
    if row is None:
        raise HTTPException(404, "no such upload")
    return row


# ----------------------------------------------------------------------------- estimates


def ref_seconds_per_frame(cfg: JobSpec, scene: dict[str, Any] | None, settings: Settings,
                          pretest: Pretest | None) -> tuple[float, str]:
    """Reference-GPU seconds of one frame, and where the figure came from."""
    if pretest is not None:
        return pretest.render_seconds * pretest.multiplier, "pretest"
    width, height = cfg.output_size
    samples = cfg.samples
    source = "settings"
    if samples is None and scene:
        summaries = [s for s in scene.get("scenes") or [] if isinstance(s, dict)]
        chosen = next((s for s in summaries if s.get("name") == cfg.scene), None) or \
            next((s for s in summaries if s.get("active")), None) or (summaries[0] if summaries else None)
        if chosen and chosen.get("samples"):
            samples, source = int(chosen["samples"]), "scene"
    samples = samples or REFERENCE_SAMPLES
    factor = (width * height / REFERENCE_PIXELS) * (samples / REFERENCE_SAMPLES) * ENGINE_FACTOR[cfg.engine]
    return max(0.05, settings.ref_seconds_per_frame * factor), source


def online_nodes(conn: Any, cfg: JobSpec, settings: Settings) -> list[Any]:
    """Nodes heard from within ``node_online_s`` that match the job."""
    since = scheduler.utcnow() - timedelta(seconds=settings.node_online_s)
    rows = conn.execute(select(node_status).where(node_status.c.last_seen >= since)
                        .order_by(node_status.c.node_id).limit(2000)).all()
    return [r for r in rows if scheduler.mismatch(cfg, scheduler.node_facts(r.telemetry, r.operator), settings) is None]


def estimate(conn: Any, cfg: JobSpec, scene: dict[str, Any] | None, settings: Settings,
             pretest: Pretest | None) -> dict[str, Any]:
    """Cost range, ETA and the task distribution plan over the matching online workers."""
    per_frame, source = ref_seconds_per_frame(cfg, scene, settings, pretest)
    chunks = cfg.chunks()
    price = scheduler.tier_price(settings, cfg.pricing_tier)
    minutes = [len(c) * per_frame / 60 for c in chunks]
    expected = sum(math.ceil(price * m) for m in minutes)
    quoted = sum(scheduler.task_quote(settings, price, 1.0, m) for m in minutes)
    spread = (0.8, 1.25) if source == "pretest" else (0.5, 2.0)
    nodes = online_nodes(conn, cfg, settings)
    plan: list[dict[str, Any]] = []
    eta = None
    if nodes:
        # Greedy list scheduling: each task (in order) to the node that would finish it first.
        heap = [(0.0, i) for i in range(len(nodes))]
        given: dict[int, list[int]] = {}
        for t, chunk_minutes in enumerate(minutes):
            done, i = heapq.heappop(heap)
            facts = scheduler.node_facts(nodes[i].telemetry, nodes[i].operator)
            finish = done + chunk_minutes * 60 / facts.multiplier
            given.setdefault(i, []).append(t)
            heapq.heappush(heap, (finish, i))
        eta = max(f for f, _ in heap)
        groups: dict[tuple[str, float], dict[str, Any]] = {}
        for i, task_indexes in given.items():
            facts = scheduler.node_facts(nodes[i].telemetry, nodes[i].operator)
            model = facts.gpu_models[0] if facts.gpu_models else (nodes[i].telemetry.get("cpu") or {}).get("model", "cpu")
            key = (str(model), round(facts.multiplier, 2))
            group = groups.setdefault(key, {"hardware": key[0], "multiplier": key[1], "nodes": 0, "tasks": 0,
                                            "frames": []})
            group["nodes"] += 1
            group["tasks"] += len(task_indexes)
            group["frames"].extend(f for t in task_indexes for f in chunks[t])
        for group in groups.values():
            group["frames"] = format_frame_spec(group["frames"])
            plan.append(group)
    return {
        "frames": sum(len(c) for c in chunks),
        "tasks": len(chunks),
        "frames_per_task": cfg.frames_per_node,
        "tier": cfg.pricing_tier.value,
        "price_per_minute": str(price),
        "ref_seconds_per_frame": round(per_frame, 3),
        "basis": source,
        "ref_minutes": round(sum(minutes), 3),
        "cost": {"low": str(math.floor(expected * spread[0])), "expected": str(expected),
                 "high": str(max(quoted, math.ceil(expected * spread[1])))},
        "quoted_total": str(quoted),
        "matching_workers": len(nodes),
        "eta_seconds": None if eta is None else round(eta, 1),
        "plan": plan,
    }


def _prepare(engine: Engine, body: EstimateBody, user: str, settings: Settings) -> tuple[Any, JobSpec,
                                                                                         dict[str, Any]]:
    cfg = parse_job_spec(body.settings)
    with engine.connect() as conn:
        upload = _owned_upload(conn, body.upload_id, user)
        return upload, cfg, estimate(conn, cfg, upload.scene, settings, body.pretest)


#: One pre-test render at a time per API process (each is a Blender process with every core).
_PRETESTS = threading.Semaphore(1)


def _scene_samples(cfg: JobSpec, scene: dict[str, Any] | None) -> int | None:
    """The inspected scene's samples for the job's scene (used when the settings keep the .blend's own)."""
    summaries = [s for s in (scene or {}).get("scenes") or [] if isinstance(s, dict)]
    chosen = next((s for s in summaries if s.get("name") == cfg.scene), None) or \
        next((s for s in summaries if s.get("active")), None) or (summaries[0] if summaries else None)
    return int(chosen["samples"]) if chosen and chosen.get("samples") else None


async def pretest_render(request: Request, body: EB, user: str) -> tuple[EB, dict[str, Any]]:
    """When the settings name a pre-test frame (and the body brings no measured ``pretest``): render it reduced
    in a Blender subprocess (blender/pretest.py), cached per (scene sha256, settings hash), and put the
    scaled time × this host's CPU multiplier in ``pretest``. A failed render leaves the scene-based estimate."""
    if body.pretest is not None:
        return body, {}
    try:
        cfg = parse_job_spec(body.settings)
    except JobSpecError:
        return body, {}  # the estimate itself answers the 422
    if cfg.pretest_frame is None:
        return body, {}
    from api.uploads import _blend_for_inspection  # noqa: PLC0415 - the upload's .blend, as inspection finds it
    from blender import RenderError  # noqa: PLC0415
    from blender.benchmark import performance_multiplier  # noqa: PLC0415 - Blender tooling, loaded on use
    from blender.pretest import PretestResult, render_pretest, settings_hash  # noqa: PLC0415

    engine, settings, store = get_engine(request), get_app_settings(request), get_blob_store(request)

    def owned() -> Any:
        with engine.connect() as conn:
            return _owned_upload(conn, body.upload_id, user)

    row = await run_in_threadpool(owned)
    cache = store.scratch_dir("pretest") / f"{row.blob_sha256}-{settings_hash(cfg)}.json"

    def run() -> tuple[dict[str, Any] | None, str | None, bool]:
        if cache.exists():
            return json.loads(cache.read_text()), None, True
        with _PRETESTS, tempfile.TemporaryDirectory(dir=store.scratch_dir("pretest")) as tmp:
            if cache.exists():  # rendered by the request we waited for
                return json.loads(cache.read_text()), None, True
            try:
                blend = _blend_for_inspection(store, row, settings, Path(tmp))
                result = render_pretest(
                    blend, cfg, timeout_s=min(cfg.timeouts.analysis_timeout_s, settings.pretest_timeout_s),
                    max_pixels=settings.pretest_max_pixels, max_samples=settings.pretest_max_samples,
                    scene_samples=_scene_samples(cfg, row.scene), work_dir=tmp,
                )  # fmt: skip
                bench = performance_multiplier(cache_dir=store.scratch_dir("benchmark"), device="CPU")
            except (RenderError, OSError, HTTPException) as exc:
                detail = exc.detail if isinstance(exc, HTTPException) else (exc.args[0] if exc.args else exc)
                return None, f"{type(exc).__name__}: {detail}"[:1000], False
            data = {**result.to_dict(), "multiplier": bench.multiplier}
            part = cache.with_suffix(".tmp")
            part.write_text(json.dumps(data))
            os.replace(part, cache)
            return data, None, False

    data, error, cached = await run_in_threadpool(run)
    if data is None:
        return body, {"pretest_render": {"frame": cfg.pretest_frame, "error": error}}
    result = PretestResult.from_dict({k: v for k, v in data.items() if k != "multiplier"})
    pretest = Pretest(render_seconds=min(max(result.estimated_seconds, 0.001), 86_400.0),
                      multiplier=min(max(float(data["multiplier"]), 0.001), 1000.0))
    return body.model_copy(update={"pretest": pretest}), {"pretest_render": {**data, "cached": cached}}


@router.post("/estimate", summary="Cost range, ETA and task distribution plan of a job")
async def estimate_job(body: EstimateBody, request: Request, user: CurrentUser) -> Any:
    """422 with ``problems`` (field, message) for bad settings; 404 for an upload that is not the caller's."""
    body, rendered = await pretest_render(request, body, user)
    try:
        _, _, result = await run_in_threadpool(_prepare, get_engine(request), body, user, get_app_settings(request))
    except JobSpecError as exc:
        return _settings_error(exc)
    return {**result, **rendered}


def open_job_payload(settings: Settings, budget: int, price: int) -> dict[str, Any]:
    """The unsigned ``escrow::open_job`` entry-function payload (wallet JSON form), built with chain.payloads."""
    payloads = PictorPayloads(settings.package_address)
    payloads.escrow_open_job(budget, price)  # validates the arguments as the chain will
    return {"type": "entry_function_payload", "function": payloads.function_id("escrow", "open_job"),
            "type_arguments": [], "arguments": [str(budget), str(price)]}


def _create(engine: Engine, body: CreateBody, user: str, settings: Settings) -> dict[str, Any]:
    cfg = parse_job_spec(body.settings)
    now = scheduler.utcnow()
    with engine.begin() as conn:
        upload = _owned_upload(conn, body.upload_id, user)
        est = estimate(conn, cfg, upload.scene, settings, body.pretest)
        price = int(est["price_per_minute"])
        budget = body.budget or int(est["quoted_total"])
        payload = open_job_payload(settings, budget, price)
        job_id = conn.execute(insert(jobs).values(
            owner=user, upload_id=upload.upload_id, settings=cfg.model_dump(mode="json"), state="awaiting_escrow",
            priority=body.priority, price_per_minute=price, budget=budget, estimate=est, version=1,
            created_at=now, updated_at=now).returning(jobs.c.job_id)).scalar_one()
        # the unrounded figure the quote used: the rounded one in `est` can quote a task above the budget
        per_frame, _ = ref_seconds_per_frame(cfg, upload.scene, settings, body.pretest)
        per_frame_min = per_frame / 60
        chunks = cfg.chunks()
        task_ids = conn.execute(insert(tasks).returning(tasks.c.task_id, tasks.c.seq), [
            {"job_id": job_id, "seq": i + 1, "frames": chunk, "state": "queued", "priority": 0, "attempt": 0,
             "ref_minutes": len(chunk) * per_frame_min, "updated_at": now} for i, chunk in enumerate(chunks)]).all()
        by_seq = {seq: task_id for task_id, seq in task_ids}
        conn.execute(insert(frames), [
            {"job_id": job_id, "frame": f, "task_id": by_seq[i + 1], "state": "queued", "updated_at": now}
            for i, chunk in enumerate(chunks) for f in chunk])
    return {"job_id": job_id, "state": "awaiting_escrow", "budget": str(budget), "price_per_minute": str(price),
            "estimate": est, "escrow_payload": payload,
            "next": f"sign escrow_payload with the creator's wallet, then POST /jobs/{job_id}/escrow {{txn_hash}}"}


@router.post("", status_code=201, summary="Create a job; answers the escrow transaction to sign")
async def create_job(body: CreateBody, request: Request, user: CurrentUser) -> Any:
    """Validates every setting (422 with ``problems``), creates the job, its tasks and frames in one transaction."""
    body, _ = await pretest_render(request, body, user)  # the same (cached) pre-test figure as the estimate
    try:
        return await run_in_threadpool(_create, get_engine(request), body, user, get_app_settings(request))
    except JobSpecError as exc:
        return _settings_error(exc)


# ----------------------------------------------------------------------------- reading a job


def _job(conn: Any, job_id: int, user: str, *, lock: bool = False) -> Any:
    query = select(jobs).where(jobs.c.job_id == job_id, jobs.c.owner == user)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise HTTPException(404, "no such job")
    return row


def refresh_pending(engine: Engine, settings: Settings) -> int:
    """Refresh every job waiting for its escrow or paused (the scheduler's background task); how many."""
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.job_id, jobs.c.owner).where(
            ((jobs.c.state == "awaiting_escrow") & jobs.c.escrow_txn_hash.is_not(None)) | (jobs.c.state == "paused"))
            .order_by(jobs.c.job_id).limit(500)).all()
    for row in rows:
        try:
            refresh(engine, row.job_id, row.owner, settings)
        except HTTPException:
            continue  # a bad link stays for the creator to see on read
    return len(rows)


def refresh(engine: Engine, job_id: int, user: str, settings: Settings | None = None) -> None:
    """Link the escrow once the indexer shows it; resume a paused job its escrow covers again."""
    with engine.begin() as conn:
        job = _job(conn, job_id, user, lock=True)
        if job.state == "awaiting_escrow" and job.escrow_txn_hash:
            opened = conn.execute(
                select(mirror.jobs).join(mirror.escrow_ledger, mirror.escrow_ledger.c.job_id == mirror.jobs.c.job_id)
                .where(mirror.escrow_ledger.c.txn_hash == job.escrow_txn_hash, mirror.escrow_ledger.c.kind == "open")
            ).first()
            if opened is None:
                return
            if opened.creator != user:
                raise HTTPException(409, "that transaction opened an escrow of another account")
            if int(opened.price_per_minute) != int(job.price_per_minute):
                raise HTTPException(409, f"that escrow's price per minute is {opened.price_per_minute}, "
                                         f"the job's is {job.price_per_minute}; sign the payload the API gave")
            taken = conn.execute(select(jobs.c.job_id).where(jobs.c.chain_job_id == opened.job_id)).first()
            if taken is not None:
                raise HTTPException(409, f"escrow {opened.job_id} is already linked to job {taken.job_id}")
            scheduler.bump(conn, job_id, state="active", chain_job_id=opened.job_id)
        elif job.state == "paused" and job.chain_job_id is not None:
            nxt = conn.execute(select(tasks.c.ref_minutes).where(tasks.c.job_id == job_id, tasks.c.state == "queued")
                               .order_by(tasks.c.priority.desc(), tasks.c.seq).limit(1)).scalar_one_or_none()
            available = scheduler.escrow_available(conn, job_id, int(job.chain_job_id))
            if nxt is not None and available is not None:
                from pictor.settings import get_settings

                quote = scheduler.task_quote(settings or get_settings(), int(job.price_per_minute), 1.0, nxt)
                if available >= quote:
                    scheduler.bump(conn, job_id, state="active", pause_reason=None)


def _escrow(conn: Any, job: Any) -> dict[str, Any] | None:
    if job.chain_job_id is None:
        return None
    row = conn.execute(select(mirror.jobs).where(mirror.jobs.c.job_id == job.chain_job_id)).first()
    if row is None:
        return {"chain_job_id": str(job.chain_job_id)}
    return {"chain_job_id": str(job.chain_job_id), "budget": str(row.budget), "spent": str(row.spent),
            "reserved": str(row.reserved), "available": str(int(row.budget) - int(row.spent) - int(row.reserved)),
            "closed": row.closed}


def summary(conn: Any, job: Any) -> dict[str, Any]:
    """A job without its frames."""
    counts = dict(conn.execute(select(frames.c.state, func.count()).where(frames.c.job_id == job.job_id)
                               .group_by(frames.c.state)).all())
    return {"job_id": job.job_id, "state": job.state, "pause_reason": job.pause_reason, "upload_id": job.upload_id,
            "priority": job.priority, "budget": str(job.budget), "price_per_minute": str(job.price_per_minute),
            "escrow_txn_hash": job.escrow_txn_hash, "escrow": _escrow(conn, job), "version": job.version,
            "frame_counts": counts, "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat()}


def _detail(engine: Engine, job_id: int, user: str, settings: Settings | None = None) -> dict[str, Any]:
    refresh(engine, job_id, user, settings)
    with engine.connect() as conn:
        job = _job(conn, job_id, user)
        rows = conn.execute(select(frames).where(frames.c.job_id == job_id).order_by(frames.c.frame)).all()
        out = summary(conn, job)
    out["settings"], out["estimate"] = job.settings, job.estimate
    out["frames"] = [{"frame": r.frame, "state": r.state, "task_id": r.task_id, "sha256": r.sha256,
                      "render_seconds": r.render_seconds, "width": r.width, "height": r.height} for r in rows]
    return out


@router.get("/{job_id}", summary="A job and the status of every frame")
async def get_job(job_id: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Polls the mirror for the escrow on read; 404 for someone else's job."""
    return await run_in_threadpool(_detail, get_engine(request), job_id, user, get_app_settings(request))


@router.get("", summary="The caller's jobs, newest first (cursor: ``before``)")
async def list_jobs(request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    before: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    """``next`` is the ``before`` of the next page (None at the end)."""
    engine = get_engine(request)

    def load() -> dict[str, Any]:
        with engine.connect() as conn:
            query = select(jobs).where(jobs.c.owner == user)
            if before is not None:
                query = query.where(jobs.c.job_id < before)
            rows = conn.execute(query.order_by(jobs.c.job_id.desc()).limit(limit + 1)).all()
            items = [summary(conn, r) for r in rows[:limit]]
        return {"items": items, "next": rows[limit - 1].job_id if len(rows) > limit else None}

    return await run_in_threadpool(load)


@router.post("/{job_id}/escrow", summary="Link the on-chain escrow opened by the creator's transaction")
async def link_escrow(job_id: int, body: EscrowBody, request: Request, user: CurrentUser) -> Any:
    """200 ``active`` once the indexer shows the creator's ``JobOpened`` in that transaction; 202 until then."""
    txn_hash = "0x" + body.txn_hash.lower().removeprefix("0x")
    engine = get_engine(request)

    def record() -> None:
        with engine.begin() as conn:
            job = _job(conn, job_id, user, lock=True)
            if job.state != "awaiting_escrow":
                raise HTTPException(409, f"the job is {job.state}; its escrow is already linked")
            conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(escrow_txn_hash=txn_hash))
        refresh(engine, job_id, user)

    await run_in_threadpool(record)
    detail = await run_in_threadpool(_detail, engine, job_id, user)
    detail.pop("frames")
    return JSONResponse(detail, status_code=200 if detail["state"] != "awaiting_escrow" else 202)


@router.post("/{job_id}/cancel", summary="Cancel a job; the coordinator closes its escrow (refund)")
async def cancel_job(job_id: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Queued tasks stop now; rendering workers see ``cancel`` on their next heartbeat (seconds)."""
    engine = get_engine(request)

    def run() -> dict[str, Any]:
        now = scheduler.utcnow()
        with engine.begin() as conn:
            job = _job(conn, job_id, user, lock=True)
            if job.state in TERMINAL:
                raise HTTPException(409, f"the job is already {job.state}")
            conn.execute(update(tasks).where(tasks.c.job_id == job_id, tasks.c.state == "queued")
                         .values(state="cancelled", updated_at=now))
            scheduler.bump(conn, job_id, state="cancelled", pause_reason=None)
            if job.chain_job_id is not None:
                scheduler.queue_close(conn, job_id, int(job.chain_job_id))
        return {"job_id": job_id, "state": "cancelled",
                "escrow": "the coordinator closes the escrow; the rest returns to your vault" if job.chain_job_id
                else "no escrow was opened"}

    return await run_in_threadpool(run)


# ----------------------------------------------------------------------------- events


def _version(engine: Engine, job_id: int, user: str) -> tuple[int, str]:
    with engine.connect() as conn:
        job = _job(conn, job_id, user)
        return int(job.version), job.state


@router.get("/{job_id}/events", summary="Server-sent events of the job's status changes")
async def job_events(job_id: int, request: Request, user: CurrentUser,
                     timeout: Annotated[float, Query(gt=0, le=3600)] = 300,
                     interval: Annotated[float, Query(ge=0.1, le=10)] = 0.5) -> StreamingResponse:
    """One ``status`` event now and one per change (polls the job's version); ends at a terminal state or timeout."""
    engine = get_engine(request)
    await run_in_threadpool(_version, engine, job_id, user)  # 404 before the stream starts

    async def stream() -> Any:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        seen = -1
        while True:
            version, state = await run_in_threadpool(_version, engine, job_id, user)
            if version != seen:
                seen = version
                detail = await run_in_threadpool(_detail, engine, job_id, user)
                body = {k: detail[k] for k in ("job_id", "state", "version", "frame_counts", "pause_reason")}
                body["frames"] = [{"frame": f["frame"], "state": f["state"]} for f in detail["frames"]]
                yield f"id: {version}\nevent: status\ndata: {json.dumps(body)}\n\n"
            if state in TERMINAL or loop.time() >= end or await request.is_disconnected():
                yield "event: end\ndata: {}\n\n"
                return
            await asyncio.sleep(interval)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# ----------------------------------------------------------------------------- review


def _review(engine: Engine, job_id: int, frame: int, user: str, settings: Settings, accept: bool) -> dict[str, Any]:
    now = scheduler.utcnow()
    with engine.begin() as conn:
        job = _job(conn, job_id, user, lock=True)
        row = conn.execute(select(frames).where(frames.c.job_id == job_id, frames.c.frame == frame)
                           .with_for_update()).first()
        if row is None:
            raise HTTPException(404, f"frame {frame} is not part of job {job_id}")
        if row.state not in REVIEWABLE:
            raise HTTPException(409, f"frame {frame} is {row.state}; only rendered or verified frames are reviewed")
        if row.rendered_at is not None and now > row.rendered_at + timedelta(seconds=settings.review_window_s):
            raise HTTPException(409, f"the review window of frame {frame} has ended")
        if accept:
            conn.execute(update(frames).where(frames.c.job_id == job_id, frames.c.frame == frame)
                         .values(state="accepted", updated_at=now))
            scheduler.bump(conn, job_id)
            return {"frame": frame, "state": "accepted"}
        if job.state == "cancelled":
            raise HTTPException(409, "the job is cancelled; nothing is re-rendered")
        seq = conn.execute(select(func.max(tasks.c.seq)).where(tasks.c.job_id == job_id)).scalar_one() + 1
        old = conn.execute(select(tasks.c.ref_minutes, tasks.c.frames, tasks.c.node_id, tasks.c.excluded_nodes)
                           .where(tasks.c.task_id == row.task_id)).one()
        # the re-render goes to another worker than the one whose frame was rejected
        excluded = sorted({*old.excluded_nodes, *([old.node_id] if old.node_id is not None else [])})
        task_id = conn.execute(insert(tasks).values(
            job_id=job_id, seq=seq, frames=[frame], state="queued", priority=10, attempt=0, excluded_nodes=excluded,
            ref_minutes=old.ref_minutes / max(1, len(old.frames)), updated_at=now).returning(tasks.c.task_id)
        ).scalar_one()
        conn.execute(update(frames).where(frames.c.job_id == job_id, frames.c.frame == frame)
                     .values(state="rejected", task_id=task_id, updated_at=now))
        scheduler.bump(conn, job_id, state="active" if job.state == "completed" else job.state)
        return {"frame": frame, "state": "rejected", "rerender_task_id": task_id}


@router.post("/{job_id}/frames/{frame}/accept", summary="Accept a rendered frame (inside the review window)")
async def accept_frame(job_id: int, frame: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    """409 outside the review window or for a frame not rendered yet."""
    return await run_in_threadpool(_review, get_engine(request), job_id, frame, user, get_app_settings(request), True)


@router.post("/{job_id}/frames/{frame}/reject", summary="Reject a rendered frame: it is rendered again")
async def reject_frame(job_id: int, frame: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    """A new one-frame task is queued at a higher priority; a frame verified on chain inside its review window
    also gets the ``escrow::dispute_task`` payload to sign (api/verification.py: another checker decides)."""
    from api.verification import dispute_offer  # noqa: PLC0415 - api.verification imports this module's neighbours

    offer = await run_in_threadpool(dispute_offer, get_engine(request), job_id, frame, user, get_app_settings(request))
    rejected = await run_in_threadpool(_review, get_engine(request), job_id, frame, user, get_app_settings(request),
                                       False)
    return {**rejected, **offer}


# ----------------------------------------------------------------------------- downloads


def _rendered(engine: Engine, job_id: int, user: str, frame: int | None = None) -> list[Any]:
    with engine.connect() as conn:
        _job(conn, job_id, user)
        query = select(frames).where(frames.c.job_id == job_id, frames.c.sha256.is_not(None),
                                     frames.c.state.not_in(("queued", "assigned", "rendering", "failed")))
        if frame is not None:
            query = query.where(frames.c.frame == frame)
        return conn.execute(query.order_by(frames.c.frame)).all()


def _format(row: Any, settings_format: str) -> str:
    return (row.format or settings_format or "PNG").upper()


@router.get("/{job_id}/frames/{frame}", summary="A rendered frame's image")
async def download_frame(job_id: int, frame: int, request: Request, user: CurrentUser) -> StreamingResponse:
    """The image as the worker uploaded it (404 until it is rendered)."""
    engine = get_engine(request)
    rows = await run_in_threadpool(_rendered, engine, job_id, user, frame)
    if not rows:
        raise HTTPException(404, f"frame {frame} is not rendered")
    fmt = _format(rows[0], "PNG")
    ext = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "OPEN_EXR": "exr"}.get(fmt, "bin")
    return stream_blob(get_blob_store(request), rows[0].sha256, MEDIA.get(fmt, "application/octet-stream"),
                       {"Content-Disposition": f'attachment; filename="frame_{frame:06d}.{ext}"'})


@router.get("/{job_id}/frames/{frame}/thumbnail", summary="A small JPEG of a rendered frame")
async def thumbnail(job_id: int, frame: int, request: Request, user: CurrentUser,
                    size: Annotated[int, Query(ge=16, le=1024)] = 256) -> Response:
    """Fits ``size``×``size``; 415 for a format Pillow cannot read (OpenEXR)."""
    engine = get_engine(request)
    rows = await run_in_threadpool(_rendered, engine, job_id, user, frame)
    if not rows:
        raise HTTPException(404, f"frame {frame} is not rendered")
    store = get_blob_store(request)

    def make() -> bytes:
        from PIL import Image, UnidentifiedImageError

        try:
            with store.open(rows[0].sha256) as handle, Image.open(handle) as image:
                image.thumbnail((size, size))
                out = io.BytesIO()
                image.convert("RGB").save(out, "JPEG", quality=85)
                return out.getvalue()
        except (UnidentifiedImageError, OSError):
            raise HTTPException(415, "no thumbnail for this image format; download the frame") from None

    return Response(await run_in_threadpool(make), media_type="image/jpeg")


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are taken out as they come (streamed zip)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


@router.get("/{job_id}/frames.zip", summary="A zip of every rendered frame, streamed")
async def download_zip(job_id: int, request: Request, user: CurrentUser) -> StreamingResponse:
    """Frames are stored (not recompressed: images are compressed already)."""
    engine = get_engine(request)
    rows = await run_in_threadpool(_rendered, engine, job_id, user)
    store = get_blob_store(request)

    def chunks() -> Iterator[bytes]:
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for row in rows:
                fmt = _format(row, "PNG")
                ext = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "OPEN_EXR": "exr"}.get(fmt, "bin")
                with store.open(row.sha256) as handle, archive.open(f"frame_{row.frame:06d}.{ext}", "w") as member:
                    while chunk := handle.read(1024 * 1024):
                        member.write(chunk)
                        yield sink.take()
                yield sink.take()
        yield sink.take()

    return StreamingResponse(chunks(), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="job_{job_id}_frames.zip"'})
