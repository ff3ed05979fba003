"""A job's settings checked before anything is uploaded, progress lines, outcomes and frame archive names."""

from __future__ import annotations

import pytest

from creator.errors import CreatorError
from creator.jobs import job_settings, safe_member, status_line, watch_outcome


def test_job_settings_name_the_api_fields_and_refuse_bad_input() -> None:
    settings = job_settings("1-3", engine="cycles", device="CPU", samples=4, resolution="64x64", chunk=2, tier="none")
    assert settings == {
        "frames": "1-3", "resolution": "custom", "resolution_x": 64, "resolution_y": 64, "engine": "cycles",
        "device": "CPU", "samples": 4, "frames_per_node": 2, "pricing_tier": "none",
    }  # fmt: skip
    assert job_settings("1", resolution="FHD") == {"frames": "1", "resolution": "FHD"}
    for kwargs in ({"samples": 0}, {"resolution": "HDX"}, {"tier": "gold"}):
        with pytest.raises(CreatorError) as raised:
            job_settings("1-3", **kwargs)
        assert raised.value.code == 2 and "bad job settings" in str(raised.value)
    with pytest.raises(CreatorError):
        job_settings("5-1")


def test_status_lines_and_outcomes() -> None:
    frames = [{"state": s} for s in ("rendered", "verified", "rendering", "queued")]
    assert status_line({"job_id": 3, "state": "active", "frames": frames}) == (
        "job 3 active: 2/4 rendered [##########----------] (1 queued, 1 rendering)"
    )
    paused = status_line({"job_id": 3, "state": "paused", "pause_reason": "budget", "frames": []})
    assert paused == "job 3 paused: 0/0 rendered [--------------------] — paused: budget"
    assert watch_outcome({"job_id": 3, "state": "completed", "frames": frames[:2]}) == (
        0,
        "job 3 finished: 2 frames rendered",
    )
    assert watch_outcome({"job_id": 3, "state": "cancelled", "frames": frames}) == (1, "job 3 was cancelled")
    assert watch_outcome({"job_id": 4, "state": "expired", "frames": frames})[0] == 1
    assert watch_outcome({"job_id": 3, "state": "completed", "frames": [{"state": "failed"}]}) == (
        1,
        "job 3 finished with 1 failed frames",
    )


def test_frame_archive_entries_must_be_plain_file_names() -> None:
    assert safe_member("frame_000001.png") == "frame_000001.png"
    for bad in ("../x.png", "a/b.png", "/abs.png", ".hidden", "a\\b.png", ""):
        with pytest.raises(CreatorError) as raised:
            safe_member(bad)
        assert raised.value.code == 1
