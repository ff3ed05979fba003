"""The worker agent against a real HTTP server following api/NODE_API.md, rendering for real with bpy.

The server (node_api_server.py) is a test double at the HTTP boundary only: it verifies every request's
node signature, enforces leases and checks the signed manifest. The agent's code path is the real one:
claim, scene download into the content-addressed cache, one Blender process per chunk, uploads with
sha256, task heartbeats, cancel, failures, SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blender import read_image_info
from blender.benchmark import CACHE_FILE, performance_multiplier
from chain.keys import generate_key_file, public_key_bytes, verify_signature
from protocol.canonical import canonical_json
from protocol.manifest import reference_ms, result_hash
from tests.support.node_api import NodeApiServer
from tests.support.worker import REPO, SLOW_SAMPLES, render_started, running, tiny_settings, wait_until, write_config
from worker_node.agent import WorkerAgent
from worker_node.config import parse_config

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark result measured once (1 run), copied into every agent's cache: the agent loads it cached."""
    root = tmp_path_factory.mktemp("bench")
    performance_multiplier(cache_dir=root, repeats=1)
    return root / CACHE_FILE


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[NodeApiServer]:
    """The NODE_API.md double; ``@pytest.mark.parametrize("server", [{...}], indirect=True)`` passes options."""
    srv = NodeApiServer(**getattr(request, "param", {})).start()
    try:
        yield srv
    finally:
        srv.stop()


def make_agent(tmp_path: Path, server: NodeApiServer, bench_cache: Path, **changes: Any) -> WorkerAgent:
    path = write_config(tmp_path, server, bench_cache, **changes)
    config = parse_config(json.loads(path.read_text()), base=tmp_path)
    key = generate_key_file(config.key_path)
    server.register_node(public_key_bytes(key))
    return WorkerAgent(config, key=key)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie counts as gone (the session reaps it).
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    return True


# ----------------------------------------------------------------------------- happy path


async def test_renders_uploads_signs_and_reuses_the_scene_cache(tmp_path, server, scenes, bench_cache):
    agent = make_agent(tmp_path, server, bench_cache)
    sha = server.add_blob(scenes.basic.read_bytes())
    server.add_task(1, 7, [1, 2, 3], sha, tiny_settings(frames_per_node=3))
    server.add_task(2, 7, [4, 5], sha, tiny_settings(frames_per_node=3))
    # Network trouble: the first uploads and the second completion answer 503/502; nothing may be lost.
    server.fail_next("PUT", "/nodes/tasks/1/frames/", 2, 503)
    server.fail_next("POST", "/nodes/tasks/2/complete", 1, 502)
    async with running(agent):
        await wait_until(lambda: server.task(1).state == "rendered" and server.task(2).state == "rendered",
                         what="both tasks rendered")  # fmt: skip
    # One download for two tasks of the same scene; the cached file is the verified scene.
    assert server.downloads == [sha]
    assert agent.cache.downloads == 1 and agent.cache.hits == 1
    cached = next((tmp_path / "cache" / "scenes").rglob("*.blend"))
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha and cached.name == f"{sha}.blend"
    assert ("PUT", "/nodes/tasks/1/frames/1", 503) in server.requests
    assert ("POST", "/nodes/tasks/2/complete", 502) in server.requests
    public_key = public_key_bytes(agent.key)
    for task_id, frames in ((1, [1, 2, 3]), (2, [4, 5])):
        task = server.task(task_id)
        manifest = task.manifest
        assert manifest is not None and task.signature is not None
        assert verify_signature(public_key, canonical_json(manifest), bytes.fromhex(task.signature))
        assert manifest["node"] == agent.address and manifest["job_id"] == 7 and manifest["attempt"] == 1
        assert manifest["device"].startswith("CPU: ")
        assert [f["frame"] for f in manifest["frames"]] == frames
        for entry in manifest["frames"]:
            data = task.frames_uploaded[entry["frame"]]
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            info = read_image_info(_tmp_file(tmp_path, data))
            assert (info.width, info.height, info.format) == (64, 48, "PNG") == (
                entry["width"], entry["height"], entry["format"])  # fmt: skip
            assert entry["render_seconds"] > 0
    # Heartbeats carry telemetry, the cached benchmark multiplier and the online time.
    beat = server.heartbeats[-1]
    assert beat["version"].startswith("pictor-worker/")
    telemetry = beat["telemetry"]
    assert telemetry["performance_multiplier"] == agent.multiplier > 0
    assert agent.benchmark.cached and telemetry["benchmark"]["reference_seconds"] > 0
    assert telemetry["cpu"]["usable_cores"] >= 1 and telemetry["online_seconds"] >= 0
    assert telemetry["worker_id"] == "w-test" and telemetry["location"] == "europe"
    assert agent.stats["rendered"] == 2 and agent.stats["failed"] == 0
    assert not (tmp_path / "cache" / "work" / "task-1-1").exists()  # work files go once the task is over


async def test_api_down_at_start_is_retried_until_it_answers(tmp_path, scenes, bench_cache):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = NodeApiServer()
    server.url = f"http://127.0.0.1:{port}"  # nothing listens there yet: connections are refused
    agent = make_agent(tmp_path, server, bench_cache)
    server.add_task(1, 1, [1], server.add_blob(scenes.basic.read_bytes()), tiny_settings())
    try:
        async with running(agent):
            await asyncio.sleep(1.5)  # several refused claims and heartbeats, backing off
            await asyncio.to_thread(server.start, port)
            await wait_until(lambda: server.task(1).state == "rendered", what="rendered once the API is up")
    finally:
        server.stop()
    assert server.task(1).manifest is not None


def _tmp_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"check-{hashlib.sha256(data).hexdigest()[:12]}.png"
    path.write_bytes(data)
    return path


def test_result_hash_and_reference_time() -> None:
    manifest = {"task_id": 2, "job_id": 1, "frames": [{"frame": 1, "render_seconds": 0.5}]}
    assert canonical_json(manifest) == b'{"frames":[{"frame":1,"render_seconds":0.5}],"job_id":1,"task_id":2}'
    assert result_hash(manifest) == hashlib.sha256(canonical_json(manifest)).digest()
    assert reference_ms(1.5, 2.0) == 3000  # twice as fast as the reference: the reference needs twice the time
    assert reference_ms(1.5, None) == 1500


# ----------------------------------------------------------------------------- scenes


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


async def test_zip_projects_and_bad_scenes(tmp_path, server, scenes, bench_cache):
    agent = make_agent(tmp_path, server, bench_cache, submit_on_chain=True)
    blend = scenes.basic.read_bytes()
    good = server.add_blob(_zip({"project/scenes/main.blend": blend, "project/README.txt": b"hi"}), "zip")
    evil = server.add_blob(_zip({"../evil.blend": blend}), "zip")
    # A scene whose bytes do not hash to what the lease says.
    liar = "0" * 64
    server.blobs[liar] = (blend, "blend")
    server.add_task(1, 1, [1], good, tiny_settings(), main_blend="project/scenes/main.blend")
    server.add_task(2, 2, [1], evil, tiny_settings(), main_blend="evil.blend")
    server.add_task(3, 3, [1], liar, tiny_settings())
    server.add_task(4, 4, [2], good, tiny_settings(), main_blend="project/missing.blend")
    async with running(agent):
        await wait_until(lambda: all(server.task(i).state in ("rendered", "failed") for i in (1, 2, 3, 4)),
                         what="four tasks done")  # fmt: skip
    assert server.task(1).state == "rendered"
    project = tmp_path / "cache" / "scenes" / good[:2] / f"{good}.d"
    assert (project / "project" / "scenes" / "main.blend").is_file()
    assert "climbs out of the project" in server.task(2).errors[0]["error"]
    assert not list((tmp_path / "cache").rglob("evil.blend"))
    assert f"hashes to {hashlib.sha256(blend).hexdigest()}" in server.task(3).errors[0]["error"]
    assert not list((tmp_path / "cache").rglob(f"*{liar}*"))  # a refused download leaves nothing behind
    assert "no file 'project/missing.blend'" in server.task(4).errors[0]["error"]
    assert server.downloads.count(good) == 1  # the project is downloaded and unpacked once
    # A lease without the escrow's ids is never submitted on chain under the API's ids.
    assert agent.chain_results == [{"task_id": 1, "status": "skipped", "error": "no chain ids"}]


# ----------------------------------------------------------------------------- cancel, crash, timeout


async def test_cancel_mid_chunk_stops_blender_within_seconds(tmp_path, server, scenes, bench_cache):
    agent = make_agent(tmp_path, server, bench_cache)
    sha = server.add_blob(scenes.basic.read_bytes())
    server.add_task(1, 1, [1, 2, 3], sha, tiny_settings(samples=SLOW_SAMPLES))
    async with running(agent):
        pid = await wait_until(lambda: render_started(agent, 1), what="frame 1 rendering")
        server.add_task(2, 2, [4], sha, tiny_settings())  # queued behind the cancelled task
        cancelled_at = time.monotonic()
        server.cancel_task(1)
        await wait_until(lambda: pid_gone(pid), timeout=10, what="Blender killed")
        stopped_in = time.monotonic() - cancelled_at
        await wait_until(lambda: server.task(2).state == "rendered", what="the next task rendered")
    assert stopped_in < 5.0, f"cancel took {stopped_in:.1f} s"
    task = server.task(1)
    assert task.state == "cancelled" and task.manifest is None and not task.frames_uploaded and not task.errors
    assert agent.stats["cancelled"] == 1 and agent.stats["rendered"] == 1


async def test_crash_fails_with_log_tail_then_timeout_then_next_task_renders(tmp_path, server, scenes, bench_cache):
    agent = make_agent(tmp_path, server, bench_cache)
    sha = server.add_blob(scenes.basic.read_bytes())
    server.add_task(1, 1, [1, 2], sha, tiny_settings(samples=SLOW_SAMPLES))
    server.add_task(2, 2, [1], sha, tiny_settings(samples=SLOW_SAMPLES, timeouts={"stop_after_s": 1}))
    server.add_task(3, 3, [3], sha, tiny_settings())
    async with running(agent):
        pid = await wait_until(lambda: render_started(agent, 1), what="frame 1 rendering")
        os.kill(pid, signal.SIGSEGV)  # what a Blender crash looks like to the agent
        await wait_until(lambda: server.task(3).state == "rendered", what="the last task rendered")
    crash = server.task(1).errors
    assert len(crash) == 1 and "killed by SIGSEGV while rendering frame 1" in crash[0]["error"]
    assert "Segmentation fault" in crash[0]["log_tail"]
    timeout = server.task(2).errors
    assert len(timeout) == 1 and "took longer than 1 s" in timeout[0]["error"]
    assert "stop timeout" in timeout[0]["error"]
    assert server.task(3).manifest is not None
    assert agent.stats == {"rendered": 1, "failed": 2, "cancelled": 0, "released": 0, "lost": 0}


# ----------------------------------------------------------------------------- SIGTERM (real process)


def _start_agent_process(config: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115 - closed by the process's end
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "run", "--config", str(config), "--log-level", "INFO"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _init(config: Path) -> tuple[int, str]:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["worker", "init", "--config", str(config)])
    return result.exit_code, result.output


@pytest.mark.parametrize("server", [{"release_route": True}, {"release_route": False}], indirect=True,
                         ids=["release", "api-without-release"])  # fmt: skip
async def test_sigterm_finishes_the_frame_gives_the_lease_back_and_exits_0(tmp_path, server, scenes, bench_cache,
                                                                            samples_for):  # fmt: skip
    config = write_config(tmp_path, server, bench_cache)
    code, _output = _init(config)
    assert code == 0
    from chain.keys import load_key_file

    node = load_key_file(tmp_path / "node.key")
    server.register_node(public_key_bytes(node))
    # Idle: SIGTERM exits at once.
    proc = _start_agent_process(config, tmp_path)
    try:
        await wait_until(lambda: server.heartbeats, timeout=60, what="first heartbeat")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
        assert time.monotonic() - started < 5
        # Mid-chunk: the frame being rendered is finished and uploaded, the rest of the lease is given back.
        sha = server.add_blob(scenes.basic.read_bytes())
        server.add_task(1, 1, [1, 2, 3], sha, tiny_settings(samples=samples_for(2.0)))
        proc = _start_agent_process(config, tmp_path)
        log = tmp_path / "cache" / "work" / "task-1-1" / "render.log"
        await wait_until(lambda: log.exists() and "rendering frame 1" in log.read_text(errors="replace"),
                         timeout=60, what="frame 1 rendering")  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    task = server.task(1)
    uploaded = sorted(task.frames_uploaded)
    # Frame 1 was rendering when SIGTERM came (frame 2 only if this machine sped up a lot since calibrating).
    assert uploaded in ([1], [1, 2]), (tmp_path / "agent.log").read_text()[-3000:]
    assert task.manifest is None
    left = [f for f in (1, 2, 3) if f not in uploaded]
    reason = f"the worker node is shutting down; frames {left} were not rendered"
    if server.release_route:  # given back with /release: no failure is reported (nothing counts to the blocklist)
        assert task.state == "released" and task.errors == [] and server.failures == {}
        assert len(task.releases) == 1 and task.releases[0].startswith(reason)
    else:  # an API without /release: /fail with the "released:" marker, as before
        assert task.state == "failed" and task.releases == []
        assert task.errors[0]["error"].startswith(f"released: {reason}")
    for frame, data in task.frames_uploaded.items():
        assert data[:8] == b"\x89PNG\r\n\x1a\n", frame
    assert not log.parent.exists()


# ----------------------------------------------------------------------------- worker init


def test_worker_init_creates_a_0600_key_and_prints_proof_and_payload(tmp_path, server):
    from chain.keys import ROLE_WORKER, load_key_file, normalize_address, registration_message

    config = write_config(tmp_path, server, None)
    code, output = _init(config)
    assert code == 0, output
    key_file = tmp_path / "node.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    node = load_key_file(key_file)
    proof_hex = next(line.split()[-1] for line in output.splitlines() if line.startswith("registration proof:"))
    message = registration_message(normalize_address("0xa11ce"), ROLE_WORKER, node)
    assert verify_signature(public_key_bytes(node), message, bytes.fromhex(proof_hex[2:]))
    payload = json.loads(output[output.index("{") : output.index("}", output.index("{")) + 1])
    assert payload["function"].endswith("::registry::register_node")
    assert payload["arguments"] == [ROLE_WORKER, "0x" + public_key_bytes(node).hex(), proof_hex]
    assert "enrollment skipped" in output
    # Never overwrite the node identity.
    before = key_file.read_bytes()
    code, output = _init(config)
    assert code == 2 and "refusing to overwrite" in output
    assert key_file.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"api_url": "http://x"}), "worker_id: missing"),
        (json.dumps({"worker_id": "w", "api_url": "ftp://x", "operator_address": "0x1"}), "api_url: api_url must be"),
        (json.dumps({"worker_id": "w", "api_url": "http://x", "operator_address": "0xzz"}), "not an account address"),
        (
            json.dumps({"worker_id": "w", "api_url": "http://x", "operator_address": "0x1", "gpu": [0]}),
            "gpu: unknown setting",
        ),
        (
            json.dumps({"worker_id": "w", "api_url": "http://x", "operator_address": "0x1", "gpus": [0, 0]}),
            "distinct GPU indices",
        ),
        (
            json.dumps({"worker_id": "w", "api_url": "http://x", "operator_address": "0x1", "location": "mars"}),
            "location:",
        ),
    ],
)
def test_worker_commands_refuse_bad_config_files_with_exit_2(tmp_path, content, message):
    from typer.testing import CliRunner

    from cli.main import app

    config = tmp_path / "worker-config.json"
    if content is not None:
        config.write_text(content)
    for command in ("init", "run"):
        result = CliRunner().invoke(app, ["worker", command, "--config", str(config)])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not (tmp_path / "node.key").exists()


def test_worker_init_checks_the_operator_key_and_run_needs_a_node_key(tmp_path, server):
    from typer.testing import CliRunner

    from chain.keys import generate_key_file as make_key
    from cli.main import app

    config = write_config(tmp_path, server, None)
    result = CliRunner().invoke(app, ["worker", "run", "--config", str(config)])
    assert result.exit_code == 2 and "worker init" in result.output
    other = tmp_path / "someone.key"
    make_key(other)  # not the config's operator
    result = CliRunner().invoke(app, ["worker", "init", "--config", str(config), "--operator-key", str(other)])
    assert result.exit_code == 2 and "operator_address" in result.output
    assert not (tmp_path / "node.key").exists()
    (tmp_path / "garbage.key").write_text("not a key")
    result = CliRunner().invoke(app, ["worker", "init", "--config", str(config), "--operator-key",
                                      str(tmp_path / "garbage.key")])  # fmt: skip
    assert result.exit_code == 2 and "cannot read the operator key" in result.output
    checker = write_config(tmp_path, server, None, role="checker")
    result = CliRunner().invoke(app, ["worker", "init", "--config", str(checker)])
    assert result.exit_code == 2 and "config of a checker node" in result.output
    assert not (tmp_path / "node.key").exists()
