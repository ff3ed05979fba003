"""Small pieces: backoff, lag and its metric text, and the `pictor db upgrade` command."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, inspect, pool
from typer.testing import CliRunner

from cli.main import app
from indexer import schema
from indexer.runner import Backoff
from indexer.status import Lag, metrics_text
from pictor.db import sqlalchemy_url


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.reset() is True
    assert backoff.reset() is False
    assert backoff.next() == 0.5


def test_metrics_text_leaves_out_unknown_values() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    text = metrics_text(Lag("pictor", 90, 100, 10, now))
    assert 'pictor_indexer_lag_versions{processor="pictor"} 10' in text
    assert 'pictor_indexer_chain_version{processor="pictor"} 100' in text
    down = metrics_text(Lag("pictor", 90, None, None, now))
    assert "lag_versions" not in down and 'pictor_indexer_indexed_version{processor="pictor"} 90' in down
    assert Lag("pictor", None, 5, 6, None).as_dict()["updated_at"] is None


def test_db_upgrade_command_migrates_database_url(empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pictor.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "is at head" in result.output
    engine = create_engine(sqlalchemy_url(empty_db_url), poolclass=pool.NullPool)
    try:
        assert set(schema.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_every_pictor_event_type_is_handled() -> None:
    from chain import events as ev
    from indexer.processor import _KEY_COLLECTORS, Fold, State, TokenMovement

    fold = Fold(State())
    assert set(_KEY_COLLECTORS) == {*ev.EVENT_CLASSES, TokenMovement}
    assert set(fold._handlers) == {*ev.EVENT_CLASSES, TokenMovement}
