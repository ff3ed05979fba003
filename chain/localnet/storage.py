"""Durable storage of the localnet: one SQLite database (WAL, ``synchronous=FULL``) per data dir.

A block is written in **one** SQLite transaction: its transactions, their legacy-handle events, the
state keys it changed, the block row and the ledger info. SQLite's WAL makes that commit atomic and
``synchronous=FULL`` fsyncs it before ``COMMIT`` returns, so after ``kill -9`` a restart finds either
the whole block or none of it, and every block the node reported as committed.

The node keeps the state in memory; the ``state`` table is its durable copy (values pickled), read
back on start. ``history`` keeps every value each transaction wrote, keyed by (state key, version),
so reads at an older ``ledger_version`` see the state as of that version. Writes happen on one dedicated writer thread (its own connection); reads come from
the event-loop thread through a second connection, which WAL lets run alongside the writer.
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS txns (
    version INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    sender TEXT,
    seq INTEGER,
    json BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS txns_hash ON txns(hash);
CREATE INDEX IF NOT EXISTS txns_sender ON txns(sender, seq) WHERE sender IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    account TEXT NOT NULL,
    creation_num INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    json BLOB NOT NULL,
    PRIMARY KEY (account, creation_num, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    first_version INTEGER NOT NULL,
    last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    value BLOB,
    PRIMARY KEY (key, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


@dataclass
class BlockRecord:
    """Everything one block adds to the ledger, written atomically by :meth:`Storage.commit_block`."""

    height: int
    block_id: str
    timestamp: int
    first_version: int
    last_version: int
    #: (version, hash, sender or None, sequence number or None, rendered JSON)
    txns: list[tuple[int, str, str | None, int | None, bytes]] = field(default_factory=list)
    #: (account, creation_num, sequence number, version, rendered VersionedEvent JSON)
    events: list[tuple[str, int, int, int, bytes]] = field(default_factory=list)
    #: state key -> new value, ``None`` for a deletion (the block's net effect)
    writes: dict[str, Any] = field(default_factory=dict)
    #: (state key, version, value or None): what each transaction of the block wrote
    history: list[tuple[str, int, Any]] = field(default_factory=list)
    #: ledger info and node bookkeeping after this block (stored as one pickled row)
    meta: dict[str, Any] = field(default_factory=dict)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with fsync at every commit."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every COMMIT, so a block reported committed survives kill -9 / power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class Storage:
    """The localnet's SQLite database: append blocks, read transactions, events and blocks back."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(self.path)
        self._writer.executescript(SCHEMA)
        self._reader = _connect(self.path)
        self._write_lock = threading.Lock()
        # After a failed commit no later block may be written: it was executed on top of the failed one.
        self._failed: str | None = None

    # ------------------------------------------------------------------ writes

    def commit_block(self, block: BlockRecord) -> None:
        """Write a whole block in one durable SQLite transaction (runs on the writer thread)."""
        if self._failed is not None:
            raise RuntimeError(f"an earlier block failed to commit: {self._failed}")
        dumps = pickle.dumps
        pickled: dict[int, bytes] = {}  # the block's final values are also the last history values

        def blob(value: Any) -> bytes:
            """Pickle a value once per block, however many rows reference it."""
            out = pickled.get(id(value))
            if out is None:
                out = pickled[id(value)] = dumps(value, protocol=5)
            return out

        history_rows = [(key, version, None if value is None else blob(value)) for key, version, value in block.history]
        state_rows = []
        deleted = []
        for key, value in block.writes.items():
            if value is None:
                deleted.append((key,))
            else:
                state_rows.append((key, blob(value)))
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT INTO txns(version, hash, sender, seq, json) VALUES (?,?,?,?,?)", block.txns)
                if block.events:
                    conn.executemany(
                        "INSERT OR REPLACE INTO events(account, creation_num, seq, version, json) VALUES (?,?,?,?,?)",
                        block.events,
                    )
                if state_rows:
                    conn.executemany("INSERT OR REPLACE INTO state(key, value) VALUES (?,?)", state_rows)
                if deleted:
                    conn.executemany("DELETE FROM state WHERE key = ?", deleted)
                if history_rows:
                    conn.executemany("INSERT OR REPLACE INTO history(key, version, value) VALUES (?,?,?)", history_rows)
                conn.execute(
                    "INSERT INTO blocks(height, id, timestamp, first_version, last_version) VALUES (?,?,?,?,?)",
                    (block.height, block.block_id, block.timestamp, block.first_version, block.last_version),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('ledger', ?)", (dumps(block.meta, protocol=5),)
                )
                conn.execute("COMMIT")
            except BaseException as exc:
                self._failed = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ reads

    def is_empty(self) -> bool:
        """True when no block (not even genesis) has been committed."""
        return self._reader.execute("SELECT 1 FROM meta WHERE key = 'ledger'").fetchone() is None

    def load_meta(self) -> dict[str, Any]:
        """The ledger info stored with the last committed block."""
        row = self._reader.execute("SELECT value FROM meta WHERE key = 'ledger'").fetchone()
        return pickle.loads(row[0]) if row else {}

    def load_state(self) -> dict[str, Any]:
        """The whole state as of the last committed block."""
        loads = pickle.loads
        return {key: loads(value) for key, value in self._reader.execute("SELECT key, value FROM state")}

    def value_at(self, key: str, version: int) -> Any:
        """The value of ``key`` as of ``version`` (``None`` when absent or deleted then)."""
        row = self._reader.execute(
            "SELECT value FROM history WHERE key = ? AND version <= ? ORDER BY version DESC LIMIT 1", (key, version)
        ).fetchone()
        return None if row is None or row[0] is None else pickle.loads(row[0])

    def keys_at(self, prefix: str, version: int) -> dict[str, Any]:
        """Every live key starting with ``prefix`` as of ``version``, with its value."""
        latest: dict[str, bytes | None] = {}
        rows = self._reader.execute(
            "SELECT key, value FROM history WHERE key >= ? AND key < ? AND version <= ? ORDER BY key, version",
            (prefix, prefix + "\U0010ffff", version),
        )
        for key, value in rows:
            latest[key] = value
        return {key: pickle.loads(value) for key, value in latest.items() if value is not None}

    def recent_txns(self, count: int) -> list[tuple[int, str, bytes]]:
        """The last ``count`` transactions as (version, hash, json), oldest first (to warm caches)."""
        rows = self._reader.execute(
            "SELECT version, hash, json FROM txns ORDER BY version DESC LIMIT ?", (count,)
        ).fetchall()
        rows.reverse()
        return rows

    def txn_by_version(self, version: int) -> bytes | None:
        """A transaction's JSON by version."""
        row = self._reader.execute("SELECT json FROM txns WHERE version = ?", (version,)).fetchone()
        return row[0] if row else None

    def txns_range(self, start: int, limit: int) -> list[bytes]:
        """Up to ``limit`` transactions' JSON from version ``start`` on."""
        rows = self._reader.execute(
            "SELECT json FROM txns WHERE version >= ? ORDER BY version LIMIT ?", (start, limit)
        ).fetchall()
        return [r[0] for r in rows]

    def txn_by_hash(self, txn_hash: str) -> bytes | None:
        """A transaction's JSON by hash."""
        row = self._reader.execute("SELECT json FROM txns WHERE hash = ?", (txn_hash,)).fetchone()
        return row[0] if row else None

    def account_txns(self, sender: str, start_seq: int, limit: int) -> list[bytes]:
        """An account's transactions by sequence number."""
        rows = self._reader.execute(
            "SELECT json FROM txns WHERE sender = ? AND seq >= ? ORDER BY seq LIMIT ?", (sender, start_seq, limit)
        ).fetchall()
        return [r[0] for r in rows]

    def events(self, account: str, creation_num: int, start: int, limit: int) -> list[bytes]:
        """Up to ``limit`` events of a handle from sequence number ``start`` on."""
        rows = self._reader.execute(
            "SELECT json FROM events WHERE account = ? AND creation_num = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (account, creation_num, start, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def event_count(self, account: str, creation_num: int) -> int:
        """How many events a handle has."""
        row = self._reader.execute(
            "SELECT MAX(seq) FROM events WHERE account = ? AND creation_num = ?", (account, creation_num)
        ).fetchone()
        return 0 if row is None or row[0] is None else row[0] + 1

    def block_by_height(self, height: int) -> tuple[int, str, int, int, int] | None:
        """(height, id, timestamp, first_version, last_version) of a block."""
        return self._reader.execute(
            "SELECT height, id, timestamp, first_version, last_version FROM blocks WHERE height = ?", (height,)
        ).fetchone()

    def block_by_version(self, version: int) -> tuple[int, str, int, int, int] | None:
        """The block holding ``version``."""
        return self._reader.execute(
            "SELECT height, id, timestamp, first_version, last_version FROM blocks "
            "WHERE first_version <= ? ORDER BY height DESC LIMIT 1",
            (version,),
        ).fetchone()

    def close(self) -> None:
        """Close both connections (a clean stop also checkpoints the WAL)."""
        with self._write_lock:
            for conn in (self._reader, self._writer):
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
