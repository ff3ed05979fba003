"""Liveness scenes: a challenge's fields alone decide the scene and the render settings (node and API agree)."""

from __future__ import annotations

from blender.liveness import liveness_scene
from protocol.liveness import LIVENESS_FRAMES, LivenessChallenge
from protocol.render_spec import Device


def test_the_scene_is_a_pure_function_of_the_challenge() -> None:
    challenge = LivenessChallenge(check_id=1, seed=20, width=64, height=48, samples=4, frame=90, deadline="")
    spec, params = liveness_scene(challenge)
    assert (spec.frame_start, spec.frame_end) == (1, LIVENESS_FRAMES)
    assert (spec.resolution_x, spec.resolution_y, spec.samples, spec.extra_objects) == (64, 48, 4, 20 % 7)
    assert params.device == Device.CPU and params.seed == 20 and params.samples == 4
    assert (params.resolution_x, params.resolution_y, params.resolution_percentage) == (64, 48, 100)
    assert not params.denoising and not params.adaptive_sampling and params.dither == 0.0
    # Another check with the same render fields gets the same scene: the check id and deadline play no part.
    again = LivenessChallenge(check_id=2, seed=20, width=64, height=48, samples=4, frame=90, deadline="later")
    assert liveness_scene(again) == (spec, params)
    assert liveness_scene(LivenessChallenge(1, 21, 64, 48, 4, 90, ""))[0].extra_objects == 21 % 7
