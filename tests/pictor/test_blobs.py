"""pictor.blobs without the API: keys, atomic commits, de-duplication, .blend detection, zip extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
import zipfile
from pathlib import Path

import pytest
import zstandard

from pictor.blobs import BlobError, LocalBlobStore, ZipLimits, blend_compression, check_key, safe_extract_zip


def test_keys_cannot_name_paths(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    for bad in ("../" + "a" * 61, "A" * 64, "a" * 63, "/etc/passwd", "a" * 64 + "/x", ""):
        with pytest.raises(ValueError):
            check_key(bad)
        with pytest.raises(ValueError):
            store.path(bad)
    with pytest.raises(ValueError):
        store.scratch_dir("../up")


def test_commit_is_atomic_and_deduplicated(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(3 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    results = []

    def put() -> None:
        writer = store.writer()
        for i in range(0, len(data), 65536):
            writer.write(data[i : i + 65536])
        results.append(writer.commit())

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.sha256 for r in results} == {sha} and sorted(r.created for r in results) == [False] * 3 + [True]
    assert store.local_path(sha).read_bytes() == data
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary file left behind
    with store.open(sha) as handle:
        assert handle.read(4) == data[:4]


def test_aborted_writes_leave_nothing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("client went away")
    assert list((tmp_path / "tmp").iterdir()) == [] and not store.exists(hashlib.sha256(b"partial").hexdigest())


def test_blend_detection() -> None:
    blend = b"BLENDER-v300" + b"\0" * 100
    assert blend_compression(blend) == "none"
    assert blend_compression(gzip.compress(blend)[:64]) == "gzip"  # only the first bytes are needed
    assert blend_compression(zstandard.ZstdCompressor().compress(blend)) == "zstd"
    assert blend_compression(b"PK\x03\x04") is None
    assert blend_compression(b"\x1f\x8bgarbage") is None
    assert blend_compression(b"\x28\xb5\x2f\xfdgarbage") is None


def test_lying_size_headers_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (2 * 1024 * 1024))
    data = bytearray(buf.getvalue())
    # Claim a tiny uncompressed size in both headers: the entry is refused (its CRC cannot match), nothing kept.
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    real = info.file_size.to_bytes(4, "little")
    data = data.replace(real, (10).to_bytes(4, "little"))
    archive = tmp_path / "lying.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(BlobError):
        safe_extract_zip(archive, tmp_path / "out", ZipLimits(max_ratio=5, ratio_grace_bytes=0))
    assert not (tmp_path / "out").exists()


def test_extracts_a_good_project(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("proj/", b"")
        zf.writestr("proj/scene.blend", b"BLENDER-v300")
        zf.writestr("proj/tex/wood.png", os.urandom(1000))
    archive = tmp_path / "good.zip"
    archive.write_bytes(buf.getvalue())
    files = safe_extract_zip(archive, tmp_path / "out")
    assert sorted(files) == ["proj/scene.blend", "proj/tex/wood.png"]
    assert (tmp_path / "out/proj/scene.blend").read_bytes() == b"BLENDER-v300"
    with pytest.raises(FileExistsError):
        safe_extract_zip(archive, tmp_path / "out")
