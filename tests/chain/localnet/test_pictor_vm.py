"""In-process tests of the `pictor` package's Python re-implementation (chain/localnet/vm/pictor).

Each test builds a fresh state, runs genesis, and drives entry functions as transactions: a
transaction writes through its own overlay, which is committed on success and dropped on abort.
After every committed transaction the books must reconcile (supply = Σ stores, module totals).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import (
    PICTOR,
    attestation,
    config,
    conservation,
    escrow,
    genesis,
    invariant_violations,
    registry,
    rewards,
    staking,
    token,
    vault,
)
from tests.support import REPO_ROOT

PICTOR_UNIT = 100_000_000
ADMIN = core.norm_addr("0xad")
COORD = core.norm_addr("0xc0")
TREASURY = core.norm_addr("0x7e")
ALICE = core.norm_addr("0xa11ce")
BOB = core.norm_addr("0xb0b")
CAROL = core.norm_addr("0xca201")
DAVE = core.norm_addr("0xda7e")
START = 1_700_000_000
HASH_A = bytes(range(32))
HASH_B = bytes(range(1, 33))
EVIDENCE = b"\xee" * 32


def signing_key(n: int) -> nacl.signing.SigningKey:
    """A deterministic Ed25519 key."""
    return nacl.signing.SigningKey(bytes([n]) * 32)


def pub(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


class Chain:
    """A state plus a clock; runs entry functions as transactions and views as reads."""

    def __init__(self) -> None:
        self.base: dict[str, Any] = {}
        self.now = START
        self.events: list[tuple[str, dict[str, Any]]] = []
        ctx = self._ctx(core.norm_addr("0x1"), core.Overlay(self.base))
        genesis(ctx, ADMIN, COORD, TREASURY)
        ctx.state.commit_into()
        self.genesis_events = [(ev.type_tag, values) for ev, values in ctx.events]
        self.check_books()

    def _ctx(self, sender: str, state: core.Overlay) -> core.TxContext:
        return core.TxContext(sender=core.norm_addr(sender), timestamp_us=self.now * 1_000_000, state=state)

    def tx(self, sender: str, fn: Callable[..., None], *args: Any) -> list[tuple[str, dict[str, Any]]]:
        """Run one entry function; commit on success and return its pictor events (type short name, fields)."""
        ctx = self._ctx(sender, core.Overlay(self.base))
        fn(ctx, *args)
        ctx.state.commit_into()
        self.check_books()
        events = [(ev.name, values) for ev, values in ctx.events if ev.address == core.norm_addr(PICTOR)]
        self.events.extend(events)
        return events

    def abort(self, sender: str, fn: Callable[..., None], *args: Any) -> core.MoveAbort:
        """Run one entry function that must abort; nothing is committed."""
        before = dict(self.base)
        with pytest.raises(core.MoveAbort) as info:
            self.tx(sender, fn, *args)
        assert self.base == before
        return info.value

    def view(self, fn: Callable[..., list[Any]], *args: Any) -> list[Any]:
        """Call a view function on the committed state."""
        return fn(self._ctx(core.norm_addr("0x0"), core.Overlay(self.base)), *args)

    def check_books(self) -> None:
        supply, stored = conservation(self.base)
        assert supply == stored
        assert invariant_violations(self.base) == []

    # ------------------------------------------------------------------ conveniences

    def fund(self, user: str, amount: int) -> None:
        self.tx(ADMIN, token.mint, user, amount)

    def deposit(self, user: str, amount: int) -> None:
        self.fund(user, amount)
        self.tx(user, vault.deposit, amount)

    def register(self, operator: str, role: int, key: nacl.signing.SigningKey) -> int:
        proof = key.sign(registry.registration_message(operator, role, pub(key))).signature
        events = self.tx(operator, registry.register_node, role, pub(key), proof)
        return events[-1][1]["node_id"]

    def staked_node(
        self, operator: str, role: int, key: nacl.signing.SigningKey, amount: int = 100 * PICTOR_UNIT
    ) -> int:
        node_id = self.register(operator, role, key)
        self.fund(operator, amount)
        self.tx(operator, staking.stake, role, amount)
        return node_id


def assert_abort(err: core.MoveAbort, module: str, name: str, code: int) -> None:
    assert (err.module, err.name, err.code) == (module, name, code), err.vm_status
    assert err.address == core.norm_addr(PICTOR) or module == "fungible_asset"


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


@pytest.fixture
def chain() -> Chain:
    return Chain()


class World:
    """Genesis + a worker (BOB), two checkers (CAROL, DAVE) and a creator (ALICE) with an open job."""

    def __init__(self) -> None:
        self.c = Chain()
        self.worker_key = signing_key(1)
        self.checker_key = signing_key(2)
        self.checker2_key = signing_key(3)
        self.worker = self.c.staked_node(BOB, 1, self.worker_key)
        self.checker = self.c.staked_node(CAROL, 2, self.checker_key)
        self.checker2 = self.c.staked_node(DAVE, 2, self.checker2_key)
        self.worker_acct = core.ed25519_auth_key(pub(self.worker_key))
        self.checker_acct = core.ed25519_auth_key(pub(self.checker_key))
        self.checker2_acct = core.ed25519_auth_key(pub(self.checker2_key))
        self.c.deposit(ALICE, 1000 * PICTOR_UNIT)
        self.job = self.c.tx(ALICE, escrow.open_job, 500 * PICTOR_UNIT, 60 * PICTOR_UNIT)[-1][1]["job_id"]

    def assign(self, task_id: int = 1, quote: int = 10 * PICTOR_UNIT) -> None:
        self.c.tx(COORD, escrow.assign_task, self.job, task_id, self.worker, quote)

    def submit(self, task_id: int = 1, reference_ms: int = 300_000) -> None:
        self.c.tx(self.worker_acct, escrow.submit_result, self.job, task_id, HASH_A, reference_ms)

    def attest(
        self, task_id: int = 1, passed: bool = True, account: str | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        return self.c.tx(account or self.checker_acct, attestation.attest, self.job, task_id, HASH_A, passed, EVIDENCE)

    def verified(self, task_id: int = 1) -> None:
        self.assign(task_id)
        self.submit(task_id)
        self.attest(task_id)


@pytest.fixture
def world() -> World:
    return World()


# =========================================================================== registration & genesis


def test_every_function_and_event_is_registered() -> None:
    pictor = core.norm_addr(PICTOR)
    entries = {f"{f.module}::{f.name}": f.params for f in core.ENTRY_FUNCTIONS.values() if f.address == pictor}
    assert entries["vault::deposit"] == ("u64",)
    assert entries["rewards::claim"] == ("u64", "u64", "u64", "vector<vector<u8>>")
    assert entries["attestation::attest"] == ("u64", "u64", "vector<u8>", "bool", "vector<u8>")
    assert entries["staking::withdraw_unstaked"] == ()
    assert entries["registry::register_node_cosigned"] == ("u8", "vector<u8>")
    assert len(entries) == 34
    views = {f"{f.module}::{f.name}": f.returns for f in core.VIEW_FUNCTIONS.values() if f.address == pictor}
    assert views["token::metadata"] == ("0x1::object::Object<0x1::fungible_asset::Metadata>",)
    assert len(views) == 27
    assert {m for (a, m) in core.ERROR_SETS if a == pictor} == {
        "config", "token", "vault", "registry", "staking", "escrow", "attestation", "rewards",
    }  # fmt: skip
    assert sum(ev.address == pictor for ev in core.EVENT_TYPES.values()) == 32


def test_genesis(chain: Chain) -> None:
    assert [t.split("::")[-1] for t, _ in chain.genesis_events if t.startswith(core.short_addr(PICTOR))] == [
        "RolesUpdated",
        "FeeSplitUpdated",
        "ParamsUpdated",
        "RolesUpdated",
    ]
    assert chain.view(config.roles) == [ADMIN, COORD, TREASURY]
    assert chain.view(config.fee_split) == [6000, 1000]
    assert chain.view(config.params) == [
        1,
        100 * PICTOR_UNIT,
        100 * PICTOR_UNIT,
        604800,
        86400,
        1000,
        3,
        1000 * PICTOR_UNIT,
    ]
    assert chain.view(config.is_paused) == [False]
    assert chain.view(config.credit_signer) == [b""]
    assert chain.view(token.metadata) == [core.object_address_from_seed(PICTOR, b"PICTOR")]
    assert chain.view(token.supply) == [0]
    assert chain.view(token.max_supply) == [100_000_000_000_000_000]
    assert chain.view(vault.totals) == [0, 0]
    assert chain.view(staking.totals) == [0, 0]
    assert chain.view(escrow.next_job_id) == [1]
    assert chain.view(registry.node_count) == [0]
    assert chain.view(rewards.next_epoch) == [1]
    assert chain.view(rewards.pool) == [0, 0]
    key = core.resource_key(PICTOR, f"{core.short_addr(PICTOR)}::vault::Vault")
    assert chain.base[key]["store"] == core.object_address_from_seed(PICTOR, b"pictor::vault")


# =========================================================================== config


def test_config_setters(chain: Chain) -> None:
    assert names(chain.tx(ADMIN, config.set_roles, ADMIN, BOB, CAROL)) == ["RolesUpdated"]
    assert chain.view(config.roles) == [ADMIN, BOB, CAROL]
    assert chain.tx(ADMIN, config.set_fee_split, 7000, 3000) == [
        ("FeeSplitUpdated", {"worker_bps": 7000, "checker_bps": 3000})
    ]
    ev = chain.tx(ADMIN, config.set_params, 10, 1, 2, 31536000, 2592000, 10000, 1, 0)
    assert ev[0][1] == {
        "quorum": 10, "min_worker_stake": 1, "min_checker_stake": 2, "unbonding_secs": 31536000,
        "review_window_secs": 2592000, "slash_bps": 10000, "max_strikes": 1, "faucet_max": 0,
    }  # fmt: skip
    assert chain.view(config.params) == [10, 1, 2, 31536000, 2592000, 10000, 1, 0]
    key = pub(signing_key(9))
    assert chain.tx(ADMIN, config.set_credit_signer, key) == [("CreditSignerUpdated", {"public_key": key})]
    assert chain.view(config.credit_signer) == [key]
    assert chain.tx(ADMIN, config.set_paused, True) == [("PausedUpdated", {"paused": True})]
    assert chain.view(config.is_paused) == [True]
    # a new admin takes over; the old one is locked out
    chain.tx(ADMIN, config.set_roles, DAVE, COORD, TREASURY)
    assert_abort(chain.abort(ADMIN, config.set_paused, False), "config", "E_NOT_ADMIN", 1)
    chain.tx(DAVE, config.set_paused, False)


def test_config_aborts(chain: Chain) -> None:
    for fn, args in [
        (config.set_roles, (BOB, BOB, BOB)),
        (config.set_fee_split, (20000, 0)),  # not-admin is checked first
        (config.set_params, (0, 0, 0, 0, 0, 0, 0, 0)),
        (config.set_credit_signer, (b"",)),
        (config.set_paused, (True,)),
    ]:
        assert_abort(chain.abort(BOB, fn, *args), "config", "E_NOT_ADMIN", 1)
    for worker, checker in [(10001, 0), (6000, 4001), (0, 10001)]:
        assert_abort(chain.abort(ADMIN, config.set_fee_split, worker, checker), "config", "E_INVALID_FEE_SPLIT", 2)
    chain.tx(ADMIN, config.set_fee_split, 10000, 0)
    good = [1, 0, 0, 0, 0, 0, 1, 0]
    for index, bad in [(0, 0), (0, 11), (3, 31536001), (4, 2592001), (5, 10001), (6, 0)]:
        args = list(good)
        args[index] = bad
        assert_abort(chain.abort(ADMIN, config.set_params, *args), "config", "E_INVALID_PARAMETER", 3)
    low_order = bytes([1]) + bytes(31)  # the identity point: small order, rejected
    for key in [b"", b"\x01" * 31, pub(signing_key(1)) + b"\x00", low_order, b"\xff" * 32]:
        assert_abort(chain.abort(ADMIN, config.set_credit_signer, key), "config", "E_INVALID_PUBLIC_KEY", 5)


def test_pause_blocks_the_guarded_entry_points(world: World) -> None:
    c = world.c
    c.tx(ADMIN, config.set_paused, True)
    key = signing_key(20)
    proof = key.sign(registry.registration_message(ALICE, 1, pub(key))).signature
    for sender, fn, args in [
        (ALICE, token.faucet, (0,)),  # paused is checked before the amount
        (ALICE, vault.deposit, (0,)),
        (ALICE, vault.claim_credit, (0, 0, 0, b"")),
        (ALICE, registry.register_node, (1, pub(key), proof)),
        (ALICE, staking.stake, (1, 1)),
        (ALICE, escrow.open_job, (0, 0)),
        (ALICE, escrow.top_up, (world.job, 1)),
        (BOB, escrow.assign_task, (world.job, 1, world.worker, 1)),  # before E_NOT_COORDINATOR
    ]:
        assert_abort(c.abort(sender, fn, *args), "config", "E_PAUSED", 4)
    # exits stay open while paused
    c.tx(ALICE, vault.withdraw, PICTOR_UNIT)
    c.tx(BOB, staking.request_unstake, 1, PICTOR_UNIT)
    c.tx(ALICE, escrow.close_job, world.job)


# =========================================================================== token


def test_token_mint_and_faucet(chain: Chain) -> None:
    assert chain.tx(ADMIN, token.mint, ALICE, 5) == [("Minted", {"to": ALICE, "amount": 5, "supply": 5})]
    assert chain.tx(BOB, token.faucet, 1000 * PICTOR_UNIT) == [
        ("Minted", {"to": BOB, "amount": 1000 * PICTOR_UNIT, "supply": 1000 * PICTOR_UNIT + 5})
    ]
    assert chain.view(token.balance, ALICE) == [5]
    assert chain.view(token.balance, BOB) == [1000 * PICTOR_UNIT]
    assert chain.view(token.balance, CAROL) == [0]
    assert chain.view(token.supply) == [1000 * PICTOR_UNIT + 5]


def test_token_aborts(chain: Chain) -> None:
    assert_abort(chain.abort(BOB, token.mint, ALICE, 0), "token", "E_NOT_ADMIN", 1)
    assert_abort(chain.abort(ADMIN, token.mint, ALICE, 0), "token", "E_ZERO_AMOUNT", 2)
    chain.tx(ADMIN, token.mint, ALICE, token.MAX_SUPPLY - 10)
    assert_abort(chain.abort(ADMIN, token.mint, ALICE, 11), "token", "E_MAX_SUPPLY", 3)
    assert_abort(chain.abort(BOB, token.faucet, 0), "token", "E_ZERO_AMOUNT", 2)
    assert_abort(chain.abort(BOB, token.faucet, 1000 * PICTOR_UNIT + 1), "token", "E_FAUCET_LIMIT", 4)
    assert_abort(chain.abort(BOB, token.faucet, 11), "token", "E_MAX_SUPPLY", 3)
    chain.tx(BOB, token.faucet, 10)
    assert chain.view(token.supply) == [token.MAX_SUPPLY]
    chain.tx(ADMIN, config.set_params, 1, 0, 0, 0, 0, 0, 1, 0)  # faucet_max 0 disables the faucet
    assert_abort(chain.abort(BOB, token.faucet, 1), "token", "E_FAUCET_LIMIT", 4)


# =========================================================================== vault


def test_vault_deposit_withdraw(chain: Chain) -> None:
    chain.fund(ALICE, 100)
    assert chain.tx(ALICE, vault.deposit, 60) == [("Deposited", {"user": ALICE, "amount": 60, "balance": 60})]
    assert chain.tx(ALICE, vault.deposit, 40) == [("Deposited", {"user": ALICE, "amount": 40, "balance": 100})]
    assert chain.view(vault.account, ALICE) == [0, 100]
    assert chain.view(vault.totals) == [0, 100]
    assert chain.view(vault.store_balance) == [100]
    assert chain.view(token.balance, ALICE) == [0]
    assert chain.tx(ALICE, vault.withdraw, 30) == [("Withdrawn", {"user": ALICE, "amount": 30, "balance": 70})]
    assert chain.view(token.balance, ALICE) == [30]
    assert chain.view(vault.account, BOB) == [0, 0]


def test_vault_aborts(chain: Chain) -> None:
    assert_abort(chain.abort(ALICE, vault.deposit, 0), "vault", "E_ZERO_AMOUNT", 1)
    err = chain.abort(ALICE, vault.deposit, 1)  # no tokens at all
    assert (err.address, err.module, err.name) == (core.norm_addr("0x1"), "fungible_asset", "EINSUFFICIENT_BALANCE")
    assert_abort(chain.abort(ALICE, vault.withdraw, 0), "vault", "E_ZERO_AMOUNT", 1)
    chain.deposit(ALICE, 10)
    assert_abort(chain.abort(ALICE, vault.withdraw, 11), "vault", "E_INSUFFICIENT_BALANCE", 2)


def _claim(key: nacl.signing.SigningKey, user: str, amount: int, nonce: int, expires_at: int) -> bytes:
    return key.sign(vault.claim_message(user, amount, nonce, expires_at)).signature


def test_vault_claim_credit(chain: Chain) -> None:
    key = signing_key(7)
    expires = START + 100
    assert_abort(chain.abort(ALICE, vault.claim_credit, 0, 0, expires, b""), "vault", "E_ZERO_AMOUNT", 1)
    sig = _claim(key, ALICE, 50, 0, expires)
    assert_abort(chain.abort(ALICE, vault.claim_credit, 50, 0, expires, sig), "vault", "E_CLAIMS_DISABLED", 6)
    chain.tx(ADMIN, config.set_credit_signer, pub(key))
    assert chain.tx(ALICE, vault.claim_credit, 50, 0, expires, sig) == [
        ("CreditClaimed", {"user": ALICE, "amount": 50, "nonce": 0, "credit": 50})
    ]
    assert chain.view(vault.account, ALICE) == [50, 0]
    assert chain.view(vault.next_claim_nonce, ALICE) == [1]
    assert chain.view(vault.next_claim_nonce, BOB) == [0]
    assert chain.view(token.supply) == [50]
    # replay: the nonce is spent
    assert_abort(chain.abort(ALICE, vault.claim_credit, 50, 0, expires, sig), "vault", "E_BAD_NONCE", 4)
    sig1 = _claim(key, ALICE, 5, 1, expires)
    # someone else cannot use Alice's claim (their nonce is 1 → the signature is over another user)
    chain.tx(BOB, vault.claim_credit, 1, 0, expires, _claim(key, BOB, 1, 0, expires))
    assert_abort(chain.abort(BOB, vault.claim_credit, 5, 1, expires, sig1), "vault", "E_BAD_SIGNATURE", 5)
    assert_abort(chain.abort(ALICE, vault.claim_credit, 6, 1, expires, sig1), "vault", "E_BAD_SIGNATURE", 5)
    assert_abort(chain.abort(ALICE, vault.claim_credit, 5, 1, expires, sig1[:63]), "vault", "E_BAD_SIGNATURE", 5)
    wrong_key = _claim(signing_key(8), ALICE, 5, 1, expires)
    assert_abort(chain.abort(ALICE, vault.claim_credit, 5, 1, expires, wrong_key), "vault", "E_BAD_SIGNATURE", 5)
    # expiry is inclusive, and is checked before the nonce
    chain.now = expires
    chain.tx(ALICE, vault.claim_credit, 5, 1, expires, sig1)
    chain.now = expires + 1
    assert_abort(chain.abort(ALICE, vault.claim_credit, 5, 9, expires, b""), "vault", "E_EXPIRED", 7)
    # credit is not withdrawable
    assert_abort(chain.abort(ALICE, vault.withdraw, 1), "vault", "E_INSUFFICIENT_BALANCE", 2)
    # the supply cap applies (token::E_MAX_SUPPLY), after the signature check
    chain.tx(ADMIN, token.mint, CAROL, token.MAX_SUPPLY - chain.view(token.supply)[0])
    big = _claim(key, ALICE, 1, 2, START + 10_000)
    assert_abort(chain.abort(ALICE, vault.claim_credit, 1, 2, START + 10_000, big), "token", "E_MAX_SUPPLY", 3)


# =========================================================================== registry


def test_registry_register_rotate_deregister(chain: Chain) -> None:
    k1, k2 = signing_key(1), signing_key(2)
    proof = k1.sign(registry.registration_message(BOB, 1, pub(k1))).signature
    acct1 = core.ed25519_auth_key(pub(k1))
    assert chain.tx(BOB, registry.register_node, 1, pub(k1), proof) == [
        ("NodeRegistered", {"node_id": 1, "operator": BOB, "role": 1, "public_key": pub(k1), "account": acct1})
    ]
    assert chain.view(registry.node, 1) == [BOB, 1, pub(k1), acct1, True, 0]
    assert chain.view(registry.node_of_account, acct1) == [1]
    assert chain.view(registry.node_count) == [1]
    proof2 = k2.sign(registry.registration_message(BOB, 1, pub(k2))).signature
    acct2 = core.ed25519_auth_key(pub(k2))
    assert chain.tx(BOB, registry.rotate_node_key, 1, pub(k2), proof2) == [
        ("NodeKeyRotated", {"node_id": 1, "old_account": acct1, "public_key": pub(k2), "account": acct2})
    ]
    assert chain.view(registry.node_of_account, acct1) == [0]
    assert chain.view(registry.node_of_account, acct2) == [1]
    # the retired key can never come back
    assert_abort(chain.abort(BOB, registry.register_node, 1, pub(k1), proof), "registry", "E_KEY_IN_USE", 4)
    assert chain.tx(BOB, registry.deregister_node, 1) == [("NodeDeregistered", {"node_id": 1, "operator": BOB})]
    assert chain.view(registry.node, 1)[4] is False
    assert chain.view(registry.node_of_account, acct2) == [1]  # active or not


def test_registry_aborts(chain: Chain) -> None:
    k1, k2, k3 = signing_key(1), signing_key(2), signing_key(3)

    def proof(key: nacl.signing.SigningKey, operator: str = BOB, role: int = 1) -> bytes:
        return key.sign(registry.registration_message(operator, role, pub(key))).signature

    for role in (0, 3):
        assert_abort(chain.abort(BOB, registry.register_node, role, b"", b""), "registry", "E_INVALID_ROLE", 1)
    assert_abort(chain.abort(BOB, registry.register_node, 1, b"\x01" * 31, b""), "registry", "E_INVALID_PUBLIC_KEY", 2)
    for bad in [b"", proof(k1)[:63], proof(k1, role=2), proof(k1, operator=CAROL), proof(k2)]:
        assert_abort(chain.abort(BOB, registry.register_node, 1, pub(k1), bad), "registry", "E_BAD_PROOF", 3)
    chain.tx(BOB, registry.register_node, 1, pub(k1), proof(k1))
    assert_abort(
        chain.abort(CAROL, registry.register_node, 1, pub(k1), proof(k1, CAROL)), "registry", "E_KEY_IN_USE", 4
    )

    assert_abort(chain.abort(BOB, registry.rotate_node_key, 2, pub(k2), proof(k2)), "registry", "E_NODE_NOT_FOUND", 5)
    assert_abort(chain.abort(CAROL, registry.rotate_node_key, 1, pub(k2), proof(k2)), "registry", "E_NOT_OPERATOR", 6)
    assert_abort(
        chain.abort(BOB, registry.rotate_node_key, 1, b"\x00" * 32, b""), "registry", "E_INVALID_PUBLIC_KEY", 2
    )
    assert_abort(
        chain.abort(BOB, registry.rotate_node_key, 1, pub(k2), proof(k2, role=2)), "registry", "E_BAD_PROOF", 3
    )
    assert_abort(chain.abort(BOB, registry.rotate_node_key, 1, pub(k1), proof(k1)), "registry", "E_KEY_IN_USE", 4)
    chain.tx(CAROL, registry.register_node, 2, pub(k3), proof(k3, CAROL, 2))
    assert_abort(chain.abort(BOB, registry.rotate_node_key, 1, pub(k3), proof(k3)), "registry", "E_KEY_IN_USE", 4)

    assert_abort(chain.abort(BOB, registry.deregister_node, 9), "registry", "E_NODE_NOT_FOUND", 5)
    assert_abort(chain.abort(CAROL, registry.deregister_node, 1), "registry", "E_NOT_OPERATOR", 6)
    chain.tx(BOB, registry.deregister_node, 1)
    assert_abort(chain.abort(BOB, registry.deregister_node, 1), "registry", "E_NODE_INACTIVE", 7)
    assert_abort(chain.abort(BOB, registry.rotate_node_key, 1, pub(k2), proof(k2)), "registry", "E_NODE_INACTIVE", 7)
    with pytest.raises(core.MoveAbort) as info:
        chain.view(registry.node, 9)
    assert_abort(info.value, "registry", "E_NODE_NOT_FOUND", 5)



def test_registry_register_node_cosigned(chain: Chain) -> None:
    """The co-signing account is the node account, under its current key, whatever address that key derives."""
    k1, k2, k3 = signing_key(1), signing_key(2), signing_key(3)
    node_addr = core.ed25519_auth_key(pub(k1))
    ctx = chain._ctx(node_addr, core.Overlay(chain.base))
    framework.create_account(ctx, node_addr)
    rotated = core.norm_addr("0x5005")  # an account whose key was rotated to k2
    framework.create_account(ctx, rotated, auth_key=core.addr_bytes(core.ed25519_auth_key(pub(k2))))
    ctx.state.commit_into()

    assert chain.tx(BOB, registry.register_node_cosigned, node_addr, 1, pub(k1)) == [
        ("NodeRegistered", {"node_id": 1, "operator": BOB, "role": 1, "public_key": pub(k1), "account": node_addr})
    ]
    events = chain.tx(CAROL, registry.register_node_cosigned, rotated, 2, pub(k2))
    assert events[0][1]["account"] == rotated and events[0][1]["node_id"] == 2
    assert chain.view(registry.node_of_account, rotated) == [2]
    assert chain.view(registry.node_of_account, core.ed25519_auth_key(pub(k2))) == [0]

    assert_abort(
        chain.abort(BOB, registry.register_node_cosigned, rotated, 1, pub(k3)), "registry", "E_BAD_PROOF", 3
    )
    assert_abort(
        chain.abort(BOB, registry.register_node_cosigned, node_addr, 1, pub(k1)), "registry", "E_KEY_IN_USE", 4
    )
    assert_abort(
        chain.abort(BOB, registry.register_node_cosigned, node_addr, 3, pub(k1)), "registry", "E_INVALID_ROLE", 1
    )
    assert_abort(
        chain.abort(BOB, registry.register_node_cosigned, node_addr, 1, b"\x00" * 32),
        "registry",
        "E_INVALID_PUBLIC_KEY",
        2,
    )


# =========================================================================== staking


def test_staking_lifecycle(chain: Chain) -> None:
    chain.fund(BOB, 1000)
    assert chain.tx(BOB, staking.stake, 1, 600) == [
        ("Staked", {"operator": BOB, "role": 1, "amount": 600, "active": 600})
    ]
    chain.tx(BOB, staking.stake, 2, 400)
    assert chain.view(staking.stake_of, BOB, 1) == [600, 0]
    assert chain.view(staking.totals) == [1000, 0]
    assert chain.tx(BOB, staking.request_unstake, 1, 100) == [
        (
            "UnstakeRequested",
            {"operator": BOB, "role": 1, "amount": 100, "request_id": 1, "release_at": START + 604800, "active": 500},
        )
    ]
    chain.now += 10
    chain.tx(BOB, staking.request_unstake, 2, 50)
    assert chain.view(staking.unbonding_requests, BOB) == [
        [1, 2],
        bytes([1, 2]),
        [100, 50],
        [START + 604800, START + 604810],
    ]
    assert chain.view(staking.stake_of, BOB, 1) == [500, 100]
    assert chain.view(staking.totals) == [850, 150]
    assert_abort(chain.abort(BOB, staking.withdraw_unstaked), "staking", "E_NOTHING_TO_WITHDRAW", 4)
    chain.now = START + 604800
    assert chain.tx(BOB, staking.withdraw_unstaked) == [
        ("UnstakeWithdrawn", {"operator": BOB, "amount": 100, "request_ids": [1]})
    ]
    assert chain.view(token.balance, BOB) == [100]
    assert chain.view(staking.unbonding_requests, BOB)[0] == [2]
    chain.now += 10
    chain.tx(BOB, staking.withdraw_unstaked)
    assert chain.view(staking.totals) == [850, 0]
    assert chain.view(staking.stake_of, CAROL, 2) == [0, 0]


def test_staking_slash_order(chain: Chain) -> None:
    chain.fund(BOB, 1000)
    chain.tx(BOB, staking.stake, 1, 1000)
    chain.tx(BOB, staking.request_unstake, 1, 300)  # request 1
    chain.tx(BOB, staking.request_unstake, 1, 200)  # request 2
    # active 500; slash 600 → 500 from active, then 100 from the newest request (2)
    assert chain.tx(ADMIN, staking.slash, BOB, 1, 600) == [
        (
            "Slashed",
            {"operator": BOB, "role": 1, "amount": 600, "reason": 1, "job_id": 0, "task_id": 0, "treasury": TREASURY},
        )
    ]
    assert chain.view(staking.unbonding_requests, BOB)[2] == [300, 100]
    assert chain.view(vault.account, TREASURY) == [0, 600]
    # slash more than there is: request 2 is emptied and removed, request 1 shrinks... and runs dry
    assert chain.tx(ADMIN, staking.slash, BOB, 1, 10_000)[0][1]["amount"] == 400
    assert chain.view(staking.unbonding_requests, BOB) == [[], b"", [], []]
    assert chain.tx(ADMIN, staking.slash, BOB, 1, 5) == []  # nothing slashable: no event
    assert chain.view(staking.totals) == [0, 0]


def test_staking_aborts(chain: Chain) -> None:
    chain.fund(BOB, 100)
    for role in (0, 3):
        assert_abort(chain.abort(BOB, staking.stake, role, 0), "staking", "E_INVALID_ROLE", 2)
        assert_abort(chain.abort(BOB, staking.request_unstake, role, 0), "staking", "E_INVALID_ROLE", 2)
        assert_abort(chain.abort(ADMIN, staking.slash, BOB, role, 0), "staking", "E_INVALID_ROLE", 2)
    assert_abort(chain.abort(BOB, staking.stake, 1, 0), "staking", "E_ZERO_AMOUNT", 1)
    err = chain.abort(BOB, staking.stake, 1, 101)
    assert err.name == "EINSUFFICIENT_BALANCE"
    assert_abort(chain.abort(BOB, staking.request_unstake, 1, 0), "staking", "E_ZERO_AMOUNT", 1)
    assert_abort(chain.abort(BOB, staking.request_unstake, 1, 1), "staking", "E_INSUFFICIENT_STAKE", 3)
    chain.tx(BOB, staking.stake, 1, 100)
    assert_abort(chain.abort(BOB, staking.request_unstake, 2, 1), "staking", "E_INSUFFICIENT_STAKE", 3)
    assert_abort(chain.abort(BOB, staking.request_unstake, 1, 101), "staking", "E_INSUFFICIENT_STAKE", 3)
    assert_abort(chain.abort(BOB, staking.slash, BOB, 0, 0), "staking", "E_NOT_ADMIN", 5)
    assert_abort(chain.abort(ADMIN, staking.slash, BOB, 1, 0), "staking", "E_ZERO_AMOUNT", 1)
    assert_abort(chain.abort(BOB, staking.withdraw_unstaked), "staking", "E_NOTHING_TO_WITHDRAW", 4)
    with pytest.raises(core.MoveAbort) as info:
        chain.view(staking.stake_of, BOB, 3)
    assert_abort(info.value, "staking", "E_INVALID_ROLE", 2)


# =========================================================================== escrow


def test_escrow_open_top_up_close(chain: Chain) -> None:
    key = signing_key(7)
    chain.tx(ADMIN, config.set_credit_signer, pub(key))
    chain.tx(ALICE, vault.claim_credit, 30, 0, START + 10, _claim(key, ALICE, 30, 0, START + 10))
    chain.deposit(ALICE, 100)
    store = escrow.job_store_address(1)
    assert chain.tx(ALICE, escrow.open_job, 50, 7) == [
        (
            "JobOpened",
            {
                "job_id": 1, "creator": ALICE, "budget": 50, "credit_used": 30, "balance_used": 20,
                "price_per_minute": 7, "store": store,
            },
        )
    ]  # fmt: skip
    root = core.object_address_from_seed(PICTOR, b"pictor::escrow")
    assert store == core.object_address_from_seed(root, b"pictor::escrow" + (1).to_bytes(8, "little"))
    assert chain.view(escrow.job_store, 1) == [store]
    assert chain.view(escrow.job, 1) == [ALICE, 50, 30, 0, 0, 7, False]
    assert chain.view(vault.account, ALICE) == [0, 80]
    assert chain.tx(ALICE, escrow.top_up, 1, 15) == [
        ("JobToppedUp", {"job_id": 1, "amount": 15, "credit_used": 0, "balance_used": 15, "budget": 65})
    ]
    assert chain.view(escrow.next_job_id) == [2]
    assert chain.tx(COORD, escrow.close_job, 1) == [
        ("JobClosed", {"job_id": 1, "spent": 0, "refund_credit": 30, "refund_balance": 35})
    ]
    assert chain.view(vault.account, ALICE) == [30, 100]
    assert chain.view(escrow.job, 1)[6] is True


def test_escrow_open_top_up_aborts(chain: Chain) -> None:
    assert_abort(chain.abort(ALICE, escrow.open_job, 0, 0), "escrow", "E_ZERO_AMOUNT", 1)
    assert_abort(chain.abort(ALICE, escrow.open_job, 1, 0), "escrow", "E_INVALID_PRICE", 15)
    assert_abort(chain.abort(ALICE, escrow.open_job, 1, 1), "vault", "E_INSUFFICIENT_FUNDS", 3)
    chain.deposit(ALICE, 10)
    chain.tx(ALICE, escrow.open_job, 10, 1)
    assert_abort(chain.abort(ALICE, escrow.top_up, 2, 0), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(chain.abort(BOB, escrow.top_up, 1, 0), "escrow", "E_NOT_CREATOR", 3)
    assert_abort(chain.abort(ALICE, escrow.top_up, 1, 0), "escrow", "E_ZERO_AMOUNT", 1)
    assert_abort(chain.abort(ALICE, escrow.top_up, 1, 1), "vault", "E_INSUFFICIENT_FUNDS", 3)
    chain.tx(ALICE, escrow.close_job, 1)
    assert_abort(chain.abort(ALICE, escrow.top_up, 1, 0), "escrow", "E_JOB_CLOSED", 5)
    assert_abort(chain.abort(ALICE, escrow.close_job, 1), "escrow", "E_JOB_CLOSED", 5)
    assert_abort(chain.abort(BOB, escrow.close_job, 1), "escrow", "E_NOT_CREATOR", 3)
    assert_abort(chain.abort(BOB, escrow.close_job, 2), "escrow", "E_JOB_NOT_FOUND", 2)
    for view, args in [(escrow.job, (2,)), (escrow.job_store, (2,)), (escrow.task, (2, 1))]:
        with pytest.raises(core.MoveAbort) as info:
            chain.view(view, *args)
        assert_abort(info.value, "escrow", "E_JOB_NOT_FOUND", 2)
    with pytest.raises(core.MoveAbort) as info:
        chain.view(escrow.task, 1, 1)
    assert_abort(info.value, "escrow", "E_TASK_NOT_FOUND", 7)


def test_assign_requeue_submit(world: World) -> None:
    c, job = world.c, world.job
    quote = 10 * PICTOR_UNIT
    assert c.tx(COORD, escrow.assign_task, job, 5, world.worker, quote) == [
        (
            "TaskAssigned",
            {
                "job_id": job,
                "task_id": 5,
                "node_id": world.worker,
                "worker_operator": BOB,
                "quote": quote,
                "attempt": 1,
            },
        )
    ]
    assert c.view(escrow.job, job)[4] == quote
    assert c.tx(COORD, escrow.requeue_task, job, 5) == [
        ("TaskRequeued", {"job_id": job, "task_id": 5, "node_id": world.worker, "reason": 1})
    ]
    assert c.view(escrow.job, job)[4] == 0
    assert c.tx(COORD, escrow.assign_task, job, 5, world.worker, quote)[0][1]["attempt"] == 2
    # 90 s at 60 PICTOR/min = 90 PICTOR, capped at the 10 PICTOR quote
    ev = c.tx(world.worker_acct, escrow.submit_result, job, 5, HASH_A, 90_000)
    assert ev == [
        (
            "ResultSubmitted",
            {
                "job_id": job,
                "task_id": 5,
                "node_id": world.worker,
                "result_hash": HASH_A,
                "reference_ms": 90_000,
                "charge": quote,
            },
        )
    ]
    assert c.view(escrow.task, job, 5) == [2, world.worker, quote, HASH_A, quote, 2, 0, 0]


def test_charge_rounds_up() -> None:
    assert escrow.compute_charge(100, 1, 1) == 1  # ceil(1/60000)
    assert escrow.compute_charge(100, 60_000, 7) == 7
    assert escrow.compute_charge(100, 60_001, 7) == 8
    assert escrow.compute_charge(5, 60_001, 7) == 5
    assert escrow.compute_charge(core.U64_MAX, core.U64_MAX, core.U64_MAX) == core.U64_MAX
    assert escrow.compute_charge(10, 0, 7) == 0


def test_assign_aborts(world: World) -> None:
    c, job = world.c, world.job
    assert_abort(c.abort(ALICE, escrow.assign_task, job, 1, world.worker, 1), "escrow", "E_NOT_COORDINATOR", 4)
    assert_abort(c.abort(COORD, escrow.assign_task, 99, 1, world.worker, 1), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(c.abort(COORD, escrow.assign_task, job, 1, world.worker, 0), "escrow", "E_ZERO_AMOUNT", 1)
    # not a node / a checker / not enough stake / inactive
    for node_id in (99, world.checker):
        assert_abort(c.abort(COORD, escrow.assign_task, job, 1, node_id, 1), "escrow", "E_NODE_NOT_ELIGIBLE", 14)
    c.tx(BOB, staking.request_unstake, 1, 1)
    assert_abort(c.abort(COORD, escrow.assign_task, job, 1, world.worker, 1), "escrow", "E_NODE_NOT_ELIGIBLE", 14)
    c.fund(BOB, 1)
    c.tx(BOB, staking.stake, 1, 1)
    assert_abort(
        c.abort(COORD, escrow.assign_task, job, 1, world.worker, 500 * PICTOR_UNIT + 1),
        "escrow",
        "E_INSUFFICIENT_ESCROW",
        6,
    )
    c.tx(COORD, escrow.assign_task, job, 1, world.worker, 400 * PICTOR_UNIT)
    assert_abort(c.abort(COORD, escrow.assign_task, job, 1, world.worker, 1), "escrow", "E_BAD_TASK_STATE", 8)
    assert_abort(
        c.abort(COORD, escrow.assign_task, job, 2, world.worker, 100 * PICTOR_UNIT + 1),
        "escrow",
        "E_INSUFFICIENT_ESCROW",
        6,
    )
    c.tx(COORD, escrow.assign_task, job, 2, world.worker, 100 * PICTOR_UNIT)
    c.tx(BOB, registry.deregister_node, world.worker)
    c.tx(COORD, escrow.requeue_task, job, 2)
    assert_abort(c.abort(COORD, escrow.assign_task, job, 2, world.worker, 1), "escrow", "E_NODE_NOT_ELIGIBLE", 14)
    # requeue_task aborts
    assert_abort(c.abort(ALICE, escrow.requeue_task, job, 1), "escrow", "E_NOT_COORDINATOR", 4)
    assert_abort(c.abort(COORD, escrow.requeue_task, 99, 1), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(c.abort(COORD, escrow.requeue_task, job, 3), "escrow", "E_TASK_NOT_FOUND", 7)
    assert_abort(c.abort(COORD, escrow.requeue_task, job, 2), "escrow", "E_BAD_TASK_STATE", 8)
    # closing requeues the assigned task (reason 4) and frees the reservation
    assert c.tx(ALICE, escrow.close_job, job) == [
        ("TaskRequeued", {"job_id": job, "task_id": 1, "node_id": world.worker, "reason": 4}),
        ("JobClosed", {"job_id": job, "spent": 0, "refund_credit": 0, "refund_balance": 500 * PICTOR_UNIT}),
    ]
    assert_abort(c.abort(COORD, escrow.assign_task, job, 1, world.worker, 1), "escrow", "E_JOB_CLOSED", 5)
    assert_abort(c.abort(world.worker_acct, escrow.submit_result, job, 1, HASH_A, 1), "escrow", "E_JOB_CLOSED", 5)


def test_submit_aborts(world: World) -> None:
    c, job = world.c, world.job
    acct = world.worker_acct
    assert_abort(c.abort(acct, escrow.submit_result, 99, 1, HASH_A, 1), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(c.abort(acct, escrow.submit_result, job, 1, HASH_A, 1), "escrow", "E_TASK_NOT_FOUND", 7)
    world.assign()
    assert_abort(c.abort(BOB, escrow.submit_result, job, 1, HASH_A, 1), "escrow", "E_NOT_ASSIGNED_NODE", 9)
    assert_abort(
        c.abort(world.checker_acct, escrow.submit_result, job, 1, HASH_A, 1), "escrow", "E_NOT_ASSIGNED_NODE", 9
    )
    assert_abort(c.abort(acct, escrow.submit_result, job, 1, HASH_A[:31], 1), "escrow", "E_INVALID_HASH", 10)
    world.submit()
    assert_abort(c.abort(acct, escrow.submit_result, job, 1, HASH_A, 1), "escrow", "E_BAD_TASK_STATE", 8)
    assert_abort(c.abort(ALICE, escrow.close_job, job), "escrow", "E_TASKS_IN_FLIGHT", 13)


def test_review_accept_finalize_dispute(world: World) -> None:
    c, job = world.c, world.job
    world.verified(1)
    deadline = START + 86400
    assert c.view(escrow.task, job, 1)[0] == escrow.VERIFIED
    assert c.view(escrow.task, job, 1)[6] == deadline
    assert_abort(c.abort(BOB, escrow.accept_task, job, 1), "escrow", "E_NOT_CREATOR", 3)
    assert_abort(c.abort(ALICE, escrow.accept_task, 99, 1), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(c.abort(ALICE, escrow.accept_task, job, 7), "escrow", "E_TASK_NOT_FOUND", 7)
    assert_abort(c.abort(ALICE, escrow.finalize_task, job, 1), "escrow", "E_REVIEW_WINDOW_OPEN", 11)
    assert_abort(c.abort(ALICE, escrow.close_job, job), "escrow", "E_TASKS_IN_FLIGHT", 13)
    events = c.tx(ALICE, escrow.accept_task, job, 1)
    charge = 10 * PICTOR_UNIT  # 300 s at 60 PICTOR/min = 300 PICTOR, capped at the 10 PICTOR quote
    assert events == [
        (
            "TaskSettled",
            {
                "job_id": job, "task_id": 1, "node_id": world.worker, "charge": charge, "worker_operator": BOB,
                "worker_amount": charge * 6 // 10, "checkers": [CAROL], "checker_amount": charge // 10,
                "treasury": TREASURY, "treasury_amount": charge * 3 // 10,
            },
        )
    ]  # fmt: skip
    assert c.view(vault.account, BOB) == [0, charge * 6 // 10]
    assert c.view(vault.account, CAROL) == [0, charge // 10]
    assert c.view(vault.account, TREASURY) == [0, charge * 3 // 10]
    assert c.view(escrow.job, job)[3:5] == [charge, 0]
    for fn in (escrow.accept_task, escrow.finalize_task, escrow.dispute_task):
        assert_abort(c.abort(ALICE, fn, job, 1), "escrow", "E_BAD_TASK_STATE", 8)

    world.verified(2)
    c.now = deadline - 1
    assert_abort(c.abort(BOB, escrow.dispute_task, job, 2), "escrow", "E_NOT_CREATOR", 3)
    assert_abort(c.abort(ALICE, escrow.dispute_task, 99, 2), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(c.abort(ALICE, escrow.dispute_task, job, 9), "escrow", "E_TASK_NOT_FOUND", 7)
    c.now = deadline
    assert_abort(c.abort(ALICE, escrow.dispute_task, job, 2), "escrow", "E_REVIEW_WINDOW_CLOSED", 12)
    assert_abort(c.abort(ALICE, escrow.finalize_task, 99, 2), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(c.abort(ALICE, escrow.finalize_task, job, 9), "escrow", "E_TASK_NOT_FOUND", 7)
    assert names(c.tx(DAVE, escrow.finalize_task, job, 2)) == ["TaskSettled"]  # anyone may finalize

    c.now = START
    world.verified(3)
    assert c.tx(ALICE, escrow.dispute_task, job, 3) == [
        ("TaskDisputed", {"job_id": job, "task_id": 3, "node_id": world.worker})
    ]
    assert c.view(escrow.task, job, 3)[0] == escrow.DISPUTED
    assert_abort(c.abort(ALICE, escrow.close_job, job), "escrow", "E_TASKS_IN_FLIGHT", 13)
    assert_abort(c.abort(ALICE, escrow.accept_task, job, 3), "escrow", "E_BAD_TASK_STATE", 8)


def test_close_refunds_credit_left_first() -> None:
    world = World()
    c = world.c
    key = signing_key(7)
    c.tx(ADMIN, config.set_credit_signer, pub(key))
    c.tx(CAROL, vault.claim_credit, 8 * PICTOR_UNIT, 0, START + 10, _claim(key, CAROL, 8 * PICTOR_UNIT, 0, START + 10))
    c.deposit(CAROL, 100 * PICTOR_UNIT)
    job = c.tx(CAROL, escrow.open_job, 20 * PICTOR_UNIT, 60 * PICTOR_UNIT)[0][1]["job_id"]
    c.tx(COORD, escrow.assign_task, job, 1, world.worker, 10 * PICTOR_UNIT)
    c.tx(world.worker_acct, escrow.submit_result, job, 1, HASH_A, 5_000)  # 5 PICTOR
    c.tx(world.checker2_acct, attestation.attest, job, 1, HASH_A, True, EVIDENCE)
    c.tx(CAROL, escrow.accept_task, job, 1)
    # spent 5 of the 8 credit: 3 credit left, 12 balance
    assert c.tx(CAROL, escrow.close_job, job) == [
        (
            "JobClosed",
            {
                "job_id": job,
                "spent": 5 * PICTOR_UNIT,
                "refund_credit": 3 * PICTOR_UNIT,
                "refund_balance": 12 * PICTOR_UNIT,
            },
        )
    ]
    assert c.view(vault.account, CAROL)[0] == 3 * PICTOR_UNIT


# =========================================================================== attestation


def test_attest_pass_quorum_two_and_instant_settle(world: World) -> None:
    c, job = world.c, world.job
    c.tx(ADMIN, config.set_params, 2, 100 * PICTOR_UNIT, 100 * PICTOR_UNIT, 604800, 0, 1000, 3, 0)
    world.assign()
    world.submit()
    ev = world.attest()
    assert ev == [
        (
            "Attested",
            {
                "job_id": job, "task_id": 1, "node_id": world.checker, "operator": CAROL, "attempt": 1,
                "result_hash": HASH_A, "pass": True, "evidence_hash": EVIDENCE,
            },
        )
    ]  # fmt: skip
    assert c.view(escrow.task, job, 1)[7] == 1
    ev = world.attest(account=world.checker2_acct)
    assert names(ev) == ["Attested", "TaskVerified", "TaskSettled"]
    assert ev[1][1] == {"job_id": job, "task_id": 1, "charge": 10 * PICTOR_UNIT, "review_deadline": START}
    settled = ev[2][1]
    assert settled["checkers"] == [CAROL, DAVE]
    assert settled["checker_amount"] == PICTOR_UNIT // 2
    assert settled["treasury_amount"] == 3 * PICTOR_UNIT
    assert c.view(escrow.task, job, 1)[0] == escrow.SETTLED


def test_settle_rounding_goes_to_treasury(world: World) -> None:
    c, job = world.c, world.job
    c.tx(ADMIN, config.set_params, 3, 100 * PICTOR_UNIT, 100 * PICTOR_UNIT, 604800, 0, 1000, 3, 0)
    c.tx(ADMIN, config.set_fee_split, 3333, 1001)
    k4 = signing_key(4)
    checker3 = core.norm_addr("0xee")
    c.staked_node(checker3, 2, k4)
    c.tx(COORD, escrow.assign_task, job, 1, world.worker, 10 * PICTOR_UNIT)
    c.tx(world.worker_acct, escrow.submit_result, job, 1, HASH_A, 1)  # ceil(1 ms × 60 PICTOR/min) = 100000
    for acct in (world.checker_acct, world.checker2_acct):
        c.tx(acct, attestation.attest, job, 1, HASH_A, True, EVIDENCE)
    settled = c.tx(core.ed25519_auth_key(pub(k4)), attestation.attest, job, 1, HASH_A, True, EVIDENCE)[-1][1]
    charge = 100_000
    assert settled["charge"] == charge
    assert settled["worker_amount"] == charge * 3333 // 10000
    each = charge * 1001 // 10000 // 3
    assert settled["checker_amount"] == each
    assert settled["treasury_amount"] == charge - charge * 3333 // 10000 - 3 * each


def test_attest_fail_requeues_strikes_and_slashes(world: World) -> None:
    c, job = world.c, world.job
    stake = 100 * PICTOR_UNIT
    for attempt in (1, 2, 3):
        world.assign()
        world.submit()
        ev = world.attest(passed=False)
        expected = ["Attested", "TaskRequeued", "NodeStruck"] + (["Slashed"] if attempt == 3 else [])
        assert names(ev) == expected
        assert ev[0][1]["attempt"] == attempt
        assert ev[1][1] == {"job_id": job, "task_id": 1, "node_id": world.worker, "reason": 2}
        assert ev[2][1] == {"node_id": world.worker, "strikes": attempt}
    assert ev[3][1] == {
        "operator": BOB, "role": 1, "amount": stake // 10, "reason": 3, "job_id": job, "task_id": 1, "treasury": TREASURY,
    }  # fmt: skip
    assert c.view(staking.stake_of, BOB, 1) == [stake - stake // 10, 0]
    assert c.view(escrow.job, job)[4] == 0
    assert c.view(escrow.task, job, 1)[0] == escrow.QUEUED
    assert c.view(registry.node, world.worker)[5] == 3
    # the worker is now below the minimum stake
    assert_abort(c.abort(COORD, escrow.assign_task, job, 1, world.worker, 1), "escrow", "E_NODE_NOT_ELIGIBLE", 14)


def test_attest_aborts(world: World) -> None:
    c, job = world.c, world.job
    world.assign()
    world.submit()

    def attest(
        account: str, job_id: int = job, task_id: int = 1, result: bytes = HASH_A, evidence: bytes = EVIDENCE
    ) -> core.MoveAbort:
        return c.abort(account, attestation.attest, job_id, task_id, result, True, evidence)

    assert_abort(attest(CAROL), "attestation", "E_NOT_CHECKER", 1)  # the operator is not the node account
    assert_abort(attest(world.worker_acct), "attestation", "E_NOT_CHECKER", 1)  # a worker node
    c.tx(DAVE, staking.request_unstake, 2, 1)
    assert_abort(attest(world.checker2_acct, job_id=99), "attestation", "E_INSUFFICIENT_STAKE", 2)
    assert_abort(attest(world.checker_acct, result=HASH_A[:31]), "attestation", "E_INVALID_HASH", 6)
    assert_abort(attest(world.checker_acct, evidence=b""), "attestation", "E_INVALID_HASH", 6)
    assert_abort(attest(world.checker_acct, job_id=99), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(attest(world.checker_acct, task_id=9), "escrow", "E_TASK_NOT_FOUND", 7)
    assert_abort(attest(world.checker_acct, result=HASH_B), "attestation", "E_RESULT_MISMATCH", 5)
    # conflict: the worker operator also runs a checker node
    kb = signing_key(5)
    bob_checker = c.staked_node(BOB, 2, kb)
    assert bob_checker > 0
    assert_abort(attest(core.ed25519_auth_key(pub(kb))), "attestation", "E_CONFLICT_OF_INTEREST", 3)
    # quorum 2: one pass recorded, the same node cannot attest again
    c.tx(ADMIN, config.set_params, 2, 100 * PICTOR_UNIT, 100 * PICTOR_UNIT, 604800, 86400, 1000, 3, 0)
    world.attest()
    assert_abort(attest(world.checker_acct), "attestation", "E_ALREADY_ATTESTED", 4)
    # nor can a second checker node of the same operator (CAROL): one vote per operator
    carol_second = signing_key(6)
    c.staked_node(CAROL, 2, carol_second)
    assert_abort(attest(core.ed25519_auth_key(pub(carol_second))), "attestation", "E_ALREADY_ATTESTED", 4)
    # lowering the quorum below the passes recorded: the next pass verifies
    c.tx(ADMIN, config.set_params, 1, 100 * PICTOR_UNIT, 0, 604800, 86400, 1000, 3, 0)
    assert names(world.attest(account=world.checker2_acct)) == ["Attested", "TaskVerified"]
    assert_abort(attest(core.ed25519_auth_key(pub(signing_key(2)))), "attestation", "E_BAD_TASK_STATE", 7)
    # a deregistered checker is no checker; a closed job aborts in escrow
    c.tx(DAVE, registry.deregister_node, world.checker2)
    assert_abort(attest(world.checker2_acct), "attestation", "E_NOT_CHECKER", 1)
    c.tx(ALICE, escrow.accept_task, job, 1)
    c.tx(ALICE, escrow.close_job, job)
    assert_abort(attest(world.checker_acct), "escrow", "E_JOB_CLOSED", 5)


def test_abstain_uses_the_operators_vote_and_lets_the_coordinator_requeue_without_strike(world: World) -> None:
    c, job = world.c, world.job
    c.tx(ADMIN, config.set_params, 2, 100 * PICTOR_UNIT, 100 * PICTOR_UNIT, 604800, 86400, 1000, 3, 0)
    world.assign()
    world.submit()
    reserved = c.view(escrow.job, job)[4]
    # nothing proven yet: the coordinator may not take the result back
    assert_abort(c.abort(COORD, escrow.requeue_unverified, job, 1), "escrow", "E_NOT_UNVERIFIABLE", 16)
    ev = c.tx(world.checker_acct, attestation.abstain, job, 1, HASH_A, EVIDENCE)
    assert ev == [
        (
            "Abstained",
            {
                "job_id": job, "task_id": 1, "node_id": world.checker, "operator": CAROL, "attempt": 1,
                "result_hash": HASH_A, "evidence_hash": EVIDENCE,
            },
        )
    ]  # fmt: skip
    assert c.view(escrow.task, job, 1)[0] == escrow.SUBMITTED  # neither a pass nor a fail
    # the abstention was CAROL's vote on this attempt, for attest and abstain alike
    assert_abort(world.c.abort(world.checker_acct, attestation.attest, job, 1, HASH_A, True, EVIDENCE),
                 "attestation", "E_ALREADY_ATTESTED", 4)  # fmt: skip
    carol_second = core.ed25519_auth_key(pub(signing_key(6)))
    c.staked_node(CAROL, 2, signing_key(6))
    assert_abort(c.abort(carol_second, attestation.abstain, job, 1, HASH_A, EVIDENCE), "attestation",
                 "E_ALREADY_ATTESTED", 4)  # fmt: skip
    assert_abort(c.abort(ALICE, escrow.requeue_unverified, job, 1), "escrow", "E_NOT_COORDINATOR", 4)
    strikes = c.view(registry.node, world.worker)[5]
    assert c.tx(COORD, escrow.requeue_unverified, job, 1) == [
        ("TaskRequeued", {"job_id": job, "task_id": 1, "node_id": world.worker, "reason": 5})
    ]
    assert c.view(escrow.task, job, 1)[0] == escrow.QUEUED
    assert c.view(escrow.job, job)[4] == reserved - 10 * PICTOR_UNIT and c.view(escrow.job, job)[3] == 0
    assert c.view(registry.node, world.worker)[5] == strikes  # no strike
    assert_abort(c.abort(COORD, escrow.requeue_unverified, job, 1), "escrow", "E_BAD_TASK_STATE", 8)
    # the next attempt starts with clean votes: CAROL may judge it, and it settles
    world.assign()
    assert_abort(c.abort(COORD, escrow.requeue_unverified, job, 1), "escrow", "E_BAD_TASK_STATE", 8)
    world.submit()
    assert_abort(c.abort(COORD, escrow.requeue_unverified, job, 1), "escrow", "E_NOT_UNVERIFIABLE", 16)
    world.attest()
    assert names(world.attest(account=world.checker2_acct)) == ["Attested", "TaskVerified"]
    assert c.view(escrow.task, job, 1)[5] == 2  # attempt
    c.tx(ALICE, escrow.accept_task, job, 1)
    assert names(c.tx(ALICE, escrow.close_job, job)) == ["JobClosed"]  # nothing left in flight


def test_a_result_nobody_decided_for_a_review_window_can_be_requeued(world: World) -> None:
    c, job = world.c, world.job
    world.assign()
    c.now = START + 100
    world.submit()
    c.now = START + 100 + 86400 - 1
    assert_abort(c.abort(COORD, escrow.requeue_unverified, job, 1), "escrow", "E_NOT_UNVERIFIABLE", 16)
    assert_abort(c.abort(ALICE, escrow.close_job, job), "escrow", "E_TASKS_IN_FLIGHT", 13)
    c.now = START + 100 + 86400
    assert names(c.tx(COORD, escrow.requeue_unverified, job, 1)) == ["TaskRequeued"]
    assert names(c.tx(ALICE, escrow.close_job, job)) == ["JobClosed"]
    assert c.view(escrow.job, job)[3:5] == [0, 0]  # nothing spent, nothing reserved


def test_abstain_aborts_as_attest_does(world: World) -> None:
    c, job = world.c, world.job
    world.assign()

    def abstain(account: str, job_id: int = job, task_id: int = 1, result: bytes = HASH_A) -> core.MoveAbort:
        return c.abort(account, attestation.abstain, job_id, task_id, result, EVIDENCE)

    assert_abort(abstain(world.checker_acct), "attestation", "E_BAD_TASK_STATE", 7)  # not submitted yet
    world.submit()
    assert_abort(abstain(CAROL), "attestation", "E_NOT_CHECKER", 1)
    assert_abort(abstain(world.checker_acct, result=HASH_A[:31]), "attestation", "E_INVALID_HASH", 6)
    assert_abort(abstain(world.checker_acct, job_id=99), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(abstain(world.checker_acct, task_id=9), "escrow", "E_TASK_NOT_FOUND", 7)
    assert_abort(abstain(world.checker_acct, result=HASH_B), "attestation", "E_RESULT_MISMATCH", 5)
    kb = signing_key(5)
    c.staked_node(BOB, 2, kb)
    assert_abort(abstain(core.ed25519_auth_key(pub(kb))), "attestation", "E_CONFLICT_OF_INTEREST", 3)
    c.tx(DAVE, staking.request_unstake, 2, 1)
    assert_abort(abstain(world.checker2_acct), "attestation", "E_INSUFFICIENT_STAKE", 2)


def test_a_dispute_nobody_resolved_within_a_review_window_is_settled_by_anyone(world: World) -> None:
    c, job = world.c, world.job
    world.verified(1)  # review window 86400 from START
    c.now = START + 80_000
    c.tx(ALICE, escrow.dispute_task, job, 1)  # late in the window: the resolution gets a whole window
    c.now = START + 86_400
    assert_abort(c.abort(DAVE, escrow.finalize_task, job, 1), "escrow", "E_REVIEW_WINDOW_OPEN", 11)
    c.now = START + 80_000 + 86_400 - 1
    assert_abort(c.abort(DAVE, escrow.finalize_task, job, 1), "escrow", "E_REVIEW_WINDOW_OPEN", 11)
    assert_abort(c.abort(ALICE, escrow.close_job, job), "escrow", "E_TASKS_IN_FLIGHT", 13)
    c.now = START + 80_000 + 86_400
    ev = c.tx(DAVE, escrow.finalize_task, job, 1)
    assert names(ev) == ["TaskSettled"] and ev[0][1]["checkers"] == [CAROL]  # the passer is paid: not proven wrong
    assert names(c.tx(ALICE, escrow.close_job, job)) == ["JobClosed"]


def test_dispute_upheld_slashes_worker_and_passers(world: World) -> None:
    c, job = world.c, world.job
    world.verified(1)
    c.tx(ALICE, escrow.dispute_task, job, 1)
    assert_abort(
        c.abort(world.checker_acct, attestation.resolve_dispute, job, 1, True, EVIDENCE),
        "attestation",
        "E_CONFLICT_OF_INTEREST",
        3,
    )
    stake = 100 * PICTOR_UNIT
    ev = c.tx(world.checker2_acct, attestation.resolve_dispute, job, 1, True, EVIDENCE)
    assert names(ev) == ["DisputeResolved", "Slashed", "Slashed", "TaskRequeued"]
    assert ev[0][1] == {
        "job_id": job,
        "task_id": 1,
        "node_id": world.checker2,
        "upheld": True,
        "evidence_hash": EVIDENCE,
    }
    assert ev[1][1] == {
        "operator": BOB, "role": 1, "amount": stake // 10, "reason": 2, "job_id": job, "task_id": 1, "treasury": TREASURY,
    }  # fmt: skip
    assert (ev[2][1]["operator"], ev[2][1]["role"], ev[2][1]["amount"]) == (CAROL, 2, stake // 10)
    assert ev[3][1] == {"job_id": job, "task_id": 1, "node_id": world.worker, "reason": 3}
    assert c.view(escrow.job, job)[3:5] == [0, 0]  # no charge, reservation released
    assert c.view(vault.account, TREASURY) == [0, 2 * stake // 10]
    assert c.view(escrow.task, job, 1)[0] == escrow.QUEUED


def test_dispute_rejected_settles(world: World) -> None:
    c, job = world.c, world.job
    world.verified(1)
    c.tx(ALICE, escrow.dispute_task, job, 1)
    ev = c.tx(world.checker2_acct, attestation.resolve_dispute, job, 1, False, EVIDENCE)
    assert names(ev) == ["DisputeResolved", "TaskSettled"]
    assert ev[1][1]["checkers"] == [CAROL]
    assert c.view(escrow.task, job, 1)[0] == escrow.SETTLED


def test_resolve_dispute_aborts(world: World) -> None:
    c, job = world.c, world.job
    world.verified(1)

    def resolve(account: str, job_id: int = job, task_id: int = 1, evidence: bytes = EVIDENCE) -> core.MoveAbort:
        return c.abort(account, attestation.resolve_dispute, job_id, task_id, True, evidence)

    assert_abort(resolve(world.worker_acct), "attestation", "E_NOT_CHECKER", 1)
    assert_abort(resolve(world.checker2_acct, evidence=b"\x00"), "attestation", "E_INVALID_HASH", 6)
    assert_abort(resolve(world.checker2_acct, job_id=99), "escrow", "E_JOB_NOT_FOUND", 2)
    assert_abort(resolve(world.checker2_acct, task_id=9), "escrow", "E_TASK_NOT_FOUND", 7)
    assert_abort(resolve(world.checker2_acct), "attestation", "E_BAD_TASK_STATE", 7)  # VERIFIED, not DISPUTED
    c.tx(ALICE, escrow.dispute_task, job, 1)
    kb = signing_key(5)
    c.staked_node(BOB, 2, kb)
    assert_abort(resolve(core.ed25519_auth_key(pub(kb))), "attestation", "E_CONFLICT_OF_INTEREST", 3)
    c.tx(DAVE, staking.request_unstake, 2, 1)
    assert_abort(resolve(world.checker2_acct, evidence=b""), "attestation", "E_INSUFFICIENT_STAKE", 2)


# =========================================================================== rewards


def _tree(epoch: int, entries: list[tuple[str, int]]) -> tuple[bytes, list[list[bytes]]]:
    leaves = [rewards.reward_leaf(epoch, i, user, amount) for i, (user, amount) in enumerate(entries)]
    return rewards.merkle_tree(leaves)


def test_rewards_publish_and_claim(chain: Chain) -> None:
    chain.fund(CAROL, 1000)
    assert chain.tx(CAROL, rewards.fund_pool, 600) == [("PoolFunded", {"funder": CAROL, "amount": 600, "pool": 600})]
    entries = [(ALICE, 100), (BOB, 200), (DAVE, 50)]
    root, proofs = _tree(1, entries)
    assert chain.tx(ADMIN, rewards.publish_epoch, 1, root, 350) == [
        ("EpochPublished", {"epoch": 1, "root": root, "total": 350})
    ]
    assert chain.view(rewards.pool) == [600, 350]
    assert chain.view(rewards.epoch, 1) == [root, 350, 0]
    assert chain.view(rewards.next_epoch) == [2]
    assert chain.tx(BOB, rewards.claim, 1, 1, 200, proofs[1]) == [
        ("RewardClaimed", {"epoch": 1, "index": 1, "user": BOB, "amount": 200})
    ]
    assert chain.view(token.balance, BOB) == [200]
    assert chain.view(rewards.is_claimed, 1, 1) == [True]
    assert chain.view(rewards.is_claimed, 1, 0) == [False]
    assert chain.view(rewards.is_claimed, 7, 0) == [False]
    assert chain.view(rewards.pool) == [400, 150]
    chain.tx(DAVE, rewards.claim, 1, 2, 50, proofs[2])
    assert chain.view(rewards.epoch, 1) == [root, 350, 250]


def test_rewards_aborts(chain: Chain) -> None:
    assert_abort(chain.abort(CAROL, rewards.fund_pool, 0), "rewards", "E_ZERO_AMOUNT", 2)
    assert chain.abort(CAROL, rewards.fund_pool, 1).name == "EINSUFFICIENT_BALANCE"
    chain.fund(CAROL, 1000)
    chain.tx(CAROL, rewards.fund_pool, 300)
    root, proofs = _tree(1, [(ALICE, 100), (BOB, 200)])
    assert_abort(chain.abort(BOB, rewards.publish_epoch, 1, root, 300), "rewards", "E_NOT_ADMIN", 1)
    assert_abort(chain.abort(ADMIN, rewards.publish_epoch, 2, root, 300), "rewards", "E_BAD_EPOCH", 3)
    assert_abort(chain.abort(ADMIN, rewards.publish_epoch, 0, root, 300), "rewards", "E_BAD_EPOCH", 3)
    assert_abort(chain.abort(ADMIN, rewards.publish_epoch, 1, root[:31], 0), "rewards", "E_INVALID_ROOT", 5)
    assert_abort(chain.abort(ADMIN, rewards.publish_epoch, 1, root, 0), "rewards", "E_ZERO_AMOUNT", 2)
    assert_abort(chain.abort(ADMIN, rewards.publish_epoch, 1, root, 301), "rewards", "E_POOL_TOO_SMALL", 6)
    # total deliberately one short of the leaves, to reach E_EPOCH_EXHAUSTED
    chain.tx(ADMIN, rewards.publish_epoch, 1, root, 299)
    assert_abort(chain.abort(ADMIN, rewards.publish_epoch, 2, root, 2), "rewards", "E_POOL_TOO_SMALL", 6)
    assert_abort(chain.abort(ALICE, rewards.claim, 2, 0, 100, proofs[0]), "rewards", "E_EPOCH_NOT_FOUND", 4)
    assert_abort(chain.abort(ALICE, rewards.claim, 1, 0, 0, proofs[0]), "rewards", "E_ZERO_AMOUNT", 2)
    for user, index, amount, proof in [
        (ALICE, 0, 101, proofs[0]),
        (BOB, 0, 100, proofs[0]),
        (ALICE, 1, 100, proofs[0]),
        (ALICE, 0, 100, proofs[1]),
        (ALICE, 0, 100, []),
        (ALICE, 0, 100, [proofs[0][0][:31]]),
        (ALICE, 0, 100, proofs[0] + [b"\x00" * 32]),
    ]:
        assert_abort(chain.abort(user, rewards.claim, 1, index, amount, proof), "rewards", "E_INVALID_PROOF", 8)
    chain.tx(BOB, rewards.claim, 1, 1, 200, proofs[1])
    assert_abort(chain.abort(BOB, rewards.claim, 1, 1, 200, proofs[1]), "rewards", "E_ALREADY_CLAIMED", 7)
    assert_abort(chain.abort(ALICE, rewards.claim, 1, 0, 100, proofs[0]), "rewards", "E_EPOCH_EXHAUSTED", 9)
    with pytest.raises(core.MoveAbort) as info:
        chain.view(rewards.epoch, 5)
    assert_abort(info.value, "rewards", "E_EPOCH_NOT_FOUND", 4)


def test_merkle_tree_shapes() -> None:
    for n in (1, 2, 3, 5, 8):
        entries = [(core.norm_addr(hex(i + 1)), 10 * (i + 1)) for i in range(n)]
        root, proofs = _tree(3, entries)
        for i, (user, amount) in enumerate(entries):
            assert rewards.fold_proof(rewards.reward_leaf(3, i, user, amount), proofs[i]) == root
    a, b = b"\x01" + bytes(31), b"\x00" + b"\xff" * 31
    assert rewards.merkle_parent(a, b) == rewards.merkle_parent(b, a) == core.sha3(b + a)


MERKLE_VECTOR = REPO_ROOT / "chain" / "move" / "tests" / "vectors" / "merkle.json"


@pytest.mark.skipif(not MERKLE_VECTOR.exists(), reason="shared Merkle vector not present")
def test_shared_merkle_vector(chain: Chain) -> None:
    """The Move tests' Merkle vector: same leaves, root and proofs, and every leaf claims on the VM."""
    data = json.loads(MERKLE_VECTOR.read_text())
    epochs = [{k: data[k] for k in ("epoch", "total", "root", "leaves", "proofs")}, *data["additional_epochs"]]
    chain.fund(CAROL, sum(e["total"] for e in epochs))
    chain.tx(CAROL, rewards.fund_pool, sum(e["total"] for e in epochs))
    for e in epochs:
        leaves = [rewards.reward_leaf(e["epoch"], lf["index"], lf["user"], lf["amount"]) for lf in e["leaves"]]
        assert leaves == [bytes.fromhex(lf["leaf"][2:]) for lf in e["leaves"]]
        root, proofs = rewards.merkle_tree(leaves)
        assert root == bytes.fromhex(e["root"][2:])
        assert proofs == [[bytes.fromhex(h[2:]) for h in proof] for proof in e["proofs"]]
        chain.tx(ADMIN, rewards.publish_epoch, e["epoch"], root, e["total"])
        for lf, proof in zip(e["leaves"], proofs, strict=True):
            chain.tx(lf["user"], rewards.claim, e["epoch"], lf["index"], lf["amount"], proof)
            assert chain.view(rewards.is_claimed, e["epoch"], lf["index"]) == [True]
    assert chain.view(rewards.pool)[1] == sum(e["total"] for e in epochs) - sum(
        lf["amount"] for e in epochs for lf in e["leaves"]
    )


def test_claim_bits_past_one_word(chain: Chain) -> None:
    chain.fund(CAROL, 1000)
    chain.tx(CAROL, rewards.fund_pool, 1000)
    entries = [(core.norm_addr(hex(0x100 + i)), 1) for i in range(130)]
    root, proofs = _tree(1, entries)
    chain.tx(ADMIN, rewards.publish_epoch, 1, root, 130)
    for i in (0, 63, 64, 129):
        chain.tx(entries[i][0], rewards.claim, 1, i, 1, proofs[i])
    assert [chain.view(rewards.is_claimed, 1, i)[0] for i in (0, 1, 63, 64, 65, 128, 129)] == [
        True, False, True, True, False, False, True,
    ]  # fmt: skip


# =========================================================================== books


def test_conservation_through_a_full_flow(world: World) -> None:
    c = world.c
    world.verified(1)
    c.tx(ALICE, escrow.accept_task, world.job, 1)
    c.tx(BOB, vault.withdraw, 6 * PICTOR_UNIT)
    c.fund(CAROL, 10)
    c.tx(CAROL, rewards.fund_pool, 10)
    supply, stored = conservation(c.base)
    assert supply == stored == c.view(token.supply)[0]
    assert invariant_violations(c.base) == []
    # a tampered store is caught
    tampered = core.Overlay(c.base)
    key = core.resource_key(vault.store_address(), "0x1::fungible_asset::FungibleStore")
    store = tampered.get(key)
    store["balance"] += 1
    tampered.put(key, store)
    assert conservation(tampered)[1] == stored + 1
    assert invariant_violations(tampered)
