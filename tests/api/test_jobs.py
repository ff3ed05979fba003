"""``/jobs`` on a real PostgreSQL without a chain: settings validation per field, estimates, creation in one
transaction with the escrow payload to sign, ownership (404), listing, cancel, events, review windows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from api import scheduler
from api.app import create_app
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from pictor.db import get_engine
from tables.jobs import chain_outbox, frames, jobs, tasks
from tests.support.api import NoChain, make_settings, session_for
from tests.support.jobs import CREATOR, OTHER, SMALL, activate, make_upload, telemetry


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, scheduler_background=False)
    with TestClient(app) as client:
        yield client, engine, {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}
    engine.dispose()


#: (settings change, field the 422 names, words of its message): one case per validated setting.
BAD_SETTINGS = [
    ({"engine": "povray"}, "engine", "Cycles, EEVEE or Workbench"),
    ({"device": "TPU"}, "device", "CPU or GPU"),
    ({"output_format": "GIF"}, "output_format", "PNG, OpenEXR"),
    ({"resolution": "5K"}, "resolution", "HD, FHD"),
    ({"resolution_x": 2}, "resolution_x", "between"),
    ({"samples": 0}, "samples", "between"),
    ({"frames": "10-1"}, "frames", "ends before it starts"),
    ({"frames": "1-5x"}, "frames", "step"),
    ({"pretest_frame": 99}, "pretest_frame", "not one of the job's frames"),
    ({"frames_per_node": 0}, "frames_per_node", "between"),
    ({"timeouts": {"stop_after_s": 0}}, "timeouts.stop_after_s", "between"),
    ({"timeouts": {"alert_after_s": 100, "stop_after_s": 50}}, "timeouts", "shorter"),
    ({"worker_location": "moon"}, "worker_location", "worker location"),
    ({"hardware": {"min_vram_gb": 8}}, "hardware", "need device GPU"),
    ({"device": "GPU", "hardware": {"gpu_count": 99}}, "hardware.gpu_count", "between"),
    ({"pricing_tier": "gold"}, "pricing_tier", "pricing tier"),
    ({"blender_version": "2.79"}, "blender_version", "not available"),
    ({"output_format": "JPEG", "color_depth": 16}, "color_depth", "8"),
    ({"colour": "red"}, "colour", "not a render setting"),
]


def test_every_bad_setting_is_a_422_naming_its_field(api) -> None:
    client, engine, headers = api
    upload = make_upload(engine, CREATOR)
    for change, field, words in BAD_SETTINGS:  # one database for all cases keeps the folder fast
        for path in ("/jobs/estimate", "/jobs"):
            response = client.post(path, json={"upload_id": upload, "settings": {**SMALL, **change}}, headers=headers)
            assert response.status_code == 422, (change, response.text)
            problems = response.json()["problems"]
            assert any(p["field"] == field and words in p["message"] for p in problems), (change, problems)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 0  # nothing changed


def test_missing_frames_and_bad_bodies(api) -> None:
    client, engine, headers = api
    upload = make_upload(engine, CREATOR)
    response = client.post("/jobs", json={"upload_id": upload, "settings": {}}, headers=headers)
    assert response.status_code == 422 and response.json()["problems"] == [{"field": "frames", "message": "is required"}]
    assert client.post("/jobs", json={"upload_id": upload, "settings": SMALL, "budget": 0},
                       headers=headers).status_code == 422
    assert client.post("/jobs", json={"upload_id": upload, "settings": SMALL}).status_code == 401


def test_estimate_shape_and_plan(api) -> None:
    client, engine, headers = api
    scene = {"scenes": [{"name": "Scene", "active": True, "samples": 64}]}
    upload = make_upload(engine, CREATOR, scene=scene)
    settings = {**SMALL, "samples": None}
    alone = client.post("/jobs/estimate", json={"upload_id": upload, "settings": settings}, headers=headers).json()
    assert alone["basis"] == "scene" and alone["matching_workers"] == 0 and alone["eta_seconds"] is None
    assert alone["frames"] == 6 and alone["tasks"] == 3 and alone["plan"] == []
    for node, multiplier in [(1, 1.0), (2, 2.0), (3, 2.0)]:
        scheduler.record_heartbeat(engine, node, "0x" + "0a" * 32, telemetry(multiplier=multiplier), None)
    scheduler.record_heartbeat(engine, 4, "0x" + "0a" * 32, telemetry(engines=["BLENDER_WORKBENCH"]), None)
    body = {"upload_id": upload, "settings": {**SMALL, "frames": "1-60", "frames_per_node": 5},
            "pretest": {"render_seconds": 30, "multiplier": 2}}
    est = client.post("/jobs/estimate", json=body, headers=headers).json()
    assert est["basis"] == "pretest" and est["ref_seconds_per_frame"] == 60 and est["matching_workers"] == 3
    assert est["tier"] == "none" and est["price_per_minute"] == "50000"
    cost = est["cost"]
    assert int(cost["low"]) < int(cost["expected"]) <= int(est["quoted_total"]) <= int(cost["high"])
    assert int(cost["expected"]) == 60 * 50_000  # 60 reference minutes at 50000 per minute
    assert sum(g["tasks"] for g in est["plan"]) == 12 and sum(g["nodes"] for g in est["plan"]) == 3
    fast = next(g for g in est["plan"] if g["multiplier"] == 2.0)
    slow = next(g for g in est["plan"] if g["multiplier"] == 1.0)
    assert fast["tasks"] > slow["tasks"] and fast["hardware"] == "Test CPU"
    assert 0 < est["eta_seconds"] <= 12 * 5 * 60  # better than one reference node alone


def test_create_answers_the_escrow_payload_and_makes_tasks(api) -> None:
    client, engine, headers = api
    upload = make_upload(engine, CREATOR)
    response = client.post("/jobs", json={"upload_id": upload, "settings": {**SMALL, "frames": "1-5"}, "priority": 70},
                           headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "awaiting_escrow"
    assert body["escrow_payload"] == {
        "type": "entry_function_payload", "function": f"{LOCALNET_PACKAGE_ADDRESS}::escrow::open_job",
        "type_arguments": [], "arguments": [body["budget"], "50000"]}
    assert body["budget"] == body["estimate"]["quoted_total"]
    with engine.connect() as conn:
        rows = conn.execute(select(tasks.c.seq, tasks.c.frames, tasks.c.state).where(tasks.c.job_id == body["job_id"])
                            .order_by(tasks.c.seq)).all()
        assert conn.execute(select(func.count()).select_from(frames)).scalar_one() == 5
    assert [tuple(r) for r in rows] == [(1, [1, 2], "queued"), (2, [3, 4], "queued"), (3, [5], "queued")]
    job = client.get(f"/jobs/{body['job_id']}", headers=headers).json()
    assert job["state"] == "awaiting_escrow" and job["priority"] == 70 and job["escrow"] is None
    assert [f["state"] for f in job["frames"]] == ["queued"] * 5


def test_someone_elses_upload_or_job_is_404(api) -> None:
    client, engine, headers = api
    theirs = make_upload(engine, OTHER)
    assert client.post("/jobs", json={"upload_id": theirs, "settings": SMALL}, headers=headers).status_code == 404
    assert client.post("/jobs/estimate", json={"upload_id": theirs, "settings": SMALL},
                       headers=headers).status_code == 404
    other = {"Authorization": f"Bearer {session_for(engine, OTHER)}"}
    job_id = client.post("/jobs", json={"upload_id": theirs, "settings": SMALL}, headers=other).json()["job_id"]
    for method, path in [("GET", f"/jobs/{job_id}"), ("POST", f"/jobs/{job_id}/cancel"),
                         ("GET", f"/jobs/{job_id}/frames/1"), ("GET", f"/jobs/{job_id}/frames.zip"),
                         ("POST", f"/jobs/{job_id}/frames/1/reject"), ("GET", f"/jobs/{job_id}/events")]:
        assert client.request(method, path, headers=headers).status_code == 404, path
    response = client.post(f"/jobs/{job_id}/escrow", json={"txn_hash": "0x" + "ab" * 32}, headers=headers)
    assert response.status_code == 404
    assert client.get("/jobs", headers=headers).json() == {"items": [], "next": None}


def test_list_is_paginated_newest_first(api) -> None:
    client, engine, headers = api
    upload = make_upload(engine, CREATOR)
    made = [client.post("/jobs", json={"upload_id": upload, "settings": SMALL}, headers=headers).json()["job_id"]
            for _ in range(5)]
    page = client.get("/jobs?limit=2", headers=headers).json()
    assert [j["job_id"] for j in page["items"]] == made[::-1][:2] and page["next"] == made[3]
    seen = [j["job_id"] for j in page["items"]]
    while page["next"]:
        page = client.get(f"/jobs?limit=2&before={page['next']}", headers=headers).json()
        seen += [j["job_id"] for j in page["items"]]
    assert seen == made[::-1]
    assert page["items"][0]["frame_counts"] == {"queued": 6}


def test_unindexed_escrow_stays_awaiting(api) -> None:
    client, engine, headers = api
    job_id = client.post("/jobs", json={"upload_id": make_upload(engine, CREATOR), "settings": SMALL},
                         headers=headers).json()["job_id"]
    response = client.post(f"/jobs/{job_id}/escrow", json={"txn_hash": "AB" * 32}, headers=headers)
    assert response.status_code == 202 and response.json()["escrow_txn_hash"] == "0x" + "ab" * 32
    assert client.post(f"/jobs/{job_id}/escrow", json={"txn_hash": "nope"}, headers=headers).status_code == 422


def test_cancel_and_events(api) -> None:
    client, engine, headers = api
    job_id = client.post("/jobs", json={"upload_id": make_upload(engine, CREATOR), "settings": SMALL},
                         headers=headers).json()["job_id"]
    activate(engine, job_id, 42)
    with client.stream("GET", f"/jobs/{job_id}/events?timeout=0.3&interval=0.1", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("id:")]
    first = json.loads(events[0].split("data: ", 1)[1])
    assert first["state"] == "active" and len(first["frames"]) == 6 and text.rstrip().endswith("data: {}")
    cancelled = client.post(f"/jobs/{job_id}/cancel", headers=headers)
    assert cancelled.status_code == 200 and "coordinator" in cancelled.json()["escrow"]
    assert client.post(f"/jobs/{job_id}/cancel", headers=headers).status_code == 409
    with engine.connect() as conn:
        close = conn.execute(select(chain_outbox)).one()
        assert {r for r in conn.execute(select(tasks.c.state)).scalars()} == {"cancelled"}
    assert (close.kind, int(close.chain_job_id), close.status) == ("close", 42, "pending")
    with client.stream("GET", f"/jobs/{job_id}/events?timeout=30", headers=headers) as stream:
        text = "".join(stream.iter_text())  # a terminal job ends the stream at once
    assert '"state": "cancelled"' in text and "event: end" in text


def test_review_window(api) -> None:
    client, engine, headers = api
    job_id = client.post("/jobs", json={"upload_id": make_upload(engine, CREATOR), "settings": SMALL},
                         headers=headers).json()["job_id"]
    now = scheduler.utcnow()
    with engine.begin() as conn:
        conn.execute(update(frames).where(frames.c.job_id == job_id, frames.c.frame.in_([1, 2])).values(
            state="rendered", sha256="0" * 64, rendered_at=now))
        conn.execute(update(frames).where(frames.c.job_id == job_id, frames.c.frame == 2).values(
            rendered_at=now - timedelta(days=30)))
    assert client.post(f"/jobs/{job_id}/frames/1/accept", headers=headers).json() == {"frame": 1, "state": "accepted"}
    late = client.post(f"/jobs/{job_id}/frames/2/reject", headers=headers)
    assert late.status_code == 409 and "review window" in late.json()["detail"]
    assert client.post(f"/jobs/{job_id}/frames/9/accept", headers=headers).status_code == 404
