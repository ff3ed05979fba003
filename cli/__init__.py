"""The `pictor` command line: the top of the import graph (see README.md)."""
