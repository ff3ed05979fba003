"""Uploads: streaming, magic bytes, size limit, zip safety, de-duplication, ownership, scene inspection."""

from __future__ import annotations

import gzip
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
import zstandard
from fastapi.testclient import TestClient
from sqlalchemy import text

from chain.keys import account_address, generate_account
from tests.support.api import session_for

BLEND = b"BLENDER17-01v0500" + bytes(range(256)) * 64  # a .blend header and some body (16 KiB)


def _user(engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_for(engine, account_address(generate_account()))}"}


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _post(client: TestClient, headers: dict[str, str], body: bytes, **params: str):
    return client.post("/uploads", content=body, params=params, headers=headers)


def _blob_files(client: TestClient) -> list[Path]:
    root = client.app.state.blob_store.root / "objects"  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file()]


def test_upload_a_blend_and_read_it_back(offline_app) -> None:
    client, engine = offline_app
    me = _user(engine)
    response = _post(client, me, BLEND, filename="../../etc/My Scene.blend")
    assert response.status_code == 201, response.text
    upload = response.json()
    assert (upload["kind"], upload["compression"], upload["size"]) == ("blend", "none", len(BLEND))
    assert upload["filename"] == "My Scene.blend"  # a display name only, never a path
    import hashlib

    assert upload["sha256"] == hashlib.sha256(BLEND).hexdigest()
    assert client.get(f"/uploads/{upload['id']}", headers=me).json()["sha256"] == upload["sha256"]
    assert [u["id"] for u in client.get("/uploads", headers=me).json()["items"]] == [upload["id"]]
    stored = _blob_files(client)
    assert len(stored) == 1 and stored[0].read_bytes() == BLEND


def test_compressed_blends_are_recognised(offline_app) -> None:
    client, engine = offline_app
    me = _user(engine)
    assert _post(client, me, gzip.compress(BLEND)).json()["compression"] == "gzip"
    assert _post(client, me, zstandard.ZstdCompressor().compress(BLEND)).json()["compression"] == "zstd"
    assert _post(client, me, gzip.compress(b"not a blend" * 10)).status_code == 415


def test_multipart_upload(offline_app) -> None:
    client, engine = offline_app
    me = _user(engine)
    project = _zip([("scenes/main.blend", BLEND), ("tex/a.png", b"png")])
    response = client.post("/uploads", headers=me, files={"file": ("proj.zip", project, "application/zip")},
                           data={"main_blend": "scenes/main.blend"})
    assert response.status_code == 201, response.text
    assert (response.json()["kind"], response.json()["main_blend"], response.json()["filename"]) == (
        "zip", "scenes/main.blend", "proj.zip")


def test_wrong_magic_is_refused_and_nothing_is_kept(offline_app) -> None:
    client, engine = offline_app
    response = _post(client, _user(engine), b"NOTBLEND" * 100, filename="x.blend")
    assert response.status_code == 415 and "BLENDER" in response.json()["detail"]
    assert _blob_files(client) == []
    assert _post(client, _user(engine), b"").status_code == 400


def test_over_size_is_413_with_and_without_content_length(offline_app) -> None:
    client, engine = offline_app
    me = _user(engine)
    big = BLEND + b"\0" * (256 * 1024)
    response = _post(client, me, big)
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    assert client.post("/uploads", content=chunks(), headers=me).status_code == 413
    multipart = client.post("/uploads", headers=me, files={"file": ("big.blend", big, "application/octet-stream")})
    assert multipart.status_code == 413
    assert _blob_files(client) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api.uploads")).scalar_one() == 0


def _symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _fifo_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    return info


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("main.blend", BLEND), ("../evil.txt", b"x")], "'..'"),
        ([("main.blend", BLEND), ("a/../../evil.txt", b"x")], "'..'"),
        ([("main.blend", BLEND), ("/etc/passwd", b"x")], "absolute"),
        ([("main.blend", BLEND), ("C:/evil.txt", b"x")], "drive"),
        ([("main.blend", BLEND), ("dir\\evil.txt", b"x")], "backslash"),
        ([("main.blend", BLEND), (_symlink_entry("link"), b"/etc/passwd")], "link"),
        ([("main.blend", BLEND), (_fifo_entry("pipe"), b"")], "special"),
        ([("main.blend", BLEND)] + [(f"f{i}.txt", b"x") for i in range(60)], "entries"),
        ([("main.blend", BLEND), ("main.blend", BLEND)], "twice"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive", "backslash", "symlink", "fifo", "many-entries", "duplicate"],
)
def test_unsafe_zips_are_refused(offline_app, entries, reason: str) -> None:
    client, engine = offline_app
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        body = _zip(entries)
    response = _post(client, _user(engine), body, main_blend="main.blend")
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert _blob_files(client) == []
    projects = client.app.state.blob_store.root / "scratch" / "projects"  # type: ignore[attr-defined]
    assert not projects.exists() or list(projects.iterdir()) == []  # nothing half-extracted is left


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("main.blend", BLEND), ("zeros.bin", b"\0" * (3 * 1024 * 1024))], "zip bomb"),  # ratio ~1000
        ([("main.blend", BLEND)] + [(f"z{i}.bin", os.urandom(1024 * 1024)) for i in range(5)], "at most"),  # total
    ],
    ids=["ratio-bomb", "total"],
)
def test_zips_expanding_too_far_are_413(offline_app, entries, reason: str) -> None:
    client, engine = offline_app
    client.app.state.settings.upload_max_bytes = 8 * 1024 * 1024  # type: ignore[attr-defined]
    response = _post(client, _user(engine), _zip(entries), main_blend="main.blend")
    assert response.status_code == 413, response.text
    assert reason in response.json()["detail"]
    assert _blob_files(client) == []
    projects = client.app.state.blob_store.root / "scratch" / "projects"  # type: ignore[attr-defined]
    assert not projects.exists() or list(projects.iterdir()) == []


def test_zip_main_blend_must_be_named_and_be_a_blend(offline_app) -> None:
    client, engine = offline_app
    me = _user(engine)
    two = _zip([("a.blend", BLEND), ("b.blend", BLEND), ("readme.txt", b"hi")])
    response = _post(client, me, two)
    assert response.status_code == 400 and "a.blend, b.blend" in response.json()["detail"]
    assert _post(client, me, two, main_blend="c.blend").status_code == 400
    assert _post(client, me, two, main_blend="readme.txt").status_code == 415
    ok = _post(client, me, two, main_blend="./b.blend")
    assert ok.status_code == 201 and ok.json()["main_blend"] == "b.blend"
    one = _post(client, me, _zip([("only/scene.blend", BLEND)]))
    assert one.status_code == 201 and one.json()["main_blend"] == "only/scene.blend"
    assert _post(client, me, BLEND, main_blend="x.blend").status_code == 400


def test_same_content_twice_is_stored_once(offline_app) -> None:
    client, engine = offline_app
    alice, bob = _user(engine), _user(engine)
    first = _post(client, alice, BLEND).json()
    second = _post(client, bob, BLEND).json()
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert len(_blob_files(client)) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api.blobs")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM api.uploads")).scalar_one() == 2


def test_uploads_are_private(offline_app) -> None:
    client, engine = offline_app
    alice, bob = _user(engine), _user(engine)
    upload = _post(client, alice, BLEND).json()
    for path in (f"/uploads/{upload['id']}", f"/uploads/{upload['id']}/scene"):
        response = client.get(path, headers=bob)
        assert response.status_code == 404 and response.json()["detail"] == "no such upload"
    assert client.get("/uploads", headers=bob).json()["items"] == []
    assert client.get("/uploads/../../etc", headers=alice).status_code == 404
    assert client.get(f"/uploads/{upload['id']}").status_code == 401
    assert _post(client, {}, BLEND).status_code == 401


def test_scene_inspection_is_cached(offline_app) -> None:
    client, engine = offline_app
    me = _user(engine)
    calls: list[Path] = []

    def fake(path: Path, timeout_s: float) -> dict:
        calls.append(path)
        assert path.read_bytes().startswith(b"BLENDER") and path.suffix == ".blend"
        return {"scenes": [{"name": "Scene"}]}

    client.app.state.scene_inspector = fake  # type: ignore[attr-defined]
    upload = _post(client, me, BLEND).json()
    first = client.get(f"/uploads/{upload['id']}/scene", headers=me).json()
    second = client.get(f"/uploads/{upload['id']}/scene", headers=me).json()
    assert first["scene"] == second["scene"] == {"scenes": [{"name": "Scene"}]}
    assert (first["cached"], second["cached"], len(calls)) == (False, True, 1)


def test_scene_inspection_with_blender(offline_app, tmp_path: Path) -> None:
    pytest.importorskip("bpy")
    from blender.scenegen import SceneSpec, generate_scene

    client, engine = offline_app
    client.app.state.settings.upload_max_bytes = 64 * 1024 * 1024  # type: ignore[attr-defined]
    me = _user(engine)
    scene = generate_scene(tmp_path / "s.blend", SceneSpec(frame_end=8, missing_texture=True))
    project = _zip([("proj/s.blend", scene.read_bytes())])
    for body, params in ((scene.read_bytes(), {}), (project, {"main_blend": "proj/s.blend"})):
        upload = _post(client, me, body, **params)
        assert upload.status_code == 201, upload.text
        info = client.get(f"/uploads/{upload.json()['id']}/scene", headers=me)
        assert info.status_code == 200, info.text
        active = info.json()["scene"]["scenes"][0]
        assert (active["frame_start"], active["frame_end"], active["engine"]) == (1, 8, "CYCLES")
        assert (active["resolution_x"], active["resolution_y"]) == (64, 48)
        assert info.json()["scene"]["missing_files"], "the missing texture is reported"
        assert str(tmp_path) not in info.text, "no path on the server is shown"
        assert info.json()["scene"]["path"] == params.get("main_blend", "scene.blend")
        folder = "proj/" if params else ""
        assert [m["resolved"] for m in info.json()["scene"]["missing_files"]] == [
            f"{folder}textures/does_not_exist.png"]
    broken = _post(client, me, b"BLENDER-v300" + os.urandom(4096)).json()
    response = client.get(f"/uploads/{broken['id']}/scene", headers=me)
    assert response.status_code == 422 and "could not be inspected" in response.json()["detail"]
    assert str(tmp_path) not in response.text, response.text
