"""The worker image's entrypoint outside Docker against a real ``pictor up`` (API, indexer, localnet, PostgreSQL):
an operator stakes, signs in, creates a worker and downloads its config; the entrypoint, pointed at that file and
at a data folder as the image's volumes would be, enrolls and registers the node, becomes the agent (which shows
online in ``GET /workers``; the image's health check passes), and exits 0 on SIGTERM. A second start (a container
restart) keeps the node's key and identity."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from chain.client import PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.keys import ROLE_WORKER, account_address, generate_account, load_key_file, load_role_keys, write_key_file
from cli.up import NODE_GAS, UpProcess, log_tail
from creator.api import CreatorApi
from tests.support import REPO_ROOT
from tests.support.stack import up_stack

pytestmark = pytest.mark.timeout(600)
ENTRYPOINT = REPO_ROOT / "docker" / "worker" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent  # the `pictor` command of this checkout


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    yield from up_stack(pg_server, tmp_path_factory.mktemp("up"))


async def operator_with_a_worker(stack: UpProcess) -> tuple[Any, str, dict[str, Any]]:
    """A new operator: APT for gas, the minimum worker stake staked, signed in; a worker created in the API and
    its config file downloaded. (operator account, session token, config)"""
    chain = PictorChain(stack.info["PICTOR_NODE_URL"], LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                        faucet_url=stack.info["PICTOR_FAUCET_URL"], wait_timeout=60)  # fmt: skip
    keys = load_role_keys(stack.info["PICTOR_KEYS_DIR"])
    operator = generate_account()
    address = account_address(operator)
    try:
        stake = max((await chain.views.params()).min_worker_stake, 1)
        await chain.fund(address, NODE_GAS)
        await chain.submit_and_wait(keys.admin, chain.payloads.token_mint(address, stake))
        await chain.submit_and_wait(operator, chain.payloads.staking_stake(ROLE_WORKER, stake))
    finally:
        await chain.close()
    async with CreatorApi(stack.info["PICTOR_API_URL"]) as api:
        session = await api.sign_in(operator)
        created = await api.post("/workers", {"name": "docker rig", "role": "worker"}, ok=(201,))
        config = await api.get(f"/workers/{created['worker_id']}/config")
    return operator, session["token"], config


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def wait_for(what: str, check: Any, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert proc.poll() is None, f"the entrypoint exited ({proc.returncode}) before {what}:\n{log_tail(log, 40)}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log_tail(log, 40)}"
        time.sleep(0.5)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as ``docker stop`` sends it; the exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def test_the_entrypoint_enrolls_runs_the_agent_and_stops_on_sigterm(stack: UpProcess, tmp_path: Path) -> None:
    operator, token, downloaded = asyncio.run(operator_with_a_worker(stack))
    # As the image mounts them: the config file (which nothing writes to) and the data folder (an empty volume).
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    config = config_dir / "worker-config.json"
    # The operator's own timings: quick heartbeats, and no benchmark render on this small machine.
    config.write_text(json.dumps({**downloaded, "heartbeat_s": 1, "poll_s": 0.5, "max_backoff_s": 2,
                                  "benchmark": False}, indent=2))  # fmt: skip
    operator_key = tmp_path / "operator.key"
    write_key_file(operator_key, operator)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICTOR_")}  # an operator's machine
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}", PICTOR_WORKER_CONFIG=str(config),
               PICTOR_WORKER_DATA_DIR=str(data_dir), PICTOR_WORKER_OPERATOR_KEY=str(operator_key))  # fmt: skip
    api = httpx.Client(base_url=stack.info["PICTOR_API_URL"], headers={"Authorization": f"Bearer {token}"}, timeout=30)
    worker_id = downloaded["worker_id"]

    def online() -> dict[str, Any] | None:
        listed = {w["worker_id"]: w for w in api.get("/workers").json()["workers"]}
        return listed[worker_id] if listed[worker_id]["status"] == "online" else None

    log = tmp_path / "entrypoint.log"
    proc = start(env, log)
    try:
        seen = wait_for("the worker to show online", online, proc, log)
        text = log.read_text()
        assert "registered on chain: node id" in text and "enrolled with the API: worker" in text, text
        key = data_dir / "node.key"
        assert key.stat().st_mode & 0o777 == 0o600
        node_address = account_address(load_key_file(key))
        assert seen["node"]["address"] == node_address and seen["node"]["registered_on_chain"] is True
        assert sorted(p.name for p in config_dir.iterdir()) == ["worker-config.json"]  # nothing written beside it
        agent = psutil.Process(proc.pid).cmdline()  # exec: the entrypoint's process is the agent
        assert "worker" in agent and "run" in agent and "--data-dir" in agent, agent
        health = subprocess.run(["pictor", "worker", "check", "--config", str(config), "--data-dir", str(data_dir)],
                                env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert health.returncode == 0, health.stderr
        assert f"operator {account_address(operator)}, role worker" in health.stdout
        stranger = tmp_path / "stranger"
        write_key_file(stranger / "node.key", generate_account())  # a node the network never saw
        refused = subprocess.run(["pictor", "worker", "check", "--config", str(config), "--data-dir", str(stranger)],
                                 env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert refused.returncode == 1 and "the API does not accept this node: HTTP 40" in refused.stderr
        assert stop(proc) == 0, log_tail(log, 40)
        assert "Traceback" not in log.read_text()

        # A container restart: init finds the key and leaves it, the same node comes back online.
        last_beat = online()["last_heartbeat"]  # the stopped agent's last one
        restart_log = tmp_path / "restart.log"
        proc = start(env, restart_log)

        def beats_again() -> dict[str, Any] | None:
            view = online()
            return view if view and view["last_heartbeat"] != last_beat else None

        again = wait_for("a heartbeat after the restart", beats_again, proc, restart_log)
        assert again["node"]["address"] == node_address
        text = restart_log.read_text()
        assert f"node key {key} exists: this node is initialised already" in text
        assert "enrolled with the API" not in text and "registered on chain" not in text
        assert stop(proc) == 0, log_tail(restart_log, 40)
    finally:
        api.close()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
