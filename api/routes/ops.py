"""``/health`` and ``/metrics``: whether the database answers and how far the indexer lags the chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import get_chain, get_engine
from indexer.status import indexer_lag, metrics_text

router = APIRouter(tags=["ops"])


@router.get("/health", summary="Liveness, database and indexer lag")
async def health(request: Request) -> JSONResponse:
    """200 with the indexer's lag when the database answers; 503 when it does not."""
    try:
        lag = await indexer_lag(get_engine(request), get_chain(request))
    except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy", said plainly
        return JSONResponse({"status": "unavailable", "error": f"database: {exc.__class__.__name__}"}, 503)
    body: dict[str, Any] = {"status": "ok", "indexer": lag.as_dict()}
    if lag.chain_version is None:
        body["status"] = "degraded"  # the node is unreachable; the mirror still serves
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """The indexer's indexed version, chain version and lag in Prometheus text format."""
    lag = await indexer_lag(get_engine(request), get_chain(request))
    return PlainTextResponse(metrics_text(lag), media_type="text/plain; version=0.0.4")
