"""The parent's handle on a Blender child process: start it, exchange JSON lines with deadlines, kill it."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Bytes of the log read back for a failure message, and how many of its lines are kept.
_TAIL_BYTES = 32_768
_TAIL_LINES = 40


class ChildGone(Exception):
    """The child closed its protocol channel or died."""


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child: this checkout importable, unbuffered Python output for the log."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class BlenderProcess:
    """One ``python -m blender.blender_proc`` process with its log file."""

    def __init__(
        self,
        args: list[str],
        *,
        log_path: Path,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start the child; its stderr (Blender's whole output) is appended to ``log_path``."""
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_start = log.tell()
            # A session of its own: the agent's Ctrl-C or SIGTERM does not reach Blender; the agent decides
            # whether the frame is finished, and killing the group takes any grandchild with it.
            self.proc = subprocess.Popen(
                [python or sys.executable, "-m", "blender.blender_proc", *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=child_env(env),
                start_new_session=True,
                bufsize=0,
            )
        self._buffer = bytearray()
        self._selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self._eof = False
        self._closed = False

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.proc.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        """Write one request line; ChildGone when the child no longer reads."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise ChildGone("the render process is not reading requests") from None

    def receive(
        self,
        deadline: float | None,
        *,
        alert_at: float | None = None,
        on_alert: Callable[[float], None] | None = None,
    ) -> dict[str, Any]:
        """The next message; TimeoutError at ``deadline`` (monotonic), ChildGone at end of output.

        ``on_alert(elapsed)`` is called once if ``alert_at`` passes first (a slow-frame warning).
        """
        started = time.monotonic()
        while True:
            line = self._pop_line()
            if line is not None:
                return json.loads(line)
            if self._eof:
                raise ChildGone("the render process closed its output")
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError
            wake = deadline
            if alert_at is not None:
                if now >= alert_at:
                    if on_alert is not None:
                        on_alert(now - started)
                    alert_at = None
                else:
                    wake = alert_at if wake is None else min(wake, alert_at)
            # Wake at least every second so a dead child is noticed even if its pipe stays open elsewhere.
            timeout = 1.0 if wake is None else max(0.0, min(1.0, wake - now))
            for _key, _events in self._selector.select(timeout):
                self._read_available()
            if not self._buffer and not self._eof and self.proc.poll() is not None:
                self._read_available()
                if not self._buffer:
                    self._eof = True

    def _read_available(self) -> None:
        """Move whatever the pipe holds into the buffer."""
        assert self.proc.stdout is not None
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65_536)
            except BlockingIOError:
                return
            if not chunk:
                self._eof = True
                return
            self._buffer.extend(chunk)

    def _pop_line(self) -> bytes | None:
        """One complete line from the buffer, if there is one."""
        end = self._buffer.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line if line.strip() else self._pop_line()

    def signal(self, signum: int) -> None:
        """Send a signal to the child (not its group: Blender handles SIGTERM itself)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signum)

    def kill(self) -> None:
        """Kill the child and anything it started, and reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.wait(10)

    def wait(self, timeout: float) -> int | None:
        """Reap the child within ``timeout`` seconds; its exit code, or None if it is still running."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self, grace_s: float = 5.0) -> None:
        """Close the pipes and make sure the child is gone (killed after ``grace_s``); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.wait(grace_s) is None:
            self.kill()
        self._selector.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def exit_description(self) -> str:
        """How the child ended, in words (or that it is still running)."""
        code = self.proc.poll()
        if code is None:
            return "is still running"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"was killed by {name}"
        return f"exited with code {code}"

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines this child wrote to the log."""
        try:
            with open(self.log_path, "rb") as log:
                size = log.seek(0, os.SEEK_END)
                start = max(self._log_start, size - _TAIL_BYTES)
                log.seek(start)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [line.rstrip() for line in text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])
