"""What one API app holds for every request and background loop: its settings, engine, chain client, blob store.

Tests and ``pictor up`` give an app its own (``create_app(engine, chain)``, ``app.state.settings``,
``app.state.blob_store``); otherwise each comes from the process settings on first use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from chain.client import PictorChain
from pictor.blobs import BlobStore, LocalBlobStore
from pictor.db import get_engine
from pictor.settings import Settings, get_settings


def settings_of(app: Any) -> Settings:
    """The app's settings (``app.state.settings``), else the process settings."""
    return getattr(app.state, "settings", None) or get_settings()


def engine_of(app: Any) -> Engine:
    """The app's engine (``app.state.engine``), else the settings' database."""
    engine = getattr(app.state, "engine", None)
    if engine is None:
        engine = app.state.engine = get_engine()
    return engine


def chain_of(app: Any) -> PictorChain:
    """The app's chain client (``app.state.chain``), else one built from the settings."""
    chain = getattr(app.state, "chain", None)
    if chain is None:
        chain = app.state.chain = PictorChain.from_settings(settings_of(app))
    return chain


def blob_store_of(app: Any) -> BlobStore:
    """The app's blob store (``app.state.blob_store``), else a local store at the settings' blob dir."""
    store = getattr(app.state, "blob_store", None)
    if store is None:
        store = app.state.blob_store = LocalBlobStore(settings_of(app).blobs_path)
    return store
