"""Reward epochs: rank an epoch's points, pay the PICTOR bands, build the Merkle tree, publish the root on chain.

Epoch ``n`` (from 1) covers ``[origin + (n−1)·length, origin + n·length)`` (``Settings.rewards_epoch_origin_s``
and ``rewards_epoch_length_s``: weekly from a Monday by default). Closing an epoch is a state machine whose
every step is its own committed transaction, so a crash anywhere resumes where it stopped:

``open``
    the row exists (its window is fixed).
``computing``
    ``ledger_cutoff`` (the newest ledger entry id) is fixed: a resumed computation reads the same rows.
``computed`` (or ``empty`` when nobody is paid)
    one transaction ranks the addresses, writes every payout with its leaf and proof, the root and totals.
    It runs only from ``computing``, under a row lock, so a payout is never computed twice for one epoch.
``publishing``
    the publisher is fixed. Publishing first asks the chain (``rewards::epoch``) whether the epoch's chain
    number already holds a root: ours means it was published (by a run that crashed before saying so) and
    nothing is submitted; another root is a conflict that stops the close. Otherwise it waits out a
    ``publish_txn_hash`` recorded earlier, funds the pool if ``pool − allocated`` is short (the pool is the
    source of truth, so a crash after funding does not fund again), submits ``publish_epoch`` and records
    its hash. The chain itself refuses a second root for a number (``E_BAD_EPOCH``).
``published``
    the root, its transaction hash and version are recorded.

Ranking: the sum of each address's ledger rows inside the window (voids included), addresses with a positive
sum only, standard competition ranks (1, 2, 2, 4). Payouts: every PICTOR campaign whose period overlaps the
window pays its bands once for the epoch (``pool`` caps what the bands of one epoch may add up to); users
tied over positions ``p..q`` share the sum of those positions' band amounts equally (integer division); the
remainder is paid to nobody and recorded in ``epochs.unpaid``. Leaves are ordered by rank, then address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aptos_sdk.account import Account
from sqlalchemy import Connection, Engine, func, insert, select, update

from chain.client import PictorChain, TxResult
from chain.constants import U64_MAX
from chain.errors import ChainError, RewardsBadEpoch, RewardsEpochNotFound
from chain.events import EpochPublished
from chain.keys import account_address, load_settings_keys, normalize_address
from indexer import schema as mirror
from pictor.settings import Settings
from rewards.merkle import payout_tree
from tables.epochs import epoch_payouts, epochs
from tables.points import campaigns, points_ledger

log = logging.getLogger(__name__)

#: Step boundaries of a close, in order; the failure hook is called after each one committed.
STEPS = ("computing", "computed", "publishing", "funded", "submitted", "hash_recorded", "published")
#: States a close ends in.
DONE = ("published", "empty")
#: pg advisory lock key held while closing ("PICTEPOC"): one closer at a time per database.
CLOSE_LOCK = 0x50494354_45504F43
#: Most ledger versions a restart reads to find a publishing transaction whose hash it did not record.
SCAN_LIMIT = 100_000

FailureHook = Callable[[str, int], None]


class EpochError(Exception):
    """A close cannot start or go on (bad number, order, configuration); the message says why."""


class EpochConflict(EpochError):
    """The chain holds a different root (or total) for the epoch's chain number than the one computed."""


# ----------------------------------------------------------------------------- windows


def epoch_window(settings: Settings, n: int) -> tuple[datetime, datetime]:
    """``[start, end)`` of epoch ``n`` (ValueError when ``n`` < 1)."""
    if n < 1:
        raise ValueError(f"epochs are numbered from 1, got {n}")
    length = settings.rewards_epoch_length_s
    start = datetime.fromtimestamp(settings.rewards_epoch_origin_s + (n - 1) * length, UTC)
    return start, start + timedelta(seconds=length)


# ----------------------------------------------------------------------------- ranking and bands


@dataclass(frozen=True)
class Band:
    """Ranks ``from_rank..to_rank`` (inclusive) are paid ``amount_each`` (base units)."""

    from_rank: int
    to_rank: int
    amount_each: int


def parse_bands(raw: Any, campaign: str = "campaign") -> list[Band]:
    """Validated bands of a campaign (EpochError naming the campaign when they are malformed or overlap)."""
    if not isinstance(raw, list):
        raise EpochError(f"{campaign}: bands must be a list of {{from_rank, to_rank, amount_each}}")
    bands: list[Band] = []
    for i, item in enumerate(raw):
        try:
            values = [item[k] for k in ("from_rank", "to_rank", "amount_each")]
        except (KeyError, TypeError) as exc:
            raise EpochError(f"{campaign}: band {i} needs from_rank, to_rank and amount_each") from exc
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise EpochError(f"{campaign}: band {i} must hold integers, got {item!r}")
        band = Band(*values)
        if not 1 <= band.from_rank <= band.to_rank or not 0 <= band.amount_each <= U64_MAX:
            raise EpochError(f"{campaign}: band {i} needs 1 <= from_rank <= to_rank and a u64 amount, got {item!r}")
        bands.append(band)
    bands.sort(key=lambda b: b.from_rank)
    for a, b in zip(bands, bands[1:], strict=False):
        if b.from_rank <= a.to_rank:
            raise EpochError(f"{campaign}: bands {a.from_rank}-{a.to_rank} and {b.from_rank}-{b.to_rank} overlap")
    return bands


def bands_total(bands: Sequence[Band]) -> int:
    """What the bands pay when every position is taken by one user."""
    return sum((b.to_rank - b.from_rank + 1) * b.amount_each for b in bands)


def positions_amount(bands: Sequence[Band], first: int, last: int) -> int:
    """The sum of the band amounts of positions ``first..last`` (positions outside every band pay 0)."""
    total = 0
    for b in bands:
        overlap = min(last, b.to_rank) - max(first, b.from_rank) + 1
        if overlap > 0:
            total += overlap * b.amount_each
    return total


def competition_ranks(totals: Sequence[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """``(address, points, rank)`` by points descending, then address; ties share a rank (1, 2, 2, 4)."""
    ordered = sorted(totals, key=lambda t: (-t[1], t[0]))
    ranked: list[tuple[str, int, int]] = []
    for position, (address, points) in enumerate(ordered, start=1):
        rank = ranked[-1][2] if ranked and ranked[-1][1] == points else position
        ranked.append((address, points, rank))
    return ranked


@dataclass(frozen=True)
class Payout:
    """One address's payout of an epoch."""

    address: str
    points: int
    rank: int
    amount: int


def compute_payouts(
    ranked: Sequence[tuple[str, int, int]], band_sets: Sequence[Sequence[Band]]
) -> tuple[list[Payout], int]:
    """Payouts (amount > 0, by rank then address) and the unpaid tie remainders, from ranked users.

    ``ranked`` must hold every user of each tie group it includes (a group's size sets its positions).
    """
    groups: dict[int, list[tuple[str, int]]] = {}
    for address, points, rank in ranked:
        groups.setdefault(rank, []).append((address, points))
    amounts: dict[str, int] = {}
    unpaid = 0
    for rank, members in groups.items():
        first, last = rank, rank + len(members) - 1
        for bands in band_sets:
            pot = positions_amount(bands, first, last)
            share, remainder = divmod(pot, len(members))
            unpaid += remainder
            for address, _ in members:
                amounts[address] = amounts.get(address, 0) + share
    payouts = [
        Payout(address, points, rank, amounts[address])
        for address, points, rank in sorted(ranked, key=lambda r: (r[2], r[0]))
        if amounts.get(address, 0) > 0
    ]
    return payouts, unpaid


# ----------------------------------------------------------------------------- keys


def publisher_key(settings: Settings) -> Account:
    """The account that publishes roots: ``rewards::publish_epoch`` accepts only the admin."""
    return load_settings_keys(settings).admin


# ----------------------------------------------------------------------------- the close


@dataclass(frozen=True)
class EpochSummary:
    """Where one epoch stands after a close."""

    epoch: int
    state: str
    chain_epoch: int | None
    root: bytes | None
    total: int | None
    unpaid: int | None
    payout_count: int | None
    publish_txn_hash: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _summary(row: Any) -> EpochSummary:
    def num(v: Any) -> int | None:
        return None if v is None else int(v)

    return EpochSummary(
        row.epoch,
        row.state,
        num(row.chain_epoch),
        None if row.root is None else bytes(row.root),
        num(row.total),
        num(row.unpaid),
        row.payout_count,
        row.publish_txn_hash,
    )


class EpochCloser:
    """Closes epochs on one database and chain; every step commits before the next (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        chain: PictorChain,
        publisher: Account,
        settings: Settings,
        *,
        hook: FailureHook | None = None,
        wait_timeout: float = 120.0,
    ) -> None:
        self.engine, self.chain, self.publisher, self.settings = engine, chain, publisher, settings
        self.hook = hook
        self.wait_timeout = wait_timeout

    # -- public

    async def close(self, n: int, now: datetime | None = None) -> EpochSummary:
        """Close epoch ``n`` (or resume its close); EpochError when it cannot be closed now."""
        with self._lock():
            return await self._close(n, now or _now())

    async def close_due(self, now: datetime | None = None) -> list[EpochSummary]:
        """Close, in order, every epoch that has ended and is not closed yet (resuming an interrupted one)."""
        now = now or _now()
        done: list[EpochSummary] = []
        with self._lock():
            with self.engine.connect() as conn:
                unfinished = conn.execute(select(func.min(epochs.c.epoch)).where(epochs.c.state.not_in(DONE))).scalar()
                last = conn.execute(select(func.max(epochs.c.epoch))).scalar()
            n = unfinished or (last + 1 if last else 1)
            while epoch_window(self.settings, n)[1] <= now:
                done.append(await self._close(n, now))
                n += 1
        return done

    # -- steps

    def _step(self, name: str, n: int) -> None:
        """A step boundary: the step committed; tests inject crashes here."""
        log.info("epoch %s: %s", n, name)
        if self.hook is not None:
            self.hook(name, n)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the close lock (a session advisory lock; a dead process's is released with its connection)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.execute(select(func.pg_try_advisory_lock(CLOSE_LOCK))).scalar():
                raise EpochError("another process is closing epochs right now; try again when it is done")
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(CLOSE_LOCK)))

    def _row(self, conn: Connection, n: int, *, lock: bool = False) -> Any:
        query = select(epochs).where(epochs.c.epoch == n)
        return conn.execute(query.with_for_update() if lock else query).one()

    async def _close(self, n: int, now: datetime) -> EpochSummary:
        self._open(n, now)
        while True:
            with self.engine.connect() as conn:
                row = self._row(conn, n)
            if row.state in DONE:
                return _summary(row)
            if row.state == "open":
                self._begin_computing(n)
                self._step("computing", n)
            elif row.state == "computing":
                try:
                    await self._compute(n)
                except (ChainError, EpochError) as exc:
                    self._set(n, "computing", last_error=f"{exc.__class__.__name__}: {exc}"[:2000])
                    raise
                self._step("computed", n)
            elif row.state == "computed":
                self._set(n, "computed", state="publishing", publisher=account_address(self.publisher))
                self._step("publishing", n)
            elif row.state == "publishing":
                try:
                    txn_hash, version = await self._publish(row)
                except (ChainError, EpochError) as exc:
                    self._set(n, "publishing", last_error=f"{exc.__class__.__name__}: {exc}"[:2000])
                    raise
                self._set(
                    n,
                    "publishing",
                    state="published",
                    publish_txn_hash=txn_hash,
                    publish_version=version,
                    published_at=_now(),
                    last_error=None,
                )
                self._step("published", n)
            else:  # pragma: no cover - the CHECK constraint admits no other state
                raise EpochError(f"epoch {n} is in an unknown state {row.state!r}")

    def _open(self, n: int, now: datetime) -> None:
        """Create the epoch's row (state ``open``) once it has ended and every earlier epoch is closed."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2**62:
            raise EpochError(f"epochs are numbered from 1, got {n!r}")
        start, end = epoch_window(self.settings, n)
        with self.engine.begin() as conn:
            row = conn.execute(select(epochs).where(epochs.c.epoch == n)).one_or_none()
            if row is not None:
                if (row.starts_at, row.ends_at) != (start, end):
                    raise EpochError(
                        f"epoch {n} was opened as [{row.starts_at}, {row.ends_at}) but the settings now"
                        f" say [{start}, {end}); restore rewards_epoch_origin_s/length_s"
                    )
                return
            if end > now:
                raise EpochError(f"epoch {n} runs until {end.isoformat()}; it can be closed only after that")
            closed = set(
                conn.execute(select(epochs.c.epoch).where(epochs.c.epoch < n, epochs.c.state.in_(DONE))).scalars()
            )
            missing = next((m for m in range(1, n) if m not in closed), None)
            if missing is not None:
                raise EpochError(f"epoch {missing} is not closed yet; epochs close in order")
            moment = _now()
            conn.execute(
                insert(epochs).values(
                    epoch=n, starts_at=start, ends_at=end, state="open", created_at=moment, updated_at=moment
                )
            )

    def _set(self, n: int, expect: str, **values: Any) -> None:
        """Update the epoch if it is in state ``expect`` (one committed step)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(epochs).where(epochs.c.epoch == n, epochs.c.state == expect).values(updated_at=_now(), **values)
            ).rowcount
        if done != 1:
            raise EpochError(f"epoch {n} left state {expect!r} while this close ran; run the close again")

    def _begin_computing(self, n: int) -> None:
        with self.engine.connect() as conn:
            cutoff = conn.execute(select(func.coalesce(func.max(points_ledger.c.entry_id), 0))).scalar_one()
        self._set(n, "open", state="computing", ledger_cutoff=int(cutoff))

    async def _compute(self, n: int) -> None:
        """Rank, pay, build the tree and store it all in one transaction (only from ``computing``)."""
        chain_next = await self.chain.views.next_epoch()
        with self.engine.begin() as conn:
            row = self._row(conn, n, lock=True)
            if row.state != "computing":
                return  # another run finished this step: never compute twice
            used, band_sets = self._campaigns(conn, row)
            depth = max((b.to_rank for bands in band_sets for b in bands), default=0)
            ranked = self._ranked(conn, row, depth) if depth else []
            payouts, unpaid = compute_payouts(ranked, band_sets)
            total = sum(p.amount for p in payouts)
            if total > U64_MAX:
                raise EpochError(f"epoch {n} would pay {total}, more than a u64 holds")
            values: dict[str, Any] = {
                "budget": sum(bands_total(b) for b in band_sets),
                "total": total,
                "unpaid": unpaid,
                "payout_count": len(payouts),
                "campaigns": used,
                "computed_at": _now(),
                "updated_at": _now(),
                "last_error": None,
            }
            if not payouts:
                values["state"] = "empty"
            else:
                known = conn.execute(select(func.max(epochs.c.chain_epoch))).scalar()
                chain_epoch = max(int(chain_next), int(known or 0) + 1)
                tree = payout_tree(chain_epoch, [(i, p.address, p.amount) for i, p in enumerate(payouts)])
                conn.execute(
                    insert(epoch_payouts),
                    [
                        {
                            "epoch": n,
                            "address": p.address,
                            "points": p.points,
                            "rank": p.rank,
                            "amount": p.amount,
                            "leaf_index": i,
                            "leaf": tree.leaves[i],
                            "proof": list(tree.proofs[i]),
                        }
                        for i, p in enumerate(payouts)
                    ],
                )
                values.update(state="computed", chain_epoch=chain_epoch, root=tree.root)
            conn.execute(update(epochs).where(epochs.c.epoch == n).values(**values))

    def _campaigns(self, conn: Connection, row: Any) -> tuple[list[dict[str, Any]], list[list[Band]]]:
        """The PICTOR campaigns overlapping the epoch (validated bands within their pool)."""
        found = conn.execute(
            select(campaigns.c.campaign_id, campaigns.c.name, campaigns.c.pool, campaigns.c.bands)
            .where(
                campaigns.c.currency == "PICTOR",
                campaigns.c.starts_at < row.ends_at,
                campaigns.c.ends_at > row.starts_at,
            )
            .order_by(campaigns.c.campaign_id)
        ).all()
        used: list[dict[str, Any]] = []
        band_sets: list[list[Band]] = []
        for c in found:
            bands = parse_bands(c.bands, f"campaign {c.name!r}")
            offered = bands_total(bands)
            if offered > int(c.pool):
                raise EpochError(f"campaign {c.name!r}: its bands pay {offered} per epoch, more than its pool {c.pool}")
            used.append({"campaign_id": c.campaign_id, "name": c.name, "pool": str(c.pool), "bands": c.bands})
            band_sets.append(bands)
        return used, band_sets

    def _ranked(self, conn: Connection, row: Any, depth: int) -> list[tuple[str, int, int]]:
        """Every address whose rank is at most ``depth`` (whole tie groups), by the epoch's points."""
        pl = points_ledger
        points = func.sum(pl.c.points).label("points")
        sums = (
            select(pl.c.address, points)
            .where(pl.c.created_at >= row.starts_at, pl.c.created_at < row.ends_at, pl.c.entry_id <= row.ledger_cutoff)
            .group_by(pl.c.address)
            .having(func.sum(pl.c.points) > 0)
            .subquery()
        )
        ranked = select(
            sums.c.address, sums.c.points, func.rank().over(order_by=sums.c.points.desc()).label("rank")
        ).subquery()
        rows = conn.execute(select(ranked).where(ranked.c.rank <= depth).order_by(ranked.c.rank, ranked.c.address))
        return [(normalize_address(r.address), int(r.points), int(r.rank)) for r in rows]

    # -- publishing

    async def _on_chain(self, row: Any) -> bool:
        """Whether the chain holds this epoch's root (EpochConflict when it holds another one)."""
        try:
            info = await self.chain.views.epoch(int(row.chain_epoch))
        except RewardsEpochNotFound:
            return False
        if info.root != bytes(row.root) or info.total != int(row.total):
            raise EpochConflict(
                f"chain epoch {row.chain_epoch} already holds root 0x{info.root.hex()} (total {info.total}), not"
                f" this epoch's 0x{bytes(row.root).hex()} (total {row.total}); another publisher used the number"
            )
        return True

    async def _committed(self, txn_hash: str | None) -> TxResult | None:
        """The committed result of a recorded transaction, None when unknown or still pending."""
        if not txn_hash:
            return None
        return await self.chain.result_by_hash(txn_hash)

    def _mirror_publication(self, chain_epoch: int) -> tuple[str | None, int | None]:
        """The publishing transaction as the indexer mirrored it (hash, version), if it is indexed yet."""
        t = mirror.epoch_publications
        with self.engine.connect() as conn:
            found = conn.execute(
                select(t.c.txn_hash, t.c.txn_version).where(t.c.epoch == chain_epoch).order_by(t.c.txn_version).limit(1)
            ).one_or_none()
        return (found.txn_hash, found.txn_version) if found else (None, None)

    async def _published_as(self, row: Any) -> tuple[str | None, int | None]:
        """Hash and version of the transaction that published a root already on chain (as far as known)."""
        result = await self._committed(row.publish_txn_hash)
        if result is not None and result.success:
            return result.hash, result.version
        found = self._mirror_publication(int(row.chain_epoch))
        if found[0] is None and row.publish_from_version is not None:
            found = await self._scan_publication(int(row.chain_epoch), int(row.publish_from_version))
        return found

    async def _scan_publication(self, chain_epoch: int, start: int) -> tuple[str | None, int | None]:
        """Find ``EpochPublished(chain_epoch)`` on the ledger from version ``start`` (at most SCAN_LIMIT versions)."""
        end = min((await self.chain.ledger_info()).ledger_version, start + SCAN_LIMIT)
        version = start
        while version <= end:
            page = await self.chain.transactions(version, 100)
            if not page:
                break
            for txn in page:
                for record in txn.events:
                    if isinstance(record.event, EpochPublished) and record.event.epoch == chain_epoch:
                        return txn.hash, txn.version
            version = page[-1].version + 1
        return None, None

    async def _publish(self, row: Any) -> tuple[str | None, int | None]:
        """Put the root on chain exactly once; the publishing transaction's (hash, version)."""
        n, chain_epoch, root, total = row.epoch, int(row.chain_epoch), bytes(row.root), int(row.total)
        if await self._on_chain(row):
            return await self._published_as(row)  # an earlier run published it: submit nothing
        if row.publish_txn_hash and (earlier := await self._committed(row.publish_txn_hash)) is not None:
            log.warning("epoch %s: earlier publish %s failed: %s", n, earlier.hash, earlier.vm_status)
        await self._fund(row)
        if row.publish_from_version is None:
            before = (await self.chain.ledger_info()).ledger_version
            self._set(n, "publishing", publish_from_version=before)
        payload = self.chain.payloads.rewards_publish_epoch(chain_epoch, root, total)
        pending = await self.chain.submit(self.publisher, payload)
        self._step("submitted", n)
        self._set(n, "publishing", publish_txn_hash=pending.hash)
        self._step("hash_recorded", n)
        result = await self.chain.wait_for_result(pending, self.wait_timeout)
        if result.success:
            return result.hash, result.version
        error = result.error()
        if isinstance(error, RewardsBadEpoch) and await self._on_chain(row):
            return await self._published_as(row)  # a submission we had lost track of got in first
        assert error is not None
        raise error

    async def _fund(self, row: Any) -> None:
        """Top the pool up from the publisher's wallet when ``pool − allocated`` cannot cover the total."""
        n, total = row.epoch, int(row.total)
        if row.fund_txn_hash:
            await self._committed(row.fund_txn_hash)  # an earlier top-up: let the pool below tell whether it landed
        pool = await self.chain.views.reward_pool()
        short = total - (pool.balance - pool.allocated)
        if short <= 0:
            return
        pending = await self.chain.submit(self.publisher, self.chain.payloads.rewards_fund_pool(short))
        self._set(n, "publishing", fund_txn_hash=pending.hash)
        (await self.chain.wait_for_result(pending, self.wait_timeout)).raise_for_status()
        self._step("funded", n)


# ----------------------------------------------------------------------------- reading


# ----------------------------------------------------------------------------- command line


def summary_json(summary: EpochSummary) -> dict[str, Any]:
    """An EpochSummary as JSON (u64 as decimal strings, bytes as 0x-hex)."""
    return {
        "epoch": summary.epoch,
        "state": summary.state,
        "chain_epoch": summary.chain_epoch,
        "root": None if summary.root is None else "0x" + summary.root.hex(),
        "total": None if summary.total is None else str(summary.total),
        "unpaid": None if summary.unpaid is None else str(summary.unpaid),
        "payouts": summary.payout_count,
        "publish_txn_hash": summary.publish_txn_hash,
    }


def close_due_now(engine: Engine, settings: Settings) -> list[EpochSummary]:
    """Close every ended epoch with a chain client of its own (runs in a worker thread, off the API's loop)."""

    async def go() -> list[EpochSummary]:
        chain = PictorChain.from_settings(settings)
        try:
            return await EpochCloser(engine, chain, publisher_key(settings), settings).close_due()
        finally:
            await chain.close()

    return asyncio.run(go())
