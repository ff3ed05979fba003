"""The API's background work, started and stopped with the app: the scheduler pass (expired leases, escrows to
link, jobs left unpaid to expire, the chain outbox), the review-window finalizer, reward epochs closing and the
leaderboard refresh.

Each runs only when its setting turns it on (``scheduler_background`` for the first two,
``rewards_close_background``, ``leaderboard_background``); a pass that fails is logged and the next one retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from starlette.concurrency import run_in_threadpool

from api.jobs.lifecycle import expire_unpaid, refresh_pending
from api.scheduler import process_outbox, sweep_expired
from api.state import chain_of, engine_of, settings_of
from api.verification import escalate_stalled, finalize_due
from chain.keys import load_settings_keys
from pictor.settings import Settings
from rewards.epochs import EpochError, close_due_now
from rewards.leaderboard import refresh_pass

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the scheduler pass


def kick(app: Any) -> None:
    """Wake the scheduler pass now (a claim just wrote an assignment to the outbox)."""
    event = getattr(app.state, "scheduler_kick", None)
    if event is not None:
        event.set()


async def wait_for_kick(app: Any, timeout: float) -> None:
    """Sleep ``timeout`` seconds or until :func:`kick`."""
    event = getattr(app.state, "scheduler_kick", None)
    if event is None:
        event = app.state.scheduler_kick = asyncio.Event()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()


def coordinator_key(app: Any, settings: Settings) -> Any | None:
    """The coordinator account (``app.state.coordinator``, else the settings' keys; None when absent)."""
    key = getattr(app.state, "coordinator", None)
    if key is None:
        try:
            key = app.state.coordinator = load_settings_keys(settings).coordinator
        except Exception:  # noqa: BLE001 - no keys configured: the outbox waits
            return None
    return key


async def scheduler_pass(app: Any) -> None:
    """Sweep expired leases, link escrows and resume topped-up jobs, expire jobs left unpaid, and drain the chain
    outbox once."""
    settings, engine = settings_of(app), engine_of(app)
    await run_in_threadpool(sweep_expired, engine, settings)
    await run_in_threadpool(refresh_pending, engine, settings)
    await run_in_threadpool(expire_unpaid, engine, settings)  # after the links: a paid job is linked, not expired
    coordinator = coordinator_key(app, settings)
    if coordinator is not None:
        await process_outbox(engine, chain_of(app), coordinator, settings)


async def scheduler_loop(app: Any) -> None:
    """:func:`scheduler_pass` every ``scheduler_interval_s``, or at once when kicked."""
    while True:
        try:
            await scheduler_pass(app)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the loop must survive a database or chain hiccup
            log.exception("scheduler background pass failed")
        await wait_for_kick(app, settings_of(app).scheduler_interval_s)


# ----------------------------------------------------------------------------- verification


async def finalizer_loop(app: Any) -> None:
    """Every ``verify_finalize_interval_s``: requeue stalled verifications, settle tasks whose review window ended."""
    while True:
        settings = settings_of(app)
        await asyncio.sleep(settings.verify_finalize_interval_s)
        try:
            await run_in_threadpool(escalate_stalled, engine_of(app), settings)
            caller = coordinator_key(app, settings)
            if caller is not None:
                await finalize_due(engine_of(app), chain_of(app), caller)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the loop must survive a database or chain hiccup
            log.exception("review-window finalizer pass failed")


# ----------------------------------------------------------------------------- rewards


async def epochs_loop(app: Any) -> None:
    """Close ended reward epochs every ``rewards_close_interval_s`` (``pictor close-epoch`` does it from a shell)."""
    while True:
        settings = settings_of(app)
        try:
            for summary in await asyncio.to_thread(close_due_now, engine_of(app), settings):
                log.info("reward epoch %s closed: %s", summary.epoch, summary.state)
        except EpochError as exc:
            log.warning("reward epochs not closed: %s", exc)
        except Exception:  # noqa: BLE001 - the loop must survive a database or chain hiccup; the close resumes
            log.exception("closing reward epochs failed")
        await asyncio.sleep(settings.rewards_close_interval_s)


def start_leaderboard_refresh(app: Any) -> BackgroundScheduler:
    """Refresh the leaderboards (and credit the scanned point sources) on a schedule, the first pass at once."""
    settings, engine = settings_of(app), engine_of(app)
    scheduler = BackgroundScheduler(timezone=UTC)
    # One pass at a time (a slow refresh is not stacked), missed runs collapse into one.
    scheduler.add_job(
        refresh_pass,
        "interval",
        args=[engine, None, settings],
        id="leaderboard-refresh",
        seconds=settings.leaderboard_refresh_s,
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    return scheduler


# ----------------------------------------------------------------------------- the app's lifespan


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Start what the settings turn on while the app serves; stop it all at shutdown."""
    settings = settings_of(app)
    loops: list[Callable[[Any], Awaitable[None]]] = []
    if settings.scheduler_background:
        loops += [scheduler_loop, finalizer_loop]
    if settings.rewards_close_background:
        loops.append(epochs_loop)
    tasks = [asyncio.create_task(loop(app)) for loop in loops]
    leaderboard = start_leaderboard_refresh(app) if settings.leaderboard_background else None
    try:
        yield
    finally:
        if leaderboard is not None:
            leaderboard.shutdown(wait=False)  # a pass in progress finishes on its own
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
