"""``/rewards`` over HTTP against real PostgreSQL: my ledger, check-ins (UTC days, streaks), social claims and
their review, referrals (self, loops, set once), admin voids with the audit log, campaigns, rate limits, 403s,
and 4xx answers that change nothing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from rewards.points import check_in, credit
from tables.points import (
    admin_audit_log,
    campaigns,
    checkins,
    points_ledger,
    rate_events,
    referrals,
    social_claims,
)


def addr() -> str:
    return "0x" + secrets.token_hex(32)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def count(engine: Any, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def snapshot(engine: Any) -> dict[str, int]:
    """Row counts of every table a rewards request may change."""
    tables = [points_ledger, admin_audit_log, campaigns, checkins, social_claims, referrals]
    return {t.name: count(engine, t) for t in tables}


# ----------------------------------------------------------------------------- my points


def test_my_points_needs_a_session_and_pages_my_ledger_only(pts) -> None:
    me, other = addr(), addr()
    assert pts.client.get("/rewards/points").status_code == 401
    with pts.engine.begin() as conn:
        for i in range(5):
            credit(conn, me, i + 1, "social", f"me-{i}", f"test credit {i}")
        credit(conn, other, 100, "social", "other", "someone else's")
    first = pts.client.get("/rewards/points?limit=2", headers=pts.auth(me)).json()
    assert first["total"] == 15 and first["address"] == me
    assert [e["points"] for e in first["entries"]] == [5, 4]
    second = pts.client.get(f"/rewards/points?limit=2&before={first['next_before']}", headers=pts.auth(me)).json()
    third = pts.client.get(f"/rewards/points?limit=2&before={second['next_before']}", headers=pts.auth(me)).json()
    assert [e["points"] for e in second["entries"]] == [3, 2]
    assert [e["points"] for e in third["entries"]] == [1] and third["next_before"] is None
    assert pts.client.get("/rewards/points?limit=0", headers=pts.auth(me)).status_code == 422
    assert pts.client.get("/rewards/points?limit=500", headers=pts.auth(me)).status_code == 422


# ----------------------------------------------------------------------------- check-ins


def test_check_in_once_per_utc_day(pts) -> None:
    me = addr()
    r = pts.client.post("/rewards/checkin", headers=pts.auth(me))
    assert r.status_code == 200, r.text
    assert (r.json()["points"], r.json()["streak"]) == (5, 1)
    before = snapshot(pts.engine)
    again = pts.client.post("/rewards/checkin", headers=pts.auth(me))
    assert again.status_code == 409 and "already checked in" in again.json()["detail"]
    assert snapshot(pts.engine) == before
    assert pts.client.get("/rewards/points", headers=pts.auth(me)).json()["total"] == 5


def test_check_in_streaks_cross_utc_midnight_and_break_after_a_missed_day(pts) -> None:
    me = addr()
    got = [check_in(pts.engine, me, at("2026-06-01T23:59:59"))]
    got.append(check_in(pts.engine, me, at("2026-06-02T00:00:00")))  # one second later, the next UTC day
    for day in range(3, 9):
        got.append(check_in(pts.engine, me, at(f"2026-06-0{day}T12:00:00")))
    assert [(g["streak"], g["points"]) for g in got] == [
        (1, 5),
        (2, 6),
        (3, 7),
        (4, 8),
        (5, 9),
        (6, 10),
        (7, 10),
        (8, 10),
    ]  # the bonus stops at +5
    broken = check_in(pts.engine, me, at("2026-06-10T00:00:00"))  # 06-09 was missed
    assert (broken["streak"], broken["points"]) == (1, 5)
    try:
        check_in(pts.engine, me, at("2026-06-10T23:59:59"))
        raise AssertionError("a second check-in on one UTC day must be refused")
    except Exception as exc:  # noqa: BLE001
        assert getattr(exc, "status", None) == 409
    assert count(pts.engine, points_ledger, points_ledger.c.address == me) == 9


def test_check_ins_are_rate_limited_per_address(pts) -> None:
    me, other = addr(), addr()
    codes = [pts.client.post("/rewards/checkin", headers=pts.auth(me)).status_code for _ in range(7)]
    assert codes == [200, 409, 409, 409, 409, 429, 429]
    assert "at most 5 per hour" in pts.client.post("/rewards/checkin", headers=pts.auth(me)).json()["detail"]
    assert pts.client.post("/rewards/checkin", headers=pts.auth(other)).status_code == 200  # per address


# ----------------------------------------------------------------------------- social tasks


def test_social_claims_are_reviewed_and_only_approved_ones_earn_five_points(pts) -> None:
    me, other = addr(), addr()
    r = pts.client.post(
        "/rewards/social/follow-x", json={"proof_url": "https://x.com/me/status/1"}, headers=pts.auth(me)
    )
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["status"] == "pending"
    dup = pts.client.post(
        "/rewards/social/follow-x", json={"proof_url": "https://x.com/me/status/2"}, headers=pts.auth(me)
    )
    assert dup.status_code == 409
    rejected = pts.client.post(
        "/rewards/social/join-discord", json={"proof_url": "https://discord.com/x"}, headers=pts.auth(other)
    ).json()
    assert pts.client.get("/rewards/points", headers=pts.auth(me)).json()["total"] == 0  # pending earns nothing

    # Non-admins may neither list nor review.
    assert pts.client.get("/rewards/admin/social", headers=pts.auth(me)).status_code == 403
    assert (
        pts.client.post(
            f"/rewards/admin/social/{claim['claim_id']}", json={"approve": True}, headers=pts.auth(me)
        ).status_code
        == 403
    )
    pending = pts.client.get("/rewards/admin/social", headers=pts.auth(pts.admin)).json()["claims"]
    assert [c["claim_id"] for c in pending] == [claim["claim_id"], rejected["claim_id"]]

    ok = pts.client.post(
        f"/rewards/admin/social/{claim['claim_id']}",
        json={"approve": True, "note": "seen"},
        headers=pts.auth(pts.admin),
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    no = pts.client.post(
        f"/rewards/admin/social/{rejected['claim_id']}",
        json={"approve": False, "note": "fake"},
        headers=pts.auth(pts.admin),
    )
    assert no.json()["status"] == "rejected"
    again = pts.client.post(
        f"/rewards/admin/social/{claim['claim_id']}", json={"approve": True}, headers=pts.auth(pts.admin)
    )
    assert again.status_code == 409
    assert (
        pts.client.post("/rewards/admin/social/999999", json={"approve": True}, headers=pts.auth(pts.admin)).status_code
        == 404
    )
    assert pts.client.get("/rewards/points", headers=pts.auth(me)).json()["total"] == 5
    assert pts.client.get("/rewards/points", headers=pts.auth(other)).json()["total"] == 0
    mine = pts.client.get("/rewards/social", headers=pts.auth(me)).json()
    assert [c["status"] for c in mine["claims"]] == ["approved"]
    assert {t["task"] for t in mine["tasks"]} >= {"follow-x", "join-discord"}
    with pts.engine.connect() as conn:
        actions = [(a.admin, a.action) for a in conn.execute(select(admin_audit_log).order_by("audit_id"))]
    assert actions == [(pts.admin, "social_approved"), (pts.admin, "social_rejected")]


def test_bad_social_claims_are_refused_and_change_nothing(pts) -> None:
    me = addr()
    before = snapshot(pts.engine)
    cases = [
        ("no-such-task", "https://x.com/a", 404),
        ("follow-x", "http://x.com/a", 400),  # not https
        ("follow-x", "https://evil.example/x.com", 400),  # wrong host
        ("follow-x", "https://x.com.evil.example/a", 400),
        ("follow-x", "https://user:pw@x.com/a", 400),
        ("follow-x", "not a url at all", 400),
        ("follow-x", "https://x.com/" + "a" * 600, 422),  # too long
    ]
    for task, url, status in cases:
        r = pts.client.post(f"/rewards/social/{task}", json={"proof_url": url}, headers=pts.auth(me))
        assert r.status_code == status, (task, url, r.text)
        assert r.json()["detail"]
    assert snapshot(pts.engine) == before
    assert count(pts.engine, rate_events) == 0  # refused input does not even count against the limit


def test_social_claims_are_rate_limited(pts) -> None:
    me = addr()
    tasks = ["follow-x", "repost-launch", "join-discord", "join-telegram"]
    hosts = {"follow-x": "x.com", "repost-launch": "x.com", "join-discord": "discord.gg", "join-telegram": "t.me"}
    codes = [
        pts.client.post(
            f"/rewards/social/{t}", json={"proof_url": f"https://{hosts[t]}/p"}, headers=pts.auth(me)
        ).status_code
        for t in tasks
    ]
    assert codes == [201, 201, 201, 429]
    assert count(pts.engine, social_claims, social_claims.c.address == me) == 3


# ----------------------------------------------------------------------------- referrals


def code_of(pts, who: str) -> str:
    return pts.client.get("/rewards/referral", headers=pts.auth(who)).json()["code"]


def test_referral_codes_self_referral_set_once_and_my_referees(pts) -> None:
    a, b, c = addr(), addr(), addr()
    code = code_of(pts, a)
    assert code == code_of(pts, a) and len(code) == 8
    before = snapshot(pts.engine)
    own = pts.client.post("/rewards/referral", json={"code": code}, headers=pts.auth(a))
    assert own.status_code == 400 and "own referral code" in own.json()["detail"]
    assert pts.client.post("/rewards/referral", json={"code": "NOPE2345"}, headers=pts.auth(b)).status_code == 404
    assert pts.client.post("/rewards/referral", json={"code": "no!"}, headers=pts.auth(b)).status_code == 400
    assert snapshot(pts.engine) == before
    ok = pts.client.post("/rewards/referral", json={"code": code.lower()}, headers=pts.auth(b))
    assert ok.status_code == 200 and ok.json()["referrer"] == a
    again = pts.client.post("/rewards/referral", json={"code": code_of(pts, c)}, headers=pts.auth(b))
    assert again.status_code == 409  # set once
    info = pts.client.get("/rewards/referral", headers=pts.auth(a)).json()
    assert info["referees_count"] == 1 and info["referees"][0]["address"] == b and info["referred_by"] is None
    assert pts.client.get("/rewards/referral", headers=pts.auth(b)).json()["referred_by"] == a


def test_referral_loops_are_refused_and_chains_are_fine(pts) -> None:
    a, b, c, d = addr(), addr(), addr(), addr()
    assert pts.client.post("/rewards/referral", json={"code": code_of(pts, a)}, headers=pts.auth(b)).status_code == 200
    before = snapshot(pts.engine)
    back = pts.client.post("/rewards/referral", json={"code": code_of(pts, b)}, headers=pts.auth(a))
    assert back.status_code == 400 and "loop" in back.json()["detail"]  # A refers B: B cannot refer A
    assert snapshot(pts.engine) == before
    # A → B → C is a chain: fine. C → A would close a loop of three.
    assert pts.client.post("/rewards/referral", json={"code": code_of(pts, b)}, headers=pts.auth(c)).status_code == 200
    longer = pts.client.post("/rewards/referral", json={"code": code_of(pts, c)}, headers=pts.auth(a))
    assert longer.status_code == 400
    assert pts.client.post("/rewards/referral", json={"code": code_of(pts, c)}, headers=pts.auth(d)).status_code == 200


def test_referral_applications_are_rate_limited(pts) -> None:
    me = addr()
    codes = [
        pts.client.post("/rewards/referral", json={"code": f"GUESS{i:03d}"}, headers=pts.auth(me)).status_code
        for i in range(6)
    ]
    assert codes == [404] * 5 + [429]


# ----------------------------------------------------------------------------- voids and the audit log


def test_admins_void_entries_with_a_reason_and_the_audit_log_keeps_it(pts) -> None:
    me = addr()
    with pts.engine.begin() as conn:
        entry = credit(conn, me, 40, "social", "to-void", "suspicious")
    body = {"entry_id": entry, "reason": "proof was a fake screenshot"}
    before = snapshot(pts.engine)
    assert pts.client.post("/rewards/admin/void", json=body, headers=pts.auth(me)).status_code == 403
    assert pts.client.post("/rewards/admin/void", json=body).status_code == 401
    blank = {"entry_id": entry, "reason": "     "}
    assert pts.client.post("/rewards/admin/void", json=blank, headers=pts.auth(pts.admin)).status_code == 422
    assert (
        pts.client.post(
            "/rewards/admin/void", json={"entry_id": entry, "reason": "x"}, headers=pts.auth(pts.admin)
        ).status_code
        == 422
    )
    assert (
        pts.client.post(
            "/rewards/admin/void", json={"entry_id": 99999, "reason": "no such entry"}, headers=pts.auth(pts.admin)
        ).status_code
        == 404
    )
    assert snapshot(pts.engine) == before
    r = pts.client.post("/rewards/admin/void", json=body, headers=pts.auth(pts.admin))
    assert r.status_code == 200, r.text
    void_id = r.json()["void_entry_id"]
    assert pts.client.get("/rewards/points", headers=pts.auth(me)).json()["total"] == 0
    with pts.engine.connect() as conn:
        original = conn.execute(select(points_ledger).where(points_ledger.c.entry_id == entry)).one()
        void = conn.execute(select(points_ledger).where(points_ledger.c.entry_id == void_id)).one()
        [log] = conn.execute(select(admin_audit_log)).all()
    assert original.points == 40  # append-only: the original row is untouched
    assert (void.points, void.source, void.source_key) == (-40, "void", f"entry:{entry}")
    assert "fake screenshot" in void.reason
    assert (log.admin, log.action, log.target, log.reason) == (pts.admin, "void", f"entry:{entry}", body["reason"])
    assert log.details["void_entry_id"] == void_id
    twice = pts.client.post("/rewards/admin/void", json=body, headers=pts.auth(pts.admin))
    assert twice.status_code == 409
    of_void = pts.client.post(
        "/rewards/admin/void", json={"entry_id": void_id, "reason": "undo it"}, headers=pts.auth(pts.admin)
    )
    assert of_void.status_code == 400
    assert count(pts.engine, admin_audit_log) == 1


# ----------------------------------------------------------------------------- campaigns


TESTNET_BANDS = [
    {"from_rank": 1, "to_rank": 1, "amount_each": 200},
    {"from_rank": 2, "to_rank": 5, "amount_each": 100},
    {"from_rank": 6, "to_rank": 15, "amount_each": 50},
    {"from_rank": 16, "to_rank": 50, "amount_each": 14},
    {"from_rank": 51, "to_rank": 100, "amount_each": 8},
]  # pays 200 + 400 + 500 + 490 + 400 = 1990


def campaign(name: str = "testnet", **overrides: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "starts_at": "2026-07-01T00:00:00Z",
        "ends_at": "2026-08-01T00:00:00Z",
        "pool": 1990,
        "currency": "PICTOR",
        "bands": TESTNET_BANDS,
    }
    body.update(overrides)
    return body


def test_admins_create_and_list_campaigns_several_at_once(pts) -> None:
    h = pts.auth(pts.admin)
    r = pts.client.post("/rewards/admin/campaigns", json=campaign(), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["bands"] == TESTNET_BANDS and r.json()["pool"] == 1990
    points_campaign = campaign(
        "points race",
        currency="points",
        pool=10**6,
        starts_at="2026-07-15T00:00:00Z",
        bands=[{"from_rank": 1, "to_rank": 3, "amount_each": 0}],
    )
    assert pts.client.post("/rewards/admin/campaigns", json=points_campaign, headers=h).status_code == 201
    assert pts.client.post("/rewards/admin/campaigns", json=campaign(), headers=h).status_code == 409  # same name
    listed = pts.client.get("/rewards/admin/campaigns", headers=h).json()["campaigns"]
    assert [c["name"] for c in listed] == ["testnet", "points race"]
    running = pts.client.get(
        "/rewards/admin/campaigns", params={"active_at": "2026-07-20T00:00:00Z"}, headers=h
    ).json()["campaigns"]
    assert len(running) == 2
    early = pts.client.get("/rewards/admin/campaigns", params={"active_at": "2026-07-02T00:00:00Z"}, headers=h).json()[
        "campaigns"
    ]
    assert [c["name"] for c in early] == ["testnet"]
    ended = pts.client.get("/rewards/admin/campaigns", params={"active_at": "2026-08-01T00:00:00Z"}, headers=h).json()[
        "campaigns"
    ]
    assert ended == []  # ends_at is exclusive
    assert count(pts.engine, admin_audit_log, admin_audit_log.c.action == "campaign_create") == 2


def test_campaign_validation_edges_are_refused_and_change_nothing(pts) -> None:
    h = pts.auth(pts.admin)
    band = TESTNET_BANDS
    bad: list[tuple[dict[str, Any], str]] = [
        (campaign(pool=1989), "more than the pool"),
        (campaign(bands=[band[0], band[2]]), "contiguous"),  # a gap at ranks 2-5
        (campaign(bands=[band[1]]), "contiguous"),  # not from rank 1
        (campaign(bands=[band[0], {"from_rank": 1, "to_rank": 5, "amount_each": 1}]), "overlaps"),
        (campaign(bands=[{"from_rank": 3, "to_rank": 2, "amount_each": 1}]), "below from_rank"),
        (campaign(bands=[{"from_rank": 1, "to_rank": 1, "amount_each": 1.5}]), "integer"),
        (campaign(bands=[{"from_rank": 1, "to_rank": 1, "amount_each": "10"}]), "integer"),
        (campaign(bands=[{"from_rank": 1, "to_rank": 1, "amount_each": -1}]), "greater than or equal"),
        (campaign(bands=[]), "at least 1"),
        (campaign(pool=-5), "greater than or equal"),
        (campaign(pool=2**64), "less than or equal"),
        (campaign(currency="USD"), "points"),
        (campaign(ends_at="2026-07-01T00:00:00Z"), "after starts_at"),
        (campaign(starts_at="2026-07-01T00:00:00"), "time zone"),
        (campaign(name="   "), "empty"),
    ]
    before = snapshot(pts.engine)
    for body, words in bad:
        r = pts.client.post("/rewards/admin/campaigns", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert words in r.text, (words, r.text)
    # Exactly the pool is fine; one rank band is fine.
    assert pts.client.post("/rewards/admin/campaigns", json=campaign(pool=1990), headers=h).status_code == 201
    assert snapshot(pts.engine)["campaigns"] == before["campaigns"] + 1


def test_non_admins_get_403_on_every_admin_endpoint(pts) -> None:
    me = addr()
    h = pts.auth(me)
    calls = [
        ("get", "/rewards/admin/campaigns", None),
        ("post", "/rewards/admin/campaigns", campaign()),
        ("get", "/rewards/admin/social", None),
        ("post", "/rewards/admin/social/1", {"approve": True}),
        ("post", "/rewards/admin/void", {"entry_id": 1, "reason": "because"}),
    ]
    before = snapshot(pts.engine)
    for method, path, body in calls:
        r = pts.client.request(method, path, json=body, headers=h)
        assert r.status_code == 403, (path, r.text)
        assert "admins only" in r.json()["detail"]
    assert snapshot(pts.engine) == before
    # The admin address is matched after normalization (the settings hold it in upper case).
    assert pts.client.get("/rewards/admin/campaigns", headers=pts.auth(pts.admin)).status_code == 200


def test_expired_sessions_cannot_check_in(pts) -> None:
    me = addr()
    from tests.support.api import session_for

    token = session_for(pts.engine, me, ttl_s=-10)
    r = pts.client.post("/rewards/checkin", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert count(pts.engine, checkins) == 0
