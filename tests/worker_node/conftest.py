"""Fixtures of the worker agent tests (defined in tests.support.worker, shared with other folders)."""

from tests.support.worker import samples_for  # noqa: F401 - pytest finds the fixture by its name here
