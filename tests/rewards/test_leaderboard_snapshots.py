"""Leaderboard snapshots and reads (rewards.snapshots) on a real PostgreSQL: ranking, pages, campaign windows,
the ledger since the snapshot, refresh, and the wait for ledger writers still in flight."""

from __future__ import annotations

import itertools
import random
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, insert, pool, select, text

from pictor.db import sqlalchemy_url
from rewards import snapshots
from tables.leaderboard import leaderboard_snapshots
from tables.points import campaigns, points_ledger

_keys = itertools.count()


def addr(byte: int | None = None) -> str:
    """An address: 32 copies of ``byte`` (to choose its order), else random."""
    return "0x" + (f"{byte:02x}" * 32 if byte is not None else secrets.token_hex(32))


def add(engine: Engine, address: str, points: int, at: datetime | None = None) -> None:
    """One ledger row (created now, or at ``at``)."""
    values: dict[str, Any] = {
        "address": address,
        "points": points,
        "source": "test",
        "source_key": f"k{next(_keys)}",
        "reason": "test row",
    }
    if at is not None:
        values["created_at"] = at
    with engine.begin() as conn:
        conn.execute(insert(points_ledger).values(**values))


def oracle(engine: Engine, starts: datetime | None = None, ends: datetime | None = None) -> list[tuple[int, str, int]]:
    """(rank, address, points) by the rule, summed in Python from the ledger: competition ranks, ties by address."""
    query = select(points_ledger.c.address, points_ledger.c.points, points_ledger.c.created_at)
    totals: dict[str, int] = {}
    with engine.connect() as conn:
        for address, points, created in conn.execute(query):
            if starts is not None and not (starts <= created < ends):
                continue
            totals[address] = totals.get(address, 0) + points
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    out: list[tuple[int, str, int]] = []
    for i, (address, points) in enumerate(ordered):
        rank = out[-1][0] if out and out[-1][2] == points else i + 1
        out.append((rank, address, points))
    return out


def board(engine: Engine, scope: str | int | None = None, limit: int = 1000) -> list[tuple[int, str, int]]:
    """The whole board through rewards.snapshots, page by page (offset)."""
    got: list[tuple[int, str, int]] = []
    while True:
        page = snapshots.top(engine, scope, limit=limit, offset=len(got))
        if not page.entries:
            return got
        got += [(e.rank, e.address, e.points) for e in page.entries]


@pytest.fixture
def engine(db_url: str) -> Any:
    eng = create_engine(sqlalchemy_url(db_url), poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def make_campaign(engine: Engine, starts: datetime, ends: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(campaigns)
            .values(
                name=f"c{secrets.token_hex(4)}",
                starts_at=starts,
                ends_at=ends,
                pool=1000,
                currency="points",
                bands=[{"from_rank": 1, "to_rank": 1, "amount_each": 1000}],
                created_by=addr(1),
                created_at=datetime.now(UTC),
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()


def test_ties_share_a_rank_and_are_ordered_by_address(engine: Engine) -> None:
    a, b, c, d, e = addr(0xA0), addr(0x30), addr(0x10), addr(0x05), addr(0x20)
    for who, pts in [(a, 50), (b, 30), (c, 20), (c, 10), (d, 10), (e, 30)]:
        add(engine, who, pts)
    expected = [(1, a, 50), (2, c, 30), (2, e, 30), (2, b, 30), (5, d, 10)]
    assert board(engine) == expected  # before any snapshot: counted live
    assert snapshots.refresh_snapshot(engine) is not None
    assert board(engine) == expected
    assert board(engine, limit=2) == expected


def test_pages_by_offset_and_by_cursor_cover_the_board_once(engine: Engine) -> None:
    rng = random.Random(3)
    people = [addr() for _ in range(57)]
    for who in people:
        for _ in range(rng.randint(1, 3)):
            add(engine, who, rng.choice([1, 2, 5, 10]))
    snapshots.refresh_snapshot(engine)
    expected = oracle(engine)
    assert board(engine, limit=10) == expected
    got, cursor = [], None
    while True:
        page = snapshots.top(engine, limit=10, cursor=cursor)
        got += [(e.rank, e.address, e.points) for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert got == expected
    assert snapshots.top(engine, limit=10, offset=57).entries == []


def test_rows_since_the_snapshot_count_at_once_and_voids_lower_a_total(engine: Engine) -> None:
    top, mid, low = addr(0x01), addr(0x02), addr(0x03)
    add(engine, top, 100)
    add(engine, mid, 50)
    add(engine, low, 10)
    made = snapshots.refresh_snapshot(engine)
    assert made is not None
    newcomer = addr(0x04)
    add(engine, low, 95)  # 105: overtakes top
    add(engine, top, -60)  # a void: 40, below mid
    add(engine, newcomer, 50)  # ties with mid
    expected = [(1, low, 105), (2, mid, 50), (2, newcomer, 50), (4, top, 40)]
    assert oracle(engine) == expected
    assert board(engine) == expected
    view = snapshots.current_view(engine)
    assert view.generation == made.generation and view.since_rows == 3  # read through the merge, not refreshed
    me = snapshots.standing(engine, top, window=1)
    assert me.me is not None and (me.me.rank, me.me.points) == (4, 40)
    assert [(e.rank, e.address) for e in me.around] == [(2, newcomer), (4, top)]
    snapshots.refresh_snapshot(engine)
    assert board(engine) == expected


def test_merge_matches_the_rule_through_random_rounds(engine: Engine) -> None:
    rng = random.Random(11)
    people = [addr() for _ in range(120)]
    for round_no in range(6):
        for _ in range(rng.randint(20, 150)):
            add(engine, rng.choice(people), rng.choice([1, 2, 3, 5, 8, -2, -5]))
        if round_no % 2 == 0:
            snapshots.refresh_snapshot(engine)
        expected = oracle(engine)
        for limit in (1, 7, 1000):
            assert board(engine, limit=limit) == expected
        places = {e[1]: i for i, e in enumerate(expected)}
        for who in rng.sample(people, 25):
            mine = snapshots.standing(engine, who, window=3)
            if who not in places:
                assert mine.me is None and mine.around == []
                continue
            i = places[who]
            assert mine.me is not None and (mine.me.rank, mine.me.address, mine.me.points) == expected[i]
            assert [(e.rank, e.address, e.points) for e in mine.around] == expected[max(0, i - 3) : i + 4]


def test_campaign_counts_rows_from_its_start_up_to_not_including_its_end(engine: Engine) -> None:
    starts = datetime(2026, 5, 1, tzinfo=UTC)
    ends = datetime(2026, 5, 8, tzinfo=UTC)
    tick = timedelta(microseconds=1)
    campaign = make_campaign(engine, starts, ends)
    at_start, before, last, at_end = addr(0x11), addr(0x22), addr(0x33), addr(0x44)
    add(engine, at_start, 7, starts)  # counts
    add(engine, before, 9, starts - tick)  # does not
    add(engine, last, 5, ends - tick)  # counts
    add(engine, at_end, 8, ends)  # does not
    add(engine, last, 4, starts + timedelta(days=2))  # counts
    expected = [(1, last, 9), (2, at_start, 7)]
    assert oracle(engine, starts, ends) == expected
    assert board(engine, campaign) == expected
    made = snapshots.refresh_snapshot(engine, campaign)
    assert made is not None and made.scope == f"campaign:{campaign}" and made.users == 2
    assert board(engine, campaign) == expected
    add(engine, before, 3, starts)  # since the snapshot, inside the window
    add(engine, at_start, 100, ends)  # since the snapshot, outside
    assert board(engine, campaign) == [(1, last, 9), (2, at_start, 7), (3, before, 3)]
    assert board(engine)[0] == (1, at_start, 107)  # the global board counts every row
    with pytest.raises(snapshots.UnknownCampaign):
        snapshots.top(engine, campaign + 1000)


def test_refresh_is_idempotent_and_keeps_one_generation(engine: Engine) -> None:
    for i in range(30):
        add(engine, addr(i), i % 7)
    first = snapshots.refresh_snapshot(engine)
    before = board(engine)
    second = snapshots.refresh_snapshot(engine)
    assert first is not None and second is not None
    assert second.generation > first.generation and second.high_water == first.high_water
    assert board(engine) == before == oracle(engine)
    with engine.connect() as conn:
        parts = conn.execute(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'api.leaderboard_rows'::regclass")
        ).scalar_one()
        stored = conn.execute(select(func.count()).select_from(leaderboard_snapshots)).scalar_one()
    assert (parts, stored) == (1, 1)


def test_a_refresh_already_running_is_not_doubled(engine: Engine) -> None:
    add(engine, addr(1), 5)
    with engine.connect() as holder:  # what a refresh in another process holds
        holder.execute(
            text("SELECT pg_advisory_lock(:a, :b)"),
            {"a": snapshots.LOCK_CLASS, "b": snapshots._lock_key(snapshots.GLOBAL)},
        )
        assert snapshots.refresh_snapshot(engine) is None
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
    assert snapshots.refresh_snapshot(engine) is not None


def test_refresh_waits_for_ledger_writers_that_hold_lower_ids(engine: Engine) -> None:
    late = addr(0x77)
    with engine.connect() as writer:  # draws an id, commits only later
        writer.execute(
            insert(points_ledger).values(
                address=late, points=42, source="test", source_key="late", reason="slow writer"
            )
        )
        add(engine, addr(0x78), 1)  # a higher id, committed first
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, pytest.raises(TimeoutError):
            snapshots._settled_high_water(conn, timeout_s=0.3)
        done: list[snapshots.RefreshResult | None] = []
        worker = threading.Thread(target=lambda: done.append(snapshots.refresh_snapshot(engine)))
        worker.start()
        writer.commit()
    worker.join(timeout=120)
    assert done and done[0] is not None and done[0].high_water >= 2
    assert snapshots.current_view(engine).since_rows == 0
    assert board(engine)[0] == (1, late, 42)


def _generation_rows(engine: Engine, generation: int) -> list[tuple[int, int, str, int]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT position, rank, address, points FROM api.leaderboard_rows"
                    " WHERE generation = :g ORDER BY position"
                ),
                {"g": generation},
            )
        ]


def test_incremental_refresh_is_the_same_as_a_full_one(engine: Engine) -> None:
    rng = random.Random(5)
    starts = datetime(2026, 3, 1, tzinfo=UTC)
    ends = starts + timedelta(days=3)
    campaign = make_campaign(engine, starts, ends)
    people = [addr() for _ in range(80)]

    def burst(n: int) -> None:
        for _ in range(n):
            when = starts + timedelta(hours=rng.randint(-24, 96))  # some before, some after the window
            add(engine, rng.choice(people), rng.choice([1, 3, 4, 9, -3]), when)

    burst(200)
    for scope in (None, campaign):
        assert snapshots.refresh_snapshot(engine, scope) is not None
    burst(150)
    people += [addr() for _ in range(10)]  # newcomers after the snapshot
    burst(60)
    for scope, window in ((None, (None, None)), (campaign, (starts, ends))):
        quick = snapshots.refresh_snapshot(engine, scope, full=False)
        assert quick is not None and quick.phases["incremental"] == 1.0
        quick_rows = _generation_rows(engine, quick.generation)
        assert [(r, a, p) for _, r, a, p in quick_rows] == oracle(engine, *window)
        full = snapshots.refresh_snapshot(engine, scope)
        assert full is not None and full.phases["incremental"] == 0.0
        assert _generation_rows(engine, full.generation) == quick_rows


def test_an_edited_campaign_window_is_counted_afresh(engine: Engine) -> None:
    starts = datetime(2026, 4, 1, tzinfo=UTC)
    campaign = make_campaign(engine, starts, starts + timedelta(days=1))
    early, late = addr(0x01), addr(0x02)
    add(engine, early, 5, starts + timedelta(hours=1))
    add(engine, late, 8, starts + timedelta(days=1, hours=1))
    snapshots.refresh_snapshot(engine, campaign)
    assert board(engine, campaign) == [(1, early, 5)]
    with engine.begin() as conn:
        conn.execute(
            campaigns.update().where(campaigns.c.campaign_id == campaign).values(ends_at=starts + timedelta(days=2))
        )
    assert board(engine, campaign) == [(1, late, 8), (2, early, 5)]  # the stale snapshot is not used
    again = snapshots.refresh_snapshot(engine, campaign, full=False)
    assert again is not None and again.phases["incremental"] == 0.0
    assert board(engine, campaign) == [(1, late, 8), (2, early, 5)]
