"""The pure rules of an epoch close: competition ranks, band validation, tie sharing, integer money."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.epochs import (
    Band,
    EpochError,
    bands_total,
    competition_ranks,
    compute_payouts,
    parse_bands,
    positions_amount,
)


def test_competition_ranks_share_and_skip() -> None:
    ranked = competition_ranks([("0xb", 5), ("0xa", 9), ("0xd", 5), ("0xc", 5), ("0xe", 1)])
    assert ranked == [("0xa", 9, 1), ("0xb", 5, 2), ("0xc", 5, 2), ("0xd", 5, 2), ("0xe", 1, 5)]


def test_positions_amount_crosses_band_edges_and_gaps() -> None:
    bands = [Band(1, 1, 100), Band(2, 5, 10), Band(8, 9, 3)]
    assert positions_amount(bands, 1, 1) == 100
    assert positions_amount(bands, 1, 3) == 120
    assert positions_amount(bands, 5, 8) == 13  # 5 pays 10, 6 and 7 are in no band, 8 pays 3
    assert positions_amount(bands, 10, 10**9) == 0
    assert bands_total(bands) == 146


def test_ties_share_their_positions_and_the_remainder_is_unpaid() -> None:
    bands = [[Band(1, 1, 100), Band(2, 3, 10)]]
    # three users tied for first take positions 1..3: 120 // 3 = 40 each, nothing left
    payouts, unpaid = compute_payouts(competition_ranks([("0x1", 7), ("0x2", 7), ("0x3", 7)]), bands)
    assert [(p.address, p.rank, p.amount) for p in payouts] == [("0x1", 1, 40), ("0x2", 1, 40), ("0x3", 1, 40)]
    assert unpaid == 0
    # two tied for second share 10 + 10; a tie across the last band and beyond: (10 + 0) // 2 = 5
    payouts, unpaid = compute_payouts(competition_ranks([("0x1", 9), ("0x2", 4), ("0x3", 4), ("0x4", 4)]), bands)
    assert [(p.address, p.rank, p.amount) for p in payouts] == [
        ("0x1", 1, 100),
        ("0x2", 2, 6),
        ("0x3", 2, 6),
        ("0x4", 2, 6),
    ]
    assert unpaid == 20 - 18
    # a share that rounds to zero is no payout (no leaf)
    payouts, unpaid = compute_payouts(competition_ranks([("0x1", 1), ("0x2", 1)]), [[Band(1, 1, 1)]])
    assert payouts == [] and unpaid == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"from_rank": 1}, "must be a list"),
        ([{"from_rank": 1, "to_rank": 2}], "needs from_rank, to_rank and amount_each"),
        ([{"from_rank": 0, "to_rank": 2, "amount_each": 1}], "1 <= from_rank <= to_rank"),
        ([{"from_rank": 3, "to_rank": 2, "amount_each": 1}], "1 <= from_rank <= to_rank"),
        ([{"from_rank": 1, "to_rank": 2, "amount_each": -1}], "u64 amount"),
        ([{"from_rank": 1, "to_rank": 2, "amount_each": 1.5}], "integers"),
        ([{"from_rank": 1, "to_rank": 2, "amount_each": "5"}], "integers"),
        (
            [{"from_rank": 1, "to_rank": 5, "amount_each": 1}, {"from_rank": 5, "to_rank": 6, "amount_each": 1}],
            "overlap",
        ),
    ],
)
def test_malformed_bands_are_refused_by_name(raw: object, message: str) -> None:
    with pytest.raises(EpochError, match=message) as info:
        parse_bands(raw, "campaign 'x'")
    assert "campaign 'x'" in str(info.value)


band_sets = st.lists(
    st.lists(st.tuples(st.integers(1, 12), st.integers(0, 6), st.integers(0, 10**12)), max_size=4),
    min_size=1,
    max_size=3,
).map(
    lambda sets: [
        parse_bands([{"from_rank": f, "to_rank": f + w, "amount_each": a} for f, w, a in _disjoint(bands)])
        for bands in sets
    ]
)


def _disjoint(bands: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Drop bands overlapping an earlier one (keeps the strategy simple)."""
    kept: list[tuple[int, int, int]] = []
    for f, w, a in sorted(bands):
        if all(f > kf + kw or f + w < kf for kf, kw, _ in kept):
            kept.append((f, w, a))
    return kept


@settings(max_examples=200, deadline=None)
@given(points=st.lists(st.integers(1, 6), max_size=25), sets=band_sets)
def test_payouts_never_exceed_the_bands_and_ties_are_equal(points: list[int], sets: list[list[Band]]) -> None:
    ranked = competition_ranks([(f"0x{i:x}", p) for i, p in enumerate(points)])
    payouts, unpaid = compute_payouts(ranked, sets)
    paid = sum(p.amount for p in payouts)
    occupied = sum(positions_amount(b, 1, len(points)) for b in sets) if points else 0
    assert paid + unpaid == occupied  # every occupied position's money is paid or recorded as unpaid
    assert paid + unpaid <= sum(bands_total(b) for b in sets)
    by_rank: dict[int, set[int]] = {}
    for p in payouts:
        by_rank.setdefault(p.rank, set()).add(p.amount)
        assert isinstance(p.amount, int) and p.amount > 0
    sizes: dict[int, int] = {}
    for *_, r in ranked:
        sizes[r] = sizes.get(r, 0) + 1
    assert unpaid <= sum(len(sets) * (k - 1) for k in sizes.values())  # each remainder is below its group's size
    for amounts in by_rank.values():
        assert len(amounts) == 1  # tied users are paid the same
    ranks = [p.rank for p in payouts]
    assert ranks == sorted(ranks)  # leaves in rank order
