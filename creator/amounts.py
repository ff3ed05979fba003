"""PICTOR amounts: decimal text with up to 8 decimals to integer base units and back (never a float)."""

from __future__ import annotations

import re

from chain.constants import U64_MAX
from creator.errors import CreatorError

DECIMALS = 8
UNIT = 10**DECIMALS
_AMOUNT = re.compile(r"(\d{1,20})(?:\.(\d{1,8}))?")


def parse_amount(text: str, what: str = "amount") -> int:
    """``"1.5"`` PICTOR → ``150000000`` base units, exactly (at most 8 decimals, positive, a u64)."""
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise CreatorError(
            f"{what} {text!r} is not a PICTOR amount: write digits with at most {DECIMALS} decimals, e.g. 12.5"
        )
    whole, frac = match.group(1), match.group(2) or ""
    units = int(whole) * UNIT + int(frac.ljust(DECIMALS, "0"))
    if units <= 0:
        raise CreatorError(f"{what} must be more than 0")
    if units > U64_MAX:
        raise CreatorError(f"{what} {text} is more than the chain can hold")
    return units


def format_amount(units: int) -> str:
    """Base units as PICTOR with all 8 decimals: ``150000000`` → ``"1.50000000"``."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), UNIT)
    return f"{sign}{whole}.{frac:0{DECIMALS}d}"
