"""Frame uploads of a task: each finished frame as it comes, in one request or, above the part size, in parts.

A frame goes up with ``PUT /nodes/tasks/{id}/frames/{n}`` and its sha256 in ``X-Pictor-Content-Sha256``. One
above ``upload_part_bytes`` (the API's signed-body limit; an 8K OpenEXR can be bigger) goes up in parts: ``GET
…/parts`` first (parts the API already holds with the same sha256 are skipped, so a retried upload resumes),
each part ``PUT …/parts/{i}`` with its sha256, then ``POST …/finalize`` with the whole frame's sha256 and size.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

import httpx

from blender import FrameResult
from protocol.client import ApiUnavailable, NodeApi, response_detail
from worker_node.task import TaskRun

log = logging.getLogger("pictor.worker")


async def upload_frames(api: NodeApi, run: TaskRun, part_bytes: int, give_up: Callable[[], bool]) -> None:
    """Upload the frames ``run.uploads`` hands over, in order, until its None; network errors are retried until
    ``give_up()``. A 409 marks the lease lost; a refusal sets ``run.upload_error`` and stops the render."""
    while True:
        result = await run.uploads.get()
        if result is None:
            return
        path = f"/nodes/tasks/{run.task_id}/frames/{result.frame}"
        try:
            if result.size_bytes > part_bytes:
                response = await upload_in_parts(api, run, result, path, part_bytes, give_up)
            else:
                data = await asyncio.to_thread(result.path.read_bytes)
                response = await api.call(
                    "PUT", path, content=data,
                    headers={"X-Pictor-Content-Sha256": result.sha256, "Content-Type": "application/octet-stream"},
                    give_up=give_up,
                )  # fmt: skip
        except ApiUnavailable as exc:  # aborted, or shutting down past the grace period
            log.error("task %s: frame %s not uploaded: %s", run.task_id, result.frame, exc)
            return
        if response.status_code == 409:
            log.warning("task %s: lease gone while uploading frame %s", run.task_id, result.frame)
            run.abort(lost=True)
            return
        if response.status_code != 200:
            run.upload_error = (
                f"frame {result.frame} upload refused: HTTP {response.status_code} {response_detail(response)}"
            )
            log.error("task %s: %s", run.task_id, run.upload_error)
            if run.session is not None:
                run.session.cancel()
            return
        answered = response.json().get("sha256")
        if answered not in (None, result.sha256):
            run.upload_error = f"frame {result.frame}: the API stored sha256 {answered}, the frame is {result.sha256}"
            return
        run.uploaded.append(result.frame)


async def upload_in_parts(
    api: NodeApi, run: TaskRun, result: FrameResult, path: str, part_bytes: int, give_up: Callable[[], bool]
) -> httpx.Response:
    """A frame above the signed-body limit: parts of ``part_bytes`` (skipping those the API already has, so an
    interrupted upload resumes), then ``finalize``; answers the first refusal or finalize's answer."""
    listed = await api.call("GET", f"{path}/parts", give_up=give_up)
    if listed.status_code != 200:
        return listed
    have = {p.get("part"): p.get("sha256") for p in listed.json().get("parts", []) if isinstance(p, dict)}
    count = -(-result.size_bytes // part_bytes)

    def read(index: int) -> bytes:
        with open(result.path, "rb") as handle:
            handle.seek(index * part_bytes)
            return handle.read(part_bytes)

    for index in range(count):
        chunk = await asyncio.to_thread(read, index)
        digest = hashlib.sha256(chunk).hexdigest()
        if have.get(index) == digest:
            continue
        response = await api.call(
            "PUT", f"{path}/parts/{index}", content=chunk,
            headers={"X-Pictor-Content-Sha256": digest, "Content-Type": "application/octet-stream"},
            give_up=give_up,
        )  # fmt: skip
        if response.status_code != 200:
            return response
    log.info("task %s frame %s: %d bytes uploaded in %d parts", run.task_id, result.frame, result.size_bytes,
             count)  # fmt: skip
    body = {"sha256": result.sha256, "size": result.size_bytes, "parts": count}
    return await api.call("POST", f"{path}/finalize", json=body, give_up=give_up)
