"""Leaderboard benchmark: 1,000,000 users and 10,000,000 points rows in PostgreSQL.

The data is generated inside the server (``INSERT … SELECT`` over ``generate_series``, the ledger's indexes
dropped while it loads and rebuilt after) into an embedded PostgreSQL under ``data_dir``, and kept there: the
next run with the same sizes and migrations reuses it after removing what the previous run added.

Measured, in order:

- ``refresh_s``: one full refresh of the global snapshot (:func:`rewards.snapshots.refresh_snapshot`).
- ``fresh`` ledger rows are then added (existing and new users, some negative), so every read below goes
  through the "since" merge; ``view_build_ms`` is the first read after them (it computes the changed users).
- ``top100_p99_ms`` and ``my_rank_p99_ms``: database + Python, no HTTP — :func:`rewards.snapshots.top`
  (limit 100) and :func:`rewards.snapshots.standing` (window 5) for random users, through
  ``pictor.db.get_engine`` (the API's engine, connection ping included).
- ``http_rps``: ``GET /leaderboard`` through uvicorn (one worker, no access log) with ``clients``
  keep-alive HTTP/1.1 connections from a separate process, answers reused for ``leaderboard_cache_ttl_s``
  (the default, 1 s); ``http_rps_uncached`` is the same with the answer cache off.

    python -m bench.leaderboard [--users 1000000] [--rows 10000000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from pictor.db import (
    alembic_config,
    create_database,
    drop_database,
    get_engine,
    libpq_url,
    sqlalchemy_url,
    start_embedded,
    stop_embedded,
    upgrade,
)
from rewards import snapshots
from rewards.snapshots import _drop_stale_generations

#: Bumped when the generated data changes shape (a cached database of another version is rebuilt).
DATA_VERSION = 1
DATABASE = "leaderboard_bench"


def bench_address(user: int) -> str:
    """The address of generated user ``user`` (the SQL below computes the same)."""
    return "0x" + hashlib.md5(str(user).encode()).hexdigest() + hashlib.md5(f"{user}x".encode()).hexdigest()  # noqa: S324 - not security


def _p(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def _pg_cpu_seconds(pgdata: Path) -> float:
    """CPU seconds used so far by the PostgreSQL server in ``pgdata`` (its backends, and the ones that exited)."""
    tick = os.sysconf("SC_CLK_TCK")
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:  # utime, stime, and the reaped children's cutime, cstime
            total += sum(int(x) for x in fields[11:15])
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / tick


class _Cpu:
    """CPU seconds of this process and of the database server between ``start`` and ``stop``."""
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata

    def __enter__(self) -> _Cpu:
        self._py, self._pg = time.process_time(), _pg_cpu_seconds(self.pgdata)
        return self

    def __exit__(self, *exc: object) -> None:
        self.python_s = time.process_time() - self._py
        self.postgres_s = _pg_cpu_seconds(self.pgdata) - self._pg

    @property
    def total_s(self) -> float:
        """Both together."""
        return self.python_s + self.postgres_s


def _head_revision() -> str:


    return ScriptDirectory.from_config(alembic_config("postgresql+psycopg://unused@/unused")).get_current_head() or ""


def _generate(dsn: str, users: int, rows: int) -> None:
    """Fill the ledger with ``rows`` rows over ``users`` users (every user gets rows // users or one more)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'api.points_ledger'::regclass AND contype IN ('p', 'u')"
        ).fetchall()
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'api'"
            " AND i.tablename = 'points_ledger' AND i.indexname NOT IN ("
            "  SELECT conname FROM pg_constraint WHERE conrelid = 'api.points_ledger'::regclass)"
        ).fetchall()
        # Loading without the indexes and building them once afterwards is several times faster.
        for name, _ in indexes:
            conn.execute(f'DROP INDEX api."{name}"')
        for name, _ in constraints:
            conn.execute(f'ALTER TABLE api.points_ledger DROP CONSTRAINT "{name}"')
        # u = i·48271 mod users visits every user equally (48271 is prime); totals are skewed by a few heavy
        # users (u % 997 = 0 earn 20×) and 1% of rows are voids (negative); times spread over 60 days.
        conn.execute(  # no parameters: psycopg sends the text as is (its % are SQL's modulo)
            "INSERT INTO api.points_ledger (address, points, source, source_key, reason, created_at)"
            " SELECT '0x' || md5(s.u::text) || md5(s.u::text || 'x'),"
            "  CASE WHEN s.i % 100 = 0 THEN -(1 + s.i % 7)"
            "   ELSE (1 + abs(hashint8(s.i)) % 50) * CASE WHEN s.u % 997 = 0 THEN 20 ELSE 1 END END,"
            "  'bench', s.i::text, 'benchmark row', now() - (s.i % 5184000) * interval '1 second'"
            f" FROM (SELECT i, (i * 48271::bigint) % {int(users)} AS u FROM generate_series(1, {int(rows)}) AS i) AS s"
        )
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE api.points_ledger ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE api.points_ledger")


def _prepare(data_dir: Path, users: int, rows: int) -> tuple[str, int, dict[str, Any]]:
    """The benchmark database's URL (generated now or reused), its last generated entry id, and timings."""

    server = make_url(start_embedded(data_dir / "postgres", database="postgres"))
    url = server.set(database=DATABASE).render_as_string(hide_password=False)
    dsn = libpq_url(url)
    marker = f"v{DATA_VERSION} users={users} rows={rows} head={_head_revision()}"
    info: dict[str, Any] = {"reused_data": False}
    admin = libpq_url(server.render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
    if row is not None and row[0] and row[0].startswith(marker + " base="):
        info["reused_data"] = True
        base = int(row[0].rsplit("base=", 1)[1])
        _reset(dsn, base)
        return url, base, info
    started = time.perf_counter()
    drop_database(url)
    create_database(url)
    upgrade(url)
    _generate(dsn, users, rows)
    with psycopg.connect(dsn, autocommit=True) as conn:
        base = int(conn.execute("SELECT max(entry_id) FROM api.points_ledger").fetchone()[0])
        conn.execute(f"COMMENT ON DATABASE {DATABASE} IS '{marker} base={base}'")
    info["generate_s"] = round(time.perf_counter() - started, 1)
    return url, base, info


def _reset(dsn: str, base: int) -> None:
    """Undo a previous run: its fresh ledger rows, its snapshots and their generation tables."""

    with psycopg.connect(dsn, autocommit=True) as conn:
        deleted = conn.execute("DELETE FROM api.points_ledger WHERE entry_id > %s", (base,)).rowcount
        conn.execute("DELETE FROM api.leaderboard_snapshots")
        if deleted:
            conn.execute("VACUUM api.points_ledger")
    engine = create_engine(sqlalchemy_url(dsn), poolclass=pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            _drop_stale_generations(conn)
    finally:
        engine.dispose()


def _add_fresh(dsn: str, users: int, fresh: int, rng: random.Random) -> list[str]:
    """Ledger rows after the snapshot: existing users (some losing points) and new ones; the addresses touched."""
    tag = f"{time.time_ns():x}"
    rows = []
    for i in range(fresh):
        newcomer = i % 10 == 0
        address = f"0x{rng.getrandbits(256):064x}" if newcomer else bench_address(rng.randrange(users))
        points = -rng.randint(1, 50) if i % 20 == 1 else rng.randint(1, 400)
        rows.append((address, points, "benchfresh", f"{tag}:{i}", "benchmark row after the snapshot"))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO api.points_ledger (address, points, source, source_key, reason) VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
    return sorted({r[0] for r in rows})


# ----------------------------------------------------------------------------- HTTP load


async def _http_client(
    port: int, paths: list[str], deadline: float, counts: dict[int, int], latencies: list[float]
) -> None:
    """One keep-alive HTTP/1.1 connection issuing GETs until ``deadline``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            sent = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.index(b"content-length:") + 15
            length = int(lower[at : lower.index(b"\r\n", at)])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - sent)
            ok = status == 200 and body.startswith(b'{"scope"')
            counts[status if ok else -status] = counts.get(status if ok else -status, 0) + 1
    finally:
        writer.close()


def http_load(port: int, paths: list[str], seconds: float, clients: int) -> dict[str, Any]:
    """Run ``clients`` connections for ``seconds``; requests/s of good answers and latency percentiles."""
    counts: dict[int, int] = {}
    latencies: list[float] = []

    async def go() -> float:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(*(_http_client(port, paths, deadline, counts, latencies) for _ in range(clients)))
        return time.monotonic() - started

    elapsed = asyncio.run(go())
    good = counts.get(200, 0)
    return {
        "rps": round(good / elapsed, 1),
        "requests": sum(counts.values()),
        "good": good,
        "bad": {str(k): v for k, v in counts.items() if k != 200},
        "p50_ms": round(_p(latencies, 0.5) * 1000, 2) if latencies else None,
        "p99_ms": round(_p(latencies, 0.99) * 1000, 2) if latencies else None,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_and_load(url: str, cache_ttl: float, seconds: float, clients: int, paths: list[str]) -> dict[str, Any]:
    """Start uvicorn on the benchmark database, load it from a separate process, stop it."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PICTOR_SCHEDULER_BACKGROUND": "false",
        "PICTOR_LEADERBOARD_BACKGROUND": "false",
        "PICTOR_LEADERBOARD_CACHE_TTL_S": str(cache_ttl),
        "PICTOR_RATE_LIMIT_PUBLIC": "0",  # every load client is 127.0.0.1: measure the reads, not the rate limit
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{paths[0]}", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not come up")
            time.sleep(0.3)
        client = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.leaderboard",
                "--http-load",
                str(port),
                "--seconds",
                str(seconds),
                "--clients",
                str(clients),
                "--paths",
                json.dumps(paths),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# ----------------------------------------------------------------------------- the benchmark


def run_bench(
    users: int = 1_000_000,
    rows: int = 10_000_000,
    samples: int = 2000,
    fresh: int = 1000,
    seconds: float = 10.0,
    clients: int = 32,
    data_dir: Path = Path("/tmp/pictor-bench-leaderboard"),
) -> dict[str, Any]:
    """Generate (or reuse) the data, then measure refresh, reads and HTTP; the figures as a dict."""
    try:
        return _run(users, rows, samples, fresh, seconds, clients, Path(data_dir))
    finally:
        stop_embedded(Path(data_dir) / "postgres")  # the data stays for the next run; no server is left running


def _run(
    users: int, rows: int, samples: int, fresh: int, seconds: float, clients: int, data_dir: Path
) -> dict[str, Any]:
    """:func:`run_bench` with the server started."""
    load_start = os.getloadavg()
    url, base, info = _prepare(data_dir, users, rows)
    dsn = libpq_url(url)
    engine = get_engine(url)
    rng = random.Random(7)

    pgdata = Path(data_dir) / "postgres"
    with _Cpu(pgdata) as refresh_cpu:
        refresh = snapshots.refresh_snapshot(engine, snapshots.GLOBAL)
    assert refresh is not None and refresh.users >= users
    touched = _add_fresh(dsn, users, fresh, rng)
    with _Cpu(pgdata) as incremental_cpu:
        incremental = snapshots.refresh_snapshot(engine, snapshots.GLOBAL, full=False)
    assert incremental is not None and incremental.phases["incremental"] == 1.0
    touched = sorted({*touched, *_add_fresh(dsn, users, fresh, rng)})  # rows since the current snapshot
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # the refreshes' dirty pages are written now, not during the timed reads

    started = time.perf_counter()
    first = snapshots.top(engine, limit=100)
    view_build_ms = (time.perf_counter() - started) * 1000
    assert len(first.entries) == 100 and first.view.since_rows == fresh

    top_ms = []
    reads_cpu = _Cpu(pgdata).__enter__()
    for _ in range(samples):
        t = time.perf_counter()
        page = snapshots.top(engine, limit=100)
        top_ms.append((time.perf_counter() - t) * 1000)
        assert len(page.entries) == 100
    me_ms = []
    for i in range(samples):
        # Every tenth sample is a user the fresh rows changed (the merge's other branch).
        address = touched[rng.randrange(len(touched))] if i % 10 == 0 else bench_address(rng.randrange(users))
        t = time.perf_counter()
        mine = snapshots.standing(engine, address, window=5)
        me_ms.append((time.perf_counter() - t) * 1000)
        assert mine.me is not None and mine.me.address == address
    reads_cpu.__exit__()
    engine.dispose()

    paths = ["/leaderboard?limit=100"]
    http = _serve_and_load(url, 1.0, seconds, clients, paths)
    http_uncached = _serve_and_load(url, 0.0, seconds, clients, paths)
    load_end = os.getloadavg()
    return {
        "users": users,
        "rows": rows,
        "fresh_rows_since_snapshot": fresh,
        "samples": samples,
        **info,
        "snapshot_users": refresh.users,
        "refresh_phases_s": {k: round(v, 2) for k, v in refresh.phases.items()},
        "refresh_cpu_s": {"postgres": round(refresh_cpu.postgres_s, 2), "python": round(refresh_cpu.python_s, 2)},
        "refresh_incremental_s": round(incremental.seconds, 2),
        "refresh_incremental_cpu_s": round(incremental_cpu.total_s, 2),
        "read_cpu_ms_each": round(reads_cpu.total_s * 1000 / (2 * samples), 3),
        "view_build_ms": round(view_build_ms, 1),
        "top100_p50_ms": round(statistics.median(top_ms), 3),
        "my_rank_p50_ms": round(statistics.median(me_ms), 3),
        "http_clients": clients,
        "http_seconds": seconds,
        "http_p99_ms": http["p99_ms"],
        "http_errors": http["bad"],
        "http_rps_uncached": http_uncached["rps"],
        "http_uncached_p99_ms": http_uncached["p99_ms"],
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
        "cpus": os.cpu_count(),
        "top100_p99_ms": round(_p(top_ms, 0.99), 3),
        "my_rank_p99_ms": round(_p(me_ms, 0.99), 3),
        "refresh_s": round(refresh.seconds, 2),
        "http_rps": http["rps"],
    }


def main() -> None:
    """``python -m bench.leaderboard``: the benchmark, or (internal) the HTTP load of one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--fresh", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/pictor-bench-leaderboard"))
    parser.add_argument("--http-load", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--paths", default='["/leaderboard"]', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.http_load is not None:
        print(json.dumps(http_load(args.http_load, json.loads(args.paths), args.seconds, args.clients)))
        return
    print(
        json.dumps(
            run_bench(
                users=args.users,
                rows=args.rows,
                samples=args.samples,
                fresh=args.fresh,
                seconds=args.seconds,
                clients=args.clients,
                data_dir=args.data_dir,
            )
        )
    )


if __name__ == "__main__":
    main()
