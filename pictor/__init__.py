"""Pictor: command-line entry point and the few things every component shares."""
