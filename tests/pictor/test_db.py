"""Database URLs: any PostgreSQL scheme becomes psycopg 3's for SQLAlchemy and plain conninfo for psycopg."""

from __future__ import annotations

import pytest

from pictor.db import libpq_url, sqlalchemy_url


def test_every_postgresql_scheme_gets_the_psycopg_driver() -> None:
    for url in ("postgres://u:p@h:5/db", "postgresql://u:p@h:5/db", "postgresql+psycopg2://u:p@h:5/db"):
        assert sqlalchemy_url(url) == "postgresql+psycopg://u:p@h:5/db"
    socket = "postgresql+psycopg://postgres@/pictor?host=%2Ftmp%2Fpg"
    assert sqlalchemy_url(socket) == socket
    assert libpq_url("postgres://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        sqlalchemy_url("sqlite:///x.db")
