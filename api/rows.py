"""Database rows as JSON: NUMERIC as decimal strings, bytes as 0x-hex, times as ISO 8601, arrays element-wise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """One column value as JSON renders it."""
    if isinstance(value, Decimal):
        return str(int(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def row_json(row: Any) -> dict[str, Any]:
    """A row (any SQLAlchemy ``Row``) as a JSON object of its columns."""
    return {k: json_value(v) for k, v in row._mapping.items()}
