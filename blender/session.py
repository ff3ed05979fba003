"""Render a chunk's frames in one long-lived Blender subprocess: ``RenderSession(blend, settings)``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from blender.errors import (
    RenderCancelled,
    RenderError,
    RenderFailed,
    RenderSettingsError,
    RenderStopped,
    RenderTimeout,
)
from blender.imageinfo import ImageInfoError, read_image_info
from blender.process import BlenderProcess, ChildGone
from protocol.render_spec import BorderWindow, JobSpec, RenderParams

#: Loading a big .blend (and Cycles' first kernel load) can take a while; a hang should not last forever.
DEFAULT_LOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class FrameResult:
    """One rendered frame: where it is, what it hashes to, how long it took, what it contains."""

    frame: int
    path: Path
    sha256: str
    size_bytes: int
    #: Seconds Blender spent on the frame (frame change, sync, render, write), measured in the render process.
    render_seconds: float
    #: Seconds from request to reply as this process saw them (render_seconds plus protocol and hashing).
    wall_seconds: float
    width: int
    height: int
    channels: int
    bit_depth: int
    file_format: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the signed result manifest)."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass(frozen=True)
class RenderRegion:
    """One request's departure from the session's settings: a border window, a resolution percentage, samples.

    A checker renders its crop windows (``border``) and a low-resolution reference of the whole frame
    (``resolution_percentage``, ``samples``, ``denoising``) in one Blender process this way; the session's
    own settings are restored after the request, so a worker's later frames are unaffected.
    """

    #: The window to render (None: the whole frame, even when the session has a border).
    border: BorderWindow | None = None
    #: Write only the window's pixels (True) or a full-size image with the window filled in.
    crop_to_border: bool = True
    #: Replaces the session's resolution percentage for this request (the border applies to the new size).
    resolution_percentage: int | None = None
    #: Cycles samples for this request only.
    samples: int | None = None
    #: Cycles denoising for this request only (None: the session's).
    denoising: bool | None = None

    def to_request(self) -> dict[str, Any]:
        """The protocol's ``region`` object."""
        return {
            "border": self.border.model_dump() if self.border is not None else None,
            "crop_to_border": self.crop_to_border,
            "resolution_percentage": self.resolution_percentage,
            "samples": self.samples,
            "denoising": self.denoising,
        }


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RenderSession:
    """A Blender process that has loaded one .blend with one job's settings and renders frames on request.

    Use as a context manager; :meth:`render_frame` blocks until the frame is written. A frame that
    exceeds its time limit kills the process (:class:`RenderTimeout`); a process that dies raises
    :class:`RenderFailed` with the tail of its log; either way this process carries on and a new
    session can be started. A Blender error on one frame (for example an empty border) raises
    :class:`RenderFailed` and leaves the session usable (:attr:`alive`).
    """

    def __init__(
        self,
        blend_path: str | os.PathLike[str],
        settings: RenderParams | JobSpec,
        *,
        output_dir: str | os.PathLike[str],
        frame_timeout_s: float | None = None,
        alert_after_s: float | None = None,
        on_alert: Callable[[int, float], None] | None = None,
        load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S,
        threads: int | None = None,
        tile_size: int | None = None,
        persistent_data: bool | None = None,
        gpu_backends: list[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        file_prefix: str = "frame_",
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Describe the session; nothing starts until :meth:`start` (or ``with``).

        A :class:`JobSpec` brings its own limits (``timeouts.stop_after_s`` per frame,
        ``timeouts.alert_after_s`` for ``on_alert(frame, seconds)``) unless they are given here.
        ``threads``, ``tile_size`` (Cycles tiles, pixels a side) and ``persistent_data`` (keep the synced
        scene between renders: a checker's repeated crops skip the BVH build) tune the node, never the pixels.
        """
        if isinstance(settings, JobSpec):
            frame_timeout_s = settings.timeouts.stop_after_s if frame_timeout_s is None else frame_timeout_s
            alert_after_s = settings.timeouts.alert_after_s if alert_after_s is None else alert_after_s
            settings = settings.render_params()
        self.blend_path = Path(blend_path).resolve()
        self.params: RenderParams = settings
        self.output_dir = Path(output_dir).resolve()
        if "#" in str(self.output_dir) or "#" in file_prefix:
            # Blender replaces '#' in output paths with the frame number.
            raise ValueError("output paths must not contain '#'")
        self.frame_timeout_s = frame_timeout_s
        self.alert_after_s = alert_after_s
        self.on_alert = on_alert
        self.load_timeout_s = load_timeout_s
        self.threads = threads
        self.tile_size = tile_size
        self.persistent_data = persistent_data
        self.gpu_backends = gpu_backends
        self.log_path = Path(log_path) if log_path else self.output_dir / "render.log"
        self.file_prefix = file_prefix
        self._python = python
        self._env = env
        self._proc: BlenderProcess | None = None
        self._next_id = 0
        self._state = "new"  # new → ready → (stopped | dead | cancelled | closed)
        self.info: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Start Blender, load the scene, apply the settings; returns the ready facts (scene, camera, size…)."""
        if self._state != "new":
            raise RuntimeError("a RenderSession starts once")
        if not self.blend_path.is_file():
            self._state = "dead"
            raise RenderFailed(f"scene file {self.blend_path} does not exist")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._proc = BlenderProcess(["serve"], log_path=self.log_path, python=self._python, env=self._env)
        self._proc.send(
            {
                "op": "init",
                "blend": str(self.blend_path),
                "params": self.params.model_dump(mode="json"),
                "threads": self.threads,
                "gpu_backends": self.gpu_backends,
                "tile_size": self.tile_size,
                "persistent_data": self.persistent_data,
            }
        )
        try:
            message = self._proc.receive(time.monotonic() + self.load_timeout_s)
        except TimeoutError:
            self._die("dead")
            raise RenderTimeout(
                f"Blender did not load {self.blend_path.name} within {self.load_timeout_s:g} s; the process was killed",
                log_tail=self._proc.log_tail(),
            ) from None
        except ChildGone:
            self._die("dead")
            raise RenderFailed(
                f"the render process {self._proc.exit_description()} while loading {self.blend_path.name}",
                log_tail=self._proc.log_tail(),
            ) from None
        if message.get("type") == "error":
            self._die("dead")
            error = str(message.get("error"))
            if message.get("kind") == "settings":
                raise RenderSettingsError(error)
            raise RenderFailed(error, log_tail=self._proc.log_tail())
        if message.get("type") == "stopped":
            self._die("stopped")
            raise RenderStopped("the render process was stopped (SIGTERM) while loading")
        if message.get("type") != "ready":
            self._die("dead")
            raise RenderFailed(f"unexpected reply from the render process: {message!r}", log_tail=self._proc.log_tail())
        self.info = message
        self._state = "ready"
        return message

    def __enter__(self) -> Self:
        """Start the session."""
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session (asking Blender to quit, killing it if it does not)."""
        self.close()

    def close(self) -> None:
        """Ask Blender to quit and reap it; kills it if it does not go within a few seconds."""
        proc = self._proc
        if proc is None:
            self._state = "closed"
            return
        if self._state == "ready" and proc.alive():
            try:
                proc.send({"op": "quit"})
                deadline = time.monotonic() + 5.0
                while proc.receive(deadline).get("type") != "bye":
                    pass
            except (TimeoutError, ChildGone, ValueError):
                pass
        proc.close(grace_s=5.0)
        if self._state == "ready":
            self._state = "closed"

    # -- control from other threads ----------------------------------------------------------------

    def request_stop(self) -> None:
        """SIGTERM Blender: it finishes the frame it is rendering (which is still returned), then exits."""
        if self._proc is not None:
            self._proc.signal(signal.SIGTERM)

    def cancel(self) -> None:
        """Kill Blender now (job cancelled); a :meth:`render_frame` in progress raises RenderCancelled."""
        if self._proc is not None and self._state in ("new", "ready"):
            self._state = "cancelled"
            self._proc.kill()

    # -- state -------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether frames can still be rendered in this session."""
        return self._state == "ready" and self._proc is not None and self._proc.alive()

    @property
    def pid(self) -> int | None:
        """The Blender process id (None before start)."""
        return self._proc.pid if self._proc else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines Blender wrote to the log in this session."""
        return self._proc.log_tail(lines) if self._proc else ""

    def output_path(self, frame: int) -> Path:
        """Where a frame is written unless :meth:`render_frame` is told otherwise."""
        return self.output_dir / f"{self.file_prefix}{frame:06d}.{self.params.output_format.extension}"

    # -- rendering ---------------------------------------------------------------------------------

    def render_frame(
        self,
        frame: int,
        *,
        output_path: str | os.PathLike[str] | None = None,
        timeout_s: float | None = None,
        region: RenderRegion | None = None,
    ) -> FrameResult:
        """Render one frame and return its file, sha256, timings and size.

        ``region`` changes the border, size or samples for this request only (see :class:`RenderRegion`).
        """
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise TypeError("frame must be an int")
        self._check_usable()
        assert self._proc is not None
        path = Path(output_path).resolve() if output_path else self.output_path(frame)
        if "#" in str(path):
            raise ValueError("output paths must not contain '#'")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a stale file must never pass for this render's output
        timeout_s = self.frame_timeout_s if timeout_s is None else timeout_s
        self._next_id += 1
        request_id = self._next_id
        started = time.monotonic()
        deadline = started + timeout_s if timeout_s else None
        alert_at = started + self.alert_after_s if self.alert_after_s else None

        def alert(_elapsed: float) -> None:
            if self.on_alert is not None:
                self.on_alert(frame, time.monotonic() - started)  # since the request, not since receive() began

        try:
            # A failed send is not the end: the process may have stopped on SIGTERM, its last words still unread.
            with contextlib.suppress(ChildGone):
                request: dict[str, Any] = {"op": "render", "id": request_id, "frame": frame, "path": str(path)}
                if region is not None:
                    request["region"] = region.to_request()
                self._proc.send(request)
            while True:
                message = self._proc.receive(deadline, alert_at=alert_at, on_alert=alert)
                kind = message.get("type")
                if kind == "stopped":
                    self._die("stopped")
                    raise RenderStopped(f"the render process was stopped (SIGTERM) before frame {frame}")
                if message.get("id") != request_id:
                    continue  # a late reply to an earlier request; cannot happen with one caller, ignored
                if kind == "error":
                    raise RenderFailed(str(message.get("error")), log_tail=self._proc.log_tail(15))
                if kind == "frame":
                    break
        except TimeoutError:
            self._die("dead")
            raise RenderTimeout(
                f"frame {frame} took longer than {timeout_s:g} s; the render process was killed",
                log_tail=self._proc.log_tail(),
            ) from None
        except ChildGone:
            if self._state == "cancelled":
                raise RenderCancelled(f"frame {frame} was cancelled; the render process was killed") from None
            self._die("dead")
            raise RenderFailed(
                f"the render process {self._proc.exit_description()} while rendering frame {frame}",
                log_tail=self._proc.log_tail(),
            ) from None
        size = (message.get("width"), message.get("height")) if region is not None else None
        return self._result(frame, path, float(message["render_seconds"]), started, size)

    def _check_usable(self) -> None:
        """Raise the error that explains why no frame can be rendered now."""
        if self._state == "ready" and self._proc is not None:
            return
        if self._state == "new":
            raise RuntimeError("start the session first (use it as a context manager)")
        if self._state == "stopped":
            raise RenderStopped("the render process has stopped (SIGTERM); start a new session")
        if self._state == "cancelled":
            raise RenderCancelled("the session was cancelled")
        raise RenderFailed(f"the render session is {self._state}; start a new one")

    def _die(self, state: str) -> None:
        """Mark the session finished and make sure the process is gone."""
        self._state = state
        if self._proc is not None:
            if state == "stopped":
                self._proc.wait(10)
            self._proc.kill()
            self._proc.close(grace_s=0)  # pipes too: a failed start() never reaches __exit__

    def _result(
        self, frame: int, path: Path, render_seconds: float, started: float, size: tuple[Any, Any] | None = None
    ) -> FrameResult:
        """Hash and identify the written file, and check it is what the settings (or the request's region) asked for."""
        try:
            info = read_image_info(path)
        except (OSError, ImageInfoError) as exc:
            raise RenderFailed(f"frame {frame}: the written file cannot be read: {exc}") from None
        expected = size if size is not None else (self.info.get("width"), self.info.get("height"))
        if (info.width, info.height) != expected:
            raise RenderFailed(
                f"frame {frame}: Blender wrote {info.width}×{info.height} pixels, the settings ask for "
                f"{expected[0]}×{expected[1]}"
            )
        digest = sha256_file(path)
        return FrameResult(
            frame=frame,
            path=path,
            sha256=digest,
            size_bytes=path.stat().st_size,
            render_seconds=render_seconds,
            wall_seconds=time.monotonic() - started,
            width=info.width,
            height=info.height,
            channels=info.channels,
            bit_depth=info.bit_depth,
            file_format=info.format,
        )


__all__ = ["FrameResult", "RenderError", "RenderRegion", "RenderSession", "sha256_file"]
