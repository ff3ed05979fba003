"""The worker agent: heartbeats, claims, downloads, renders, uploads, signs, completes (asyncio).

One task at a time, as NODE_API.md describes it:

1. On start: telemetry (NVML, CPU facts) and the performance multiplier (the benchmark, cached per
   hardware in ``cache_dir``). Node heartbeats then run every ``heartbeat_s`` with the telemetry, the
   multiplier and the online time, and pick up ``cancel_tasks``.
2. ``POST /nodes/claim``; 204 → wait ``poll_s``.
3. The scene comes from the content-addressed cache (:mod:`protocol.scene_cache`), downloaded only when
   missing and refused unless its bytes hash to the lease's sha256.
4. The chunk's frames render in one :class:`RenderSession` (one Blender process for the chunk), in a
   thread so the event loop keeps heartbeating. The job's ``stop_after_s`` kills a frame that runs over
   (the task fails with the log tail); ``alert_after_s`` is logged.
5. Each finished frame is uploaded at once (with its sha256) while the next one renders; upload errors
   back off and retry, the file stays on disk until the task is over, so no finished frame is lost to a
   network outage (the lease is, if the outage outlasts it: the server then answers 409).
6. Task heartbeats every ``task_heartbeat_s``: ``cancel`` (or the task in a node heartbeat's
   ``cancel_tasks``) or 409 (lease gone) kills Blender at once; nothing more is sent for that task.
7. The manifest (job, task, attempt, frames with sha256, render seconds, size and format, device, node
   address) is signed with the node key over its canonical JSON
   (``json.dumps(manifest, sort_keys=True, separators=(",", ":"))``) and sent to ``complete``.
8. ``escrow::submit_result(chain_job_id, chain_task_id, …)`` from the node account (the escrow's ids, which
   the lease carries next to the API's own ``job_id``/``task_id``; a lease without them is not submitted),
   once the coordinator's ``assign_task`` is visible on chain, with ``result_hash = sha256(canonical manifest JSON)``
   and ``reference_ms = round(Σ render_seconds × 1000 × performance multiplier)``: the time the reference
   node (multiplier 1.0) would have needed, which is what the escrow charges per reference-GPU-minute.
   The node account pays the gas: the operator funds it (nothing here funds anything). A failed
   submission is logged; the API already holds the signed result.

Liveness: a node heartbeat's answer may carry a ``liveness`` challenge (NODE_API.md, "Liveness renders"); the
agent renders its tiny scene once (:func:`render_liveness`, a RenderSession in a thread) and posts the PNG to
``POST /nodes/liveness/{check_id}``.

Failures: a Blender error or crash fails the task (``/fail`` with the message and the log tail) and the
agent carries on with the next claim. SIGTERM (or SIGINT): Blender finishes the frame it is rendering; that
frame is uploaded; if it was the chunk's last the task completes, otherwise the lease is given back
(``POST /nodes/tasks/{id}/release``, which does not count towards the job's blocklist; ``/fail`` with a
"released:" message on an API without it), then the agent exits 0. A second signal kills the render at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aptos_sdk.account import Account

from blender import (
    FrameResult,
    RenderCancelled,
    RenderError,
    RenderFailed,
    RenderSession,
    RenderSettingsError,
    RenderStopped,
    RenderTimeout,
)
from blender.scenegen import SceneSpec, generate_scene
from chain.errors import ChainError
from chain.keys import account_address, load_key_file
from pictor.settings import get_settings
from protocol.manifest import reference_ms, result_hash, sign_manifest
from protocol.render_spec import Device, JobSpec, JobSpecError, RenderParams, parse_job_spec
from protocol.scene_cache import SceneCache, SceneCacheError, SceneRef
from protocol.signing import NodeAuth
from protocol.telemetry import NodeTelemetry, collect_telemetry
from worker_node.config import WorkerConfig

log = logging.getLogger("pictor.worker")

AGENT_VERSION = "pictor-worker/0.1.0"
#: Marks a ``/fail`` that only gives the lease back (shutdown, on an API without ``/release``), not a render failure.
RELEASE_PREFIX = "released:"


# ----------------------------------------------------------------------------- manifest


# ----------------------------------------------------------------------------- liveness renders

#: The largest liveness challenge a node agrees to render (a bad server must not make it render a feature film).
LIVENESS_MAX_PIXELS = 256 * 256
LIVENESS_MAX_SAMPLES = 64
#: Frames of the liveness scene's animation: the challenge's frame picks the cube's angle (one turn over them).
LIVENESS_FRAMES = 360
#: Generating and rendering a liveness scene takes seconds; these bound a hang.
LIVENESS_TIMEOUT_S = 120.0


class LivenessChallengeError(ValueError):
    """A liveness challenge whose fields are missing or out of bounds."""


@dataclass(frozen=True)
class LivenessChallenge:
    """A liveness render asked in a node heartbeat's answer (see NODE_API.md, "Liveness renders")."""

    check_id: int
    seed: int
    width: int
    height: int
    samples: int
    frame: int
    deadline: str

    @classmethod
    def parse(cls, data: Any) -> LivenessChallenge:
        """Validate the heartbeat's ``liveness`` object; LivenessChallengeError when it is malformed or too big."""
        if not isinstance(data, dict):
            raise LivenessChallengeError("liveness: not an object")
        values: dict[str, int] = {}
        for name in ("check_id", "seed", "width", "height", "samples", "frame"):
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LivenessChallengeError(f"liveness.{name}: not a non-negative integer")
            values[name] = value
        if min(values["width"], values["height"]) < 1 or values["width"] * values["height"] > LIVENESS_MAX_PIXELS:
            raise LivenessChallengeError(f"liveness: {values['width']}×{values['height']} is not a small render")
        if not 1 <= values["samples"] <= LIVENESS_MAX_SAMPLES:
            raise LivenessChallengeError(f"liveness.samples: {values['samples']} is not 1..{LIVENESS_MAX_SAMPLES}")
        if not 1 <= values["frame"] <= LIVENESS_FRAMES or values["seed"] > 2**31 - 1:
            raise LivenessChallengeError("liveness: frame or seed out of range")
        return cls(deadline=str(data.get("deadline", ""))[:64], **values)


def liveness_scene(challenge: LivenessChallenge) -> tuple[SceneSpec, RenderParams]:
    """The scene spec and render settings a challenge stands for, a pure function of its fields.

    The seed picks the number of extra objects and Cycles' sampling seed, the frame the cube's angle; the API
    renders its reference from the same function, so an honest node's image matches it.
    """
    spec = SceneSpec(
        frame_start=1,
        frame_end=LIVENESS_FRAMES,
        resolution_x=challenge.width,
        resolution_y=challenge.height,
        samples=challenge.samples,
        extra_objects=challenge.seed % 7,
    )
    params = RenderParams(
        device=Device.CPU,  # the same pixels on every node: GPU kernels round differently
        resolution_x=challenge.width,
        resolution_y=challenge.height,
        resolution_percentage=100,
        samples=challenge.samples,
        seed=challenge.seed,
        denoising=False,
        adaptive_sampling=False,
        dither=0.0,
    )
    return spec, params


def render_liveness(
    challenge: LivenessChallenge,
    workdir: str | Path,
    *,
    threads: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = LIVENESS_TIMEOUT_S,
) -> bytes:
    """Generate the challenge's scene and render its frame in a RenderSession; the PNG's bytes (RenderError)."""
    workdir = Path(workdir)
    spec, params = liveness_scene(challenge)
    blend = generate_scene(workdir / "liveness.blend", spec, timeout_s=timeout_s)
    with RenderSession(
        blend,
        params,
        output_dir=workdir,
        frame_timeout_s=timeout_s,
        load_timeout_s=timeout_s,
        threads=threads,
        env=env,
        file_prefix="liveness_",
    ) as session:
        result = session.render_frame(challenge.frame)
    return result.path.read_bytes()


# ----------------------------------------------------------------------------- HTTP


class ApiUnavailable(Exception):
    """The API could not be reached (or kept answering 5xx) and the caller gave up retrying."""


class NodeApi:
    """Signed HTTP calls to the Pictor API with retry and exponential back-off on network errors and 5xx."""

    def __init__(self, base_url: str, key: Account, *, max_backoff_s: float = 30.0, timeout_s: float = 60.0) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, auth=NodeAuth(key), timeout=httpx.Timeout(timeout_s, connect=10.0)
        )
        self.max_backoff_s = max_backoff_s

    async def close(self) -> None:
        await self.http.aclose()

    async def once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One attempt (ApiUnavailable on a network error or 5xx)."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # connect/read errors, timeouts, dropped connections
            raise ApiUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ApiUnavailable(f"{method} {path}: HTTP {response.status_code}: {response.text[:200]}")
        return response

    async def call(
        self, method: str, path: str, *, give_up: Callable[[], bool], wake: asyncio.Event | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Retry until a non-5xx answer; ApiUnavailable once ``give_up()`` says so (checked between tries)."""
        delay = 0.25
        while True:
            try:
                return await self.once(method, path, **kwargs)
            except ApiUnavailable as exc:
                if give_up():
                    raise
                log.warning("%s; retrying in %.2g s", exc, delay)
            await _sleep(delay, wake)
            delay = min(delay * 2, self.max_backoff_s)

    async def stream_blob(self, sha256: str) -> AsyncIterator[bytes]:
        """The scene bytes (ApiUnavailable on network errors, SceneCacheError when refused)."""
        try:
            async with self.http.stream("GET", f"/nodes/blobs/{sha256}") as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise ApiUnavailable(f"GET /nodes/blobs/{sha256}: HTTP {response.status_code}")
                if response.status_code == 409:
                    raise LeaseLost("the API no longer leases this task to the node (409 on the scene download)")
                if response.status_code != 200:
                    await response.aread()
                    raise SceneCacheError(
                        f"the API refused the scene download: HTTP {response.status_code} {_detail(response)}"
                    )
                async for chunk in response.aiter_bytes(1 << 20):
                    yield chunk
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"GET /nodes/blobs/{sha256}: {type(exc).__name__}: {exc}") from None


def _detail(response: httpx.Response) -> str:
    """The ``detail`` of an error answer (or the start of its body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:300]


async def _sleep(seconds: float, wake: asyncio.Event | None) -> None:
    """Sleep, waking early when ``wake`` is set."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)


#: Waits between escrow::submit_result attempts while the task's on-chain assignment may still be pending.
CHAIN_RETRY_DELAYS_S = (2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0)
#: ``escrow`` task state ASSIGNED (see chain.payloads.TaskInfo).
TASK_ASSIGNED = 1


def _chain_ids(lease: dict[str, Any]) -> tuple[int, int] | None:
    """The escrow's (job id, task id) of a lease: ``chain_job_id`` and ``chain_task_id`` (None when absent)."""
    job, task = lease.get("chain_job_id"), lease.get("chain_task_id")
    if isinstance(job, str) and job.isdigit():
        job = int(job)
    if isinstance(task, str) and task.isdigit():
        task = int(task)
    if isinstance(job, bool) or isinstance(task, bool) or not isinstance(job, int) or not isinstance(task, int):
        return None
    return job, task


# ----------------------------------------------------------------------------- one task


class LeaseError(ValueError):
    """The claim answer does not follow NODE_API.md."""


class LeaseLost(Exception):
    """The lease is gone (expired, reassigned, cancelled)."""


def _int(lease: dict[str, Any], name: str) -> int:
    value = lease.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LeaseError(f"lease field {name!r} must be an integer, got {value!r}")
    return value


@dataclass
class TaskRun:
    """The state of one leased task while the agent works on it."""

    lease: dict[str, Any]
    job_id: int
    task_id: int
    attempt: int
    frames: list[int]
    workdir: Path
    session: RenderSession | None = None
    rendered: dict[int, FrameResult] = field(default_factory=dict)
    uploaded: list[int] = field(default_factory=list)
    uploads: asyncio.Queue[FrameResult | None] = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    lost: bool = False
    upload_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def from_lease(cls, lease: dict[str, Any], work_root: Path) -> TaskRun:
        job_id, task_id, attempt = _int(lease, "job_id"), _int(lease, "task_id"), _int(lease, "attempt")
        frames = lease.get("frames")
        if (
            not isinstance(frames, list)
            or not frames
            or any(isinstance(f, bool) or not isinstance(f, int) for f in frames)
        ):
            raise LeaseError(f"lease field 'frames' must be a non-empty list of frame numbers, got {frames!r}")
        return cls(lease, job_id, task_id, attempt, list(frames), work_root / f"task-{task_id}-{attempt}")

    @property
    def aborted(self) -> bool:
        """Cancelled by the API or lease lost: stop working on it and send nothing more."""
        return self.cancelled or self.lost

    def abort(self, *, lost: bool = False) -> None:
        """Mark the task aborted and kill its render now."""
        if lost:
            self.lost = True
        else:
            self.cancelled = True
        session = self.session
        if session is not None:
            session.cancel()


# ----------------------------------------------------------------------------- the agent


class WorkerAgent:
    """The render agent of one worker node (``await WorkerAgent(config).run()``)."""

    def __init__(self, config: WorkerConfig, *, key: Account | None = None) -> None:
        self.config = config
        self.key = key or load_key_file(config.key_path)
        self.address = account_address(self.key)
        self.cache = SceneCache(config.cache_dir)
        self.work_root = Path(config.cache_dir) / "work"
        self.telemetry: NodeTelemetry | None = None
        self.benchmark: Any = None
        self.multiplier: float | None = None
        self.current: TaskRun | None = None
        self.stats = {"rendered": 0, "failed": 0, "cancelled": 0, "released": 0, "lost": 0}
        self.chain_results: list[dict[str, Any]] = []
        self._stopping: asyncio.Event | None = None
        self._stop_deadline: float | None = None
        self._started_at = time.time()
        self._started_mono = time.monotonic()
        self._api: NodeApi | None = None
        self._chain: Any = None
        self._background: set[asyncio.Task[Any]] = set()
        #: Liveness checks already being answered, and the API's verdicts on them.
        self._liveness_seen: set[int] = set()
        self.liveness_results: list[dict[str, Any]] = []

    # -- control ---------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    def request_stop(self) -> None:
        """SIGTERM behaviour: finish the current frame (then complete or give the lease back) and exit."""
        if self._stopping is None:
            return
        run = self.current
        if self._stopping.is_set():
            log.warning("second stop request: killing the render now")
            if run is not None and run.session is not None:
                run.session.cancel()
            return
        log.info("stop requested: finishing the current frame, then exiting")
        self._stop_deadline = time.monotonic() + self.config.shutdown_grace_s
        self._stopping.set()
        if run is not None and run.session is not None:
            run.session.request_stop()

    def _past_grace(self) -> bool:
        return self._stop_deadline is not None and time.monotonic() > self._stop_deadline

    @property
    def api(self) -> NodeApi:
        assert self._api is not None, "the agent is not running"
        return self._api

    # -- main loop -------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped; returns the exit code (0)."""
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.request_stop)
                installed.append(signum)
        self._api = NodeApi(self.config.api_url, self.key, max_backoff_s=self.config.max_backoff_s)
        heartbeats: asyncio.Task[None] | None = None
        log.info("worker %s: node %s, API %s", self.config.worker_id, self.address, self.config.api_url)
        try:
            await self._prepare()
            heartbeats = asyncio.create_task(self._node_heartbeats())
            while not self.stopping:
                lease = await self._claim()
                if lease is None:
                    await _sleep(self.config.poll_s, self._stopping)
                    continue
                await self._run_task(lease)
        finally:
            if heartbeats is not None:
                heartbeats.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeats
            if self._background:
                await asyncio.wait(self._background, timeout=max(self.config.shutdown_grace_s, 1.0))
            for task in self._background:
                task.cancel()
            await self._api.close()
            if self._chain is not None:
                with contextlib.suppress(Exception):
                    await self._chain.close()
            for signum in installed:
                loop.remove_signal_handler(signum)
        log.info("worker stopped: %s", self.stats)
        return 0

    async def _prepare(self) -> None:
        """Telemetry and the performance multiplier (benchmark, cached per hardware in cache_dir)."""
        self.telemetry = await asyncio.to_thread(collect_telemetry)
        if not self.config.benchmark:
            return
        from blender.benchmark import performance_multiplier

        use_gpu = self.telemetry.has_gpu and self.config.gpus != []
        devices = [Device.GPU, Device.CPU] if use_gpu else [Device.CPU]
        for device in devices:
            try:
                result = await asyncio.to_thread(
                    performance_multiplier,
                    cache_dir=self.config.cache_dir,
                    device=device,
                    threads=self.config.threads,
                    telemetry=self.telemetry,
                )
            except (RenderError, OSError) as exc:
                log.warning("benchmark on %s failed: %s", device.value, exc)
                continue
            self.benchmark, self.multiplier = result, result.multiplier
            log.info(
                "performance multiplier %.3f (%s, %s)", result.multiplier, device.value,
                "cached" if result.cached else f"measured {result.seconds:.3f} s",
            )  # fmt: skip
            return
        log.warning("no performance multiplier: reference time is reported at multiplier 1.0")

    def _telemetry_payload(self, telemetry: NodeTelemetry) -> dict[str, Any]:
        data = telemetry.to_dict()
        data.update(
            {
                "worker_id": self.config.worker_id,
                "location": self.config.location.value,
                "performance_multiplier": self.multiplier,
                "benchmark": None if self.benchmark is None else {
                    "multiplier": self.benchmark.multiplier, "seconds": self.benchmark.seconds,
                    "device": self.benchmark.device, "blender": self.benchmark.blender,
                    "version": self.benchmark.version, "reference_seconds": self.benchmark.reference_seconds,
                },
                "online_seconds": round(time.monotonic() - self._started_mono, 1),
                "online_since": datetime.fromtimestamp(self._started_at, UTC).isoformat(),
                "selected_gpus": self.config.gpus,
                "busy_task": self.current.task_id if self.current else None,
            }
        )  # fmt: skip
        return data

    async def _node_heartbeats(self) -> None:
        """Every ``heartbeat_s``: telemetry up, ``cancel_tasks`` down."""
        assert self._stopping is not None
        while not self.stopping:
            try:
                telemetry = await asyncio.to_thread(collect_telemetry)
                self.telemetry = telemetry
                body = {"telemetry": self._telemetry_payload(telemetry), "version": AGENT_VERSION}
                response = await self.api.once("POST", "/nodes/heartbeat", json=body)
                if response.status_code == 200:
                    self._liveness(response.json().get("liveness"))
                    cancel = response.json().get("cancel_tasks") or []
                    run = self.current
                    if run is not None and run.task_id in cancel and not run.aborted:
                        log.info("task %s cancelled (node heartbeat)", run.task_id)
                        run.abort()
                else:
                    log.warning("node heartbeat refused: HTTP %s %s", response.status_code, _detail(response))
            except ApiUnavailable as exc:
                log.warning("node heartbeat: %s", exc)
            except Exception:  # a heartbeat must never take the agent down
                log.exception("node heartbeat failed")
            await _sleep(self.config.heartbeat_s, self._stopping)

    def _liveness(self, data: Any) -> None:
        """Start answering a heartbeat's liveness challenge in the background (each check once)."""
        if data is None:
            return
        try:
            challenge = LivenessChallenge.parse(data)
        except LivenessChallengeError as exc:
            log.warning("ignoring a liveness challenge: %s", exc)
            return
        if challenge.check_id in self._liveness_seen:
            return
        self._liveness_seen.add(challenge.check_id)
        task = asyncio.create_task(self._answer_liveness(challenge))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer_liveness(self, challenge: LivenessChallenge) -> None:
        """Render the challenge (in a thread: heartbeats go on) and post the PNG to ``/nodes/liveness/{id}``."""
        workdir = self.work_root / f"liveness-{challenge.check_id}"
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            try:
                png = await asyncio.to_thread(
                    render_liveness, challenge, workdir, threads=self.config.threads, env=self.config.render_env()
                )
            except (RenderError, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                log.error("liveness check %s: the render failed: %s", challenge.check_id, exc)
                return  # the check then fails at its deadline; a render of real work passes it too
            response = await self.api.call(
                "POST",
                f"/nodes/liveness/{challenge.check_id}",
                content=png,
                headers={"Content-Type": "image/png"},
                give_up=lambda: self.stopping,
                wake=self._stopping,
            )
            if response.status_code == 200:
                answer = response.json()
                log.info("liveness check %s: %s", challenge.check_id, answer.get("status"))
                self.liveness_results.append(answer)
            else:
                log.warning(
                    "liveness check %s refused: HTTP %s %s", challenge.check_id, response.status_code, _detail(response)
                )
        except ApiUnavailable as exc:
            log.warning("liveness check %s: %s", challenge.check_id, exc)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _claim(self) -> dict[str, Any] | None:
        body = {"max_frames": self.config.max_frames} if self.config.max_frames else {}
        try:
            response = await self.api.call(
                "POST", "/nodes/claim", json=body, give_up=lambda: self.stopping, wake=self._stopping
            )
        except ApiUnavailable:
            return None
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            log.error("claim refused: HTTP %s %s", response.status_code, _detail(response))
            return None
        try:
            lease = response.json()
        except ValueError:
            log.error("claim answer is not JSON")
            return None
        return lease if isinstance(lease, dict) else None

    # -- one task ----------------------------------------------------------------------------------

    async def _run_task(self, lease: dict[str, Any]) -> None:
        try:
            run = TaskRun.from_lease(lease, self.work_root)
        except LeaseError as exc:
            log.error("malformed lease: %s", exc)
            task_id = lease.get("task_id")
            if isinstance(task_id, int) and not isinstance(task_id, bool):
                await self._send_fail(task_id, f"malformed lease: {exc}", "")
            return
        log.info("task %s (job %s, attempt %s): frames %s", run.task_id, run.job_id, run.attempt, run.frames)
        self.current = run
        beats = asyncio.create_task(self._task_heartbeats(run))
        try:
            await self._execute(run)
        except LeaseLost as exc:
            run.lost = True
            log.warning("task %s: %s", run.task_id, exc)
        except ApiUnavailable as exc:
            log.error("task %s: gave up on the API: %s", run.task_id, exc)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
            self.current = None
            if run.lost:
                self.stats["lost"] += 1
            elif run.cancelled:
                self.stats["cancelled"] += 1
            await asyncio.to_thread(shutil.rmtree, run.workdir, True)

    async def _execute(self, run: TaskRun) -> None:
        try:
            settings = parse_job_spec(run.lease.get("settings"))
        except JobSpecError as exc:
            await self._fail(run, f"the job's render settings cannot be used here: {exc}", "")
            return
        try:
            blend = await self._scene(run)
        except SceneCacheError as exc:
            await self._fail(run, str(exc), "")
            return
        if run.aborted:
            return
        if self.stopping:
            await self._release(run)
            return
        uploader = asyncio.create_task(self._uploader(run))
        try:
            outcome, error, tail = await self._render(run, blend, settings)
        finally:
            await run.uploads.put(None)
        if run.aborted or outcome in ("failed", "cancelled"):
            uploader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await uploader
        else:
            await uploader
        if run.upload_error and not run.aborted:
            await self._fail(run, run.upload_error, "")
            return
        if run.aborted:
            log.info("task %s %s", run.task_id, "lease lost" if run.lost else "cancelled: render stopped")
            return
        if outcome == "failed":
            await self._fail(run, error, tail)
            return
        if len(run.uploaded) == len(run.frames):
            await self._complete(run, settings)
        else:  # stopped (SIGTERM) with frames left
            await self._release(run)

    async def _scene(self, run: TaskRun) -> Path:
        """The .blend to render, from the cache or downloaded (retrying network errors)."""
        scene = SceneRef.from_lease(run.lease.get("scene"))
        delay = 0.25
        while True:
            try:
                return await self.cache.get(scene, lambda: self.api.stream_blob(scene.sha256))
            except ApiUnavailable as exc:
                if run.aborted or self._past_grace() or self.stopping:
                    raise
                log.warning("scene download: %s; retrying in %.2g s", exc, delay)
            await _sleep(delay, self._stopping)
            delay = min(delay * 2, self.config.max_backoff_s)

    async def _render(self, run: TaskRun, blend: Path, settings: JobSpec) -> tuple[str, str, str]:
        """Render the chunk in one session: ``(outcome, error, log tail)``, outcome done/stopped/failed/cancelled."""
        session = RenderSession(
            blend,
            settings,
            output_dir=run.workdir,
            load_timeout_s=settings.timeouts.analysis_timeout_s,
            threads=self.config.threads,
            env=self.config.render_env(),
            on_alert=lambda frame, seconds: log.warning(
                "task %s frame %s: still rendering after %.0f s (alert threshold)", run.task_id, frame, seconds
            ),
        )
        run.session = session
        if run.aborted:
            return "cancelled", "", ""
        try:
            try:
                await asyncio.to_thread(session.start)
            except RenderError as exc:
                return self._outcome(run, exc, "loading the scene")
            for frame in run.frames:
                if run.aborted:
                    return "cancelled", "", ""
                if self.stopping:
                    return "stopped", "", ""
                try:
                    result = await asyncio.to_thread(session.render_frame, frame)
                except RenderError as exc:
                    return self._outcome(run, exc, f"frame {frame}")
                run.rendered[frame] = result
                log.info("task %s frame %s rendered in %.3f s", run.task_id, frame, result.render_seconds)
                await run.uploads.put(result)
            return "done", "", ""
        finally:
            run.session = None
            await asyncio.to_thread(session.close)

    def _outcome(self, run: TaskRun, exc: RenderError, where: str) -> tuple[str, str, str]:
        if run.aborted or isinstance(exc, RenderCancelled):
            return "cancelled", "", ""
        if isinstance(exc, RenderStopped):
            return "stopped", "", ""
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        if isinstance(exc, RenderTimeout):
            message = f"{message} (the job's stop timeout)"
        elif isinstance(exc, RenderSettingsError):
            message = f"the job's settings cannot be applied: {message}"
        elif isinstance(exc, RenderFailed) and where not in message:
            message = f"{where}: {message}"
        log.error("task %s failed: %s", run.task_id, message)
        return "failed", message, exc.log_tail

    # -- uploads, heartbeats, results -----------------------------------------------------------------

    async def _uploader(self, run: TaskRun) -> None:
        """Upload finished frames in order, retrying network errors; stops on a lost lease or refusal."""
        while True:
            result = await run.uploads.get()
            if result is None:
                return
            path = f"/nodes/tasks/{run.task_id}/frames/{result.frame}"
            try:
                if result.size_bytes > self.config.upload_part_bytes:
                    response = await self._upload_in_parts(run, result, path)
                else:
                    data = await asyncio.to_thread(result.path.read_bytes)
                    response = await self.api.call(
                        "PUT", path, content=data,
                        headers={"X-Pictor-Content-Sha256": result.sha256, "Content-Type": "application/octet-stream"},
                        give_up=lambda: run.aborted or self._past_grace(),
                    )  # fmt: skip
            except ApiUnavailable as exc:  # aborted, or shutting down past the grace period
                log.error("task %s: frame %s not uploaded: %s", run.task_id, result.frame, exc)
                return
            if response.status_code == 409:
                log.warning("task %s: lease gone while uploading frame %s", run.task_id, result.frame)
                run.abort(lost=True)
                return
            if response.status_code != 200:
                run.upload_error = (
                    f"frame {result.frame} upload refused: HTTP {response.status_code} {_detail(response)}"
                )
                log.error("task %s: %s", run.task_id, run.upload_error)
                if run.session is not None:
                    run.session.cancel()
                return
            answered = response.json().get("sha256")
            if answered not in (None, result.sha256):
                run.upload_error = (
                    f"frame {result.frame}: the API stored sha256 {answered}, the frame is {result.sha256}"
                )
                return
            run.uploaded.append(result.frame)

    async def _upload_in_parts(self, run: TaskRun, result: FrameResult, path: str) -> httpx.Response:
        """A frame above the signed-body limit: parts of ``upload_part_bytes`` (skipping those the API already has,
        so an interrupted upload resumes), then ``finalize``; answers the first refusal or finalize's answer."""
        give_up = lambda: run.aborted or self._past_grace()  # noqa: E731
        listed = await self.api.call("GET", f"{path}/parts", give_up=give_up)
        if listed.status_code != 200:
            return listed
        have = {p.get("part"): p.get("sha256") for p in listed.json().get("parts", []) if isinstance(p, dict)}
        size = self.config.upload_part_bytes
        count = -(-result.size_bytes // size)

        def read(index: int) -> bytes:
            with open(result.path, "rb") as handle:
                handle.seek(index * size)
                return handle.read(size)

        for index in range(count):
            chunk = await asyncio.to_thread(read, index)
            digest = hashlib.sha256(chunk).hexdigest()
            if have.get(index) == digest:
                continue
            response = await self.api.call(
                "PUT", f"{path}/parts/{index}", content=chunk,
                headers={"X-Pictor-Content-Sha256": digest, "Content-Type": "application/octet-stream"},
                give_up=give_up,
            )  # fmt: skip
            if response.status_code != 200:
                return response
        log.info("task %s frame %s: %d bytes uploaded in %d parts", run.task_id, result.frame, result.size_bytes,
                 count)  # fmt: skip
        body = {"sha256": result.sha256, "size": result.size_bytes, "parts": count}
        return await self.api.call("POST", f"{path}/finalize", json=body, give_up=give_up)

    async def _task_heartbeats(self, run: TaskRun) -> None:
        """Keep the lease alive; a ``cancel`` or a 409 kills the render now."""
        while True:
            await asyncio.sleep(self.config.task_heartbeat_s)
            try:
                response = await self.api.once(
                    "POST", f"/nodes/tasks/{run.task_id}/heartbeat", json={"frames_done": list(run.uploaded)}
                )
            except ApiUnavailable as exc:
                log.warning("task heartbeat: %s", exc)
                continue
            if response.status_code == 409:
                log.warning("task %s: the lease is gone (%s)", run.task_id, _detail(response))
                run.abort(lost=True)
                return
            if response.status_code != 200:
                log.warning("task heartbeat refused: HTTP %s %s", response.status_code, _detail(response))
                continue
            if response.json().get("cancel"):
                log.info("task %s cancelled: stopping the render", run.task_id)
                run.abort()
                return

    def manifest(self, run: TaskRun, settings: JobSpec) -> dict[str, Any]:
        """The result manifest of NODE_API.md."""
        frames = [run.rendered[f] for f in run.frames]
        return {
            "job_id": run.job_id,
            "task_id": run.task_id,
            "attempt": run.attempt,
            "frames": [
                {
                    "frame": r.frame,
                    "sha256": r.sha256,
                    "render_seconds": round(r.render_seconds, 3),
                    "width": r.width,
                    "height": r.height,
                    "format": r.file_format,
                }
                for r in frames
            ],
            "device": self._device_label(settings),
            "node": self.address,
        }

    def _device_label(self, settings: JobSpec) -> str:
        telemetry = self.telemetry
        if telemetry is None:
            return settings.device.value
        if settings.device == Device.GPU and telemetry.gpus:
            gpus = [g.name for g in telemetry.gpus if self.config.gpus is None or g.index in self.config.gpus]
            return "GPU: " + ", ".join(gpus or [g.name for g in telemetry.gpus])
        return f"CPU: {telemetry.cpu.model} ({telemetry.cpu.usable_cores} cores)"

    async def _complete(self, run: TaskRun, settings: JobSpec) -> None:
        manifest = self.manifest(run, settings)
        body = {"manifest": manifest, "signature": sign_manifest(self.key, manifest)}
        response = await self.api.call(
            "POST", f"/nodes/tasks/{run.task_id}/complete", json=body,
            give_up=lambda: run.aborted or self._past_grace(),
        )  # fmt: skip
        if response.status_code == 409:
            raise LeaseLost(f"the lease was gone when completing ({_detail(response)})")
        if response.status_code != 200:
            log.error("task %s: the API refused the result: %s", run.task_id, _detail(response))
            await self._fail(run, f"the API refused the result: {_detail(response)}", "")
            return
        self.stats["rendered"] += 1
        seconds = sum(run.rendered[f].render_seconds for f in run.frames)
        log.info("task %s complete: %d frames, %.3f render s", run.task_id, len(run.frames), seconds)
        if not self.config.submit_on_chain:
            return
        chain_ids = _chain_ids(run.lease)
        if chain_ids is None:
            log.warning(
                "task %s: the lease names no escrow ids (chain_job_id, chain_task_id); escrow::submit_result "
                "not sent (the API's job/task ids are not the escrow's)", run.task_id,
            )  # fmt: skip
            self.chain_results.append({"task_id": run.task_id, "status": "skipped", "error": "no chain ids"})
            return
        job = asyncio.create_task(
            self._submit_result(*chain_ids, result_hash(manifest), reference_ms(seconds, self.multiplier))
        )
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _submit_result(self, job_id: int, task_id: int, digest: bytes, ref_ms: int) -> None:
        """``escrow::submit_result`` from the node account (it pays the gas); failures are logged."""
        record: dict[str, Any] = {"job_id": job_id, "task_id": task_id, "result_hash": digest.hex(),
                                  "reference_ms": ref_ms}  # fmt: skip
        try:
            if self._chain is None:
                from chain.client import PictorChain

                overrides = {
                    k: v
                    for k, v in (
                        ("node_url", self.config.node_url),
                        ("package_address", self.config.package_address),
                        ("chain_id", self.config.chain_id),
                    )
                    if v is not None
                }
                self._chain = PictorChain.from_settings(get_settings(), **overrides)
            # The coordinator's assign_task may not be committed yet: wait for it (views cost no gas).
            for delay in (0.0, *CHAIN_RETRY_DELAYS_S):
                await asyncio.sleep(delay)  # also while shutting down: run() waits shutdown_grace_s for this
                try:
                    info = await self._chain.views.task(job_id, task_id)
                except ChainError as exc:
                    log.info("escrow task %s/%s not readable yet: %s", job_id, task_id, exc)
                    continue
                if info.state == TASK_ASSIGNED:
                    break
                if info.state > TASK_ASSIGNED and info.result_hash == digest:
                    record.update(status="already submitted")
                    self.chain_results.append(record)
                    return
                if self._past_grace():
                    break
            payload = self._chain.payloads.escrow_submit_result(job_id, task_id, digest, ref_ms)
            result = await asyncio.wait_for(self._chain.submit_and_wait(self.key, payload), 120)
            record.update(status="committed", txn_hash=result.hash, version=result.version)
            log.info("escrow::submit_result job %s task %s: %s", job_id, task_id, result.hash)
        except Exception as exc:  # noqa: BLE001 - the API holds the signed result; the chain call can be redone
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            log.error(
                "escrow::submit_result job %s task %s failed: %s (the node account %s pays the gas; "
                "the operator funds it)", job_id, task_id, record["error"], self.address,
            )  # fmt: skip
        self.chain_results.append(record)

    async def _fail(self, run: TaskRun, error: str, log_tail: str) -> None:
        if run.aborted:
            return
        self.stats["failed"] += 1
        await self._send_fail(run.task_id, error, log_tail)

    async def _release(self, run: TaskRun) -> None:
        """Give the lease back on shutdown: ``POST …/release`` (not counted towards the job's blocklist); an API
        without that call (404 Not Found for the route) gets ``/fail`` with an error starting ``released:``."""
        if run.aborted:
            return
        self.stats["released"] += 1
        left = [f for f in run.frames if f not in run.uploaded]
        reason = (
            f"the worker node is shutting down; frames {left} were not rendered (frames {run.uploaded} were uploaded)"
        )
        log.info("task %s: giving the lease back (%s)", run.task_id, reason)
        try:
            response = await self.api.call(
                "POST", f"/nodes/tasks/{run.task_id}/release", json={"reason": reason[:4000]}, give_up=self._past_grace
            )
        except ApiUnavailable as exc:
            log.error("task %s: could not give the lease back: %s (it will expire)", run.task_id, exc)
            return
        if response.status_code == 404 and _detail(response) == "Not Found":  # an API from before the release call
            await self._send_fail(run.task_id, f"{RELEASE_PREFIX} {reason}", "")
        elif response.status_code != 200:
            log.warning("task %s: /release answered HTTP %s %s", run.task_id, response.status_code, _detail(response))

    async def _send_fail(self, task_id: int, error: str, log_tail: str) -> None:
        try:
            response = await self.api.call(
                "POST", f"/nodes/tasks/{task_id}/fail", json={"error": error[:4000], "log_tail": log_tail[-16000:]},
                give_up=self._past_grace,
            )  # fmt: skip
        except ApiUnavailable as exc:
            log.error("task %s: could not report the failure: %s (the lease will expire)", task_id, exc)
            return
        if response.status_code == 200:
            body = response.json()
            if body.get("blocklisted"):
                log.warning("task %s: this node is now blocklisted for the job", task_id)
        else:
            log.warning("task %s: /fail answered HTTP %s %s", task_id, response.status_code, _detail(response))
