"""Helpers shared by the indexer tests: dump the whole mirror, write pages with the real writer."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from indexer import schema
from indexer.processor import decode_batch
from indexer.writer import Writer, WriteResult
from pictor.db import libpq_url
from tests.support.synth import PACKAGE


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every mirror table's rows in primary-key order (``processor_status.updated_at`` left out)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for name, table in schema.metadata.tables.items():
            columns = [c.name for c in table.columns if c.name != "updated_at"]
            key = [c.name for c in table.primary_key.columns]
            query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier(name),
                sql.SQL(", ").join(map(sql.Identifier, key)),
            )
            out[name] = [tuple(row) for row in conn.execute(query).fetchall()]
    return out


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection, as the writer wants."""
    return psycopg.connect(libpq_url(url), autocommit=True)


def write_pages(url: str, pages: list[list[dict[str, Any]]]) -> list[WriteResult]:
    """Decode and write each page in its own transaction."""
    with connect(url) as conn:
        writer = Writer(conn)
        return [writer.write([decode_batch(page, PACKAGE)]) for page in pages]


def checkpoint(url: str) -> int | None:
    """The indexer's committed version."""
    with connect(url) as conn:
        return Writer(conn).checkpoint()
