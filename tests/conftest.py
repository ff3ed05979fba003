"""Fixtures shared by every test folder: one embedded PostgreSQL per test session, a fresh migrated database per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from pictor.db import create_database_like, drop_database, libpq_url, start_embedded, stop_embedded, upgrade

TEMPLATE = "pictor_template"

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a migrated template database on an embedded server started for this test session.

    Its data directory is not under pytest's temporary root: the server runs as an unprivileged user
    that must traverse the parents, and pytest resets its root to mode 0700 whenever a session starts.
    """
    root = Path(tempfile.mkdtemp(prefix="pictor-test-pg-"))
    pgdata = root / "postgres"
    try:
        url = start_embedded(pgdata, database=TEMPLATE)
        upgrade(url)
        yield url
    finally:
        stop_embedded(pgdata)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(pg_server: str) -> Iterator[str]:
    """A fresh database with every migration applied (a copy of the session's template)."""
    url = create_database_like(pg_server)
    yield url
    drop_database(url)


@pytest.fixture
def db_factory(pg_server: str) -> Iterator:
    """Make more fresh migrated databases inside one test (dropped at its end)."""
    made: list[str] = []

    def make() -> str:
        made.append(create_database_like(pg_server))
        return made[-1]

    yield make
    for url in made:
        drop_database(url)


@pytest.fixture
def empty_db_url(pg_server: str) -> Iterator[str]:
    """A fresh database with no table at all."""
    parsed = make_url(pg_server)
    name = f"e_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = parsed.set(database=name).render_as_string(hide_password=False)
    yield url
    drop_database(url)
