"""The checker config file: the worker config format (``worker_node/config.py``) with role ``checker``, plus
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

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from worker_node.config import ConfigError, WorkerConfig, _describe


class CheckerConfig(WorkerConfig):
    """A validated checker config."""

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
    """Validate a config object; ``ConfigError`` with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the checker config must be a JSON object")
    try:
        config = CheckerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is not a valid checker config:\n{_describe(exc)}") from None
    return config.resolved(base or Path.cwd())  # type: ignore[return-value]


def load_checker_config(path: str | Path) -> CheckerConfig:
    """Read and validate a checker config file; ``ConfigError`` says what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"checker config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read checker config file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return parse_checker_config(data, base=path.resolve().parent, source=str(path))
