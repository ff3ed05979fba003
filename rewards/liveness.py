"""Liveness renders: the challenge a node's heartbeat answer carries, and the check of the node's answer.

A pending check (``api.liveness_checks``, asked by :func:`rewards.sources.request_liveness_checks`) is turned
into a challenge at the node's next heartbeat: a server-side random seed and frame, stored with the check (its
``challenge`` column; settling records the verdict in ``reason`` and the metrics in ``evidence``).
The node generates the tiny scene the seed stands for (:func:`blender.liveness.liveness_scene`), renders it
in its Blender subprocess and posts the PNG; the API renders the same scene itself (cached by challenge,
bounded concurrency, off the event loop) and compares with the checker's metrics, then settles the check
with :func:`rewards.sources.record_liveness_result`.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Engine, select, update

from blender.liveness import render_liveness
from pictor.settings import Settings
from protocol.liveness import LIVENESS_FRAMES, LivenessChallenge
from rewards.sources import record_liveness_result
from tables.points import liveness_checks

#: The challenge's size: a couple of seconds on one CPU core, Blender's start included.
LIVENESS_WIDTH = 64
LIVENESS_HEIGHT = 48
LIVENESS_SAMPLES = 4
#: Largest answer body (a 64×48 RGBA PNG is a few KiB).
LIVENESS_MAX_BYTES = 1024 * 1024
#: An answer passes when SSIM and PSNR against the API's reference (display RGB, checker metrics) reach these.
#: The same Blender on a CPU renders the same pixels (measured: identical, PSNR inf); another seed's scene
#: (other cube angle, other objects, other noise) scores far below (measured in tests/rewards/test_liveness_*).
LIVENESS_MIN_SSIM = 0.90
LIVENESS_MIN_PSNR_DB = 30.0
#: Reference renders kept in memory (each a few KiB).
REFERENCE_CACHE_SIZE = 256


class LivenessError(Exception):
    """An answer refused before it is judged (HTTP status and a message); the check is unchanged."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ----------------------------------------------------------------------------- challenges


def _stored_challenge(check: Any) -> dict[str, Any] | None:
    """The challenge issued for a check (None when none was issued yet)."""
    return check.challenge if isinstance(check.challenge, dict) else None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def issue_challenge(engine: Engine, node_id: int, now: datetime) -> dict[str, Any] | None:
    """The challenge of the node's open check (issued now with a fresh random seed if it has none); None when
    the node has no pending check before its deadline."""
    with engine.begin() as conn:
        check = conn.execute(
            select(liveness_checks)
            .where(
                liveness_checks.c.node_id == node_id,
                liveness_checks.c.status == "pending",
                liveness_checks.c.deadline > now,
            )
            .order_by(liveness_checks.c.check_id)
            .limit(1)
            .with_for_update()
        ).first()
        if check is None:
            return None
        stored = _stored_challenge(check)
        if stored is None:
            stored = {
                "seed": secrets.randbelow(2**31),  # unpredictable: the image cannot be prepared in advance
                "frame": 1 + secrets.randbelow(LIVENESS_FRAMES),
                "width": LIVENESS_WIDTH,
                "height": LIVENESS_HEIGHT,
                "samples": LIVENESS_SAMPLES,
                "issued_at": _iso(now),
            }
            conn.execute(
                update(liveness_checks)
                .where(liveness_checks.c.check_id == check.check_id)
                .values(challenge=stored)
            )
    return {
        "check_id": int(check.check_id),
        "seed": stored["seed"],
        "width": stored["width"],
        "height": stored["height"],
        "samples": stored["samples"],
        "frame": stored["frame"],
        "deadline": _iso(check.deadline),
    }


# ----------------------------------------------------------------------------- reference renders


class ReferenceRenderer:
    """The API's own renders of challenges: in a Blender subprocess with a timeout, at most ``concurrency`` at
    once, cached by challenge (one render per challenge even when answers race)."""

    def __init__(self, settings: Settings) -> None:
        self.timeout_s = float(settings.rewards_liveness_render_timeout_s)
        self.wait_s = float(settings.rewards_liveness_render_wait_s)
        self._slots = threading.BoundedSemaphore(settings.rewards_liveness_renders)
        self._cache: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._locks: dict[tuple[int, ...], threading.Lock] = {}
        self._guard = threading.Lock()
        self.renders = 0  # how many were rendered (not served from the cache)

    def reference(self, challenge: LivenessChallenge) -> bytes:
        """The reference PNG of ``challenge`` (LivenessError 503 when no render slot frees up in time)."""
        key = (challenge.seed, challenge.frame, challenge.width, challenge.height, challenge.samples)
        with self._guard:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a second answer for the same challenge waits for the first render instead of repeating it
            with self._guard:
                if key in self._cache:
                    return self._cache[key]
            if not self._slots.acquire(timeout=self.wait_s):
                raise LivenessError(503, "the API is busy rendering other liveness references; send the answer again")
            try:
                with tempfile.TemporaryDirectory(prefix="pictor-liveness-") as workdir:
                    png = render_liveness(challenge, workdir, timeout_s=self.timeout_s)
                self.renders += 1
            finally:
                self._slots.release()
            with self._guard:
                self._cache[key] = png
                while len(self._cache) > REFERENCE_CACHE_SIZE:
                    self._cache.popitem(last=False)
                self._locks.pop(key, None)
            return png


# ----------------------------------------------------------------------------- answers


@dataclass
class Verdict:
    """Whether an answer matches its challenge, why, and the numbers behind it."""

    passed: bool
    reason: str
    evidence: dict[str, Any]


def _png_size(body: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR (read before decoding, so a huge image is refused cheaply)."""
    if len(body) < 24 or not body.startswith(b"\x89PNG\r\n\x1a\n") or body[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", body[16:24])
    return int(width), int(height)


def judge(body: bytes, challenge: LivenessChallenge, reference: Any) -> Verdict:
    """Compare an answer with the challenge's reference: decodes, dimensions, not blank, SSIM and PSNR.

    ``reference`` is a callable giving the reference PNG; it is called only when the cheap checks pass."""
    from blender.compare import (  # noqa: PLC0415 - lazy: scikit-image loads only when an answer is judged, not with every API process
        ExpectedFrame,
        WholeFrameConfig,
        compare_crops,
        whole_frame_checks,
    )

    digest = hashlib.sha256(body).hexdigest()
    evidence: dict[str, Any] = {"sha256": digest, "bytes": len(body)}
    size = _png_size(body)
    if size is None:
        return Verdict(False, "the answer is not a PNG image", evidence)
    if size != (challenge.width, challenge.height):
        evidence["size"] = list(size)
        return Verdict(
            False, f"the answer is {size[0]}×{size[1]}, the challenge {challenge.width}×{challenge.height}", evidence
        )
    expected = ExpectedFrame("PNG", 8, challenge.width, challenge.height, digest)
    with tempfile.TemporaryDirectory(prefix="pictor-liveness-") as workdir:
        answer_path = Path(workdir) / "answer.png"
        answer_path.write_bytes(body)
        checks, frame, _print = whole_frame_checks(
            answer_path, expected, [], WholeFrameConfig(duplicate_policy="ignore")
        )
        evidence["checks"] = {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}
        failed = [c for c in checks if not c.ok]
        if failed or frame is None:
            return Verdict(False, "; ".join(f"{c.name}: {c.detail}" for c in failed), evidence)
        ref_path = Path(workdir) / "reference.png"
        ref_path.write_bytes(reference())
        _checks, ref_frame, _ = whole_frame_checks(
            ref_path,
            ExpectedFrame(
                "PNG", 8, challenge.width, challenge.height, hashlib.sha256(ref_path.read_bytes()).hexdigest()
            ),
            [],
            WholeFrameConfig(duplicate_policy="ignore"),
        )
    if ref_frame is None:  # cannot happen with a working Blender; never blame the node for it
        raise LivenessError(503, "the API's reference render could not be decoded; send the answer again")
    metrics = compare_crops(frame.pixels, ref_frame.pixels)
    evidence["metrics"] = metrics.to_dict()
    evidence["thresholds"] = {"min_ssim": LIVENESS_MIN_SSIM, "min_psnr_db": LIVENESS_MIN_PSNR_DB}
    psnr = "inf" if metrics.psnr_db == float("inf") else f"{metrics.psnr_db:.1f}"
    summary = f"SSIM {metrics.ssim:.4f} (minimum {LIVENESS_MIN_SSIM}), PSNR {psnr} dB (minimum {LIVENESS_MIN_PSNR_DB})"
    if metrics.ssim >= LIVENESS_MIN_SSIM and metrics.psnr_db >= LIVENESS_MIN_PSNR_DB:
        return Verdict(True, f"the liveness render matches the reference: {summary}", evidence)
    return Verdict(False, f"the liveness render does not match the reference: {summary}", evidence)


def _load_check(engine: Engine, node_id: int, check_id: int) -> tuple[Any, LivenessChallenge]:
    """The node's pending check and its challenge; LivenessError 404 / 409 otherwise."""
    with engine.connect() as conn:
        check = conn.execute(select(liveness_checks).where(liveness_checks.c.check_id == check_id)).first()
    if check is None or check.node_id != node_id:
        # Another node's check looks exactly like a missing one: ids say nothing about other nodes.
        raise LivenessError(404, f"this node has no liveness check {check_id}")
    if check.status != "pending":
        raise LivenessError(409, f"liveness check {check_id} is already settled ({check.status})")
    stored = _stored_challenge(check)
    if stored is None:
        raise LivenessError(409, f"liveness check {check_id} has no challenge yet; it comes with a node heartbeat")
    challenge = LivenessChallenge(
        check_id=int(check.check_id),
        seed=int(stored["seed"]),
        width=int(stored["width"]),
        height=int(stored["height"]),
        samples=int(stored["samples"]),
        frame=int(stored["frame"]),
        deadline=_iso(check.deadline),
    )
    return check, challenge


def answer_check(
    engine: Engine, renderer: ReferenceRenderer, node_id: int, check_id: int, body: bytes, now: datetime
) -> dict[str, Any]:
    """Judge a node's answer to its check and settle the check (blocking: call it from a thread).

    LivenessError (4xx/503, nothing changed) when the answer cannot be taken; otherwise the settled check:
    late, undecodable, blank, wrong-sized or non-matching answers fail it."""
    if len(body) > LIVENESS_MAX_BYTES:
        raise LivenessError(413, f"a liveness answer is limited to {LIVENESS_MAX_BYTES} bytes")
    if not body:
        raise LivenessError(400, "the answer is empty: send the rendered PNG as the request body")
    check, challenge = _load_check(engine, node_id, check_id)
    if now > check.deadline:
        verdict = Verdict(
            False,
            f"liveness render answered at {_iso(now)}, after the check's deadline {_iso(check.deadline)}",
            {"answered_at": _iso(now)},
        )
    else:
        verdict = judge(body, challenge, lambda: renderer.reference(challenge))
    challenge_data = {k: getattr(challenge, k) for k in ("seed", "frame", "width", "height", "samples")}
    evidence = {"challenge": challenge_data, **verdict.evidence}
    if not record_liveness_result(engine, check_id, verdict.passed, verdict.reason, now, evidence=evidence):
        raise LivenessError(409, f"liveness check {check_id} was settled meanwhile")
    return {
        "check_id": check_id,
        "status": "passed" if verdict.passed else "failed",
        "reason": verdict.reason,
        "evidence": verdict.evidence,
    }


def get_renderer(state: Any, settings: Settings) -> ReferenceRenderer:
    """The app's reference renderer (one per app, made on first use)."""
    renderer = getattr(state, "liveness_renderer", None)
    if renderer is None:
        renderer = state.liveness_renderer = ReferenceRenderer(settings)
    return renderer


async def answer_check_async(
    state: Any, settings: Settings, engine: Engine, node_id: int, check_id: int, body: bytes, now: datetime
) -> dict[str, Any]:
    """:func:`answer_check` off the event loop, at most ``rewards_liveness_renders`` answers in threads at once.

    Answers queue on the event loop, not in worker threads, so a burst of answers cannot take the thread pool
    the other endpoints need; LivenessError 503 when no slot frees up within ``rewards_liveness_render_wait_s``."""
    renderer = get_renderer(state, settings)
    limiter = getattr(state, "liveness_limiter", None)
    if limiter is None:
        limiter = state.liveness_limiter = anyio.CapacityLimiter(settings.rewards_liveness_renders)
    acquired = False
    with anyio.move_on_after(settings.rewards_liveness_render_wait_s):
        await limiter.acquire()
        acquired = True
    if not acquired:
        raise LivenessError(503, "the API is busy judging other liveness answers; send the answer again")
    try:
        return await anyio.to_thread.run_sync(answer_check, engine, renderer, node_id, check_id, body, now)
    finally:
        limiter.release()
