"""The node config file both node kinds read: shared fields, validation, file loading, the chain client it names.

A JSON object (unknown keys are refused, so a typo is an error, not a silently ignored setting)::

    {
      "worker_id": "w-42",                      # the worker the operator created in the API
      "api_url": "https://api.pictor.example",  # the Pictor API (NODE_API.md)
      "operator_address": "0x…",                # the operator's account: registers the node and receives its pay
      "role": "worker",                         # worker | checker (the API's worker record)
      "enrollment_token": "pwe_…",              # single-use token: `pictor worker init` enrolls the node key with it
      "enrollment_expires_at": "2026-…Z",       # when the token stops working (informational)
      "node_url": null,                         # Aptos node REST API override (default: PICTOR_NODE_URL)
      "package_address": null,                  # `pictor` package override (default: PICTOR_PACKAGE_ADDRESS)
      "chain_id": null,                         # expected chain id (default: trust the node)
      "cache_dir": "cache",                     # scenes, benchmark result, work directories
      "key_path": "node.key",                   # the node's Ed25519 key (created by `pictor worker init`, mode 0600)
      "gpus": null,                             # GPU indices the renders may use (null: all; [] none)
      "threads": null,                          # render threads (null: Blender's choice, every core)
      "location": "europe"                      # region, matched against a job's worker location (default any)
    }

Relative paths are taken relative to the config file's directory, so a config file and its key can
move together (or relative to a data folder the command names, beside a read-only config file). The timing knobs (heartbeat and poll intervals, back-off) have production defaults and
are there for tests and unusual networks. Worker and checker configs are one format: each node kind
(``worker_node.config``, ``checker_node.config``) sets the ``role`` it accepts and adds its own knobs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chain.client import PictorChain
from chain.errors import InvalidArgument
from chain.keys import normalize_address
from pictor.settings import get_settings
from protocol.render_spec import Region


class ConfigError(ValueError):
    """A node config file is missing, unreadable or invalid; the message says where and why."""


def _http_url(value: str, what: str) -> str:
    """An http(s) URL without a trailing slash (ValueError otherwise)."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _describe(exc: ValidationError) -> str:
    """One line per problem: ``field: message``."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "(file)"
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        elif error.get("type") == "missing":
            message = "missing (the config file from the API has it)"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


class NodeConfig(BaseModel):
    """The fields every node config has (see the module docstring); subclasses set ``role`` and ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The node kind in error messages ("… is not a valid worker config").
    kind: ClassVar[str] = "node"

    version: int = Field(default=1, description="Config file format version (1).")
    worker_id: str = Field(min_length=1, max_length=200)
    api_url: str
    operator_address: str
    role: str = Field(default="worker", description="The worker record's role (worker | checker).")
    enrollment_token: str | None = Field(default=None, repr=False, max_length=128)
    enrollment_expires_at: str | None = Field(default=None, max_length=40, description="The token's expiry (info).")
    node_url: str | None = None
    package_address: str | None = None
    chain_id: int | None = Field(default=None, ge=0, le=255)
    cache_dir: Path = Path("cache")
    key_path: Path = Path("node.key")
    gpus: list[int] | None = None
    threads: int | None = Field(default=None, ge=1, le=1024)
    location: Region = Field(
        default=Region.ANY, description="Where the node is (matched against a job's worker location)."
    )

    # Behaviour (production defaults).
    heartbeat_s: float = Field(default=15.0, gt=0, le=3600, description="Node heartbeat interval.")
    task_heartbeat_s: float = Field(default=5.0, gt=0, le=600, description="Task heartbeat interval while rendering.")
    poll_s: float = Field(default=5.0, gt=0, le=3600, description="Wait between claims when there is no work.")
    max_frames: int | None = Field(default=None, ge=1, description="Largest chunk to ask for (None: the job's).")
    upload_part_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024 * 1024,
        description="Frames larger than this are uploaded in parts of this size (the API's signed-body limit).",
    )
    max_backoff_s: float = Field(default=30.0, gt=0, le=3600, description="Longest wait between retries.")
    shutdown_grace_s: float = Field(default=60.0, ge=0, description="How long SIGTERM waits for the network.")
    submit_on_chain: bool = Field(default=True, description="Submit the on-chain results from the node account.")
    benchmark: bool = Field(default=True, description="Measure (or load the cached) performance multiplier.")

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported config version {value}; this worker reads version 1")
        return value

    @field_validator("worker_id", mode="before")
    @classmethod
    def _worker_id(cls, value: Any) -> Any:
        # The API may hand out numeric ids; the node only ever echoes them.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value, "api_url")

    @field_validator("node_url")
    @classmethod
    def _node_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "node_url")

    @field_validator("operator_address", "package_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_address(value)
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from None

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(i < 0 for i in value) or len(set(value)) != len(value):
            raise ValueError("gpus must be distinct GPU indices (0, 1, …)")
        return sorted(value)

    def resolved(self, base: Path) -> Self:
        """The same config with relative paths (cache, key) made absolute against ``base``."""
        cache = self.cache_dir.expanduser()
        key = self.key_path.expanduser()
        return self.model_copy(
            update={
                "cache_dir": cache if cache.is_absolute() else (base / cache).resolve(),
                "key_path": key if key.is_absolute() else (base / key).resolve(),
            }
        )

    def chain_overrides(self) -> dict[str, Any]:
        """The chain settings this config sets (``node_url``, ``package_address``, ``chain_id``), the rest unset."""
        pairs = (("node_url", self.node_url), ("package_address", self.package_address), ("chain_id", self.chain_id))
        return {name: value for name, value in pairs if value is not None}

    def chain_client(self) -> PictorChain:
        """A chain client from the process settings (``PICTOR_*``) with this config's overrides on top."""
        return PictorChain.from_settings(get_settings(), **self.chain_overrides())

    @classmethod
    def parse(cls, data: Any, *, base: Path | None = None, source: str = "config") -> Self:
        """Validate a config object; ``ConfigError`` with one line per problem."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the {cls.kind} config must be a JSON object")
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source} is not a valid {cls.kind} config:\n{_describe(exc)}") from None
        return config.resolved(base or Path.cwd())

    @classmethod
    def load(cls, path: str | Path, *, base: Path | None = None) -> Self:
        """Read and validate a config file; ``ConfigError`` says what is wrong. Relative paths are taken against
        ``base`` (default: the file's folder), e.g. a writable data folder beside a read-only config file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{cls.kind} config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {cls.kind} config file {path}: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        return cls.parse(data, base=base.resolve() if base else path.resolve().parent, source=str(path))
