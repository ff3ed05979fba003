"""The API application: the routers of :mod:`api.routes`, the background work of :mod:`api.background`, and the
request guards every route shares (body limits and strict JSON of :mod:`api.bodies`)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine

from api.background import lifespan
from api.bodies import BodyLimits, validation_error_handler
from api.routes import ROUTERS
from chain.client import PictorChain


def create_app(engine: Engine | None = None, chain: PictorChain | None = None) -> FastAPI:
    """Build the service; ``engine``/``chain`` default to the settings' database and chain (:mod:`api.state`)."""
    app = FastAPI(
        lifespan=lifespan,
        title="Pictor API",
        description="Decentralized GPU rendering settled on Aptos. `/audit` is public and read-only.",
        version="0.1.0",
    )
    app.state.engine, app.state.chain = engine, chain
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimits)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    return app
