"""Real renders with bpy in a subprocess: formats, determinism, borders, timeouts, crashes, SIGTERM, cancel."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from blender import (
    RenderCancelled,
    RenderFailed,
    RenderSession,
    RenderSettingsError,
    RenderStopped,
    RenderTimeout,
    read_image_info,
    sha256_file,
)
from blender.scenegen import SceneSpec, generate_scene
from protocol.render_spec import BorderWindow, parse_job_spec
from protocol.telemetry import collect_telemetry
from tests.support.render import read_png, tiny

#: Samples that keep a 64×48 frame busy for many seconds (about 3 ms a sample on the 2-core CI machine).
SLOW_SAMPLES = 60_000


@pytest.fixture(scope="module")
def samples_for(scenes, tmp_path_factory):
    """Sample count that keeps a 64×48 frame busy for about the given seconds on this machine (measured once)."""
    with RenderSession(scenes.basic, tiny(samples=200), output_dir=tmp_path_factory.mktemp("calibrate")) as session:
        session.render_frame(1)  # warm-up: kernel load
        per_sample = session.render_frame(1).render_seconds / 200

    def samples(seconds: float) -> int:
        return max(50, min(60_000, int(seconds / per_sample)))

    return samples


def wait_for_log(session: RenderSession, text: str, timeout_s: float = 60.0) -> None:
    """Block until the render log shows ``text`` (the frame really started)."""
    deadline = time.monotonic() + timeout_s
    while text not in session.log_tail(200):
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log:\n{session.log_tail()}"
        time.sleep(0.05)


def test_chunk_renders_frames_in_one_process(scenes, out_dir):
    with RenderSession(scenes.basic, tiny(), output_dir=out_dir) as session:
        info = session.info
        assert (info["blender"], info["scene"], info["camera"], info["engine"]) == (
            "5.0.1",
            "Scene",
            "Camera",
            "CYCLES",
        )
        assert (info["width"], info["height"], info["device"]) == (64, 48, "CPU")
        pid = session.pid
        results = [session.render_frame(frame) for frame in (1, 2, 3)]
        assert session.pid == pid and session.alive
    assert not session.alive
    for frame, result in zip((1, 2, 3), results, strict=True):
        assert result.frame == frame
        assert result.path == out_dir / f"frame_{frame:06d}.png" and result.path.is_file()
        assert result.sha256 == sha256_file(result.path) and result.size_bytes == result.path.stat().st_size
        assert (result.width, result.height, result.channels, result.bit_depth) == (64, 48, 4, 8)
        assert 0 < result.render_seconds <= result.wall_seconds
        assert result.to_dict()["path"] == str(result.path)
    # The cube turns: every frame differs.
    assert len({r.sha256 for r in results}) == 3
    # Blender's own output went to the log, not into the protocol.
    log = (out_dir / "render.log").read_text()
    assert "rendering frame 3" in log and "Saved:" in log


@pytest.mark.parametrize(
    ("fmt", "depth", "channels", "sample_format", "extension"),
    [
        ("PNG", 8, 4, "uint", "png"),
        ("PNG", 16, 4, "uint", "png"),
        ("OPEN_EXR", 16, 4, "float", "exr"),
        ("OPEN_EXR", 32, 4, "float", "exr"),
        ("JPEG", 8, 3, "uint", "jpg"),
        ("TIFF", 8, 4, "uint", "tif"),
        ("TIFF", 16, 4, "uint", "tif"),
    ],
)
def test_formats_and_bit_depths(scenes, out_dir, fmt, depth, channels, sample_format, extension):
    with RenderSession(scenes.basic, tiny(output_format=fmt, color_depth=depth), output_dir=out_dir) as session:
        result = session.render_frame(2)
    assert result.path.suffix == f".{extension}"
    info = read_image_info(result.path)  # parsed from the file's own header
    assert (info.format, info.width, info.height) == (fmt, 64, 48)
    assert (info.bit_depth, info.channels, info.sample_format) == (depth, channels, sample_format)
    assert (result.bit_depth, result.file_format) == (depth, fmt)


def test_resolution_percentage_and_rgb(scenes, out_dir):
    with RenderSession(scenes.basic, tiny(resolution_percentage=50, color_mode="RGB"), output_dir=out_dir) as session:
        assert (session.info["width"], session.info["height"]) == (32, 24)
        result = session.render_frame(1)
    assert (result.width, result.height, result.channels) == (32, 24, 3)


def test_job_settings_drive_a_session(scenes, out_dir):
    settings = parse_job_spec(
        {
            "frames": "1-2",
            "resolution": "custom",
            "resolution_x": 64,
            "resolution_y": 48,
            "samples": 4,
            "output_format": "jpeg",
            "jpeg_quality": 80,
            "timeouts": {"stop_after_s": 120, "alert_after_s": 60},
        }
    )
    with RenderSession(scenes.basic, settings, output_dir=out_dir) as session:
        assert session.frame_timeout_s == 120 and session.alert_after_s == 60
        results = [session.render_frame(f) for f in settings.frame_list()]
    assert [(r.file_format, r.width, r.height) for r in results] == [("JPEG", 64, 48)] * 2


def test_cycles_is_deterministic_with_a_fixed_seed(scenes, tmp_path):
    """Same settings, separate processes, different thread counts: pixel-identical frames.

    The files' bytes may still differ: Cycles writes its render and sync times into the image
    metadata (``cycles.ViewLayer.render_time`` and friends), which no render setting removes.
    """
    frames = {}
    for name, threads in (("a", None), ("b", None), ("one_thread", 1)):
        with RenderSession(scenes.basic, tiny(seed=3), output_dir=tmp_path / name, threads=threads) as session:
            frames[name] = session.render_frame(4)
    pixels = {name: read_png(r.path) for name, r in frames.items()}
    assert np.array_equal(pixels["a"], pixels["b"])
    assert np.array_equal(pixels["a"], pixels["one_thread"])
    with RenderSession(scenes.basic, tiny(seed=4), output_dir=tmp_path / "other_seed") as session:
        other = read_png(session.render_frame(4).path)
    assert not np.array_equal(pixels["a"], other)  # the seed is applied


def test_border_crop_matches_the_full_frame(scenes, tmp_path):
    """A border render writes just the window, and its pixels equal the same pixels of the full frame.

    Bit-exact needs no denoising, no adaptive sampling (both off in ``tiny``) and no dither (see
    test_dither_makes_8_bit_crops_differ_slightly).
    """
    with RenderSession(scenes.basic, tiny(dither=0), output_dir=tmp_path / "full") as session:
        full = read_png(session.render_frame(3).path)
    assert full.shape == (48, 64, 4)
    for box in [(10, 5, 40, 30), (0, 0, 16, 12), (50, 40, 64, 48)]:
        window = BorderWindow.from_pixel_box(64, 48, *box)
        left, top, right, bottom = window.pixel_box(64, 48)
        with RenderSession(scenes.basic, tiny(border=window, dither=0), output_dir=tmp_path / f"crop{left}") as session:
            assert (session.info["width"], session.info["height"]) == (right - left, bottom - top)
            result = session.render_frame(3)
        assert (result.width, result.height) == (right - left, bottom - top)
        assert np.array_equal(read_png(result.path), full[top:bottom, left:right])


def test_dither_makes_8_bit_crops_differ_slightly(scenes, tmp_path):
    """Blender's default dither depends on the pixel's place in the buffer: crops are off by at most 2/255."""
    box = (10, 5, 40, 30)
    window = BorderWindow.from_pixel_box(64, 48, *box)
    with RenderSession(scenes.basic, tiny(), output_dir=tmp_path / "full") as session:
        full = read_png(session.render_frame(3).path).astype(int)
    with RenderSession(scenes.basic, tiny(border=window), output_dir=tmp_path / "crop") as session:
        crop = read_png(session.render_frame(3).path).astype(int)
    difference = np.abs(crop - full[5:30, 10:40])
    assert 0 < difference.max() <= 2


def test_border_with_fractions_as_blender_rounds_them(scenes, out_dir):
    window = BorderWindow(min_x=0.123, min_y=0.456, max_x=0.789, max_y=0.901)
    with RenderSession(scenes.basic, tiny(border=window), output_dir=out_dir) as session:
        result = session.render_frame(1)
    assert (result.width, result.height) == (43, 22)  # measured with Blender; pixel_box predicts it
    left, top, right, bottom = window.pixel_box(64, 48)
    assert (right - left, bottom - top) == (43, 22)


def test_border_without_crop_keeps_the_frame_size(scenes, out_dir):
    window = BorderWindow(min_x=0.25, min_y=0.25, max_x=0.75, max_y=0.75)
    with RenderSession(scenes.basic, tiny(border=window, crop_to_border=False), output_dir=out_dir) as session:
        result = session.render_frame(1)
    pixels = read_png(result.path)
    assert pixels.shape == (48, 64, 4)
    assert pixels[0, 0, 3] == 0 and pixels[24, 32, 3] == 255  # outside the border: transparent


def test_border_smaller_than_a_pixel_is_a_settings_error(scenes, out_dir):
    window = BorderWindow(min_x=0.5, max_x=0.505, min_y=0.1, max_y=0.9)
    with pytest.raises(RenderSettingsError, match="selects no whole pixel"):
        RenderSession(scenes.basic, tiny(border=window), output_dir=out_dir).start()


def test_scene_and_camera_selection(scenes, out_dir):
    with RenderSession(scenes.rich, tiny(camera="Camera.Side"), output_dir=out_dir / "side") as session:
        assert session.info["camera"] == "Camera.Side"
        side = session.render_frame(1)
    with RenderSession(scenes.rich, tiny(), output_dir=out_dir / "main") as session:
        assert session.info["camera"] == "Camera"
        main = session.render_frame(1)
    assert not np.array_equal(read_png(side.path), read_png(main.path))
    # The "Alt" scene keeps its own 32×32 size when the job does not set one.
    with RenderSession(
        scenes.rich, tiny(scene="Alt", resolution_x=None, resolution_y=None), output_dir=out_dir
    ) as session:
        assert (session.info["scene"], session.info["camera"]) == ("Alt", "AltCamera")
        assert (session.info["frame_start"], session.info["frame_end"]) == (10, 12)
        assert (session.render_frame(11).width, session.info["height"]) == (32, 32)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scene": "Nope"}, "the file has no scene 'Nope'; its scenes are 'Alt', 'Scene'"),
        ({"camera": "Nope"}, "scene 'Scene' has no camera 'Nope'; its cameras are 'Camera', 'Camera.Side'"),
        ({"scene": "Alt", "camera": "Camera"}, "scene 'Alt' has no camera 'Camera'; its cameras are 'AltCamera'"),
    ],
)
def test_unknown_scene_or_camera(scenes, out_dir, changes, message):
    with pytest.raises(RenderSettingsError) as info:
        RenderSession(scenes.rich, tiny(**changes), output_dir=out_dir).start()
    assert message in str(info.value)


def test_gpu_requested_without_a_gpu(scenes, out_dir):
    if collect_telemetry().has_gpu:
        pytest.skip("this machine has a GPU")
    with pytest.raises(RenderSettingsError, match="GPU rendering was requested but Cycles found no usable GPU"):
        RenderSession(scenes.basic, tiny(device="GPU"), output_dir=out_dir).start()


def test_missing_blend_file(tmp_path, out_dir):
    with pytest.raises(RenderFailed, match="does not exist"):
        RenderSession(tmp_path / "nope.blend", tiny(), output_dir=out_dir).start()


def test_not_a_blend_file(tmp_path, out_dir):
    bogus = tmp_path / "bogus.blend"
    bogus.write_bytes(b"this is not a blend file" * 10)
    with pytest.raises(RenderFailed, match="Blender could not open"):
        RenderSession(bogus, tiny(), output_dir=out_dir).start()


def test_workbench(scenes, out_dir):
    with RenderSession(scenes.basic, tiny(engine="workbench", samples=8), output_dir=out_dir) as session:
        assert session.info["engine"] == "BLENDER_WORKBENCH"
        result = session.render_frame(2)
    assert (result.width, result.height) == (64, 48)


@pytest.mark.slow
def test_eevee(scenes, out_dir):
    """EEVEE needs an OpenGL context; on GPU-less machines Blender uses Mesa's llvmpipe (about 3–5 s a frame here)."""
    with RenderSession(scenes.basic, tiny(engine="EEVEE", samples=4), output_dir=out_dir) as session:
        assert session.info["engine"] == "BLENDER_EEVEE"
        result = session.render_frame(2)
    assert (result.width, result.height) == (64, 48)


def test_a_failed_frame_leaves_the_session_usable(scenes, out_dir):
    with RenderSession(scenes.basic, tiny(), output_dir=out_dir) as session:
        # Nobody may create files in /proc: Blender renders, cannot save, and says so.
        with pytest.raises(RenderFailed, match="cannot save") as info:
            session.render_frame(1, output_path="/proc/pictor-test-frame.png")
        assert "rendering frame 1" in info.value.log_tail
        assert session.alive
        assert session.render_frame(2).frame == 2


def test_frame_timeout_kills_the_process(scenes, out_dir):
    started = time.monotonic()
    with RenderSession(scenes.basic, tiny(samples=SLOW_SAMPLES), output_dir=out_dir, frame_timeout_s=1.0) as session:
        pid = session.pid
        with pytest.raises(RenderTimeout) as info:
            session.render_frame(1)
        assert not session.alive
        with pytest.raises(RenderFailed, match="start a new one"):
            session.render_frame(2)
    assert time.monotonic() - started < 60  # killed, not waited for (the frame alone would take minutes)
    assert "took longer than 1 s" in str(info.value) and "rendering frame 1" in info.value.log_tail
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # This process is fine, and the next session renders.
    with RenderSession(scenes.basic, tiny(), output_dir=out_dir) as session:
        assert session.render_frame(1).width == 64


@pytest.mark.parametrize(
    ("signum", "name", "log_line"),
    [
        (signal.SIGSEGV, "SIGSEGV", "Fatal Python error: Segmentation fault"),  # a Blender crash
        (signal.SIGKILL, "SIGKILL", "rendering frame 2"),  # the kernel's OOM killer
    ],
)
def test_crash_raises_render_failed_with_the_log_tail(scenes, out_dir, signum, name, log_line):
    with RenderSession(scenes.basic, tiny(samples=SLOW_SAMPLES), output_dir=out_dir) as session:
        killer = threading.Thread(
            target=lambda: (wait_for_log(session, "rendering frame 2"), os.kill(session.pid, signum))
        )
        killer.start()
        with pytest.raises(RenderFailed) as info:
            session.render_frame(2)
        killer.join()
        assert not session.alive
    assert not isinstance(info.value, RenderTimeout)
    assert f"the render process was killed by {name} while rendering frame 2" in str(info.value)
    assert log_line in info.value.log_tail
    assert "last lines of the Blender log" in str(info.value)
    with RenderSession(scenes.basic, tiny(), output_dir=out_dir) as session:
        assert session.render_frame(3).frame == 3


def test_sigterm_finishes_the_current_frame(scenes, out_dir, samples_for):
    # Long enough that SIGTERM surely lands mid-frame on any machine, short enough for the suite.
    with RenderSession(scenes.basic, tiny(samples=samples_for(1.5)), output_dir=out_dir) as session:
        stopper = threading.Thread(target=lambda: (wait_for_log(session, "rendering frame 1"), session.request_stop()))
        stopper.start()
        result = session.render_frame(1)
        stopper.join()
        assert result.path.is_file() and result.width == 64  # the frame was finished and delivered
        with pytest.raises(RenderStopped):
            session.render_frame(2)
        assert not session.alive
    assert "SIGTERM: stopping after the current frame" in (out_dir / "render.log").read_text()


def test_sigterm_when_idle_stops_at_once(scenes, out_dir):
    with RenderSession(scenes.basic, tiny(), output_dir=out_dir) as session:
        session.render_frame(1)
        os.kill(session.pid, signal.SIGTERM)
        assert session._proc is not None and session._proc.wait(30) == 0
        with pytest.raises(RenderStopped):
            session.render_frame(2)


def test_cancel_kills_a_running_frame(scenes, out_dir):
    with RenderSession(scenes.basic, tiny(samples=SLOW_SAMPLES), output_dir=out_dir) as session:
        canceller = threading.Thread(target=lambda: (wait_for_log(session, "rendering frame 1"), session.cancel()))
        canceller.start()
        with pytest.raises(RenderCancelled):
            session.render_frame(1)
        canceller.join()
        assert not session.alive


def test_slow_frame_alert(scenes, out_dir, samples_for):
    alerts = []
    with RenderSession(
        scenes.basic,
        tiny(samples=samples_for(0.3)),
        output_dir=out_dir,
        alert_after_s=0.01,
        on_alert=lambda frame, seconds: alerts.append((frame, seconds)),
    ) as session:
        session.render_frame(5)
    assert len(alerts) == 1 and alerts[0][0] == 5 and alerts[0][1] >= 0.01


def test_compositor_file_outputs_are_muted(tmp_path, out_dir):
    """A .blend's File Output node would write wherever its author likes; the renderer mutes it."""
    target = tmp_path / "written_by_the_blend"
    blend = generate_scene(tmp_path / "file_output.blend", SceneSpec(file_output_dir=str(target) + "/"))
    with RenderSession(blend, tiny(), output_dir=out_dir) as session:
        assert session.render_frame(1).width == 64
    assert not target.exists()
    assert "muted compositor File Output node" in (out_dir / "render.log").read_text()


def test_output_paths_must_not_contain_hash(scenes, tmp_path):
    with pytest.raises(ValueError, match="'#'"):
        RenderSession(scenes.basic, tiny(), output_dir=tmp_path / "frames_##")
