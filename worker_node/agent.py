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
agent renders its tiny scene once (:mod:`worker_node.liveness`, a RenderSession in a thread) and posts the PNG to
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
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aptos_sdk.account import Account

from blender import (
    RenderCancelled,
    RenderError,
    RenderFailed,
    RenderSession,
    RenderSettingsError,
    RenderStopped,
    RenderTimeout,
)
from blender.benchmark import BenchmarkResult, performance_multiplier
from chain.keys import account_address, load_key_file
from protocol.client import ApiUnavailable, NodeApi, interruptible_sleep, response_detail, stop_on_signals
from protocol.liveness import LivenessChallenge, LivenessChallengeError
from protocol.manifest import reference_ms, result_hash, sign_manifest
from protocol.render_spec import Device, JobSpec, JobSpecError, parse_job_spec
from protocol.scene_cache import SceneCache, SceneCacheError, SceneRef
from protocol.telemetry import NodeTelemetry, collect_telemetry
from worker_node.config import WorkerConfig
from worker_node.escrow import ResultSubmitter
from worker_node.liveness import answer_liveness
from worker_node.task import LeaseError, LeaseLost, TaskRun, chain_ids, device_label
from worker_node.uploads import upload_frames

log = logging.getLogger("pictor.worker")

AGENT_VERSION = "pictor-worker/0.1.0"
#: Marks a ``/fail`` that only gives the lease back (shutdown, on an API without ``/release``), not a render failure.
RELEASE_PREFIX = "released:"


class WorkerAgent:
    """The render agent of one worker node (``await WorkerAgent(config).run()``)."""

    def __init__(self, config: WorkerConfig, *, key: Account | None = None) -> None:
        self.config = config
        self.key = key or load_key_file(config.key_path)
        self.address = account_address(self.key)
        self.cache = SceneCache(config.cache_dir)
        self.work_root = Path(config.cache_dir) / "work"
        self.telemetry: NodeTelemetry | None = None
        self.benchmark: BenchmarkResult | None = None
        self.multiplier: float | None = None
        self.current: TaskRun | None = None
        self.stats = {"rendered": 0, "failed": 0, "cancelled": 0, "released": 0, "lost": 0}
        #: One record per escrow::submit_result (or skipped lease): logs and tests.
        self.chain_results: list[dict[str, Any]] = []
        self.escrow = ResultSubmitter(config, self.key, self.chain_results)
        self._stopping: asyncio.Event | None = None
        self._stop_deadline: float | None = None
        self._started_at = time.time()
        self._started_mono = time.monotonic()
        self._api: NodeApi | None = None
        self._background: set[asyncio.Task[Any]] = set()
        #: Liveness checks already being answered, and the API's verdicts on them.
        self._liveness_seen: set[int] = set()
        self.liveness_results: list[dict[str, Any]] = []

    # -- control ---------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """A stop was requested (SIGTERM, SIGINT or :meth:`request_stop`)."""
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
        """Shutting down and the grace period for the network is over."""
        return self._stop_deadline is not None and time.monotonic() > self._stop_deadline

    @property
    def api(self) -> NodeApi:
        """The API client while the agent runs."""
        assert self._api is not None, "the agent is not running"
        return self._api

    # -- main loop -------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (SIGTERM, SIGINT or :meth:`request_stop`); returns the exit code (0)."""
        with stop_on_signals(self.request_stop):
            return await self._serve()

    async def _serve(self) -> int:
        """The main loop: claim, work, heartbeat; on stop, finish and close what is open."""
        self._stopping = asyncio.Event()
        self._api = NodeApi(self.config.api_url, self.key, max_backoff_s=self.config.max_backoff_s, log=log)
        heartbeats: asyncio.Task[None] | None = None
        log.info("worker %s: node %s, API %s", self.config.worker_id, self.address, self.config.api_url)
        try:
            await self._prepare()
            heartbeats = asyncio.create_task(self._node_heartbeats())
            while not self.stopping:
                lease = await self._claim()
                if lease is None:
                    await interruptible_sleep(self.config.poll_s, self._stopping)
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
            await self.escrow.close()
        log.info("worker stopped: %s", self.stats)
        return 0

    async def _prepare(self) -> None:
        """Telemetry and the performance multiplier (benchmark, cached per hardware in cache_dir)."""
        self.telemetry = await asyncio.to_thread(collect_telemetry)
        if not self.config.benchmark:
            return
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
        """The heartbeat's telemetry: the machine's facts plus this worker's id, location, benchmark and state."""
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
                    log.warning("node heartbeat refused: HTTP %s %s", response.status_code, response_detail(response))
            except ApiUnavailable as exc:
                log.warning("node heartbeat: %s", exc)
            except Exception:  # a heartbeat must never take the agent down
                log.exception("node heartbeat failed")
            await interruptible_sleep(self.config.heartbeat_s, self._stopping)

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
        """Answer one challenge (a background task); the API's verdict joins ``liveness_results``."""
        assert self._stopping is not None
        answer = await answer_liveness(
            self.api, challenge, self.work_root,
            threads=self.config.threads, env=self.config.render_env(), stopping=self._stopping,
        )  # fmt: skip
        if answer is not None:
            self.liveness_results.append(answer)

    async def _claim(self) -> dict[str, Any] | None:
        """A lease from ``POST /nodes/claim``; None when there is no work, the answer is unusable or stopping."""
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
            log.error("claim refused: HTTP %s %s", response.status_code, response_detail(response))
            return None
        try:
            lease = response.json()
        except ValueError:
            log.error("claim answer is not JSON")
            return None
        return lease if isinstance(lease, dict) else None

    # -- one task ----------------------------------------------------------------------------------

    async def _run_task(self, lease: dict[str, Any]) -> None:
        """Work on one lease with task heartbeats alongside; count how it ended and remove its work files."""
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
        """Scene, render with uploads alongside, then complete, fail or give the lease back."""
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
        uploader = asyncio.create_task(
            upload_frames(self.api, run, self.config.upload_part_bytes, lambda: run.aborted or self._past_grace())
        )
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
                return await self.cache.get(scene, lambda: self.api.stream(f"/nodes/blobs/{scene.sha256}", _refused))
            except ApiUnavailable as exc:
                if run.aborted or self._past_grace() or self.stopping:
                    raise
                log.warning("scene download: %s; retrying in %.2g s", exc, delay)
            await interruptible_sleep(delay, self._stopping)
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
        """What a render error means for the task: ``(outcome, error, log tail)`` as :meth:`_render` answers."""
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
                log.warning("task %s: the lease is gone (%s)", run.task_id, response_detail(response))
                run.abort(lost=True)
                return
            if response.status_code != 200:
                log.warning("task heartbeat refused: HTTP %s %s", response.status_code, response_detail(response))
                continue
            if response.json().get("cancel"):
                log.info("task %s cancelled: stopping the render", run.task_id)
                run.abort()
                return

    def manifest(self, run: TaskRun, settings: JobSpec) -> dict[str, Any]:
        """The result manifest of NODE_API.md."""
        return run.manifest(device_label(settings, self.telemetry, self.config.gpus), self.address)

    async def _complete(self, run: TaskRun, settings: JobSpec) -> None:
        """Send the signed manifest; once the API holds it, submit the result on chain in the background."""
        manifest = self.manifest(run, settings)
        body = {"manifest": manifest, "signature": sign_manifest(self.key, manifest)}
        response = await self.api.call(
            "POST", f"/nodes/tasks/{run.task_id}/complete", json=body,
            give_up=lambda: run.aborted or self._past_grace(),
        )  # fmt: skip
        if response.status_code == 409:
            raise LeaseLost(f"the lease was gone when completing ({response_detail(response)})")
        if response.status_code != 200:
            log.error("task %s: the API refused the result: %s", run.task_id, response_detail(response))
            await self._fail(run, f"the API refused the result: {response_detail(response)}", "")
            return
        self.stats["rendered"] += 1
        seconds = sum(run.rendered[f].render_seconds for f in run.frames)
        log.info("task %s complete: %d frames, %.3f render s", run.task_id, len(run.frames), seconds)
        if not self.config.submit_on_chain:
            return
        escrow_ids = chain_ids(run.lease)
        if escrow_ids is None:
            log.warning(
                "task %s: the lease names no escrow ids (chain_job_id, chain_task_id); escrow::submit_result "
                "not sent (the API's job/task ids are not the escrow's)", run.task_id,
            )  # fmt: skip
            self.chain_results.append({"task_id": run.task_id, "status": "skipped", "error": "no chain ids"})
            return
        job = asyncio.create_task(
            self.escrow.submit(
                *escrow_ids, result_hash(manifest), reference_ms(seconds, self.multiplier), past_grace=self._past_grace
            )
        )
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _fail(self, run: TaskRun, error: str, log_tail: str) -> None:
        """Report a failed task (not once it is aborted: then nothing more is sent)."""
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
        if (
            response.status_code == 404 and response_detail(response) == "Not Found"
        ):  # an API from before the release call
            await self._send_fail(run.task_id, f"{RELEASE_PREFIX} {reason}", "")
        elif response.status_code != 200:
            log.warning(
                "task %s: /release answered HTTP %s %s", run.task_id, response.status_code, response_detail(response)
            )

    async def _send_fail(self, task_id: int, error: str, log_tail: str) -> None:
        """``POST /nodes/tasks/{id}/fail`` with the error and Blender's log tail."""
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
            log.warning("task %s: /fail answered HTTP %s %s", task_id, response.status_code, response_detail(response))


def _refused(response: httpx.Response) -> Exception:
    """The error of a refused scene download: 409 means the lease is gone."""
    if response.status_code == 409:
        return LeaseLost("the API no longer leases this task to the node (409 on the scene download)")
    return SceneCacheError(
        f"the API refused the scene download: HTTP {response.status_code} {response_detail(response)}"
    )
