"""A verification item's files: its scene and its frames, each downloaded once into the node's caches, hash checked.

The scene goes through the content-addressed scene cache (:class:`protocol.scene_cache.SceneCache`: sha256
and size checked), each frame into ``<cache_dir>/frames`` once its bytes hash to the signed manifest's sha256.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from protocol.client import ApiUnavailable, NodeApi, response_detail
from protocol.scene_cache import SceneCache, SceneCacheError, SceneRef

log = logging.getLogger("pictor.checker")

#: The largest frame a checker downloads.
MAX_FRAME_BYTES = 2 * 1024**3
#: Tries of one download while the API is unavailable.
DOWNLOAD_TRIES = 8

T = TypeVar("T")


class DownloadError(Exception):
    """A file of the item cannot be had: refused, wrong bytes, too big, or the API stayed unavailable."""


class ItemDownloads:
    """The scene and frame caches of one checker node, fed from ``GET /nodes/verify/{id}/blobs/{sha256}``."""

    def __init__(self, cache_dir: Path, max_backoff_s: float) -> None:
        self.scenes = SceneCache(cache_dir)
        self.frames_dir = Path(cache_dir) / "frames"
        self.max_backoff_s = max_backoff_s

    def _stream(self, api: NodeApi, vid: int, sha256: str) -> AsyncIterator[bytes]:
        """The blob's bytes as the item's verification route serves them."""
        path = f"/nodes/verify/{vid}/blobs/{sha256}"

        def refused(response: httpx.Response) -> Exception:
            return DownloadError(f"the API refused {path}: HTTP {response.status_code} {response_detail(response)}")

        return api.stream(path, refused)

    async def _retrying(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """``make()`` again while the API is unavailable, backing off; DownloadError after the last try."""
        delay = 0.25
        for _ in range(DOWNLOAD_TRIES):
            try:
                return await make()
            except ApiUnavailable as exc:
                log.warning("%s: %s; retrying in %.2g s", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)
        raise DownloadError(f"{what}: the API stayed unavailable")

    async def scene(self, api: NodeApi, vid: int, item: dict[str, Any]) -> Path:
        """The item's scene (the .blend to render) from the cache, or downloaded into it."""
        try:
            ref = SceneRef.from_lease(item.get("scene"))
            return await self._retrying(
                "scene download", lambda: self.scenes.get(ref, lambda: self._stream(api, vid, ref.sha256))
            )
        except SceneCacheError as exc:
            raise DownloadError(str(exc)) from None

    async def frame(self, api: NodeApi, vid: int, sha256: str) -> Path:
        """The frame from the cache, or downloaded into it once its bytes hash to ``sha256``."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise DownloadError(f"frame sha256 {sha256!r} is not 64 lowercase hex digits")
        path = self.frames_dir / sha256[:2] / f"{sha256}.img"
        if path.is_file():
            return path

        async def fetch() -> Path:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
            digest, size = hashlib.sha256(), 0
            try:
                with open(tmp, "xb") as out:
                    async for chunk in self._stream(api, vid, sha256):
                        size += len(chunk)
                        if size > MAX_FRAME_BYTES:
                            raise DownloadError(f"frame {sha256} is larger than {MAX_FRAME_BYTES} bytes")
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != sha256:
                    raise DownloadError(f"the downloaded frame hashes to {digest.hexdigest()}, not {sha256}; refused")
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            return path

        return await self._retrying("frame download", fetch)
