"""pictor.db: the embedded server starts on demand, is shared and reused, and DATABASE_URL wins over it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from pictor.db import database_url, libpq_url, sqlalchemy_url, start_embedded, stop_embedded
from pictor.settings import Settings

_START = """
import sys, psycopg
from pathlib import Path
from pictor.db import start_embedded, libpq_url
url = start_embedded(Path(sys.argv[1]))
with psycopg.connect(libpq_url(url)) as conn:
    conn.execute("SELECT 1")
print(url)
"""


def test_two_processes_starting_the_same_embedded_server_share_it() -> None:
    root = Path(tempfile.mkdtemp(prefix="pictor-test-pg-"))  # not under pytest's root (see conftest.pg_server)
    pgdata = root / "data" / "postgres"
    procs = [
        subprocess.Popen([sys.executable, "-c", _START, str(pgdata)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs.append(out.strip())
        assert outputs[0] == outputs[1]
        # the server outlived the processes that started it, and a third caller reuses it
        assert start_embedded(pgdata) == outputs[0]
        with psycopg.connect(libpq_url(outputs[0])) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("pictor",)
    finally:
        stop_embedded(pgdata)
    assert not (pgdata / "postmaster.pid").exists()
    shutil.rmtree(root, ignore_errors=True)


def test_database_url_setting_wins_over_the_embedded_server(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, DATABASE_URL="postgres://u:p@db.example:5432/x")
    assert database_url(settings) == "postgresql+psycopg://u:p@db.example:5432/x"
    assert not (tmp_path / "postgres").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgresql+psycopg2://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgres://a@h/d", "postgresql+psycopg://a@h/d"),
    ],
)
def test_urls_use_psycopg3(given: str, expected: str) -> None:
    assert sqlalchemy_url(given) == expected
    assert libpq_url(given) == expected.replace("+psycopg", "")


def test_non_postgres_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        sqlalchemy_url("sqlite:///x.db")


def test_without_database_url_the_embedded_server_starts_under_the_data_dir() -> None:
    root = Path(tempfile.mkdtemp(prefix="pictor-test-pg-"))
    settings = Settings(data_dir=root / "data", DATABASE_URL=None)
    try:
        url = database_url(settings)
        assert url.startswith("postgresql+psycopg://postgres@/pictor?host=")
        assert (root / "data" / "postgres" / "PG_VERSION").exists()
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("pictor",)
        assert database_url(settings) == url  # reused, not started twice
    finally:
        stop_embedded(root / "data" / "postgres")
        shutil.rmtree(root, ignore_errors=True)
