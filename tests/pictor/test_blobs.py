"""pictor.blobs without the API: keys, atomic commits, de-duplication, .blend detection, zip extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import threading
import zipfile
import zlib
from pathlib import Path

import pytest
import zstandard

from pictor.blobs import (
    BlendLimits,
    BlobError,
    LocalBlobStore,
    TooLarge,
    ZipLimits,
    blend_compression,
    check_compressed_blend,
    check_key,
    file_head,
    safe_extract_zip,
    zip_declared_size,
)


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


def _zip_file(path: Path, entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _gzip_bomb(zeros: int) -> bytes:
    """A gzip'd .blend header followed by ``zeros`` zero bytes, compressed in pieces (never held whole)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [packer.compress(b"BLENDER-v300")]
    piece = b"\0" * (1024 * 1024)
    for _ in range(zeros // len(piece)):
        out.append(packer.compress(piece))
    out.append(packer.flush())
    return b"".join(out)


def test_many_small_entries_are_held_to_the_whole_archives_ratio(tmp_path: Path) -> None:
    # Every entry stays under the grace a single small file gets; their sum does not.
    archive = _zip_file(tmp_path / "bomb.zip", [("scene.blend", b"BLENDER-v300")]
                        + [(f"pad/{i}.bin", b"\0" * (256 * 1024)) for i in range(40)])
    with pytest.raises(TooLarge, match="zip bomb") as refused:
        safe_extract_zip(archive, tmp_path / "out", ZipLimits(max_ratio=50, ratio_grace_bytes=1024 * 1024))
    assert "declare" in str(refused.value)  # refused from the central directory, before extracting anything
    assert list(tmp_path.iterdir()) == [archive]


def test_declared_total_is_checked_before_extracting(tmp_path: Path) -> None:
    archive = _zip_file(tmp_path / "big.zip", [(f"r{i}.bin", os.urandom(64 * 1024)) for i in range(4)])
    with pytest.raises(TooLarge, match="at most 131072 bytes"):
        safe_extract_zip(archive, tmp_path / "out", ZipLimits(max_total_bytes=128 * 1024))
    assert zip_declared_size(archive) == 4 * 64 * 1024
    assert not (tmp_path / "out").exists()


def _patch_sizes(data: bytes, real: int, claimed: int) -> bytes:
    """Claim ``claimed`` instead of ``real`` uncompressed bytes in both headers of a one-entry zip."""
    return data.replace(real.to_bytes(4, "little"), claimed.to_bytes(4, "little"))


def test_entries_larger_than_declared_are_refused_while_extracting(tmp_path: Path) -> None:
    # The archive's declared total passes every check; what the entry really holds does not.
    real = 300_007
    data = _zip_file(tmp_path / "a.zip", [("big.bin", b"\0" * real)]).read_bytes()
    archive = tmp_path / "lying.zip"
    archive.write_bytes(_patch_sizes(data, real, 1000))
    assert zip_declared_size(archive) == 1000
    with pytest.raises(BlobError, match="big.bin"):
        safe_extract_zip(archive, tmp_path / "out", ZipLimits(max_ratio=10**6))
    assert not (tmp_path / "out").exists()


def test_entries_shorter_than_declared_are_refused(tmp_path: Path) -> None:
    real = 300_007
    data = _zip_file(tmp_path / "a.zip", [("big.bin", os.urandom(real))], zipfile.ZIP_STORED).read_bytes()
    archive = tmp_path / "lying.zip"
    archive.write_bytes(_patch_sizes(data, real, real + 5000))
    with pytest.raises(BlobError):
        safe_extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_compressed_blend_bombs_are_refused(tmp_path: Path) -> None:
    limits = BlendLimits(max_bytes=64 * 1024 * 1024, max_ratio=200)
    gz = tmp_path / "bomb.blend.gz"
    gz.write_bytes(_gzip_bomb(32 * 1024 * 1024))  # ~1000×
    with pytest.raises(TooLarge, match="decompresses to more than"):
        check_compressed_blend(gz, limits)
    with pytest.raises(TooLarge, match="at most 16777216 bytes"):
        check_compressed_blend(gz, BlendLimits(max_bytes=16 * 1024 * 1024, max_ratio=10**6))
    # zstd, the bomb hidden in a second frame behind an innocent first one
    packer = zstandard.ZstdCompressor()
    zst = tmp_path / "bomb.blend.zst"
    zst.write_bytes(packer.compress(b"BLENDER-v300" + os.urandom(4096)) + packer.compress(b"\0" * (32 * 1024 * 1024)))
    assert blend_compression(zst.read_bytes()[:64 * 1024]) == "zstd"
    with pytest.raises(TooLarge, match="decompresses to more than"):
        check_compressed_blend(zst, limits)
    fine = tmp_path / "fine.blend.gz"
    body = b"BLENDER-v300" + os.urandom(2 * 1024 * 1024)
    fine.write_bytes(gzip.compress(body))
    assert check_compressed_blend(fine, limits) == len(body)
    plain = tmp_path / "plain.blend"
    plain.write_bytes(body)
    assert check_compressed_blend(plain, limits) == len(body)  # nothing to decompress


def test_damaged_compressed_blends_are_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.blend.gz"
    damaged.write_bytes(gzip.compress(b"BLENDER-v300" + os.urandom(100_000))[:50_000])
    with pytest.raises(BlobError, match="damaged"):
        check_compressed_blend(damaged, BlendLimits())


def test_compressed_blends_inside_a_zip_are_checked(tmp_path: Path) -> None:
    # Stored (not deflated) in the zip, so the archive's own ratio is 1: only the .blend check catches it.
    archive = _zip_file(tmp_path / "p.zip", [("scene.blend", _gzip_bomb(8 * 1024 * 1024))], zipfile.ZIP_STORED)
    limits = ZipLimits(blend=BlendLimits(max_bytes=1024**3, max_ratio=100))
    with pytest.raises(TooLarge, match="scene.blend"):
        safe_extract_zip(archive, tmp_path / "out", limits)
    assert not (tmp_path / "out").exists()


def test_blobs_and_projects_are_owner_only(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    writer = store.writer()
    writer.write(b"secret scene")
    info = writer.commit()
    blob = store.local_path(info.sha256)
    assert stat.S_IMODE(blob.stat().st_mode) == 0o400
    for folder in (store.root, blob.parent, store.root / "objects", store.root / "tmp", store.scratch_dir("projects")):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    archive = _zip_file(tmp_path / "p.zip", [("proj/scene.blend", b"BLENDER-v300"), ("proj/tex/a/b.png", b"png")])
    out = store.scratch_dir("projects") / "x"
    safe_extract_zip(archive, out)
    for path in [out, *out.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_an_existing_store_is_closed_to_others(tmp_path: Path) -> None:
    root = tmp_path / "old"
    for sub in ("objects", "tmp", "scratch"):
        (root / sub).mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    store = LocalBlobStore(root)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (store.root, *store.root.iterdir())} == {0o700}


def test_a_zstd_blend_that_starts_incompressible_is_recognised(tmp_path: Path) -> None:
    # Its first zstd block is over 64 KiB compressed: the head read to tell what a file is must hold it whole.
    path = tmp_path / "noisy.blend.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"BLENDER-v300" + os.urandom(300_000)))
    assert blend_compression(file_head(path)) == "zstd"
