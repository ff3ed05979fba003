"""Uploads under attack: zip and compressed-.blend bombs, storage quotas, per-account limits, what answers leak."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from api.uploads import InspectFailed
from chain.keys import account_address, generate_account
from tables.jobs import jobs
from tests.support.api import session_for

BLEND = b"BLENDER17-01v0500" + bytes(range(256)) * 64  # a .blend header and some body (16 KiB)
MiB = 1024 * 1024


def _user(engine: Any) -> tuple[str, dict[str, str]]:
    address = account_address(generate_account())
    return address, {"Authorization": f"Bearer {session_for(engine, address)}"}


def _zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _gzip_bomb(zeros: int) -> bytes:
    """``BLENDER-v300`` and ``zeros`` zero bytes, gzip'd in pieces."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [packer.compress(b"BLENDER-v300")]
    for _ in range(zeros // MiB):
        out.append(packer.compress(b"\0" * MiB))
    return b"".join([*out, packer.flush()])


def _post(client: TestClient, headers: dict[str, str], body: bytes, **params: str) -> Any:
    return client.post("/uploads", content=body, params=params, headers=headers)


def _store_root(client: TestClient) -> Path:
    return client.app.state.blob_store.root  # type: ignore[attr-defined]


def _kept(client: TestClient) -> list[Path]:
    """Every file the store holds (blobs, extracted projects, staging), temporary folders of inspections aside."""
    root = _store_root(client)
    return [p for p in root.rglob("*") if p.is_file() and "inspect" not in p.relative_to(root).parts]


def _count_uploads(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM api.uploads")).scalar_one()


@pytest.fixture
def roomy(offline_app: tuple[TestClient, Any]) -> tuple[TestClient, Any]:
    """The offline app with the production limits of .zip projects and a 1 MiB upload limit."""
    client, engine = offline_app
    settings = client.app.state.settings  # type: ignore[attr-defined]
    settings.upload_max_bytes = MiB
    settings.zip_max_entries = 10_000
    settings.zip_max_total_bytes = 2 * 1024**3
    settings.zip_max_ratio = 200
    return client, engine


# ----------------------------------------------------------------------------- bombs


def test_a_zip_of_many_small_zero_files_is_refused(roomy) -> None:
    client, engine = roomy
    # The probe's archive: a scene and 300 entries of 1 MiB of zeros, each under any per-entry grace.
    bomb = _zip([("scene.blend", BLEND)] + [(f"pad/{i}.bin", b"\0" * MiB) for i in range(300)])
    assert len(bomb) < MiB
    _, me = _user(engine)
    response = _post(client, me, bomb)
    assert response.status_code == 413, response.text
    assert "zip bomb" in response.json()["detail"]
    assert _kept(client) == [] and _count_uploads(engine) == 0


def test_a_project_larger_than_the_total_is_refused(roomy) -> None:
    client, engine = roomy
    client.app.state.settings.zip_max_total_bytes = 512 * 1024  # type: ignore[attr-defined]
    project = _zip([("scene.blend", BLEND)] + [(f"tex/{i}.png", os.urandom(100_000)) for i in range(6)])
    _, me = _user(engine)
    response = _post(client, me, project)
    assert response.status_code == 413 and "at most 524288 bytes" in response.json()["detail"]
    assert _kept(client) == []


def test_a_gzip_blend_bomb_is_refused(roomy) -> None:
    client, engine = roomy
    bomb = _gzip_bomb(300 * MiB)  # the probe's file: 300 MiB of zeros in ~300 KB
    _, me = _user(engine)
    response = _post(client, me, bomb, filename="scene.blend")
    assert response.status_code == 413, response.text
    assert "decompresses to more than" in response.json()["detail"]
    assert _kept(client) == [] and _count_uploads(engine) == 0


def test_a_zstd_blend_bomb_and_the_decompressed_limit(roomy) -> None:
    client, engine = roomy
    _, me = _user(engine)
    bomb = zstandard.ZstdCompressor().compress(b"BLENDER-v300" + b"\0" * (64 * MiB))
    assert _post(client, me, bomb).status_code == 413
    client.app.state.settings.blend_max_decompressed_bytes = 64 * 1024  # type: ignore[attr-defined]
    honest = zstandard.ZstdCompressor().compress(BLEND + os.urandom(100_000))  # ratio ~1
    response = _post(client, me, honest)
    assert response.status_code == 413 and "at most 65536 bytes" in response.json()["detail"]
    assert _kept(client) == []


def test_a_compressed_blend_bomb_inside_a_zip_is_refused(roomy) -> None:
    client, engine = roomy
    _, me = _user(engine)
    project = _zip([("scene.blend", _gzip_bomb(64 * MiB)), ("tex/a.png", b"png")], zipfile.ZIP_STORED)
    response = _post(client, me, project)
    assert response.status_code == 413 and "scene.blend" in response.json()["detail"]
    assert _kept(client) == []


def test_a_refused_main_blend_leaves_nothing_behind(roomy) -> None:
    client, engine = roomy
    _, me = _user(engine)
    two = _zip([("a.blend", BLEND), ("b.blend", BLEND)])
    assert _post(client, me, two).status_code == 400  # which one is the main .blend?
    assert _post(client, me, two, main_blend="c.blend").status_code == 400
    assert _kept(client) == []  # refused bytes are not stored, nor extracted, for nobody's quota
    assert _post(client, me, two, main_blend="a.blend").status_code == 201


# ----------------------------------------------------------------------------- quota and per-account limits


def test_storage_quota_counts_the_accounts_own_uploads_and_projects(offline_app) -> None:
    client, engine = offline_app
    project = _zip([("scene.blend", BLEND)])
    quota = len(BLEND) + len(project) + len(BLEND)  # a .blend and a project (its zip and its extracted scene)
    client.app.state.settings.upload_quota_bytes = quota  # type: ignore[attr-defined]
    alice_address, alice = _user(engine)
    _, bob = _user(engine)
    assert _post(client, alice, BLEND).status_code == 201
    assert _post(client, alice, project).status_code == 201
    before = _kept(client)
    response = _post(client, alice, BLEND)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"your storage quota is {quota} bytes and {quota} are used; nothing more can be uploaded"
    )
    # Bob's quota is his own: the bytes Alice stored count for her, not for him, and he gets what anyone gets.
    assert _post(client, bob, BLEND).status_code == 201
    assert _post(client, bob, project).status_code == 201
    assert _post(client, bob, b"BLENDER-v300" + b"x" * 10).status_code == 413
    assert sorted(_kept(client)) == sorted(before)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api.uploads WHERE owner = :o"),
                            {"o": alice_address}).scalar_one() == 2


def test_an_upload_over_what_is_left_of_the_quota_is_refused_with_figures(offline_app) -> None:
    client, engine = offline_app
    client.app.state.settings.upload_quota_bytes = len(BLEND) + 1000  # type: ignore[attr-defined]
    _, me = _user(engine)
    assert _post(client, me, BLEND).status_code == 201
    response = _post(client, me, BLEND + b"more")
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert f"{len(BLEND)} bytes of your storage quota of {len(BLEND) + 1000} bytes are used" in detail
    project = _zip([("scene.blend", BLEND)])
    client.app.state.settings.upload_quota_bytes = len(BLEND) + len(project) + 100  # type: ignore[attr-defined]
    response = _post(client, me, project)  # fits as a zip, not with its extracted scene
    assert response.status_code == 413 and "extracted" in response.json()["detail"]
    assert _count_uploads(engine) == 1


def test_uploads_per_hour(offline_app) -> None:
    client, engine = offline_app
    client.app.state.settings.uploads_per_hour = 2  # type: ignore[attr-defined]
    me_address, me = _user(engine)
    _, other = _user(engine)
    assert [_post(client, me, BLEND).status_code for _ in range(2)] == [201, 201]
    response = _post(client, me, BLEND)
    assert response.status_code == 429 and "2 uploads per hour" in response.json()["detail"]
    assert int(response.headers["retry-after"]) > 0
    assert _post(client, other, BLEND).status_code == 201
    with engine.begin() as conn:
        conn.execute(text("UPDATE api.uploads SET created_at = created_at - interval '2 hours' WHERE owner = :o"),
                     {"o": me_address})
    assert _post(client, me, BLEND).status_code == 201


def test_open_uploads_are_limited_until_a_job_uses_one(offline_app) -> None:
    client, engine = offline_app
    client.app.state.settings.upload_max_open = 2  # type: ignore[attr-defined]
    me_address, me = _user(engine)
    first = _post(client, me, BLEND).json()
    assert _post(client, me, BLEND).status_code == 201
    response = _post(client, me, BLEND)
    assert response.status_code == 409
    assert "2 uploads that no job uses" in response.json()["detail"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(jobs).values(
            owner=me_address, upload_id=first["id"], settings={}, state="active", priority=0, price_per_minute=1,
            budget=1000, estimate={}, version=1, created_at=now, updated_at=now))
    assert _post(client, me, BLEND).status_code == 201


# ----------------------------------------------------------------------------- leaks


def test_the_answer_does_not_say_whether_someone_else_has_the_bytes(offline_app) -> None:
    client, engine = offline_app
    _, alice = _user(engine)
    _, bob = _user(engine)
    _, carol = _user(engine)
    unique = b"BLENDER-v300" + b"carol's own"
    first = _post(client, alice, BLEND).json()
    second = _post(client, bob, BLEND).json()
    alone = _post(client, carol, unique).json()
    assert set(first) == set(second) == set(alone)
    assert "deduplicated" not in second

    def same(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in a.items() if k not in ("id", "created_at")} == \
               {k: v for k, v in b.items() if k not in ("id", "created_at")}

    assert same(first, second)


def test_blobs_and_projects_are_stored_owner_only(offline_app) -> None:
    client, engine = offline_app
    _, me = _user(engine)
    assert _post(client, me, BLEND).status_code == 201
    assert _post(client, me, _zip([("proj/scene.blend", BLEND), ("proj/tex/a.png", b"png")])).status_code == 201
    root = _store_root(client)
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif "objects" in path.relative_to(root).parts:
            assert mode == 0o400, path
        else:
            assert mode == 0o600, path
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def _scene_with_paths(path: Path) -> dict[str, Any]:
    """What Blender's inspection says about a scene: the file it opened and the missing files it looked for."""
    return {
        "path": str(path), "blender": "5.0.1", "saved_with": "5.0", "scenes": [{"name": "Scene"}], "cameras": [],
        "missing_files": [
            {"kind": "image", "name": "wood", "path": "//tex/wood.png", "resolved": str(path.parent / "tex/wood.png")},
            {"kind": "image", "name": "far", "path": "//../../../../x.png",
             "resolved": str(path.parent.parent.parent.parent.parent / "x.png")},
            {"kind": "image", "name": "home", "path": "/home/artist/y.png", "resolved": "/home/artist/y.png"},
        ],
        "packed_files": 0, "scripts_blocked": None,
    }


def test_scene_answers_name_project_relative_paths_only(offline_app) -> None:
    client, engine = offline_app
    _, me = _user(engine)
    client.app.state.scene_inspector = lambda path, _timeout: _scene_with_paths(path)  # type: ignore[attr-defined]
    project = _post(client, me, _zip([("scenes/main.blend", BLEND)])).json()
    lone = _post(client, me, BLEND, filename="My Scene.blend").json()
    root = str(_store_root(client))
    for upload, main, wood in ((project, "scenes/main.blend", "scenes/tex/wood.png"),
                               (lone, "My Scene.blend", "tex/wood.png")):
        for _ in range(2):  # fresh, then cached
            response = client.get(f"/uploads/{upload['id']}/scene", headers=me)
            assert response.status_code == 200 and root not in response.text
            scene = response.json()["scene"]
            assert scene["path"] == main
            assert [m["resolved"] for m in scene["missing_files"]] == [wood, None, None]
            assert [m["path"] for m in scene["missing_files"]][0] == "//tex/wood.png"


def test_scene_errors_name_project_relative_paths_only(offline_app) -> None:
    client, engine = offline_app
    _, me = _user(engine)

    def failing(path: Path, _timeout: float) -> dict[str, Any]:
        raise InspectFailed(f"Blender could not open {path}: cannot read {path.parent / 'lib/x.blend'} "
                            f"(see {path.parents[3]}/inspect.log)")

    client.app.state.scene_inspector = failing  # type: ignore[attr-defined]
    upload = _post(client, me, _zip([("scenes/main.blend", BLEND)])).json()
    root = str(_store_root(client))
    for _ in range(2):
        response = client.get(f"/uploads/{upload['id']}/scene", headers=me)
        assert response.status_code == 422 and root not in response.text
        assert "could not open scenes/main.blend: cannot read scenes/lib/x.blend" in response.json()["detail"]
    with engine.connect() as conn:
        assert root not in conn.execute(text("SELECT scene_error FROM api.uploads")).scalar_one()


def test_an_inspection_cached_with_server_paths_is_answered_without_them(offline_app) -> None:
    client, engine = offline_app
    _, me = _user(engine)
    upload = _post(client, me, _zip([("scenes/main.blend", BLEND)])).json()
    project = _store_root(client) / "scratch" / "projects" / upload["sha256"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE api.uploads SET scene = CAST(:s AS jsonb), inspected_at = now()"),
                     {"s": json.dumps(_scene_with_paths(project / "scenes/main.blend"))})
    response = client.get(f"/uploads/{upload['id']}/scene", headers=me)
    assert response.status_code == 200 and str(_store_root(client)) not in response.text
    assert response.json()["scene"]["path"] == "scenes/main.blend"
