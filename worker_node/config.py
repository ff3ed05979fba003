"""The worker config file: the node config format (:mod:`protocol.node_config`) with role ``worker``.

What the API hands a worker operator (``GET /workers/{id}/config``) plus the node's local choices; the file
format, its fields and defaults are described in :mod:`protocol.node_config`. A config of role ``checker``
parses too: ``pictor worker init`` refuses it with a message naming the right command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from protocol.node_config import NodeConfig


class WorkerConfig(NodeConfig):
    """A validated worker config (see :mod:`protocol.node_config` for the file format)."""

    kind: ClassVar[str] = "worker"

    role: Literal["worker", "checker"] = Field(default="worker", description="The worker record's role.")

    def render_env(self) -> dict[str, str]:
        """Environment for the Blender subprocess: the GPU selection (CUDA/OptiX and HIP honour these)."""
        if self.gpus is None:
            return {}
        visible = ",".join(str(i) for i in self.gpus)
        return {"CUDA_VISIBLE_DEVICES": visible, "HIP_VISIBLE_DEVICES": visible}


def parse_config(data: Any, *, base: Path | None = None, source: str = "config") -> WorkerConfig:
    """Validate a worker config object; ``ConfigError`` with one line per problem."""
    return WorkerConfig.parse(data, base=base, source=source)


def load_config(path: str | Path, *, base: Path | None = None) -> WorkerConfig:
    """Read and validate a worker config file (relative paths against ``base``, default the file's folder);
    ``ConfigError`` says what is wrong."""
    return WorkerConfig.load(path, base=base)
