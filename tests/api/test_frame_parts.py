"""Frames above the signed-body limit through the real API on PostgreSQL: a >16 MiB uncompressed TIFF goes up in
parts (out of order, re-sent, resumable), is assembled into the content-addressed store, checked part by part and
as a whole, bounded by the frame size limit, and then completes the task like a single upload."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, select

from api import jobs as jobs_api
from api.app import create_app
from blender.imageinfo import read_image_info
from chain.keys import generate_account
from pictor.blobs import LocalBlobStore
from pictor.db import get_engine
from protocol import signing as ns
from tables.jobs import frames
from tables.workers import frame_parts
from tests.support.api import OPERATOR, NoChain, make_settings, register_on_chain, session_for
from tests.support.jobs import CREATOR, SMALL, activate, make_upload, telemetry

LIMIT = 16 * 1024 * 1024
#: A job of 2400×2400 TIFF frames: an uncompressed one is past the signed-body limit.
JOB = {**SMALL, "output_format": "TIFF", "resolution_x": 2400, "resolution_y": 2400}


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    settings = app.state.settings = make_settings(tmp_path, scheduler_background=False,
                                                  frame_max_bytes=40 * 1024 * 1024)  # fmt: skip
    store = app.state.blob_store = LocalBlobStore(settings.blobs_path)
    node, other = generate_account(), generate_account()
    register_on_chain(engine, node, OPERATOR, node_id=21)
    register_on_chain(engine, other, OPERATOR, node_id=22)
    body = jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR, store=store), settings=JOB)
    job_id = jobs_api.insert_job(engine, body, CREATOR, settings)["job_id"]
    activate(engine, job_id, 1)
    with TestClient(app) as client:
        beat = client.post("/nodes/heartbeat", json={"telemetry": telemetry()}, auth=ns.NodeAuth(node))
        assert beat.status_code == 200, beat.text
        lease = client.post("/nodes/claim", json={}, auth=ns.NodeAuth(node))
        assert lease.status_code == 200, lease.text
        yield {"client": client, "engine": engine, "store": store, "settings": settings, "node": node,
               "other": other, "lease": lease.json(), "job_id": job_id}  # fmt: skip
    engine.dispose()


def big_tiff(width: int = 2400, height: int = 2400) -> bytes:
    """An uncompressed 8-bit RGB TIFF of noise (17 MB at 2400×2400): a valid image past the signed-body limit."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "TIFF")
    return out.getvalue()


def put_part(client: TestClient, node, base: str, index: int, data: bytes, sha: str | None = None) -> Any:
    headers = {"X-Pictor-Content-Sha256": sha or hashlib.sha256(data).hexdigest(),
               "Content-Type": "application/octet-stream"}  # fmt: skip
    return client.put(f"{base}/parts/{index}", content=data, headers=headers, auth=ns.NodeAuth(node))


def frame_row(engine: Engine, job_id: int, frame: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(frames).where(frames.c.job_id == job_id, frames.c.frame == frame)).one()


def test_a_frame_over_the_body_limit_goes_up_in_parts_and_completes_the_task(env, tmp_path) -> None:
    client, engine, node, lease = env["client"], env["engine"], env["node"], env["lease"]
    task_id, job_id = lease["task_id"], env["job_id"]
    frame_1, frame_2 = lease["frames"]
    image = big_tiff()
    assert len(image) > LIMIT
    (tmp_path / "big.tif").write_bytes(image)
    info = read_image_info(tmp_path / "big.tif")
    assert (info.format, info.width, info.height) == ("TIFF", 2400, 2400)
    sha = hashlib.sha256(image).hexdigest()
    base = f"/nodes/tasks/{task_id}/frames/{frame_1}"
    auth = ns.NodeAuth(node)

    # The single upload refuses it, and says what to do.
    single = client.put(base, content=image, headers={"X-Pictor-Content-Sha256": sha}, auth=auth)
    assert single.status_code == 413 and "in parts" in single.json()["detail"]
    # A part may not exceed the body limit either.
    assert put_part(client, node, base, 0, image[: LIMIT + 1]).status_code == 413

    parts = [image[:LIMIT], image[LIMIT:]]
    assert put_part(client, node, base, 1, parts[1]).status_code == 200  # out of order
    listed = client.get(f"{base}/parts", auth=auth).json()
    assert [p["part"] for p in listed["parts"]] == [1] and listed["received_bytes"] == len(parts[1])
    assert listed["part_max_bytes"] == LIMIT
    finalize = {"sha256": sha, "size": len(image), "parts": 2}
    early = client.post(f"{base}/finalize", json=finalize, auth=auth)
    assert early.status_code == 400 and "[0] are missing" in early.json()["detail"]
    wrong = put_part(client, node, base, 0, parts[0], sha=hashlib.sha256(b"x").hexdigest())
    assert wrong.status_code == 400 and "sha256" in wrong.json()["detail"]
    # Another node, a frame outside the task, an index out of range: refused.
    assert put_part(client, env["other"], base, 0, parts[0]).status_code == 409
    outside = put_part(client, node, f"/nodes/tasks/{task_id}/frames/99", 0, b"abc")
    assert outside.status_code == 404
    beyond = put_part(client, node, base, 10_000, b"abc")
    assert beyond.status_code == 422 and "9999" in beyond.text
    ok = put_part(client, node, base, 0, parts[0])
    assert ok.status_code == 200 and ok.json()["received_bytes"] == len(image)
    assert put_part(client, node, base, 1, parts[1]).status_code == 200  # a resent part replaces itself

    # Wrong whole hash or size: refused, nothing recorded, the parts kept for another try.
    for bad in ({**finalize, "sha256": "0" * 64}, {**finalize, "size": len(image) + 1}, {**finalize, "parts": 3}):
        refused = client.post(f"{base}/finalize", json=bad, auth=auth)
        assert refused.status_code == 400, refused.text
    assert frame_row(engine, job_id, frame_1).sha256 is None
    assert not env["store"].exists(sha)
    done = client.post(f"{base}/finalize", json=finalize, auth=auth)
    assert done.status_code == 200 and done.json() == {"sha256": sha}, done.text
    assert env["store"].local_path(sha).read_bytes() == image
    assert frame_row(engine, job_id, frame_1).sha256 == sha
    with engine.connect() as conn:
        assert conn.execute(select(frame_parts)).all() == []
    assert not any((env["store"].scratch_dir("frame-parts")).iterdir())

    # The second frame the ordinary way (compressed, it fits one request); the signed manifest completes the task.
    small = io.BytesIO()
    Image.new("RGB", (2400, 2400), (9, 9, 9)).save(small, "TIFF", compression="tiff_deflate")
    small_sha = hashlib.sha256(small.getvalue()).hexdigest()
    put = client.put(f"/nodes/tasks/{task_id}/frames/{frame_2}", content=small.getvalue(),
                     headers={"X-Pictor-Content-Sha256": small_sha}, auth=auth)  # fmt: skip
    assert put.status_code == 200
    manifest = {"job_id": job_id, "task_id": task_id, "attempt": lease["attempt"], "device": "CPU",
                "node": ns.account_address(node), "frames": [
                    {"frame": frame_1, "sha256": sha, "render_seconds": 1.0, "width": 2400, "height": 2400,
                     "format": "TIFF"},
                    {"frame": frame_2, "sha256": small_sha, "render_seconds": 0.1, "width": 2400, "height": 2400,
                     "format": "TIFF"}]}  # fmt: skip
    signature = node.sign(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).data().hex()
    complete = client.post(f"/nodes/tasks/{task_id}/complete", json={"manifest": manifest, "signature": signature},
                           auth=auth)  # fmt: skip
    assert complete.status_code == 200, complete.text
    headers = {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}
    downloaded = client.get(f"/jobs/{job_id}/frames/{frame_1}", headers=headers)
    assert downloaded.status_code == 200 and downloaded.content == image


def test_the_frame_size_limit_bounds_parts_and_finalize(env) -> None:
    client, engine, node, lease = env["client"], env["engine"], env["node"], env["lease"]
    env["settings"].frame_max_bytes = 3 * 1024 * 1024
    base = f"/nodes/tasks/{lease['task_id']}/frames/{lease['frames'][0]}"
    mib = os.urandom(1024 * 1024)
    for index in range(3):
        assert put_part(client, node, base, index, mib).status_code == 200
    over = put_part(client, node, base, 3, b"x")
    assert over.status_code == 413 and "limited to" in over.json()["detail"]
    assert put_part(client, node, base, 2, mib).status_code == 200  # replacing a part is not growth
    too_big = client.post(f"{base}/finalize", json={"sha256": "0" * 64, "size": 3 * 1024 * 1024 + 1, "parts": 4},
                          auth=ns.NodeAuth(node))  # fmt: skip
    assert too_big.status_code == 413
    with engine.connect() as conn:
        assert len(conn.execute(select(frame_parts)).all()) == 3
    assert frame_row(engine, env["job_id"], lease["frames"][0]).sha256 is None
