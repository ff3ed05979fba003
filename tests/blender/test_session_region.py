"""One Blender process, many regions: per-request borders, sizes and samples in RenderSession, then back to the job."""

from __future__ import annotations

import numpy as np
import pytest

from blender import RenderFailed
from blender.compare import load_frame
from blender.session import RenderRegion, RenderSession
from protocol.render_spec import BorderWindow
from tests.support.render import JOB

#: Blender's dither moves 8-bit values of a re-rendered pixel by at most 2/255 (measured; README).
DITHER = 2 / 255 + 1e-6


def pixels(path) -> np.ndarray:
    return load_frame(path).pixels


def test_regions_in_one_session_match_the_full_frame(rendered, tmp_path):
    full = pixels(rendered.frames[2])
    boxes = [(0, 0, 13, 10), (40, 30, 71, 52), (115, 86, 128, 96)]
    with RenderSession(rendered.scene, JOB, output_dir=tmp_path, persistent_data=True) as session:
        pid = session.pid
        crops = [
            session.render_frame(
                2,
                output_path=tmp_path / f"crop{i}.png",
                region=RenderRegion(border=BorderWindow.from_pixel_box(128, 96, *box)),
            )
            for i, box in enumerate(boxes)
        ]
        # A low-resolution, low-sample whole frame in the same process.
        low = session.render_frame(
            2, output_path=tmp_path / "low.png", region=RenderRegion(resolution_percentage=25, samples=2)
        )
        # Afterwards the session renders the job's own frame again: size, samples and border are restored.
        again = session.render_frame(2, output_path=tmp_path / "again.png")
        assert session.pid == pid and session.alive
    for (left, top, right, bottom), crop in zip(boxes, crops, strict=True):
        assert (crop.width, crop.height) == (right - left, bottom - top)
        diff = np.abs(pixels(crop.path) - full[top:bottom, left:right])
        assert diff.max() <= DITHER
    assert (low.width, low.height) == (32, 24)
    assert (again.width, again.height) == (128, 96)
    assert np.abs(pixels(again.path) - full).max() <= DITHER
    # Different samples really rendered: the low frame is not a shrunk copy of the full one.
    assert low.sha256 != again.sha256


def test_region_without_crop_keeps_the_frame_size(rendered, tmp_path):
    with RenderSession(rendered.scene, JOB, output_dir=tmp_path) as session:
        result = session.render_frame(
            2, region=RenderRegion(border=BorderWindow.from_pixel_box(128, 96, 10, 10, 30, 30), crop_to_border=False)
        )
    assert (result.width, result.height) == (128, 96)


def test_a_bad_region_fails_that_request_only(rendered, tmp_path):
    with RenderSession(rendered.scene, JOB, output_dir=tmp_path) as session:
        # A window narrower than a pixel of the 25% frame (32 px wide) selects nothing.
        tiny = BorderWindow(min_x=0.50, max_x=0.51, min_y=0.2, max_y=0.8)
        with pytest.raises(RenderFailed, match="selects no whole pixel"):
            session.render_frame(2, region=RenderRegion(border=tiny, resolution_percentage=25))
        assert session.alive
        assert (session.render_frame(2).width, session.info["width"]) == (128, 128)


def test_threads_and_tiles_do_not_change_pixels(rendered, tmp_path):
    with RenderSession(rendered.scene, JOB, output_dir=tmp_path, threads=1, tile_size=32) as session:
        other = session.render_frame(2)
    assert np.abs(pixels(other.path) - pixels(rendered.frames[2])).max() <= DITHER


def test_tile_size_is_checked(rendered, tmp_path):
    from blender import RenderSettingsError  # noqa: PLC0415

    with (
        pytest.raises(RenderSettingsError, match="tile_size"),
        RenderSession(rendered.scene, JOB, output_dir=tmp_path, tile_size=3),
    ):
        pass
