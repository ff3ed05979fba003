"""The scanned point sources: renders, online time, jobs and referral bonuses, with the GPU and liveness rules.

:func:`credit_sources` is one idempotent pass (a scheduler job calls it periodically): it observes node
heartbeats (GPU claims, online seconds per UTC day), requests and resolves liveness checks, then credits
settled frames, closed node-days, completed jobs and referral bonuses. Every credit is keyed, so a pass that
crashes halfway or runs twice counts nothing twice; two passes at once are kept apart by an advisory lock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Engine, Text, and_, cast, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from pictor.settings import Settings, get_settings
from rewards.gpu_table import CPU_POINTS_WEIGHT, gpu_points_weight
from rewards.points import REFERRAL_PERCENT, credit, sweep_rate_events, utc_day, utcnow, withhold
from tables.jobs import frames, jobs, node_status, tasks
from tables.points import (
    gpu_claims,
    liveness_checks,
    node_online,
    node_online_days,
    points_ledger,
    points_withheld,
    referrals,
)

log = logging.getLogger(__name__)

#: Render points per reference-minute at points weight 1.00 (the table's points weights are in hundredths).
RENDER_POINTS_PER_REF_MINUTE = 10
#: Online points per full hour online, and the most one node earns per UTC day.
ONLINE_POINTS_PER_HOUR = 2
ONLINE_DAILY_CAP_POINTS = 40
#: Points of a creator's successfully rendered job.
JOB_POINTS = 20
#: Ledger rows younger than this are left to the next referral scan (a transaction may still be committing
#: a row with a lower id: scanning only settled rows keeps the running totals exact).
REFERRAL_SETTLE_S = 30
#: Frame states that count as rendered for rewards once the creator cannot reject them any more.
SETTLED_AFTER_REVIEW = ("rendered", "verified")
#: Key of the advisory lock held by a credit pass.
CREDIT_LOCK = 0x5049_4354_4352  # "PICTCR"


# ----------------------------------------------------------------------------- GPUs: one GPU, one worker


def _gpus(telemetry: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in telemetry.get("gpus") or [] if isinstance(g, dict)]


def _fingerprint(telemetry: dict[str, Any]) -> str | None:
    """The benchmark fingerprint the node reports (None when it reports none)."""
    bench = telemetry.get("benchmark")
    value = bench.get("fingerprint") if isinstance(bench, dict) else None
    return str(value)[:128] if isinstance(value, str) and value else None


def hardware_keys(telemetry: dict[str, Any]) -> list[tuple[str, str]]:
    """The claims a heartbeat makes: each GPU's UUID and the benchmark fingerprint, as (kind, key)."""
    keys = [
        ("gpu_uuid", str(g["uuid"])[:128]) for g in _gpus(telemetry) if isinstance(g.get("uuid"), str) and g["uuid"]
    ]
    fingerprint = _fingerprint(telemetry)
    if fingerprint:
        keys.append(("fingerprint", fingerprint))
    return keys


def claim_hardware(conn: Any, node_id: int, operator: str, telemetry: dict[str, Any], now: datetime) -> None:
    """Claim the node's GPUs and fingerprint for it; a key another node claimed first stays that node's."""
    for kind, key in hardware_keys(telemetry):
        conn.execute(
            pg_insert(gpu_claims)
            .values(kind=kind, key=key, node_id=node_id, operator=operator, claimed_at=now)
            .on_conflict_do_nothing()
        )


@dataclass(frozen=True)
class Standing:
    """What a node earns for: its points weight (hundredths) and the GPU named, or why it earns nothing."""

    weight: int | None
    hardware: str
    refused: str | None = None


def standing(conn: Any, node_id: int, telemetry: dict[str, Any]) -> Standing:
    """A node's standing: its fastest GPU counted for it, or the CPU points weight; refused for a duplicate."""
    keys = hardware_keys(telemetry)
    owners = {}
    if keys:
        rows = conn.execute(
            select(gpu_claims.c.kind, gpu_claims.c.key, gpu_claims.c.node_id).where(
                or_(*(and_(gpu_claims.c.kind == k, gpu_claims.c.key == v) for k, v in keys))
            )
        ).all()
        owners = {(r.kind, r.key): int(r.node_id) for r in rows}
    fingerprint = _fingerprint(telemetry)
    other = owners.get(("fingerprint", fingerprint)) if fingerprint else None
    if other is not None and other != node_id:
        return Standing(
            None,
            "",
            f"its benchmark fingerprint {fingerprint} is counted for node {other} (one machine earns for one worker)",
        )
    # A GPU reported without its UUID cannot be claimed, so it cannot count: such a node earns as a CPU node.
    gpus = [g for g in _gpus(telemetry) if isinstance(g.get("uuid"), str) and g["uuid"]]
    if not gpus:
        return Standing(CPU_POINTS_WEIGHT, "CPU" if not _gpus(telemetry) else "CPU (GPUs reported without a UUID)")
    counted, taken = [], []
    for gpu in gpus:
        uuid = str(gpu["uuid"])[:128]
        owner = owners.get(("gpu_uuid", uuid))
        if owner is not None and owner != node_id:
            taken.append((uuid, owner))
        else:
            counted.append(str(gpu.get("name") or "unknown GPU"))
    if not counted:
        uuid, owner = taken[0]
        return Standing(None, "", f"GPU {uuid} is counted for node {owner} (one GPU earns for one worker)")
    best = max(counted, key=gpu_points_weight)
    return Standing(gpu_points_weight(best), best)


# ----------------------------------------------------------------------------- online time


def _add_online(conn: Any, node_id: int, operator: str, start: datetime, end: datetime) -> None:
    """Add the interval [start, end) to the node's online seconds, split at UTC midnights."""
    cursor = start
    while cursor < end:
        day = utc_day(cursor.astimezone(UTC).date())
        upto = min(end, day.end)
        seconds = int((upto - cursor).total_seconds())
        if seconds > 0:
            conn.execute(
                pg_insert(node_online_days)
                .values(node_id=node_id, day=day.day, operator=operator, seconds=seconds)
                .on_conflict_do_update(
                    index_elements=["node_id", "day"],
                    set_={"seconds": func.least(node_online_days.c.seconds + seconds, 86400)},
                )
            )
        cursor = upto


def observe_nodes(conn: Any, settings: Settings, now: datetime) -> int:
    """Read every node's last heartbeat: claim its hardware, and count the time since the last observation as
    online when the gap is at most ``rewards_online_max_gap_s``. How many nodes were seen."""
    rows = conn.execute(
        select(
            node_status.c.node_id, node_status.c.operator, node_status.c.telemetry, node_status.c.last_seen
        ).order_by(node_status.c.node_id)
    ).all()
    tracked = {r.node_id: r for r in conn.execute(select(node_online).with_for_update()).all()}
    max_gap = timedelta(seconds=settings.rewards_online_max_gap_s)
    for row in rows:
        claim_hardware(conn, row.node_id, row.operator, row.telemetry or {}, now)
        seen = min(row.last_seen, now)
        before = tracked.get(row.node_id)
        if before is None:
            conn.execute(
                insert(node_online).values(
                    node_id=row.node_id, operator=row.operator, last_seen=seen, online_since=seen
                )
            )
            continue
        if seen <= before.last_seen:
            continue
        if seen - before.last_seen <= max_gap:
            _add_online(conn, row.node_id, row.operator, before.last_seen, seen)
            since = before.online_since
        else:
            since = seen  # it was away: a new unbroken run starts here
        conn.execute(
            update(node_online)
            .where(node_online.c.node_id == row.node_id)
            .values(last_seen=seen, online_since=since, operator=row.operator)
        )
    return len(rows)


# ----------------------------------------------------------------------------- liveness checks


def request_liveness_checks(conn: Any, settings: Settings, now: datetime) -> list[int]:
    """Ask a liveness render of nodes online for ``rewards_liveness_idle_s`` without work in that time and
    without a recent check; the new checks' ids."""
    idle = now - timedelta(seconds=settings.rewards_liveness_idle_s)
    online = now - timedelta(seconds=settings.node_online_s)
    busy = exists().where(
        tasks.c.node_id == node_online.c.node_id, or_(tasks.c.updated_at >= idle, tasks.c.completed_at >= idle)
    )
    checked = exists().where(
        liveness_checks.c.node_id == node_online.c.node_id,
        or_(liveness_checks.c.requested_at >= idle, liveness_checks.c.status == "pending"),
    )
    rows = conn.execute(
        select(node_online.c.node_id, node_online.c.operator).where(
            node_online.c.last_seen >= online, node_online.c.online_since <= idle, ~busy, ~checked
        )
    ).all()
    deadline = now + timedelta(seconds=settings.rewards_liveness_deadline_s)
    made = []
    for row in rows:
        made.append(
            conn.execute(
                insert(liveness_checks)
                .values(
                    node_id=row.node_id,
                    operator=row.operator,
                    requested_at=now,
                    deadline=deadline,
                    status="pending",
                )
                .returning(liveness_checks.c.check_id)
            ).scalar_one()
        )
    return made


def resolve_liveness_checks(conn: Any, now: datetime) -> dict[str, int]:
    """Pass a pending check whose node completed a render since it was asked; fail it at its deadline — unless
    no node rendered anything in that window (no work to give: the check is excused)."""
    counts = {"passed": 0, "failed": 0, "excused": 0}
    pending = conn.execute(
        select(liveness_checks)
        .where(liveness_checks.c.status == "pending")
        .order_by(liveness_checks.c.check_id)
        .with_for_update(skip_locked=True)
    ).all()
    for check in pending:
        rendered = conn.execute(
            select(tasks.c.task_id)
            .where(
                tasks.c.node_id == check.node_id,
                tasks.c.state == "rendered",
                tasks.c.completed_at >= check.requested_at,
                tasks.c.completed_at <= check.deadline,
            )
            .limit(1)
        ).first()
        if rendered is not None:
            status, reason = "passed", f"rendered task {rendered.task_id} after the check was asked"
        elif now <= check.deadline:
            continue
        elif check.challenge is not None:
            # rewards/liveness.py issued a liveness render: the node was asked for work it could do, so silence
            # fails the check even when the network had no jobs to give.
            status, reason = "failed", f"no answer to the liveness render asked before {check.deadline.isoformat()}"
        elif (
            conn.execute(
                select(tasks.c.task_id)
                .where(
                    tasks.c.state == "rendered",
                    tasks.c.completed_at >= check.requested_at,
                    tasks.c.completed_at <= check.deadline,
                )
                .limit(1)
            ).first()
            is None
        ):
            status, reason = "excused", "no node rendered anything while the check was open (no work to give)"
        else:
            status, reason = (
                "failed",
                (
                    f"heartbeats but no render between {check.requested_at.isoformat()} and "
                    f"{check.deadline.isoformat()} while other nodes rendered"
                ),
            )
        conn.execute(
            update(liveness_checks)
            .where(liveness_checks.c.check_id == check.check_id)
            .values(status=status, resolved_at=now, reason=reason)
        )
        counts[status] += 1
    return counts


def record_liveness_result(
    engine: Engine,
    check_id: int,
    passed: bool,
    reason: str,
    now: datetime | None = None,
    *,
    evidence: dict[str, Any] | None = None,
) -> bool:
    """Settle a pending check from a liveness render run elsewhere (a checker); False when not pending."""
    with engine.begin() as conn:
        return bool(
            conn.execute(
                update(liveness_checks)
                .where(
                    liveness_checks.c.check_id == check_id,
                    liveness_checks.c.status == "pending",
                )
                .values(
                    status="passed" if passed else "failed",
                    resolved_at=now or utcnow(),
                    reason=reason,
                    evidence=evidence,
                )
            ).rowcount
        )


# ----------------------------------------------------------------------------- crediting


def _not_seen(source: str, key: Any) -> Any:
    """SQL: neither credited nor withheld yet for (source, key)."""
    return and_(
        ~exists().where(points_ledger.c.source == source, points_ledger.c.source_key == key),
        ~exists().where(points_withheld.c.source == source, points_withheld.c.source_key == key),
    )


def render_points(ref_minutes: Fraction, weight: int) -> int:
    """Reference-minutes × points weight (hundredths) × points per reference-minute, rounded down."""
    return int(ref_minutes * weight * RENDER_POINTS_PER_REF_MINUTE // 100)


def credit_renders(conn: Any, settings: Settings, now: datetime, limit: int = 5000) -> int:
    """Credit each settled frame to the operator of the node that rendered it (key ``task:<t>:frame:<f>``).

    A frame is settled when the creator accepted it, or when it is rendered/verified and its review window
    is over (a rejected frame moves to a new task, so its old task earns nothing)."""
    key = literal("task:") + cast(tasks.c.task_id, Text) + literal(":frame:") + cast(frames.c.frame, Text)
    window = timedelta(seconds=settings.review_window_s)
    rows = conn.execute(
        select(
            frames.c.job_id,
            frames.c.frame,
            tasks.c.task_id,
            tasks.c.node_id,
            tasks.c.ref_minutes,
            func.cardinality(tasks.c.frames).label("n"),
            node_status.c.operator,
            node_status.c.telemetry,
            key.label("key"),
        )
        .select_from(
            frames.join(tasks, tasks.c.task_id == frames.c.task_id).join(
                node_status, node_status.c.node_id == tasks.c.node_id
            )
        )
        .where(
            tasks.c.state == "rendered",
            or_(
                frames.c.state == "accepted",
                and_(frames.c.state.in_(SETTLED_AFTER_REVIEW), frames.c.rendered_at < now - window),
            ),
            _not_seen("render", key),
        )
        .order_by(tasks.c.task_id, frames.c.frame)
        .limit(limit)
    ).all()
    done = 0
    standings: dict[int, Standing] = {}
    for r in rows:
        if r.node_id not in standings:
            standings[r.node_id] = standing(conn, r.node_id, r.telemetry or {})
        stand = standings[r.node_id]
        what = f"frame {r.frame} of job {r.job_id} (task {r.task_id}, node {r.node_id})"
        if stand.weight is None:
            withhold(conn, r.operator, "render", r.key, f"{what} earns nothing: {stand.refused}", now)
            continue
        ref = Fraction(r.ref_minutes) / max(1, r.n)
        points = render_points(ref, stand.weight)
        rule = (
            f"{float(ref):.3f} reference-minutes × {stand.weight / 100:.2f} ({stand.hardware}) × "
            f"{RENDER_POINTS_PER_REF_MINUTE}"
        )
        if points <= 0:
            withhold(conn, r.operator, "render", r.key, f"{what}: {rule} is less than one point", now)
            continue
        if credit(conn, r.operator, points, "render", r.key, f"rendered {what}: {rule}", now) is not None:
            done += 1
    return done


def online_points(seconds: int) -> int:
    """Points of one node-day: full hours × points per hour, capped."""
    return min(ONLINE_DAILY_CAP_POINTS, seconds * ONLINE_POINTS_PER_HOUR // 3600)


def credit_online(conn: Any, now: datetime) -> int:
    """Credit each node's closed UTC days of online time (key ``node:<id>:<day>``) to its operator.

    A day waits while a liveness check asked that day is pending; a failed check withholds the day, as does
    a node whose GPUs or fingerprint are counted for another node."""
    today = now.astimezone(UTC).date()
    key = literal("node:") + cast(node_online_days.c.node_id, Text) + literal(":") + cast(node_online_days.c.day, Text)
    rows = conn.execute(
        select(node_online_days, key.label("key"), node_status.c.telemetry)
        .select_from(node_online_days.outerjoin(node_status, node_status.c.node_id == node_online_days.c.node_id))
        .where(node_online_days.c.day < today, _not_seen("online", key))
        .order_by(node_online_days.c.day, node_online_days.c.node_id)
    ).all()
    done = 0
    for r in rows:
        span = utc_day(r.day)
        checks = conn.execute(
            select(liveness_checks.c.check_id, liveness_checks.c.status).where(
                liveness_checks.c.node_id == r.node_id,
                liveness_checks.c.requested_at >= span.start,
                liveness_checks.c.requested_at < span.end,
            )
        ).all()
        if any(c.status == "pending" for c in checks):
            continue  # decided when the check is
        what = f"node {r.node_id} online {r.seconds} s on {r.day.isoformat()}"
        failed = [c.check_id for c in checks if c.status == "failed"]
        if failed:
            withhold(
                conn, r.operator, "online", r.key, f"{what} earns nothing: it failed liveness check {failed[0]}", now
            )
            continue
        stand = standing(conn, r.node_id, r.telemetry or {})
        if stand.weight is None:
            withhold(conn, r.operator, "online", r.key, f"{what} earns nothing: {stand.refused}", now)
            continue
        points = online_points(r.seconds)
        if points <= 0:
            withhold(conn, r.operator, "online", r.key, f"{what}: less than one point", now)
            continue
        rule = f"{ONLINE_POINTS_PER_HOUR} per full hour, at most {ONLINE_DAILY_CAP_POINTS} a day"
        if credit(conn, r.operator, points, "online", r.key, f"{what} ({rule})", now) is not None:
            done += 1
    return done


def credit_jobs(conn: Any, now: datetime, limit: int = 5000) -> int:
    """Credit each completed job without failed frames to its creator (key ``job:<id>``)."""
    key = literal("job:") + cast(jobs.c.job_id, Text)
    failed = exists().where(frames.c.job_id == jobs.c.job_id, frames.c.state == "failed")
    rows = conn.execute(
        select(jobs.c.job_id, jobs.c.owner, key.label("key"), failed.label("failed"))
        .where(jobs.c.state == "completed", _not_seen("job", key))
        .order_by(jobs.c.job_id)
        .limit(limit)
    ).all()
    done = 0
    for r in rows:
        if r.failed:
            withhold(
                conn, r.owner, "job", r.key, f"job {r.job_id} completed with failed frames: no creator points", now
            )
        elif credit(conn, r.owner, JOB_POINTS, "job", r.key, f"job {r.job_id} rendered successfully", now):
            done += 1
    return done


def referral_bonus(total: int) -> int:
    """The bonus a referee's eligible points pay: 10 %, rounded down, never below zero."""
    return max(0, total) * REFERRAL_PERCENT // 100


def credit_referrals(conn: Any, now: datetime) -> int:
    """Pay each referrer 10 % of its referees' points since the referral (one level: referral bonuses and their
    voids do not count); the bonus follows voids of the referee's points, down as well as up."""
    horizon = conn.execute(
        select(func.coalesce(func.max(points_ledger.c.entry_id), 0)).where(
            points_ledger.c.created_at < now - timedelta(seconds=REFERRAL_SETTLE_S)
        )
    ).scalar_one()
    rows = conn.execute(
        select(
            referrals.c.referee,
            points_ledger.c.entry_id,
            points_ledger.c.source,
            points_ledger.c.source_key,
            points_ledger.c.points,
        )
        .select_from(
            referrals.join(
                points_ledger,
                and_(
                    points_ledger.c.address == referrals.c.referee,
                    points_ledger.c.entry_id > referrals.c.scanned_upto,
                    points_ledger.c.entry_id <= horizon,
                ),
            )
        )
        .order_by(points_ledger.c.entry_id)
    ).all()
    if not rows:
        return 0
    new: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        new[r.referee].append(r)
    voided_ids = {
        int(r.source_key.split(":", 1)[1])
        for r in rows
        if r.source == "void" and r.source_key.startswith("entry:") and r.source_key[6:].isdigit()
    }
    voided = (
        {
            v.entry_id: v
            for v in conn.execute(
                select(points_ledger.c.entry_id, points_ledger.c.source, points_ledger.c.address).where(
                    points_ledger.c.entry_id.in_(voided_ids)
                )
            ).all()
        }
        if voided_ids
        else {}
    )
    done = 0
    for referee, entries in new.items():
        ref = conn.execute(select(referrals).where(referrals.c.referee == referee).with_for_update()).first()
        entries = [e for e in entries if e.entry_id > ref.scanned_upto]
        if not entries:
            continue
        delta = 0
        for e in entries:
            if e.source not in ("referral", "void"):
                delta += e.points
            elif e.source == "void" and e.source_key.startswith("entry:") and e.source_key[6:].isdigit():
                target = voided.get(int(e.source_key[6:]))
                if (
                    target is not None
                    and target.entry_id > ref.start_entry_id
                    and target.address == referee
                    and target.source not in ("referral", "void")
                ):
                    delta += e.points
        upto = max(e.entry_id for e in entries)
        total = ref.eligible_total + delta
        due = referral_bonus(total)
        diff = due - ref.paid
        if diff > 0:
            credit(
                conn,
                ref.referrer,
                diff,
                "referral",
                f"{referee}:{upto}",
                f"{REFERRAL_PERCENT}% of referee {referee}'s points (total {total}, entries up to {upto})",
                now,
            )
            done += 1
        elif diff < 0:
            credit(
                conn,
                ref.referrer,
                diff,
                "void",
                f"referral:{referee}:{upto}",
                f"referral bonus of {referee} follows a void of its points (total {total})",
                now,
            )
            done += 1
        conn.execute(
            update(referrals)
            .where(referrals.c.referee == referee)
            .values(scanned_upto=upto, eligible_total=total, paid=due)
        )
    return done


# ----------------------------------------------------------------------------- the pass


def credit_sources(engine: Engine, settings: Settings | None = None, now: datetime | None = None) -> dict[str, Any]:
    """One idempotent credit pass over heartbeats, tasks, jobs and referrals (what a scheduler job calls).

    Answers counts per step, or ``{"skipped": True}`` when another pass holds the lock."""
    settings = settings or get_settings()
    now = now or utcnow()
    with engine.connect() as lock_conn:
        got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": CREDIT_LOCK}).scalar_one()
        lock_conn.commit()
        if not got:
            return {"skipped": True}
        try:
            result: dict[str, Any] = {}
            # Each step is its own transaction: a crash keeps what earlier steps committed, and replays the rest.
            with engine.begin() as conn:
                result["nodes"] = observe_nodes(conn, settings, now)
            with engine.begin() as conn:
                result["liveness"] = resolve_liveness_checks(conn, now)
                result["liveness_requested"] = len(request_liveness_checks(conn, settings, now))
            with engine.begin() as conn:
                result["render"] = credit_renders(conn, settings, now)
            with engine.begin() as conn:
                result["online"] = credit_online(conn, now)
            with engine.begin() as conn:
                result["job"] = credit_jobs(conn, now)
            with engine.begin() as conn:
                result["referral"] = credit_referrals(conn, now)
            with engine.begin() as conn:
                sweep_rate_events(conn, now)
            return result
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": CREDIT_LOCK})
            lock_conn.commit()


def node_days(engine: Engine, node_id: int) -> dict[date, int]:
    """A node's online seconds per UTC day (for reports and tests)."""
    with engine.connect() as conn:
        return {
            r.day: r.seconds
            for r in conn.execute(
                select(node_online_days.c.day, node_online_days.c.seconds).where(node_online_days.c.node_id == node_id)
            )
        }
