"""Liveness challenges: what a node accepts to render, checked before anything renders."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.liveness import (
    LIVENESS_FRAMES,
    LIVENESS_MAX_PIXELS,
    LIVENESS_MAX_SAMPLES,
    LivenessChallenge,
    LivenessChallengeError,
)

GOOD = {"check_id": 9, "seed": 2**31 - 1, "width": 64, "height": 48, "samples": 4, "frame": LIVENESS_FRAMES,
        "deadline": "2099-01-01T00:00:00Z"}  # fmt: skip


def test_a_challenge_within_bounds_parses() -> None:
    challenge = LivenessChallenge.parse(GOOD)
    assert challenge == LivenessChallenge(9, 2**31 - 1, 64, 48, 4, LIVENESS_FRAMES, "2099-01-01T00:00:00Z")
    assert LivenessChallenge.parse({**GOOD, "deadline": "x" * 100}).deadline == "x" * 64
    assert LivenessChallenge.parse({k: v for k, v in GOOD.items() if k != "deadline"}).deadline == ""
    side = int(LIVENESS_MAX_PIXELS**0.5)
    assert LivenessChallenge.parse({**GOOD, "width": side, "height": side, "samples": LIVENESS_MAX_SAMPLES})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not a dict", "not an object"),
        ({**GOOD, "check_id": None}, "liveness.check_id"),
        ({**GOOD, "width": 1.5}, "liveness.width"),
        ({**GOOD, "height": 0}, "not a small render"),
        ({**GOOD, "width": 257, "height": 256}, "not a small render"),
        ({**GOOD, "samples": 0}, "liveness.samples"),
        ({**GOOD, "frame": 0}, "out of range"),
        ({**GOOD, "seed": 2**31}, "out of range"),
    ],
)
def test_malformed_or_oversized_challenges_are_refused(data: Any, message: str) -> None:
    with pytest.raises(LivenessChallengeError, match=message):
        LivenessChallenge.parse(data)
