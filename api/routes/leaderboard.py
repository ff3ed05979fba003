"""``/leaderboard``: ranked totals (global or per campaign) from snapshots plus the ledger since.

``GET /leaderboard`` is public (top N, pages by ``offset`` or ``cursor``); ``GET /leaderboard/me`` needs a
session and answers the caller's rank, points and neighbours. Reads are exact at any moment (see
:mod:`rewards.snapshots`); an answer of ``GET /leaderboard`` may be reused for ``leaderboard_cache_ttl_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, get_engine, get_settings
from api.limits import PublicLimit
from protocol.bounds import DbId
from rewards import snapshots

router = APIRouter(prefix="/leaderboard", tags=["leaderboard"])

#: Largest ``offset`` accepted (far past any real leaderboard; bounds the work of one request).
MAX_OFFSET = 100_000_000
#: Answers of GET /leaderboard kept for reuse (per app).
RESPONSE_CACHE_SIZE = 256
CampaignQ = Annotated[DbId | None, Query(description="A campaign id; absent: the global board.")]


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


class ResponseCache:
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


def _response_cache(app: FastAPI) -> ResponseCache:
    cache = getattr(app.state, "leaderboard_cache", None)
    if cache is None:
        cache = app.state.leaderboard_cache = ResponseCache()
    return cache


@router.get("", summary="The leaderboard: top N, by pages (global or one campaign)", dependencies=[PublicLimit])
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
    ttl = get_settings(request).leaderboard_cache_ttl_s
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
