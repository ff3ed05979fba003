"""A job's pre-test frame: rendered reduced in Blender once per scene and settings, its time scaled to the frame."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.jobs.estimate import EB, Pretest, owned_upload
from api.uploads import blend_for_inspection
from blender import RenderError
from blender.benchmark import performance_multiplier
from blender.pretest import PretestResult, render_pretest, settings_hash
from pictor.blobs import BlobStore
from pictor.settings import Settings
from protocol.render_spec import JobSpec, JobSpecError, parse_job_spec

#: One pre-test render at a time per API process (each is a Blender process with every core).
_PRETESTS = threading.Semaphore(1)


def _scene_samples(cfg: JobSpec, scene: dict[str, Any] | None) -> int | None:
    """The inspected scene's samples for the job's scene (used when the settings keep the .blend's own)."""
    summaries = [s for s in (scene or {}).get("scenes") or [] if isinstance(s, dict)]
    chosen = next((s for s in summaries if s.get("name") == cfg.scene), None) or \
        next((s for s in summaries if s.get("active")), None) or (summaries[0] if summaries else None)
    return int(chosen["samples"]) if chosen and chosen.get("samples") else None


async def pretest_render(
    engine: Engine, store: BlobStore, settings: Settings, body: EB, user: str
) -> tuple[EB, dict[str, Any]]:
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
    def owned() -> Any:
        with engine.connect() as conn:
            return owned_upload(conn, body.upload_id, user)

    row = await run_in_threadpool(owned)
    cache = store.scratch_dir("pretest") / f"{row.blob_sha256}-{settings_hash(cfg)}.json"

    def run() -> tuple[dict[str, Any] | None, str | None, bool]:
        if cache.exists():
            return json.loads(cache.read_text()), None, True
        with _PRETESTS, tempfile.TemporaryDirectory(dir=store.scratch_dir("pretest")) as tmp:
            if cache.exists():  # rendered by the request we waited for
                return json.loads(cache.read_text()), None, True
            try:
                blend = blend_for_inspection(store, row, settings, Path(tmp))
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
