"""What can go wrong when rendering or inspecting a scene in a Blender subprocess."""

from __future__ import annotations


class RenderError(Exception):
    """Base class of every render and inspection failure."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        """Keep the message and the last lines of Blender's log."""
        self.log_tail = log_tail
        super().__init__(message)

    def __str__(self) -> str:
        """The message, followed by the log tail when there is one."""
        text = super().__str__()
        return f"{text}\n--- last lines of the Blender log ---\n{self.log_tail}" if self.log_tail else text


class RenderSettingsError(RenderError):
    """The job's settings cannot be applied to this scene on this node (unknown camera, no GPU, …)."""


class RenderFailed(RenderError):
    """A frame did not render: Blender reported an error, or its process died (then the session is over)."""


class RenderTimeout(RenderFailed):
    """A frame took longer than its time limit; the render process was killed."""


class RenderStopped(RenderError):
    """The render process was asked to stop (SIGTERM) and has exited after its current frame."""


class InspectError(RenderError):
    """A scene could not be inspected (not a .blend, damaged, too slow)."""


class RenderCancelled(RenderError):
    """The session was cancelled (job cancelled, lease lost): Blender was killed on purpose."""
