"""Fixtures of the API tests: an app on a fresh database, and one localnet per module that needs it.

``chain_env`` (module scope) starts a localnet, registers and stakes nodes on it with the real chain client,
indexes the chain in process into a template database, and hands each test a copy of that database: the
node-authorization checks read the mirror exactly as the indexer wrote it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from chain.keys import ROLE_WORKER, generate_account
from pictor.db import create_database_like, drop_database, get_engine
from tests.support.api import ChainEnv, NoChain, NodeKey, chain_client, make_settings, setup_chain


@pytest.fixture
def offline_app(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    """An app on a fresh database with no chain (uploads and sessions only)."""
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, upload_max_bytes=256 * 1024, zip_max_entries=50,
                                       zip_max_total_bytes=4 * 1024 * 1024, zip_max_ratio=50)
    with TestClient(app) as client:
        yield client, engine
    engine.dispose()


@pytest.fixture(scope="module")
def chain_env(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainEnv]:
    """One localnet for the module, with nodes registered and staked and the chain indexed into a template."""
    from chain.localnet import start_localnet_process
    from indexer.runner import Indexer, IndexerConfig

    data_dir = tmp_path_factory.mktemp("localnet")
    localnet = start_localnet_process(data_dir, test_clock=True)
    template = create_database_like(pg_server)
    try:

        async def go() -> dict[str, object]:
            chain = chain_client(localnet)
            try:
                made = await setup_chain(chain, data_dir)
                await Indexer(chain, IndexerConfig(database_url=template, stop_at_version=made["end"])).run()
                return made
            finally:
                await chain.close()

        made = asyncio.run(go())
        get_engine(template).dispose()  # a template database must have no open connection to be copied
        nodes: dict[str, NodeKey] = made["nodes"]  # type: ignore[assignment]
        env = ChainEnv(
            localnet=localnet, data_dir=data_dir, template_url=template, admin=made["admin"],  # type: ignore[arg-type]
            min_worker_stake=made["minimum"], staked_worker=nodes["worker"],  # type: ignore[arg-type]
            staked_checker=nodes["checker"], understaked_worker=nodes["poor"],
            unregistered=NodeKey(generate_account(), None, ROLE_WORKER), onchain_user=made["user"],  # type: ignore[arg-type]
        )
        yield env
    finally:
        localnet.stop()
        drop_database(template)


@pytest.fixture
def chain_app(chain_env: ChainEnv, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    """An app on a copy of the indexed template database, talking to the module's localnet."""
    url = create_database_like(chain_env.template_url)
    engine = get_engine(url)
    app = create_app(engine, chain_env.chain())
    app.state.settings = make_settings(tmp_path)
    try:
        with TestClient(app) as client:
            yield client, engine
    finally:
        engine.dispose()
        drop_database(url)
