"""Request rate limits: per client on the anonymous endpoints, per account and per node on signed requests.

Every counted request is one atomic upsert into ``api.rate_limits`` (one row per client and bucket), so all API
processes on the database share the counts. A bucket allows ``rate_limit_<bucket>`` requests per
``rate_limit_window_s`` (fixed windows, aligned to the Unix epoch); past that the answer is 429 with a
``Retry-After`` header (seconds to the next window) and a sentence. Rows of past windows are swept, at most once a
window per process, so the table holds only the clients of the last window or two.

The client is the peer's address; when the peer is one of ``trusted_proxies``, the address the proxies name in
``X-Forwarded-For`` (read from the right, skipping every trusted proxy). IPv6 clients count per /64, the block one
host is usually given, so rotating addresses inside it buys nothing.

Buckets: ``signin`` (``POST /auth/nonce``, ``/auth/sign-in``, ``/nodes/enroll``) and ``public`` (``/audit``,
``GET /leaderboard``, ``GET /rewards/epochs``, ``GET /verification/evidence``) per client; ``account`` per
signed-in account, counted once the session is known; ``node`` per node, counted once its signature verifies, so
nobody else can spend a node's or an account's allowance.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine, case, delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.concurrency import run_in_threadpool

from api.state import engine_of, settings_of
from pictor.settings import Settings
from tables.auth import rate_limits

#: A counter stops growing here (a flood cannot overflow the column; anything past the limit is refused alike).
HITS_CAP = 2**31 - 1


class Bucket(StrEnum):
    """What a request is counted against; ``rate_limit_<bucket>`` is its allowance per window."""

    signin = "signin"
    public = "public"
    account = "account"
    node = "node"


#: The 429 sentence of each bucket, before "at most N every W s; try again in R s".
_REFUSALS = {
    Bucket.signin: "too many sign-in requests from this address",
    Bucket.public: "too many public reads from this address",
    Bucket.account: "too many requests for this account",
    Bucket.node: "too many requests from this node",
}


# ----------------------------------------------------------------------------- who the client is

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies as networks; an unreadable entry trusts nobody (the safe side)."""
    found: list[Network] = []
    for entry in entries:
        with contextlib.suppress(ValueError):
            found.append(ip_network(entry.strip(), strict=False))
    return tuple(found)


def _address(text: str) -> Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_key(address: Address | None, raw: str) -> str:
    """The counter key of a client address: IPv4 as is, IPv6 by its /64, a peer that is no IP by its name."""
    if address is None:
        return "peer:" + raw[:90]
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, IPv6Address):
        return "ip:" + str(ip_network(f"{address}/64", strict=False))
    return f"ip:{address}"


def client_of(request: Request, settings: Settings) -> str:
    """Who sent ``request``, as a counter key (see the module's docstring for the proxy rule)."""
    peer = request.client.host if request.client else ""
    hop = _address(peer)
    networks = _networks(tuple(settings.trusted_proxies))
    if hop is not None and _trusted(hop, networks):
        forwarded = [part for value in request.headers.getlist("x-forwarded-for") for part in value.split(",")]
        for entry in reversed(forwarded):
            named = _address(entry)
            if named is None:
                break  # a hop no proxy of ours wrote: the last trusted hop is all that is known
            hop = named
            if not _trusted(named, networks):
                break
    return client_key(hop, peer)


# ----------------------------------------------------------------------------- counting


def hit(engine: Engine, client: str, bucket: str, limit: int, window_s: int, now: datetime) -> int | None:
    """Count one request of ``client`` in ``bucket``; the seconds to the next window when it is over ``limit``."""
    start = datetime.fromtimestamp(int(now.timestamp()) // window_s * window_s, UTC)
    t = rate_limits
    stmt = pg_insert(t).values(client=client[:100], bucket=bucket, window_start=start, hits=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.client, t.c.bucket],
        set_={
            # A later window starts afresh; an earlier one (another process's clock a little behind) counts in ours.
            "hits": case((stmt.excluded.window_start > t.c.window_start, 1), else_=func.least(t.c.hits + 1, HITS_CAP)),
            "window_start": func.greatest(t.c.window_start, stmt.excluded.window_start),
        },
    ).returning(t.c.hits, t.c.window_start)
    with engine.begin() as conn:
        hits, window_start = conn.execute(stmt).one()
    if hits <= limit:
        return None
    return max(1, math.ceil((window_start + timedelta(seconds=window_s) - now).total_seconds()))


def sweep(engine: Engine, window_s: int, now: datetime) -> int:
    """Delete the counters of windows that have ended (their clients start afresh anyway); how many went."""
    with engine.begin() as conn:
        gone = conn.execute(delete(rate_limits).where(rate_limits.c.window_start < now - timedelta(seconds=window_s)))
        return gone.rowcount


def _sweep_due(app: object, window_s: int) -> bool:
    """True at most once a window per app (process): the sweep is cheap, but not worth doing on every request."""
    state = app.state  # type: ignore[attr-defined]
    now = time.monotonic()
    if now - getattr(state, "rate_limits_swept_at", -math.inf) < window_s:
        return False
    state.rate_limits_swept_at = now
    return True


async def charge(request: Request, bucket: Bucket, who: str) -> None:
    """Count this request against ``who``'s ``bucket``; 429 with ``Retry-After`` when the allowance is spent."""
    settings = settings_of(request.app)
    limit = int(getattr(settings, f"rate_limit_{bucket}"))
    if limit <= 0:
        return
    window = settings.rate_limit_window_s
    engine = engine_of(request.app)
    now = datetime.now(UTC)
    do_sweep = _sweep_due(request.app, window)

    def count() -> int | None:
        if do_sweep:
            sweep(engine, window, now)
        return hit(engine, who, bucket.value, limit, window, now)

    retry = await run_in_threadpool(count)
    if retry is not None:
        raise HTTPException(
            429,
            f"{_REFUSALS[bucket]}: at most {limit} every {window} s; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )


async def limit_signin(request: Request) -> None:
    """Dependency of the sign-in and enrollment endpoints: count the request against its client."""
    await charge(request, Bucket.signin, client_of(request, settings_of(request.app)))


async def limit_public(request: Request) -> None:
    """Dependency of the public reads: count the request against its client."""
    await charge(request, Bucket.public, client_of(request, settings_of(request.app)))


#: ``dependencies=[SigninLimit]`` / ``[PublicLimit]`` on a route or router.
SigninLimit = Depends(limit_signin)
PublicLimit = Depends(limit_public)
