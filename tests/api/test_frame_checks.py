"""Frames that lie, through the real API on PostgreSQL: a completion is checked against each uploaded image's
header (size, format, bit depth) and the job's render spec and the manifest, and a lie is refused, counted as a
failed attempt and requeued; a thumbnail of an image the thumbnailer will not open is a 415, never a 500."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from api import jobs as jobs_api
from api.app import create_app
from chain.keys import generate_account
from pictor.blobs import LocalBlobStore
from pictor.db import get_engine
from protocol import signing as ns
from tables.jobs import chain_outbox, frames, job_node_failures, tasks
from tables.uploads import blobs
from tests.support.api import OPERATOR, NoChain, make_settings, register_on_chain, session_for
from tests.support.jobs import CREATOR, SMALL, activate, make_upload, telemetry

#: The job: 64×48 PNG, 8 bits per channel (PNG's default), two frames per task.
JOB = {**SMALL, "resolution_x": 64, "resolution_y": 48}


def png(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, "JPEG")
    return out.getvalue()


@lru_cache(maxsize=1)
def bomb_png(side: int = 15_000) -> bytes:
    """A valid side×side black 1-bit PNG of a few tens of KB: what a lying worker uploads (no image library
    would let us make it without decoding all of its pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte, then the packed pixels
    pack = zlib.compressobj(9)
    body = b"".join(pack.compress(row) for _ in range(side)) + pack.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A job of 64×48 PNG frames, active, and the first task leased to a registered worker."""
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    settings = app.state.settings = make_settings(tmp_path, scheduler_background=False)
    store = app.state.blob_store = LocalBlobStore(settings.blobs_path)
    node = generate_account()
    register_on_chain(engine, node, OPERATOR, node_id=21)
    body = jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR, store=store), settings=JOB)
    job_id = jobs_api.insert_job(engine, body, CREATOR, settings)["job_id"]
    activate(engine, job_id, 1)
    with TestClient(app) as client:
        assert client.post("/nodes/heartbeat", json={"telemetry": telemetry()}, auth=ns.NodeAuth(node)).status_code == 200
        yield {"client": client, "engine": engine, "store": store, "settings": settings, "node": node,
               "job_id": job_id, "creator": {"Authorization": f"Bearer {session_for(engine, CREATOR)}"}}  # fmt: skip
    engine.dispose()


def claim(env: dict[str, Any]) -> Any:
    return env["client"].post("/nodes/claim", json={}, auth=ns.NodeAuth(env["node"]))


def upload_and_complete(env: dict[str, Any], lease: dict[str, Any], images: dict[int, bytes],
                        claims: dict[int, dict[str, Any]] | None = None) -> Any:  # fmt: skip
    """Upload each frame's image and complete with a signed manifest saying 64×48 PNG (or ``claims``)."""
    client, node = env["client"], env["node"]
    auth = ns.NodeAuth(node)
    for frame, data in images.items():
        put = client.put(f"/nodes/tasks/{lease['task_id']}/frames/{frame}", content=data, auth=auth,
                         headers={"X-Pictor-Content-Sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
        assert put.status_code == 200, put.text
    said = {"width": 64, "height": 48, "format": "PNG"}
    manifest = {"job_id": env["job_id"], "task_id": lease["task_id"], "attempt": lease["attempt"], "device": "CPU",
                "node": ns.account_address(node),
                "frames": [{"frame": f, "sha256": hashlib.sha256(d).hexdigest(), "render_seconds": 0.5,
                            **said, **(claims or {}).get(f, {})} for f, d in images.items()]}  # fmt: skip
    signature = node.sign(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).data().hex()
    return client.post(f"/nodes/tasks/{lease['task_id']}/complete", json={"manifest": manifest,
                                                                           "signature": signature}, auth=auth)


LIES = [
    pytest.param(bomb_png(), {}, "frame 1 is 15000×15000 pixels; the job renders 64×48", id="huge"),
    pytest.param(png(64, 64), {}, "frame 1 is 64×64 pixels; the job renders 64×48", id="other-size"),
    pytest.param(jpeg(), {}, "frame 1 is a JPEG image; the job renders PNG", id="format"),
    pytest.param(png(mode="I;16"), {}, "frame 1 has 16 bits per channel; the job renders 8", id="bit-depth"),
    pytest.param(b"GIF89a not a frame", {}, "frame 1 is not a PNG, JPEG, TIFF or OpenEXR image", id="not-an-image"),
    pytest.param(png(), {"width": 32}, "the manifest says frame 1 is 32×48 PNG but the image is 64×48 PNG",
                 id="manifest"),
]


@pytest.mark.parametrize(("image", "claim_", "words"), LIES)
def test_a_frame_that_lies_is_refused_counted_and_requeued(env, image: bytes, claim_: dict, words: str) -> None:
    engine = env["engine"]
    lease = claim(env).json()
    assert lease["frames"] == [1, 2]
    refused = upload_and_complete(env, lease, {1: image, 2: png()}, {1: claim_})
    assert refused.status_code == 400 and words in refused.json()["detail"], refused.text
    assert "failed attempt" in refused.json()["detail"]
    with engine.connect() as conn:
        task = conn.execute(select(tasks).where(tasks.c.task_id == lease["task_id"])).one()
        states = conn.execute(select(frames.c.state, frames.c.sha256, frames.c.width).where(
            frames.c.task_id == lease["task_id"]).order_by(frames.c.frame)).all()  # fmt: skip
        failures = conn.execute(select(job_node_failures.c.failures, job_node_failures.c.last_error)).one()
        requeues = conn.execute(select(chain_outbox.c.kind).where(chain_outbox.c.kind == "requeue")).scalars().all()
    assert (task.state, task.node_id, task.manifest) == ("queued", None, None)
    assert [tuple(s) for s in states] == [("queued", None, None)] * 2  # nothing of the lie is kept
    assert failures.failures == 1 and words in failures.last_error and requeues == ["requeue"]
    again = claim(env).json()  # the same node, another attempt: the honest frames go through
    assert (again["task_id"], again["attempt"]) == (lease["task_id"], 2)
    done = upload_and_complete(env, again, {1: png(), 2: png()})
    assert done.status_code == 200, done.text


def test_lying_frames_blocklist_the_node(env) -> None:
    for _ in range(env["settings"].blocklist_failures):
        lease = claim(env).json()
        assert upload_and_complete(env, lease, {1: bomb_png(), 2: png()}).status_code == 400
    assert claim(env).status_code == 204  # blocklisted for this job
    with env["engine"].connect() as conn:
        assert conn.execute(select(job_node_failures.c.blocklisted)).scalar_one() is True


def rendered(env: dict[str, Any], frame: int, data: bytes) -> None:
    """The frame rendered with this image, as a completion records it."""
    digest = hashlib.sha256(data).hexdigest()
    with env["store"].writer() as writer:
        writer.write(data)
        writer.commit()
    now = datetime.now(UTC)
    with env["engine"].begin() as conn:
        conn.execute(blobs.insert().values(sha256=digest, size=len(data), created_at=now))
        conn.execute(update(frames).where(frames.c.job_id == env["job_id"], frames.c.frame == frame)
                     .values(state="rendered", sha256=digest, width=64, height=48, format="PNG", rendered_at=now))


def test_a_thumbnail_the_thumbnailer_will_not_open_is_a_415(env) -> None:
    client, job_id, headers = env["client"], env["job_id"], env["creator"]
    rendered(env, 1, bomb_png())  # frames recorded before completions were checked
    rendered(env, 2, b"\x89PNG\r\n\x1a\n damaged")
    rendered(env, 3, png(400, 300))
    rendered(env, 4, png())
    bomb = client.get(f"/jobs/{job_id}/frames/1/thumbnail", headers=headers)
    assert bomb.status_code == 415 and "15000×15000" in bomb.json()["detail"], bomb.text
    damaged = client.get(f"/jobs/{job_id}/frames/2/thumbnail", headers=headers)
    assert damaged.status_code == 415 and "download the frame" in damaged.json()["detail"]
    env["settings"].thumbnail_max_pixels = 100_000
    over = client.get(f"/jobs/{job_id}/frames/3/thumbnail", headers=headers)
    assert over.status_code == 415 and "400×300" in over.json()["detail"] and "100000" in over.json()["detail"]
    fine = client.get(f"/jobs/{job_id}/frames/4/thumbnail?size=32", headers=headers)
    assert fine.status_code == 200 and fine.content[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(fine.content)).size == (32, 24)
