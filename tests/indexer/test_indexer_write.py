"""Decode + write of synthetic event pages, and the exactly-once guarantees of the writer."""

from __future__ import annotations

import random

import psycopg
import pytest

from indexer import schema
from indexer.processor import decode_batch
from indexer.writer import EVENT_TABLES, STATE_KEYS, GapError, Writer
from tests.support.mirror import checkpoint, connect, snapshot, write_pages
from tests.support.synth import (
    ACCT2,
    ACCT3,
    PA,
    PACKAGE,
    PK2,
    PK3,
    REWARDS,
    S1,
    SIGNER,
    STAKING,
    A,
    C,
    T,
    W,
    addr,
    scenario,
)


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with connect(url) as conn:
        return [tuple(r) for r in conn.execute(query, params).fetchall()]


def test_scenario_mirrors_every_table(db_url: str) -> None:
    txns = scenario()
    results = write_pages(db_url, [txns])
    assert results[0].checkpoint == len(txns) - 1
    assert checkpoint(db_url) == len(txns) - 1

    # every event table got rows, so every event type was decoded and written
    counts = {t: _rows(db_url, f"SELECT count(*) FROM {t}")[0][0] for t in EVENT_TABLES}
    assert all(counts.values()), {t: n for t, n in counts.items() if not n}
    assert counts["vault_deposits"] == 1  # the failed transaction's event is not indexed

    assert _rows(db_url, "SELECT address, credit, balance FROM vault_accounts ORDER BY address") == sorted(
        [(A, 700, 4500), (W, 0, 180), (C, 0, 30), (T, 0, 300)]
    )
    # the ledger sums to the accounts
    assert (
        _rows(
            db_url,
            "SELECT l.address FROM (SELECT address, sum(credit_delta) c, sum(balance_delta) b FROM vault_ledger"
            " GROUP BY address) l JOIN vault_accounts a USING (address) WHERE a.credit <> l.c OR a.balance <> l.b",
        )
        == []
    )
    assert _rows(db_url, "SELECT budget, credit_in, spent, reserved, closed FROM jobs") == [(2500, 1000, 300, 0, True)]
    assert _rows(db_url, "SELECT sum(delta) FROM escrow_ledger") == [(0,)]
    assert _rows(db_url, "SELECT credit_amount, balance_amount FROM escrow_ledger WHERE kind = 'charge'") == [(300, 0)]
    assert _rows(
        db_url, "SELECT task_id, state, attempt, pass_count, fail_count, charge FROM tasks ORDER BY task_id"
    ) == [(7, 4, 2, 1, 0, 300), (8, 0, 1, 0, 1, 60), (9, 0, 1, 1, 0, 50), (10, 0, 1, 0, 0, 0), (11, 0, 1, 0, 0, 10)]
    assert _rows(db_url, "SELECT operator, role, active, unbonding FROM stakes ORDER BY role") == [
        (W, 1, 0, 0),
        (C, 2, 270, 0),
    ]
    assert _rows(db_url, "SELECT request_id, amount, requested_amount, status FROM unbonding_requests ORDER BY 1") == [
        (1, 100, 100, "withdrawn"),
        (2, 20, 50, "withdrawn"),
        (3, 0, 20, "slashed"),
    ]
    assert _rows(db_url, "SELECT node_id, public_key, account, active, strikes FROM nodes ORDER BY 1") == [
        (1, PK3, ACCT3, True, 1),
        (2, PK2, ACCT2, False, 0),
    ]
    assert _rows(db_url, "SELECT epoch, total, claimed FROM reward_epochs") == [(1, 600, 300)]
    assert _rows(
        db_url,
        "SELECT treasury, credit_signer, worker_share_bps, checker_share_bps, quorum, paused FROM protocol_config",
    ) == [(T, SIGNER, 5000, 2000, 2, False)]
    stores = dict(_rows(db_url, "SELECT store, balance FROM token_stores"))
    assert stores[PA] == 5700 and stores[S1] == 0 and stores[STAKING] == 270 and stores[REWARDS] == 700
    assert addr(999) not in stores
    assert _rows(db_url, "SELECT owner FROM token_stores WHERE store = %s", (PA,)) == [(A,)]
    # conservation: every minted token sits in some store
    assert _rows(db_url, "SELECT sum(balance) FROM token_stores") == [(13_000 + 1000,)]  # + the credit claim's mint
    # every row names its transaction
    hashes = {t["version"]: t["hash"] for t in txns}
    for version, txn_hash in _rows(db_url, "SELECT txn_version, txn_hash FROM vault_ledger"):
        assert hashes[str(version)] == txn_hash


def test_rewriting_a_batch_changes_nothing(db_url: str) -> None:
    txns = scenario()
    write_pages(db_url, [txns])
    before = snapshot(db_url)
    again = write_pages(db_url, [txns, txns[:10], txns[5:20]])
    assert [r.events for r in again] == [0, 0, 0]
    assert snapshot(db_url) == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_split_into_pages_gives_the_same_mirror(db_factory, seed: int) -> None:
    txns = scenario()
    whole, split = db_factory(), db_factory()
    write_pages(whole, [txns])
    rng = random.Random(seed)
    pages, start = [], 0
    while start < len(txns):
        size = rng.randint(1, 6)
        # pages overlap now and then: what is at or below the checkpoint is skipped
        back = rng.randint(0, min(start, 3)) if rng.random() < 0.3 else 0
        pages.append(txns[start - back : start + size])
        start += size
    write_pages(split, pages)
    assert snapshot(split) == snapshot(whole)


def test_checkpoint_never_moves_backwards(db_url: str) -> None:
    txns = scenario()
    write_pages(db_url, [txns[:20]])
    assert checkpoint(db_url) == 19
    result = write_pages(db_url, [txns[:5]])[0]
    assert result.checkpoint == 19 and checkpoint(db_url) == 19
    with connect(db_url) as conn:  # the guarded upsert itself refuses a lower version
        from indexer.writer import _CHECKPOINT_SQL

        conn.execute(_CHECKPOINT_SQL, ("pictor", 3))
        assert Writer(conn).checkpoint() == 19


def test_a_gap_is_refused_and_writes_nothing(db_url: str) -> None:
    txns = scenario()
    write_pages(db_url, [txns[:10]])
    before = snapshot(db_url)
    with pytest.raises(GapError):
        write_pages(db_url, [txns[12:20]])
    assert snapshot(db_url) == before


def test_a_failure_mid_batch_rolls_everything_back(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    txns = scenario()
    write_pages(db_url, [txns[:10]])
    before = snapshot(db_url)
    calls = {"n": 0}
    real_copy = Writer._copy

    def failing_copy(self, cur, statement, rows):  # noqa: ANN001, ANN202 - fault injection
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected failure after two tables were written")
        return real_copy(self, cur, statement, rows)

    monkeypatch.setattr(Writer, "_copy", failing_copy)
    with connect(db_url) as conn:
        writer = Writer(conn)
        with pytest.raises(RuntimeError, match="injected"):
            writer.write([decode_batch(txns[10:], PACKAGE)])
        assert snapshot(db_url) == before
        monkeypatch.setattr(Writer, "_copy", real_copy)
        writer.write([decode_batch(txns[10:], PACKAGE)])  # the same writer recovers (staging recreated)
    whole_check = snapshot(db_url)
    assert whole_check["processor_status"] == [("pictor", len(txns) - 1)]


def test_staging_mode_writes_the_same_rows(db_factory) -> None:
    txns = scenario()
    direct, staged = db_factory(), db_factory()
    write_pages(direct, [txns[:15], txns[15:]])
    with connect(staged) as conn:
        writer = Writer(conn, event_writes="staging")
        writer.write([decode_batch(txns[:15], PACKAGE)])
        writer.write([decode_batch(txns[15:], PACKAGE)])
    assert snapshot(direct) == snapshot(staged)


def test_tables_are_classified() -> None:
    assert set(EVENT_TABLES) | set(STATE_KEYS) | {"processor_status"} == set(schema.metadata.tables)
    assert not set(EVENT_TABLES) & set(STATE_KEYS)


def test_writer_wants_autocommit(db_url: str) -> None:
    from pictor.db import libpq_url

    with psycopg.connect(libpq_url(db_url)) as conn, pytest.raises(ValueError, match="autocommit"):
        Writer(conn)


def test_two_writers_taking_turns_give_the_same_mirror(db_factory) -> None:
    """A writer's cached state is dropped when the checkpoint shows that another writer committed meanwhile."""
    txns = scenario()
    whole, turns = db_factory(), db_factory()
    write_pages(whole, [txns])
    with connect(turns) as first_conn, connect(turns) as second_conn:
        first, second = Writer(first_conn), Writer(second_conn)
        cuts = [0, 8, 14, 20, 27, 33, len(txns)]
        for n, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
            (first if n % 2 == 0 else second).write([decode_batch(txns[a:b], PACKAGE)])
    assert snapshot(turns) == snapshot(whole)


def _pages(txns: list[dict], *cuts: int) -> list:
    bounds = [0, *cuts, len(txns)]
    return [decode_batch(txns[a:b], PACKAGE) for a, b in zip(bounds, bounds[1:], strict=False)]


def test_folding_ahead_while_the_previous_batch_is_uncommitted_gives_the_same_mirror(db_factory) -> None:
    """The pipeline folds batch N+1 (reading what the cache lacks through the reader) before N commits."""
    txns = scenario()
    whole, ahead = db_factory(), db_factory()
    write_pages(whole, [txns])
    with connect(ahead) as conn, connect(ahead) as reader:
        writer = Writer(conn, reader=reader)
        pages = _pages(txns, 9, 14, 20, 27, 33)
        writer.write([pages[0]])
        prepared = writer.prepare([pages[1]])
        for page in pages[2:]:
            following = writer.prepare([page])  # folded on the state `prepared` leaves, not committed yet
            assert following.rows is not None and following.base == prepared.batches[-1].last_version
            writer.commit(prepared)
            prepared = following
        writer.commit(prepared)
    assert snapshot(ahead) == snapshot(whole)


def test_a_batch_folded_ahead_is_folded_again_when_another_writer_committed_meanwhile(db_factory) -> None:
    txns = scenario()
    whole, turns = db_factory(), db_factory()
    write_pages(whole, [txns])
    first, middle, rest = _pages(txns, 12, 30)
    with connect(turns) as conn, connect(turns) as reader, connect(turns) as other:
        writer = Writer(conn, reader=reader)
        writer.write([first])
        prepared = writer.prepare([middle])
        assert prepared.rows is not None
        Writer(other).write([decode_batch(txns[12:20], PACKAGE)])  # another writer takes part of it
        result = writer.commit(prepared)  # its rows assumed checkpoint 11: folded again from the database
        assert result.checkpoint == 29
        writer.write([rest])
    assert snapshot(turns) == snapshot(whole)


def test_a_failed_commit_voids_the_batch_folded_after_it(db_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    txns = scenario()
    whole, failed = db_factory(), db_factory()
    write_pages(whole, [txns])
    first, second, third = _pages(txns, 10, 25)
    real_copy = Writer._copy

    def failing_copy(self, cur, statement, rows):  # noqa: ANN001, ANN202 - fault injection
        raise RuntimeError("injected")

    with connect(failed) as conn, connect(failed) as reader:
        writer = Writer(conn, reader=reader)
        writer.write([first])
        p2 = writer.prepare([second])
        p3 = writer.prepare([third])
        assert p3.rows is not None
        monkeypatch.setattr(Writer, "_copy", failing_copy)
        with pytest.raises(RuntimeError, match="injected"):
            writer.commit(p2)
        monkeypatch.setattr(Writer, "_copy", real_copy)
        with pytest.raises(GapError):  # p3's fold assumed p2 committed: it is not written
            writer.commit(p3)
        assert checkpoint(failed) == 9
        writer.write([second])
        writer.write([third])
    assert snapshot(failed) == snapshot(whole)
