"""Helpers of the API tests: settings, sessions, and the localnet actors (nodes registered and staked)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from aptos_sdk.account import Account
from sqlalchemy import Engine, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api.signin import hash_token
from chain.client import PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.keys import (
    ROLE_CHECKER,
    ROLE_WORKER,
    account_address,
    generate_account,
    load_localnet_keys,
    public_key_bytes,
    registration_proof,
)
from indexer import schema as mirror
from pictor.settings import Settings
from tables.auth import sessions

APT = 10**8


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for one test: blobs under ``tmp_path``, a fixed chain id line, small limits where asked."""
    values: dict[str, object] = {"data_dir": tmp_path, "signin_chain_id": None, **overrides}
    return Settings(**values)  # type: ignore[arg-type]


def session_for(engine: Engine, address: str, ttl_s: int = 3600) -> str:
    """A live session token for ``address`` written straight into the table (tests that are not about sign-in)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(sessions).values(token_hash=hash_token(token), address=address, created_at=now,
                                             expires_at=now + timedelta(seconds=ttl_s)))
    return token


class NoChain:
    """A chain client stand-in for tests that never reach the chain (uploads): any use is a test bug."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"this test must not use the chain (PictorChain.{name})")


# ----------------------------------------------------------------------------- localnet


@dataclass
class NodeKey:
    """A node key and how it stands on chain."""

    key: Account
    operator: Account | None
    role: int

    @property
    def address(self) -> str:
        """The node's account address."""
        return account_address(self.key)


@dataclass
class ChainEnv:
    """The module's localnet, its chain client factory, the indexed template database and the actors."""

    localnet: object
    data_dir: Path
    template_url: str
    admin: Account  # signs as the package address: its authentication key was rotated to the admin key
    min_worker_stake: int
    staked_worker: NodeKey
    staked_checker: NodeKey
    understaked_worker: NodeKey
    unregistered: NodeKey
    onchain_user: Account  # an ordinary funded account (its auth key is its own key)

    def chain(self) -> PictorChain:
        """A chain client for the caller's event loop."""
        return chain_client(self.localnet)


def chain_client(localnet: object) -> PictorChain:
    """A chain client of ``localnet`` (one per event loop)."""
    return PictorChain(localnet.node_url, LOCALNET_PACKAGE_ADDRESS,  # type: ignore[attr-defined]
                       chain_id=LOCALNET_CHAIN_ID, faucet_url=localnet.faucet_url,  # type: ignore[attr-defined]
                       wait_timeout=60)


async def setup_chain(chain: PictorChain, data_dir: Path) -> dict[str, object]:
    """Fund, mint, stake and register the module's nodes with real transactions."""
    keys = load_localnet_keys(data_dir)
    admin, pay = keys.admin, chain.payloads
    params = await chain.views.params()
    minimum = params.min_worker_stake
    # Emit the parameters once, so the mirror holds them even if genesis events are not indexed.
    await chain.submit_and_wait(admin, pay.config_set_params(
        params.quorum, params.min_worker_stake, params.min_checker_stake, params.unbonding_secs,
        params.review_window_secs, params.slash_bps, params.max_strikes, params.faucet_max))
    ops = {"worker": generate_account(), "checker": generate_account(), "poor": generate_account()}
    user = generate_account()
    await asyncio.gather(*(chain.fund(account_address(a), 10 * APT) for a in [*ops.values(), user]))
    stakes = {"worker": (ROLE_WORKER, minimum), "checker": (ROLE_CHECKER, params.min_checker_stake),
              "poor": (ROLE_WORKER, max(minimum // 2, 1))}
    for name, (_, amount) in stakes.items():
        await chain.submit_and_wait(admin, pay.token_mint(account_address(ops[name]), amount))
    for name, (role, amount) in stakes.items():
        await chain.submit_and_wait(ops[name], pay.staking_stake(role, amount))
    nodes: dict[str, NodeKey] = {}
    for name, (role, _) in stakes.items():
        key = generate_account()
        await chain.submit_and_wait(ops[name], pay.registry_register_node(
            role, key.public_key().key.encode(), registration_proof(key, account_address(ops[name]), role)))
        nodes[name] = NodeKey(key, ops[name], role)
    end = (await chain.ledger_info()).ledger_version
    return {"admin": admin, "minimum": minimum, "nodes": nodes, "user": user, "end": end}


class Served:
    """The API app on 127.0.0.1 with uvicorn in a thread (lifespan on: scheduler and finalizer run)."""

    def __init__(self, app: Any) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


OPERATOR = "0x" + "0a" * 32


MIN_STAKE = 1000


def register_on_chain(engine: Engine, node, operator: str, role: int = ROLE_WORKER, stake: int = MIN_STAKE,
                      node_id: int = 7) -> None:  # fmt: skip
    """Mirror rows as the indexer writes them: the node registered by ``operator``, its stake, the minimums."""
    with engine.begin() as conn:
        conn.execute(
            insert(mirror.nodes).values(
                node_id=node_id,
                operator=operator,
                role=role,
                public_key=public_key_bytes(node),
                account=account_address(node),
                active=True,
                strikes=0,
                registered_version=1,
                last_version=1,
            )
        )
        conn.execute(pg_insert(mirror.stakes).values(operator=operator, role=role, active=stake, unbonding=0,
                                                     last_version=1).on_conflict_do_nothing())  # fmt: skip
        if conn.execute(select(mirror.protocol_config)).first() is None:
            conn.execute(
                insert(mirror.protocol_config).values(
                    id=1, min_worker_stake=MIN_STAKE, min_checker_stake=MIN_STAKE, last_version=1
                )
            )


def run_with_chain(make: Any, work: Any) -> Any:
    """Run ``await work(chain)`` on a fresh event loop with a chain client from ``make()``, closed after."""

    async def go() -> Any:
        chain = make()
        try:
            return await work(chain)
        finally:
            await chain.close()

    return asyncio.run(go())
