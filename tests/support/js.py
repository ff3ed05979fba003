"""The official Aptos JavaScript packages for tests: ``npm ci`` of ``tests/support/js`` (once per lockfile) and its scripts.

``tests/support/js/package.json`` pins the packages, ``package-lock.json`` their whole tree; ``npm ci`` installs
them into ``tests/support/js/node_modules`` (git-ignored), skipped while the stamp there matches the lockfile.
Each ``.mjs`` script beside them prints one JSON line that the calling test asserts on. Node.js 20+ and npm
are required: without them the tests that need them fail with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO_ROOT

JS_DIR = REPO_ROOT / "tests" / "support" / "js"
NODE_MODULES = JS_DIR / "node_modules"
STAMP = NODE_MODULES / ".pictor-lock-sha256"
NPM_CI_TIMEOUT_S = 600
SCRIPT_TIMEOUT_S = 180


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: the tests that drive the official Aptos TypeScript SDK need Node.js 20+ and "
            "npm (for example `apt-get install nodejs npm`, or nodejs.org)",
            pytrace=False,
        )
    return path


def install() -> Path:
    """``npm ci`` the pinned packages unless ``node_modules`` already holds this lockfile's tree; the folder."""
    npm = _tool("npm")
    _tool("node")
    digest = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == digest:
        return JS_DIR
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_S,
    )
    if result.returncode != 0:
        pytest.fail(f"`npm ci` in {JS_DIR} failed ({result.returncode}):\n{result.stderr[-3000:]}", pytrace=False)
    STAMP.write_text(digest + "\n")
    return JS_DIR


@dataclass(frozen=True)
class NodeScripts:
    """Runs the ``.mjs`` scripts of ``tests/support/js``."""

    folder: Path

    def run(self, script: str, *args: str, timeout: float = SCRIPT_TIMEOUT_S) -> Any:
        """Run ``node script args…`` and return the JSON it printed (its last stdout line)."""
        result = subprocess.run(
            [_tool("node"), script, *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"node {script} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert lines, f"node {script} printed nothing; stderr:\n{result.stderr[-2000:]}"
        return json.loads(lines[-1])


@pytest.fixture(scope="session")
def js_sdk() -> NodeScripts:
    """The installed official JavaScript packages and a runner for the scripts beside them."""
    return NodeScripts(install())
