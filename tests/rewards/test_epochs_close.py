"""Closing reward epochs on the embedded PostgreSQL and a real localnet: ranking with ties and band edges,
crash and resume at every step boundary without a second root, conflicts, claims mirrored by the indexer,
and the HTTP endpoints (one localnet for the module; each test has its own fresh database)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aptos_sdk.account import Account
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, func, insert, select

from api.app import create_app  # noqa: E402
from chain.client import PictorChain  # noqa: E402
from chain.errors import RewardsAlreadyClaimed, RewardsInvalidProof  # noqa: E402
from chain.keys import account_address, generate_account, load_localnet_keys  # noqa: E402
from cli.epochs import close_cli  # noqa: E402
from indexer.runner import Indexer, IndexerConfig  # noqa: E402
from pictor.db import get_engine  # noqa: E402
from pictor.settings import Settings  # noqa: E402
from rewards.epochs import CLOSE_LOCK, STEPS, EpochCloser, EpochConflict, EpochError, epoch_window  # noqa: E402
from rewards.merkle import payout_tree, verify_proof  # noqa: E402
from tables.epochs import epoch_payouts, epochs  # noqa: E402
from tables.points import campaigns, points_ledger  # noqa: E402
from tests.support import REPO_ROOT
from tests.support.api import chain_client, make_settings, session_for  # noqa: E402

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)
DAY = 24 * 3600
LATER = ORIGIN + timedelta(days=400)  # every test epoch has ended by then
PICTOR = 10**8


@dataclass
class Net:
    """The module's localnet and its admin (the root publisher)."""

    localnet: Any
    admin: Account

    def chain(self) -> PictorChain:
        return chain_client(self.localnet)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    from chain.localnet import start_localnet_process

    data_dir = tmp_path_factory.mktemp("epochs-localnet")
    localnet = start_localnet_process(data_dir)
    try:
        admin = load_localnet_keys(data_dir).admin

        async def mint() -> None:
            chain = chain_client(localnet)
            try:  # the publisher tops the pool up from its wallet: give it PICTOR
                await chain.submit_and_wait(admin, chain.payloads.token_mint(account_address(admin), 10**9 * PICTOR))
            finally:
                await chain.close()

        asyncio.run(mint())
        yield Net(localnet, admin)
    finally:
        localnet.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, rewards_epoch_origin_s=int(ORIGIN.timestamp()), rewards_epoch_length_s=DAY, scheduler_background=False
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    yield engine
    engine.dispose()


def at(epoch: int, hours: float = 1) -> datetime:
    """A moment inside ``epoch`` (days from the origin)."""
    return ORIGIN + timedelta(days=epoch - 1, hours=hours)


def addr(n: int) -> str:
    return "0x" + f"{n:064x}"


_keys = iter(range(1, 10**9))


def add_points(engine: Engine, rows: list[tuple[str, int, datetime]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(points_ledger),
            [
                {
                    "address": a,
                    "points": p,
                    "source": "test",
                    "source_key": f"k{next(_keys)}",
                    "reason": "test",
                    "created_at": t,
                }
                for a, p, t in rows
            ],
        )


def add_campaign(
    engine: Engine,
    name: str,
    bands: list[tuple[int, int, int]],
    *,
    pool: int | None = None,
    starts: datetime = ORIGIN,
    ends: datetime = ORIGIN + timedelta(days=365),
    currency: str = "PICTOR",
) -> None:
    band_json = [{"from_rank": f, "to_rank": t, "amount_each": a} for f, t, a in bands]
    offered = sum((t - f + 1) * a for f, t, a in bands)
    with engine.begin() as conn:
        conn.execute(
            insert(campaigns).values(
                name=name,
                starts_at=starts,
                ends_at=ends,
                currency=currency,
                pool=offered if pool is None else pool,
                bands=band_json,
                created_by=addr(1),
                created_at=ORIGIN,
            )
        )


def closer(engine: Engine, chain: PictorChain, net: Net, settings: Settings, **kw: Any) -> EpochCloser:
    return EpochCloser(engine, chain, net.admin, settings, **kw)


def payout_rows(engine: Engine, n: int) -> list[tuple[str, int, int, int, int]]:
    with engine.connect() as conn:
        return [
            (r.address, r.points, r.rank, int(r.amount), r.leaf_index)
            for r in conn.execute(
                select(epoch_payouts).where(epoch_payouts.c.epoch == n).order_by(epoch_payouts.c.leaf_index)
            )
        ]


def epoch_row(engine: Engine, n: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(epochs).where(epochs.c.epoch == n)).one_or_none()


async def txns_calling(chain: PictorChain, start: int, function: str) -> list[dict[str, Any]]:
    """Every committed transaction from version ``start`` whose payload calls ``rewards::<function>``."""
    end = (await chain.ledger_info()).ledger_version
    found: list[dict[str, Any]] = []
    version = start
    while version <= end:
        page = await chain.transactions(version, 100)
        if not page:
            break
        for t in page:
            payload = t.raw.get("payload") or {}
            if str(payload.get("function", "")).endswith(f"::rewards::{function}"):
                found.append(t.raw)
        version = page[-1].version + 1
    return found


async def index_into(engine: Engine, chain: PictorChain) -> None:
    """Run the indexer into the test's database up to the chain's current version (as tests/indexer do)."""
    end = (await chain.ledger_info()).ledger_version
    await Indexer(
        chain, IndexerConfig(database_url=engine.url.render_as_string(hide_password=False), stop_at_version=end)
    ).run()


# ----------------------------------------------------------------------------- ranking, ties, band edges

# Epoch 1 of the tie scenario: hand-derived payouts of the rules in rewards/epochs.py.
A, B, C, D, E, F, G, H, OUTSIDE, J = (addr(0xA0 + i) for i in range(10))


def tie_scenario(engine: Engine) -> None:
    add_points(
        engine,
        [
            (A, 60, at(1)),
            (A, 40, at(1, 5)),  # 100: rank 1
            (B, 80, at(1)),
            (C, 80, at(1, 23.99)),  # 80, 80: rank 2 (positions 2..3)
            (D, 50, at(1)),
            (E, 50, at(1)),
            (F, 50, at(1)),  # 50 ×3: rank 4 (positions 4..6 across a band edge)
            (G, 10, at(1)),  # rank 7
            (H, 5, at(1)),
            (H, -5, at(1, 2)),  # voided to 0: not ranked
            (OUTSIDE, 1000, at(2)),
            (OUTSIDE, 1000, ORIGIN - timedelta(seconds=1)),  # outside the window
            (J, 1, ORIGIN),  # the window's first instant counts: rank 8, past every band
        ],
    )
    add_campaign(engine, "main", [(1, 1, 1000 * PICTOR), (2, 3, 500 * PICTOR), (4, 5, 300 * PICTOR), (6, 7, 7)])
    add_campaign(engine, "bonus", [(1, 2, 11)])  # positions 1..2: A gets 11; B and C share one 11 → 5 each, 1 left
    add_campaign(engine, "points only", [(1, 100, 10**6)], currency="points")  # not PICTOR: ignored
    add_campaign(engine, "next year", [(1, 1, 10**6)], starts=at(2, 0), ends=at(30))  # after the window: ignored


EXPECTED_TIES = {  # address: (points, rank, amount)
    A: (100, 1, 1000 * PICTOR + 11),
    B: (80, 2, 500 * PICTOR + 5),
    C: (80, 2, 500 * PICTOR + 5),
    D: (50, 4, (600 * PICTOR + 7) // 3),
    E: (50, 4, (600 * PICTOR + 7) // 3),
    F: (50, 4, (600 * PICTOR + 7) // 3),
    G: (10, 7, 7),
}
EXPECTED_UNPAID = 1 + (600 * PICTOR + 7) % 3


async def test_close_ranks_ties_across_band_edges_and_publishes_the_root(
    net: Net, engine: Engine, settings: Settings
) -> None:
    tie_scenario(engine)
    chain = net.chain()
    try:
        summary = await closer(engine, chain, net, settings).close(1, LATER)
        assert summary.state == "published"
        rows = payout_rows(engine, 1)
        order = sorted(EXPECTED_TIES, key=lambda a: (EXPECTED_TIES[a][1], a))
        assert rows == [(a, *EXPECTED_TIES[a], i) for i, a in enumerate(order)]
        row = epoch_row(engine, 1)
        total = sum(v[2] for v in EXPECTED_TIES.values())
        assert int(row.total) == total == summary.total
        assert int(row.unpaid) == EXPECTED_UNPAID == (600 * PICTOR + 7) % 3 + 1
        assert int(row.budget) == 1000 * PICTOR + 1000 * PICTOR + 600 * PICTOR + 14 + 22
        assert [c["name"] for c in row.campaigns] == ["main", "bonus"]
        # The root is the tree of the rows over the chain epoch; the chain holds that root and total.
        tree = payout_tree(int(row.chain_epoch), [(i, a, amt) for a, _, _, amt, i in rows])
        assert bytes(row.root) == tree.root
        info = await chain.views.epoch(int(row.chain_epoch))
        assert (info.root, info.total, info.claimed) == (tree.root, total, 0)
        assert row.publish_txn_hash and (await chain.result_by_hash(row.publish_txn_hash)).success
        # Closing again changes nothing and submits nothing.
        version = (await chain.ledger_info()).ledger_version
        again = await closer(engine, chain, net, settings).close(1, LATER)
        assert again == summary and payout_rows(engine, 1) == rows
        assert (await chain.ledger_info()).ledger_version == version
    finally:
        await chain.close()


async def test_an_epoch_nobody_earned_in_is_empty_and_touches_no_chain(
    net: Net, engine: Engine, settings: Settings
) -> None:
    add_campaign(engine, "main", [(1, 3, 100)])
    add_points(engine, [(A, 5, at(2))])  # epoch 2 only
    chain = net.chain()
    try:
        version = (await chain.ledger_info()).ledger_version
        done = await closer(engine, chain, net, settings).close_due(at(3, 0))  # epochs 1 and 2 have ended
        assert [(s.epoch, s.state) for s in done] == [(1, "empty"), (2, "published")]
        assert epoch_row(engine, 1).root is None and payout_rows(engine, 1) == []
        assert payout_rows(engine, 2) == [(A, 5, 1, 100, 0)]
        assert len(await txns_calling(chain, version + 1, "publish_epoch")) == 1
        assert await closer(engine, chain, net, settings).close_due(at(3, 0)) == []  # nothing more is due
    finally:
        await chain.close()


async def test_bad_closes_are_refused_and_change_nothing(net: Net, engine: Engine, settings: Settings) -> None:
    chain = net.chain()
    try:
        c = closer(engine, chain, net, settings)
        with pytest.raises(EpochError, match="runs until"):
            await c.close(3, at(3, 5))  # not over yet
        with pytest.raises(EpochError, match="epoch 1 is not closed yet"):
            await c.close(2, LATER)
        with pytest.raises(EpochError, match="numbered from 1"):
            await c.close(0, LATER)
        assert epoch_row(engine, 2) is None and epoch_row(engine, 3) is None
        add_points(engine, [(A, 5, at(1))])
        add_campaign(engine, "greedy", [(1, 1, 100)], pool=99)
        with pytest.raises(EpochError, match="more than its pool"):
            await c.close(1, LATER)
        row = epoch_row(engine, 1)
        assert row.state == "computing" and "more than its pool" in row.last_error and payout_rows(engine, 1) == []
    finally:
        await chain.close()


async def test_one_closer_at_a_time(net: Net, engine: Engine, settings: Settings) -> None:
    chain = net.chain()
    try:
        c = closer(engine, chain, net, settings)
        with c._lock(), pytest.raises(EpochError, match="another process is closing"):
            await closer(engine, chain, net, settings).close(1, LATER)
    finally:
        await chain.close()


def test_cli_bad_input_exits_2_and_changes_nothing(
    net: Net, db_url: str, engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert close_cli(0, settings) == 2
    assert "numbered from 1" in capsys.readouterr().err
    assert close_cli(None, settings.model_copy(update={"keys_dir": Path("/nonexistent-keys")})) == 2
    assert "no publisher key" in capsys.readouterr().err
    real = settings.model_copy(
        update={"database_url": db_url, "node_url": net.localnet.node_url, "keys_dir": net.localnet.keys_dir}
    )
    assert close_cli(2, real) == 2
    assert "epoch 1 is not closed yet" in capsys.readouterr().err
    assert epoch_row(engine, 2) is None


# ----------------------------------------------------------------------------- crash and resume


class Crash(Exception):
    """The injected failure."""


def crash_at(step: str) -> Any:
    fired: list[str] = []

    def hook(name: str, n: int) -> None:
        if name == step and not fired:
            fired.append(name)
            raise Crash(f"crash after {name} of epoch {n}")

    return hook, fired


@pytest.mark.parametrize("step", STEPS)
async def test_a_crash_at_any_step_resumes_with_one_root_and_the_same_payouts(
    step: str, net: Net, engine: Engine, settings: Settings
) -> None:
    tie_scenario(engine)
    chain = net.chain()
    try:
        start = (await chain.ledger_info()).ledger_version + 1
        hook, fired = crash_at(step)
        with pytest.raises(Crash):
            await closer(engine, chain, net, settings, hook=hook).close(1, LATER)
        assert fired == [step]
        before = epoch_row(engine, 1)
        # Points arriving after the crash (inside the window) must not change a resumed computation.
        add_points(engine, [(G, 10**6, at(1))])
        summary = await closer(engine, chain, net, settings).close(1, LATER)
        assert summary.state == "published"
        rows = payout_rows(engine, 1)
        order = sorted(EXPECTED_TIES, key=lambda a: (EXPECTED_TIES[a][1], a))
        assert rows == [(a, *EXPECTED_TIES[a], i) for i, a in enumerate(order)]
        row = epoch_row(engine, 1)
        if before.computed_at is not None:  # computed before the crash: never computed again
            assert row.computed_at == before.computed_at and row.root == before.root
        chain_epoch = int(row.chain_epoch)
        publishes = [
            t
            for t in await txns_calling(chain, start, "publish_epoch")
            if t["payload"]["arguments"][0] == str(chain_epoch)
        ]
        assert len(publishes) == 1 and publishes[0]["success"]  # one submission, no refused duplicate
        assert len(await txns_calling(chain, start, "fund_pool")) == 1  # the pool was topped up once
        info = await chain.views.epoch(chain_epoch)
        assert info.root == bytes(row.root) == payout_tree(chain_epoch, [(i, a, m) for a, _, _, m, i in rows]).root
        assert row.publish_txn_hash == publishes[0]["hash"] and row.publish_version == int(publishes[0]["version"])
    finally:
        await chain.close()


async def test_another_root_at_the_chain_number_is_a_conflict_not_a_second_publish(
    net: Net, engine: Engine, settings: Settings
) -> None:
    tie_scenario(engine)
    chain = net.chain()
    try:
        hook, _ = crash_at("computed")
        with pytest.raises(Crash):
            await closer(engine, chain, net, settings, hook=hook).close(1, LATER)
        row = epoch_row(engine, 1)
        intruder = b"\x42" * 32  # someone else takes the chain number this epoch computed its leaves for
        await chain.submit_and_wait(net.admin, chain.payloads.rewards_fund_pool(5))
        await chain.submit_and_wait(net.admin, chain.payloads.rewards_publish_epoch(int(row.chain_epoch), intruder, 5))
        start = (await chain.ledger_info()).ledger_version + 1
        with pytest.raises(EpochConflict, match="already holds root"):
            await closer(engine, chain, net, settings).close(1, LATER)
        row = epoch_row(engine, 1)
        assert row.state == "publishing" and "already holds root" in row.last_error
        assert await txns_calling(chain, start, "publish_epoch") == []
    finally:
        await chain.close()


# ----------------------------------------------------------------------------- claims and the API


async def test_claim_round_trip_with_the_served_proof_is_mirrored_as_claimed(
    net: Net, engine: Engine, settings: Settings
) -> None:
    users = [generate_account() for _ in range(3)]
    a, b, c = (account_address(u) for u in users)
    add_points(engine, [(a, 30, at(1)), (b, 20, at(1)), (c, 20, at(1)), (addr(0xCAFE), 1, at(1))])
    add_campaign(engine, "main", [(1, 1, 9 * PICTOR), (2, 3, 4 * PICTOR)])
    chain = net.chain()
    try:
        await asyncio.gather(*(chain.fund(account_address(u), 10**8) for u in users))
        await closer(engine, chain, net, settings).close(1, LATER)
        app = create_app(engine, chain)
        app.state.settings = settings
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {session_for(engine, a)}"}
            body = client.get("/rewards/epochs/1/proof", headers=auth).json()
            assert body["amount"] == str(9 * PICTOR) and body["leaf_index"] == 0 and body["claimed"] is False
            proof = [bytes.fromhex(p[2:]) for p in body["proof"]]
            root = bytes.fromhex(body["root"][2:])
            chain_epoch = int(body["chain_epoch"])
            assert verify_proof(root, chain_epoch, 0, a, 9 * PICTOR, proof)
            # A wrong amount or a tampered proof aborts with the named error; nothing is paid.
            with pytest.raises(RewardsInvalidProof):
                await chain.submit_and_wait(
                    users[0], chain.payloads.rewards_claim(chain_epoch, 0, 9 * PICTOR + 1, proof)
                )
            with pytest.raises(RewardsInvalidProof):
                await chain.submit_and_wait(
                    users[0], chain.payloads.rewards_claim(chain_epoch, 0, 9 * PICTOR, [proof[0][::-1], *proof[1:]])
                )
            with pytest.raises(RewardsInvalidProof):  # another user's leaf with my signature
                other = client.get(
                    "/rewards/epochs/1/proof", headers={"Authorization": f"Bearer {session_for(engine, b)}"}
                ).json()
                await chain.submit_and_wait(
                    users[0],
                    chain.payloads.rewards_claim(
                        chain_epoch,
                        other["leaf_index"],
                        int(other["amount"]),
                        [bytes.fromhex(p[2:]) for p in other["proof"]],
                    ),
                )
            balance = await chain.pictor_balance(a)
            result = await chain.submit_and_wait(
                users[0], chain.payloads.rewards_claim(chain_epoch, 0, 9 * PICTOR, proof)
            )
            assert result.success and await chain.pictor_balance(a) == balance + 9 * PICTOR
            with pytest.raises(RewardsAlreadyClaimed):
                await chain.submit_and_wait(users[0], chain.payloads.rewards_claim(chain_epoch, 0, 9 * PICTOR, proof))
            assert client.get("/rewards/epochs/1/proof", headers=auth).json()["claimed"] is False  # not indexed yet
            await index_into(engine, chain)
            mine = client.get("/rewards/epochs/1/proof", headers=auth).json()
            assert mine["claimed"] is True and mine["claim_txn_hash"] == result.hash
            assert (
                client.get(
                    "/rewards/epochs/1/proof", headers={"Authorization": f"Bearer {session_for(engine, c)}"}
                ).json()["claimed"]
                is False
            )
            listed = client.get("/rewards/epochs").json()["epochs"]
            row = epoch_row(engine, 1)
            assert listed == [
                {
                    "epoch": 1,
                    "starts_at": ORIGIN.isoformat(),
                    "ends_at": (ORIGIN + timedelta(days=1)).isoformat(),
                    "state": "published",
                    "chain_epoch": str(chain_epoch),
                    "root": "0x" + root.hex(),
                    "budget": str(17 * PICTOR),
                    "total": str(17 * PICTOR),
                    "unpaid": "0",
                    "payouts": 3,
                    "claimed": str(9 * PICTOR),
                    "publish_txn_hash": row.publish_txn_hash,
                    "publish_version": row.publish_version,
                    "published_at": row.published_at.isoformat(),
                }
            ]
    finally:
        await chain.close()


async def test_proof_endpoint_refuses_bad_requests(net: Net, engine: Engine, settings: Settings) -> None:
    add_points(engine, [(A, 3, at(1)), (B, 1, at(2))])
    add_campaign(engine, "main", [(1, 1, 100)])
    chain = net.chain()
    try:
        c = closer(engine, chain, net, settings)
        await c.close(1, LATER)
        hook, _ = crash_at("computed")
        with pytest.raises(Crash):
            await closer(engine, chain, net, settings, hook=hook).close(2, LATER)
        with pytest.raises(EpochError, match="epoch 2 is not closed yet"):
            await c.close(3, LATER)
    finally:
        await chain.close()
    app = create_app(engine, net.chain())
    app.state.settings = settings
    with TestClient(app) as client:
        a_auth = {"Authorization": f"Bearer {session_for(engine, A)}"}
        b_auth = {"Authorization": f"Bearer {session_for(engine, B)}"}
        assert client.get("/rewards/epochs/1/proof").status_code == 401
        assert client.get("/rewards/epochs/1/proof", headers={"Authorization": "Bearer nope"}).status_code == 401
        for bad in ("0", "-1", "abc", str(2**63), "1.5"):
            response = client.get(f"/rewards/epochs/{bad}/proof", headers=a_auth)
            assert response.status_code == 422, bad
        missing = client.get("/rewards/epochs/1/proof", headers=b_auth)
        assert missing.status_code == 404 and "has no payout in epoch 1" in missing.json()["detail"]
        unpublished = client.get("/rewards/epochs/2/proof", headers=b_auth)
        assert unpublished.status_code == 409 and "not published" in unpublished.json()["detail"]
        unknown = client.get("/rewards/epochs/9/proof", headers=a_auth)
        assert unknown.status_code == 404 and "not been closed" in unknown.json()["detail"]
        assert client.get("/rewards/epochs/1/proof", headers=a_auth).json()["amount"] == "100"
        assert client.get("/rewards/epochs?page_size=0").status_code == 422
        listed = client.get("/rewards/epochs").json()
        assert [(e["epoch"], e["state"]) for e in listed["epochs"]] == [(2, "computed"), (1, "published")]
        assert listed["epochs"][0]["publish_txn_hash"] is None


def test_epoch_windows_follow_the_settings(settings: Settings) -> None:
    assert epoch_window(settings, 1) == (ORIGIN, ORIGIN + timedelta(days=1))
    assert epoch_window(settings, 3)[0] == ORIGIN + timedelta(days=2)
    assert epoch_window(Settings(), 1)[1] - epoch_window(Settings(), 1)[0] == timedelta(days=7)  # weekly default
    assert epoch_window(Settings(), 1)[0].weekday() == 0  # from a Monday


KILLED_CLOSE = """
import asyncio, os, signal, sys
from datetime import datetime
from chain.client import PictorChain
from chain.keys import load_role_keys
from pictor.db import get_engine
from chain.constants import LOCALNET_PACKAGE_ADDRESS
from pictor.settings import Settings
from rewards.epochs import EpochCloser

db_url, node_url, keys_dir, step, origin, length, now = sys.argv[1:]
settings = Settings(rewards_epoch_origin_s=int(origin), rewards_epoch_length_s=int(length))

def hook(name, n):
    if name == step:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no finally, no rollback, no unlock

async def main():
    chain = PictorChain(node_url, LOCALNET_PACKAGE_ADDRESS)
    closer = EpochCloser(get_engine(db_url), chain, load_role_keys(keys_dir).admin, settings, hook=hook)
    await closer.close(1, datetime.fromisoformat(now))

asyncio.run(main())
"""


async def _until_close_lock_free(engine: Engine) -> None:
    """Wait until no session holds the close lock (PostgreSQL ends a killed client's backend asynchronously)."""
    deadline = time.monotonic() + 60
    while True:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.execute(select(func.pg_try_advisory_lock(CLOSE_LOCK))).scalar():
                conn.execute(select(func.pg_advisory_unlock(CLOSE_LOCK)))
                return
        assert time.monotonic() < deadline, "the killed process's backend still holds the close lock"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("step", ["computed", "submitted"])
async def test_a_killed_close_process_resumes_with_one_root(
    step: str, net: Net, db_url: str, engine: Engine, settings: Settings
) -> None:
    import subprocess

    tie_scenario(engine)
    chain = net.chain()
    try:
        start = (await chain.ledger_info()).ledger_version + 1
        args = [
            db_url,
            net.localnet.node_url,
            str(net.localnet.keys_dir),
            step,
            str(int(ORIGIN.timestamp())),
            str(DAY),
            LATER.isoformat(),
        ]
        killed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", KILLED_CLOSE, *args],
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=300,
        )
        assert killed.returncode == -9, killed.stderr.decode()[-2000:]
        await _until_close_lock_free(engine)  # its backend ends (and drops the lock) a moment after the kill
        summary = await closer(engine, chain, net, settings).close(1, LATER)
        assert summary.state == "published"
        row = epoch_row(engine, 1)
        publishes = [
            t
            for t in await txns_calling(chain, start, "publish_epoch")
            if t["payload"]["arguments"][0] == str(row.chain_epoch)
        ]
        assert len(publishes) == 1 and row.publish_txn_hash == publishes[0]["hash"]
        assert {a for a, *_ in payout_rows(engine, 1)} == set(EXPECTED_TIES)
    finally:
        await chain.close()


def test_the_api_closes_ended_epochs_in_the_background(net: Net, engine: Engine, tmp_path: Path) -> None:
    import time

    origin = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2, hours=12)  # epochs 1 and 2 have ended
    bg = make_settings(
        tmp_path,
        rewards_epoch_origin_s=int(origin.timestamp()),
        rewards_epoch_length_s=DAY,
        scheduler_background=False,
        rewards_close_background=True,
        rewards_close_interval_s=0.5,
        node_url=net.localnet.node_url,
        keys_dir=net.localnet.keys_dir,
    )
    add_points(engine, [(A, 7, origin + timedelta(days=1, hours=3))])
    add_campaign(engine, "main", [(1, 1, 123)], starts=origin, ends=origin + timedelta(days=30))
    app = create_app(engine, net.chain())
    app.state.settings = bg
    with TestClient(app):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            row = epoch_row(engine, 2)
            if row is not None and row.state == "published":
                break
            time.sleep(0.2)  # polling the database for the background close, bounded by the deadline
    assert epoch_row(engine, 1).state == "empty"
    assert epoch_row(engine, 2).state == "published" and payout_rows(engine, 2) == [(A, 7, 1, 123, 0)]
    assert epoch_row(engine, 3) is None  # still running
