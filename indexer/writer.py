"""Write decoded batches to PostgreSQL exactly once: rows and checkpoint in one transaction.

:meth:`Writer.write` runs one database transaction:

1. lock this processor's ``processor_status`` row (``SELECT … FOR UPDATE``) and drop every
   transaction at or below its checkpoint, so a batch written twice (or overlapping) changes nothing;
2. load the current-state rows the remaining events touch, fold the events over them in order
   (:class:`indexer.processor.Fold`);
3. bulk-write, never a row at a time: event tables by ``COPY`` (``event_writes="copy"``, the default:
   step 1 guarantees that none of these rows exists yet, and a primary-key violation would abort the
   whole batch loudly), or by ``COPY`` into a session-temporary staging table and one
   ``INSERT … SELECT … ON CONFLICT (txn_version, event_index[, seq]) DO NOTHING`` (``"staging"``);
   current-state tables by ``COPY`` into staging and one ``INSERT … ON CONFLICT (key) DO UPDATE``;
4. move the checkpoint forward, guarded so that it never moves backwards
   (``… DO UPDATE … WHERE processor_status.last_success_version < EXCLUDED.last_success_version``),
   and commit.

Step 2 can run ahead (:meth:`Writer.prepare`): the pipeline folds batch N+1 over the cache while
batch N is written; :meth:`Writer.commit` then writes those rows only if the checkpoint it locks is
the one the fold assumed and the cache was not dropped meanwhile, and folds again otherwise.

A crash anywhere before the commit leaves nothing behind; after it, rows and checkpoint agree. The
session runs with ``synchronous_commit = off``: a database crash may lose the last commits, rows and
checkpoint together, and they are indexed again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from indexer import schema
from indexer.processor import COLUMNS, DecodedBatch, DecodedTxn, Fold, Keys, Rows, State, collect_keys

log = logging.getLogger("pictor.indexer")

DEFAULT_PROCESSOR = "pictor"

#: Current-state tables and their primary keys (upserted with ``ON CONFLICT … DO UPDATE``).
STATE_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.primary_key.columns)
    for name, table in schema.metadata.tables.items()
    if "last_version" in table.c
}
#: Event tables (append-only, ``ON CONFLICT DO NOTHING``).
EVENT_TABLES: tuple[str, ...] = tuple(
    name for name, table in schema.metadata.tables.items() if "txn_version" in table.c and name not in STATE_KEYS
)

_CHECKPOINT_SQL = """
INSERT INTO processor_status (processor, last_success_version, updated_at) VALUES (%s, %s, now())
ON CONFLICT (processor) DO UPDATE
SET last_success_version = EXCLUDED.last_success_version, updated_at = EXCLUDED.updated_at
WHERE processor_status.last_success_version < EXCLUDED.last_success_version
"""


class GapError(RuntimeError):
    """A batch does not start right after the checkpoint: writing it would skip versions."""


@dataclass(frozen=True)
class WriteResult:
    """What one :meth:`Writer.write` committed."""

    checkpoint: int  # last_success_version after the commit
    transactions: int  # transactions with indexed events that were new
    events: int  # indexed events written
    rows: int  # event-table rows written
    seconds: float


def _ints(values: Any) -> list[str]:
    """u64 keys as decimal strings (bound as ``text[]`` and cast to ``numeric[]``: no int8 overflow)."""
    return [str(v) for v in values]


class _IntegerNumericLoader(Loader):
    """NUMERIC as int: every NUMERIC of the mirror has scale 0 (u64 and signed deltas)."""

    def load(self, data: Buffer) -> int:
        """Parse the text form."""
        return int(bytes(data))


def _rows_by(cur: psycopg.Cursor, query: sql.Composable | str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur.execute(query, params)
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _know_fresh(known: Keys, keys: Keys) -> None:
    """Count the keys the batch creates as looked up: the fold builds their rows from the events."""
    known.jobs |= keys.fresh_jobs
    known.tasks |= keys.fresh_tasks
    known.nodes |= keys.fresh_nodes
    known.epochs |= keys.fresh_epochs


@dataclass
class Prepared:
    """Batches checked by :meth:`Writer.prepare`, with their rows when they could be folded ahead."""

    batches: list[DecodedBatch]
    base: int | None  # the checkpoint the fold assumed (None: not folded yet)
    generation: int  # the writer's cache generation the fold used
    rows: Rows | None  # None: folded inside the write transaction


class Writer:
    """Commits decoded batches for one processor over one autocommit connection (which may hold its advisory lock)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        processor: str = DEFAULT_PROCESSOR,
        *,
        event_writes: str = "copy",
        cache_rows: int = 200_000,
        reader: psycopg.Connection | None = None,
    ) -> None:
        if not conn.autocommit or (reader is not None and not reader.autocommit):
            raise ValueError("the writer needs autocommit connections (it runs its own transactions)")
        self.conn = conn
        #: A second connection :meth:`prepare` reads rows the cache lacks through while ``conn`` writes.
        self.reader = reader
        self.processor = processor
        if event_writes not in ("copy", "staging"):
            raise ValueError("event_writes is 'copy' or 'staging'")
        self.event_writes = event_writes
        self._staged: set[str] = set()
        self.cache_rows = cache_rows
        #: True while :meth:`write` folds (pure Python, the database idle): a decoder in another thread
        #: of this process may wait for it rather than compete for the GIL and stretch the transaction.
        self.folding = False
        #: Guards the cache: :meth:`prepare` may fold (in the pipeline's thread) while :meth:`commit` writes.
        self._lock = threading.RLock()
        self._generation = 0
        self._forget()
        # A commit need not wait for its WAL flush: a database crash may lose the last batches, but rows and
        # checkpoint together (one transaction), so they are simply indexed again. Exactly-once holds.
        conn.execute("SET synchronous_commit TO off")
        conn.adapters.register_loader("numeric", _IntegerNumericLoader)
        if reader is not None:
            reader.adapters.register_loader("numeric", _IntegerNumericLoader)

    # -- checkpoint

    def checkpoint(self) -> int | None:
        """The last committed version of this processor, or None before its first batch."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT last_success_version FROM processor_status WHERE processor = %s", (self.processor,))
            row = cur.fetchone()
        return None if row is None or row[0] < 0 else int(row[0])

    def _lock_checkpoint(self, cur: psycopg.Cursor) -> int:
        """Lock this processor's status row for the transaction and return its version (−1 if none)."""
        cur.execute(
            "INSERT INTO processor_status (processor, last_success_version) VALUES (%s, -1) ON CONFLICT DO NOTHING",
            (self.processor,),
        )
        cur.execute(
            "SELECT last_success_version FROM processor_status WHERE processor = %s FOR UPDATE", (self.processor,)
        )
        row = cur.fetchone()
        assert row is not None
        return int(row[0])

    # -- the transaction

    def write(self, batches: Sequence[DecodedBatch]) -> WriteResult:
        """Write consecutive batches and move the checkpoint to their end, in one transaction."""
        return self.commit(self.prepare(batches))

    def prepare(self, batches: Sequence[DecodedBatch]) -> Prepared:
        """Check the batches and, when the cached state covers every key they touch, fold them now.

        Folding ahead lets the pipeline fold the next batch while the previous one is still being
        written. The fold assumes that everything folded before it commits (the checkpoint will be
        ``base``); :meth:`commit` writes its rows only if the checkpoint it locks is ``base`` and the
        cache was not dropped meanwhile, and folds again inside its transaction otherwise.

        Rows the cache lacks are read through ``reader`` (committed state): a key no earlier fold of
        this cache touched is the same at the checkpoint ``base`` as now, since this writer holds the
        processor's lock and any other writer would have moved the checkpoint. Without a reader, such
        a batch is folded inside its transaction.
        """
        if not batches:
            raise ValueError("nothing to write")
        for before, after in zip(batches, batches[1:], strict=False):
            if after.first_version != before.last_version + 1:
                raise GapError(f"batches are not consecutive: {before.last_version} then {after.first_version}")
        batches = list(batches)
        with self._lock:
            ahead, generation = self._ahead, self._generation
            if ahead is None or batches[0].first_version != ahead + 1:
                return Prepared(batches, None, generation, None)
            txns = [t for b in batches for t in b.txns]
            keys = collect_keys(txns)
            try:
                if self._covered(keys):
                    state = self._state
                elif self.reader is not None:
                    with self.reader.cursor() as cur:
                        state = self._load(cur, keys)
                else:
                    return Prepared(batches, None, generation, None)  # the fold needs the write transaction
                rows = Fold(state).apply(txns)
            except BaseException:
                self._forget()  # the fold may have changed cached rows half-way
                raise
            self._ahead = batches[-1].last_version
            return Prepared(batches, ahead, generation, rows)

    def commit(self, prepared: Prepared) -> WriteResult:
        """Write a prepared batch and move the checkpoint to its end, in one transaction (folding it here if needed)."""
        batches = prepared.batches
        started = time.perf_counter()
        end = batches[-1].last_version
        rows = prepared.rows
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                last = self._lock_checkpoint(cur)
                if rows is not None and (last != prepared.base or prepared.generation != self._generation):
                    rows = None  # folded on a cache that is not the committed state: fold again below
                    with self._lock:
                        self._forget()
                if rows is None:
                    with self._lock:
                        if last != self._committed:
                            self._forget()  # someone else wrote since this writer's last commit: its cache is stale
                        self._committed = last
                        if end <= last:
                            return WriteResult(last, 0, 0, 0, time.perf_counter() - started)
                        if last >= 0 and batches[0].first_version > last + 1:
                            raise GapError(f"checkpoint is {last} but the batch starts at {batches[0].first_version}")
                        txns = [t for b in batches for t in b.after(last).txns]
                        self.folding = True  # the pipeline holds its decoding back meanwhile (see indexer.runner)
                        try:
                            rows = self.fold(cur, txns)
                        finally:
                            self.folding = False
                        self._ahead = end
                else:
                    txns = [t for b in batches for t in b.txns]
                self._write_rows(cur, rows)
                cur.execute(_CHECKPOINT_SQL, (self.processor, end))
        except BaseException:
            self._staged.clear()  # staging tables created in the rolled-back transaction are gone
            with self._lock:
                self._forget()  # the folds changed cached rows that were not committed
            raise
        with self._lock:
            self._committed = end
            if self._cached_rows() > self.cache_rows:
                self._forget()
        events = sum(len(t.events) for t in txns)
        return WriteResult(end, len(txns), events, rows.event_row_count, time.perf_counter() - started)

    def fold(self, cur: psycopg.Cursor, txns: list[DecodedTxn]) -> Rows:
        """Load the state the events touch and fold them over it (inside the caller's transaction)."""
        if not txns:
            return Rows()
        keys = collect_keys(txns)
        return Fold(self._load(cur, keys)).apply(txns)

    # -- current state: loaded once, then kept up to date by the folds this writer commits

    def _forget(self) -> None:
        """Drop the cached current state (the next batch loads what it touches from the database)."""
        self._state = State()
        self._known = Keys()
        self._committed = None
        self._ahead = None  # the end of the last batch folded into the cache (committed or not)
        self._generation += 1  # folds made on the dropped cache are void

    def _covered(self, keys: Keys) -> bool:
        """Whether every key (and every job creator's account) was already looked up: folding needs no query."""
        known, state = self._known, self._state
        if not (
            keys.jobs - keys.fresh_jobs <= known.jobs
            and keys.tasks - keys.fresh_tasks <= known.tasks
            and keys.nodes - keys.fresh_nodes <= known.nodes
            and keys.operators <= known.operators
            and keys.epochs - keys.fresh_epochs <= known.epochs
            and keys.stores <= known.stores
            and keys.accounts <= known.accounts
            and (known.config or not keys.config)
        ):
            return False
        jobs = state.jobs
        if not all(jobs[j]["creator"] in known.accounts for j in keys.jobs if j in jobs):
            return False
        _know_fresh(known, keys)
        return True

    def _cached_rows(self) -> int:
        state = self._state
        return sum(
            len(d)
            for d in (
                state.accounts,
                state.jobs,
                state.tasks,
                state.nodes,
                state.stakes,
                state.unbonding,
                state.epochs,
                state.stores,
            )
        )

    def _load(self, cur: psycopg.Cursor, keys: Keys) -> State:
        """The current state for ``keys`` (job creators' vault accounts included): cached, or read now.

        Rows this writer has read or committed are cached; the cache is dropped whenever a transaction
        fails or the checkpoint shows another writer. ``_known`` remembers every key looked up, present
        or not, so a key absent from the database is not queried again.
        """
        state, known = self._state, self._known

        def missing(wanted: set[Any], seen: set[Any]) -> list[Any]:
            new = list(wanted - seen)
            seen.update(new)
            return new

        _know_fresh(known, keys)  # created by the fold: not looked up
        if jobs := missing(keys.jobs, known.jobs):
            for row in _rows_by(cur, "SELECT * FROM jobs WHERE job_id = ANY(%s::text[]::numeric[])", (_ints(jobs),)):
                state.jobs[row["job_id"]] = row
        keys.accounts.update(state.jobs[j]["creator"] for j in keys.jobs if j in state.jobs)
        if tasks := missing(keys.tasks, known.tasks):
            job_ids, task_ids = zip(*tasks, strict=True)
            for row in _rows_by(
                cur,
                "SELECT t.* FROM tasks t JOIN unnest(%s::text[]::numeric[], %s::text[]::numeric[]) AS k(j, i)"
                " ON t.job_id = k.j AND t.task_id = k.i",
                (_ints(job_ids), _ints(task_ids)),
            ):
                state.tasks[(row["job_id"], row["task_id"])] = row
        if nodes := missing(keys.nodes, known.nodes):
            for row in _rows_by(cur, "SELECT * FROM nodes WHERE node_id = ANY(%s::text[]::numeric[])", (_ints(nodes),)):
                state.nodes[row["node_id"]] = row
        if operators := missing(keys.operators, known.operators):
            for row in _rows_by(cur, "SELECT * FROM stakes WHERE operator = ANY(%s)", (operators,)):
                state.stakes[(row["operator"], row["role"])] = row
            for row in _rows_by(
                cur, "SELECT * FROM unbonding_requests WHERE operator = ANY(%s) AND status = 'pending'", (operators,)
            ):
                state.unbonding[row["request_id"]] = row
        if epochs := missing(keys.epochs, known.epochs):
            for row in _rows_by(
                cur, "SELECT * FROM reward_epochs WHERE epoch = ANY(%s::text[]::numeric[])", (_ints(epochs),)
            ):
                state.epochs[row["epoch"]] = row
        if stores := missing(keys.stores, known.stores):
            for row in _rows_by(cur, "SELECT * FROM token_stores WHERE store = ANY(%s)", (stores,)):
                state.stores[row["store"]] = row
        if accounts := missing(keys.accounts, known.accounts):
            for row in _rows_by(cur, "SELECT * FROM vault_accounts WHERE address = ANY(%s)", (accounts,)):
                state.accounts[row["address"]] = row
        if keys.config and not known.config:
            found = _rows_by(cur, "SELECT * FROM protocol_config WHERE id = 1", ())
            state.config = found[0] if found else None
            known.config = True
        return state

    # -- bulk writes

    def _copy(self, cur: psycopg.Cursor, statement: sql.Composed, rows: list[tuple]) -> None:
        with cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _staged_insert(self, cur: psycopg.Cursor, table: str, rows: list[tuple], insert: sql.Composed) -> None:
        """COPY into this session's staging table for ``table``, then one set-based INSERT from it."""
        statements = _SQL[table]
        if table not in self._staged:
            cur.execute(statements.create_stage)
            self._staged.add(table)
        self._copy(cur, statements.copy_stage, rows)
        cur.execute(insert)

    def _write_rows(self, cur: psycopg.Cursor, rows: Rows) -> None:
        """Every row of the batch: event tables appended (see ``event_writes``), state tables upserted."""
        for table, table_rows in rows.events.items():
            if self.event_writes == "copy":
                self._copy(cur, _SQL[table].copy_target, table_rows)
            else:
                self._staged_insert(cur, table, table_rows, _SQL[table].insert_new)
        for table, table_rows in rows.upserts.items():
            self._staged_insert(cur, table, table_rows, _SQL[table].upsert)


@dataclass(frozen=True)
class _TableSQL:
    """The statements the writer runs for one table (composed once)."""

    copy_target: sql.Composed  # COPY straight into the table
    create_stage: sql.Composed  # this session's staging table, emptied at every commit
    copy_stage: sql.Composed
    insert_new: sql.Composed  # staging -> table, ON CONFLICT DO NOTHING (event tables)
    upsert: sql.Composed  # staging -> table, ON CONFLICT (key) DO UPDATE (current-state tables)


def _table_sql(name: str) -> _TableSQL:
    target, stage = sql.Identifier(name), sql.Identifier(f"stage_{name}")
    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS[name]))
    key = STATE_KEYS.get(name, ("txn_version", "event_index"))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS[name] if c not in key
    )
    select = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(target, cols, cols, stage)
    return _TableSQL(
        copy_target=sql.SQL("COPY {} ({}) FROM STDIN").format(target, cols),
        create_stage=sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
            stage, target
        ),
        copy_stage=sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols),
        insert_new=sql.SQL("{} ON CONFLICT DO NOTHING").format(select),
        upsert=sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET {}").format(
            select, sql.SQL(", ").join(map(sql.Identifier, key)), updates
        ),
    )


_SQL: dict[str, _TableSQL] = {name: _table_sql(name) for name in (*EVENT_TABLES, *STATE_KEYS)}
