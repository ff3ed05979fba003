"""Liveness challenges: the small render a node heartbeat's answer may ask for, its fields and their bounds.

The API issues them (:mod:`rewards.liveness`), worker nodes answer them (``worker_node``); both parse and
bound them here. NODE_API.md, "Liveness renders", describes the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The largest liveness challenge a node agrees to render (a bad server must not make it render a feature film).
LIVENESS_MAX_PIXELS = 256 * 256
LIVENESS_MAX_SAMPLES = 64
#: Frames of the liveness scene's animation: the challenge's frame picks the cube's angle (one turn over them).
LIVENESS_FRAMES = 360


class LivenessChallengeError(ValueError):
    """A liveness challenge whose fields are missing or out of bounds."""


@dataclass(frozen=True)
class LivenessChallenge:
    """A liveness render asked in a node heartbeat's answer (see NODE_API.md, "Liveness renders")."""

    check_id: int
    seed: int
    width: int
    height: int
    samples: int
    frame: int
    deadline: str

    @classmethod
    def parse(cls, data: Any) -> LivenessChallenge:
        """Validate the heartbeat's ``liveness`` object; LivenessChallengeError when it is malformed or too big."""
        if not isinstance(data, dict):
            raise LivenessChallengeError("liveness: not an object")
        values: dict[str, int] = {}
        for name in ("check_id", "seed", "width", "height", "samples", "frame"):
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LivenessChallengeError(f"liveness.{name}: not a non-negative integer")
            values[name] = value
        if min(values["width"], values["height"]) < 1 or values["width"] * values["height"] > LIVENESS_MAX_PIXELS:
            raise LivenessChallengeError(f"liveness: {values['width']}×{values['height']} is not a small render")
        if not 1 <= values["samples"] <= LIVENESS_MAX_SAMPLES:
            raise LivenessChallengeError(f"liveness.samples: {values['samples']} is not 1..{LIVENESS_MAX_SAMPLES}")
        if not 1 <= values["frame"] <= LIVENESS_FRAMES or values["seed"] > 2**31 - 1:
            raise LivenessChallengeError("liveness: frame or seed out of range")
        return cls(deadline=str(data.get("deadline", ""))[:64], **values)
