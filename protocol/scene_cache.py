"""Content-addressed scene cache: every scene is stored once under its sha256, checked when downloaded.

Layout under ``<cache_dir>/scenes``::

    ab/abcdef….blend      a .blend scene (the name ends in .blend so Blender and people recognise it)
    ab/abcdef….zip        a .zip project as downloaded
    ab/abcdef….d/         that project unpacked (pictor.blobs.safe_extract_zip: no absolute paths, '..',
                          links, special files or bombs; atomic, so a half-unpacked project never exists)

A blob enters the cache only after its bytes hashed to the sha256 the lease named (and had its size),
through a temporary file renamed into place, so a file in the cache is always a verified scene and a
second task of the same scene downloads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from pictor.blobs import BlobError, ZipLimits, check_member_name, safe_extract_zip

_SHA256 = re.compile(r"[0-9a-f]{64}")


class SceneCacheError(Exception):
    """A scene cannot be used: its bytes do not match the lease, the project is unsafe, the main .blend is missing."""


@dataclass(frozen=True)
class SceneRef:
    """A scene as a lease names it."""

    sha256: str
    size: int
    kind: str  # "blend" | "zip"
    main_blend: str | None = None

    @classmethod
    def from_lease(cls, data: object) -> SceneRef:
        """Validate the lease's ``scene`` object."""
        if not isinstance(data, dict):
            raise SceneCacheError("the lease has no scene object")
        sha = data.get("sha256")
        size = data.get("size")
        kind = data.get("kind")
        main = data.get("main_blend")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise SceneCacheError(f"the lease's scene sha256 is not 64 lowercase hex digits: {sha!r}")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise SceneCacheError(f"the lease's scene size is not a byte count: {size!r}")
        if kind not in ("blend", "zip"):
            raise SceneCacheError(f"the lease's scene kind must be 'blend' or 'zip', got {kind!r}")
        if main is not None and not isinstance(main, str):
            raise SceneCacheError("the lease's main_blend must be a path inside the project")
        if kind == "zip" and not main:
            raise SceneCacheError("a .zip project needs main_blend (the .blend to render)")
        return cls(sha, size, kind, main)


#: Yields the scene's bytes (a fresh download each call); the cache hashes and stores them.
Fetch = Callable[[], AsyncIterator[bytes]]


class SceneCache:
    """Scenes by sha256 under ``root``; :meth:`get` downloads only what is missing."""

    def __init__(self, root: str | os.PathLike[str], *, zip_limits: ZipLimits | None = None) -> None:
        self.root = Path(root) / "scenes"
        self.zip_limits = zip_limits or ZipLimits()
        self._locks: dict[str, asyncio.Lock] = {}
        #: Bytes downloaded and cache hits since start (for logs and tests).
        self.downloads = 0
        self.hits = 0

    def blob_path(self, scene: SceneRef) -> Path:
        """Where the scene's bytes live."""
        return self.root / scene.sha256[:2] / f"{scene.sha256}.{scene.kind}"

    def project_dir(self, scene: SceneRef) -> Path:
        """Where a .zip project is unpacked."""
        return self.root / scene.sha256[:2] / f"{scene.sha256}.d"

    async def get(self, scene: SceneRef, fetch: Fetch) -> Path:
        """The .blend to open for ``scene``, downloading (and unpacking) it first when it is not cached."""
        lock = self._locks.setdefault(scene.sha256, asyncio.Lock())
        async with lock:
            blob = self.blob_path(scene)
            if blob.is_file() and blob.stat().st_size == scene.size:
                self.hits += 1
            else:
                await self._download(scene, blob, fetch)
                self.downloads += 1
            if scene.kind == "blend":
                return blob
            return await asyncio.to_thread(self._unpacked_main, scene, blob)

    async def _download(self, scene: SceneRef, blob: Path, fetch: Fetch) -> None:
        """Stream the bytes into a temporary file, check size and sha256, then rename into place."""
        blob.parent.mkdir(parents=True, exist_ok=True)
        tmp = blob.with_name(f".{blob.name}.{secrets.token_hex(6)}.part")
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "xb") as out:
                async for chunk in fetch():
                    size += len(chunk)
                    if size > scene.size:
                        raise SceneCacheError(
                            f"the scene download is larger than the {scene.size} bytes the lease names"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size != scene.size:
                raise SceneCacheError(f"the scene download has {size} bytes; the lease names {scene.size}")
            if digest.hexdigest() != scene.sha256:
                raise SceneCacheError(
                    f"the downloaded scene hashes to {digest.hexdigest()}, not the lease's {scene.sha256}; refused"
                )
            os.replace(tmp, blob)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _unpacked_main(self, scene: SceneRef, blob: Path) -> Path:
        """Unpack the project once (safely) and return its main .blend."""
        project = self.project_dir(scene)
        if not project.is_dir():
            try:
                safe_extract_zip(blob, project, self.zip_limits)
            except FileExistsError:
                pass  # unpacked concurrently by another process sharing the cache
            except BlobError as exc:
                raise SceneCacheError(f"the scene project cannot be unpacked safely: {exc}") from None
        assert scene.main_blend is not None
        try:
            rel = check_member_name(scene.main_blend, self.zip_limits)
        except BlobError as exc:
            raise SceneCacheError(f"main_blend {scene.main_blend!r} is not a path inside the project: {exc}") from None
        main = project.joinpath(*rel.parts)
        if not main.is_file():
            raise SceneCacheError(f"the project has no file {scene.main_blend!r}")
        if main.suffix.lower() != ".blend":
            raise SceneCacheError(f"main_blend {scene.main_blend!r} is not a .blend file")
        return main

