"""A small but honest HTTP server implementing api/NODE_API.md, for the worker agent tests.

A test double at the HTTP boundary only: it verifies every signed request (protocol.signing: canonical
request, timestamp skew, single-use nonces) against the node keys the test registered, keeps tasks and
leases in memory with the contract's rules (lease deadline extended by task heartbeats, 409 without a live
lease, 400 on a frame hash mismatch, 3 failures of a job blocklist the node), serves scene bytes only for
a task leased to the asking node, and checks the completed manifest's Ed25519 signature over its
canonical JSON. Faults can be injected (``fail_next``) to exercise the agent's retries.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from chain.keys import node_address, normalize_address, verify_signature
from protocol import signing as ns


@dataclass
class Task:
    task_id: int
    job_id: int
    frames: list[int]
    scene_sha: str
    settings: dict[str, Any]
    main_blend: str | None = None
    state: str = "queued"  # queued | leased | rendered | failed | cancelled
    attempt: int = 0
    node: str | None = None
    deadline: float = 0.0
    frames_uploaded: dict[int, bytes] = field(default_factory=dict)
    frames_done: list[int] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    signature: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)  # reasons of POST …/release (lease given back)
    cancel: bool = False
    heartbeats: int = 0
    #: The escrow's (job id, task id), sent as ``chain_job_id``/``chain_task_id`` (as api/node_tasks.py sends them; not yet in NODE_API.md).
    chain_ids: tuple[int, int] | None = None


class NodeApiServer:
    """The state and the FastAPI app; ``start()`` serves it on 127.0.0.1 in a thread."""

    def __init__(self, *, lease_s: float = 30.0, max_skew_s: int = 60, release_route: bool = True) -> None:
        self.lease_s = lease_s
        self.release_route = release_route  # False: an API from before POST /nodes/tasks/{id}/release
        self.max_skew_s = max_skew_s
        self.lock = threading.RLock()
        self.nodes: dict[str, bytes] = {}  # address -> public key
        self.nonces: set[str] = set()
        self.blobs: dict[str, tuple[bytes, str]] = {}  # sha -> (bytes, kind)
        self.tasks: dict[int, Task] = {}
        self.heartbeats: list[dict[str, Any]] = []
        self.downloads: list[str] = []
        self.requests: list[tuple[str, str, int]] = []
        self.failures: dict[tuple[str, int], int] = {}
        self.blocklist: set[tuple[str, int]] = set()
        self._faults: list[list[Any]] = []  # [method, path prefix, remaining count, status]
        #: Liveness challenges by node address (sent with its heartbeats until answered) and the answers' bytes.
        self.liveness: dict[str, dict[str, Any]] = {}
        self.liveness_answers: dict[int, tuple[str, bytes]] = {}
        self.app = self._build()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- test controls ----------------------------------------------------------------------------

    def register_node(self, public_key: bytes) -> str:
        address = node_address(public_key)
        with self.lock:
            self.nodes[address] = public_key
        return address

    def add_blob(self, data: bytes, kind: str = "blend") -> str:
        sha = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.blobs[sha] = (data, kind)
        return sha

    def add_task(self, task_id: int, job_id: int, frames: list[int], scene_sha: str, settings: dict[str, Any],
                 main_blend: str | None = None) -> Task:  # fmt: skip
        with self.lock:
            task = Task(task_id, job_id, frames, scene_sha, settings, main_blend)
            self.tasks[task_id] = task
            return task

    def cancel_task(self, task_id: int) -> None:
        with self.lock:
            task = self.tasks[task_id]
            task.cancel = True
            if task.state in ("queued", "leased"):
                task.state = "cancelled"

    def fail_next(self, method: str, path_prefix: str, count: int, status: int = 503) -> None:
        """Answer the next ``count`` matching requests with ``status`` (before authentication)."""
        with self.lock:
            self._faults.append([method, path_prefix, count, status])

    def task(self, task_id: int) -> Task:
        with self.lock:
            return self.tasks[task_id]

    # -- server -----------------------------------------------------------------------------------

    def start(self, port: int = 0) -> NodeApiServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "test server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    # -- the contract ------------------------------------------------------------------------------

    def _authenticate(self, request: Request, body: bytes) -> str:
        headers = request.headers
        try:
            node = normalize_address(headers[ns.HEADER_NODE])
            timestamp = int(headers[ns.HEADER_TIMESTAMP])
            nonce = headers[ns.HEADER_NONCE]
            signature = headers[ns.HEADER_SIGNATURE]
        except (KeyError, ValueError, Exception) as exc:
            raise HTTPException(401, f"missing or malformed signature headers: {exc}") from None
        public_key = self.nodes.get(node)
        if public_key is None:
            raise HTTPException(401, "this node is not registered")
        if abs(time.time() - timestamp) > self.max_skew_s:
            raise HTTPException(401, "stale timestamp")
        raw = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string") or b""
        target = (raw + (b"?" + query if query else b"")).decode("latin-1")
        message = ns.canonical_request(request.method, target, ns.body_sha256(body), timestamp, nonce, node)
        if not ns.verify_request(public_key, message, signature):
            raise HTTPException(401, "bad signature")
        with self.lock:
            if nonce in self.nonces:
                raise HTTPException(401, "replayed nonce")
            self.nonces.add(nonce)
        return node

    def _leased(self, task_id: int, node: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        if task.node != node or task.state != "leased" or time.monotonic() > task.deadline:
            raise HTTPException(409, "no live lease on this task for this node")
        return task

    def _expire(self) -> None:
        now = time.monotonic()
        for task in self.tasks.values():
            if task.state == "leased" and now > task.deadline:
                task.state, task.node = "queued", None

    def _build(self) -> FastAPI:
        app = FastAPI()
        server = self

        @app.middleware("http")
        async def faults_and_auth(request: Request, call_next: Any) -> Response:
            with server.lock:
                for fault in server._faults:
                    if fault[2] > 0 and request.method == fault[0] and request.url.path.startswith(fault[1]):
                        fault[2] -= 1
                        server.requests.append((request.method, request.url.path, fault[3]))
                        return JSONResponse({"detail": "injected fault"}, status_code=fault[3])
            body = await request.body()
            try:
                request.state.node = server._authenticate(request, body)
            except HTTPException as exc:
                return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
            response = await call_next(request)
            with server.lock:
                server.requests.append((request.method, request.url.path, response.status_code))
            return response

        @app.post("/nodes/heartbeat")
        async def heartbeat(request: Request) -> dict[str, Any]:
            body = await request.json()
            node = request.state.node
            with server.lock:
                server.heartbeats.append(body)
                cancel = [t.task_id for t in server.tasks.values() if t.cancel and t.node == node]
                challenge = server.liveness.get(node)
                if challenge is not None and challenge["check_id"] in server.liveness_answers:
                    challenge = None
            answer: dict[str, Any] = {"server_time": datetime.now(UTC).isoformat(), "cancel_tasks": cancel}
            if challenge is not None:
                answer["liveness"] = challenge
            return answer

        @app.post("/nodes/liveness/{check_id}")
        async def liveness(check_id: int, request: Request) -> dict[str, Any]:
            body = await request.body()
            node = request.state.node
            with server.lock:
                if server.liveness.get(node, {}).get("check_id") != check_id:
                    raise HTTPException(404, "this node has no such liveness check")
                if check_id in server.liveness_answers:
                    raise HTTPException(409, "this liveness check is already answered")
                if len(body) > 1024 * 1024:
                    raise HTTPException(413, "a liveness answer is limited to 1 MiB")
                server.liveness_answers[check_id] = (node, body)
            return {"check_id": check_id, "status": "received", "reason": "stored by the test server"}

        @app.post("/nodes/claim")
        async def claim(request: Request) -> Response:
            node = request.state.node
            with server.lock:
                server._expire()
                for task in sorted(server.tasks.values(), key=lambda t: t.task_id):
                    if task.state == "queued" and (node, task.job_id) not in server.blocklist:
                        task.state, task.node = "leased", node
                        task.attempt += 1
                        task.deadline = time.monotonic() + server.lease_s
                        data, kind = server.blobs[task.scene_sha]
                        lease = {
                            "task_id": task.task_id, "job_id": task.job_id, "attempt": task.attempt,
                            "frames": task.frames,
                            "scene": {"sha256": task.scene_sha, "size": len(data), "main_blend": task.main_blend,
                                      "kind": kind},
                            "settings": task.settings,
                            "lease_deadline": datetime.fromtimestamp(time.time() + server.lease_s, UTC).isoformat(),
                            "quote": "1000",
                        }  # fmt: skip
                        if task.chain_ids is not None:
                            # decimal strings, as the real API sends them
                            lease["chain_job_id"], lease["chain_task_id"] = (str(i) for i in task.chain_ids)
                        return JSONResponse(lease)
            return Response(status_code=204)

        @app.post("/nodes/tasks/{task_id}/heartbeat")
        async def task_heartbeat(task_id: int, request: Request) -> dict[str, Any]:
            body = await request.json()
            with server.lock:
                task = server.tasks.get(task_id)
                if task is not None and task.cancel and task.node == request.state.node:
                    return {"lease_deadline": datetime.now(UTC).isoformat(), "cancel": True}
                task = server._leased(task_id, request.state.node)
                task.heartbeats += 1
                task.frames_done = list(body.get("frames_done", []))
                task.deadline = time.monotonic() + server.lease_s
            return {"lease_deadline": datetime.fromtimestamp(time.time() + server.lease_s, UTC).isoformat(),
                    "cancel": False}  # fmt: skip

        @app.get("/nodes/blobs/{sha256}")
        async def blob(sha256: str, request: Request) -> Response:
            with server.lock:
                if not any(
                    t.scene_sha == sha256 and t.node == request.state.node and t.state == "leased"
                    for t in server.tasks.values()
                ):
                    raise HTTPException(404, "no task leased to this node uses this scene")
                data, _kind = server.blobs[sha256]
                server.downloads.append(sha256)
            return Response(content=data, media_type="application/octet-stream")

        @app.put("/nodes/tasks/{task_id}/frames/{frame}")
        async def upload(task_id: int, frame: int, request: Request) -> dict[str, str]:
            data = await request.body()
            claimed = request.headers.get("X-Pictor-Content-Sha256", "")
            with server.lock:
                task = server._leased(task_id, request.state.node)
                if frame not in task.frames:
                    raise HTTPException(400, f"frame {frame} is not part of task {task_id}")
                digest = hashlib.sha256(data).hexdigest()
                if digest != claimed:
                    raise HTTPException(400, f"the body hashes to {digest}, not {claimed}")
                task.frames_uploaded[frame] = data
            return {"sha256": digest}

        @app.post("/nodes/tasks/{task_id}/complete")
        async def complete(task_id: int, request: Request) -> dict[str, str]:
            body = await request.json()
            manifest, signature = body.get("manifest"), body.get("signature", "")
            with server.lock:
                task = server._leased(task_id, request.state.node)
                canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
                try:
                    sig = bytes.fromhex(signature.removeprefix("0x"))
                except ValueError:
                    raise HTTPException(400, "signature is not hex") from None
                if not verify_signature(server.nodes[request.state.node], canonical, sig):
                    raise HTTPException(400, "the manifest signature does not verify")
                if manifest.get("node") != request.state.node or manifest.get("task_id") != task_id:
                    raise HTTPException(400, "the manifest names another node or task")
                frames = {f["frame"]: f["sha256"] for f in manifest.get("frames", [])}
                if sorted(frames) != sorted(task.frames):
                    raise HTTPException(400, "the manifest does not list the task's frames")
                for frame, sha in frames.items():
                    data = task.frames_uploaded.get(frame)
                    if data is None or hashlib.sha256(data).hexdigest() != sha:
                        raise HTTPException(400, f"frame {frame} was not uploaded with sha256 {sha}")
                task.manifest, task.signature, task.state = manifest, signature, "rendered"
            return {"status": "rendered"}

        if self.release_route:

            @app.post("/nodes/tasks/{task_id}/release")
            async def release(task_id: int, request: Request) -> dict[str, Any]:
                body = await request.json()
                with server.lock:
                    task = server._leased(task_id, request.state.node)
                    task.releases.append(str(body.get("reason", "")))
                    task.state, task.node = "released", None  # not a failure: nothing counts towards the blocklist
                return {"status": "released"}

        @app.post("/nodes/tasks/{task_id}/fail")
        async def fail(task_id: int, request: Request) -> dict[str, Any]:
            body = await request.json()
            node = request.state.node
            with server.lock:
                task = server._leased(task_id, node)
                task.errors.append({"error": body.get("error", ""), "log_tail": body.get("log_tail", "")})
                key = (node, task.job_id)
                server.failures[key] = server.failures.get(key, 0) + 1
                blocked = server.failures[key] >= 3
                if blocked:
                    server.blocklist.add(key)
                # The real API puts the task back in the queue; the double parks it so tests see each outcome once.
                task.state, task.node = "failed", None
            return {"status": "failed", "blocklisted": blocked}

        return app
