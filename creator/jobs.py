"""A creator's render job: settings checked before upload, submit and pay the escrow, watch it, download frames."""

from __future__ import annotations

import asyncio
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.errors import ChainError
from chain.keys import account_address
from creator.amounts import format_amount
from creator.api import CreatorApi, error_detail, status_error
from creator.errors import CreatorError, chain_failure
from protocol.render_spec import JobSpecError, parse_job_spec

if TYPE_CHECKING:
    from aptos_sdk.account import Account

    from chain.client import PictorChain, TxResult

#: Frame states counted as rendered (and those that are final) in progress displays.
DONE_STATES = ("rendered", "verifying", "verified", "accepted")
TERMINAL_JOB_STATES = ("completed", "cancelled", "expired")


def job_settings(
    frames: str,
    *,
    engine: str | None = None,
    device: str | None = None,
    samples: int | None = None,
    resolution: str | None = None,
    output_format: str | None = None,
    chunk: int | None = None,
    tier: str | None = None,
) -> dict[str, Any]:
    """The job's settings from the command line, validated here as the API will (nothing is uploaded if bad)."""
    settings: dict[str, Any] = {"frames": frames}
    if resolution is not None:
        size = re.fullmatch(r"(\d+)[xX×](\d+)", resolution.strip())
        if size:
            settings.update(resolution="custom", resolution_x=int(size.group(1)), resolution_y=int(size.group(2)))
        else:
            settings["resolution"] = resolution
    for key, value in (
        ("engine", engine),
        ("device", device),
        ("samples", samples),
        ("output_format", output_format),
        ("frames_per_node", chunk),
        ("pricing_tier", tier),
    ):
        if value is not None:
            settings[key] = value
    try:
        parse_job_spec(settings)
    except JobSpecError as exc:
        raise CreatorError(f"bad job settings: {exc}") from None
    return settings


@dataclass
class SubmittedJob:
    """A job created, paid (escrow opened from the wallet) and linked."""

    job_id: int
    chain_job_id: int
    budget: int
    price_per_minute: int
    opened: TxResult
    estimate: dict[str, Any]
    upload: dict[str, Any]
    scene: dict[str, Any] | None


def describe_scene(scene: dict[str, Any] | None) -> str:
    """One line about the inspected scene."""
    info = scene or {}
    active = next((s for s in info.get("scenes", []) if s.get("active")), None) or (info.get("scenes") or [{}])[0]
    return (
        f"scene {active.get('name')!r} (Blender {info.get('blender')}): {active.get('engine')}, frames "
        f"{active.get('frame_start')}-{active.get('frame_end')}, {active.get('resolution_x')}x"
        f"{active.get('resolution_y')}, samples {active.get('samples')}, cameras {active.get('cameras')}, "
        f"missing files {info.get('missing_files') or 'none'}"
    )


def describe_estimate(est: dict[str, Any]) -> str:
    """The estimate in one line (amounts from base units)."""
    cost = est.get("cost") or {}
    eta = est.get("eta_seconds")
    return (
        f"{est.get('frames')} frames in {est.get('tasks')} tasks, cost {format_amount(int(cost.get('low', 0)))}"
        f"–{format_amount(int(cost.get('high', 0)))} PICTOR (expected {format_amount(int(cost.get('expected', 0)))}),"
        f" quoted total {format_amount(int(est['quoted_total']))} PICTOR, {est.get('matching_workers')} matching"
        f" workers, ETA {'unknown (no worker online)' if eta is None else f'{eta}s'}"
    )


async def _check_vault(chain: PictorChain, account: Account, budget: int) -> None:
    """CreatorError (2) unless the vault's credit and balance cover ``budget``."""
    try:
        vault = await chain.views.vault_account(account_address(account))
    except ChainError as exc:
        raise chain_failure(exc, "reading the vault") from None
    held = int(vault.credit) + int(vault.balance)
    if held < budget:
        raise CreatorError(
            f"the vault holds {format_amount(held)} PICTOR, the job's budget is {format_amount(budget)}: "
            "`pictor wallet deposit AMOUNT` first"
        )


async def submit_job(
    api: CreatorApi,
    chain: PictorChain,
    account: Account,
    scene_path: Path,
    settings: dict[str, Any],
    *,
    budget: int | None = None,
    priority: int | None = None,
    echo: Callable[[str], None] = print,
    link_timeout_s: float = 120.0,
) -> SubmittedJob:
    """Upload, inspect, estimate, create the job, sign ``escrow::open_job`` from the wallet and link it."""
    if not scene_path.is_file():
        raise CreatorError(f"no such scene file: {scene_path}")
    if budget is not None:  # checked before anything is uploaded
        await _check_vault(chain, account, budget)
    upload = await api.upload(scene_path)
    echo(f"uploaded {scene_path} ({int(upload.get('size', 0)):,} bytes) as {upload['id']}")
    scene = (await api.get(f"/uploads/{upload['id']}/scene")).get("scene")
    echo(f"inspection: {describe_scene(scene)}")
    body: dict[str, Any] = {"upload_id": upload["id"], "settings": settings}
    est = await api.post("/jobs/estimate", body)
    echo(f"estimate: {describe_estimate(est)}")
    if budget is None:
        budget = int(est["quoted_total"])
        await _check_vault(chain, account, budget)
    body["budget"] = budget
    if priority is not None:
        body["priority"] = priority
    created = await api.post("/jobs", body, ok=(201,))
    job_id = int(created["job_id"])
    payload = created["escrow_payload"]
    # Sign only what we expect: the package's open_job with our budget (the API must not make us sign more).
    expected = chain.payloads.function_id("escrow", "open_job")
    args = [int(a) for a in payload.get("arguments", [])]
    if payload.get("function") != expected or payload.get("type_arguments") or len(args) != 2 or args[0] != budget:
        raise CreatorError(f"the API asked to sign an unexpected transaction {payload!r}; nothing was signed", 1)
    price = args[1]
    echo(
        f"job {job_id} created: budget {format_amount(budget)} PICTOR at {format_amount(price)} PICTOR per "
        "reference minute"
    )
    try:
        opened = await chain.submit_and_wait(account, chain.payloads.escrow_open_job(budget, price))
    except ChainError as exc:
        raise chain_failure(exc, f"opening the escrow of job {job_id}") from None
    echo(
        f"escrow::open_job signed by {account_address(account)[:12]}…: transaction {opened.hash} (version {opened.version})"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + link_timeout_s
    while True:  # 202 until the indexer has seen the transaction
        response = await api.call("POST", f"/jobs/{job_id}/escrow", (200, 202, 409), json={"txn_hash": opened.hash})
        job = response.json()
        if response.status_code == 409:  # the API's background task linked it between two calls
            job = await api.get(f"/jobs/{job_id}")
            if job.get("state") == "awaiting_escrow" or not (job.get("escrow") or {}).get("chain_job_id"):
                raise CreatorError(f"linking the escrow: {error_detail(response)}", 1)
        if response.status_code != 202:
            break
        if loop.time() > deadline:
            raise CreatorError(
                f"the API did not see transaction {opened.hash} within {link_timeout_s:.0f}s "
                f"(is the indexer running?); link it later with POST /jobs/{job_id}/escrow",
                1,
            )
        await asyncio.sleep(0.3)
    chain_job_id = int(job["escrow"]["chain_job_id"])
    echo(f"job {job_id} is {job['state']} (escrow {chain_job_id} on chain)")
    return SubmittedJob(job_id, chain_job_id, budget, price, opened, est, upload, scene)


def frame_counts(status: dict[str, Any]) -> dict[str, int]:
    """Frames per state of a status event or job."""
    counts: dict[str, int] = {}
    for frame in status.get("frames") or []:
        counts[frame["state"]] = counts.get(frame["state"], 0) + 1
    return counts


def status_line(status: dict[str, Any]) -> str:
    """``job 3 active: 2/8 rendered [#####-----] (2 rendering, 4 queued)``."""
    counts = frame_counts(status)
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in DONE_STATES)
    width = 20
    filled = width * done // total if total else 0
    rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in DONE_STATES)
    pause = f" — paused: {status.get('pause_reason')}" if status.get("state") == "paused" else ""
    return (
        f"job {status.get('job_id')} {status.get('state')}: {done}/{total} rendered "
        f"[{'#' * filled}{'-' * (width - filled)}]{f' ({rest})' if rest else ''}{pause}"
    )


async def watch_job(
    api: CreatorApi, job_id: int, show: Callable[[dict[str, Any]], None], timeout_s: float | None = None
) -> dict[str, Any]:
    """Follow the job's event stream, calling ``show`` per status, until it completes or is cancelled."""
    loop = asyncio.get_running_loop()
    end = None if timeout_s is None else loop.time() + timeout_s
    last: dict[str, Any] = {}
    while True:  # the server ends a stream after its timeout; reconnect until the job is over
        left = 3600.0 if end is None else max(1.0, end - loop.time())
        async for status in api.events(job_id, timeout_s=min(3600.0, left)):
            last = status
            show(status)
            if status.get("state") in TERMINAL_JOB_STATES:
                return last
        if end is not None and loop.time() >= end:
            raise CreatorError(
                f"job {job_id} did not finish within {timeout_s:.0f}s ({status_line(last) if last else 'no status'})", 1
            )


def watch_outcome(status: dict[str, Any]) -> tuple[int, str]:
    """The exit code and last words of a watched job: 0 when every frame rendered, 1 otherwise."""
    counts = frame_counts(status)
    if status.get("state") == "cancelled":
        return 1, f"job {status.get('job_id')} was cancelled"
    if status.get("state") == "expired":
        return 1, f"job {status.get('job_id')} expired before its escrow was linked; submit it again"
    if counts.get("failed"):
        return 1, f"job {status.get('job_id')} finished with {counts['failed']} failed frames"
    return 0, f"job {status.get('job_id')} finished: {sum(counts.values())} frames rendered"


def safe_member(name: str) -> str:
    """A zip member name that is a plain file name (the API's are ``frame_000001.png``)."""
    base = Path(name).name
    if not base or base != name or base.startswith(".") or "\\" in name:
        raise CreatorError(f"the frames archive holds an unexpected entry {name!r}; nothing was written", 1)
    return base


async def download_frames(api: CreatorApi, job_id: int, out: Path) -> list[Path]:
    """Stream the job's ``frames.zip`` and write each frame into ``out``; the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    path = f"/jobs/{job_id}/frames.zip"
    with tempfile.TemporaryFile() as spool:
        async with api.http.stream("GET", path) as response:
            if response.status_code != 200:
                await response.aread()
                raise status_error("GET", path, response)
            async for chunk in response.aiter_bytes():
                spool.write(chunk)
        spool.seek(0)
        written = []
        with zipfile.ZipFile(spool) as archive:
            for info in archive.infolist():
                target = out / safe_member(info.filename)
                with archive.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(1024 * 1024):
                        dst.write(chunk)
                written.append(target)
    return written
