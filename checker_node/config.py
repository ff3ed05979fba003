"""The checker config file: the node config format (:mod:`protocol.node_config`) with role ``checker``, plus
the verification knobs.

The API's operator-created config (``GET /workers/{id}/config`` for a worker of role ``checker``) is accepted
as it is; a hand-written one needs ``worker_id``, ``api_url`` and ``operator_address``. Extra keys::

    "crop_count": null,         # crop windows re-rendered per frame (null: the verifier's default)
    "crop_fraction": null,      # each window's share of each side (null: the verifier's default)
    "parallel_renders": null,   # crop renders at once (null: the verifier's default)
    "crop_timeout_s": null,     # time limit of one crop render (null: the verifier's default)
    "verify_heartbeat_s": 10.0  # lease heartbeats while verifying

Unknown keys are refused, as for workers; relative paths are taken from the config file's directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from protocol.node_config import NodeConfig


class CheckerConfig(NodeConfig):
    """A validated checker config."""

    kind: ClassVar[str] = "checker"

    role: str = Field(default="checker", description="Must be checker (a worker config is refused).")
    # The verification knobs default to None: the verifier's own (measured) defaults (checker_node/verify).
    crop_count: int | None = Field(default=None, ge=1, le=32, description="Crop windows re-rendered per frame.")
    crop_fraction: float | None = Field(default=None, ge=0.01, le=1.0, description="Each crop's share of each side.")
    parallel_renders: int | None = Field(default=None, ge=1, le=32, description="Crop renders at once.")
    crop_timeout_s: float | None = Field(default=None, gt=0, description="Time limit of one crop render.")
    verify_heartbeat_s: float = Field(default=10.0, gt=0, le=600, description="Lease heartbeats while verifying.")

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value != "checker":
            raise ValueError(f"this is a config for a {value} node; `pictor checker` needs role checker")
        return value


def parse_checker_config(data: Any, *, base: Path | None = None, source: str = "config") -> CheckerConfig:
    """Validate a checker config object; ``ConfigError`` with one line per problem."""
    return CheckerConfig.parse(data, base=base, source=source)


def load_checker_config(path: str | Path) -> CheckerConfig:
    """Read and validate a checker config file; ``ConfigError`` says what is wrong."""
    return CheckerConfig.load(path)
