"""PICTOR amounts: decimal text to exact integer base units and back."""

from __future__ import annotations

import pytest

from creator.amounts import format_amount, parse_amount
from creator.errors import CreatorError


def test_amounts_are_parsed_and_printed_exactly() -> None:
    assert parse_amount("1.5") == 150_000_000
    assert parse_amount("0.00000001") == 1
    assert parse_amount("12345678901.12345678") == 1_234_567_890_112_345_678
    assert format_amount(150_000_000) == "1.50000000"
    assert format_amount(1) == "0.00000001"
    assert format_amount(1_234_567_890_112_345_678) == "12345678901.12345678"
    for bad in ("", "1.", ".5", "1.123456789", "1e3", "-1", "0", "0.00000000", "abc", "1,5", "184467440738"):
        with pytest.raises(CreatorError) as raised:
            parse_amount(bad)
        assert raised.value.code == 2 and raised.value.args[0]


def test_negative_base_units_are_printed_with_a_sign() -> None:
    assert format_amount(-150_000_001) == "-1.50000001"
    assert format_amount(0) == "0.00000000"
