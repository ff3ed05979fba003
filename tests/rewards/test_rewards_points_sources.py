"""The scanned point sources against real PostgreSQL: renders × the GPU table, the one-GPU-one-worker rule,
online time per UTC day (cap, gaps, midnight), liveness checks, creators' jobs, and the referral bonus."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from rewards.points import check_in, credit, void_entry
from rewards.sources import credit_sources, node_days
from tables.points import liveness_checks, points_ledger, points_withheld, referrals


def addr() -> str:
    return "0x" + secrets.token_hex(32)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ledger(engine: Any, address: str | None = None, source: str | None = None) -> list[Any]:
    query = select(points_ledger).order_by(points_ledger.c.entry_id)
    if address:
        query = query.where(points_ledger.c.address == address)
    if source:
        query = query.where(points_ledger.c.source == source)
    with engine.connect() as conn:
        return conn.execute(query).all()


def withheld(engine: Any, source: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(points_withheld).where(points_withheld.c.source == source)).all()


def total(engine: Any, address: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(points_ledger.c.points), 0)).where(points_ledger.c.address == address)
            ).scalar_one()
        )


# ----------------------------------------------------------------------------- renders


def test_accepted_frames_earn_reference_minutes_times_the_gpu_multiplier_once(pts) -> None:
    op, creator = addr(), addr()
    now = datetime.now(UTC)
    pts.heartbeat(1, op, now, gpus=[("NVIDIA GeForce RTX 4090", "GPU-aaa")])
    job = pts.job(creator)
    task = pts.task(job, 1, [1, 2], node_id=1, ref_minutes=6.0, frame_state="accepted")
    credit_sources(pts.engine, pts.settings, now)
    rows = ledger(pts.engine, op, "render")
    # 6 reference-minutes over 2 frames = 3 each; × 3.30 (RTX 4090) × 10 points = 99 per frame.
    assert [(r.points, r.source_key) for r in rows] == [(99, f"task:{task}:frame:1"), (99, f"task:{task}:frame:2")]
    assert "RTX 4090" in rows[0].reason and "3.30" in rows[0].reason
    credit_sources(pts.engine, pts.settings, now)  # a replay counts nothing twice
    credit_sources(pts.engine, pts.settings, now + timedelta(days=30))
    assert len(ledger(pts.engine, op, "render")) == 2


def test_cpu_nodes_earn_the_lowest_multiplier_rounded_down(pts) -> None:
    op = addr()
    now = datetime.now(UTC)
    pts.heartbeat(2, op, now)  # no GPU
    job = pts.job(addr())
    pts.task(job, 1, [1], node_id=2, ref_minutes=3.0, frame_state="accepted")
    credit_sources(pts.engine, pts.settings, now)
    # 3 reference-minutes × 0.25 × 10 = 7.5 → 7
    assert [r.points for r in ledger(pts.engine, op, "render")] == [7]


def test_frames_settle_only_when_accepted_or_after_the_review_window(pts) -> None:
    op = addr()
    now = datetime.now(UTC)
    pts.heartbeat(1, op, now, gpus=[("NVIDIA GeForce RTX 3060", "GPU-r")])
    job = pts.job(addr())
    pts.task(job, 1, [1, 2, 3], node_id=1, ref_minutes=3.0, frame_state="rendered", completed_at=now)
    pts.set_frame(job, 3, state="verifying")
    credit_sources(pts.engine, pts.settings, now)
    assert ledger(pts.engine, op, "render") == []  # the creator may still reject them
    window = timedelta(seconds=pts.settings.review_window_s)
    credit_sources(pts.engine, pts.settings, now + window - timedelta(seconds=5))
    assert ledger(pts.engine, op, "render") == []
    credit_sources(pts.engine, pts.settings, now + window + timedelta(seconds=5))
    # 1 reference-minute × 1.00 × 10 for frames 1 and 2; frame 3 is still being verified.
    assert sorted(r.source_key.rsplit(":", 1)[1] for r in ledger(pts.engine, op, "render")) == ["1", "2"]


def test_a_rejected_frame_earns_nothing_for_its_old_task(pts) -> None:
    op = addr()
    now = datetime.now(UTC)
    pts.heartbeat(1, op, now, gpus=[("NVIDIA GeForce RTX 3060", "GPU-r")])
    job = pts.job(addr())
    old = pts.task(job, 1, [1], node_id=1, ref_minutes=2.0, frame_state="rendered")
    new = pts.task(job, 2, [], node_id=None, ref_minutes=2.0, state="queued")
    pts.set_frame(job, 1, state="rejected", task_id=new)  # what a creator's rejection does
    credit_sources(pts.engine, pts.settings, now + timedelta(days=30))
    assert ledger(pts.engine, op) == []
    assert old != new


def test_one_gpu_counts_for_one_worker(pts) -> None:
    first, second = addr(), addr()
    now = datetime.now(UTC)
    pts.heartbeat(1, first, now, gpus=[("NVIDIA GeForce RTX 4090", "GPU-same")])
    credit_sources(pts.engine, pts.settings, now)  # node 1 is seen first: the GPU is its
    pts.heartbeat(2, second, now, gpus=[("NVIDIA GeForce RTX 4090", "GPU-same")])
    job = pts.job(addr())
    pts.task(job, 1, [1], node_id=1, ref_minutes=1.0, frame_state="accepted")
    pts.task(job, 2, [2], node_id=2, ref_minutes=1.0, frame_state="accepted")
    credit_sources(pts.engine, pts.settings, now)
    assert [r.points for r in ledger(pts.engine, first, "render")] == [33]
    assert ledger(pts.engine, second) == []
    [refused] = withheld(pts.engine, "render")
    assert refused.address == second
    assert "GPU-same is counted for node 1" in refused.reason
    # A second GPU of its own makes node 2 count again, at that GPU's multiplier only.
    pts.heartbeat(2, second, now, gpus=[("NVIDIA GeForce RTX 4090", "GPU-same"), ("NVIDIA GeForce RTX 3060", "GPU-b")])
    pts.task(job, 3, [3], node_id=2, ref_minutes=1.0, frame_state="accepted")
    credit_sources(pts.engine, pts.settings, now)
    assert [r.points for r in ledger(pts.engine, second, "render")] == [10]


def test_a_benchmark_fingerprint_counts_for_one_worker(pts) -> None:
    first, second = addr(), addr()
    now = datetime.now(UTC)
    pts.heartbeat(1, first, now, fingerprint="fp-1")
    pts.heartbeat(2, second, now, fingerprint="fp-1")  # the same CPU machine registered twice
    job = pts.job(addr())
    pts.task(job, 1, [1], node_id=1, ref_minutes=4.0, frame_state="accepted")
    pts.task(job, 2, [2], node_id=2, ref_minutes=4.0, frame_state="accepted")
    credit_sources(pts.engine, pts.settings, now)
    assert [r.points for r in ledger(pts.engine, first)] == [10]
    assert ledger(pts.engine, second) == []
    assert "fingerprint fp-1 is counted for node 1" in withheld(pts.engine, "render")[0].reason


# ----------------------------------------------------------------------------- online time


def observe(pts, node_id: int, op: str, times: list[datetime], **kw: Any) -> None:
    """Heartbeats seen by a credit pass at each time."""
    for t in times:
        pts.heartbeat(node_id, op, t, **kw)
        credit_sources(pts.engine, pts.settings, t)


def test_online_time_splits_at_utc_midnight_and_is_credited_once_per_closed_day(pts) -> None:
    op = addr()
    start = at("2026-03-01T23:50:00")
    observe(pts, 7, op, [start + timedelta(minutes=5 * i) for i in range(5)])  # 23:50 → 00:10
    assert node_days(pts.engine, 7) == {date(2026, 3, 1): 600, date(2026, 3, 2): 600}
    assert ledger(pts.engine, op) == []  # 10 minutes a day is less than one point, and 3-2 is not over
    credit_sources(pts.engine, pts.settings, at("2026-03-03T00:00:01"))
    assert ledger(pts.engine, op) == []
    assert {w.source_key for w in withheld(pts.engine, "online")} == {"node:7:2026-03-01", "node:7:2026-03-02"}


def test_online_points_per_hour_with_a_daily_cap_and_gaps_not_counted(pts) -> None:
    op, other = addr(), addr()
    day = at("2026-03-05T00:00:00")
    # Node 8: every 5 minutes all day long → 24 h → 48 points, capped at 40.
    observe(
        pts, 8, op, [day + timedelta(minutes=5 * i) for i in range(0, 288)], gpus=[("NVIDIA GeForce RTX 3060", "GPU-8")]
    )
    # Node 9: 01:00–03:30 online, away 03:30–05:00 (a gap above the limit), 05:00–06:00 online.
    times = [day + timedelta(hours=1, minutes=5 * i) for i in range(31)] + [
        day + timedelta(hours=5, minutes=5 * i) for i in range(13)
    ]
    observe(pts, 9, other, times)
    assert node_days(pts.engine, 9) == {date(2026, 3, 5): int(3.5 * 3600)}
    credit_sources(pts.engine, pts.settings, at("2026-03-06T00:10:00"))
    credit_sources(pts.engine, pts.settings, at("2026-03-06T00:20:00"))
    assert [(r.points, r.source_key) for r in ledger(pts.engine, op)] == [(40, "node:8:2026-03-05")]
    assert [r.points for r in ledger(pts.engine, other)] == [7]  # 3 full hours × 2 (the half hour is not)


def test_a_node_whose_gpu_is_another_workers_earns_no_online_points(pts) -> None:
    first, second = addr(), addr()
    day = at("2026-03-05T10:00:00")
    pts.heartbeat(1, first, day, gpus=[("NVIDIA GeForce RTX 3060", "GPU-x")])
    credit_sources(pts.engine, pts.settings, day)
    observe(
        pts, 2, second, [day + timedelta(minutes=5 * i) for i in range(25)], gpus=[("NVIDIA GeForce RTX 3060", "GPU-x")]
    )
    credit_sources(pts.engine, pts.settings, at("2026-03-06T00:10:00"))
    assert ledger(pts.engine, second) == []
    [w] = withheld(pts.engine, "online")
    assert w.source_key == "node:2:2026-03-05" and "GPU-x is counted for node 1" in w.reason


# ----------------------------------------------------------------------------- liveness


def test_idle_online_nodes_get_a_liveness_check_and_failing_it_withholds_the_day(pts) -> None:
    op, busy_op = addr(), addr()
    day = at("2026-04-01T00:00:00")
    settings = pts.settings.model_copy(update={"rewards_liveness_idle_s": 3600, "rewards_liveness_deadline_s": 1800})
    job = pts.job(addr())
    for i in range(0, 12 * 12 + 1):  # 00:00 → 12:00 every 5 minutes
        t = day + timedelta(minutes=5 * i)
        pts.heartbeat(1, op, t)
        pts.heartbeat(2, busy_op, t)
        if i % 6 == 0:  # node 2 renders a task every half hour: never idle
            pts.task(job, i + 1, [i + 1], node_id=2, ref_minutes=1.0, completed_at=t)
        credit_sources(pts.engine, settings, t)
    with pts.engine.connect() as conn:
        checks = conn.execute(select(liveness_checks).order_by(liveness_checks.c.check_id)).all()
    assert {c.node_id for c in checks} == {1}
    first = checks[0]
    assert first.requested_at == day + timedelta(hours=1)  # online an hour without work
    assert first.status == "failed" and "while other nodes rendered" in first.reason
    # One check at a time, a new one only an idle period after the last.
    assert all(b.requested_at - a.requested_at >= timedelta(hours=1) for a, b in zip(checks, checks[1:], strict=False))
    credit_sources(pts.engine, settings, at("2026-04-02T00:01:00"))
    assert ledger(pts.engine, op, "online") == []
    [w] = [w for w in withheld(pts.engine, "online") if w.address == op]
    assert f"failed liveness check {first.check_id}" in w.reason
    assert [r.points for r in ledger(pts.engine, busy_op, "online")] == [24]  # 12 h × 2


def test_a_liveness_check_passes_when_the_node_renders_and_is_excused_without_work(pts) -> None:
    op = addr()
    day = at("2026-04-03T00:00:00")
    settings = pts.settings.model_copy(update={"rewards_liveness_idle_s": 3600, "rewards_liveness_deadline_s": 1800})
    times = [day + timedelta(minutes=5 * i) for i in range(0, 6 * 12 + 1)]  # 00:00 → 06:00
    job = pts.job(addr())
    for t in times:
        pts.heartbeat(1, op, t)
        if t == day + timedelta(hours=1, minutes=10):
            pts.task(job, 1, [1], node_id=1, ref_minutes=1.0, completed_at=t, frame_state="rendering")
        credit_sources(pts.engine, settings, t)
    with pts.engine.connect() as conn:
        checks = conn.execute(select(liveness_checks).order_by(liveness_checks.c.check_id)).all()
    assert checks[0].status == "passed" and checks[0].requested_at == day + timedelta(hours=1)
    assert checks[-1].status == "pending"  # asked at 05:30, open until 06:00
    credit_sources(pts.engine, settings, at("2026-04-04T00:01:00"))
    assert [r.points for r in ledger(pts.engine, op, "online")] == [12]
    with pts.engine.connect() as conn:
        later = (
            conn.execute(
                select(liveness_checks.c.status)
                .where(liveness_checks.c.check_id > checks[0].check_id)
                .order_by(liveness_checks.c.check_id)
            )
            .scalars()
            .all()
        )
    # Nobody rendered anything after the first check: the later ones are excused, not failed.
    assert len(later) >= 2 and set(later) == {"excused"}


# ----------------------------------------------------------------------------- jobs


def test_creators_earn_once_per_successfully_rendered_job(pts) -> None:
    creator = addr()
    now = datetime.now(UTC)
    good = pts.job(creator, state="completed")
    pts.task(good, 1, [1], node_id=None, ref_minutes=1.0)
    bad = pts.job(creator, state="completed")
    pts.task(bad, 1, [1, 2], node_id=None, ref_minutes=1.0)
    pts.set_frame(bad, 2, state="failed")
    running = pts.job(creator, state="active")
    pts.task(running, 1, [1], node_id=None, ref_minutes=1.0, state="queued", frame_state="queued")
    credit_sources(pts.engine, pts.settings, now)
    credit_sources(pts.engine, pts.settings, now)
    assert [(r.points, r.source_key) for r in ledger(pts.engine, creator)] == [(20, f"job:{good}")]
    [w] = withheld(pts.engine, "job")
    assert w.source_key == f"job:{bad}" and "failed frames" in w.reason


# ----------------------------------------------------------------------------- referrals


def refer(pts, referrer: str, referee: str) -> None:
    code = pts.client.get("/rewards/referral", headers=pts.auth(referrer)).json()["code"]
    r = pts.client.post("/rewards/referral", json={"code": code}, headers=pts.auth(referee))
    assert r.status_code == 200, r.text


def test_referrers_earn_ten_percent_of_their_referees_points_one_level_rounded_down(pts) -> None:
    a, b, c = addr(), addr(), addr()
    with pts.engine.begin() as conn:
        credit(conn, b, 1000, "social", "before-referral", "points before the referral pay nothing")
    refer(pts, a, b)
    refer(pts, b, c)
    later = datetime.now(UTC) + timedelta(minutes=5)  # past the settling delay of fresh rows
    check_in(pts.engine, b, at("2026-05-01T12:00:00"))  # 5 points
    credit_sources(pts.engine, pts.settings, later)
    assert total(pts.engine, a) == 0  # 10 % of 5 rounds down to 0
    with pts.engine.begin() as conn:
        credit(conn, b, 9, "social", "b-9", "nine more")  # b's eligible total: 14
        credit(conn, c, 100, "social", "c-100", "c's points")
    credit_sources(pts.engine, pts.settings, later)
    credit_sources(pts.engine, pts.settings, later)  # replays pay nothing twice
    assert total(pts.engine, a) == 1  # floor(14 × 10 %); nothing from c (two levels down) nor b's bonus
    assert total(pts.engine, b) == 1000 + 14 + 10  # b earned 10 % of c's 100
    with pts.engine.connect() as conn:
        row = conn.execute(select(referrals).where(referrals.c.referee == b)).one()
    assert (row.eligible_total, row.paid) == (14, 1)


def test_the_referral_bonus_follows_a_void_of_the_referees_points(pts) -> None:
    a, b = addr(), addr()
    refer(pts, a, b)
    with pts.engine.begin() as conn:
        big = credit(conn, b, 200, "social", "b-200", "b's points")
        credit(conn, b, 50, "social", "b-50", "b's points")
    later = datetime.now(UTC) + timedelta(minutes=5)
    credit_sources(pts.engine, pts.settings, later)
    assert total(pts.engine, a) == 25
    void_entry(pts.engine, pts.admin, big, "bought followers")
    credit_sources(pts.engine, pts.settings, later)
    assert total(pts.engine, a) == 5  # 10 % of the 50 left
    [claw] = ledger(pts.engine, a, "void")
    assert claw.points == -20 and claw.source_key.startswith(f"referral:{b}:")
    credit_sources(pts.engine, pts.settings, later)
    assert total(pts.engine, a) == 5


def test_gpus_reported_without_a_uuid_earn_as_a_cpu_node(pts) -> None:
    op = addr()
    now = datetime.now(UTC)
    pts.heartbeat(3, op, now, gpus=[("NVIDIA GeForce RTX 5090", "")])  # no UUID: the claim rule cannot apply
    job = pts.job(addr())
    pts.task(job, 1, [1], node_id=3, ref_minutes=4.0, frame_state="accepted")
    credit_sources(pts.engine, pts.settings, now)
    [row] = ledger(pts.engine, op, "render")
    assert row.points == 10 and "without a UUID" in row.reason  # 4 × 0.25 × 10, not × 4.20


# ----------------------------------------------------------------------------- the pass


def test_a_second_pass_at_once_is_skipped_and_the_plain_entry_point_works(pts) -> None:
    from sqlalchemy import text

    from rewards.sources import CREDIT_LOCK

    creator = addr()
    done = pts.job(creator, state="completed")
    pts.task(done, 1, [1], node_id=None, ref_minutes=1.0)
    with pts.engine.connect() as holder:
        assert holder.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": CREDIT_LOCK}).scalar_one()
        assert credit_sources(pts.engine, pts.settings) == {"skipped": True}
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": CREDIT_LOCK})
        holder.commit()
    assert ledger(pts.engine, creator) == []
    result = credit_sources(pts.engine)  # what the scheduler calls: the process settings
    assert result["job"] == 1
    assert [r.points for r in ledger(pts.engine, creator)] == [20]


def test_a_liveness_render_run_elsewhere_settles_a_pending_check_once(pts) -> None:
    from rewards.sources import record_liveness_result

    op = addr()
    day = at("2026-04-05T00:00:00")
    settings = pts.settings.model_copy(update={"rewards_liveness_idle_s": 3600, "rewards_liveness_deadline_s": 7200})
    observe_with = [day + timedelta(minutes=5 * i) for i in range(0, 13)]  # 00:00 → 01:00
    for t in observe_with:
        pts.heartbeat(4, op, t)
        credit_sources(pts.engine, settings, t)
    with pts.engine.connect() as conn:
        [check] = conn.execute(select(liveness_checks)).all()
    assert check.status == "pending"
    assert record_liveness_result(pts.engine, check.check_id, False, "the liveness frame did not match")
    assert not record_liveness_result(pts.engine, check.check_id, True, "too late: already settled")
    credit_sources(pts.engine, settings, at("2026-04-06T00:01:00"))
    assert ledger(pts.engine, op) == []
    [w] = withheld(pts.engine, "online")
    assert f"failed liveness check {check.check_id}" in w.reason
