"""Leaderboard snapshots: refresh (rank every total into a new generation) and reads that add the ledger since.

Ranking rule: totals in descending order, ties broken by address (bytewise) for a stable order; the rank is
the standard competition rank (1 + the number of addresses with strictly more points: 1, 2, 2, 4).

A read is exact, not approximate. It takes the scope's snapshot (ranked totals up to ledger entry
``high_water``) and the ledger rows above the mark ("since"); the addresses those rows touch are *changed*,
everybody else keeps their snapshot total. For an unchanged address with snapshot rank ``r`` and total ``p``::

    rank = r - #{changed whose snapshot total > p} + #{changed whose current total > p}

and its place in the order moves by the changed addresses that left or entered ahead of it. The changed
addresses are few (the rows since the last refresh), so their current totals, ranks and places are computed
once per (snapshot, ledger state) and cached; a page is then one indexed range read of the snapshot plus
bisections in Python.

Refresh: the high-water mark is read from the ledger's id sequence, then the refresh waits until every
transaction that was writing the ledger at that moment has ended, so that every id up to the mark is either
committed or never will be (ids are handed out before commit, and commits come out of order); then one
``CREATE TABLE … AS SELECT`` with window functions fills the new generation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
import threading
import time
import zlib
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tables.leaderboard import PARTITION_SCHEMA, leaderboard_snapshots
from tables.points import campaigns

log = logging.getLogger("rewards.snapshots")

GLOBAL = "global"
#: First key of the advisory locks that keep one refresh per scope at a time ("LBRD").
LOCK_CLASS = 0x4C425244 - 2**31
#: Views (snapshot + since) kept in memory; one per scope and ledger state is enough.
VIEW_CACHE_SIZE = 32
ADDRESS_RE = re.compile(r"^0x[0-9a-f]{64}$")


class UnknownCampaign(LookupError):
    """The campaign named does not exist."""


class BadCursor(ValueError):
    """A page cursor that this service did not hand out."""


class _SnapshotReplaced(RuntimeError):
    """The generation a read started on was swapped out under it (the read is retried)."""


@dataclass(frozen=True)
class Scope:
    """What a leaderboard counts: every ledger row (global) or the rows created in a campaign's window."""

    key: str  # "global" | "campaign:<id>"
    campaign_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True)
class Entry:
    """One place on a leaderboard."""

    rank: int
    address: str
    points: int
    position: int  # 0-based place in the order (points desc, address asc)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape of an entry."""
        return {"rank": self.rank, "address": self.address, "points": self.points}


@dataclass
class View:
    """A scope's current standings: its snapshot plus the ledger rows since, ready for exact page reads."""

    scope: Scope
    generation: int | None
    high_water: int
    as_of: int  # the highest ledger entry id counted
    since_rows: int  # ledger rows above the high-water mark (any scope): with as_of, the ledger state seen
    snapshot_users: int
    total_users: int
    changed: dict[str, int] = field(default_factory=dict)  # address → current total, for changed addresses
    c_pos: list[int] = field(default_factory=list)  # snapshot positions of changed addresses, ascending
    c_old_points: list[int] = field(default_factory=list)  # their snapshot totals, ascending
    c_old_keys: list[tuple[int, str]] = field(default_factory=list)  # their snapshot order keys, ascending
    d_keys: list[tuple[int, str]] = field(default_factory=list)  # current order keys of changed, ascending
    d_points: list[int] = field(default_factory=list)  # current totals of changed, ascending
    d_entries: list[Entry] = field(default_factory=list)  # changed addresses, in order
    d_positions: list[int] = field(default_factory=list)  # their places, ascending
    d_index: dict[str, int] = field(default_factory=dict)  # address → index in d_entries

    def _rank_shift(self, points: int) -> int:
        """How an unchanged total's snapshot rank moves: changed addresses leaving and entering above it."""
        left = len(self.c_old_points) - bisect_right(self.c_old_points, points)
        entered = len(self.d_points) - bisect_right(self.d_points, points)
        return entered - left

    def _unchanged(self, position: int, rank: int, address: str, points: int) -> Entry:
        """An unchanged snapshot row as it stands now."""
        key = (-points, address)
        place = position - bisect_left(self.c_pos, position) + bisect_left(self.d_keys, key)
        return Entry(rank + self._rank_shift(points), address, points, place)

    def count_before(self, snapshot_before: int, key: tuple[int, str], inclusive: bool = False) -> int:
        """Entries now ordered before ``key`` (or at it), given the snapshot rows before it (or at it)."""
        cut = bisect_right if inclusive else bisect_left
        return snapshot_before - cut(self.c_old_keys, key) + cut(self.d_keys, key)


def order_key(points: int, address: str) -> tuple[int, str]:
    """The sort key of the leaderboard order: points descending, then address ascending."""
    return (-points, address)


# ----------------------------------------------------------------------------- scopes


def resolve_scope(conn: Connection, scope: str | int | None) -> Scope:
    """The scope named by ``scope``: None/"global", a campaign id, or "campaign:<id>"; UnknownCampaign if none."""
    if scope is None or scope == GLOBAL:
        return Scope(GLOBAL)
    if isinstance(scope, str):
        if not scope.startswith("campaign:") or not scope[9:].isdigit():
            raise ValueError(f"not a leaderboard scope: {scope!r}")
        scope = int(scope[9:])
    row = conn.execute(
        select(campaigns.c.starts_at, campaigns.c.ends_at).where(campaigns.c.campaign_id == scope)
    ).first()
    if row is None:
        raise UnknownCampaign(f"no campaign {scope}")
    return Scope(f"campaign:{scope}", scope, row.starts_at, row.ends_at)


def _window_sql(scope: Scope, alias: str = "") -> str:
    """The ledger filter of a campaign scope (``[starts_at, ends_at)``), empty for global."""
    if scope.campaign_id is None:
        return ""
    return f" AND {alias}created_at >= :starts_at AND {alias}created_at < :ends_at"


def _window_params(scope: Scope) -> dict[str, Any]:
    return {"starts_at": scope.starts_at, "ends_at": scope.ends_at} if scope.campaign_id is not None else {}


# ----------------------------------------------------------------------------- refresh


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh made."""

    scope: str
    generation: int
    high_water: int
    users: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step: wait, rank, index, attach, drop


def _lock_key(scope_key: str) -> int:
    """Second key of a scope's refresh advisory lock (a signed 32-bit int)."""
    return zlib.crc32(scope_key.encode()) - 2**31


def _settled_high_water(conn: Connection, timeout_s: float) -> int:
    """The ledger's last handed-out id, once every transaction that may still commit an id up to it has ended.

    A writer holds ROW EXCLUSIVE on the ledger from before it draws an id until it ends, so waiting for the
    writers seen *after* reading the sequence covers every id up to the value read.
    """
    seq = conn.execute(text("SELECT pg_get_serial_sequence('api.points_ledger', 'entry_id')")).scalar_one()
    last, called = conn.execute(text(f"SELECT last_value, is_called FROM {seq}")).one()  # noqa: S608 - catalog name
    high_water = int(last) if called else int(last) - 1
    writers_sql = text(
        "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation'"
        " AND relation = 'api.points_ledger'::regclass AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"
        # pg_locks spans the server; copies of one database (tests, templates) share the table's oid
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    waiting = set(conn.execute(writers_sql).scalars())
    deadline = time.monotonic() + timeout_s
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"ledger writers still open after {timeout_s:.0f} s: {sorted(waiting)[:5]}")
        time.sleep(0.02)
        waiting &= set(conn.execute(writers_sql).scalars())
    return high_water


def refresh_snapshot(
    engine: Engine, scope: str | int | None = GLOBAL, *, full: bool = True, wait_timeout_s: float = 60.0
) -> RefreshResult | None:
    """Rank every total of ``scope`` into a new generation and make it current; None if one is already running.

    One ``CREATE TABLE … AS SELECT`` ranks the totals with window functions into a fresh table; the table is
    indexed, attached as a partition of ``api.leaderboard_rows`` and named by the scope's header in the same
    transaction; the previous generation is dropped afterwards. ``full``: the totals are summed from the whole
    ledger up to the settled high-water mark; otherwise (the schedule) from the current generation plus the
    ledger rows between its mark and the new one, which is the same sum and reads a tenth of the data (it falls
    back to full when there is no usable generation).
    """
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
        sc = resolve_scope(lock_conn, scope)
        lock = {"a": LOCK_CLASS, "b": _lock_key(sc.key)}
        if not lock_conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), lock).scalar_one():
            return None  # another process refreshes this scope right now; its result is as good
        try:
            phases: dict[str, float] = {}
            high_water = _settled_high_water(lock_conn, wait_timeout_s)
            phases["wait_s"] = time.perf_counter() - started
            with engine.begin() as conn:
                base = None if full else _usable_base(conn, sc)
                phases["incremental"] = float(base is not None)
                generation, users = _build_generation(conn, sc, high_water, phases, base)
                seconds = time.perf_counter() - started
                values = {
                    "generation": generation,
                    "high_water": high_water,
                    "users": users,
                    "starts_at": sc.starts_at,
                    "ends_at": sc.ends_at,
                    "refreshed_at": datetime.now(UTC),
                    "refresh_ms": min(int(seconds * 1000), 2**31 - 1),
                }
                stmt = pg_insert(leaderboard_snapshots).values(scope=sc.key, **values)
                conn.execute(stmt.on_conflict_do_update(index_elements=["scope"], set_=values))
            mark = time.perf_counter()
            _drop_stale_generations(lock_conn)
            phases["drop_old_s"] = time.perf_counter() - mark
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), lock)
    seconds = time.perf_counter() - started
    log.info(
        "leaderboard %s: generation %d, %d users up to entry %d in %.2f s",
        sc.key,
        generation,
        users,
        high_water,
        seconds,
    )
    return RefreshResult(sc.key, generation, high_water, users, seconds, phases)


def _usable_base(conn: Connection, sc: Scope) -> tuple[int, int] | None:
    """(generation, high water) of the scope's current snapshot if it counted the same window, else None."""
    row = conn.execute(
        select(
            leaderboard_snapshots.c.generation,
            leaderboard_snapshots.c.high_water,
            leaderboard_snapshots.c.starts_at,
            leaderboard_snapshots.c.ends_at,
        ).where(leaderboard_snapshots.c.scope == sc.key)
    ).first()
    if row is None or (row.starts_at, row.ends_at) != (sc.starts_at, sc.ends_at):
        return None
    return int(row.generation), int(row.high_water)


def _totals_sql(sc: Scope, base: tuple[int, int] | None) -> str:
    """SELECT (address, total) of the scope up to ``:high_water``: from the ledger, or a base generation plus."""
    if base is None:
        # Grouped on the column itself; the cast (for the bytewise order) is applied once per total, not per row.
        return (
            'SELECT CAST(s.address AS varchar(66)) COLLATE "C" AS address, CAST(s.total AS bigint) AS total FROM ('
            "  SELECT address, sum(points) AS total FROM api.points_ledger"
            f"  WHERE entry_id <= :high_water{_window_sql(sc)} GROUP BY address) AS s"
        )
    return (
        'SELECT CAST(coalesce(p.address, d.address) AS varchar(66)) COLLATE "C" AS address,'
        " coalesce(p.points, 0) + coalesce(d.total, 0) AS total"
        " FROM (SELECT address, points FROM api.leaderboard_rows WHERE generation = :base) AS p FULL JOIN ("
        '  SELECT CAST(address AS varchar(66)) COLLATE "C" AS address, CAST(sum(points) AS bigint) AS total'
        f"  FROM api.points_ledger WHERE entry_id > :base_high_water AND entry_id <= :high_water{_window_sql(sc)}"
        "  GROUP BY 1) AS d ON d.address = p.address"
    )


def _build_generation(
    conn: Connection, sc: Scope, high_water: int, phases: dict[str, float], base: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Create, fill, index and attach the next generation of ``sc``; its number and row count."""
    # Room to aggregate and sort a million totals in memory rather than in temporary files.
    conn.execute(text("SET LOCAL work_mem = '256MB'"))
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    generation = int(conn.execute(text("SELECT nextval('api.leaderboard_generation')")).scalar_one())
    table = f"{PARTITION_SCHEMA}.g{generation}"
    mark = time.perf_counter()
    # CREATE TABLE AS, not INSERT … SELECT: PostgreSQL may read the ledger of a CTAS with parallel workers.
    params = {"generation": generation, "high_water": high_water, **_window_params(sc)}
    if base is not None:
        params.update(base=base[0], base_high_water=base[1])
    users = conn.execute(
        text(
            f"CREATE TABLE {table} AS SELECT CAST(:generation AS bigint) AS generation,"
            " row_number() OVER w - 1 AS position, rank() OVER (ORDER BY t.total DESC) AS rank,"
            f" t.address, t.total AS points FROM ({_totals_sql(sc, base)}) AS t"
            " WINDOW w AS (ORDER BY t.total DESC, t.address)"
        ),
        params,
    ).rowcount
    phases["rank_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    # Indexes built once over the filled table (faster than maintaining them row by row); ATTACH adopts them
    # as the partitions of the parent's indexes, and the CHECK spares it a validation scan.
    conn.execute(
        text(
            f"ALTER TABLE {table} ALTER rank SET NOT NULL, ALTER address SET NOT NULL, ALTER points SET NOT NULL,"
            f" ADD PRIMARY KEY (generation, position), ADD CHECK (generation = {generation})"
        )
    )
    conn.execute(text(f"CREATE UNIQUE INDEX ON {table} (generation, address)"))
    conn.execute(text(f"CREATE INDEX ON {table} (generation, points, address)"))
    phases["index_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    conn.execute(text(f"ALTER TABLE api.leaderboard_rows ATTACH PARTITION {table} FOR VALUES IN ({generation})"))
    conn.execute(text(f"ANALYZE {table}"))
    phases["attach_s"] = time.perf_counter() - mark
    return generation, int(users)


def _drop_stale_generations(conn: Connection) -> None:
    """Detach (without blocking readers) and drop the generations no header names any more."""
    stale = (
        conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE i.inhparent = 'api.leaderboard_rows'::regclass AND n.nspname = :schema"
                " AND substr(c.relname, 2)::bigint NOT IN (SELECT generation FROM api.leaderboard_snapshots)"
            ),
            {"schema": PARTITION_SCHEMA},
        )
        .scalars()
        .all()
    )
    for name in stale:
        try:
            conn.execute(
                text(f"ALTER TABLE api.leaderboard_rows DETACH PARTITION {PARTITION_SCHEMA}.{name} CONCURRENTLY")
            )
            conn.execute(text(f"DROP TABLE {PARTITION_SCHEMA}.{name}"))
        except Exception:  # noqa: BLE001 - a stale generation only wastes space; the next refresh retries
            log.warning("could not drop leaderboard generation %s yet", name, exc_info=True)
    # A generation detached but not dropped (a crash between the two) is dropped here.
    for name in conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :schema AND c.relkind = 'r' AND NOT c.relispartition"
        ),
        {"schema": PARTITION_SCHEMA},
    ).scalars():
        conn.execute(text(f"DROP TABLE IF EXISTS {PARTITION_SCHEMA}.{name}"))


# ----------------------------------------------------------------------------- reads

_HEADER_SELECT = (
    "SELECT s.generation, s.high_water, s.users, s.starts_at, s.ends_at, x.n, x.m"
    " FROM api.leaderboard_snapshots s CROSS JOIN LATERAL ("
    "  SELECT count(*) AS n, coalesce(max(l.entry_id), s.high_water) AS m"
    "  FROM api.points_ledger l WHERE l.entry_id > s.high_water) AS x"
    " WHERE s.scope = :scope"
)
_HEADER_SQL = text(_HEADER_SELECT)
# The header and the rows a read expects, in one round trip (the rows are used only if the header still matches).
_HEADER_AND_RANGE_SQL = text(
    "SELECT h.generation, h.high_water, h.users, h.starts_at, h.ends_at, h.n, h.m,"
    " r.position, r.rank, r.address, r.points"
    f" FROM ({_HEADER_SELECT}) AS h LEFT JOIN api.leaderboard_rows r"
    "  ON r.generation = :g AND r.position >= :start AND r.position < :stop ORDER BY r.position"
)
# The header, an address's row and the rows within ``reach`` places of it, in one round trip.
_HEADER_AND_NEIGHBOURS_SQL = text(
    "SELECT h.generation, h.high_water, h.users, h.starts_at, h.ends_at, h.n, h.m,"
    " me.position AS my_position, me.rank AS my_rank, me.points AS my_points,"
    " r.position, r.rank, r.address, r.points"
    f" FROM ({_HEADER_SELECT}) AS h"
    " LEFT JOIN api.leaderboard_rows me ON me.generation = :g AND me.address = :a"
    " LEFT JOIN api.leaderboard_rows r ON r.generation = :g"
    "  AND r.position >= me.position - :reach AND r.position <= me.position + :reach"
    " ORDER BY r.position"
)
#: Extra snapshot rows read on each side of a neighbourhood, for changed addresses that left it.
REACH_MARGIN = 16
_SINCE_SQL = "SELECT count(*), coalesce(max(entry_id), :hw) FROM api.points_ledger WHERE entry_id > :hw"
_ROWS_SQL = text(
    "SELECT position, rank, address, points FROM api.leaderboard_rows"
    " WHERE generation = :g AND position >= :start AND position < :stop ORDER BY position"
)
_ROW_OF_SQL = text(
    "SELECT position, rank, address, points FROM api.leaderboard_rows WHERE generation = :g AND address = :a"
)
# Rows of the snapshot ordered before (points desc, address asc) key (q, a) = the place of the first row at or
# after it: among equal totals by address, else the first row of the next lower total. Strict: after it.
_PROBE_SQL = (
    "SELECT COALESCE("
    " (SELECT r.position FROM api.leaderboard_rows r WHERE r.generation = :g AND r.points = d.q"
    '   AND r.address {op} (d.a COLLATE "C") ORDER BY r.address LIMIT 1),'
    " (SELECT r.position FROM api.leaderboard_rows r WHERE r.generation = :g AND r.points = ("
    "   SELECT max(m.points) FROM api.leaderboard_rows m WHERE m.generation = :g AND m.points < d.q)"
    "   ORDER BY r.address LIMIT 1),"
    " :users) FROM unnest(CAST(:qs AS bigint[]), CAST(:addrs AS varchar[])) WITH ORDINALITY AS d(q, a, i)"
    " ORDER BY d.i"
)

_cache: OrderedDict[tuple[Any, ...], View] = OrderedDict()
_cache_lock = threading.Lock()
#: The view each scope was last read at: a read first assumes nothing changed since (one round trip).
_last: dict[tuple[str, Scope], View] = {}


def _snapshot_before(conn: Connection, view: View, keys: list[tuple[int, str]], strict: bool = False) -> list[int]:
    """For each key, the snapshot rows ordered before it (or at it when ``strict``)."""
    if view.generation is None or not keys:
        return [0] * len(keys)
    sql = text(_PROBE_SQL.format(op=">" if strict else ">="))
    return [
        int(v)
        for v in conn.execute(
            sql,
            {
                "g": view.generation,
                "users": view.snapshot_users,
                "qs": [-k[0] for k in keys],
                "addrs": [k[1] for k in keys],
            },
        ).scalars()
    ]


def _header(conn: Connection, sc: Scope) -> tuple[int | None, int, int, int, int]:
    """(generation, high water, snapshot users, rows since, last entry id) of the scope's usable snapshot."""
    row = conn.execute(_HEADER_SQL, {"scope": sc.key}).first()
    # A campaign whose window was edited after its snapshot is counted live until the next refresh.
    if row is not None and (row.starts_at, row.ends_at) == (sc.starts_at, sc.ends_at):
        return int(row.generation), int(row.high_water), int(row.users), int(row.n), int(row.m)
    n, m = conn.execute(text(_SINCE_SQL), {"hw": 0}).one()
    return None, 0, 0, int(n), int(m)


def _engine_key(engine: Engine) -> str:
    """Which database a cached view belongs to."""
    return engine.url.render_as_string(hide_password=True)


def _view(conn: Connection, engine: Engine, sc: Scope) -> View:
    """The scope's standings now: the cached view of this snapshot and ledger state, else a fresh one."""
    key = (_engine_key(engine), sc, *_header(conn, sc))
    with _cache_lock:
        view = _cache.get(key)
        if view is not None:
            _cache.move_to_end(key)
            _last[key[:2]] = view
            return view
    view = _build_view(engine, sc)
    with _cache_lock:
        _last[key[:2]] = view
        _cache[
            (
                _engine_key(engine),
                sc,
                view.generation,
                view.high_water,
                view.snapshot_users,
                view.since_rows,
                view.as_of,
            )
        ] = view
        while len(_cache) > VIEW_CACHE_SIZE:
            _cache.popitem(last=False)
    return view


def _read_conn(engine: Engine) -> Connection:
    """A connection for reads: autocommit, so a read costs no BEGIN/ROLLBACK round trips."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def current_view(engine: Engine, scope: str | int | None = GLOBAL) -> View:
    """The scope's standings now (cached per snapshot and ledger state); UnknownCampaign for a missing campaign."""
    with _read_conn(engine) as conn:
        return _view(conn, engine, resolve_scope(conn, scope))


def _build_view(engine: Engine, sc: Scope) -> View:
    """Read the snapshot header, the ledger since and the changed addresses' snapshot rows in one snapshot."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        generation, high_water, snapshot_users, n_since, last = _header(conn, sc)
        delta = dict(
            conn.execute(
                text(
                    f"SELECT address, sum(points)::bigint FROM api.points_ledger WHERE entry_id > :hw{_window_sql(sc)}"
                    " GROUP BY address"
                ),
                {"hw": high_water, **_window_params(sc)},
            ).all()
        )
        view = View(sc, generation, high_water, last, n_since, snapshot_users, snapshot_users)
        if not delta:
            return view
        old: list[tuple[int, int, str, int]] = []
        if generation is not None:
            old = [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT position, rank, address, points FROM api.leaderboard_rows"
                        " WHERE generation = :g AND address = ANY(CAST(:a AS varchar[]))"
                    ),
                    {"g": generation, "a": list(delta)},
                )
            ]
        old_points = {address: points for _, _, address, points in old}
        view.changed = {a: old_points.get(a, 0) + int(d) for a, d in delta.items()}
        view.total_users = snapshot_users + len(view.changed) - len(old)
        view.c_pos = sorted(p for p, _, _, _ in old)
        view.c_old_points = sorted(old_points.values())
        view.c_old_keys = sorted(order_key(p, a) for a, p in old_points.items())
        ordered = sorted((order_key(p, a) for a, p in view.changed.items()))
        view.d_keys = ordered
        view.d_points = sorted(view.changed.values())
        before = _snapshot_before(conn, view, ordered)
        above = _snapshot_before(conn, view, [(k[0], "") for k in ordered])  # rows with strictly more points
        for i, (k, snap_before, snap_above) in enumerate(zip(ordered, before, above, strict=True)):
            points, address = -k[0], k[1]
            place = snap_before - bisect_left(view.c_old_keys, k) + i
            rank = 1 + snap_above + view._rank_shift(points)
            view.d_entries.append(Entry(rank, address, points, place))
            view.d_positions.append(place)
            view.d_index[address] = i
    return view


def _span(view: View, first: int, count: int) -> tuple[int, int]:
    """Snapshot positions [start, stop) holding the ``count`` unchanged rows from the ``first``-th one."""
    if count <= 0 or view.generation is None:
        return 0, 0
    # The snapshot place of the first-th unchanged row: the least s with s = first + #changed at or before s.
    start = first
    while (moved := first + bisect_right(view.c_pos, start)) != start:
        start = moved
    stop = start + count
    while (moved := start + count + bisect_left(view.c_pos, stop) - bisect_left(view.c_pos, start)) != stop:
        stop = moved
    return start, stop


def _unchanged_rows(view: View, rows: list[Any], first: int, count: int) -> list[Entry]:
    """The unchanged entries among snapshot ``rows`` (position, rank, address, points), as they stand now."""
    out = [view._unchanged(p, r, a, pts) for p, r, a, pts in rows if a not in view.changed]  # noqa: SLF001
    if len(out) < min(count, view.snapshot_users - len(view.c_pos) - first):
        raise _SnapshotReplaced  # the generation was dropped under the read
    return out


def _page_plan(view: View, offset: int, limit: int) -> tuple[int, int, list[Entry]]:
    """For places [offset, offset + limit): the first unchanged entry's index, how many, and the changed ones."""
    lo = bisect_left(view.d_positions, offset)
    hi = bisect_left(view.d_positions, offset + limit)
    moved = view.d_entries[lo:hi]
    first = offset - lo  # unchanged entries before the page
    count = min(limit - len(moved), view.total_users - len(view.d_entries) - first)
    return first, count, moved


def _page(conn: Connection, view: View, offset: int, limit: int) -> list[Entry]:
    """The entries at places [offset, offset + limit)."""
    first, count, moved = _page_plan(view, offset, limit)
    start, stop = _span(view, first, count)
    rows = [] if stop <= start else conn.execute(_ROWS_SQL, {"g": view.generation, "start": start, "stop": stop}).all()
    return sorted(_unchanged_rows(view, rows, first, count) + moved, key=lambda e: e.position)


def _still(view: View, sc: Scope, head: Any) -> bool:
    """Whether a header row (with the ledger's since count) still describes ``view``."""
    return (
        head.generation == view.generation
        and (head.high_water, head.users, head.n, head.m)
        == (view.high_water, view.snapshot_users, view.since_rows, view.as_of)
        and (head.starts_at, head.ends_at) == (sc.starts_at, sc.ends_at)
    )


def _last_view(engine: Engine, sc: Scope) -> View | None:
    """The view ``sc`` was last read at, if it had a snapshot."""
    view = _last.get((_engine_key(engine), sc))
    return view if view is not None and view.generation is not None else None


def _retrying(engine: Engine, scope: str | int | None, read: Any) -> Any:
    """Run ``read(conn, view)``; when a refresh swapped the generation under it, read again on the new one."""
    for _attempt in range(3):
        with _read_conn(engine) as conn:
            view = _view(conn, engine, resolve_scope(conn, scope))
            try:
                return read(conn, view)
            except _SnapshotReplaced:
                continue
    raise RuntimeError("the leaderboard snapshot kept changing during the read")


def encode_cursor(entry: Entry) -> str:
    """An opaque cursor after ``entry`` (its place in the order, by total and address)."""
    return base64.urlsafe_b64encode(f"{entry.points}:{entry.address}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The order key a cursor names; BadCursor if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        points_text, address = raw.split(":", 1)
        points = int(points_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("the cursor is not one this service handed out") from None
    if not ADDRESS_RE.match(address) or not -(2**63) <= points < 2**63:
        raise BadCursor("the cursor is not one this service handed out")
    return order_key(points, address)


@dataclass(frozen=True)
class Page:
    """A page of a leaderboard and where it stands."""

    view: View
    offset: int
    entries: list[Entry]

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page, None on the last one."""
        if not self.entries or self.offset + len(self.entries) >= self.view.total_users:
            return None
        return encode_cursor(self.entries[-1])


def _fast_page(conn: Connection, last: View, sc: Scope, offset: int, limit: int) -> list[Entry] | None:
    """The page [offset, offset + limit) in one round trip, if ``last`` still describes the scope; else None."""
    first, count, moved = _page_plan(last, offset, limit)
    start, stop = _span(last, first, count)
    params = {"scope": sc.key, "g": last.generation, "start": start, "stop": stop}
    rows = conn.execute(_HEADER_AND_RANGE_SQL, params).all()
    if not rows or not _still(last, sc, rows[0]):
        return None
    try:
        unchanged = _unchanged_rows(last, [r[7:] for r in rows if r.position is not None], first, count)
    except _SnapshotReplaced:
        return None
    return sorted(unchanged + moved, key=lambda e: e.position)


def top(
    engine: Engine, scope: str | int | None = GLOBAL, *, limit: int = 100, offset: int = 0, cursor: str | None = None
) -> Page:
    """A page of the leaderboard: ``limit`` entries from place ``offset``, or right after ``cursor``."""
    after = decode_cursor(cursor) if cursor is not None else None

    if after is None:
        with _read_conn(engine) as conn:
            sc = resolve_scope(conn, scope)
            last = _last_view(engine, sc)
            if last is not None and (entries := _fast_page(conn, last, sc, offset, limit)) is not None:
                return Page(last, offset, entries)

    def read(conn: Connection, view: View) -> Page:
        start = offset
        if after is not None:
            (snap,) = _snapshot_before(conn, view, [after], strict=True)
            start = view.count_before(snap, after, inclusive=True)
        return Page(view, start, _page(conn, view, start, limit))

    return _retrying(engine, scope, read)


@dataclass(frozen=True)
class MyStanding:
    """An address's place and its neighbours."""

    view: View
    me: Entry | None
    around: list[Entry]


def standing(engine: Engine, address: str, scope: str | int | None = GLOBAL, *, window: int = 5) -> MyStanding:
    """``address``'s rank and points, and the ``window`` entries on each side of it (None if it has no points)."""

    def around(conn: Connection, view: View, me: Entry | None) -> MyStanding:
        if me is None:
            return MyStanding(view, None, [])
        start = max(0, me.position - window)
        return MyStanding(view, me, _page(conn, view, start, me.position - start + window + 1))

    with _read_conn(engine) as conn:
        sc = resolve_scope(conn, scope)
        last = _last_view(engine, sc)
        if last is not None and address in last.d_index:  # my place is known: one round trip for the page
            me = last.d_entries[last.d_index[address]]
            start = max(0, me.position - window)
            if (entries := _fast_page(conn, last, sc, start, me.position - start + window + 1)) is not None:
                return MyStanding(last, me, entries)
        elif last is not None:  # one round trip when nothing changed since the last read
            reach = window + REACH_MARGIN
            params = {"scope": sc.key, "g": last.generation, "a": address, "reach": reach}
            rows = conn.execute(_HEADER_AND_NEIGHBOURS_SQL, params).all()
            if rows and _still(last, sc, rows[0]):
                head = rows[0]
                with contextlib.suppress(_SnapshotReplaced):
                    if head.my_position is None:
                        return MyStanding(last, None, [])
                    me = last._unchanged(head.my_position, head.my_rank, address, head.my_points)  # noqa: SLF001
                    start = max(0, me.position - window)
                    first, count, moved = _page_plan(last, start, me.position - start + window + 1)
                    lo, hi = _span(last, first, count)
                    if hi <= lo or (lo >= head.my_position - reach and hi - 1 <= head.my_position + reach):
                        snap = [r[10:] for r in rows if r.position is not None and lo <= r.position < hi]
                        unchanged = _unchanged_rows(last, snap, first, count)
                        return MyStanding(last, me, sorted(unchanged + moved, key=lambda e: e.position))
                    return around(conn, last, me)  # many changed addresses nearby: read the span itself

    def read(conn: Connection, view: View) -> MyStanding:
        me: Entry | None = None
        if address in view.d_index:
            me = view.d_entries[view.d_index[address]]
        elif view.generation is not None:
            row = conn.execute(_ROW_OF_SQL, {"g": view.generation, "a": address}).first()
            if row is not None:
                me = view._unchanged(*row)  # noqa: SLF001
        return around(conn, view, me)

    return _retrying(engine, scope, read)
