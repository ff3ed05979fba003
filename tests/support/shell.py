"""Shell-script helpers: ShellCheck (installed from Debian when missing) and a PATH that holds only named tools."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=900, env=env)


@functools.cache
def shellcheck() -> str:
    """The shellcheck executable: Debian's package is installed when it is missing (the CI runs as root); the
    test fails, never skips, when it cannot be had."""
    found = shutil.which("shellcheck")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("shellcheck is missing and cannot be installed here (needs root and apt-get): "
                    "apt-get install -y shellcheck")  # fmt: skip
    install = _apt_get("install", "-y", "-q", "shellcheck")
    if install.returncode != 0:  # a fresh machine has no package lists yet
        update = _apt_get("update", "-q")
        install = _apt_get("install", "-y", "-q", "shellcheck")
        if install.returncode != 0:
            pytest.fail(f"apt-get could not install shellcheck:\n{update.stderr[-1500:]}\n{install.stderr[-1500:]}")
    found = shutil.which("shellcheck")
    if not found:
        pytest.fail("apt-get installed shellcheck, yet it is not on the PATH")
    return found


def lint(*scripts: Path) -> subprocess.CompletedProcess[str]:
    """ShellCheck's verdict on the scripts (every check at its default severity, the shebang's shell)."""
    return subprocess.run([shellcheck(), "--format=gcc", *map(str, scripts)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def tool_path(folder: Path, tools: Iterable[str], *extra: Path) -> str:
    """A PATH of ``extra`` folders first, then ``folder`` holding links to just ``tools`` from this PATH: a
    script run with it finds nothing else (no real docker, no nvidia-ctk)."""
    folder.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        assert found, f"{tool} is not installed"
        (folder / tool).symlink_to(found)
    return os.pathsep.join([*map(str, extra), str(folder)])
