"""``docker/worker/Dockerfile`` read statically, in place of hadolint (not in Debian) and of a build (no Docker
daemon here): a CUDA runtime base, pinned images, Python 3.11 with the project's pinned bpy, the whole project
copied and installed without the dev extra, a non-root user, the volumes, the health check, the entrypoint."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass

import pytest

from tests.support import REPO_ROOT

DOCKERFILE = REPO_ROOT / "docker" / "worker" / "Dockerfile"
ENTRYPOINT = REPO_ROOT / "docker" / "worker" / "entrypoint.sh"
IGNORE = REPO_ROOT / "docker" / "worker" / "Dockerfile.dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), each with its stage."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        pending += line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
        else:
            joined.append(pending)
            pending = ""
    assert not pending, "the Dockerfile ends in a continuation"
    out, stage = [], -1
    for text in joined:
        keyword, _, args = text.partition(" ")
        stage += keyword.upper() == "FROM"
        out.append(Instruction(keyword.upper(), args.strip(), stage))
    return out


def of(instructions: list[Instruction], keyword: str, stage: int | None = None) -> list[str]:
    return [i.args for i in instructions if i.keyword == keyword and (stage is None or i.stage == stage)]


def final_stage(instructions: list[Instruction]) -> int:
    return instructions[-1].stage


def test_the_base_is_a_cuda_runtime_image(instructions: list[Instruction]) -> None:
    froms = of(instructions, "FROM")
    aliases = {}
    for args in froms:
        image, _, alias = args.partition(" AS ")
        aliases[alias.strip()] = aliases.get(image, image)  # a stage built on a stage has that stage's base
    final_base = aliases.get(froms[-1], froms[-1])
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", final_base), final_base


def test_every_image_is_pinned_to_a_version(instructions: list[Instruction]) -> None:
    stages = {args.partition(" AS ")[2].strip() for args in of(instructions, "FROM")} - {""}
    images = [args.partition(" AS ")[0] for args in of(instructions, "FROM")]
    images += [m for args in of(instructions, "COPY") for m in re.findall(r"--from=(\S+)", args)]
    external = [image for image in images if image not in stages]
    assert external, images
    for image in external:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag and tag not in ("", "latest"), f"{image} is not pinned to a version"
        assert re.search(r"\d", tag), f"{image}: a version tag, not a floating name"
    assert "latest" not in DOCKERFILE.read_text()


def test_python_311_and_the_project_with_its_pinned_bpy(instructions: list[Instruction]) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = [dep for dep in project["dependencies"] if dep.startswith("bpy")]
    assert pins and all(re.fullmatch(r"bpy==\d+\.\d+\.\d+", pin) for pin in pins), pins  # bpy needs 3.11 exactly
    runs = of(instructions, "RUN")
    assert any("uv python install 3.11" in run and "--python 3.11" in run for run in runs), runs
    installs = [run for run in runs if "pip install" in run]
    assert len(installs) == 1 and re.search(r"pip install --no-cache-dir \.(\s|$)", installs[0]), installs
    assert "[dev]" not in DOCKERFILE.read_text() and "bpy" not in installs[0].split("&&")[0]
    assert any("import bpy" in run for run in runs)  # the build fails when the wheel misses a library


def test_the_whole_project_is_copied_and_nothing_else_is_sent(instructions: list[Instruction]) -> None:
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    wanted = [name.rstrip("*") for name in packages["include"]]
    copied = [src.rstrip("/") for args in of(instructions, "COPY") if not args.startswith("--")
              for src in args.split()[:-1]]  # fmt: skip
    for package in wanted:
        assert package in copied, f"{package}/ is not copied: pip install . would leave it out"
    allowed = {line[1:].rstrip("/") for line in IGNORE.read_text().splitlines() if line.startswith("!")}
    rules = [line for line in IGNORE.read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything else stays out of the build context (.venv, .git, data)
    assert set(copied) <= allowed, set(copied) - allowed
    assert {"pyproject.toml", "README.md"} <= set(copied)


def test_a_non_root_user_runs_it(instructions: list[Instruction]) -> None:
    final = final_stage(instructions)
    users = of(instructions, "USER", final)
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    uid = users[-1].split(":")[0]
    assert any(f"useradd --system --uid {uid}" in run for run in of(instructions, "RUN", final))


def test_volumes_and_the_entrypoints_paths(instructions: list[Instruction]) -> None:
    final = final_stage(instructions)
    volumes = json.loads(of(instructions, "VOLUME", final)[0])
    assert volumes == ["/config", "/data"]
    env = " ".join(of(instructions, "ENV", final))
    assert "PICTOR_WORKER_CONFIG=/config/worker-config.json" in env and "PICTOR_WORKER_DATA_DIR=/data" in env
    script = ENTRYPOINT.read_text()
    assert "config=${PICTOR_WORKER_CONFIG:-/config/worker-config.json}" in script
    assert "data_dir=${PICTOR_WORKER_DATA_DIR:-/data}" in script
    assert "chown pictor:pictor /data" in " ".join(of(instructions, "RUN", final))  # a fresh volume is writable
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics" in env  # graphics brings the driver's OptiX


def test_the_entrypoint_is_the_script_and_a_health_check_asks_the_api(instructions: list[Instruction]) -> None:
    final = final_stage(instructions)
    entrypoints = of(instructions, "ENTRYPOINT", final)
    assert len(entrypoints) == 1 and json.loads(entrypoints[0]) == ["/usr/local/bin/pictor-worker-entrypoint"]
    assert "docker/worker/entrypoint.sh /usr/local/bin/pictor-worker-entrypoint" in of(instructions, "COPY", final)
    assert not of(instructions, "CMD", final)
    checks = of(instructions, "HEALTHCHECK", final)
    assert len(checks) == 1 and "NONE" not in checks[0]
    assert re.search(r"--interval=\d+s .*CMD pictor worker check --config \"\$PICTOR_WORKER_CONFIG\" "
                     r"--data-dir \"\$PICTOR_WORKER_DATA_DIR\" \|\| exit 1$", checks[0]), checks[0]  # fmt: skip
    assert of(instructions, "STOPSIGNAL", final) == ["SIGTERM"]
