"""The checker agent: heartbeats, claims, downloads, verifies, attests on chain, reports (asyncio).

One work item at a time (``api/NODE_API.md``, "Verification"):

1. Checker heartbeats every ``heartbeat_s`` (``POST /nodes/verify/heartbeat``) with the node's telemetry.
2. ``POST /nodes/verify/claim``; 204 → wait ``poll_s``. The API never hands a checker its own operator's work.
3. The scene comes from the content-addressed scene cache (:class:`protocol.scene_cache.SceneCache`, sha256 and
   size checked) and each frame from the frame cache (``<cache_dir>/frames``, sha256 checked against the
   signed manifest), both downloaded only when missing.
4. The manifest is checked (its canonical JSON hashes to the result hash the chain holds; the worker node's
   key signed it; its frames are the item's), then every frame is verified by
   :func:`checker_node.verify.verifier.verify_frame` in a thread (the event loop keeps the lease alive with
   ``POST /nodes/verify/{id}/heartbeat`` every ``verify_heartbeat_s``). Each verified frame's fingerprint joins
   the job's others, for the copy check of the next.
5. The task evidence (every frame's evidence, the manifest check, ids, the combined verdict) is hashed over
   its canonical JSON. ``pass``/``fail`` of a ``verify`` item → ``attestation::attest(job, task, result hash,
   pass, evidence hash)``; a ``dispute`` item → ``attestation::resolve_dispute(job, task, uphold = fail,
   evidence hash)``; both from the node account (it pays the gas), once the chain shows the task awaiting
   that verdict. ``unsure`` of a ``verify`` item → ``attestation::abstain(job, task, result hash, evidence
   hash)`` (the operator's vote on the attempt, neither pass nor fail; the API asks a checker of another
   operator, and after the last round the coordinator requeues the task without a strike); ``unsure`` of a
   ``dispute`` item sends nothing (the API asks another checker).
6. ``POST /nodes/verify/{id}/verdict`` with the verdict, the evidence, its hash and the transaction hash (or
   the chain's refusal).

SIGTERM/SIGINT: the current item is finished (verified, attested, reported), then the agent exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aptos_sdk.account import Account

from chain.client import PictorChain
from chain.keys import account_address, load_key_file, public_key_bytes
from checker_node.attest import attest
from checker_node.config import CheckerConfig
from checker_node.downloads import DownloadError, ItemDownloads
from checker_node.verify.verifier import Evidence, VerifyConfig, verify_frame
from protocol.canonical import canonical_json
from protocol.client import ApiUnavailable, NodeApi, interruptible_sleep, response_detail, stop_on_signals
from protocol.evidence import TASK_EVIDENCE_VERSION, UNSURE, task_verdict
from protocol.manifest import manifest_signed_by
from protocol.render_spec import JobSpecError, parse_job_spec
from protocol.telemetry import collect_telemetry

log = logging.getLogger("pictor.checker")

AGENT_VERSION = "pictor-checker/0.1.0"


class VerifyAbort(Exception):
    """The item cannot be verified here (bad download, unusable settings): it goes back to the queue."""


def check_manifest(item: dict[str, Any]) -> dict[str, Any]:
    """The signed manifest against the item: result hash, worker signature, frames (``{"ok": …, "detail": …}``)."""
    manifest = item.get("manifest")
    if manifest is None:
        return {"ok": True, "detail": "the API no longer holds this attempt's manifest; frames from the item"}
    digest = hashlib.sha256(canonical_json(manifest)).hexdigest()
    if digest != item["result_hash"]:
        return {"ok": False, "detail": f"the manifest hashes to {digest}, the result hash is {item['result_hash']}"}
    try:
        signature = bytes.fromhex(str(item.get("manifest_signature") or "").removeprefix("0x"))
        key = bytes.fromhex(str(item.get("worker_public_key") or ""))
    except ValueError:
        return {"ok": False, "detail": "the manifest signature or the worker key is not hex"}
    if not manifest_signed_by(key, manifest, signature):
        return {"ok": False, "detail": "the manifest signature does not verify against the worker node's key"}
    listed = sorted((int(f["frame"]), f["sha256"]) for f in manifest.get("frames") or [])
    wanted = sorted((int(f["frame"]), f["sha256"]) for f in item["frames"])
    if listed != wanted:
        return {"ok": False, "detail": "the manifest's frames are not the item's"}
    return {"ok": True, "detail": "result hash, worker signature and frames agree"}


class CheckerAgent:
    """The verification agent of one checker node (``await CheckerAgent(config).run()``)."""

    def __init__(self, config: CheckerConfig, *, key: Account | None = None) -> None:
        self.config = config
        self.key = key or load_key_file(config.key_path)
        self.address = account_address(self.key)
        self.public_key_hex = public_key_bytes(self.key).hex()
        self.downloads = ItemDownloads(Path(config.cache_dir), config.max_backoff_s)
        self.stats = {"pass": 0, "fail": 0, "unsure": 0, "released": 0, "lost": 0}
        #: One record per finished item (verdict, evidence hash, transaction, API outcome): logs and tests.
        self.results: list[dict[str, Any]] = []
        self._stopping: asyncio.Event | None = None
        self._api: NodeApi | None = None
        self._chain: PictorChain | None = None
        self._started_mono = time.monotonic()
        self._started_at = time.time()
        self.current: int | None = None

    # -- control ---------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """A stop was requested (SIGTERM, SIGINT or :meth:`request_stop`)."""
        return self._stopping is not None and self._stopping.is_set()

    def request_stop(self) -> None:
        """Finish the current item, then exit."""
        if self._stopping is not None:
            log.info("stop requested: finishing the current verification, then exiting")
            self._stopping.set()

    @property
    def api(self) -> NodeApi:
        """The API client while the agent runs."""
        assert self._api is not None, "the agent is not running"
        return self._api

    def _verify_config(self) -> VerifyConfig:
        """The verifier's settings: its defaults, with the knobs this config sets."""
        names = ("crop_count", "crop_fraction", "parallel_renders", "crop_timeout_s", "threads")
        return VerifyConfig(**{n: getattr(self.config, n) for n in names if getattr(self.config, n) is not None})

    def chain(self) -> PictorChain:
        """The chain client (created on first use, from the settings plus the config's overrides)."""
        if self._chain is None:
            self._chain = self.config.chain_client()
        return self._chain

    # -- main loop -------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (SIGTERM, SIGINT or :meth:`request_stop`); returns the exit code (0)."""
        with stop_on_signals(self.request_stop):
            return await self._serve()

    async def _serve(self) -> int:
        """The main loop: claim, work, heartbeat; on stop, finish and close what is open."""
        self._stopping = asyncio.Event()
        self._api = NodeApi(self.config.api_url, self.key, max_backoff_s=self.config.max_backoff_s, log=log)
        log.info("checker %s: node %s, API %s", self.config.worker_id, self.address, self.config.api_url)
        beats = asyncio.create_task(self._node_heartbeats())
        try:
            while not self.stopping:
                item = await self._claim()
                if item is None:
                    await interruptible_sleep(self.config.poll_s, self._stopping)
                    continue
                await self.process(item)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
            await self._api.close()
            if self._chain is not None:
                with contextlib.suppress(Exception):
                    await self._chain.close()
        log.info("checker stopped: %s", self.stats)
        return 0

    async def _node_heartbeats(self) -> None:
        """Every ``heartbeat_s``: telemetry up."""
        while not self.stopping:
            try:
                telemetry = (await asyncio.to_thread(collect_telemetry)).to_dict()
                telemetry.update(
                    checker_id=self.config.worker_id,
                    online_seconds=round(time.monotonic() - self._started_mono, 1),
                    online_since=datetime.fromtimestamp(self._started_at, UTC).isoformat(),
                    busy_verification=self.current,
                )
                body = {"telemetry": telemetry, "version": AGENT_VERSION}
                response = await self.api.once("POST", "/nodes/verify/heartbeat", json=body)
                if response.status_code != 200:
                    log.warning("heartbeat refused: HTTP %s %s", response.status_code, response_detail(response))
            except ApiUnavailable as exc:
                log.warning("heartbeat: %s", exc)
            except Exception:  # a heartbeat must never take the agent down
                log.exception("heartbeat failed")
            await interruptible_sleep(self.config.heartbeat_s, self._stopping)

    async def _claim(self) -> dict[str, Any] | None:
        """An item from ``POST /nodes/verify/claim``; None when there is none, it is unusable or stopping."""
        try:
            response = await self.api.call(
                "POST", "/nodes/verify/claim", give_up=lambda: self.stopping, wake=self._stopping
            )
        except ApiUnavailable:
            return None
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            log.error("claim refused: HTTP %s %s", response.status_code, response_detail(response))
            return None
        try:
            item = response.json()
        except ValueError:
            return None
        return item if isinstance(item, dict) and isinstance(item.get("verification_id"), int) else None

    # -- one item --------------------------------------------------------------------------------

    async def process(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Verify, attest and report one claimed item; the result record (None when given back or lost)."""
        vid = int(item["verification_id"])
        self.current = vid
        lost = asyncio.Event()
        beats = asyncio.create_task(self._lease_heartbeats(vid, lost))
        log.info("verification %s (%s, round %s): job %s task %s frames %s", vid, item.get("purpose"),
                 item.get("round"), item.get("job_id"), item.get("task_id"), [f["frame"] for f in item["frames"]])  # fmt: skip
        try:
            try:
                evidence = await self._verify(vid, item, lost)
            except VerifyAbort as exc:
                log.error("verification %s given back: %s", vid, exc)
                await self._release(vid, str(exc))
                return None
            if lost.is_set():
                self.stats["lost"] += 1
                log.warning("verification %s: the lease was lost while verifying; nothing is sent", vid)
                return None
            verdict = evidence.data["verdict"]
            record: dict[str, Any] = {"verification_id": vid, "purpose": item["purpose"], "verdict": verdict,
                                      "evidence_hash": evidence.evidence_hash}  # fmt: skip
            txn_hash, chain_error = await self._attest(item, verdict, evidence.evidence_hash)
            record.update(txn_hash=txn_hash, chain_error=chain_error)
            record["outcome"] = await self._report(vid, verdict, evidence, txn_hash, chain_error)
            self.stats[verdict] += 1
            self.results.append(record)
            log.info("verification %s: %s (%s)", vid, verdict, record)
            return record
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
            self.current = None

    async def _lease_heartbeats(self, vid: int, lost: asyncio.Event) -> None:
        """Keep the item's lease alive; a 409 sets ``lost``."""
        while True:
            await asyncio.sleep(self.config.verify_heartbeat_s)
            try:
                response = await self.api.once("POST", f"/nodes/verify/{vid}/heartbeat")
            except ApiUnavailable as exc:
                log.warning("lease heartbeat: %s", exc)
                continue
            if response.status_code == 409:
                lost.set()
                return

    async def _verify(self, vid: int, item: dict[str, Any], lost: asyncio.Event) -> Evidence:
        """Download, check the manifest, verify each frame; the task evidence."""
        try:
            params = parse_job_spec(item["settings"]).render_params()
        except (JobSpecError, KeyError, TypeError) as exc:
            raise VerifyAbort(f"the job's render settings cannot be used: {exc}") from None
        try:
            scene = await self.downloads.scene(self.api, vid, item)
            paths = {int(f["frame"]): await self.downloads.frame(self.api, vid, f["sha256"]) for f in item["frames"]}
        except DownloadError as exc:
            raise VerifyAbort(str(exc)) from None
        manifest_check = check_manifest(item)
        if not manifest_check["ok"]:
            raise VerifyAbort(f"manifest check: {manifest_check['detail']}")
        fingerprints: list[dict[str, Any]] = [dict(f) for f in item.get("other_frames") or []]
        shas = {int(f["frame"]): f["sha256"] for f in item["frames"]}
        frames: list[dict[str, Any]] = []
        for number in sorted(paths):
            if lost.is_set():
                break
            verdict = await asyncio.to_thread(
                verify_frame, paths[number], {"frame": number, "sha256": shas[number]}, scene, params,
                self.public_key_hex, [f for f in fingerprints if f.get("frame") != number],
                config=self._verify_config(),
            )  # fmt: skip
            frames.append(verdict.evidence.data)
            printed = verdict.evidence.data.get("fingerprint")
            if isinstance(printed, dict):
                fingerprints.append(dict(printed, frame=number))
            log.info("verification %s frame %s: %s %s", vid, number, verdict.verdict, verdict.reasons)
        data = {
            "version": TASK_EVIDENCE_VERSION,
            "verification_id": vid,
            "purpose": item["purpose"],
            "round": item["round"],
            "job_id": item["job_id"],
            "task_id": item["task_id"],
            "attempt": item["attempt"],
            "chain_job_id": str(item["chain_job_id"]),
            "chain_task_id": str(item["chain_task_id"]),
            "result_hash": item["result_hash"],
            "checker": self.address,
            "checker_public_key": self.public_key_hex,
            "manifest_check": manifest_check,
            "frames": frames,
            "verdict": task_verdict([f["verdict"] for f in frames]),
        }
        return Evidence(data)

    async def _attest(self, item: dict[str, Any], verdict: str, evidence_hash: str) -> tuple[str | None, str | None]:
        """The on-chain verdict; (transaction hash, None) or (None, why nothing committed)."""
        if verdict == UNSURE and item["purpose"] == "dispute":
            return None, None  # resolve_dispute has no "cannot tell": another checker is asked
        if not self.config.submit_on_chain:
            return None, "submit_on_chain is off"
        return await attest(self.chain(), self.key, item, verdict, evidence_hash)

    async def _report(
        self, vid: int, verdict: str, evidence: Evidence, txn_hash: str | None, chain_error: str | None
    ) -> str:
        """``POST /nodes/verify/{id}/verdict``; the API's outcome, or why it was not reported."""
        body = {"verdict": verdict, "evidence": evidence.data, "evidence_hash": evidence.evidence_hash,
                "txn_hash": txn_hash, "chain_error": chain_error}  # fmt: skip
        try:
            response = await self.api.call(
                "POST", f"/nodes/verify/{vid}/verdict", json=body, give_up=lambda: self.stopping
            )
        except ApiUnavailable as exc:
            log.error("verification %s: verdict not reported: %s", vid, exc)
            return "not reported"
        if response.status_code != 200:
            log.error(
                "verification %s: verdict refused: HTTP %s %s", vid, response.status_code, response_detail(response)
            )
            return f"refused: HTTP {response.status_code} {response_detail(response)}"
        return str(response.json().get("outcome"))

    async def _release(self, vid: int, reason: str) -> None:
        """Give the item back to the queue (one try: the lease expires otherwise)."""
        self.stats["released"] += 1
        with contextlib.suppress(ApiUnavailable):
            await self.api.once("POST", f"/nodes/verify/{vid}/release", json={"reason": reason[:2000]})


__all__ = ["CheckerAgent", "check_manifest"]
