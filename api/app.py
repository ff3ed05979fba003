"""The API application: every router of the service, plus health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Engine

from api import audit, auth, jobs, node_auth, node_tasks, scheduler, uploads
from chain.client import PictorChain


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the scheduler's background task (lease sweep, chain outbox) unless the settings turn it off."""
    from api.auth import get_app_settings

    class _Req:
        def __init__(self, app: FastAPI) -> None:
            self.app = app

    task = None
    if get_app_settings(_Req(app)).scheduler_background:  # type: ignore[arg-type]
        task = asyncio.create_task(scheduler.background_loop(app))
    leaderboard_jobs = __import__("rewards.leaderboard", fromlist=["x"]).start_background(app)  # None unless on
    try:
        yield
    finally:
        __import__("rewards.leaderboard", fromlist=["x"]).stop_background(leaderboard_jobs)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_app(engine: Engine | None = None, chain: PictorChain | None = None) -> FastAPI:
    """Build the service; ``engine``/``chain`` default to pictor.db's engine and the settings' chain."""
    app = FastAPI(
        lifespan=_lifespan,
        title="Pictor API",
        description="Decentralized GPU rendering settled on Aptos. `/audit` is public and read-only.",
        version="0.1.0",
    )
    app.state.engine, app.state.chain = engine, chain
    app.include_router(audit.router)
    app.include_router(auth.router)
    app.include_router(node_auth.router)
    app.include_router(uploads.router)
    app.include_router(jobs.router)
    app.include_router(node_tasks.router)
    app.include_router(__import__("api.verification", fromlist=["router"]).router)  # verification, trail
    app.include_router(__import__("rewards.epochs_api", fromlist=["router"]).router)  # /rewards/epochs
    app.include_router(__import__("api.workers", fromlist=["router"]).router)  # workers, /nodes/enroll
    app.include_router(__import__("rewards.leaderboard", fromlist=["router"]).router)  # /leaderboard
    app.include_router(__import__("rewards.api", fromlist=["router"]).router)  # /rewards points, admin

    @app.get("/health", tags=["ops"], summary="Liveness, database and indexer lag")
    async def health(request: Request) -> JSONResponse:
        """200 with the indexer's lag when the database answers; 503 when it does not."""
        from indexer.status import indexer_lag

        try:
            lag = await indexer_lag(audit.get_engine(request), audit.get_chain(request))
        except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy", said plainly
            return JSONResponse({"status": "unavailable", "error": f"database: {exc.__class__.__name__}"}, 503)
        body: dict[str, Any] = {"status": "ok", "indexer": lag.as_dict()}
        if lag.chain_version is None:
            body["status"] = "degraded"  # the node is unreachable; the mirror still serves
        return JSONResponse(body)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        """The indexer's indexed version, chain version and lag in Prometheus text format."""
        from indexer.status import indexer_lag, metrics_text

        lag = await indexer_lag(audit.get_engine(request), audit.get_chain(request))
        return PlainTextResponse(metrics_text(lag), media_type="text/plain; version=0.0.4")

    return app
