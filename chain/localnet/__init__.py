"""Pictor's embedded Aptos-compatible local chain ("localnet").

* :func:`run_localnet` runs one in the current process (``pictor localnet`` and
  ``python -m chain.localnet`` call it);
* :func:`start_localnet_process` starts one in a subprocess on free ports with its own data dir and
  returns once it is healthy: what tests and the benchmark use.

The data dir holds ``ledger.sqlite`` (the chain), ``keys/`` (genesis keys and ``accounts.json``),
``localnet.json`` (URLs and pid of the running process) and ``localnet.log`` (subprocess output).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_FILE = "localnet.json"
LOG_FILE = "localnet.log"


def run_localnet(host: str, port: int, faucet_port: int, data_dir: str | Path, test_clock: bool) -> None:
    """Run a localnet in this process until SIGTERM / SIGINT (blocking)."""
    # lazy: tests and tools import this package for start_localnet_process without loading uvicorn and the node
    from chain.localnet.server import run_localnet as _run

    _run(host, port, faucet_port, data_dir, test_clock)


class LocalnetProcess:
    """A localnet running in a child process (see :func:`start_localnet_process`)."""

    def __init__(self, proc: subprocess.Popen[bytes], data_dir: Path, node_url: str, faucet_url: str) -> None:
        self.proc = proc
        self.data_dir = data_dir
        self.node_url = node_url  # ends in /v1
        self.faucet_url = faucet_url

    @property
    def pid(self) -> int:
        """Process id of the localnet."""
        return self.proc.pid

    @property
    def keys_dir(self) -> Path:
        """Where genesis wrote the keys (``DATA_DIR/keys``)."""
        return self.data_dir / "keys"

    def accounts(self) -> dict[str, str]:
        """Genesis accounts: name -> address (``keys/accounts.json``)."""
        return json.loads((self.keys_dir / "accounts.json").read_text())

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL, for crash tests) and reap the process if it exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM: the block in flight commits, the database closes), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process's output (``localnet.log``)."""
        try:
            return (self.data_dir / LOG_FILE).read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> LocalnetProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_localnet_process(
    data_dir: str | Path,
    *,
    port: int = 0,
    faucet_port: int = 0,
    test_clock: bool = False,
    host: str = "127.0.0.1",
    timeout: float = 120.0,
    log_level: str = "WARNING",
) -> LocalnetProcess:
    """Start ``python -m chain.localnet`` on ``data_dir`` (port 0: a free port) and wait until it is healthy."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / READY_FILE
    ready.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "chain.localnet",
        "--host",
        host,
        "--port",
        str(port),
        "--faucet-port",
        str(faucet_port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        log_level,
    ]
    if test_clock:
        cmd.append("--test-clock")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    log = open(data_dir / LOG_FILE, "ab")  # noqa: SIM115 - the child keeps writing after we return
    try:
        proc = subprocess.Popen(
            # its own session: a terminal's Ctrl-C goes to its owner, which stops it after the services above it
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    info: dict[str, Any] | None = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (data_dir / LOG_FILE).read_text(errors="replace")[-4000:]
                raise RuntimeError(f"localnet exited with code {proc.returncode} during start:\n{tail}")
            if info is None and ready.exists():
                try:
                    candidate = json.loads(ready.read_text())
                    if candidate.get("pid") == proc.pid:
                        info = candidate
                except (ValueError, OSError):
                    pass
            if info is not None:
                try:
                    if httpx.get(info["node_url"] + "/-/healthy", timeout=2).status_code == 200:
                        return LocalnetProcess(proc, data_dir, info["node_url"], info["faucet_url"])
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"localnet did not become healthy within {timeout}s")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        raise


__all__ = ["LocalnetProcess", "run_localnet", "start_localnet_process"]
