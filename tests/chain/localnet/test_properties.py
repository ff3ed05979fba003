"""Stateful property tests of the localnet: random sequences of every entry function, in-process.

A hypothesis ``RuleBasedStateMachine`` drives a :class:`chain.localnet.node.Node` (genesis, mempool,
block production, durable storage; no HTTP) with signed BCS transactions: every entry function of
the ``pictor`` package (chain/SPEC.md) plus APT and PICTOR transfers, with valid and deliberately
invalid arguments and signers. Before each transaction the machine predicts, from views of the
current state, the documented outcome where the spec makes it unambiguous (the first failing check,
or success) and checks it against ``vm_status``.

After every step:

* conservation: PICTOR supply = wallets + vault + escrows + staking + rewards pool, and no PICTOR sits
  anywhere else; the treasury's income (settlement shares, slashes) is a vault balance;
* no negative amount anywhere in the state, every u64 in range;
* vault store = total credit + total balance (= the sum of the accounts); staking store = active +
  unbonding; each open job's store = budget - spent (a closed one holds nothing);
* a failed transaction changed nothing but the sender's sequence number and its gas fee
  (state snapshot before/after), and every fee is gas_used x gas_unit_price;
* ``invariant_violations`` of the VM (its own book-keeping identities) is empty.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from aptos_sdk import ed25519
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.authenticator import Authenticator, MultiAgentAuthenticator
from aptos_sdk.transactions import (
    EntryFunction,
    ModuleId,
    MultiAgentRawTransaction,
    RawTransaction,
    SignedTransaction,
    TransactionPayload,
)
from aptos_sdk.type_tag import StructTag, TypeTag
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chain.localnet.errors import ApiError
from chain.localnet.genesis import create_genesis
from chain.localnet.node import Node
from chain.localnet.vm import core
from chain.localnet.vm import pictor as pictor_vm
from tests.support import REPO_ROOT
from tests.support.bcs import bcs_bool, bcs_bytes, bcs_u8, bcs_u64, bcs_vec_bytes

pytestmark = pytest.mark.timeout(600)


# --------------------------------------------------------------------------- BCS & signing (aptos_sdk types)

U64_MAX = 2**64 - 1


def addr_hex(value: Any) -> str:
    if isinstance(value, AccountAddress):
        return "0x" + value.address.hex()
    text = str(value).lower()
    text = text[2:] if text.startswith("0x") else text
    return "0x" + text.rjust(64, "0")


def bcs_address(value: Any) -> bytes:
    return bytes.fromhex(addr_hex(value)[2:])


def entry_payload(function_id: str, args: list[bytes], type_args: list[str] | None = None) -> TransactionPayload:
    address, module, function = function_id.split("::")
    tags = [TypeTag(StructTag.from_str(t)) for t in (type_args or [])]
    return TransactionPayload(EntryFunction(ModuleId.from_str(f"{address}::{module}"), function, tags, list(args)))


def raw_txn(
    sender: Account,
    seq: int,
    payload: TransactionPayload,
    *,
    chain_id: int,
    max_gas: int = 100_000,
    gas_price: int = 100,
    expiration: int | None = None,
) -> RawTransaction:
    expires = int(time.time()) + 600 if expiration is None else expiration
    return RawTransaction(sender.address(), seq, payload, max_gas, gas_price, expires, chain_id)


def sign_multi_agent(signer: Account, secondary: list[Account], raw: RawTransaction) -> bytes:
    """BCS bytes of ``raw`` as a multi-agent transaction signed by the sender and every secondary signer."""
    message = MultiAgentRawTransaction(raw, [s.address() for s in secondary])
    auth = MultiAgentAuthenticator(
        signer.sign_transaction(message), [(s.address(), s.sign_transaction(message)) for s in secondary]
    )
    return SignedTransaction(raw, Authenticator(auth)).bytes()


def sign(signer: Account, raw: RawTransaction) -> bytes:
    return SignedTransaction(raw, signer.sign_transaction(raw)).bytes()


def user_txn_hash(signed: bytes) -> str:
    prefix = hashlib.sha3_256(b"APTOS::Transaction").digest()
    return "0x" + hashlib.sha3_256(prefix + b"\x00" + signed).hexdigest()


CHAIN_ID = 4
UNIT = 100_000_000  # 10^8 base units: 1 PICTOR, 1 APT
MAX_SUPPLY = 100_000_000_000_000_000
PICTOR = core.norm_addr(pictor_vm.PICTOR)
PICTOR_SHORT = core.short_addr(PICTOR)
FRAMEWORK = core.norm_addr("0x1")
ACCOUNT_T = "0x1::account::Account"
COIN_STORE_T = "0x1::coin::CoinStore<0x1::aptos_coin::AptosCoin>"
FA_STORE_T = "0x1::fungible_asset::FungibleStore"
METADATA_T = "0x1::fungible_asset::Metadata"
#: Written by every block's metadata transaction, not by user transactions.
BLOCK_KEYS = {
    core.resource_key(FRAMEWORK, "0x1::timestamp::CurrentTimeMicroseconds"),
    core.resource_key(FRAMEWORK, "0x1::block::BlockResource"),
}
#: Fields that are u128 in Move (everything else numeric in the state is a u64 or smaller).
U128_FIELDS = {"max_value"}
REGISTRATION_DOMAIN = b"PICTOR_NODE_REGISTRATION"
CREDIT_DOMAIN = b"PICTOR_CREDIT_CLAIM"
LEAF_DOMAIN = b"PICTOR_REWARD_LEAF"
WORKER, CHECKER = 1, 2
QUEUED, ASSIGNED, SUBMITTED, VERIFIED, SETTLED, DISPUTED = range(6)
#: A deadline within this many seconds of "now" is ambiguous (the block's time is taken a moment later).
CLOCK_SLACK_S = 5

# The entry functions the rules below call by name; a test checks it is every pictor entry function.
COVERED_PICTOR_FUNCTIONS = {
    "config::set_roles",
    "config::set_fee_split",
    "config::set_params",
    "config::set_credit_signer",
    "config::set_paused",
    "token::mint",
    "token::faucet",
    "vault::deposit",
    "vault::withdraw",
    "vault::claim_credit",
    "registry::register_node",
    "registry::register_node_cosigned",
    "registry::rotate_node_key",
    "registry::deregister_node",
    "staking::stake",
    "staking::request_unstake",
    "staking::withdraw_unstaked",
    "staking::slash",
    "escrow::open_job",
    "escrow::top_up",
    "escrow::assign_task",
    "escrow::requeue_task",
    "escrow::requeue_unverified",
    "escrow::submit_result",
    "escrow::accept_task",
    "escrow::finalize_task",
    "escrow::dispute_task",
    "escrow::close_job",
    "attestation::attest",
    "attestation::abstain",
    "attestation::resolve_dispute",
    "rewards::fund_pool",
    "rewards::publish_epoch",
    "rewards::claim",
}


def pictor_entry_functions() -> dict[str, core.Function]:
    """``module::name`` -> function, for every registered entry function of the pictor package."""
    return {
        f"{fn.module}::{fn.name}": fn for fn in core.ENTRY_FUNCTIONS.values() if core.norm_addr(fn.address) == PICTOR
    }


def sha3(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


def object_address(seed: bytes) -> str:
    """``object::create_object_address(@pictor, seed)`` computed here, independently of the VM."""
    return "0x" + sha3(bytes.fromhex(PICTOR[2:]) + seed + b"\xfe").hex()


PICTOR_METADATA = object_address(b"PICTOR")
VAULT_STORE = object_address(b"pictor::vault")
STAKING_STORE = object_address(b"pictor::staking")
REWARDS_STORE = object_address(b"pictor::rewards")


def account_of(key: nacl.signing.SigningKey, address: str | None = None) -> Account:
    """An ``aptos_sdk`` account for ``key`` (at its default address unless ``address`` is given)."""
    private = ed25519.PrivateKey(key)
    at = AccountAddress.from_str(address) if address else AccountAddress.from_key(private.public_key())
    return Account(at, private)


def seeded_account(seed: int) -> Account:
    """A deterministic Ed25519 account (so derandomized runs are reproducible end to end)."""
    return account_of(nacl.signing.SigningKey(hashlib.sha256(b"pictor-props-%d" % seed).digest()))


def pubkey(account: Account) -> bytes:
    return account.public_key().key.encode()  # type: ignore[attr-defined]


def sign_bytes(account: Account, message: bytes) -> bytes:
    return account.sign(message).data()


# --------------------------------------------------------------------------- Merkle (chain/SPEC.md rewards)


def leaf_hash(epoch: int, index: int, user: str, amount: int) -> bytes:
    return sha3(LEAF_DOMAIN + bcs_u64(epoch) + bcs_u64(index) + bcs_address(user) + bcs_u64(amount))


def merkle(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and per-leaf proofs; a node without a sibling is promoted unchanged."""
    proofs: list[list[bytes]] = [[] for _ in leaves]
    positions = list(range(len(leaves)))
    level = list(leaves)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 < len(level):
                a, b = level[i], level[i + 1]
                nxt.append(sha3(min(a, b) + max(a, b)))
            else:
                nxt.append(level[i])
        for leaf_i, pos in enumerate(positions):
            if pos ^ 1 < len(level):
                proofs[leaf_i].append(level[pos ^ 1])
            positions[leaf_i] = pos // 2
        level = nxt
    return level[0], proofs


# --------------------------------------------------------------------------- in-process node


@dataclass
class Submitted:
    """What happened to one transaction: rejected at submission, or committed (its JSON)."""

    signed: bytes
    rejected: ApiError | None = None
    txn: dict[str, Any] | None = None


class Harness:
    """A localnet :class:`Node` on a temporary data dir, driven from a private event loop."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pictor-props-"))
        self.node = Node(self.dir, chain_id=CHAIN_ID, test_clock=True)
        self.accounts = create_genesis(self.node, self.dir)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        self.node.start()

    def role_account(self, name: str, key_name: str | None = None) -> Account:
        """The genesis account ``name`` signed for by ``keys/<key_name>.key`` (the admin signs as the package)."""
        text = (self.dir / "keys" / f"{key_name or name}.key").read_text().strip()
        key = nacl.signing.SigningKey(bytes.fromhex(text[2:] if text.startswith("0x") else text))
        return account_of(key, self.accounts[name])

    def submit(self, signed: bytes, timeout: float = 60.0) -> Submitted:
        try:
            txn = self.node.submit(signed)
        except ApiError as exc:
            return Submitted(signed, rejected=exc)
        body = self.loop.run_until_complete(self.node.wait_committed(txn.hash, timeout))
        assert body is not None, f"transaction {txn.hash} was dropped or did not commit within {timeout}s"
        return Submitted(signed, txn=json.loads(body))

    def view(self, module: str, name: str, *args: Any) -> list[Any]:
        return self.fw_view(f"{PICTOR}::{module}::{name}", [], *args)

    def fw_view(self, function_id: str, type_args: list[str], *args: Any) -> list[Any]:
        """A view with arguments in Aptos's JSON forms (u64 as decimal strings, u8 as numbers)."""
        address, module, name = function_id.split("::")
        fn = core.VIEW_FUNCTIONS[core.function_key(address, module, name)]
        json_args = [
            str(arg) if isinstance(arg, int) and param not in ("u8", "u16", "u32") else arg
            for param, arg in zip(fn.params, args, strict=True)
        ]
        _, values = self.node.view(function_id, type_args, json_args, None)
        return values

    def advance(self, seconds: int) -> None:
        self.loop.run_until_complete(self.node.advance_clock(seconds * 1_000_000))

    def now_estimate(self) -> float:
        """Chain seconds the next block will (about) carry."""
        return max(time.time() + self.node.clock_offset_us / 1e6, self.node.ledger.timestamp_us / 1e6)

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.node.close())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- expectations

OK = "ok"


def abort(module: str, name: str) -> str:
    """Expect the pictor abort ``module::name``."""
    return f"abort:{module}:{name}"


def fw_abort(module: str, name: str) -> str:
    """Expect the framework (0x1) abort ``module::name``."""
    return f"fwabort:{module}:{name}"


def vm(status: str) -> str:
    """Expect a non-abort VM status (``NUMBER_OF_ARGUMENTS_MISMATCH`` …) in ``vm_status``."""
    return f"vm:{status}"


def outcome_matches(expected: str, txn: dict[str, Any]) -> bool:
    status = txn["vm_status"]
    if expected == OK:
        return txn["success"] is True
    if txn["success"]:
        return False
    kind, _, rest = expected.partition(":")
    if kind == "vm":
        return rest in status
    module, name = rest.split(":")
    address = PICTOR_SHORT if kind == "abort" else "0x1"
    return re.search(rf"Move abort in {address}::{module}: {name}\(0x[0-9a-f]+\)", status) is not None


def first(*checks: tuple[bool, str]) -> str:
    """The first failing check's expectation, else success (checks run in the order listed)."""
    for failed, expected in checks:
        if failed:
            return expected
    return OK


def snapshot(state: dict[str, Any]) -> dict[str, Any]:
    return {key: core.clone(value) for key, value in state.items()}


def walk_ints(value: Any, path: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if isinstance(value, bool) or value is None:
        return out
    if isinstance(value, int):
        out.append((path, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.extend(walk_ints(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(walk_ints(v, f"{path}[{i}]"))
    return out


# --------------------------------------------------------------------------- the state machine

AMOUNTS = st.one_of(st.integers(1, 300 * UNIT), st.integers(1, 300 * UNIT), st.just(0), st.just(U64_MAX), st.just(UNIT))
SMALL_AMOUNTS = st.one_of(st.integers(1, 50 * UNIT), st.just(0), st.just(U64_MAX))
PICK = st.integers(0, 1_000)
ROLES = st.sampled_from([WORKER, WORKER, CHECKER, CHECKER, 0, 3])
TASKS = st.integers(1, 3)
HASHES = st.sampled_from([b"\x11" * 32, b"\x22" * 32, b"\x33" * 31, b""])
GAS_PRICES = st.sampled_from([100, 100, 150, 1000])


@dataclass
class Attempt:
    """What the events said about the current attempt of one task (no view exposes it)."""

    attempt: int = 0
    attesters: set[int] = field(default_factory=set)
    passers: list[str] = field(default_factory=list)
    abstentions: int = 0
    submitted_at: float = 0.0
    disputed_at: float = 0.0


class PictorMachine(RuleBasedStateMachine):
    """Random sequences of entry functions against one in-process localnet per example."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        try:
            self._setup_world()
        except BaseException:
            self.h.close()
            raise

    # ------------------------------------------------------------------ world

    def _setup_world(self) -> None:
        h = self.h
        self.admin = h.role_account("admin")
        self.coordinator_acct = h.role_account("coordinator")
        self.treasury_acct = h.role_account("treasury")
        self.faucet = h.role_account("faucet")
        self.users = [seeded_account(i) for i in range(3)]
        self.operators = [seeded_account(10 + i) for i in range(3)]
        self.node_keys = [seeded_account(20 + i) for i in range(8)]
        self.treasury2 = seeded_account(30)  # a second treasury that never signs anything
        self.credit_key = seeded_account(40)
        self.bad_key_bytes = b"\x01" + b"\x00" * 31  # not an Ed25519 point
        self.actors: list[Account] = [self.admin, self.coordinator_acct, *self.users, *self.operators]
        self.wallet_owners: list[Account] = [
            *self.actors,
            *self.node_keys,
            self.treasury_acct,
            self.treasury2,
            self.faucet,
        ]
        self.coordinator_candidates = [self.coordinator_acct, self.users[2]]
        # privileged calls: mostly from the admin, sometimes from anyone else
        self.admin_biased = [self.admin, self.admin, self.admin, *self.actors[1:]]
        self.treasury_candidates = [self.treasury_acct, self.treasury2]
        self.by_address = {addr_hex(a.address()): a for a in self.wallet_owners}

        # Event-derived facts no view exposes.
        self.keys_used: set[bytes] = set()
        self.attempts: dict[tuple[int, int], Attempt] = {}
        self.treasury_income: dict[str, int] = {}
        self.epochs: dict[int, list[tuple[int, str, int]]] = {}  # epoch -> [(index, user, amount)]

        for account in [*self.actors, *self.node_keys]:
            self.call(
                self.faucet,
                "0x1::aptos_account::transfer",
                [bcs_address(account.address()), bcs_u64(10_000 * UNIT)],
                expect=OK,
                apt_moves={self.addr(self.faucet): -10_000 * UNIT},
            )
        for account in [*self.users, *self.operators]:
            self.call(
                self.admin,
                self.fn("token", "mint"),
                [bcs_address(account.address()), bcs_u64(20_000 * UNIT)],
                expect=OK,
            )
        self.call(
            self.admin,
            self.fn("config", "set_params"),
            [bcs_u64(v) for v in (1, 10 * UNIT, 10 * UNIT, 100, 100, 1000, 3, 1000 * UNIT)],
            expect=OK,
        )
        self.call(self.admin, self.fn("config", "set_credit_signer"), [bcs_bytes(pubkey(self.credit_key))], expect=OK)
        # A populated world, so that random steps reach deep states: vault balances, two operators each
        # running a staked worker and a staked checker, one open job per user.
        for user in self.users:
            self.call(user, self.fn("vault", "deposit"), [bcs_u64(5_000 * UNIT)], expect=OK)
        # o0 and o1 run a worker (n0, n1) and a checker (n2, n3); o2 runs only a checker (n4); n5-n7 are spare.
        nodes = [(0, WORKER, 0), (0, CHECKER, 2), (1, WORKER, 1), (1, CHECKER, 3), (2, CHECKER, 4)]
        for op_index, role, key_index in nodes:
            operator, node_key = self.operators[op_index], self.node_keys[key_index]
            message = REGISTRATION_DOMAIN + bcs_address(operator.address()) + bcs_u8(role) + pubkey(node_key)
            self.call(
                operator,
                self.fn("registry", "register_node"),
                [bcs_u8(role), bcs_bytes(pubkey(node_key)), bcs_bytes(sign_bytes(node_key, message))],
                expect=OK,
            )
            self.call(operator, self.fn("staking", "stake"), [bcs_u8(role), bcs_u64(1_000 * UNIT)], expect=OK)
        for user in self.users:
            self.call(user, self.fn("escrow", "open_job"), [bcs_u64(100 * UNIT), bcs_u64(UNIT // 10)], expect=OK)
        # a funded rewards pool with one published epoch, so claims can succeed from the start
        self.call(self.users[0], self.fn("rewards", "fund_pool"), [bcs_u64(2_000 * UNIT)], expect=OK)
        entries = [(i, self.addr(user), (i + 1) * UNIT) for i, user in enumerate(self.users)]
        root, _ = merkle([leaf_hash(1, i, u, a) for i, u, a in entries])
        self.call(
            self.admin,
            self.fn("rewards", "publish_epoch"),
            [bcs_u64(1), bcs_bytes(root), bcs_u64(sum(a for _, _, a in entries))],
            expect=OK,
        )
        self.epochs[1] = entries
        self.treasury_income = {addr_hex(t.address()): self.vault_account(t)[1] for t in self.treasury_candidates}

    def teardown(self) -> None:
        self.h.close()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def fn(module: str, name: str) -> str:
        return f"{PICTOR}::{module}::{name}"

    def pick(self, items: list[Any], index: int) -> Any:
        return items[index % len(items)]

    def addr(self, account: Account) -> str:
        return addr_hex(account.address())

    def view(self, module: str, name: str, *args: Any) -> list[Any]:
        return self.h.view(module, name, *args)

    def paused(self) -> bool:
        return bool(self.view("config", "is_paused")[0])

    def roles(self) -> tuple[str, str, str]:
        admin, coordinator, treasury = self.view("config", "roles")
        return core.norm_addr(admin), core.norm_addr(coordinator), core.norm_addr(treasury)

    def params(self) -> dict[str, int]:
        names = (
            "quorum",
            "min_worker_stake",
            "min_checker_stake",
            "unbonding_secs",
            "review_window_secs",
            "slash_bps",
            "max_strikes",
            "faucet_max",
        )
        return dict(zip(names, self.view("config", "params"), strict=True))

    def wallet(self, account: Account | str) -> int:
        address = account if isinstance(account, str) else self.addr(account)
        return int(self.view("token", "balance", address)[0])

    def vault_account(self, account: Account | str) -> tuple[int, int]:
        address = account if isinstance(account, str) else self.addr(account)
        credit, balance = self.view("vault", "account", address)
        return int(credit), int(balance)

    def stake_of(self, address: str, role: int) -> tuple[int, int]:
        active, unbonding = self.view("staking", "stake_of", address, role)
        return int(active), int(unbonding)

    def supply(self) -> int:
        return int(self.view("token", "supply")[0])

    def next_job_id(self) -> int:
        return int(self.view("escrow", "next_job_id")[0])

    def job(self, job_id: int) -> dict[str, Any] | None:
        if not 1 <= job_id < self.next_job_id():
            return None
        creator, budget, credit_in, spent, reserved, price, closed = self.view("escrow", "job", job_id)
        return {
            "creator": core.norm_addr(creator),
            "budget": budget,
            "credit_in": credit_in,
            "spent": spent,
            "reserved": reserved,
            "price": price,
            "closed": closed,
        }

    def task(self, job_id: int, task_id: int) -> dict[str, Any] | None:
        try:
            state, node_id, quote, result_hash, charge, attempt, deadline, pass_count = self.view(
                "escrow", "task", job_id, task_id
            )
        except ApiError:
            return None
        return {
            "state": state,
            "node_id": node_id,
            "quote": quote,
            "result_hash": bytes(result_hash),
            "charge": charge,
            "attempt": attempt,
            "deadline": deadline,
            "pass_count": pass_count,
        }

    def node_info(self, node_id: int) -> dict[str, Any] | None:
        if node_id <= 0:
            return None
        try:
            operator, role, public_key, account, active, strikes = self.view("registry", "node", node_id)
        except ApiError:
            return None
        return {
            "operator": core.norm_addr(operator),
            "role": role,
            "public_key": bytes(public_key),
            "account": core.norm_addr(account),
            "active": active,
            "strikes": strikes,
        }

    def node_of(self, account: Account) -> int:
        return int(self.view("registry", "node_of_account", self.addr(account))[0])

    def node_count(self) -> int:
        return int(self.view("registry", "node_count")[0])

    def fa_balance(self, store: str) -> int:
        return int(self.h.fw_view("0x1::fungible_asset::balance", [FA_STORE_T], store)[0])

    def apt(self, address: str) -> int:
        return int(self.h.fw_view("0x1::coin::balance", ["0x1::aptos_coin::AptosCoin"], address)[0])

    def ambiguous(self, deadline: int) -> bool:
        return abs(deadline - self.h.now_estimate()) < CLOCK_SLACK_S

    # ------------------------------------------------------------------ executing one transaction

    def call(
        self,
        signer: Account,
        function_id: str,
        args: list[bytes],
        *,
        expect: str | None,
        type_args: list[str] | None = None,
        gas_price: int = 100,
        apt_moves: dict[str, int] | None = None,
        secondary: list[Account] | None = None,
    ) -> dict[str, Any]:
        """Sign and run one transaction (multi-agent with ``secondary`` signers); check its outcome, its fee and
        what a failure may change."""
        node = self.h.node
        sender = self.addr(signer)
        before = snapshot(node.state)
        seq = node.committed_seq(sender) or 0
        raw = raw_txn(
            signer,
            seq,
            entry_payload(function_id, args, type_args),
            chain_id=CHAIN_ID,
            max_gas=100_000,
            gas_price=gas_price,
        )
        signed = sign_multi_agent(signer, secondary, raw) if secondary else sign(signer, raw)
        result = self.h.submit(signed)
        assert result.rejected is None, (
            f"{function_id} from {sender} was rejected at submission: {result.rejected.error_code} "
            f"{result.rejected.message}"
        )
        txn = result.txn
        assert txn is not None
        assert txn["type"] == "user_transaction"
        assert txn["hash"] == user_txn_hash(signed)
        assert int(txn["sequence_number"]) == seq and core.norm_addr(txn["sender"]) == sender
        assert int(txn["gas_unit_price"]) == gas_price
        gas_used = int(txn["gas_used"])
        assert 0 < gas_used <= 100_000
        fee = gas_used * gas_price
        if expect is not None:
            assert outcome_matches(expect, txn), (
                f"{function_id} args={[a.hex() for a in args]} from {sender}: expected {expect}, "
                f"got success={txn['success']} vm_status={txn['vm_status']!r}"
            )
        after = node.state
        self.check_epilogue(before, after, sender, fee, txn, apt_moves or {})
        if txn["success"]:
            self.record_events(txn)
        self.check_books()
        return txn

    def check_epilogue(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        sender: str,
        fee: int,
        txn: dict[str, Any],
        apt_moves: dict[str, int],
    ) -> None:
        account_key = core.resource_key(sender, ACCOUNT_T)
        coin_key = core.resource_key(sender, COIN_STORE_T)
        acct_before, acct_after = before[account_key], after[account_key]
        assert acct_after["sequence_number"] == acct_before["sequence_number"] + 1
        apt_before = before[coin_key]["coin"]["value"]
        apt_after = after[coin_key]["coin"]["value"]
        if txn["success"]:
            # gas charged = gas_used x gas_unit_price, plus whatever APT the call itself moved
            assert apt_after == apt_before - fee + apt_moves.get(sender, 0), (
                f"sender APT {apt_before} -> {apt_after}, fee {fee}, moved {apt_moves.get(sender, 0)}"
            )
            return
        # An aborted transaction changes nothing but gas and sequence number.
        missing = object()
        changed = {
            key for key in before.keys() | after.keys() if before.get(key, missing) != after.get(key, missing)
        } - BLOCK_KEYS
        assert changed <= {account_key, coin_key}, (
            f"failed {txn['payload']['function']} ({txn['vm_status']}) changed {sorted(changed - {account_key, coin_key})}"
        )
        assert {k: v for k, v in acct_after.items() if k != "sequence_number"} == {
            k: v for k, v in acct_before.items() if k != "sequence_number"
        }
        assert apt_after == apt_before - fee, f"failed txn: APT {apt_before} -> {apt_after}, fee {fee}"
        coin_rest_before = {k: v for k, v in before[coin_key].items() if k != "coin"}
        coin_rest_after = {k: v for k, v in after[coin_key].items() if k != "coin"}
        assert coin_rest_after == coin_rest_before
        reported = {(core.norm_addr(c.get("address", "0x0")), c.get("data", {}).get("type")) for c in txn["changes"]}
        assert reported <= {(sender, ACCOUNT_T), (sender, COIN_STORE_T)}, f"failed txn reports changes {reported}"
        kinds = [e["type"] for e in txn["events"]]
        assert kinds == ["0x1::transaction_fee::FeeStatement"], f"failed txn emitted {kinds}"

    def record_events(self, txn: dict[str, Any]) -> None:
        for event in txn["events"]:
            kind = event["type"]
            if not kind.startswith(PICTOR_SHORT + "::"):
                continue
            data = event["data"]
            name = kind.split("::", 1)[1]
            if name in ("registry::NodeRegistered", "registry::NodeKeyRotated"):
                self.keys_used.add(bytes.fromhex(data["public_key"][2:]))
            elif name == "escrow::TaskAssigned":
                key = (int(data["job_id"]), int(data["task_id"]))
                self.attempts[key] = Attempt(attempt=int(data["attempt"]))
            elif name == "attestation::Attested":
                key = (int(data["job_id"]), int(data["task_id"]))
                att = self.attempts.setdefault(key, Attempt(attempt=int(data["attempt"])))
                att.attesters.add(int(data["node_id"]))
                if data["pass"]:
                    att.passers.append(core.norm_addr(data["operator"]))
            elif name == "attestation::Abstained":
                key = (int(data["job_id"]), int(data["task_id"]))
                att = self.attempts.setdefault(key, Attempt(attempt=int(data["attempt"])))
                att.attesters.add(int(data["node_id"]))
                att.abstentions += 1
            elif name == "escrow::ResultSubmitted":
                key = (int(data["job_id"]), int(data["task_id"]))
                self.attempts.setdefault(key, Attempt()).submitted_at = int(txn["timestamp"]) // 1_000_000
            elif name == "escrow::TaskDisputed":
                key = (int(data["job_id"]), int(data["task_id"]))
                self.attempts.setdefault(key, Attempt()).disputed_at = int(txn["timestamp"]) // 1_000_000
            elif name == "escrow::TaskSettled":
                treasury = core.norm_addr(data["treasury"])
                self.treasury_income[treasury] = self.treasury_income.get(treasury, 0) + int(data["treasury_amount"])
            elif name == "staking::Slashed":
                treasury = core.norm_addr(data["treasury"])
                self.treasury_income[treasury] = self.treasury_income.get(treasury, 0) + int(data["amount"])

    # ------------------------------------------------------------------ invariants

    def check_books(self) -> None:
        state = self.h.node.state
        # No negative amount anywhere; u64 fields in range.
        for key, value in state.items():
            for path, number in walk_ints(value, key):
                assert number >= 0, f"negative value at {path}: {number}"
                if path.rsplit(".", 1)[-1] not in U128_FIELDS:
                    assert number <= U64_MAX, f"u64 overflow at {path}: {number}"

        # Every PICTOR store, found by scanning the state (nothing may hide elsewhere).
        stores: dict[str, int] = {}
        for key, value in state.items():
            if key.startswith("r|") and key.endswith("|" + FA_STORE_T):
                meta = value["metadata"]
                meta = meta.get("inner") if isinstance(meta, dict) else meta
                if core.norm_addr(meta) == PICTOR_METADATA:
                    stores[key.split("|")[1]] = int(value["balance"])

        supply = self.supply()
        vault_store = int(self.view("vault", "store_balance")[0])
        assert vault_store == stores.get(VAULT_STORE, 0)
        job_stores = {}
        protocol_stores = {core.norm_addr(a) for a in (VAULT_STORE, STAKING_STORE, REWARDS_STORE)}
        for job_id in range(1, self.next_job_id()):
            store = core.norm_addr(self.view("escrow", "job_store", job_id)[0])
            job_stores[job_id] = self.fa_balance(store)
            protocol_stores.add(store)
        # Wallets: every other store, the known actors' and any address an (admin) mint reached.
        wallets = sum(balance for store, balance in stores.items() if core.norm_addr(store) not in protocol_stores)
        assert sum(self.wallet(a) for a in self.wallet_owners) <= wallets
        staking_store = stores.get(STAKING_STORE, 0)
        pool, allocated = (int(x) for x in self.view("rewards", "pool"))
        assert pool == stores.get(REWARDS_STORE, 0)
        total = wallets + vault_store + sum(job_stores.values()) + staking_store + pool
        assert supply == total, (
            f"conservation: supply {supply} != wallets {wallets} + vault {vault_store} + escrows "
            f"{sum(job_stores.values())} + staking {staking_store} + rewards {pool}"
        )
        assert sum(stores.values()) == supply, f"PICTOR outside the known stores: {sum(stores.values())} != {supply}"
        assert supply <= MAX_SUPPLY

        # vault store = total credit + total balance = the sum of the accounts
        total_credit, total_balance = (int(x) for x in self.view("vault", "totals"))
        assert vault_store == total_credit + total_balance
        accounts = [self.vault_account(a) for a in self.wallet_owners]
        assert sum(c for c, _ in accounts) == total_credit
        assert sum(b for _, b in accounts) == total_balance
        # the treasury's income sits in its vault balance
        for treasury, income in self.treasury_income.items():
            assert self.vault_account(treasury)[1] == income, f"treasury {treasury} vault balance != its income"

        # staking store = active + unbonding
        active, unbonding = (int(x) for x in self.view("staking", "totals"))
        assert staking_store == active + unbonding
        per_operator = [self.stake_of(self.addr(a), r) for a in self.wallet_owners for r in (WORKER, CHECKER)]
        assert sum(x for x, _ in per_operator) == active
        assert sum(y for _, y in per_operator) == unbonding

        # each job's escrow store = budget - spent (a closed job holds nothing), reservations covered
        for job_id, held in job_stores.items():
            job = self.job(job_id)
            assert job is not None
            if job["closed"]:
                assert held == 0 and job["reserved"] == 0
            else:
                assert held == job["budget"] - job["spent"], f"job {job_id}: store {held} != budget - spent"
                assert job["reserved"] <= held

        assert pool >= allocated
        assert pictor_vm.invariant_violations(state) == []

    @invariant()
    def books_balance(self) -> None:
        self.check_books()

    # ------------------------------------------------------------------ transfers

    @rule(sender=PICK, to=PICK, amount=AMOUNTS, gas_price=GAS_PRICES)
    def apt_transfer(self, sender: int, to: int, amount: int, gas_price: int) -> None:
        src, dst = self.pick(self.actors, sender), self.pick(self.wallet_owners, to)
        src_a, dst_a = self.addr(src), self.addr(dst)
        balance, dst_balance = self.apt(src_a), self.apt(dst_a)
        ok = amount <= balance - 100_000 * gas_price
        moves = {} if src_a == dst_a else {src_a: -amount, dst_a: amount}
        expect = OK if ok else (fw_abort("coin", "EINSUFFICIENT_BALANCE") if amount > balance else None)
        txn = self.call(
            src,
            "0x1::aptos_account::transfer",
            [bcs_address(dst_a), bcs_u64(amount)],
            expect=expect,
            gas_price=gas_price,
            apt_moves=moves if ok else {},
        )
        if txn["success"] and src_a != dst_a:
            assert self.apt(dst_a) == dst_balance + amount

    @rule(sender=PICK, to=PICK, amount=AMOUNTS)
    def pictor_transfer(self, sender: int, to: int, amount: int) -> None:
        src, dst = self.pick(self.actors, sender), self.pick(self.wallet_owners, to)
        before_src, before_dst = self.wallet(src), self.wallet(dst)
        expect = first((amount > before_src, fw_abort("fungible_asset", "EINSUFFICIENT_BALANCE")))
        self.call(
            src,
            "0x1::primary_fungible_store::transfer",
            [bcs_address(PICTOR_METADATA), bcs_address(dst.address()), bcs_u64(amount)],
            type_args=[METADATA_T],
            expect=expect,
        )
        if expect == OK and src is not dst:
            assert self.wallet(src) == before_src - amount
            assert self.wallet(dst) == before_dst + amount

    # ------------------------------------------------------------------ config

    def is_admin(self, account: Account) -> bool:
        return self.addr(account) == self.roles()[0]

    @rule(signer=PICK, coordinator=PICK, treasury=PICK)
    def set_roles(self, signer: int, coordinator: int, treasury: int) -> None:
        who = self.pick(self.admin_biased, signer)
        admin = self.roles()[0]
        coord = self.pick(self.coordinator_candidates, coordinator)
        treas = self.pick(self.treasury_candidates, treasury)
        expect = first((not self.is_admin(who), abort("config", "E_NOT_ADMIN")))
        self.call(
            who,
            self.fn("config", "set_roles"),
            [bcs_address(admin), bcs_address(coord.address()), bcs_address(treas.address())],
            expect=expect,
        )
        if expect == OK:
            assert self.roles() == (admin, self.addr(coord), self.addr(treas))

    @rule(signer=PICK, worker=st.integers(0, 11_000), checker=st.integers(0, 11_000))
    def set_fee_split(self, signer: int, worker: int, checker: int) -> None:
        who = self.pick(self.admin_biased, signer)
        expect = first(
            (not self.is_admin(who), abort("config", "E_NOT_ADMIN")),
            (worker > 10_000 or checker > 10_000 - worker, abort("config", "E_INVALID_FEE_SPLIT")),
        )
        self.call(who, self.fn("config", "set_fee_split"), [bcs_u64(worker), bcs_u64(checker)], expect=expect)

    @rule(
        signer=PICK,
        quorum=st.sampled_from([0, 1, 1, 2, 11]),
        min_stake=st.sampled_from([0, 10 * UNIT, 10 * UNIT, 100_000 * UNIT]),
        unbonding=st.sampled_from([0, 100, 100, 31_536_001]),
        review=st.sampled_from([0, 100, 100, 2_592_001]),
        slash=st.sampled_from([0, 1000, 1000, 10_001]),
        strikes=st.sampled_from([0, 1, 3, 3]),
        faucet_max=st.sampled_from([0, 1000 * UNIT, 1000 * UNIT]),
    )
    def set_params(
        self,
        signer: int,
        quorum: int,
        min_stake: int,
        unbonding: int,
        review: int,
        slash: int,
        strikes: int,
        faucet_max: int,
    ) -> None:
        who = self.pick(self.admin_biased, signer)
        invalid = (
            not (1 <= quorum <= 10) or unbonding > 31_536_000 or review > 2_592_000 or slash > 10_000 or strikes < 1
        )
        expect = first(
            (not self.is_admin(who), abort("config", "E_NOT_ADMIN")),
            (invalid, abort("config", "E_INVALID_PARAMETER")),
        )
        values = (quorum, min_stake, min_stake, unbonding, review, slash, strikes, faucet_max)
        self.call(who, self.fn("config", "set_params"), [bcs_u64(v) for v in values], expect=expect)
        if expect == OK:
            assert tuple(self.params().values()) == values

    @rule(signer=PICK, valid=st.booleans())
    def set_credit_signer(self, signer: int, valid: bool) -> None:
        who = self.pick(self.admin_biased, signer)
        key = pubkey(self.credit_key) if valid else self.bad_key_bytes
        expect = first(
            (not self.is_admin(who), abort("config", "E_NOT_ADMIN")),
            (not valid, abort("config", "E_INVALID_PUBLIC_KEY")),
        )
        self.call(who, self.fn("config", "set_credit_signer"), [bcs_bytes(key)], expect=expect)

    @rule(signer=PICK, paused=st.sampled_from([False, False, True]))
    def set_paused(self, signer: int, paused: bool) -> None:
        who = self.pick(self.admin_biased, signer)
        expect = first((not self.is_admin(who), abort("config", "E_NOT_ADMIN")))
        self.call(who, self.fn("config", "set_paused"), [bcs_bool(paused)], expect=expect)
        if expect == OK:
            assert self.paused() is paused

    # ------------------------------------------------------------------ token

    @rule(signer=PICK, to=PICK, amount=AMOUNTS)
    def mint(self, signer: int, to: int, amount: int) -> None:
        who, dst = self.pick(self.admin_biased, signer), self.pick(self.wallet_owners, to)
        supply = self.supply()
        expect = first(
            (self.addr(who) != self.roles()[0], abort("token", "E_NOT_ADMIN")),
            (amount == 0, abort("token", "E_ZERO_AMOUNT")),
            (supply + amount > MAX_SUPPLY, abort("token", "E_MAX_SUPPLY")),
        )
        self.call(who, self.fn("token", "mint"), [bcs_address(dst.address()), bcs_u64(amount)], expect=expect)
        if expect == OK:
            assert self.supply() == supply + amount

    @rule(user=PICK, amount=st.one_of(st.just(0), st.integers(1, 1200 * UNIT), st.just(U64_MAX)))
    def faucet(self, user: int, amount: int) -> None:
        who = self.pick(self.actors, user)
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (amount == 0, abort("token", "E_ZERO_AMOUNT")),
            (amount > self.params()["faucet_max"], abort("token", "E_FAUCET_LIMIT")),
            (self.supply() + amount > MAX_SUPPLY, abort("token", "E_MAX_SUPPLY")),
        )
        self.call(who, self.fn("token", "faucet"), [bcs_u64(amount)], expect=expect)

    # ------------------------------------------------------------------ vault

    @rule(user=PICK, amount=AMOUNTS)
    def deposit(self, user: int, amount: int) -> None:
        who = self.pick(self.actors, user)
        _, balance = self.vault_account(who)
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (amount == 0, abort("vault", "E_ZERO_AMOUNT")),
            (amount > self.wallet(who), fw_abort("fungible_asset", "EINSUFFICIENT_BALANCE")),
        )
        self.call(who, self.fn("vault", "deposit"), [bcs_u64(amount)], expect=expect)
        if expect == OK:
            assert self.vault_account(who)[1] == balance + amount

    @rule(user=PICK, amount=AMOUNTS)
    def withdraw(self, user: int, amount: int) -> None:
        who = self.pick(self.actors, user)
        credit, balance = self.vault_account(who)
        expect = first(
            (amount == 0, abort("vault", "E_ZERO_AMOUNT")),
            (amount > balance, abort("vault", "E_INSUFFICIENT_BALANCE")),
        )
        self.call(who, self.fn("vault", "withdraw"), [bcs_u64(amount)], expect=expect)
        if expect == OK:
            assert self.vault_account(who) == (credit, balance - amount)

    @rule(
        user=PICK,
        amount=SMALL_AMOUNTS,
        nonce_delta=st.sampled_from([0, 0, 0, 1, -1]),
        expiry=st.sampled_from([3600, 3600, -3600]),
        good_signature=st.sampled_from([True, True, True, False]),
    )
    def claim_credit(self, user: int, amount: int, nonce_delta: int, expiry: int, good_signature: bool) -> None:
        who = self.pick(self.actors, user)
        address = self.addr(who)
        nonce = max(0, int(self.view("vault", "next_claim_nonce", address)[0]) + nonce_delta)
        expires_at = int(self.h.now_estimate()) + expiry
        message = CREDIT_DOMAIN + bcs_address(address) + bcs_u64(amount) + bcs_u64(nonce) + bcs_u64(expires_at)
        signature = sign_bytes(self.credit_key if good_signature else self.users[0], message)
        signer_set = bytes(self.view("config", "credit_signer")[0]) != b""
        next_nonce = int(self.view("vault", "next_claim_nonce", address)[0])
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (amount == 0, abort("vault", "E_ZERO_AMOUNT")),
            (not signer_set, abort("vault", "E_CLAIMS_DISABLED")),
            (expiry < 0, abort("vault", "E_EXPIRED")),
            (nonce != next_nonce, abort("vault", "E_BAD_NONCE")),
            (not good_signature, abort("vault", "E_BAD_SIGNATURE")),
            (self.supply() + amount > MAX_SUPPLY, abort("token", "E_MAX_SUPPLY")),
        )
        credit, balance = self.vault_account(who)
        self.call(
            who,
            self.fn("vault", "claim_credit"),
            [bcs_u64(amount), bcs_u64(nonce), bcs_u64(expires_at), bcs_bytes(signature)],
            expect=expect,
        )
        if expect == OK:
            assert self.vault_account(who) == (credit + amount, balance)

    # ------------------------------------------------------------------ registry

    @rule(operator=PICK, role=ROLES, key=PICK, proof=st.sampled_from(["good", "good", "good", "bad", "badkey"]))
    def register_node(self, operator: int, role: int, key: int, proof: str) -> None:
        who = self.pick(self.operators, operator)
        node_key = self.pick(self.node_keys, key)
        public_key = self.bad_key_bytes if proof == "badkey" else pubkey(node_key)
        message = REGISTRATION_DOMAIN + bcs_address(who.address()) + bcs_u8(role % 256) + public_key
        signature = sign_bytes(node_key if proof == "good" else self.users[1], message)
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (role not in (WORKER, CHECKER), abort("registry", "E_INVALID_ROLE")),
            (proof == "badkey", abort("registry", "E_INVALID_PUBLIC_KEY")),
            (proof == "bad", abort("registry", "E_BAD_PROOF")),
            (public_key in self.keys_used, abort("registry", "E_KEY_IN_USE")),
        )
        count = self.node_count()
        self.call(
            who,
            self.fn("registry", "register_node"),
            [bcs_u8(role), bcs_bytes(public_key), bcs_bytes(signature)],
            expect=expect,
        )
        if expect == OK:
            assert self.node_count() == count + 1
            assert self.node_of(node_key) == count + 1

    @rule(operator=PICK, role=ROLES, key=PICK, claim=st.sampled_from(["own", "own", "other", "badkey"]))
    def register_node_cosigned(self, operator: int, role: int, key: int, claim: str) -> None:
        """A multi-agent registration: the node account co-signs, and must hold the key it registers."""
        who = self.pick(self.operators, operator)
        node_account = self.pick(self.node_keys, key)
        public_key = {"own": pubkey(node_account), "other": pubkey(self.users[1]), "badkey": self.bad_key_bytes}[claim]
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (role not in (WORKER, CHECKER), abort("registry", "E_INVALID_ROLE")),
            (claim == "badkey", abort("registry", "E_INVALID_PUBLIC_KEY")),
            (claim == "other", abort("registry", "E_BAD_PROOF")),
            (pubkey(node_account) in self.keys_used, abort("registry", "E_KEY_IN_USE")),
        )
        count = self.node_count()
        self.call(
            who,
            self.fn("registry", "register_node_cosigned"),
            [bcs_u8(role), bcs_bytes(public_key)],
            expect=expect,
            secondary=[node_account],
        )
        if expect == OK:
            assert self.node_count() == count + 1
            assert self.node_of(node_account) == count + 1

    @rule(
        operator=PICK,
        node=st.integers(0, 7),
        key=PICK,
        good_proof=st.sampled_from([True, True, False]),
        own=st.booleans(),
    )
    def rotate_node_key(self, operator: int, node: int, key: int, good_proof: bool, own: bool) -> None:
        info = self.node_info(node)
        owner = self.by_address.get(info["operator"]) if info else None
        who = owner if own and owner is not None else self.pick(self.operators, operator)
        new_key = self.pick(self.node_keys, key)
        role = info["role"] if info else WORKER
        message = REGISTRATION_DOMAIN + bcs_address(who.address()) + bcs_u8(role) + pubkey(new_key)
        signature = sign_bytes(new_key if good_proof else self.users[1], message)
        expect = first(
            (info is None, abort("registry", "E_NODE_NOT_FOUND")),
            (info is not None and info["operator"] != self.addr(who), abort("registry", "E_NOT_OPERATOR")),
            (info is not None and not info["active"], abort("registry", "E_NODE_INACTIVE")),
            (not good_proof, abort("registry", "E_BAD_PROOF")),
            (pubkey(new_key) in self.keys_used, abort("registry", "E_KEY_IN_USE")),
        )
        self.call(
            who,
            self.fn("registry", "rotate_node_key"),
            [bcs_u64(node), bcs_bytes(pubkey(new_key)), bcs_bytes(signature)],
            expect=expect,
        )
        if expect == OK:
            assert self.node_of(new_key) == node

    @rule(operator=PICK, node=st.integers(0, 8))
    def deregister_node(self, operator: int, node: int) -> None:
        who = self.pick(self.operators, operator)
        info = self.node_info(node)
        expect = first(
            (info is None, abort("registry", "E_NODE_NOT_FOUND")),
            (info is not None and info["operator"] != self.addr(who), abort("registry", "E_NOT_OPERATOR")),
            (info is not None and not info["active"], abort("registry", "E_NODE_INACTIVE")),
        )
        self.call(who, self.fn("registry", "deregister_node"), [bcs_u64(node)], expect=expect)
        if expect == OK:
            assert self.node_info(node)["active"] is False  # type: ignore[index]

    # ------------------------------------------------------------------ staking

    @rule(operator=PICK, role=ROLES, amount=AMOUNTS)
    def stake(self, operator: int, role: int, amount: int) -> None:
        who = self.pick([*self.operators, *self.operators, *self.users], operator)
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (role not in (WORKER, CHECKER), abort("staking", "E_INVALID_ROLE")),
            (amount == 0, abort("staking", "E_ZERO_AMOUNT")),
            (amount > self.wallet(who), fw_abort("fungible_asset", "EINSUFFICIENT_BALANCE")),
        )
        before = self.stake_of(self.addr(who), role) if role in (WORKER, CHECKER) else (0, 0)
        self.call(who, self.fn("staking", "stake"), [bcs_u8(role), bcs_u64(amount)], expect=expect)
        if expect == OK:
            assert self.stake_of(self.addr(who), role) == (before[0] + amount, before[1])

    @rule(operator=PICK, role=ROLES, amount=st.one_of(AMOUNTS, st.just(10 * UNIT)))
    def request_unstake(self, operator: int, role: int, amount: int) -> None:
        who = self.pick([*self.operators, *self.operators, *self.users], operator)
        active = self.stake_of(self.addr(who), role)[0] if role in (WORKER, CHECKER) else 0
        expect = first(
            (role not in (WORKER, CHECKER), abort("staking", "E_INVALID_ROLE")),
            (amount == 0, abort("staking", "E_ZERO_AMOUNT")),
            (active < amount, abort("staking", "E_INSUFFICIENT_STAKE")),
        )
        self.call(who, self.fn("staking", "request_unstake"), [bcs_u8(role), bcs_u64(amount)], expect=expect)

    @rule(operator=PICK, pending=st.booleans())
    def withdraw_unstaked(self, operator: int, pending: bool) -> None:
        candidates = [*self.operators, *self.operators, *self.users]
        if pending:
            candidates = [
                a for a in candidates if self.view("staking", "unbonding_requests", self.addr(a))[0]
            ] or candidates
        who = self.pick(candidates, operator)
        _, _, amounts, release = self.view("staking", "unbonding_requests", self.addr(who))
        now = self.h.now_estimate()
        if any(self.ambiguous(r) for r in release):
            expect = None
        else:
            ready = sum(a for a, r in zip(amounts, release, strict=True) if r <= now)
            expect = OK if ready or any(r <= now for r in release) else abort("staking", "E_NOTHING_TO_WITHDRAW")
        self.call(who, self.fn("staking", "withdraw_unstaked"), [], expect=expect)

    @rule(signer=PICK, operator=PICK, role=ROLES, amount=AMOUNTS)
    def slash(self, signer: int, operator: int, role: int, amount: int) -> None:
        who = self.pick(self.admin_biased, signer)
        target = self.pick([*self.operators, *self.users], operator)
        expect = first(
            (not self.is_admin(who), abort("staking", "E_NOT_ADMIN")),
            (role not in (WORKER, CHECKER), abort("staking", "E_INVALID_ROLE")),
            (amount == 0, abort("staking", "E_ZERO_AMOUNT")),
        )
        before = sum(self.stake_of(self.addr(target), role)) if role in (WORKER, CHECKER) else 0
        self.call(
            who,
            self.fn("staking", "slash"),
            [bcs_address(target.address()), bcs_u8(role), bcs_u64(amount)],
            expect=expect,
        )
        if expect == OK:
            assert sum(self.stake_of(self.addr(target), role)) == before - min(amount, before)

    # ------------------------------------------------------------------ escrow

    @rule(user=PICK, budget=AMOUNTS, price=st.sampled_from([0, 1, UNIT // 100, UNIT, U64_MAX]))
    def open_job(self, user: int, budget: int, price: int) -> None:
        who = self.pick(self.users, user)
        credit, balance = self.vault_account(who)
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (budget == 0, abort("escrow", "E_ZERO_AMOUNT")),
            (price == 0, abort("escrow", "E_INVALID_PRICE")),
            (credit + balance < budget, abort("vault", "E_INSUFFICIENT_FUNDS")),
        )
        job_id = self.next_job_id()
        self.call(who, self.fn("escrow", "open_job"), [bcs_u64(budget), bcs_u64(price)], expect=expect)
        if expect == OK:
            job = self.job(job_id)
            assert job is not None and job["budget"] == budget and job["creator"] == self.addr(who)
            used_credit = min(credit, budget)
            assert self.vault_account(who) == (credit - used_credit, balance - (budget - used_credit))

    @rule(user=PICK, job=st.integers(0, 5), amount=AMOUNTS)
    def top_up(self, user: int, job: int, amount: int) -> None:
        who = self.pick(self.users, user)
        info = self.job(job)
        credit, balance = self.vault_account(who)
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (info is not None and info["creator"] != self.addr(who), abort("escrow", "E_NOT_CREATOR")),
            (info is not None and info["closed"], abort("escrow", "E_JOB_CLOSED")),
            (amount == 0, abort("escrow", "E_ZERO_AMOUNT")),
            (credit + balance < amount, abort("vault", "E_INSUFFICIENT_FUNDS")),
        )
        self.call(who, self.fn("escrow", "top_up"), [bcs_u64(job), bcs_u64(amount)], expect=expect)

    def coordinator_biased(self) -> list[Account]:
        """Mostly the current coordinator, sometimes another account."""
        current = self.by_address.get(self.roles()[1])
        return [*([current] * 3 if current else []), *self.coordinator_candidates, self.users[0]]

    def eligible_worker(self, node_id: int) -> bool:
        info = self.node_info(node_id)
        if info is None or not info["active"] or info["role"] != WORKER:
            return False
        return self.stake_of(info["operator"], WORKER)[0] >= self.params()["min_worker_stake"]

    @rule(
        signer=PICK,
        job=st.integers(0, 5),
        task=TASKS,
        node=st.integers(0, 8),
        quote=st.one_of(st.integers(1, 20 * UNIT), st.just(0), st.just(U64_MAX)),
    )
    def assign_task(self, signer: int, job: int, task: int, node: int, quote: int) -> None:
        who = self.pick(self.coordinator_biased(), signer)
        info = self.job(job)
        current = self.task(job, task) if info else None
        available = info["budget"] - info["spent"] - info["reserved"] if info else 0
        expect = first(
            (self.paused(), abort("config", "E_PAUSED")),
            (self.addr(who) != self.roles()[1], abort("escrow", "E_NOT_COORDINATOR")),
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (info is not None and info["closed"], abort("escrow", "E_JOB_CLOSED")),
            (quote == 0, abort("escrow", "E_ZERO_AMOUNT")),
            (current is not None and current["state"] != QUEUED, abort("escrow", "E_BAD_TASK_STATE")),
            (not self.eligible_worker(node), abort("escrow", "E_NODE_NOT_ELIGIBLE")),
            (quote > available, abort("escrow", "E_INSUFFICIENT_ESCROW")),
        )
        self.call(
            who,
            self.fn("escrow", "assign_task"),
            [bcs_u64(job), bcs_u64(task), bcs_u64(node), bcs_u64(quote)],
            expect=expect,
        )
        if expect == OK:
            assigned = self.task(job, task)
            assert assigned is not None and assigned["state"] == ASSIGNED and assigned["node_id"] == node

    @rule(signer=PICK, job=st.integers(0, 5), task=TASKS)
    def requeue_task(self, signer: int, job: int, task: int) -> None:
        who = self.pick(self.coordinator_biased(), signer)
        info = self.job(job)
        current = self.task(job, task) if info else None
        expect = first(
            (self.addr(who) != self.roles()[1], abort("escrow", "E_NOT_COORDINATOR")),
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] != ASSIGNED, abort("escrow", "E_BAD_TASK_STATE")),
        )
        self.call(who, self.fn("escrow", "requeue_task"), [bcs_u64(job), bcs_u64(task)], expect=expect)

    @rule(signer=PICK, job=st.integers(0, 5), task=TASKS)
    def requeue_unverified(self, signer: int, job: int, task: int) -> None:
        who = self.pick(self.coordinator_biased(), signer)
        info = self.job(job)
        current = self.task(job, task) if info else None
        attempt = self.attempts.get((job, task), Attempt())
        expect: str | None = first(
            (self.addr(who) != self.roles()[1], abort("escrow", "E_NOT_COORDINATOR")),
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] != SUBMITTED, abort("escrow", "E_BAD_TASK_STATE")),
        )
        if expect == OK and attempt.abstentions == 0:
            deadline = int(attempt.submitted_at) + self.params()["review_window_secs"]
            if self.ambiguous(deadline):
                expect = None
            elif self.h.now_estimate() < deadline:
                expect = abort("escrow", "E_NOT_UNVERIFIABLE")
        self.call(who, self.fn("escrow", "requeue_unverified"), [bcs_u64(job), bcs_u64(task)], expect=expect)
        if expect == OK:
            assert self.task(job, task)["state"] == QUEUED  # type: ignore[index]

    @rule(
        node=PICK,
        job=st.integers(0, 5),
        task=TASKS,
        result=HASHES,
        reference_ms=st.sampled_from([0, 1, 60_000, 3_600_000, U64_MAX]),
    )
    def submit_result(self, node: int, job: int, task: int, result: bytes, reference_ms: int) -> None:
        who = self.pick(self.node_keys, node)
        info = self.job(job)
        current = self.task(job, task) if info else None
        expect = first(
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (info is not None and info["closed"], abort("escrow", "E_JOB_CLOSED")),
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] != ASSIGNED, abort("escrow", "E_BAD_TASK_STATE")),
            (current is not None and self.node_of(who) != current["node_id"], abort("escrow", "E_NOT_ASSIGNED_NODE")),
            (len(result) != 32, abort("escrow", "E_INVALID_HASH")),
        )
        self.call(
            who,
            self.fn("escrow", "submit_result"),
            [bcs_u64(job), bcs_u64(task), bcs_bytes(result), bcs_u64(reference_ms)],
            expect=expect,
        )
        if expect == OK:
            assert info is not None and current is not None
            done = self.task(job, task)
            assert done is not None and done["state"] == SUBMITTED
            charge = min(current["quote"], -(-reference_ms * info["price"] // 60_000))
            assert done["charge"] == charge

    def verified_expectation(self, who: Account, job: int, task: int, *, creator_only: bool) -> tuple[Any, Any, list]:
        info = self.job(job)
        current = self.task(job, task) if info else None
        checks: list[tuple[bool, str]] = [(info is None, abort("escrow", "E_JOB_NOT_FOUND"))]
        if creator_only:
            checks.append((info is not None and info["creator"] != self.addr(who), abort("escrow", "E_NOT_CREATOR")))
        checks += [
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] != VERIFIED, abort("escrow", "E_BAD_TASK_STATE")),
        ]
        return info, current, checks

    @rule(user=PICK, job=st.integers(0, 5), task=TASKS)
    def accept_task(self, user: int, job: int, task: int) -> None:
        who = self.pick(self.users, user)
        _, _, checks = self.verified_expectation(who, job, task, creator_only=True)
        expect = first(*checks)
        self.call(who, self.fn("escrow", "accept_task"), [bcs_u64(job), bcs_u64(task)], expect=expect)
        if expect == OK:
            assert self.task(job, task)["state"] == SETTLED  # type: ignore[index]

    @rule(caller=PICK, job=st.integers(0, 5), task=TASKS)
    def finalize_task(self, caller: int, job: int, task: int) -> None:
        who = self.pick(self.actors, caller)
        info = self.job(job)
        current = self.task(job, task) if info else None
        expect: str | None = first(
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] not in (VERIFIED, DISPUTED), abort("escrow", "E_BAD_TASK_STATE")),
        )
        if expect == OK and current is not None:
            if current["state"] == VERIFIED:
                due = current["deadline"]
            else:  # a dispute nobody resolved within a review window: the result stands
                due = int(self.attempts[(job, task)].disputed_at) + self.params()["review_window_secs"]
            if self.ambiguous(due):
                expect = None
            elif self.h.now_estimate() < due:
                expect = abort("escrow", "E_REVIEW_WINDOW_OPEN")
        self.call(who, self.fn("escrow", "finalize_task"), [bcs_u64(job), bcs_u64(task)], expect=expect)

    @rule(user=PICK, job=st.integers(0, 5), task=TASKS)
    def dispute_task(self, user: int, job: int, task: int) -> None:
        who = self.pick(self.users, user)
        _, current, checks = self.verified_expectation(who, job, task, creator_only=True)
        expect: str | None = first(*checks)
        if expect == OK and current is not None:
            if self.ambiguous(current["deadline"]):
                expect = None
            elif self.h.now_estimate() >= current["deadline"]:
                expect = abort("escrow", "E_REVIEW_WINDOW_CLOSED")
        self.call(who, self.fn("escrow", "dispute_task"), [bcs_u64(job), bcs_u64(task)], expect=expect)
        if expect == OK:
            assert self.task(job, task)["state"] == DISPUTED  # type: ignore[index]

    @rule(caller=PICK, job=st.integers(0, 5))
    def close_job(self, caller: int, job: int) -> None:
        who = self.pick([*self.users, *self.coordinator_candidates], caller)
        info = self.job(job)
        in_flight = info is not None and any(
            (t := self.task(job, task_id)) is not None and t["state"] in (SUBMITTED, VERIFIED, DISPUTED)
            for task_id in (1, 2, 3)
        )
        expect = first(
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (
                info is not None and self.addr(who) not in (info["creator"], self.roles()[1]),
                abort("escrow", "E_NOT_CREATOR"),
            ),
            (info is not None and info["closed"], abort("escrow", "E_JOB_CLOSED")),
            (in_flight, abort("escrow", "E_TASKS_IN_FLIGHT")),
        )
        vault_before = self.vault_account(info["creator"]) if info else (0, 0)
        self.call(who, self.fn("escrow", "close_job"), [bcs_u64(job)], expect=expect)
        if expect == OK:
            assert info is not None
            remaining = info["budget"] - info["spent"]
            credit_left = info["credit_in"] - min(info["credit_in"], info["spent"])
            refund_credit = min(remaining, credit_left)
            assert self.vault_account(info["creator"]) == (
                vault_before[0] + refund_credit,
                vault_before[1] + remaining - refund_credit,
            )

    # ------------------------------------------------------------------ attestation

    def checker_checks(self, who: Account) -> tuple[dict[str, Any] | None, list[tuple[bool, str]]]:
        node_id = self.node_of(who)
        info = self.node_info(node_id)
        not_checker = info is None or not info["active"] or info["role"] != CHECKER
        low_stake = (
            (not not_checker)
            and info is not None
            and (self.stake_of(info["operator"], CHECKER)[0] < self.params()["min_checker_stake"])
        )
        return info, [
            (not_checker, abort("attestation", "E_NOT_CHECKER")),
            (low_stake, abort("attestation", "E_INSUFFICIENT_STAKE")),
        ]

    def vote(self, node: int, job: int, task: int, result: str, evidence: bytes) -> tuple[Account, bytes, str | None]:
        """The voter, the result hash it names and the expected outcome of `attest` / `abstain` (same checks)."""
        who = self.pick(self.node_keys, node)
        checker, checks = self.checker_checks(who)
        info = self.job(job)
        current = self.task(job, task) if info else None
        task_hash = current["result_hash"] if current and len(current["result_hash"]) == 32 else b"\x11" * 32
        result_hash = {"task": task_hash, "other": bytes(b ^ 0xFF for b in task_hash), "short": b"\x11" * 31}[result]
        worker = self.node_info(current["node_id"]) if current else None
        attempt = self.attempts.get((job, task), Attempt())
        checks += [
            (len(result_hash) != 32 or len(evidence) != 32, abort("attestation", "E_INVALID_HASH")),
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (info is not None and info["closed"], abort("escrow", "E_JOB_CLOSED")),
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] != SUBMITTED, abort("attestation", "E_BAD_TASK_STATE")),
            (
                checker is not None and worker is not None and checker["operator"] == worker["operator"],
                abort("attestation", "E_CONFLICT_OF_INTEREST"),
            ),
            (self.node_of(who) in attempt.attesters, abort("attestation", "E_ALREADY_ATTESTED")),
            (current is not None and result_hash != current["result_hash"], abort("attestation", "E_RESULT_MISMATCH")),
        ]
        return who, result_hash, first(*checks)

    @rule(
        node=PICK,
        job=st.integers(0, 5),
        task=TASKS,
        result=st.sampled_from(["task", "task", "task", "other", "short"]),
        passed=st.sampled_from([True, True, False]),
        evidence=st.sampled_from([b"\xee" * 32, b"\xee" * 32, b"\xee"]),
    )
    def attest(self, node: int, job: int, task: int, result: str, passed: bool, evidence: bytes) -> None:
        who, result_hash, expect = self.vote(node, job, task, result, evidence)
        self.call(
            who,
            self.fn("attestation", "attest"),
            [bcs_u64(job), bcs_u64(task), bcs_bytes(result_hash), bcs_bool(passed), bcs_bytes(evidence)],
            expect=expect,
        )

    @rule(
        node=PICK,
        job=st.integers(0, 5),
        task=TASKS,
        result=st.sampled_from(["task", "task", "other", "short"]),
        evidence=st.sampled_from([b"\xee" * 32, b"\xee" * 32, b"\xee"]),
    )
    def abstain(self, node: int, job: int, task: int, result: str, evidence: bytes) -> None:
        who, result_hash, expect = self.vote(node, job, task, result, evidence)
        self.call(
            who,
            self.fn("attestation", "abstain"),
            [bcs_u64(job), bcs_u64(task), bcs_bytes(result_hash), bcs_bytes(evidence)],
            expect=expect,
        )
        if expect == OK:
            assert self.task(job, task)["state"] == SUBMITTED  # type: ignore[index]

    @rule(
        node=PICK,
        job=st.integers(0, 5),
        task=TASKS,
        uphold=st.booleans(),
        evidence=st.sampled_from([b"\xdd" * 32, b"\xdd" * 32, b""]),
    )
    def resolve_dispute(self, node: int, job: int, task: int, uphold: bool, evidence: bytes) -> None:
        who = self.pick(self.node_keys, node)
        checker, checks = self.checker_checks(who)
        info = self.job(job)
        current = self.task(job, task) if info else None
        worker = self.node_info(current["node_id"]) if current else None
        passers = self.attempts.get((job, task), Attempt()).passers
        conflict = (
            checker is not None
            and worker is not None
            and (checker["operator"] == worker["operator"] or checker["operator"] in passers)
        )
        checks += [
            (len(evidence) != 32, abort("attestation", "E_INVALID_HASH")),
            (info is None, abort("escrow", "E_JOB_NOT_FOUND")),
            (current is None, abort("escrow", "E_TASK_NOT_FOUND")),
            (current is not None and current["state"] != DISPUTED, abort("attestation", "E_BAD_TASK_STATE")),
            (conflict, abort("attestation", "E_CONFLICT_OF_INTEREST")),
        ]
        expect = first(*checks)
        self.call(
            who,
            self.fn("attestation", "resolve_dispute"),
            [bcs_u64(job), bcs_u64(task), bcs_bool(uphold), bcs_bytes(evidence)],
            expect=expect,
        )
        if expect == OK:
            after = self.task(job, task)
            assert after is not None and after["state"] == (QUEUED if uphold else SETTLED)

    # ------------------------------------------------------------------ rewards

    @rule(funder=PICK, amount=AMOUNTS)
    def fund_pool(self, funder: int, amount: int) -> None:
        who = self.pick(self.actors, funder)
        pool = int(self.view("rewards", "pool")[0])
        expect = first(
            (amount == 0, abort("rewards", "E_ZERO_AMOUNT")),
            (amount > self.wallet(who), fw_abort("fungible_asset", "EINSUFFICIENT_BALANCE")),
        )
        self.call(who, self.fn("rewards", "fund_pool"), [bcs_u64(amount)], expect=expect)
        if expect == OK:
            assert int(self.view("rewards", "pool")[0]) == pool + amount

    @rule(
        signer=PICK,
        epoch_delta=st.sampled_from([0, 0, 0, 1, -1]),
        amounts=st.lists(st.integers(1, 20 * UNIT), min_size=1, max_size=4),
        bad_root=st.sampled_from([False] * 5 + [True]),
        zero_total=st.sampled_from([False] * 5 + [True]),
    )
    def publish_epoch(
        self, signer: int, epoch_delta: int, amounts: list[int], bad_root: bool, zero_total: bool
    ) -> None:
        who = self.pick(self.admin_biased, signer)
        next_epoch = int(self.view("rewards", "next_epoch")[0])
        epoch = max(0, next_epoch + epoch_delta)
        entries = [(i * 3, self.addr(self.pick(self.users, i)), a) for i, a in enumerate(amounts)]
        root, _ = merkle([leaf_hash(epoch, i, u, a) for i, u, a in entries])
        if bad_root:
            root = root[:31]
        total = 0 if zero_total else sum(amounts)
        pool, allocated = (int(x) for x in self.view("rewards", "pool"))
        expect = first(
            (self.addr(who) != self.roles()[0], abort("rewards", "E_NOT_ADMIN")),
            (epoch != next_epoch, abort("rewards", "E_BAD_EPOCH")),
            (bad_root, abort("rewards", "E_INVALID_ROOT")),
            (total == 0, abort("rewards", "E_ZERO_AMOUNT")),
            (pool - allocated < total, abort("rewards", "E_POOL_TOO_SMALL")),
        )
        self.call(
            who, self.fn("rewards", "publish_epoch"), [bcs_u64(epoch), bcs_bytes(root), bcs_u64(total)], expect=expect
        )
        if expect == OK:
            self.epochs[epoch] = entries

    @rule(
        user=PICK,
        epoch=st.integers(0, 4),
        leaf=PICK,
        tamper=st.sampled_from(["none"] * 6 + ["amount", "proof", "zero"]),
    )
    def claim(self, user: int, epoch: int, leaf: int, tamper: str) -> None:
        entries = self.epochs.get(epoch)
        if entries:
            index, owner, amount = self.pick(entries, leaf)
            root, proofs = merkle([leaf_hash(epoch, i, u, a) for i, u, a in entries])
            proof = proofs[entries.index((index, owner, amount))]
            who = self.by_address[owner]
        else:
            index, amount, proof = leaf % 7, UNIT, []
            who = self.pick(self.users, user)
        if tamper == "amount":
            amount += 1
        elif tamper == "zero":
            amount = 0
        elif tamper == "proof":
            proof = [*proof, b"\x00" * 32] if proof else [b"\x00" * 31]
        exists = 1 <= epoch < int(self.view("rewards", "next_epoch")[0])
        claimed = bool(self.view("rewards", "is_claimed", epoch, index)[0]) if exists else False
        total, already = (int(self.view("rewards", "epoch", epoch)[i]) for i in (1, 2)) if exists else (0, 0)
        expect = first(
            (not exists, abort("rewards", "E_EPOCH_NOT_FOUND")),
            (amount == 0, abort("rewards", "E_ZERO_AMOUNT")),
            (claimed, abort("rewards", "E_ALREADY_CLAIMED")),
            (tamper != "none" or not entries, abort("rewards", "E_INVALID_PROOF")),
            (already + amount > total, abort("rewards", "E_EPOCH_EXHAUSTED")),
        )
        wallet = self.wallet(who)
        self.call(
            who,
            self.fn("rewards", "claim"),
            [bcs_u64(epoch), bcs_u64(index), bcs_u64(amount), bcs_vec_bytes(proof)],
            expect=expect,
        )
        if expect == OK:
            assert self.wallet(who) == wallet + amount
            assert self.view("rewards", "is_claimed", epoch, index)[0] is True

    # ------------------------------------------------------------------ clock, garbage, bad submissions

    @rule(seconds=st.sampled_from([1, 60, 101, 200, 100_000]))
    def advance_clock(self, seconds: int) -> None:
        before = self.h.node.ledger.timestamp_us
        self.h.advance(seconds)
        assert self.h.node.ledger.timestamp_us >= before + seconds * 1_000_000

    @rule(
        signer=PICK,
        function=PICK,
        count_delta=st.sampled_from([0, 0, 0, 1, -1]),
        data=st.lists(st.binary(max_size=40), max_size=9),
        typed=st.booleans(),
    )
    def garbage(self, signer: int, function: int, count_delta: int, data: list[bytes], typed: bool) -> None:
        """Any pictor entry function with random (often ill-typed) arguments: failures change nothing."""
        functions = sorted(pictor_entry_functions().items())
        name, fn = self.pick(functions, function)
        who = self.pick(self.admin_biased, signer)
        count = max(0, len(fn.params) + count_delta)
        args = []
        for i in range(count):
            raw = data[i % len(data)] if data else b""
            if typed and i < len(fn.params):
                raw = encode_loosely(fn.params[i], raw)
            args.append(raw)
        expect = vm("NUMBER_OF_ARGUMENTS_MISMATCH") if count != len(fn.params) else None
        if fn.signers != 1:  # one signer for a multi-signer function: refused before its arguments are read
            expect = vm("NUMBER_OF_SIGNER_ARGUMENTS_MISMATCH")
        self.call(who, self.fn(fn.module, fn.name), args, expect=expect)

    @rule(signer=PICK, kind=st.sampled_from(["signature", "old_seq", "new_seq", "expired", "chain", "gas_price"]))
    def bad_submission(self, signer: int, kind: str) -> None:
        """A malformed submission is refused with a 400 and changes nothing."""
        who = self.pick(self.actors, signer)
        node = self.h.node
        before = snapshot(node.state)
        seq = node.committed_seq(self.addr(who)) or 0
        kw: dict[str, Any] = {"chain_id": CHAIN_ID}
        if kind == "old_seq" and seq == 0:
            kind = "new_seq"
        number = {"old_seq": seq - 1, "new_seq": seq + 101}.get(kind, seq)
        if kind == "expired":
            kw["expiration"] = int(time.time()) - 10
        if kind == "chain":
            kw["chain_id"] = CHAIN_ID + 1
        if kind == "gas_price":
            kw["gas_price"] = 99
        raw = raw_txn(who, number, entry_payload(self.fn("token", "faucet"), [bcs_u64(1)]), **kw)
        signed = sign(self.users[0] if kind == "signature" and who is not self.users[0] else who, raw)
        if kind == "signature" and who is self.users[0]:
            signed = signed[:-1] + bytes([signed[-1] ^ 1])
        result = self.h.submit(signed)
        assert result.rejected is not None, f"{kind} submission was accepted: {result.txn}"
        assert result.rejected.status == 400
        expected = {
            "signature": {"INVALID_SIGNATURE", "INVALID_AUTH_KEY"},
            "old_seq": {"SEQUENCE_NUMBER_TOO_OLD"},
            "new_seq": {"SEQUENCE_NUMBER_TOO_NEW"},
            "expired": {"TRANSACTION_EXPIRED"},
            "chain": {"BAD_CHAIN_ID"},
            "gas_price": {"GAS_UNIT_PRICE_BELOW_MIN_BOUND"},
        }[kind]
        assert any(name in result.rejected.message for name in expected), result.rejected.message
        missing = object()
        changed = {k for k in before.keys() | node.state.keys() if before.get(k, missing) != node.state.get(k, missing)}
        assert changed <= BLOCK_KEYS, f"a rejected submission changed {sorted(changed)}"

    # Deep flows are rare in random sequences: this rule drives one task as far as the state allows.
    @rule(
        job=st.integers(1, 5),
        task=TASKS,
        pass_it=st.sampled_from([True, True, False]),
        then=st.sampled_from(["accept", "finalize", "stop"]),
    )
    def task_flow(self, job: int, task: int, pass_it: bool, then: str) -> None:
        """Assign -> submit -> attest to quorum -> accept or finalize."""
        self.drive_task(job, task, pass_it, then, uphold=False)

    @rule(job=st.integers(1, 5), task=TASKS, uphold=st.booleans())
    def dispute_flow(self, job: int, task: int, uphold: bool) -> None:
        """Assign -> submit -> attest to quorum -> dispute -> resolve (upheld or not)."""
        self.drive_task(job, task, True, "dispute", uphold=uphold)

    def drive_task(self, job: int, task: int, pass_it: bool, then: str, uphold: bool) -> None:
        """Drive one task as far as the state allows, with eligible actors (a no-op when none are)."""
        info = self.job(job)
        current = self.task(job, task) if info else None
        if info is None or info["closed"] or self.paused():
            return
        if current is not None and current["state"] not in (QUEUED, ASSIGNED):
            return
        coordinator = self.by_address.get(self.roles()[1])
        workers = [n for n in range(1, self.node_count() + 1) if self.eligible_worker(n)]
        if coordinator is None or not workers:
            return
        if current is None or current["state"] == QUEUED:
            available = info["budget"] - info["spent"] - info["reserved"]
            if available <= 0:
                return
            self.call(
                coordinator,
                self.fn("escrow", "assign_task"),
                [bcs_u64(job), bcs_u64(task), bcs_u64(workers[0]), bcs_u64(min(available, 5 * UNIT))],
                expect=OK,
            )
        assigned = self.task(job, task)
        assert assigned is not None
        worker_info = self.node_info(assigned["node_id"])
        assert worker_info is not None
        worker_acct = self.by_address.get(worker_info["account"])
        if worker_acct is None:
            return
        self.call(
            worker_acct,
            self.fn("escrow", "submit_result"),
            [bcs_u64(job), bcs_u64(task), bcs_bytes(b"\x11" * 32), bcs_u64(90_000)],
            expect=OK,
        )
        for key in self.node_keys:
            now = self.task(job, task)
            assert now is not None
            if now["state"] != SUBMITTED:
                break
            checker, checks = self.checker_checks(key)
            if checker is None or first(*checks) != OK or checker["operator"] == worker_info["operator"]:
                continue
            if self.node_of(key) in self.attempts.get((job, task), Attempt()).attesters:
                continue
            self.call(
                key,
                self.fn("attestation", "attest"),
                [bcs_u64(job), bcs_u64(task), bcs_bytes(b"\x11" * 32), bcs_bool(pass_it), bcs_bytes(b"\xee" * 32)],
                expect=OK,
            )
        verified = self.task(job, task)
        assert verified is not None
        if verified["state"] != VERIFIED or then == "stop":
            return
        creator = self.by_address[info["creator"]]
        if then == "accept":
            self.call(creator, self.fn("escrow", "accept_task"), [bcs_u64(job), bcs_u64(task)], expect=OK)
        elif then == "finalize":
            self.h.advance(max(0, int(verified["deadline"] - self.h.now_estimate())) + CLOCK_SLACK_S)
            self.call(self.users[0], self.fn("escrow", "finalize_task"), [bcs_u64(job), bcs_u64(task)], expect=OK)
        elif not self.ambiguous(verified["deadline"]) and self.h.now_estimate() < verified["deadline"]:
            self.call(creator, self.fn("escrow", "dispute_task"), [bcs_u64(job), bcs_u64(task)], expect=OK)
            passers = self.attempts.get((job, task), Attempt()).passers
            for key in self.node_keys:
                checker, checks = self.checker_checks(key)
                if checker is None or first(*checks) != OK:
                    continue
                if checker["operator"] == worker_info["operator"] or checker["operator"] in passers:
                    continue
                self.call(
                    key,
                    self.fn("attestation", "resolve_dispute"),
                    [bcs_u64(job), bcs_u64(task), bcs_bool(uphold), bcs_bytes(b"\xdd" * 32)],
                    expect=OK,
                )
                break


def encode_loosely(move_type: str, raw: bytes) -> bytes:
    """Well-formed BCS of ``move_type`` built from random bytes (so typed garbage reaches the function body)."""
    padded = raw + b"\x00" * 32
    if move_type == "u8":
        return padded[:1]
    if move_type == "u64":
        return bcs_u64(int.from_bytes(padded[:8], "little") % (2**64))
    if move_type == "bool":
        return bcs_bool(bool(padded[0] & 1))
    if move_type == "address":
        return padded[:32]
    if move_type == "vector<u8>":
        return bcs_bytes(raw)
    if move_type == "vector<vector<u8>>":
        return bcs_vec_bytes([raw[i : i + 32] for i in range(0, len(raw), 32)])
    return raw


PictorMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
TestPictorStateMachine = PictorMachine.TestCase


def test_rules_cover_every_pictor_entry_function() -> None:
    """A new entry function in the VM must get a rule here (the ``garbage`` rule already fuzzes it)."""
    registered = set(pictor_entry_functions())
    assert registered, "no pictor entry function is registered"
    assert registered == COVERED_PICTOR_FUNCTIONS, (
        f"missing rules: {sorted(registered - COVERED_PICTOR_FUNCTIONS)}; "
        f"stale: {sorted(COVERED_PICTOR_FUNCTIONS - registered)}"
    )


def test_merkle_helper_matches_the_shared_vector() -> None:
    vector = json.loads((REPO_ROOT / "chain/move/tests/vectors/merkle.json").read_text())
    leaves = [leaf_hash(vector["epoch"], leaf["index"], leaf["user"], leaf["amount"]) for leaf in vector["leaves"]]
    root, proofs = merkle(leaves)
    assert "0x" + root.hex() == vector["root"]
    assert [["0x" + p.hex() for p in proof] for proof in proofs] == vector["proofs"]
