"""The points ledger and the sources a user triggers: check-ins, social claims, referrals; admin voids and audit.

Every credit is one append-only ledger row, unique per ``(source, source_key)``, so a replayed request or scan
never counts twice. The scanned sources (renders, online time, jobs, referral bonuses) are in
:mod:`rewards.sources`; the rules and numbers are documented in ``rewards/README.md``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tables.points import (
    admin_audit_log,
    checkins,
    points_ledger,
    points_withheld,
    rate_events,
    referral_codes,
    referrals,
    social_claims,
)

# ----------------------------------------------------------------------------- the point rules

#: Check-in: base points, plus one per consecutive day before today, up to this many extra.
CHECKIN_POINTS = 5
CHECKIN_STREAK_MAX_BONUS = 5
#: Points of an approved social task.
SOCIAL_POINTS = 5
#: A referrer earns this percent of each referee's points (floor of the running total).
REFERRAL_PERCENT = 10

#: Social tasks: name → (what to do, hosts a proof URL may point at).
SOCIAL_TASKS: dict[str, tuple[str, frozenset[str]]] = {
    "follow-x": ("Follow @PictorNetwork on X", frozenset({"x.com", "twitter.com"})),
    "repost-launch": ("Repost the launch announcement on X", frozenset({"x.com", "twitter.com"})),
    "join-discord": ("Join the Pictor Discord", frozenset({"discord.com", "discord.gg"})),
    "join-telegram": ("Join the Pictor Telegram group", frozenset({"t.me", "telegram.me"})),
    "star-github": ("Star the Pictor repository on GitHub", frozenset({"github.com"})),
}

#: Rate limits per address: action → ((most requests, window seconds), …). Every request counts, refused or not.
RATE_LIMITS: dict[str, tuple[tuple[int, int], ...]] = {
    "checkin": ((5, 3600),),
    "social": ((3, 3600), (10, 86400)),
    "referral": ((5, 3600), (20, 86400)),  # guessing codes
}

#: Referral codes: unambiguous upper-case letters and digits.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8

#: Key of the advisory lock that serializes referral changes (loops are checked against a stable graph).
REFERRAL_LOCK = 0x5049_4354_5246  # "PICTRF"


class RewardsError(Exception):
    """A refused request: an HTTP status and a message a person understands."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def utcnow() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- the ledger


def credit(
    conn: Any, address: str, points: int, source: str, source_key: str, reason: str, at: datetime | None = None
) -> int | None:
    """Append one ledger row; its entry id, or None when ``(source, source_key)`` was already credited."""
    if source != "void" and points < 0:
        raise ValueError("only voids carry negative points")
    values: dict[str, Any] = {
        "address": address,
        "points": int(points),
        "source": source,
        "source_key": source_key[:200],
        "reason": reason,
    }
    if at is not None:
        values["created_at"] = at
    return conn.execute(
        pg_insert(points_ledger)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source", "source_key"])
        .returning(points_ledger.c.entry_id)
    ).scalar_one_or_none()


def withhold(conn: Any, address: str, source: str, source_key: str, reason: str, now: datetime) -> bool:
    """Record that a source event earned nothing, and why (once per event); whether it was new."""
    return bool(
        conn.execute(
            pg_insert(points_withheld)
            .values(source=source, source_key=source_key[:200], address=address, reason=reason, created_at=now)
            .on_conflict_do_nothing(index_elements=["source", "source_key"])
        ).rowcount
    )


def total_points(conn: Any, address: str) -> int:
    """The sum of an address's ledger rows."""
    return int(
        conn.execute(
            select(func.coalesce(func.sum(points_ledger.c.points), 0)).where(points_ledger.c.address == address)
        ).scalar_one()
    )


def ledger_page(engine: Engine, address: str, limit: int, before: int | None) -> dict[str, Any]:
    """An address's ledger, newest first (``before``: an entry id cursor), its total and recent withheld events."""
    with engine.connect() as conn:
        query = select(points_ledger).where(points_ledger.c.address == address)
        if before is not None:
            query = query.where(points_ledger.c.entry_id < before)
        rows = conn.execute(query.order_by(points_ledger.c.entry_id.desc()).limit(limit + 1)).all()
        withheld = conn.execute(
            select(points_withheld)
            .where(points_withheld.c.address == address)
            .order_by(points_withheld.c.created_at.desc())
            .limit(20)
        ).all()
        total = total_points(conn, address)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "address": address,
        "total": total,
        "entries": [
            {
                "entry_id": r.entry_id,
                "points": r.points,
                "source": r.source,
                "source_key": r.source_key,
                "reason": r.reason,
                "created_at": r.created_at,
            }
            for r in rows
        ],
        "next_before": rows[-1].entry_id if more else None,
        "withheld": [
            {"source": w.source, "source_key": w.source_key, "reason": w.reason, "created_at": w.created_at}
            for w in withheld
        ],
    }


def audit(conn: Any, admin: str, action: str, target: str, reason: str, details: dict[str, Any], now: datetime) -> int:
    """Append one admin audit row; its id."""
    return conn.execute(
        insert(admin_audit_log)
        .values(
            admin=admin,
            action=action,
            target=target[:200],
            reason=reason,
            details=details,
            created_at=now,
        )
        .returning(admin_audit_log.c.audit_id)
    ).scalar_one()


def void_entry(engine: Engine, admin: str, entry_id: int, reason: str, now: datetime | None = None) -> dict[str, Any]:
    """Void one ledger entry: a new negative row (source ``void``, key ``entry:<id>``) and an audit row."""
    now = now or utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(points_ledger).where(points_ledger.c.entry_id == entry_id)).first()
        if row is None:
            raise RewardsError(404, f"ledger entry {entry_id} does not exist")
        if row.source == "void":
            raise RewardsError(400, f"entry {entry_id} is itself a void; voids cannot be voided")
        if row.points <= 0:
            raise RewardsError(400, f"entry {entry_id} carries {row.points} points; there is nothing to void")
        void_id = credit(
            conn,
            row.address,
            -int(row.points),
            "void",
            f"entry:{entry_id}",
            f"void of entry {entry_id} ({row.source}, {row.points} points): {reason}",
            now,
        )
        if void_id is None:
            raise RewardsError(409, f"entry {entry_id} is already voided")
        audit_id = audit(
            conn,
            admin,
            "void",
            f"entry:{entry_id}",
            reason,
            {
                "address": row.address,
                "points": int(row.points),
                "source": row.source,
                "source_key": row.source_key,
                "void_entry_id": void_id,
            },
            now,
        )
    return {
        "entry_id": entry_id,
        "void_entry_id": void_id,
        "address": row.address,
        "points": -int(row.points),
        "audit_id": audit_id,
    }


# ----------------------------------------------------------------------------- rate limits


def rate_limit(engine: Engine, address: str, action: str, now: datetime | None = None) -> None:
    """Count one request of ``address`` for ``action``; RewardsError 429 when a window is already full."""
    now = now or utcnow()
    limits = RATE_LIMITS[action]
    with engine.begin() as conn:
        # One counter per (address, action): concurrent requests must not both see a free slot.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"rate:{action}:{address}"})
        for most, window in limits:
            since = now - timedelta(seconds=window)
            used = conn.execute(
                select(func.count())
                .select_from(rate_events)
                .where(
                    rate_events.c.address == address,
                    rate_events.c.action == action,
                    rate_events.c.at > since,
                )
            ).scalar_one()
            if used >= most:
                raise RewardsError(
                    429, f"too many {action} requests: at most {most} per {_span(window)}; try again later"
                )
        conn.execute(insert(rate_events).values(address=address, action=action, at=now))


def sweep_rate_events(conn: Any, now: datetime) -> int:
    """Delete request counts older than the longest window (a day)."""
    longest = max(window for limits in RATE_LIMITS.values() for _, window in limits)
    return conn.execute(rate_events.delete().where(rate_events.c.at < now - timedelta(seconds=longest))).rowcount


def _span(seconds: int) -> str:
    """'hour', 'day' or 'N s'."""
    return {3600: "hour", 86400: "day"}.get(seconds, f"{seconds} s")


# ----------------------------------------------------------------------------- check-ins


def checkin_points(streak: int) -> int:
    """Points of a check-in on day ``streak`` of a streak (1-based)."""
    return CHECKIN_POINTS + min(streak - 1, CHECKIN_STREAK_MAX_BONUS)


def check_in(engine: Engine, address: str, now: datetime | None = None) -> dict[str, Any]:
    """Check in for the current UTC day: once a day; the streak continues from yesterday's check-in."""
    now = now or utcnow()
    day = now.astimezone(UTC).date()
    tomorrow = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"checkin:{address}"})
        if conn.execute(select(checkins.c.day).where(checkins.c.address == address, checkins.c.day == day)).first():
            raise RewardsError(
                409,
                f"already checked in for {day.isoformat()} (UTC); the next check-in opens at "
                f"{tomorrow.isoformat().replace('+00:00', 'Z')}",
            )
        previous = conn.execute(
            select(checkins.c.streak).where(checkins.c.address == address, checkins.c.day == day - timedelta(days=1))
        ).scalar_one_or_none()
        streak = (previous or 0) + 1
        points = checkin_points(streak)
        conn.execute(insert(checkins).values(address=address, day=day, streak=streak, points=points, created_at=now))
        entry = credit(
            conn,
            address,
            points,
            "checkin",
            f"{address}:{day.isoformat()}",
            f"daily check-in {day.isoformat()} (streak day {streak})",
            now,
        )
    return {"day": day.isoformat(), "streak": streak, "points": points, "entry_id": entry, "next_checkin_at": tomorrow}


# ----------------------------------------------------------------------------- social tasks


def social_tasks() -> list[dict[str, Any]]:
    """The social tasks, their points and where a proof may point."""
    return [
        {"task": name, "description": desc, "points": SOCIAL_POINTS, "proof_hosts": sorted(hosts)}
        for name, (desc, hosts) in SOCIAL_TASKS.items()
    ]


def check_proof_url(task: str, proof_url: str) -> str:
    """The proof URL, stripped, when it is an https link to one of the task's hosts; RewardsError 400 otherwise."""
    _, hosts = SOCIAL_TASKS[task]
    url = proof_url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise RewardsError(400, "the proof is not a URL") from None
    if parts.scheme != "https" or not host:
        raise RewardsError(400, "the proof must be an https:// link")
    if parts.username or parts.password:
        raise RewardsError(400, "the proof URL must not carry credentials")
    if not any(host == h or host.endswith("." + h) for h in hosts):
        raise RewardsError(400, f"a proof of {task} must link to {' or '.join(sorted(hosts))}, not {host}")
    return url


def claim_social(
    engine: Engine, address: str, task: str, proof_url: str, now: datetime | None = None
) -> dict[str, Any]:
    """Record a pending claim of a social task with its proof (one per task per address)."""
    now = now or utcnow()
    if task not in SOCIAL_TASKS:
        raise RewardsError(404, f"unknown social task {task[:40]!r}; the tasks are {', '.join(SOCIAL_TASKS)}")
    url = check_proof_url(task, proof_url)
    with engine.begin() as conn:
        claim_id = conn.execute(
            pg_insert(social_claims)
            .values(address=address, task=task, proof_url=url, status="pending", created_at=now)
            .on_conflict_do_nothing(constraint="social_claims_once")
            .returning(social_claims.c.claim_id)
        ).scalar_one_or_none()
    if claim_id is None:
        raise RewardsError(409, f"{task} is already claimed by this account (one claim per task)")
    return {"claim_id": claim_id, "task": task, "proof_url": url, "status": "pending"}


def my_social_claims(engine: Engine, address: str) -> list[dict[str, Any]]:
    """An address's social claims."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(social_claims).where(social_claims.c.address == address).order_by(social_claims.c.claim_id)
        ).all()
    return [_claim(r) for r in rows]


def list_social_claims(engine: Engine, status: str | None, limit: int, after: int | None) -> list[dict[str, Any]]:
    """Social claims for review, oldest first (``after``: a claim id cursor)."""
    query = select(social_claims)
    if status is not None:
        query = query.where(social_claims.c.status == status)
    if after is not None:
        query = query.where(social_claims.c.claim_id > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(social_claims.c.claim_id).limit(limit)).all()
    return [_claim(r) for r in rows]


def _claim(r: Any) -> dict[str, Any]:
    return {
        "claim_id": r.claim_id,
        "address": r.address,
        "task": r.task,
        "proof_url": r.proof_url,
        "status": r.status,
        "created_at": r.created_at,
        "reviewed_at": r.reviewed_at,
        "reviewer": r.reviewer,
        "review_note": r.review_note,
    }


def review_social(
    engine: Engine, admin: str, claim_id: int, approve: bool, note: str, now: datetime | None = None
) -> dict[str, Any]:
    """Approve (credit the task's points) or reject (nothing) a pending claim; audited."""
    now = now or utcnow()
    status = "approved" if approve else "rejected"
    with engine.begin() as conn:
        row = conn.execute(select(social_claims).where(social_claims.c.claim_id == claim_id).with_for_update()).first()
        if row is None:
            raise RewardsError(404, f"social claim {claim_id} does not exist")
        if row.status != "pending":
            raise RewardsError(409, f"social claim {claim_id} was already reviewed ({row.status})")
        conn.execute(
            update(social_claims)
            .where(social_claims.c.claim_id == claim_id)
            .values(status=status, reviewed_at=now, reviewer=admin, review_note=note)
        )
        entry = None
        if approve:
            entry = credit(
                conn,
                row.address,
                SOCIAL_POINTS,
                "social",
                f"claim:{claim_id}",
                f"social task {row.task} approved ({row.proof_url})",
                now,
            )
        audit(
            conn,
            admin,
            f"social_{status}",
            f"claim:{claim_id}",
            note,
            {"address": row.address, "task": row.task, "proof_url": row.proof_url, "entry_id": entry},
            now,
        )
    return {"claim_id": claim_id, "status": status, "entry_id": entry}


# ----------------------------------------------------------------------------- referrals


def referral_code(engine: Engine, address: str, now: datetime | None = None) -> str:
    """The address's referral code, made on first ask."""
    now = now or utcnow()
    with engine.begin() as conn:
        code = conn.execute(select(referral_codes.c.code).where(referral_codes.c.address == address)).scalar()
        while code is None:
            fresh = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            # A code collision (or a concurrent first ask) inserts nothing; read again and retry.
            conn.execute(
                pg_insert(referral_codes).values(address=address, code=fresh, created_at=now).on_conflict_do_nothing()
            )
            code = conn.execute(select(referral_codes.c.code).where(referral_codes.c.address == address)).scalar()
    return str(code)


def normalize_code(code: str) -> str:
    """A referral code in canonical form (upper case), RewardsError 400 when it cannot be one."""
    value = code.strip().upper()
    if not (4 <= len(value) <= 16) or not value.isascii() or not value.isalnum():
        raise RewardsError(400, "a referral code is 4 to 16 letters and digits")
    return value


def apply_referral(engine: Engine, referee: str, code: str, now: datetime | None = None) -> dict[str, Any]:
    """Set who referred ``referee`` (once): no self-referral, no loop; only the direct referrer is paid."""
    now = now or utcnow()
    value = normalize_code(code)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REFERRAL_LOCK})
        referrer = conn.execute(select(referral_codes.c.address).where(referral_codes.c.code == value)).scalar()
        if referrer is None:
            raise RewardsError(404, f"no account has the referral code {value}")
        if referrer == referee:
            raise RewardsError(400, "you cannot use your own referral code")
        current = conn.execute(select(referrals.c.referrer).where(referrals.c.referee == referee)).scalar()
        if current is not None:
            raise RewardsError(409, f"your referrer is already set ({current}); it is set once")
        # A loop: the referee already sits above the referrer (the referrer was referred, directly or not, by it).
        loop = conn.execute(
            text(
                "WITH RECURSIVE up(addr) AS ("
                " SELECT referrer FROM api.referrals WHERE referee = :start"
                " UNION SELECT r.referrer FROM api.referrals r JOIN up ON r.referee = up.addr)"
                " SELECT 1 FROM up WHERE addr = :me LIMIT 1"
            ),
            {"start": referrer, "me": referee},
        ).first()
        if loop is not None:
            raise RewardsError(
                400, f"{referrer} was referred (directly or through others) by you; referrals cannot form a loop"
            )
        start = int(conn.execute(select(func.coalesce(func.max(points_ledger.c.entry_id), 0))).scalar_one())
        conn.execute(
            insert(referrals).values(
                referee=referee,
                referrer=referrer,
                created_at=now,
                start_entry_id=start,
                scanned_upto=start,
                eligible_total=0,
                paid=0,
            )
        )
    return {"referrer": referrer, "referee": referee, "code": value}


def referral_info(engine: Engine, address: str, limit: int = 100) -> dict[str, Any]:
    """The address's code, who referred it, and its referees with the bonus each has paid so far."""
    code = referral_code(engine, address)
    with engine.connect() as conn:
        referrer = conn.execute(select(referrals.c.referrer).where(referrals.c.referee == address)).scalar()
        count = conn.execute(
            select(func.count()).select_from(referrals).where(referrals.c.referrer == address)
        ).scalar_one()
        rows = conn.execute(
            select(referrals)
            .where(referrals.c.referrer == address)
            .order_by(referrals.c.created_at.desc())
            .limit(limit)
        ).all()
    return {
        "code": code,
        "referred_by": referrer,
        "referees_count": count,
        "referees": [{"address": r.referee, "since": r.created_at, "bonus_paid": r.paid} for r in rows],
    }


@dataclass(frozen=True)
class DayRange:
    """A UTC day's bounds."""

    day: date
    start: datetime
    end: datetime


def utc_day(day: date) -> DayRange:
    """The start and end (exclusive) of a UTC day."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    return DayRange(day, start, start + timedelta(days=1))
