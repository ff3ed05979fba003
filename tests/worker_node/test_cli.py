"""``pictor worker`` beside a read-only config file, as the Docker image runs it: ``--data-dir`` holds the key and
the cache, ``init --if-needed`` leaves an existing key alone, ``check`` says when the API cannot be asked (the
API accepting and refusing a node is in ``tests/docker/test_entrypoint_real_stack.py``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chain.keys import account_address, load_key_file
from cli.main import app
from worker_node.config import load_config


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config as the API hands it out, less the token (enrollment is then skipped: no API needed)."""
    path = tmp_path / "config" / "worker-config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"worker_id": "7", "api_url": f"http://127.0.0.1:{closed_port()}",
                                "operator_address": "0xa11ce", "role": "worker"}))  # fmt: skip
    return path


def worker(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["worker", *args])
    return result.exit_code, result.output


def test_relative_paths_go_to_the_data_folder(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert load_config(config, base=data).key_path == data / "node.key"
    assert load_config(config, base=data).cache_dir == data / "cache"
    assert load_config(config).key_path == config.parent / "node.key"  # without it: beside the config file
    absolute = tmp_path / "keys" / "rig.key"
    config.write_text(json.dumps({**json.loads(config.read_text()), "key_path": str(absolute)}))
    assert load_config(config, base=data).key_path == absolute


def test_init_writes_the_key_in_the_data_folder_and_if_needed_leaves_it(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    code, out = worker("init", "--config", str(config), "--data-dir", str(data))
    assert code == 0, out
    key = data / "node.key"
    assert f"node key:           {key}" in out and "enrollment skipped" in out
    assert sorted(p.name for p in config.parent.iterdir()) == ["worker-config.json"]
    before = key.read_bytes()
    code, out = worker("init", "--if-needed", "--config", str(config), "--data-dir", str(data))
    assert code == 0 and f"node key {key} exists: this node is initialised already" in out
    assert key.read_bytes() == before
    code, out = worker("init", "--config", str(config), "--data-dir", str(data))
    assert code == 2 and "refusing to overwrite it" in out
    assert key.read_bytes() == before
    assert account_address(load_key_file(key))


def test_if_needed_still_checks_the_config(config: Path, tmp_path: Path) -> None:
    config.write_text(json.dumps({**json.loads(config.read_text()), "role": "checker"}))
    code, out = worker("init", "--if-needed", "--config", str(config), "--data-dir", str(tmp_path))
    assert code == 2 and "not of a worker" in out
    assert not (tmp_path / "node.key").exists()


def test_a_missing_data_folder_is_bad_input(config: Path, tmp_path: Path) -> None:
    for command in ("init", "enroll", "run", "check"):
        code, out = worker(command, "--config", str(config), "--data-dir", str(tmp_path / "nowhere"))
        assert code == 2 and f"the data folder {tmp_path / 'nowhere'} does not exist" in out, (command, out)
    assert not (tmp_path / "nowhere").exists()


def test_commands_without_the_key_name_the_data_folder(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config.write_text(json.dumps({**json.loads(config.read_text()), "enrollment_token": "pwe_x"}))
    code, out = worker("enroll", "--config", str(config), "--data-dir", str(data))
    assert code == 2 and f"run `pictor worker init --config {config} --data-dir {data}` first" in out
    code, out = worker("check", "--config", str(config), "--data-dir", str(data))
    assert code == 2 and f"no node key at {data / 'node.key'}" in out


def test_check_fails_when_the_api_does_not_answer(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert worker("init", "--config", str(config), "--data-dir", str(data))[0] == 0
    code, out = worker("check", "--config", str(config), "--data-dir", str(data))
    api_url = json.loads(config.read_text())["api_url"]
    assert code == 1 and f"the API at {api_url} did not answer: ConnectError" in out, out
