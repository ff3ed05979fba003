"""The worker agent's side of liveness renders, against the NODE_API.md test double (signed requests checked):
a heartbeat's challenge is rendered in the agent's Blender subprocess and posted once, and the PNG matches the
API's own reference render of the challenge; challenges out of bounds are refused before anything renders."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from chain.keys import generate_key_file, public_key_bytes  # noqa: E402
from pictor.settings import Settings  # noqa: E402
from protocol.liveness import LivenessChallenge, LivenessChallengeError  # noqa: E402
from rewards.liveness import ReferenceRenderer, judge  # noqa: E402
from tests.support.node_api import NodeApiServer  # noqa: E402
from worker_node.agent import WorkerAgent  # noqa: E402
from worker_node.config import parse_config  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def make_agent(tmp_path: Path, server: NodeApiServer) -> WorkerAgent:
    data = {
        "worker_id": "w-live", "api_url": server.url, "operator_address": "0xa11ce", "cache_dir": "cache",
        "key_path": "node.key", "heartbeat_s": 0.3, "poll_s": 0.2, "max_backoff_s": 0.5, "shutdown_grace_s": 20,
        "submit_on_chain": False, "benchmark": False,
    }  # fmt: skip
    config = parse_config(json.loads(json.dumps(data)), base=tmp_path)
    key = generate_key_file(config.key_path)
    server.register_node(public_key_bytes(key))
    return WorkerAgent(config, key=key)


async def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


async def test_the_agent_renders_a_heartbeat_challenge_once_and_it_matches_the_reference(tmp_path) -> None:
    server = NodeApiServer().start()
    try:
        agent = make_agent(tmp_path, server)
        challenge = {"check_id": 77, "seed": secrets.randbelow(2**31), "width": 64, "height": 48, "samples": 4,
                     "frame": 1 + secrets.randbelow(360), "deadline": "2099-01-01T00:00:00Z"}  # fmt: skip
        server.liveness[agent.address] = challenge
        run = asyncio.create_task(agent.run())
        try:
            await wait_until(lambda: 77 in server.liveness_answers, 240, "the liveness answer")
            await wait_until(lambda: agent.liveness_results, 30, "the agent to record the verdict")
            beats = len(server.heartbeats)
            await wait_until(lambda: len(server.heartbeats) >= beats + 3, 30, "more heartbeats")
        finally:
            agent.request_stop()
            assert await asyncio.wait_for(run, 60) == 0
        node, body = server.liveness_answers[77]
        assert node == agent.address
        posts = [r for r in server.requests if r[1] == "/nodes/liveness/77"]
        assert posts == [("POST", "/nodes/liveness/77", 200)]  # answered once, though heartbeats went on
        assert agent.liveness_results == [{"check_id": 77, "status": "received", "reason": "stored by the test server"}]
        assert not (tmp_path / "cache" / "work" / "liveness-77").exists()
    finally:
        server.stop()

    # The API's reference of the same challenge: the agent's PNG passes the API's judgement.
    renderer = ReferenceRenderer(Settings(data_dir=tmp_path))
    parsed = LivenessChallenge.parse(challenge)
    verdict = judge(body, parsed, lambda: renderer.reference(parsed))
    assert verdict.passed, verdict.reason
    assert verdict.evidence["metrics"]["ssim"] == 1.0  # CPU Cycles with a fixed seed: the same pixels


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 4096, "height": 4096}, "not a small render"),
        ({"samples": 100_000}, "liveness.samples"),
        ({"seed": -1}, "liveness.seed"),
        ({"frame": True}, "liveness.frame"),
        ({"frame": 10_000}, "out of range"),
    ],
)
def test_challenges_out_of_bounds_are_refused(changes: dict[str, Any], message: str) -> None:
    good = {"check_id": 1, "seed": 5, "width": 64, "height": 48, "samples": 4, "frame": 3, "deadline": "x"}
    assert LivenessChallenge.parse(good).seed == 5
    with pytest.raises(LivenessChallengeError, match=message):
        LivenessChallenge.parse({**good, **changes})
