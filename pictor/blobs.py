"""Content-addressed blob storage (sha256) and safe extraction of .zip projects.

:class:`BlobStore` is the interface (an S3-compatible store can implement it later); :class:`LocalBlobStore`
keeps blobs on the local filesystem as ``<root>/objects/<aa>/<sha256>``. A blob is written by streaming
into a :class:`BlobWriter` (hashed as it is written, never held in memory) and committed under its hash:
the same content twice is stored once. Keys are validated as 64 lowercase hex digits, so no key can name a
path outside the store.

:func:`safe_extract_zip` extracts a .zip project refusing absolute paths, ``..``, drive letters, backslashes,
links and special files, encrypted entries, too many entries, and bombs: the sizes the central directory
declares are checked (the whole archive's total and ratio) before anything is extracted, and the real sizes
are measured while extracting and must be the declared ones. :func:`check_compressed_blend` streams a gzip or
zstd .blend through its decompressor with a hard limit and a ratio limit (also for the .blend files of a zip).

Everything the store writes is its owner's alone: folders 0700, blobs 0400, extracted files 0600.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import zstandard

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024
_DIR_MODE = 0o700  # the store's folders: only the service's own account may list or enter them
_BLOB_MODE = 0o400  # blobs never change once written
_FILE_MODE = 0o600  # extracted project files

BLEND_MAGIC = b"BLENDER"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGIC = b"PK\x03\x04"
#: Bytes read to tell what a file is: a whole first zstd block (at most 128 KiB) fits, so it can be decompressed.
HEAD_BYTES = 256 * 1024


class BlobError(Exception):
    """A blob or archive was refused; the message says why, for a person."""


class TooLarge(BlobError):
    """Refused for its size: it expands past a limit or by more than a ratio (a bomb)."""


def check_key(sha256: str) -> str:
    """``sha256`` if it is 64 lowercase hex digits (the only keys the store accepts), else ValueError."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 key: {sha256!r}")
    return sha256


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: its key, size, and whether this write created it (False: de-duplicated)."""

    sha256: str
    size: int
    created: bool


class BlobWriter(ABC):
    """A blob being written: feed it chunks, then :meth:`commit` (or :meth:`abort`)."""

    def __init__(self) -> None:
        """Start hashing from zero bytes."""
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (hashed and counted as it goes)."""
        self._hash.update(chunk)
        self.size += len(chunk)
        self._write(chunk)

    @property
    def sha256(self) -> str:
        """The hash of what was written so far."""
        return self._hash.hexdigest()

    @abstractmethod
    def _write(self, chunk: bytes) -> None:
        """Store ``chunk``."""

    @abstractmethod
    def staged_path(self) -> Path:
        """A local file with what was written so far (checked before :meth:`commit`, never after)."""

    @abstractmethod
    def commit(self) -> BlobInfo:
        """Make the blob visible under its hash (once); the writer cannot be used afterwards."""

    @abstractmethod
    def abort(self) -> None:
        """Drop what was written."""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()


class BlobStore(ABC):
    """Where blobs live, addressed by the sha256 of their content."""

    @abstractmethod
    def writer(self) -> BlobWriter:
        """A writer for a new blob."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """The blob's content for reading (FileNotFoundError if absent)."""

    @abstractmethod
    def local_path(self, sha256: str) -> Path:
        """A local file with the blob's content (a remote store would download it to a cache first)."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the blob (nothing if absent)."""

    @abstractmethod
    def scratch_dir(self, name: str) -> Path:
        """A local directory for data derived from blobs (extracted projects), created if missing."""


class _LocalWriter(BlobWriter):
    """Writes to a temporary file in the store, then links it into place under its hash."""

    def __init__(self, store: LocalBlobStore) -> None:
        super().__init__()
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.root / "tmp", prefix="upload-")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def _write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self) -> BlobInfo:
        """fsync, then rename into ``objects/``; if the content is already there keep the existing file."""
        if self._done:
            raise RuntimeError("blob writer already finished")
        self._done = True
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            sha = self.sha256
            final = self._store.path(sha)
            final.parent.mkdir(mode=_DIR_MODE, exist_ok=True)
            os.chmod(self._tmp, _BLOB_MODE)
            try:
                os.link(self._tmp, final)  # atomic, and fails (rather than replaces) when it exists
                created = True
            except FileExistsError:
                created = False
            _fsync_dir(final.parent)
            return BlobInfo(sha, self.size, created)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)

    def staged_path(self) -> Path:
        """The temporary file, flushed, to check what was written before it is committed."""
        self._file.flush()
        return self._tmp

    def abort(self) -> None:
        """Close and delete the temporary file."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class LocalBlobStore(BlobStore):
    """Blobs on the local filesystem under ``root`` (``objects/``, ``tmp/``, ``scratch/``)."""

    def __init__(self, root: Path | str) -> None:
        """Use (and create) ``root``, its folders closed to other accounts."""
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, mode=_DIR_MODE, exist_ok=True)
        for folder in (self.root, *(self.root / sub for sub in ("objects", "tmp", "scratch"))):
            folder.mkdir(mode=_DIR_MODE, exist_ok=True)
            _owner_only(folder)

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` is (or would be) stored."""
        check_key(sha256)
        return self.root / "objects" / sha256[:2] / sha256

    def writer(self) -> BlobWriter:
        """A writer streaming to a temporary file in this store."""
        return _LocalWriter(self)

    def exists(self, sha256: str) -> bool:
        """Whether ``objects/<aa>/<sha256>`` exists."""
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """Open the blob for reading."""
        return open(self.path(sha256), "rb")  # noqa: SIM115 - the caller closes it

    def local_path(self, sha256: str) -> Path:
        """The blob's own file (FileNotFoundError if absent)."""
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(f"blob {sha256} is not stored")
        return path

    def delete(self, sha256: str) -> None:
        """Unlink the blob's file."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(sha256))

    def scratch_dir(self, name: str) -> Path:
        """``scratch/<name>`` (``name`` is one safe path component)."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name) or name in (".", ".."):
            raise ValueError(f"not a scratch directory name: {name!r}")
        path = self.root / "scratch" / name
        path.mkdir(mode=_DIR_MODE, exist_ok=True)
        return path


def _owner_only(folder: Path) -> None:
    """Close a folder of the store to other accounts (one made with looser modes before); others' are left."""
    info = folder.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) != _DIR_MODE:
        os.chmod(folder, _DIR_MODE)


def _fsync_dir(directory: Path) -> None:
    """Persist a directory entry (best effort) so a committed blob survives a crash."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- file types


def blend_compression(head: bytes) -> str | None:
    """``none``/``gzip``/``zstd`` when ``head`` (the first bytes of a file) is a .blend, else None.

    Blender writes compressed .blend files as gzip (before 3.0) or zstd (3.0 on); the decompressed file
    starts with ``BLENDER`` either way, so the first bytes are decompressed to check.
    """
    if head.startswith(BLEND_MAGIC):
        return "none"
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(head)) as stream:
                inner = stream.read(len(BLEND_MAGIC))
        except (OSError, EOFError, ValueError):
            return None
        return "gzip" if inner == BLEND_MAGIC else None
    if head.startswith(ZSTD_MAGIC):
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(head))
            inner = reader.read(len(BLEND_MAGIC))
        except zstandard.ZstdError:
            return None
        return "zstd" if inner == BLEND_MAGIC else None
    return None


def file_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``path``."""
    with open(path, "rb") as handle:
        return handle.read(size)


@dataclass(frozen=True)
class BlendLimits:
    """Bounds of what a compressed .blend decompresses to (what Blender would hold to open it)."""

    max_bytes: int = 4 * 1024**3
    #: Most decompressed bytes per compressed byte.
    max_ratio: int = 200
    #: A file that decompresses to no more than this is not held to ``max_ratio`` (tiny files compress very well).
    ratio_grace_bytes: int = 1024 * 1024


def check_compressed_blend(path: Path | str, limits: BlendLimits | None = None, *, name: str | None = None) -> int:
    """The decompressed size of the .blend at ``path`` (its size if it is not compressed), measured by streaming
    it through its decompressor: TooLarge past the limit or the ratio, BlobError if it is damaged."""
    limits = limits or BlendLimits()
    path = Path(path)
    label = f"the compressed .blend {name!r}" if name else "the compressed .blend"
    compressed = path.stat().st_size
    compression = blend_compression(file_head(path))
    if compression in (None, "none"):
        return compressed
    by_ratio = max(limits.ratio_grace_bytes, limits.max_ratio * compressed)
    allowed = min(limits.max_bytes, by_ratio)
    total = 0
    try:
        with open(path, "rb") as raw, _decompressing(raw, compression) as stream:
            while chunk := stream.read(_CHUNK):  # bounded: at most _CHUNK bytes are decompressed at a time
                total += len(chunk)
                if total > allowed:
                    if allowed == limits.max_bytes:
                        raise TooLarge(f"{label} decompresses to more than {allowed} bytes; a .blend may "
                                       f"decompress to at most {limits.max_bytes} bytes")
                    raise TooLarge(f"{label} decompresses to more than {allowed} bytes, over {limits.max_ratio}× "
                                   f"its {compressed} bytes; refused as a decompression bomb")
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise BlobError(f"{label} is damaged and cannot be decompressed: {_reason(exc)}") from None
    return total


def _reason(exc: BaseException) -> str:
    """Why ``exc`` happened, for a person: an OSError's reason without the file name (a path on this server)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _decompressing(raw: BinaryIO, compression: str) -> Any:
    """A reader of the decompressed bytes of ``raw``: every gzip member, every zstd frame (Blender reads them all)."""
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)


# ----------------------------------------------------------------------------- zip projects


@dataclass(frozen=True)
class ZipLimits:
    """Bounds of an accepted .zip project; the total and the ratio are the whole archive's, all entries together."""

    max_entries: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    #: Most bytes extracted per byte of the archive.
    max_ratio: int = 200
    #: An archive that extracts to no more than this in all is not held to ``max_ratio`` (small projects of text
    #: compress very well); a total, so no sum of small entries gets past it.
    ratio_grace_bytes: int = 1024 * 1024
    max_name_length: int = 1024
    max_depth: int = 64
    #: The compressed .blend files of the project are decompressed within these.
    blend: BlendLimits = BlendLimits()


_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_name(name: str, limits: ZipLimits) -> PurePosixPath:
    """The relative path of a zip entry, or BlobError if the name is unsafe to extract."""
    if not name or len(name) > limits.max_name_length:
        raise BlobError(f"zip entry name is empty or too long: {name[:80]!r}")
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise BlobError(f"zip entry {name!r} has control characters in its name")
    if "\\" in name:
        raise BlobError(f"zip entry {name!r} uses backslashes; paths must use /")
    if _DRIVE.match(name):
        raise BlobError(f"zip entry {name!r} names a drive")
    if name.startswith("/"):
        raise BlobError(f"zip entry {name!r} is an absolute path")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        raise BlobError(f"zip entry {name!r} climbs out of the project with '..'")
    if any(p in ("", ".") for p in parts):
        raise BlobError(f"zip entry {name!r} has empty or '.' path components")
    if len(parts) > limits.max_depth:
        raise BlobError(f"zip entry {name!r} is nested too deep")
    return PurePosixPath(*parts)


def _entry_kind(info: zipfile.ZipInfo) -> str:
    """``dir`` or ``file`` for an entry; BlobError for links and special files."""
    mode = info.external_attr >> 16
    # Unix attributes mean something only when made on Unix; many writers store permission bits alone
    # (no file type), which is a plain file.
    if stat.S_IFMT(mode) and info.create_system == 3:
        if stat.S_ISLNK(mode):
            raise BlobError(f"zip entry {info.filename!r} is a symbolic link; links are not accepted")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise BlobError(f"zip entry {info.filename!r} is a special file (device, pipe or socket)")
        if stat.S_ISDIR(mode):
            return "dir"
    return "dir" if info.filename.endswith("/") else "file"


def zip_declared_size(archive: Path | str) -> int:
    """The bytes the entries of ``archive`` declare in its central directory (what it would extract to)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            return sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise BlobError(f"not a readable .zip archive: {_reason(exc)}") from None


def check_zip_sizes(archive: Path | str, limits: ZipLimits | None = None) -> int:
    """The bytes ``archive`` declares it extracts to, TooLarge past the limits' total or ratio (nothing is extracted)."""
    declared = zip_declared_size(archive)
    _check_expansion(declared, Path(archive).stat().st_size, limits or ZipLimits(), declared=True)
    return declared


def _check_expansion(total: int, archive_size: int, limits: ZipLimits, *, declared: bool) -> None:
    """TooLarge when ``total`` bytes (declared, or extracted so far) exceed the total or the ratio of the archive."""
    what = f"the .zip's entries declare {total} bytes" if declared else f"the .zip expands past {total - 1} bytes"
    if total > limits.max_total_bytes:
        raise TooLarge(f"{what}; a project may expand to at most {limits.max_total_bytes} bytes")
    if total > max(limits.ratio_grace_bytes, limits.max_ratio * archive_size):
        raise TooLarge(f"{what}, over {limits.max_ratio}× the archive's {archive_size} bytes; refused as a zip bomb")


def safe_extract_zip(archive: Path | str, dest: Path | str, limits: ZipLimits | None = None) -> list[str]:
    """Extract ``archive`` into the new directory ``dest`` (atomically) and return the file names.

    Everything is checked before or while writing; on any refusal nothing is left at ``dest``.
    """
    limits = limits or ZipLimits()
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))  # 0700
    try:
        files = _extract_into(Path(archive), tmp, limits)
        try:
            os.rename(tmp, dest)
        except OSError:
            if dest.exists():  # a concurrent extraction of the same archive won the rename
                raise FileExistsError(f"{dest} already exists") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files


def _extract_into(archive: Path, root: Path, limits: ZipLimits) -> list[str]:
    """Check every entry of ``archive`` (names, kinds, declared sizes), then extract them under ``root``."""
    try:
        zf = zipfile.ZipFile(archive)
        archive_size = archive.stat().st_size
    except (zipfile.BadZipFile, OSError) as exc:
        raise BlobError(f"not a readable .zip archive: {_reason(exc)}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise BlobError(f"the .zip has {len(infos)} entries; at most {limits.max_entries} are accepted")
        _check_expansion(sum(info.file_size for info in infos), archive_size, limits, declared=True)
        seen: set[str] = set()
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath, str]] = []
        for info in infos:
            rel = check_member_name(info.filename, limits)
            kind = _entry_kind(info)
            key = str(rel).casefold()  # two names differing by case would collide on some filesystems
            if key in seen and kind == "file":
                raise BlobError(f"zip entry {info.filename!r} appears twice")
            seen.add(key)
            if info.flag_bits & 0x1:
                raise BlobError(f"zip entry {info.filename!r} is encrypted")
            plan.append((info, rel, kind))
        total = 0
        files: list[str] = []
        for info, rel, kind in plan:
            if kind == "dir":
                _make_dirs(root, rel.parts, f"zip entry {info.filename!r} collides with a file")
                continue
            _make_dirs(root, rel.parts[:-1], f"zip entry {info.filename!r} is inside a path that is a file")
            written, head = 0, b""
            try:
                with zf.open(info) as src, _create(root.joinpath(*rel.parts)) as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        # measured, not trusted: each entry must be what the central directory declared
                        if written > info.file_size:
                            raise BlobError(f"zip entry {info.filename!r} is larger than its header says "
                                            f"({info.file_size} bytes)")
                        _check_expansion(total, archive_size, limits, declared=False)
                        head = head or chunk[:HEAD_BYTES]
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise BlobError(f"zip entry {info.filename!r} cannot be extracted: {exc}") from None
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise BlobError(f"zip entry {info.filename!r} collides with another entry") from None
            if written != info.file_size:
                raise BlobError(f"zip entry {info.filename!r} has {written} bytes, not the {info.file_size} its "
                                "header says")
            if blend_compression(head) in ("gzip", "zstd"):  # Blender (on the workers too) would decompress it
                check_compressed_blend(root.joinpath(*rel.parts), limits.blend, name=str(rel))
            files.append(str(rel))
        return files


def _make_dirs(root: Path, parts: tuple[str, ...], collision: str) -> None:
    """Create ``root/parts…`` one folder at a time, each 0700; BlobError(``collision``) where a file is in the way."""
    current = root
    for part in parts:
        current = current / part
        try:
            current.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise BlobError(collision) from None
        except NotADirectoryError:
            raise BlobError(collision) from None


def _create(path: Path) -> BinaryIO:
    """A new file (never an existing one, never through a link), readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
    return os.fdopen(fd, "wb")
