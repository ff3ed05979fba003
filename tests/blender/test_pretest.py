"""The pre-test frame: reduced settings and scaling, a real bpy render of the reduced frame, and `POST
/jobs/estimate` basing its figure on it through the real API (cached per scene and settings; a scene that
cannot render leaves the scene-based estimate)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from api.app import create_app  # noqa: E402
from blender.pretest import reduced_settings, render_pretest, settings_hash  # noqa: E402
from pictor.blobs import LocalBlobStore  # noqa: E402
from pictor.db import get_engine  # noqa: E402
from protocol.render_spec import Device, parse_job_spec  # noqa: E402
from tables.uploads import blobs, uploads  # noqa: E402
from tests.support.api import NoChain, make_settings, session_for  # noqa: E402
from tests.support.jobs import make_upload  # noqa: E402

CREATOR = "0x" + "c3" * 32
JOB = {"frames": "1-4", "frames_per_node": 2, "resolution": "custom", "resolution_x": 320, "resolution_y": 240,
       "samples": 32, "engine": "cycles", "device": "CPU", "pretest_frame": 2}  # fmt: skip


def test_reduced_settings_keep_the_aspect_and_scale_by_pixels_and_samples() -> None:
    cfg = parse_job_spec({"frames": "1-10", "resolution": "FHD", "samples": 128, "device": "GPU"})
    reduced, scale = reduced_settings(cfg, max_pixels=320 * 180, max_samples=16)
    assert reduced.resolution_percentage == 16 and reduced.output_size == (307, 172)
    assert reduced.samples == 16 and reduced.device is Device.CPU
    assert scale == pytest.approx(1920 * 1080 / (307 * 172) * 8)
    small = parse_job_spec({"frames": "1", "resolution": "custom", "resolution_x": 64, "resolution_y": 48})
    same, one = reduced_settings(small, max_pixels=320 * 180, max_samples=16, scene_samples=8)
    assert same.output_size == (64, 48) and same.samples == 8 and one == 1.0
    # The cache key follows what changes the pixels or the time, not the frame list or the price tier.
    assert settings_hash(cfg) == settings_hash(cfg.model_copy(update={"frames": "1-2"}))
    assert settings_hash(cfg) != settings_hash(cfg.model_copy(update={"samples": 64}))


def test_render_pretest_renders_the_reduced_frame_with_bpy(scenes, tmp_path) -> None:
    cfg = parse_job_spec(JOB)
    result = render_pretest(scenes.basic, cfg, timeout_s=120, max_pixels=80 * 60, max_samples=4, work_dir=tmp_path)
    assert result.frame == 2 and result.test_size == (80, 60) and result.test_samples == 4
    assert result.job_size == (320, 240) and result.scale == pytest.approx(16 * 8)
    assert result.render_seconds > 0
    assert result.estimated_seconds == pytest.approx(result.render_seconds * 128, rel=1e-3)
    assert list(tmp_path.iterdir()) == []  # the work directory is cleaned up


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any, LocalBlobStore]]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, scheduler_background=False, pretest_max_pixels=80 * 60,
                                       pretest_max_samples=4)  # fmt: skip
    store = app.state.blob_store = LocalBlobStore(app.state.settings.blobs_path)
    with TestClient(app) as client:
        yield client, engine, store
    engine.dispose()


def real_upload(engine: Any, store: LocalBlobStore, blend: Path) -> str:
    data = blend.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with store.writer() as writer:
        writer.write(data)
        writer.commit()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(blobs).values(sha256=sha, size=len(data), created_at=now))
        conn.execute(insert(uploads).values(upload_id="scene1", owner=CREATOR, blob_sha256=sha, kind="blend",
                                            compression="none", filename="basic.blend", size=len(data),
                                            created_at=now, scene=None))  # fmt: skip
    return "scene1"


def test_estimate_renders_the_pretest_frame_and_caches_it(api, scenes) -> None:
    client, engine, store = api
    headers = {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}
    upload_id = real_upload(engine, store, scenes.basic)
    first = client.post("/jobs/estimate", json={"upload_id": upload_id, "settings": JOB}, headers=headers)
    assert first.status_code == 200, first.text
    est = first.json()
    render = est["pretest_render"]
    assert est["basis"] == "pretest" and render["cached"] is False and render["frame"] == 2
    assert render["test_size"] == [80, 60] and render["scale"] == pytest.approx(128)
    assert est["ref_seconds_per_frame"] == pytest.approx(render["estimated_seconds"] * render["multiplier"], abs=2e-3)
    again = client.post("/jobs/estimate", json={"upload_id": upload_id, "settings": {**JOB, "frames": "1-8"}},
                        headers=headers).json()  # fmt: skip
    assert again["pretest_render"]["cached"] is True and again["ref_seconds_per_frame"] == est["ref_seconds_per_frame"]
    assert again["frames"] == 8
    other = client.post("/jobs/estimate", json={"upload_id": upload_id, "settings": {**JOB, "samples": 64}},
                        headers=headers).json()  # fmt: skip
    assert other["pretest_render"]["cached"] is False and other["pretest_render"]["scale"] == pytest.approx(256)
    # A measured pre-test in the body wins; no pre-test frame: the settings-based estimate as before.
    given = client.post(
        "/jobs/estimate",
        json={"upload_id": upload_id, "settings": JOB, "pretest": {"render_seconds": 3, "multiplier": 2}},
        headers=headers,
    )
    assert given.json()["ref_seconds_per_frame"] == 6 and "pretest_render" not in given.json()
    plain = {k: v for k, v in JOB.items() if k != "pretest_frame"}
    without = client.post("/jobs/estimate", json={"upload_id": upload_id, "settings": plain}, headers=headers).json()
    assert without["basis"] == "settings" and "pretest_render" not in without
    # Job creation uses the cached pre-test figure.
    created = client.post("/jobs", json={"upload_id": upload_id, "settings": JOB}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["estimate"]["ref_seconds_per_frame"] == est["ref_seconds_per_frame"]


def test_a_scene_that_cannot_render_falls_back_to_the_settings_estimate(api) -> None:
    client, engine, store = api
    headers = {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}
    upload_id = make_upload(engine, CREATOR, store=store)  # "BLENDER-v500…" bytes: not a loadable scene
    answer = client.post("/jobs/estimate", json={"upload_id": upload_id, "settings": JOB}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["basis"] == "settings" and answer.json()["pretest_render"]["error"]
    someone = {"Authorization": f"Bearer {session_for(engine, '0x' + 'd4' * 32)}"}
    assert client.post("/jobs/estimate", json={"upload_id": upload_id, "settings": JOB},
                       headers=someone).status_code == 404  # fmt: skip
