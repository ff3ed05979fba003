"""Helpers shared by the test folders (importable as ``tests.support``)."""

from __future__ import annotations

from pathlib import Path

#: The repository's root folder.
REPO_ROOT = Path(__file__).resolve().parents[2]
