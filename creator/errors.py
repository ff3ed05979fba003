"""The creator client's one error type, with the exit code a command line gives it."""

from __future__ import annotations

from chain.errors import MoveAbortError, NodeUnavailable


class CreatorError(Exception):
    """A step the creator asked for cannot be done; ``code`` 2 for bad input, 1 for a failure elsewhere."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def chain_failure(exc: Exception, doing: str) -> CreatorError:
    """A chain error as a CreatorError: an abort the user caused is bad input (2), the rest a failure (1)."""
    if isinstance(exc, MoveAbortError):
        return CreatorError(f"{doing}: the chain refused it ({exc})", 2)
    if isinstance(exc, NodeUnavailable | OSError):
        return CreatorError(f"{doing}: the chain node cannot be reached ({exc})", 1)
    return CreatorError(f"{doing}: {exc}", 1)
