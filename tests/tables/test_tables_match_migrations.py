"""The API tables' migrations create exactly what ``tables`` declares, and go down cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

import tables
from indexer import schema as mirror
from pictor.db import alembic_config, sqlalchemy_url, upgrade


def _diff(url: str) -> list:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_schemas": True,
                    # only the schemas we own: public (the mirror) and api
                    "include_name": lambda name, type_, parent: type_ != "schema" or name in (None, "api"),
                },
            )
            return compare_metadata(ctx, [mirror.metadata, tables.metadata])
    finally:
        engine.dispose()


def test_migrations_match_the_api_and_mirror_metadata(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    assert _diff(empty_db_url) == []


def test_api_schema_goes_down_and_up(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    command.downgrade(alembic_config(empty_db_url), "0001")
    engine = create_engine(sqlalchemy_url(empty_db_url), poolclass=pool.NullPool)
    try:
        assert "api" not in inspect(engine).get_schema_names()
    finally:
        engine.dispose()
    upgrade(empty_db_url)
    assert _diff(empty_db_url) == []
