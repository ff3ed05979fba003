"""The localnet node: mempool, block production and publication, and the read model of the ledger.

One :class:`Node` runs inside the server's event loop:

* :meth:`Node.submit` decodes a BCS ``SignedTransaction`` (:mod:`chain.localnet.txn`), validates it
  as an Aptos node's mempool and VM validator do (signature, authentication key, sequence number,
  expiration, chain id, gas bounds, gas balance) and parks it in the mempool, keyed by sender and
  sequence number;
* a background task (:meth:`Node.run`) drains the transactions whose sequence number is next for
  their sender into a block and executes them one after the other (:mod:`chain.localnet.execute`, each
  in its own :class:`core.Overlay`) on top of the chain's tip; the block is written durably in one
  SQLite commit (:mod:`chain.localnet.storage`, on a writer thread) and only then published (state, ledger info,
  the waiters of ``wait_by_hash``) by a second task. While one block is being fsynced the next one
  already executes on top of it (at most :data:`PIPELINE_DEPTH` blocks between execution and
  publication); nothing of a block is visible before its commit returned;
* reads (accounts, resources, transactions, events, views) are answered from memory, or from SQLite
  for old transactions.

Every block starts with a ``block_metadata_transaction`` (as on Aptos) that advances
``0x1::timestamp``; an idle chain still produces one such block a second, so the ledger timestamp
stays close to the wall clock, and a test-clock advance is committed at once in an empty block.

Deliberate differences from Aptos are documented where they are made (search for "Aptos").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.localnet.auth import ZERO_ADDRESS
from chain.localnet.codec import dumps, hex0x, loads
from chain.localnet.errors import ApiError, Discard, invalid_input, misc_error_status, vm_error
from chain.localnet.execute import (
    Outcome,
    block_metadata_transaction,
    call_view,
    execute,
    genesis_transaction,
    render_user_transaction,
)
from chain.localnet.ledger import ZERO_HASH, HistoricalState, LedgerInfo
from chain.localnet.render import HandleEvent, prepare
from chain.localnet.storage import BlockRecord, Storage
from chain.localnet.txn import (
    INTRINSIC_GAS_UNITS,
    MAX_GAS_AMOUNT,
    MIN_GAS_UNIT_PRICE,
    SignedTxn,
    contains_duplicate_signers,
    decode_signed_transaction,
    prologue,
)
from chain.localnet.vm import core, framework, load_pictor
from chain.localnet.vm.core import Overlay

log = logging.getLogger("chain.localnet")

#: How far ahead of the committed sequence number a sender may pipeline (Aptos: mempool capacity_per_user).
MAX_SEQUENCE_AHEAD = 100
MEMPOOL_CAPACITY = 200_000
MAX_BLOCK_TXNS = 250
#: Execute this many transactions, then let the event loop serve requests, while building a block.
EXECUTION_SLICE = 32
IDLE_BLOCK_INTERVAL_S = 1.0
#: Blocks executed but not yet published: the next block executes while the previous one is fsynced.
PIPELINE_DEPTH = 2
RECENT_TXN_CACHE = 50_000


@dataclass
class _Executed:
    """A block executed on top of the chain's tip, waiting for its durable commit to be published."""

    record: BlockRecord
    state: Overlay
    ledger: LedgerInfo
    block_id: str
    accumulator: bytes
    batch: list[SignedTxn]
    committed: list[tuple[SignedTxn | None, str, bytes, int]]
    discarded: list[SignedTxn]
    returned: list[SignedTxn]
    commit: asyncio.Future[None] | None = None


# --------------------------------------------------------------------------- the node


class Node:
    """Mempool, block producer and read model of one localnet, bound to its data dir."""

    def __init__(
        self,
        data_dir: Path,
        *,
        chain_id: int,
        test_clock: bool = False,
        idle_block_interval: float = IDLE_BLOCK_INTERVAL_S,
    ) -> None:
        load_pictor()  # register the package's functions before any transaction can name them
        self.data_dir = Path(data_dir)
        self.chain_id = chain_id
        self.test_clock = test_clock
        self.idle_block_interval = idle_block_interval
        self.storage = Storage(self.data_dir / "ledger.sqlite")
        self.state: dict[str, Any] = {}
        self.resources: dict[str, dict[str, str]] = {}  # address -> type tag -> state key
        self.ledger = LedgerInfo(chain_id, 0, 0, 0)
        self.header_list: list[tuple[bytes, bytes]] = self.ledger.headers()
        self.block_id = ZERO_HASH
        self.accumulator = bytes(32)
        self.clock_offset_us = 0
        # mempool
        self.pool: dict[str, dict[int, SignedTxn]] = {}
        self.pool_by_hash: dict[str, SignedTxn] = {}
        self.ready: dict[str, None] = {}  # ordered set: senders whose next sequence number is pooled
        self.in_flight: dict[str, SignedTxn] = {}
        self.recent: OrderedDict[str, tuple[int, bytes]] = OrderedDict()  # hash -> (version, json)
        self.recent_versions: dict[int, bytes] = {}
        self._waiters: dict[str, list[asyncio.Future[bytes | None]]] = {}
        self._wake = asyncio.Event()
        self._force_block = False
        self._block_committed = asyncio.Condition()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localnet-writer")
        self._task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._unpublished: deque[_Executed] = deque()
        self._to_publish: asyncio.Queue[_Executed | None] = asyncio.Queue()
        self._pipeline = asyncio.Semaphore(PIPELINE_DEPTH)
        self._broken: str | None = None
        self._closing = False
        self.on_publish: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> bool:
        """Load the committed ledger from disk; False when the data dir holds no chain yet."""
        if self.storage.is_empty():
            return False
        meta = self.storage.load_meta()
        self.state = self.storage.load_state()
        self._apply_meta(meta)
        self._rebuild_resource_index()
        for version, txn_hash, body in self.storage.recent_txns(RECENT_TXN_CACHE):
            self._remember(version, txn_hash, body)
        return True

    def _apply_meta(self, meta: dict[str, Any]) -> None:
        """Adopt the ledger info stored with the last block."""
        self.ledger = LedgerInfo(self.chain_id, meta["version"], meta["timestamp_us"], meta["block_height"])
        self.header_list = self.ledger.headers()
        self.block_id = meta["block_id"]
        self.accumulator = meta["accumulator"]
        self.clock_offset_us = meta.get("clock_offset_us", 0)

    def _meta(self, ledger: LedgerInfo, block_id: str, accumulator: bytes) -> dict[str, Any]:
        """The ledger info stored with a block."""
        return {
            "version": ledger.version,
            "timestamp_us": ledger.timestamp_us,
            "block_height": ledger.block_height,
            "block_id": block_id,
            "accumulator": accumulator,
            "clock_offset_us": self.clock_offset_us,
            "chain_id": self.chain_id,
        }

    def _rebuild_resource_index(self) -> None:
        """Index every resource by address (after loading the state)."""
        self.resources = {}
        for key in self.state:
            self._index_key(key, present=True)

    def _index_key(self, key: str, *, present: bool) -> None:
        """Add or remove one state key in the per-address resource index."""
        if not key.startswith("r|"):
            return
        _, address, type_tag = key.split("|", 2)
        if present:
            self.resources.setdefault(address, {})[type_tag] = key
        else:
            by_type = self.resources.get(address)
            if by_type is not None:
                by_type.pop(type_tag, None)
                if not by_type:
                    del self.resources[address]

    def commit_genesis(
        self,
        ctx_state: Overlay,
        events: list[dict[str, Any]],
        handle_events: list[HandleEvent],
    ) -> None:
        """Write version 0 (the genesis transaction, block 0) synchronously and load it."""
        changes = ctx_state.changes()
        txn_hash, json_body, self.accumulator = genesis_transaction(changes, events, self.accumulator)
        self.block_id = hex0x(core.sha3(b"genesis" + bytes(32)))
        self.ledger = LedgerInfo(self.chain_id, 0, 0, 0)
        record = BlockRecord(
            height=0,
            block_id=self.block_id,
            timestamp=0,
            first_version=0,
            last_version=0,
            txns=[(0, txn_hash, None, None, json_body)],
            events=[(a, c, s, 0, dumps({"version": "0", **e})) for a, c, s, e in handle_events],
            writes=changes,
            history=[(key, 0, value) for key, value in changes.items()],
            meta=self._meta(self.ledger, self.block_id, self.accumulator),
        )
        self.storage.commit_block(record)
        self.load()

    def start(self) -> None:
        """Start the block producer and publisher (call from inside the running event loop)."""
        loop = asyncio.get_running_loop()
        self._publisher = loop.create_task(self._publish_loop(), name="localnet-block-publisher")
        self._task = loop.create_task(self.run(), name="localnet-block-producer")

    async def close(self) -> None:
        """Stop producing blocks, let the blocks in flight commit and publish, close the database."""
        self._closing = True
        self._wake.set()
        for task in (self._task, self._publisher):
            if task is None:
                continue
            if task is self._publisher:
                self._to_publish.put_nowait(None)
            try:
                await asyncio.wait_for(task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._writer.shutdown(wait=True)
        self.storage.close()

    # ------------------------------------------------------------------ the tip (executed, maybe unpublished)

    def _tip(self) -> tuple[LedgerInfo, str, bytes]:
        """Ledger info, block id and accumulator after the last *executed* block."""
        if self._unpublished:
            last = self._unpublished[-1]
            return last.ledger, last.block_id, last.accumulator
        return self.ledger, self.block_id, self.accumulator

    def _tip_state(self) -> Any:
        """The state after the last executed block (what the next block executes on)."""
        return self._unpublished[-1].state if self._unpublished else self.state

    def next_seq(self, address: str) -> int:
        """The sequence number the sender's next transaction must carry, counting executed blocks (0 for an address
        with no account yet: a sponsored transaction creates it)."""
        return framework.sequence_number(self._tip_state(), address) or 0

    # ------------------------------------------------------------------ clock

    def now_us(self) -> int:
        """Chain time for the next block: wall clock plus the test offset, strictly after the last block."""
        return max(time.time_ns() // 1000 + self.clock_offset_us, self._tip()[0].timestamp_us + 1)

    async def advance_clock(self, microseconds: int) -> int:
        """Test clock: move chain time forward and commit an empty block at the new time; returns it."""
        if microseconds < 0:
            raise invalid_input("the clock only moves forward")
        self.clock_offset_us += microseconds
        return await self.tick()

    async def tick(self) -> int:
        """Commit a block now (empty if nothing is ready) and wait until it is published; its timestamp.

        The server ticks once at start, so the ledger clock is current before the first request.
        """
        target = self._tip()[0].block_height + 1
        self._force_block = True
        self._wake.set()
        async with self._block_committed:
            await self._block_committed.wait_for(lambda: self.ledger.block_height >= target)
        return self.ledger.timestamp_us

    # ------------------------------------------------------------------ reads

    def _remember(self, version: int, txn_hash: str, body: bytes) -> None:
        """Keep a committed transaction's JSON in the in-memory cache."""
        self.recent[txn_hash] = (version, body)
        self.recent_versions[version] = body
        while len(self.recent) > RECENT_TXN_CACHE:
            _, (old_version, _) = self.recent.popitem(last=False)
            self.recent_versions.pop(old_version, None)

    def committed_txn_by_hash(self, txn_hash: str) -> bytes | None:
        """The committed transaction's JSON, ``None`` when not committed."""
        hit = self.recent.get(txn_hash)
        if hit is not None:
            return hit[1]
        if txn_hash in self.in_flight or txn_hash in self.pool_by_hash:
            return None  # pending: not in the database either (saves a query per poll)
        return self.storage.txn_by_hash(txn_hash)

    def will_commit_soon(self, txn_hash: str) -> bool:
        """True when the transaction is in a block being committed, or next in line for its sender."""
        if txn_hash in self.in_flight:
            return True
        txn = self.pool_by_hash.get(txn_hash)
        return txn is not None and txn.sender in self.ready and txn.seq == self.next_seq(txn.sender)

    def pending_txn_by_hash(self, txn_hash: str) -> SignedTxn | None:
        """The transaction while it waits in the mempool or in the block being committed."""
        return self.in_flight.get(txn_hash) or self.pool_by_hash.get(txn_hash)

    def txn_by_version(self, version: int) -> bytes | None:
        """The committed transaction at ``version``, ``None`` past the ledger."""
        if version > self.ledger.version:
            return None
        body = self.recent_versions.get(version)
        return body if body is not None else self.storage.txn_by_version(version)

    def txns_range(self, start: int, limit: int) -> list[bytes]:
        """Up to ``limit`` committed transactions from ``start`` on."""
        end = min(self.ledger.version, start + limit - 1)
        out = [self.recent_versions.get(v) for v in range(start, end + 1)]
        if any(b is None for b in out):
            return self.storage.txns_range(start, end - start + 1)
        return out  # type: ignore[return-value]

    def state_at(self, version: int | None) -> Any:
        """The state as of ``version`` (the live dict for the latest version), for reads and views."""
        if version is None or version >= self.ledger.version:
            return self.state
        return HistoricalState(self.storage, version)

    def account_resource(self, address: str, type_tag: str, version: int | None = None) -> Any:
        """One resource of an account as of ``version`` (latest by default)."""
        return self.state_at(version).get(core.resource_key(address, type_tag))

    def account_resources(self, address: str, version: int | None = None) -> list[tuple[str, Any]]:
        """Every resource of an account as of ``version``, sorted by type."""
        address = core.norm_addr(address)
        if version is not None and version < self.ledger.version:
            found = self.storage.keys_at(f"r|{address}|", version)
            return sorted((key.split("|", 2)[2], value) for key, value in found.items())
        by_type = self.resources.get(address, {})
        return [(t, self.state[k]) for t, k in sorted(by_type.items())]

    def committed_seq(self, address: str) -> int | None:
        """The account's committed sequence number, ``None`` when there is no account."""
        return framework.sequence_number(self.state, address)

    async def wait_committed(self, txn_hash: str, timeout: float) -> bytes | None:
        """Wait until ``txn_hash`` is committed (its JSON) or dropped / timed out (``None``)."""
        body = self.committed_txn_by_hash(txn_hash)
        if body is not None or self.pending_txn_by_hash(txn_hash) is None:
            return body
        fut: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(txn_hash, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(txn_hash)
            if waiters is not None:
                if fut in waiters:
                    waiters.remove(fut)
                if not waiters:
                    del self._waiters[txn_hash]

    def _resolve(self, txn_hash: str, body: bytes | None) -> None:
        """Wake the waiters of ``txn_hash``."""
        for fut in self._waiters.pop(txn_hash, ()):
            if not fut.done():
                fut.set_result(body)

    # ------------------------------------------------------------------ validation & mempool

    def submit(self, data: bytes) -> SignedTxn:
        """Validate a BCS ``SignedTransaction`` and add it to the mempool (idempotent for a resubmission)."""
        txn = decode_signed_transaction(data)
        return self.submit_decoded(txn)

    def submit_decoded(self, txn: SignedTxn) -> SignedTxn:
        """Mempool admission of a decoded transaction; raises :class:`ApiError` as Aptos's API does."""
        if txn.hash in self.pool_by_hash or txn.hash in self.in_flight:
            return self.pool_by_hash.get(txn.hash) or self.in_flight[txn.hash]
        if self._broken is not None:
            raise ApiError(503, f"the localnet stopped producing blocks: {self._broken}", "internal_error")
        if not txn.signature_valid():
            raise vm_error("INVALID_SIGNATURE")
        if contains_duplicate_signers(txn):
            raise vm_error("SIGNERS_CONTAIN_DUPLICATES")
        try:
            prologue(txn, self.state, chain_id=self.chain_id, now_s=int(time.time()))
        except Discard as exc:
            raise vm_error(exc.status) from None
        committed = self.committed_seq(txn.sender) or 0
        if txn.seq > committed + MAX_SEQUENCE_AHEAD:
            raise vm_error("SEQUENCE_NUMBER_TOO_NEW")
        by_seq = self.pool.get(txn.sender)
        current = by_seq.get(txn.seq) if by_seq else None
        if current is not None:
            if current.args != txn.args or current.function_id != txn.function_id or current.ty_args != txn.ty_args:
                raise ApiError(
                    400, "Transaction already in mempool with a different payload", "invalid_transaction_update"
                )
            if current.expiration != txn.expiration:
                raise ApiError(
                    400,
                    "Transaction already in mempool with a different expiration timestamp",
                    "invalid_transaction_update",
                )
            if current.max_gas != txn.max_gas:
                raise ApiError(
                    400, "Transaction already in mempool with a different max gas amount", "invalid_transaction_update"
                )
            if current.gas_price > txn.gas_price:
                raise ApiError(
                    400, "Transaction already in mempool with a higher gas price", "invalid_transaction_update"
                )
            if current.gas_price == txn.gas_price:
                return current  # same raw transaction: idempotent
            self._drop(current, resolve=False)  # a higher gas price replaces it
        if len(self.pool_by_hash) >= MEMPOOL_CAPACITY:
            raise ApiError(
                507,
                f"Mempool is full. Mempool size: {len(self.pool_by_hash)}, Capacity: {MEMPOOL_CAPACITY}",
                "mempool_is_full",
            )
        prepare(txn)
        txn.received = time.monotonic()
        self.pool.setdefault(txn.sender, {})[txn.seq] = txn
        self.pool_by_hash[txn.hash] = txn
        if txn.seq == self.next_seq(txn.sender):
            self.ready[txn.sender] = None
            self._wake.set()
        return txn

    def _drop(self, txn: SignedTxn, *, resolve: bool = True) -> None:
        """Remove a transaction from the mempool (and wake its waiters with ``None``)."""
        by_seq = self.pool.get(txn.sender)
        if by_seq is not None and by_seq.get(txn.seq) is txn:
            del by_seq[txn.seq]
            if not by_seq:
                del self.pool[txn.sender]
        self.pool_by_hash.pop(txn.hash, None)
        if resolve:
            self._resolve(txn.hash, None)

    def _gc_pool(self) -> None:
        """Drop pooled transactions that can never run: expired, or behind their sender's sequence number."""
        now_s = int(time.time())
        for sender in list(self.pool):
            expected = self.next_seq(sender) or 0
            for txn in list(self.pool[sender].values()):
                if txn.seq < expected or txn.expiration <= now_s:
                    self._drop(txn)
            if sender in self.pool and expected in self.pool[sender]:
                self.ready[sender] = None

    # ------------------------------------------------------------------ block production

    async def run(self) -> None:
        """Block producer: a block as soon as transactions are ready, an empty one when idle for a while."""
        last_gc = time.monotonic()
        while not self._closing and self._broken is None:
            if not self.ready and not self._force_block:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_block_interval)
            self._wake.clear()
            if self._closing or self._broken is not None:
                break
            if time.monotonic() - last_gc > 1.0:
                self._gc_pool()
                last_gc = time.monotonic()
            await self._pipeline.acquire()  # at most PIPELINE_DEPTH blocks between execution and publication
            try:
                block = await self._execute_block()
            except Exception:  # a bug must not stop the chain; nothing of this block was kept
                self._pipeline.release()
                log.exception("block execution failed")
                await asyncio.sleep(0.05)
                continue
            self._to_publish.put_nowait(block)

    async def _publish_loop(self) -> None:
        """Publish executed blocks in order, each once its commit is durable."""
        while True:
            block = await self._to_publish.get()
            if block is None:
                return
            try:
                await self._finish(block)
            except Exception:  # logged by _finish; the chain is stopped (fail-stop)
                pass
            finally:
                self._pipeline.release()

    def _take_ready(self) -> list[SignedTxn]:
        """Pop the next block's transactions: each ready sender's contiguous run of sequence numbers."""
        batch: list[SignedTxn] = []
        for sender in list(self.ready):
            by_seq = self.pool.get(sender)
            seq = self.next_seq(sender)
            while by_seq and seq is not None and seq in by_seq and len(batch) < MAX_BLOCK_TXNS:
                txn = by_seq.pop(seq)
                self.pool_by_hash.pop(txn.hash, None)
                self.in_flight[txn.hash] = txn
                batch.append(txn)
                seq += 1
            if by_seq is not None and not by_seq:
                del self.pool[sender]
            if not by_seq or seq not in by_seq:
                del self.ready[sender]
            if len(batch) >= MAX_BLOCK_TXNS:
                break
        return batch

    async def produce_block(self) -> None:
        """Execute, persist and publish one block now (tests drive the node with this instead of :meth:`start`)."""
        await self._finish(await self._execute_block())

    async def _execute_block(self) -> _Executed:
        """Execute the next block on top of the tip and start its durable commit (published later)."""
        self._force_block = False
        batch = self._take_ready()
        timestamp = self.now_us()
        tip, tip_id, accumulator = self._tip()
        height = tip.block_height + 1
        block_state = Overlay(self._tip_state())
        block_id = hex0x(
            core.sha3(bytes.fromhex(tip_id[2:]) + height.to_bytes(8, "little") + timestamp.to_bytes(8, "little"))
        )
        version = tip.version + 1
        record = BlockRecord(height, block_id, timestamp, version, version)

        body, txn_hash, accumulator = block_metadata_transaction(
            block_state, version, block_id, height, timestamp, accumulator, record
        )
        record.txns.append((version, txn_hash, None, None, body))
        block = _Executed(
            record, block_state, tip, block_id, accumulator, batch, [(None, txn_hash, body, version)], [], []
        )
        blocked: set[str] = set()
        now_s = int(time.time())
        for i, txn in enumerate(batch):
            if i and i % EXECUTION_SLICE == 0:
                await asyncio.sleep(0)  # keep serving API requests while a big block executes
            if txn.sender in blocked:
                block.returned.append(txn)
                continue
            try:
                prologue(txn, block_state, chain_id=self.chain_id, now_s=now_s)
                if txn.seq != (framework.sequence_number(block_state, txn.sender) or 0):
                    raise Discard("SEQUENCE_NUMBER_TOO_NEW")
            except Discard as exc:
                log.info("discarding %s at execution: %s", txn.hash, exc.status)
                block.discarded.append(txn)
                blocked.add(txn.sender)
                continue
            version += 1
            outcome = execute(txn, block_state, version, timestamp)
            body, accumulator = render_user_transaction(txn, outcome, version, timestamp, accumulator, record)
            record.txns.append((version, txn.hash, txn.sender, txn.seq, body))
            record.history.extend((key, version, value) for key, value in outcome.changes.items())
            block.committed.append((txn, txn.hash, body, version))

        record.last_version = version
        record.writes = block_state.changes()
        block.ledger = LedgerInfo(self.chain_id, version, timestamp, height)
        block.accumulator = accumulator
        record.meta = self._meta(block.ledger, block_id, accumulator)
        # Transactions that could not run go back to the mempool now, so the next block can take them.
        for txn in block.discarded:
            self.in_flight.pop(txn.hash, None)
            self._resolve(txn.hash, None)
        for txn in block.returned:
            self.in_flight.pop(txn.hash, None)
            self.pool.setdefault(txn.sender, {})[txn.seq] = txn
            self.pool_by_hash[txn.hash] = txn
        self._unpublished.append(block)  # from here on, the tip includes this block
        for txn in block.returned:
            if self.next_seq(txn.sender) == txn.seq:
                self.ready[txn.sender] = None
        block.commit = asyncio.get_running_loop().run_in_executor(self._writer, self.storage.commit_block, record)
        return block

    async def _finish(self, block: _Executed) -> None:
        """Wait for ``block``'s commit, then publish it: state, ledger info, waiters, mempool."""
        assert block.commit is not None
        try:
            await block.commit
            if self._broken is not None:
                raise RuntimeError(self._broken)
        except BaseException as exc:
            # Not durable, so never committed. Later blocks were built on it: stop the chain (fail-stop);
            # a restart resumes from the last durable block.
            self._broken = f"{type(exc).__name__}: {exc}"
            log.critical("could not persist block %s: %s", block.ledger.block_height, self._broken)
            for pending in self._unpublished:
                for txn in pending.batch:
                    self.in_flight.pop(txn.hash, None)
                    self._resolve(txn.hash, None)
            self._unpublished.clear()
            self._wake.set()
            raise
        assert self._unpublished and self._unpublished[0] is block
        self._unpublished.popleft()
        record = block.record
        for key, value in record.writes.items():
            self._index_key(key, present=value is not None)
        # Fold the block's writes into the state; later blocks built on its overlay now read through it.
        folding = Overlay(self.state)
        folding.writes = block.state.writes
        folding.commit_into()
        block.state.writes = {}
        block.state.base = self.state
        self.ledger, self.block_id, self.accumulator = block.ledger, block.block_id, block.accumulator
        self.header_list = block.ledger.headers()
        for _, txn_hash, body, version in block.committed:
            self._remember(version, txn_hash, body)
        for txn, txn_hash, body, _ in block.committed:
            if txn is not None:
                self.in_flight.pop(txn_hash, None)
                self._resolve(txn_hash, body)
        for sender in {txn.sender for txn in block.batch}:
            by_seq = self.pool.get(sender)
            if not by_seq:
                continue
            seq = self.next_seq(sender) or 0
            for stale in [t for s, t in by_seq.items() if s < seq]:
                self._drop(stale)
            if seq in by_seq:
                self.ready[sender] = None
                self._wake.set()
        async with self._block_committed:
            self._block_committed.notify_all()
        for callback in self.on_publish:
            callback()

    # ------------------------------------------------------------------ simulation & views

    def simulate(self, txn: SignedTxn, *, estimate_max_gas: bool = False, estimate_price: bool = False) -> dict:
        """``/transactions/simulate``: run on a throw-away overlay; prologue failures come back as a failed output."""
        if txn.signature_valid():
            raise invalid_input("Simulated transactions must not have a valid signature")
        if estimate_price:
            txn.gas_price = MIN_GAS_UNIT_PRICE
        if estimate_max_gas:
            balance = framework.apt_balance(self.state, txn.gas_payer)
            if txn.gas_payer == ZERO_ADDRESS:
                balance = MAX_GAS_AMOUNT * max(txn.gas_price, 1)  # no sponsor yet: nobody is charged
            txn.max_gas = max(INTRINSIC_GAS_UNITS, min(MAX_GAS_AMOUNT, balance // max(txn.gas_price, 1)))
        prepare(txn)
        version = self.ledger.version
        timestamp = self.ledger.timestamp_us
        scratch = Overlay(self.state)
        try:
            prologue(txn, scratch, chain_id=self.chain_id, now_s=int(time.time()), simulation=True)
            if txn.seq != (framework.sequence_number(scratch, txn.sender) or 0):
                raise Discard("SEQUENCE_NUMBER_TOO_NEW")
            outcome = execute(txn, scratch, version, timestamp, simulation=True)
        except Discard as exc:
            outcome = Outcome(False, misc_error_status(exc.status), 0, {}, [], [])
        body_bytes, _ = render_user_transaction(txn, outcome, version, timestamp, bytes(32), None)
        body = loads(body_bytes)
        del body["type"]  # the endpoint answers Vec<UserTransaction>, not the tagged Transaction enum
        body["state_change_hash"] = body["event_root_hash"] = body["accumulator_root_hash"] = ZERO_HASH
        return body

    def view(
        self,
        function_id: str,
        type_args: list[str],
        args: list[Any] | None,
        bcs_args: list[bytes] | None,
        version: int | None = None,
    ) -> tuple[core.Function, list[Any]]:
        """Run a ``#[view]`` function on the state as of ``version``; :class:`ApiError` (400) on any failure."""
        ledger_version = self.ledger.version if version is None else version
        return call_view(self.state_at(version), ledger_version, function_id, type_args, args, bcs_args)
