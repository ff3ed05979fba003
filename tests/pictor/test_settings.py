"""The one settings object: PICTOR_* variables (and DATABASE_URL), and where blobs go."""

from __future__ import annotations

from pathlib import Path

import pytest

from pictor.settings import Settings


def test_settings_come_from_prefixed_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PICTOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PICTOR_LEASE_S", "30")
    monkeypatch.setenv("DATABASE_URL", "postgresql://h/db")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.lease_s == 30 and settings.database_url == "postgresql://h/db"
    assert settings.blobs_path == tmp_path / "blobs"
    assert Settings(blob_dir=tmp_path / "elsewhere").blobs_path == tmp_path / "elsewhere"
