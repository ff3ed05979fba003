"""``docker/worker/entrypoint.sh`` outside Docker with a stand-in ``pictor`` that records its calls: what it refuses
(exit 2, nothing started), the init it runs at every start and what it does with init's exit codes, the exec into
``pictor worker run`` (same process: Docker's SIGTERM reaches the agent); and ShellCheck on it. The real agent
against a real stack is ``test_entrypoint_real_stack.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tests.support.shell import lint, tool_path

ENTRYPOINT = REPO_ROOT / "docker" / "worker" / "entrypoint.sh"
#: A stand-in for `pictor`: records its arguments and pid; ``worker init`` exits FAKE_INIT_EXIT.
FAKE_PICTOR = """#!/bin/sh
printf '%s\\n' "$$ $*" >> "$FAKE_PICTOR_CALLS"
if [ "$2" = init ]; then exit "${FAKE_INIT_EXIT:-0}"; fi
exit "${FAKE_RUN_EXIT:-0}"
"""


class Node:
    """A config file, a data folder and a PATH with the stand-in ``pictor`` (and only bash, id, mkdir besides)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config" / "worker-config.json"
        self.config.parent.mkdir(parents=True)
        self.config.write_text(
            json.dumps({"worker_id": "7", "api_url": "http://127.0.0.1:9", "operator_address": "0xa"})
        )
        self.data = root / "data"
        self.calls_file = root / "pictor-calls"
        fake = root / "fake-bin"
        fake.mkdir()
        (fake / "pictor").write_text(FAKE_PICTOR)
        (fake / "pictor").chmod(0o755)
        self.path = tool_path(root / "bin", ("bash", "id", "mkdir"), fake)

    def env(self, **changes: str) -> dict[str, str]:
        return {"PATH": self.path, "FAKE_PICTOR_CALLS": str(self.calls_file), "PICTOR_WORKER_CONFIG": str(self.config),
                "PICTOR_WORKER_DATA_DIR": str(self.data), **changes}  # fmt: skip

    def start(self, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[tuple[int, str]]]:
        self.calls_file.unlink(missing_ok=True)
        done = subprocess.Popen([str(ENTRYPOINT), *args], env=self.env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        out, err = done.communicate(timeout=30)
        result = subprocess.CompletedProcess(done.args, done.returncode, out, err)
        calls = []
        if self.calls_file.exists():
            for line in self.calls_file.read_text().splitlines():
                pid, _, words = line.partition(" ")
                calls.append((int(pid), words))
        self.pid = done.pid
        return result, calls


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def test_the_entrypoint_passes_shellcheck() -> None:
    verdict = lint(ENTRYPOINT)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert os.access(ENTRYPOINT, os.X_OK)


def test_a_start_initialises_if_needed_then_becomes_the_agent(node: Node) -> None:
    result, calls = node.start()
    assert result.returncode == 0, result.stderr
    config, data = node.config, node.data
    assert [words for _, words in calls] == [
        f"worker init --if-needed --config {config} --data-dir {data}",
        f"worker run --config {config} --data-dir {data} --log-level INFO",
    ]
    assert calls[1][0] == node.pid  # exec: the agent is the process Docker signals
    assert data.is_dir() and result.stderr == ""


def test_the_operator_key_log_level_and_arguments_are_passed_on(node: Node) -> None:
    key = node.root / "operator.key"
    key.write_text("0x" + "11" * 32)
    result, calls = node.start("--log-level", "WARNING", PICTOR_WORKER_OPERATOR_KEY=str(key),
                               PICTOR_WORKER_LOG_LEVEL="DEBUG")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert calls[0][1].endswith(f"--data-dir {node.data} --operator-key {key}")
    assert calls[1][1].endswith("--log-level DEBUG --log-level WARNING")  # the last one wins in typer


def test_init_refusing_bad_input_stops_the_start(node: Node) -> None:
    result, calls = node.start(FAKE_INIT_EXIT="2")
    assert result.returncode == 2
    assert [words.split()[1] for _, words in calls] == ["init"]  # the agent never ran


def test_a_failed_chain_or_enrollment_step_is_reported_and_the_agent_starts(node: Node) -> None:
    result, calls = node.start(FAKE_INIT_EXIT="1", FAKE_RUN_EXIT="0")
    assert result.returncode == 0
    assert [words.split()[1] for _, words in calls] == ["init", "run"]
    assert "warning: a chain or enrollment step of the first start failed" in result.stderr
    assert f"pictor worker enroll --config {node.config} --data-dir {node.data}" in result.stderr
    again, _ = node.start(FAKE_RUN_EXIT="1")
    assert again.returncode == 1  # the agent's own exit code is the container's


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("missing", "there is no worker config file at {config}"),
        ("folder", "{config} is a folder, not the worker config file"),
        ("data_is_a_file", "the data folder {data} is not writable"),
        ("operator_key_missing", "PICTOR_WORKER_OPERATOR_KEY names {root}/nope.key, which is not a readable file"),
    ],
)
def test_bad_input_is_refused_before_pictor_runs(node: Node, change: str, words: str) -> None:
    env = {}
    if change == "missing":
        node.config.unlink()
    elif change == "folder":  # what Docker makes of a bind mount whose host path does not exist
        node.config.unlink()
        node.config.mkdir()
    elif change == "data_is_a_file":
        node.data.write_text("")
    elif change == "operator_key_missing":
        env["PICTOR_WORKER_OPERATOR_KEY"] = str(node.root / "nope.key")
    result, calls = node.start(**env)
    assert result.returncode == 2
    assert f"pictor-worker: error: {words.format(config=node.config, data=node.data, root=node.root)}" in result.stderr
    assert calls == []


def test_the_defaults_are_the_image_paths(node: Node) -> None:
    env = node.env()
    del env["PICTOR_WORKER_CONFIG"], env["PICTOR_WORKER_DATA_DIR"]
    result = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no worker config file at /config/worker-config.json" in result.stderr


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can reach (pytest's own temporary folders are the owner's only)."""
    folder = Path(tempfile.mkdtemp(prefix="pictor-entrypoint-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_an_unreadable_config_is_named_with_the_fix(shared_folder: Path) -> None:
    config = shared_folder / "worker-config.json"
    config.write_text("{}")
    config.chmod(0o600)
    env = {"PATH": "/usr/bin:/bin", "PICTOR_WORKER_CONFIG": str(config), "PICTOR_WORKER_DATA_DIR": str(shared_folder)}
    command = [str(ENTRYPOINT)]
    if os.geteuid() == 0:  # root reads anything: run it as nobody, as the image runs it as its own user
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to run the entrypoint as another user"
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        assert os.access(ENTRYPOINT.parent, os.X_OK)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"the worker config file {config} is not readable by this user" in result.stderr
    assert "chmod a+r" in result.stderr
