"""Helpers shared by the test folders (importable as ``tests.support``)."""
