"""``/leaderboard``: ranked totals (global or per campaign) from snapshots plus the ledger since, and the refresh
schedule that keeps the snapshots fresh.

``GET /leaderboard`` is public (top N, pages by ``offset`` or ``cursor``); ``GET /leaderboard/me`` needs a
session and answers the caller's rank, points and neighbours. Reads are exact at any moment (see
:mod:`rewards.snapshots`); an answer of ``GET /leaderboard`` may be reused for ``leaderboard_cache_ttl_s``.
The refresh (and the points helper's ``credit_sources`` when it exists) runs on an apscheduler interval job
inside the API when ``leaderboard_background`` is on (``pictor api`` turns it on).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from api.audit import get_engine
from api.auth import CurrentUser, get_app_settings
from pictor.settings import Settings
from rewards import snapshots
from tables.points import campaigns

log = logging.getLogger("rewards.leaderboard")

router = APIRouter(prefix="/leaderboard", tags=["leaderboard"])

#: Largest ``offset`` accepted (far past any real leaderboard; bounds the work of one request).
MAX_OFFSET = 100_000_000
#: Answers of GET /leaderboard kept for reuse (per app).
RESPONSE_CACHE_SIZE = 256
#: An ended campaign is still refreshed this long after its end (late credits dated inside its window).
CAMPAIGN_GRACE = timedelta(days=1)

CampaignQ = Annotated[int | None, Query(ge=1, le=2**62, description="A campaign id; absent: the global board.")]


def _page_body(page: snapshots.Page) -> bytes:
    """JSON of a leaderboard page."""
    view = page.view
    return orjson.dumps(
        {
            "scope": view.scope.key,
            "campaign": view.scope.campaign_id,
            "total_users": view.total_users,
            "offset": page.offset,
            "entries": [e.as_dict() for e in page.entries],
            "next_cursor": page.next_cursor,
            "snapshot": {"generation": view.generation, "high_water": view.high_water, "as_of_entry": view.as_of},
        }
    )


def _scope_errors(call: Callable[[], Any]) -> Any:
    """Run a read, turning a missing campaign or a foreign cursor into 4xx."""
    try:
        return call()
    except snapshots.UnknownCampaign as exc:
        raise HTTPException(404, str(exc)) from None
    except snapshots.BadCursor as exc:
        raise HTTPException(400, str(exc)) from None


class _ResponseCache:
    """Recent GET /leaderboard answers, by query (used from the event loop only, so without locks).

    An answer is fresh for ``ttl`` seconds. After that the first request reads the board again while the
    others keep getting the previous answer until it is replaced, so a popular answer expiring does not set off
    a stampede of identical reads; an answer is at most ttl plus one read old.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[Any, ...], tuple[float, bytes]] = {}
        self._reading: set[tuple[Any, ...]] = set()

    def lookup(self, key: tuple[Any, ...]) -> bytes | None:
        """The answer to send; None: this request reads the board and then calls :meth:`put` or :meth:`abandon`."""
        item = self._items.get(key)
        if item is not None and (item[0] >= time.monotonic() or key in self._reading):
            return item[1]
        self._reading.add(key)
        return None

    def put(self, key: tuple[Any, ...], body: bytes, ttl: float) -> None:
        """Keep ``body`` as the answer to ``key`` for ``ttl`` seconds."""
        self._reading.discard(key)
        if len(self._items) >= RESPONSE_CACHE_SIZE and key not in self._items:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if v[0] >= now}
            if len(self._items) >= RESPONSE_CACHE_SIZE:
                self._items.clear()
        self._items[key] = (time.monotonic() + ttl, body)

    def abandon(self, key: tuple[Any, ...]) -> None:
        """The read of ``key`` failed: the next request tries again."""
        self._reading.discard(key)


def _response_cache(app: FastAPI) -> _ResponseCache:
    cache = getattr(app.state, "leaderboard_cache", None)
    if cache is None:
        cache = app.state.leaderboard_cache = _ResponseCache()
    return cache


@router.get("", summary="The leaderboard: top N, by pages (global or one campaign)")
async def get_leaderboard(
    request: Request,
    campaign: CampaignQ = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page (at most 1000).")] = 100,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET, description="Places to skip.")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")] = None,
) -> Response:
    """Ranked entries (``rank``, ``address``, ``points``); ties share a rank and are ordered by address."""
    if offset is not None and cursor is not None:
        raise HTTPException(400, "give either offset or cursor, not both")
    ttl = get_app_settings(request).leaderboard_cache_ttl_s
    key = (campaign, limit, offset or 0, cursor)
    cache = _response_cache(request.app)
    if ttl > 0 and (stored := cache.lookup(key)) is not None:
        return Response(stored, media_type="application/json")
    engine = get_engine(request)

    def read() -> bytes:
        return _page_body(
            _scope_errors(lambda: snapshots.top(engine, campaign, limit=limit, offset=offset or 0, cursor=cursor))
        )

    try:
        body = await run_in_threadpool(read)
    except BaseException:
        if ttl > 0:
            cache.abandon(key)
        raise
    if ttl > 0:
        cache.put(key, body, ttl)
    return Response(body, media_type="application/json")


@router.get("/me", summary="My rank, points and the users around me")
async def get_my_rank(
    request: Request,
    user: CurrentUser,
    campaign: CampaignQ = None,
    window: Annotated[int, Query(ge=0, le=50, description="Neighbours shown on each side.")] = 5,
) -> Response:
    """The caller's entry (``rank`` null and ``points`` 0 when they have no points in this scope) and neighbours."""
    engine = get_engine(request)

    def read() -> bytes:
        mine = _scope_errors(lambda: snapshots.standing(engine, user, campaign, window=window))
        view = mine.view
        return orjson.dumps(
            {
                "scope": view.scope.key,
                "campaign": view.scope.campaign_id,
                "address": user,
                "rank": mine.me.rank if mine.me else None,
                "points": mine.me.points if mine.me else 0,
                "total_users": view.total_users,
                "around": [e.as_dict() for e in mine.around],
                "snapshot": {"generation": view.generation, "high_water": view.high_water, "as_of_entry": view.as_of},
            }
        )

    return Response(await run_in_threadpool(read), media_type="application/json")


# ----------------------------------------------------------------------------- the schedule


def _credit_sources() -> Callable[[Engine, Settings | None], Any] | None:
    """The points helper's ``credit_sources(engine, settings)`` (rewards.points or rewards.sources), None if absent."""
    for name in ("rewards.points", "rewards.sources"):
        if importlib.util.find_spec(name) is None:
            continue
        func = getattr(importlib.import_module(name), "credit_sources", None)
        if callable(func):
            return func
    return None


def refreshable_scopes(engine: Engine, now: datetime | None = None) -> list[str | int]:
    """Global, and every campaign that has started and has not been over for more than a day."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        ids = (
            conn.execute(
                select(campaigns.c.campaign_id)
                .where(campaigns.c.starts_at <= now, campaigns.c.ends_at > now - CAMPAIGN_GRACE)
                .order_by(campaigns.c.campaign_id)
            )
            .scalars()
            .all()
        )
    return [snapshots.GLOBAL, *ids]


def refresh_pass(
    engine: Engine, now: datetime | None = None, settings: Settings | None = None
) -> list[snapshots.RefreshResult]:
    """One scheduled pass: credit the scanned point sources, then refresh every live scope's snapshot."""
    credit = _credit_sources()
    if credit is not None:
        try:
            credit(engine, settings)
        except Exception:  # noqa: BLE001 - a failing source must not stop the leaderboards from refreshing
            log.exception("crediting point sources failed")
    done = []
    for scope in refreshable_scopes(engine, now):
        try:
            result = snapshots.refresh_snapshot(engine, scope, full=False)  # the current generation + since
        except snapshots.UnknownCampaign:
            continue  # deleted since it was listed
        except Exception:  # noqa: BLE001 - one scope failing must not starve the others
            log.exception("refreshing leaderboard %s failed", scope)
            continue
        if result is not None:
            done.append(result)
    return done


class _AppRequest:
    """Just enough of a request for get_app_settings/get_engine outside one."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app


def start_background(app: FastAPI) -> Any:
    """Start the refresh schedule when the settings turn it on (first pass at once); the scheduler or None."""
    from apscheduler.schedulers.background import BackgroundScheduler

    settings = get_app_settings(_AppRequest(app))  # type: ignore[arg-type]
    if not settings.leaderboard_background:
        return None
    engine = get_engine(_AppRequest(app))  # type: ignore[arg-type]
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


def stop_background(scheduler: Any) -> None:
    """Stop the schedule started by :func:`start_background` (a pass in progress finishes on its own)."""
    if scheduler is not None:
        scheduler.shutdown(wait=False)
