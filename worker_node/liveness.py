"""Liveness answers: render a heartbeat's challenge (NODE_API.md, "Liveness renders") and post the PNG."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from blender import RenderError
from blender.liveness import render_liveness
from protocol.client import ApiUnavailable, NodeApi, response_detail
from protocol.liveness import LivenessChallenge

log = logging.getLogger("pictor.worker")


async def answer_liveness(
    api: NodeApi,
    challenge: LivenessChallenge,
    work_root: Path,
    *,
    threads: int | None,
    env: dict[str, str],
    stopping: asyncio.Event,
) -> dict[str, Any] | None:
    """Render the challenge (in a thread: heartbeats go on) and post the PNG to ``/nodes/liveness/{id}``; the
    API's answer, or None when the render failed or the API refused or stayed unreachable until ``stopping``."""
    workdir = work_root / f"liveness-{challenge.check_id}"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        try:
            png = await asyncio.to_thread(render_liveness, challenge, workdir, threads=threads, env=env)
        except (RenderError, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            log.error("liveness check %s: the render failed: %s", challenge.check_id, exc)
            return None  # the check then fails at its deadline; a render of real work passes it too
        response = await api.call(
            "POST",
            f"/nodes/liveness/{challenge.check_id}",
            content=png,
            headers={"Content-Type": "image/png"},
            give_up=stopping.is_set,
            wake=stopping,
        )
        if response.status_code == 200:
            answer: dict[str, Any] = response.json()
            log.info("liveness check %s: %s", challenge.check_id, answer.get("status"))
            return answer
        log.warning(
            "liveness check %s refused: HTTP %s %s", challenge.check_id, response.status_code, response_detail(response)
        )
    except ApiUnavailable as exc:
        log.warning("liveness check %s: %s", challenge.check_id, exc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return None
