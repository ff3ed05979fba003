"""Estimates: a job's reference seconds per frame, its cost range, ETA and task distribution plan."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from api import scheduler
from chain.constants import U64_MAX
from pictor.settings import Settings
from protocol.frames import format_frame_spec
from protocol.render_spec import JobSpec, RenderEngine, parse_job_spec
from tables.jobs import node_status
from tables.uploads import uploads


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

    budget: Annotated[int | None, Field(ge=1, le=U64_MAX)] = None
    priority: Annotated[int, Field(ge=0, le=100)] = 50




ENGINE_FACTOR = {RenderEngine.CYCLES: 1.0, RenderEngine.EEVEE: 0.1, RenderEngine.WORKBENCH: 0.02}


REFERENCE_PIXELS, REFERENCE_SAMPLES = 1920 * 1080, 128


def owned_upload(conn: Any, upload_id: str, user: str) -> Any:
    row = conn.execute(select(uploads).where(uploads.c.upload_id == upload_id, uploads.c.owner == user)).first()
    if row is None:
        raise HTTPException(404, "no such upload")
    return row


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
    # Tasks of one size cost the same: price each size once (exact rationals are slow per task of 100,000).
    sizes = Counter(minutes)
    expected = sum(n * math.ceil(price * m) for m, n in sizes.items())
    quoted = sum(n * scheduler.task_quote(settings, price, 1.0, m) for m, n in sizes.items())
    spread = (0.8, 1.25) if source == "pretest" else (0.5, 2.0)
    nodes = online_nodes(conn, cfg, settings)
    plan: list[dict[str, Any]] = []
    eta = None
    if nodes:
        # Greedy list scheduling: each task (in order) to the node that would finish it first.
        heap = [(0.0, i) for i in range(len(nodes))]
        given: dict[int, list[int]] = {}
        speed = [scheduler.node_facts(n.telemetry, n.operator).multiplier for n in nodes]
        for t, chunk_minutes in enumerate(minutes):
            done, i = heapq.heappop(heap)
            finish = done + chunk_minutes * 60 / speed[i]
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


def prepare_estimate(engine: Engine, body: EstimateBody, user: str, settings: Settings) -> tuple[Any, JobSpec,
                                                                                         dict[str, Any]]:
    cfg = parse_job_spec(body.settings)
    with engine.connect() as conn:
        upload = owned_upload(conn, body.upload_id, user)
        return upload, cfg, estimate(conn, cfg, upload.scene, settings, body.pretest)
