"""Alembic environment: runs the migrations against pictor.db's database (online mode only)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import tables
from indexer.schema import metadata as mirror_metadata
from pictor.db import database_url, sqlalchemy_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = [mirror_metadata, tables.metadata]


def run_migrations_online() -> None:
    """Connect to the configured URL (or pictor.db's default) and run the migrations in one transaction."""
    url = config.get_main_option("sqlalchemy.url") or database_url()
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            # Two processes upgrading at once take turns; the second finds nothing left to do.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(1346980691, 1)")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run_migrations_online()
