"""Scene inspection in a Blender subprocess with a time limit: what the creator sees before creating a job."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blender.errors import InspectError
from blender.process import BlenderProcess, ChildGone

DEFAULT_INSPECT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SceneSummary:
    """One scene of a .blend, as stored in the file."""

    name: str
    active: bool
    frame_start: int
    frame_end: int
    frame_step: int
    fps: float
    resolution_x: int
    resolution_y: int
    resolution_percentage: int
    engine: str  # Blender's identifier: CYCLES, BLENDER_EEVEE, BLENDER_WORKBENCH (or an add-on's)
    samples: int | None
    device: str | None  # Cycles only
    denoising: bool | None  # Cycles only
    adaptive_sampling: bool | None  # Cycles only
    camera: str | None
    cameras: list[str]
    output_format: str
    color_depth: str
    use_border: bool
    view_layers: list[str]


@dataclass(frozen=True)
class MissingFile:
    """An external file the scene refers to that does not exist where the scene says."""

    kind: str  # image, library, sound, movieclip, font, cache_file, volume
    name: str  # the data-block's name
    path: str  # as stored (often relative: //textures/wood.png)
    resolved: str  # absolute path that was looked for


@dataclass(frozen=True)
class SceneInfo:
    """What :func:`inspect_scene` found in a .blend."""

    path: str
    blender: str  # the bpy that inspected it
    saved_with: str  # the Blender version that last saved the file
    scenes: list[SceneSummary]
    cameras: list[str]
    missing_files: list[MissingFile] = field(default_factory=list)
    packed_files: int = 0
    #: Blender's note when the file holds Python (drivers, scripts) that was not run: scripts are never trusted.
    scripts_blocked: str | None = None
    inspect_seconds: float = 0.0

    @property
    def active_scene(self) -> SceneSummary:
        """The scene Blender opens the file with."""
        return next((s for s in self.scenes if s.active), self.scenes[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneInfo:
        """Rebuild from :meth:`to_dict` output (or the render process's message)."""
        data = {k: v for k, v in data.items() if k != "type"}
        return cls(
            **{
                **data,
                "scenes": [SceneSummary(**s) for s in data["scenes"]],
                "missing_files": [MissingFile(**m) for m in data.get("missing_files", [])],
            }
        )


def inspect_scene(
    blend_path: str | os.PathLike[str],
    *,
    timeout_s: float = DEFAULT_INSPECT_TIMEOUT_S,
    log_path: str | os.PathLike[str] | None = None,
    python: str | None = None,
) -> SceneInfo:
    """Open ``blend_path`` in a fresh Blender process and describe it; InspectError on failure or timeout."""
    path = Path(blend_path).resolve()
    if not path.is_file():
        raise InspectError(f"{path} does not exist")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pictor-inspect-") as tmp:
        proc = BlenderProcess(
            ["inspect", str(path)], log_path=Path(log_path or Path(tmp) / "inspect.log"), python=python
        )
        try:
            message = proc.receive(started + timeout_s)
        except TimeoutError:
            proc.kill()
            raise InspectError(
                f"inspecting {path.name} took longer than {timeout_s:g} s; Blender was stopped",
                log_tail=proc.log_tail(),
            ) from None
        except ChildGone:
            proc.wait(5)
            raise InspectError(
                f"Blender {proc.exit_description()} while opening {path.name}", log_tail=proc.log_tail()
            ) from None
        finally:
            proc.close(grace_s=10.0)
        if message.get("type") != "inspection":
            raise InspectError(str(message.get("error") or message), log_tail=proc.log_tail(15))
    return SceneInfo.from_dict({**message, "inspect_seconds": time.monotonic() - started})
