"""``GET /leaderboard`` and ``GET /leaderboard/me`` over HTTP, and the refresh schedule in the API's lifespan."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from api.app import create_app
from api.routes.leaderboard import ResponseCache
from pictor.db import get_engine
from rewards import leaderboard, snapshots
from tables.leaderboard import leaderboard_snapshots
from tables.points import campaigns, points_ledger
from tests.support.api import NoChain, make_settings, session_for

_keys = itertools.count()


def addr(byte: int) -> str:
    return "0x" + f"{byte:02x}" * 32


def add(engine: Engine, address: str, points: int, at: datetime | None = None) -> None:
    values = {
        "address": address,
        "points": points,
        "source": "test",
        "source_key": f"api{next(_keys)}",
        "reason": "test row",
    }
    if at is not None:
        values["created_at"] = at
    with engine.begin() as conn:
        conn.execute(insert(points_ledger).values(**values))


def app_client(db_url: str, tmp_path: Path, **settings: object) -> tuple[TestClient, Engine]:
    engine = get_engine(db_url)
    app = create_app(engine, NoChain())  # type: ignore[arg-type]
    app.state.settings = make_settings(tmp_path, scheduler_background=False, leaderboard_cache_ttl_s=0, **settings)
    return TestClient(app), engine


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    client, engine = app_client(db_url, tmp_path)
    with client:
        yield client, engine
    engine.dispose()


def entries(body: dict) -> list[tuple[int, str, int]]:
    return [(e["rank"], e["address"], e["points"]) for e in body["entries"]]


def test_leaderboard_pages_with_ties(api: tuple[TestClient, Engine]) -> None:
    client, engine = api
    for byte, pts in [(0x10, 30), (0x20, 50), (0x30, 30), (0x40, 5), (0x50, 30)]:
        add(engine, addr(byte), pts)
    snapshots.refresh_snapshot(engine)
    whole = client.get("/leaderboard")
    assert whole.status_code == 200
    expected = [(1, addr(0x20), 50), (2, addr(0x10), 30), (2, addr(0x30), 30), (2, addr(0x50), 30), (5, addr(0x40), 5)]
    assert entries(whole.json()) == expected and whole.json()["total_users"] == 5
    first = client.get("/leaderboard", params={"limit": 2}).json()
    assert entries(first) == expected[:2] and first["next_cursor"]
    second = client.get("/leaderboard", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert entries(second) == expected[2:4] and second["offset"] == 2
    third = client.get("/leaderboard", params={"limit": 2, "offset": 4}).json()
    assert entries(third) == expected[4:] and third["next_cursor"] is None


def test_leaderboard_reflects_rows_since_the_snapshot(api: tuple[TestClient, Engine]) -> None:
    client, engine = api
    add(engine, addr(1), 10)
    add(engine, addr(2), 20)
    snapshots.refresh_snapshot(engine)
    add(engine, addr(1), 15)
    add(engine, addr(2), -12)  # a void
    add(engine, addr(3), 24)
    body = client.get("/leaderboard").json()
    assert entries(body) == [(1, addr(1), 25), (2, addr(3), 24), (3, addr(2), 8)]
    assert body["snapshot"]["as_of_entry"] > body["snapshot"]["high_water"]


def test_campaign_board_over_http(api: tuple[TestClient, Engine]) -> None:
    client, engine = api
    starts = datetime.now(UTC) - timedelta(days=1)
    ends = starts + timedelta(days=2)
    with engine.begin() as conn:
        campaign = conn.execute(
            insert(campaigns)
            .values(
                name="week",
                starts_at=starts,
                ends_at=ends,
                pool=10,
                currency="points",
                bands=[{"from_rank": 1, "to_rank": 1, "amount_each": 10}],
                created_by=addr(9),
                created_at=starts,
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
    add(engine, addr(1), 5, starts)
    add(engine, addr(2), 50, starts - timedelta(seconds=1))
    add(engine, addr(3), 7)
    body = client.get("/leaderboard", params={"campaign": campaign}).json()
    assert body["scope"] == f"campaign:{campaign}"
    assert entries(body) == [(1, addr(3), 7), (2, addr(1), 5)]
    me = client.get(
        "/leaderboard/me",
        params={"campaign": campaign},
        headers={"Authorization": f"Bearer {session_for(engine, addr(2))}"},
    ).json()
    assert (me["rank"], me["points"], me["around"]) == (None, 0, [])
    assert client.get("/leaderboard", params={"campaign": campaign + 99}).status_code == 404


def test_me_shows_my_rank_and_neighbours(api: tuple[TestClient, Engine]) -> None:
    client, engine = api
    for i in range(1, 11):
        add(engine, addr(i), 100 - i * 5)  # addr(1) first … addr(10) last
    add(engine, addr(5), 5)  # 80: ties with addr(4)
    snapshots.refresh_snapshot(engine)
    token = session_for(engine, addr(5))
    me = client.get("/leaderboard/me", params={"window": 2}, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    body = me.json()
    assert (body["address"], body["rank"], body["points"]) == (addr(5), 4, 80)
    assert [(e["rank"], e["address"], e["points"]) for e in body["around"]] == [
        (3, addr(3), 85),
        (4, addr(4), 80),
        (4, addr(5), 80),
        (6, addr(6), 70),
        (7, addr(7), 65),
    ]
    top = client.get(
        "/leaderboard/me", params={"window": 2}, headers={"Authorization": f"Bearer {session_for(engine, addr(1))}"}
    ).json()
    assert [e["address"] for e in top["around"]] == [addr(1), addr(2), addr(3)]


def test_me_needs_a_session(api: tuple[TestClient, Engine]) -> None:
    client, _ = api
    assert client.get("/leaderboard/me").status_code == 401
    assert client.get("/leaderboard/me", headers={"Authorization": "Bearer not-a-session"}).status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"offset": -1},
        {"campaign": "abc"},
        {"campaign": 0},
        {"offset": 0, "cursor": "MTA6MHgwMQ"},
        {"cursor": "not a cursor"},
        {"cursor": "MTA6MHgwMQ"},
    ],
)
def test_bad_parameters_are_4xx_with_a_message(api: tuple[TestClient, Engine], params: dict) -> None:
    client, _ = api
    response = client.get("/leaderboard", params=params)
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


def test_bad_window_is_4xx(api: tuple[TestClient, Engine]) -> None:
    client, engine = api
    headers = {"Authorization": f"Bearer {session_for(engine, addr(1))}"}
    assert client.get("/leaderboard/me", params={"window": 51}, headers=headers).status_code == 422
    assert client.get("/leaderboard/me", params={"window": -1}, headers=headers).status_code == 422


def test_answers_are_reused_within_the_cache_ttl(db_url: str, tmp_path: Path) -> None:
    client, engine = app_client(db_url, tmp_path / "c")
    client.app.state.settings = make_settings(tmp_path, scheduler_background=False, leaderboard_cache_ttl_s=3600)
    with client:
        add(engine, addr(1), 1)
        assert entries(client.get("/leaderboard").json()) == [(1, addr(1), 1)]
        add(engine, addr(2), 2)
        assert entries(client.get("/leaderboard").json()) == [(1, addr(1), 1)]  # the stored answer
        assert len(client.get("/leaderboard", params={"limit": 5}).json()["entries"]) == 2  # another query
    engine.dispose()


def test_schedule_refreshes_in_the_lifespan_only_when_enabled(db_url: str, tmp_path: Path) -> None:
    client, engine = app_client(db_url, tmp_path)
    add(engine, addr(1), 3)
    with client:
        assert client.app.state.settings.leaderboard_background is False
        assert client.get("/leaderboard").status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(leaderboard_snapshots)).scalar_one() == 0
    client.app.state.settings = make_settings(
        tmp_path, scheduler_background=False, leaderboard_background=True, leaderboard_refresh_s=3600
    )
    with client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the first pass runs at start, in the scheduler's thread
            with engine.connect() as conn:
                header = conn.execute(select(leaderboard_snapshots)).first()
            if header is not None:
                break
            time.sleep(0.1)
        assert header is not None and header.scope == "global" and header.users == 1
    engine.dispose()


def test_refreshable_scopes_are_global_and_live_campaigns(db_url: str) -> None:
    engine = get_engine(db_url)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    ids = {}
    with engine.begin() as conn:
        for name, starts, ends in [
            ("past", now - timedelta(days=9), now - timedelta(days=2)),
            ("recent", now - timedelta(days=9), now - timedelta(hours=2)),
            ("live", now - timedelta(days=1), now + timedelta(days=1)),
            ("future", now + timedelta(days=1), now + timedelta(days=2)),
        ]:
            ids[name] = conn.execute(
                insert(campaigns)
                .values(
                    name=name + secrets.token_hex(2),
                    starts_at=starts,
                    ends_at=ends,
                    pool=1,
                    currency="points",
                    bands=[],
                    created_by=addr(1),
                    created_at=now,
                )
                .returning(campaigns.c.campaign_id)
            ).scalar_one()
    assert leaderboard.refreshable_scopes(engine, now) == ["global", ids["recent"], ids["live"]]
    add(engine, addr(1), 4, now)
    made = leaderboard.refresh_pass(engine, now)
    assert [m.scope for m in made] == ["global", f"campaign:{ids['recent']}", f"campaign:{ids['live']}"]
    engine.dispose()


def test_an_expired_answer_is_read_again_once_while_the_others_get_the_previous_one() -> None:
    cache = ResponseCache()
    key = (None, 100, 0, None)
    assert cache.lookup(key) is None  # nothing stored: this request reads
    cache.put(key, b"first", ttl=-1)  # already expired
    assert cache.lookup(key) is None  # expired: this request reads again …
    assert cache.lookup(key) == b"first"  # … while the others get the previous answer
    cache.abandon(key)  # that read failed
    assert cache.lookup(key) is None  # so the next one reads
    cache.put(key, b"second", ttl=3600)
    assert cache.lookup(key) == b"second"
