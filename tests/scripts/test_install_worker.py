"""``scripts/install-worker.sh`` with a stand-in ``docker`` (and ``nvidia-ctk``) on a PATH that holds nothing else:
the checks of Docker and the NVIDIA Container Toolkit, the config path, the image, the container it starts and
replaces, each answer's exit code and message; and ShellCheck on every script in ``scripts/``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO_ROOT
from tests.support.shell import lint, tool_path

SCRIPT = REPO_ROOT / "scripts" / "install-worker.sh"
FAKE_DOCKER = Path(__file__).with_name("fake_docker.py")
IMAGE = "pictor-worker:0.1.0"
TOOLKIT_URL = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
#: What the script may call besides docker and nvidia-ctk.
TOOLS = ("bash", "cat", "find", "grep")


@dataclass
class Run:
    """One run of the script: its exit code, output and the docker calls it made."""

    code: int
    out: str
    err: str
    calls: list[list[str]]

    def docker_runs(self) -> list[list[str]]:
        return [call[1:] for call in self.calls if call[:1] == ["run"]]

    def commands(self) -> list[str]:
        return [" ".join(call[:2]) for call in self.calls]


class Host:
    """A Linux host as the script sees it: a docker stand-in with its world, maybe nvidia-ctk, a config file."""

    def __init__(self, root: Path, *, docker: bool = True, toolkit: bool = True, **world: Any) -> None:
        self.root = root
        self.state = root / "docker-state"
        self.state.mkdir(parents=True)
        self.world = {"daemon": True, "runtimes": ["nvidia"] if toolkit else [], "images": [IMAGE], **world}
        (self.state / "world.json").write_text(json.dumps(self.world))
        fake = root / "fake-bin"
        fake.mkdir()
        if docker:
            (fake / "docker").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_DOCKER}" "$@"\n')
            (fake / "docker").chmod(0o755)
        if toolkit:
            (fake / "nvidia-ctk").write_text("#!/bin/sh\necho 'NVIDIA Container Toolkit CLI version 1.17.8'\n")
            (fake / "nvidia-ctk").chmod(0o755)
        self.path = tool_path(root / "bin", TOOLS, fake)
        self.config = root / "rig" / "worker-config.json"
        self.config.parent.mkdir()
        self.config.write_text(
            json.dumps({"worker_id": "7", "api_url": "https://api.example", "operator_address": "0xa"})
        )
        self.config.chmod(0o644)

    def add_container(self, name: str, labels: dict[str, str]) -> None:
        (self.state / "containers").mkdir(exist_ok=True)
        (self.state / "containers" / f"{name}.json").write_text(json.dumps({"labels": labels, "args": []}))

    def containers(self) -> dict[str, Any]:
        folder = self.state / "containers"
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}

    def install(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Run:
        calls_file = self.state / "calls.jsonl"
        calls_file.unlink(missing_ok=True)
        result = subprocess.run(
            [str(SCRIPT), *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=self.root,
            env={"PATH": self.path, "FAKE_DOCKER_STATE": str(self.state), "HOME": str(self.root), **(env or {})},
        )  # fmt: skip
        calls = [json.loads(line) for line in calls_file.read_text().splitlines()] if calls_file.exists() else []
        return Run(result.returncode, result.stdout, result.stderr, calls)


def expected_run(config: Path, *, gpus: bool, name: str = "pictor-worker", volume: str = "pictor-worker-data",
                 image: str = IMAGE, stop_timeout: str = "300") -> list[str]:  # fmt: skip
    return [
        "--detach", "--name", name, "--label", "network.pictor.install=worker", "--restart", "unless-stopped",
        "--init", "--stop-timeout", stop_timeout,
        "--mount", f"type=bind,source={config},target=/config/worker-config.json,readonly",
        "--mount", f"type=volume,source={volume},target=/data",
        *(["--gpus", "all"] if gpus else []), image,
    ]  # fmt: skip


def test_the_scripts_pass_shellcheck() -> None:
    scripts = sorted((REPO_ROOT / "scripts").glob("*.sh"))
    assert SCRIPT in scripts
    verdict = lint(*scripts)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_shellcheck_finds_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/usr/bin/env bash\nrm -rf $1/*\n[ $# = 1 ] && echo "$@"\n')
    verdict = lint(bad)
    assert verdict.returncode != 0 and "SC2086" in verdict.stdout, verdict.stdout


def test_a_gpu_host_gets_the_worker_with_all_gpus(tmp_path: Path) -> None:
    host = Host(tmp_path)
    run = host.install(str(host.config))
    assert run.code == 0, run.err
    assert run.docker_runs() == [expected_run(host.config, gpus=True)]
    assert "pull" not in run.commands()  # the image is here already
    assert "all GPUs" in run.out and "docker logs -f pictor-worker" in run.out
    assert list(host.containers()) == ["pictor-worker"]


def test_the_nvidia_runtime_alone_counts_as_the_toolkit(tmp_path: Path) -> None:
    host = Host(tmp_path, toolkit=False, runtimes=["nvidia"])  # configured in Docker, nvidia-ctk not on the PATH
    run = host.install(str(host.config))
    assert run.code == 0, run.err
    assert run.docker_runs() == [expected_run(host.config, gpus=True)]


def test_without_the_toolkit_it_says_where_to_get_it_and_stops(tmp_path: Path) -> None:
    host = Host(tmp_path, toolkit=False)
    for answer in ("", "n\n"):
        run = host.install(str(host.config), stdin=answer)
        assert run.code == 1
        assert TOOLKIT_URL in run.out and "--cpu-only" in run.err, run.out + run.err
        assert run.docker_runs() == [] and host.containers() == {}


def test_without_the_toolkit_it_can_go_on_cpu_only(tmp_path: Path) -> None:
    host = Host(tmp_path, toolkit=False)
    flag = host.install("--cpu-only", str(host.config))
    assert flag.code == 0, flag.err
    assert flag.docker_runs() == [expected_run(host.config, gpus=False)]
    assert TOOLKIT_URL not in flag.out and "the CPU only" in flag.out
    answered = host.install(stdin=f"y\n{host.config}\n")  # asked first about the CPU, then for the path
    assert answered.code == 0, answered.err
    assert answered.docker_runs() == [expected_run(host.config, gpus=False)]
    assert "continuing CPU-only" in answered.out


def test_it_asks_for_the_config_path(tmp_path: Path) -> None:
    host = Host(tmp_path)
    run = host.install(stdin=f"  '{host.config}'\n")  # a file dropped on a terminal comes quoted
    assert run.code == 0, run.err
    assert run.docker_runs() == [expected_run(host.config, gpus=True)]


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("", "no config file given"),
        ("worker-config.json", "is not a full path"),
        ("rig/worker-config.json", "is not a full path"),
        ("~/worker-config.json", "is not a full path"),
        ("{root}/nowhere/worker-config.json", "there is no file at"),
        ("{root}/rig", "is not a file"),
        ("{root}/other.json", "is not a worker config file"),
        ("{root}/private.json", "chmod a+r"),
        ("{root}/a,b.json", "has a comma"),
    ],
)
def test_bad_config_paths_are_refused_before_anything_starts(tmp_path: Path, given: str, words: str) -> None:
    host = Host(tmp_path)
    (tmp_path / "other.json").write_text('{"node": "not a worker config"}')
    (tmp_path / "other.json").chmod(0o644)
    (tmp_path / "private.json").write_text(host.config.read_text())
    (tmp_path / "private.json").chmod(0o600)
    (tmp_path / "a,b.json").write_text(host.config.read_text())
    (tmp_path / "a,b.json").chmod(0o644)
    path = given.format(root=tmp_path)
    for run in (host.install(path) if path else host.install(stdin="\n"), host.install(stdin=f"{path}\n")):
        assert run.code == 2, (run.out, run.err)
        assert words in run.err, run.err
        assert set(run.commands()) <= {"info"}, run.calls  # nothing pulled, removed or started
    assert host.containers() == {}


def test_a_second_run_replaces_the_container_it_made(tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.install(str(host.config)).code == 0
    again = host.install(str(host.config))
    assert again.code == 0, again.err
    assert again.commands().index("rm --force") < again.commands().index("run --detach")
    # --volumes drops the old container's anonymous /config volume; the named one for /data is not anonymous.
    assert ["rm", "--force", "--volumes", "pictor-worker"] in again.calls
    assert again.docker_runs() == [expected_run(host.config, gpus=True)]  # the same volume: the node key stays
    assert "replacing the container pictor-worker" in again.out
    assert list(host.containers()) == ["pictor-worker"]


def test_someone_elses_container_of_that_name_is_left_alone(tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.add_container("pictor-worker", {"com.example.app": "db"})
    run = host.install(str(host.config))
    assert run.code == 1 and "this script did not make" in run.err, run.err
    assert "rm" not in [call[0] for call in run.calls] and run.docker_runs() == []
    assert host.containers()["pictor-worker"]["labels"] == {"com.example.app": "db"}


def test_a_missing_image_is_pulled_and_a_wrong_name_says_how_to_build_it(tmp_path: Path) -> None:
    host = Host(tmp_path, images=[], registry=["ghcr.io/example/pictor-worker:1.2.3"])
    pulled = host.install("--image", "ghcr.io/example/pictor-worker", "--tag", "1.2.3", str(host.config))
    assert pulled.code == 0, pulled.err
    assert ["pull", "ghcr.io/example/pictor-worker:1.2.3"] in pulled.calls
    assert pulled.docker_runs()[0][-1] == "ghcr.io/example/pictor-worker:1.2.3"
    missing = host.install("--name", "other", str(host.config))
    assert missing.code == 1
    assert f"cannot pull {IMAGE}" in missing.err and "docker build -f docker/worker/Dockerfile" in missing.err
    assert missing.docker_runs() == []


def test_names_and_timeout_can_be_changed(tmp_path: Path) -> None:
    host = Host(tmp_path, images=["registry.example/worker:2"])
    env = {"PICTOR_WORKER_IMAGE": "registry.example/worker", "PICTOR_WORKER_TAG": "2",
           "PICTOR_WORKER_CONTAINER": "rig-2", "PICTOR_WORKER_VOLUME": "rig-2-data"}  # fmt: skip
    by_env = host.install(str(host.config), env=env)
    assert by_env.code == 0, by_env.err
    assert by_env.docker_runs() == [expected_run(host.config, gpus=True, name="rig-2", volume="rig-2-data",
                                                 image="registry.example/worker:2")]  # fmt: skip
    by_flags = host.install("--name", "rig-3", "--volume", "rig-3-data", "--stop-timeout", "900", "--tag", "2",
                            "--image", "registry.example/worker", "--pull", str(host.config))  # fmt: skip
    assert by_flags.code == 1 and "cannot pull registry.example/worker:2" in by_flags.err  # --pull always pulls
    host.world["registry"] = ["registry.example/worker:2"]
    (host.state / "world.json").write_text(json.dumps(host.world))
    by_flags = host.install("--name", "rig-3", "--volume", "rig-3-data", "--stop-timeout", "900", "--tag", "2",
                            "--image", "registry.example/worker", "--pull", str(host.config))  # fmt: skip
    assert by_flags.code == 0, by_flags.err
    assert by_flags.docker_runs() == [expected_run(host.config, gpus=True, name="rig-3", volume="rig-3-data",
                                                   image="registry.example/worker:2", stop_timeout="900")]  # fmt: skip


def test_without_docker_or_its_daemon_it_says_so(tmp_path: Path) -> None:
    missing = Host(tmp_path / "a", docker=False).install(str(tmp_path / "a" / "rig" / "worker-config.json"))
    assert missing.code == 1 and "Docker is not installed" in missing.err
    assert "https://docs.docker.com/engine/install/" in missing.err
    down = Host(tmp_path / "b", daemon=False)
    run = down.install(str(down.config))
    assert run.code == 1 and "daemon does not answer" in run.err and "Is the docker daemon running?" in run.err
    assert run.commands() == ["info"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bogus"], "unknown option --bogus"),
        (["--image"], "--image needs a value"),
        (["--stop-timeout", "soon"], "whole seconds"),
        (["/a.json", "/b.json"], "one config file"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, args: list[str], words: str) -> None:
    run = Host(tmp_path).install(*args)
    assert run.code == 2 and words in run.err, run.err
    assert run.calls == []


def test_help(tmp_path: Path) -> None:
    run = Host(tmp_path).install("--help")
    assert run.code == 0 and "--cpu-only" in run.out and "full/path/worker-config.json" in run.out
    assert run.calls == []
