"""A random chain history with real signed transactions, replayed by the indexer benchmark and the indexer tests.

:class:`History` drives a running localnet through every entry function of the ``pictor`` package: a scripted
tour first (every entry function at least once, every branch of the money rules: accept, finalize, dispute
upheld and not, failed verification, slashes, unbonding, key rotation, rewards claims, pauses, role changes),
then random flows from concurrent actors (jobs with several tasks, vault moves, staking, registry changes,
rewards, config changes, wallet transfers and some transactions that abort on purpose) until the target count
is reached. :class:`BulkHistory` makes the same kinds of events in bulk for the benchmark.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aptos_sdk.account import Account
from aptos_sdk.transactions import TransactionPayload

from chain.client import PictorChain, TxResult
from chain.constants import U64_MAX
from chain.errors import ChainError
from chain.events import JobOpened, NodeRegistered, ResultSubmitted, TaskSettled, TaskVerified
from chain.keys import (
    LocalnetKeys,
    account_address,
    generate_account,
    registration_proof,
    sign_credit_claim,
)
from chain.payloads import ROLE_CHECKER, ROLE_WORKER, PictorPayloads, apt_transfer, pictor_transfer

PICTOR = 100_000_000


APT = 100_000_000


LEAF_DOMAIN = b"PICTOR_REWARD_LEAF"


#: Every entry function of the package (the tour calls each one successfully at least once).
ENTRY_FUNCTIONS = (
    "config::set_roles", "config::set_fee_split", "config::set_params", "config::set_credit_signer",
    "config::set_paused", "token::mint", "token::faucet", "vault::deposit", "vault::withdraw",
    "vault::claim_credit", "registry::register_node", "registry::rotate_node_key", "registry::deregister_node",
    "staking::stake", "staking::request_unstake", "staking::withdraw_unstaked", "staking::slash",
    "escrow::open_job", "escrow::top_up", "escrow::assign_task", "escrow::requeue_task", "escrow::submit_result",
    "escrow::requeue_unverified", "escrow::accept_task", "escrow::finalize_task", "escrow::dispute_task",
    "escrow::close_job", "attestation::attest", "attestation::abstain", "attestation::resolve_dispute",
    "rewards::fund_pool", "rewards::publish_epoch",
    "rewards::claim",
)  # fmt: skip


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def reward_leaf(epoch: int, index: int, user: str, amount: int) -> bytes:
    """``sha3_256(b"PICTOR_REWARD_LEAF" ‖ bcs(epoch) ‖ bcs(index) ‖ bcs(user) ‖ bcs(amount))``."""
    return hashlib.sha3_256(LEAF_DOMAIN + _u64(epoch) + _u64(index) + bytes.fromhex(user[2:]) + _u64(amount)).digest()


def merkle_root_and_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and per-leaf proofs of a tree whose parents are ``sha3_256(min ‖ max)`` (an odd node moves up)."""
    proofs: list[list[bytes]] = [[] for _ in leaves]
    level = [(leaf, [i]) for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        nxt = []
        for j in range(0, len(level), 2):
            if j + 1 == len(level):
                nxt.append(level[j])
                continue
            (a, ia), (b, ib) = level[j], level[j + 1]
            for i in ia:
                proofs[i].append(b)
            for i in ib:
                proofs[i].append(a)
            nxt.append((hashlib.sha3_256(min(a, b) + max(a, b)).digest(), ia + ib))
        level = nxt
    return level[0][0], proofs


@dataclass
class Node:
    """A registered node: its id, role, operator and the key its transactions are signed with."""
    node_id: int
    role: int
    operator: Account
    key: Account
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    active: bool = True


@dataclass
class Claim:
    """A published reward leaf not yet claimed."""
    epoch: int
    index: int
    user: Account
    amount: int
    proof: list[bytes]


class History:
    """Drives one localnet through a random history of real transactions (see the module docstring)."""
    def __init__(
        self,
        chain: PictorChain,
        keys: LocalnetKeys,
        *,
        seed: int = 0,
        creators: int = 6,
        workers: int = 4,
        checkers: int = 4,
    ) -> None:
        self.chain = chain
        self.pay = PictorPayloads(chain.package_address, strict=False)
        self.rng = random.Random(seed)
        self.admin, self.coordinator, self.treasury = keys.admin, keys.coordinator, keys.treasury
        self.treasury2 = generate_account()
        self.credit_signer = generate_account()
        self.creators = [generate_account() for _ in range(creators)]
        self.worker_ops = [generate_account() for _ in range(workers)]
        self.checker_ops = [generate_account() for _ in range(checkers)]
        self.nodes: list[Node] = []
        self.calls: Counter[str] = Counter()  # successful transactions per entry function
        self.failures: Counter[str] = Counter()
        self.submitted = 0
        self.quorum, self.review_window, self.unbonding = 1, 20, 30
        self.min_stake = 100 * PICTOR
        self.next_epoch = 1
        self.claims: list[Claim] = []
        self.nonces: dict[str, int] = {}
        self._claim_locks: dict[str, asyncio.Lock] = {}
        self._epoch_lock = asyncio.Lock()
        self._task_ids: Counter[int] = Counter()
        self.metadata = ""
        self._http = httpx.AsyncClient(timeout=60)

    async def close(self) -> None:
        """Close the clock-control HTTP client."""
        await self._http.aclose()

    # ------------------------------------------------------------------ plumbing

    async def send(self, name: str, sender: Account, payload: TransactionPayload) -> TxResult:
        """Submit and wait; a Move abort is recorded (failed transactions belong in the history too)."""
        self.submitted += 1
        result = await self.chain.submit_and_wait(sender, payload, check=False)
        (self.calls if result.success else self.failures)[name] += 1
        return result

    async def advance_clock(self, seconds: int) -> None:
        """Move the localnet clock (needs ``--test-clock``): review windows and unbonding end."""
        response = await self._http.post(f"{self.chain.node_url}/-/test/clock/advance", params={"seconds": seconds})
        response.raise_for_status()

    def _pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items)

    def _amount(self, low: int, high: int) -> int:
        """A random amount of PICTOR base units (not round, to catch rounding slips)."""
        return self.rng.randint(low * PICTOR, high * PICTOR) + self.rng.randint(0, 10**6)

    def _workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == ROLE_WORKER and n.active]

    def _checkers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == ROLE_CHECKER and n.active]

    def _new_task_id(self, job_id: int) -> int:
        """Task ids are the coordinator's choice (any u64): small ones, and now and then one near 2^64."""
        self._task_ids[job_id] += 1
        if self.rng.random() < 0.1:
            return U64_MAX - self.rng.randint(0, 10**6)
        return self._task_ids[job_id]

    # ------------------------------------------------------------------ setup

    async def _fund(self, accounts: list[Account], apt: int = 50 * APT) -> None:
        sem = asyncio.Semaphore(8)

        async def one(account: Account) -> None:
            async with sem:
                await self.chain.fund(account_address(account), apt)

        await asyncio.gather(*(one(a) for a in accounts))

    async def _register(self, operator: Account, role: int) -> Node | None:
        key = generate_account()
        await self._fund([key], 20 * APT)
        result = await self.send(
            "registry::register_node",
            operator,
            self.pay.registry_register_node(
                role,
                key.public_key().key.encode(),  # type: ignore[attr-defined]
                registration_proof(key, account_address(operator), role),
            ),
        )
        if not result.success:
            return None
        node = Node(result.event(NodeRegistered).node_id, role, operator, key)
        self.nodes.append(node)
        return node

    async def setup(self) -> None:
        """Fund the actors, configure the protocol, mint, stake and register the nodes."""
        self.metadata = await self.chain.views.token_metadata()
        await self._fund([*self.creators, *self.worker_ops, *self.checker_ops, self.treasury2])
        await self.send(
            "config::set_credit_signer",
            self.admin,
            self.pay.config_set_credit_signer(self.credit_signer.public_key().key.encode()),
        )  # type: ignore[attr-defined]
        await self._set_params()
        await self.send("config::set_fee_split", self.admin, self.pay.config_set_fee_split(6000, 1000))
        mints = [(c, 100_000) for c in self.creators] + [(o, 20_000) for o in self.worker_ops + self.checker_ops]
        mints.append((self.admin, 1_000_000))
        await asyncio.gather(
            *(
                self.send("token::mint", self.admin, self.pay.token_mint(account_address(a), n * PICTOR))
                for a, n in mints
            )
        )
        await asyncio.gather(
            *(
                self.send("staking::stake", op, self.pay.staking_stake(role, 10 * self.min_stake))
                for ops, role in ((self.worker_ops, ROLE_WORKER), (self.checker_ops, ROLE_CHECKER))
                for op in ops
            )
        )
        await asyncio.gather(
            *(
                self._register(op, role)
                for ops, role in ((self.worker_ops, ROLE_WORKER), (self.checker_ops, ROLE_CHECKER))
                for op in ops
            )
        )
        await asyncio.gather(
            *(self.send("vault::deposit", c, self.pay.vault_deposit(20_000 * PICTOR)) for c in self.creators)
        )

    async def _set_params(self, quorum: int | None = None, review_window: int | None = None) -> TxResult:
        quorum = self.quorum if quorum is None else quorum
        review_window = self.review_window if review_window is None else review_window
        result = await self.send(
            "config::set_params",
            self.admin,
            self.pay.config_set_params(
                quorum, self.min_stake, self.min_stake, self.unbonding, review_window, 1000, 2, 1000 * PICTOR
            ),
        )
        if result.success:
            self.quorum, self.review_window = quorum, review_window
        return result

    # ------------------------------------------------------------------ jobs and tasks

    async def open_job(self, creator: Account, budget: int) -> int | None:
        """Open a job (depositing first if the vault is short); its id or None."""
        price = self.rng.randint(1, 5) * PICTOR + self.rng.randint(0, 999)
        result = await self.send("escrow::open_job", creator, self.pay.escrow_open_job(budget, price))
        if not result.success:
            await self.send("vault::deposit", creator, self.pay.vault_deposit(budget))
            result = await self.send("escrow::open_job", creator, self.pay.escrow_open_job(budget, price))
        return result.event(JobOpened).job_id if result.success else None

    async def _attest(
        self, job_id: int, task_id: int, worker: Node, result_hash: bytes, passed: bool, exclude: set[str]
    ) -> TxResult | None:
        """Attest with enough distinct eligible checkers to reach quorum; the last result."""
        operator = account_address(worker.operator)
        candidates = [c for c in self._checkers() if account_address(c.operator) not in exclude | {operator}]
        self.rng.shuffle(candidates)
        last = None
        for checker in candidates[: self.quorum]:
            evidence = hashlib.sha3_256(b"evidence" + result_hash + _u64(checker.node_id)).digest()
            async with checker.lock:
                last = await self.send(
                    "attestation::attest",
                    checker.key,
                    self.pay.attestation_attest(job_id, task_id, result_hash, passed, evidence),
                )
            if not last.success:
                return last
            exclude.add(account_address(checker.operator))
            if last.events_of(TaskVerified) or last.events_of(TaskSettled):
                return last
        return last

    async def _abstain(self, job_id: int, task_id: int, worker: Node, result_hash: bytes) -> TxResult | None:
        """One eligible checker abstains on the result (None when there is none)."""
        operator = account_address(worker.operator)
        candidates = [c for c in self._checkers() if account_address(c.operator) != operator]
        if not candidates:
            return None
        checker = self._pick(candidates)
        evidence = hashlib.sha3_256(b"unsure" + result_hash + _u64(checker.node_id)).digest()
        async with checker.lock:
            return await self.send(
                "attestation::abstain",
                checker.key,
                self.pay.attestation_abstain(job_id, task_id, result_hash, evidence),
            )

    async def task_flow(self, creator: Account, job_id: int, outcome: str | None = None) -> None:
        """Assign, maybe requeue, submit and verify one task; ``outcome`` forces the ending (tour)."""
        outcome = (
            outcome
            or self.rng.choices(
                ["accept", "finalize", "dispute_upheld", "dispute_rejected", "fail", "requeue", "abandon", "unsure"],
                weights=[35, 15, 8, 8, 12, 12, 5, 5],
            )[0]
        )
        workers = self._workers()
        if not workers:
            return
        worker = self._pick(workers)
        task_id = self._new_task_id(job_id)
        async with worker.lock:
            if not worker.active:
                return
            quote = self._amount(5, 40)
            assigned = await self.send(
                "escrow::assign_task",
                self.coordinator,
                self.pay.escrow_assign_task(job_id, task_id, worker.node_id, quote),
            )
            if not assigned.success:
                return
            if outcome == "abandon":
                return  # still assigned: closing the job requeues it (reason 4)
            if outcome == "requeue":
                await self.send("escrow::requeue_task", self.coordinator, self.pay.escrow_requeue_task(job_id, task_id))
                assigned = await self.send(
                    "escrow::assign_task",
                    self.coordinator,
                    self.pay.escrow_assign_task(job_id, task_id, worker.node_id, quote),
                )
                if not assigned.success:
                    return
                outcome = "accept"
            result_hash = hashlib.sha256(b"frame" + _u64(job_id) + _u64(task_id) + _u64(self.submitted)).digest()
            reference_ms = self.rng.randint(1_000, 20 * 60_000)
            submitted = await self.send(
                "escrow::submit_result",
                worker.key,
                self.pay.escrow_submit_result(job_id, task_id, result_hash, reference_ms),
            )
            if not submitted.success:
                return
            assert submitted.event(ResultSubmitted).charge <= quote
            if outcome == "unsure":  # a checker cannot decide: the coordinator takes the result back, no strike
                await self._abstain(job_id, task_id, worker, result_hash)
                await self.send(
                    "escrow::requeue_unverified", self.coordinator, self.pay.escrow_requeue_unverified(job_id, task_id)
                )
                return  # queued again; the job's close leaves it there
            passers: set[str] = set()
            verdict = await self._attest(job_id, task_id, worker, result_hash, outcome != "fail", passers)
        if verdict is None or not verdict.success or outcome == "fail" or verdict.events_of(TaskSettled):
            return
        if outcome == "accept":
            await self.send("escrow::accept_task", creator, self.pay.escrow_accept_task(job_id, task_id))
        elif outcome == "finalize":
            await self.advance_clock(self.review_window + 1)
            await self.send(
                "escrow::finalize_task",
                self._pick([creator, self.coordinator, *self.worker_ops]),
                self.pay.escrow_finalize_task(job_id, task_id),
            )
        else:
            disputed = await self.send("escrow::dispute_task", creator, self.pay.escrow_dispute_task(job_id, task_id))
            if not disputed.success:
                return
            worker_op = account_address(worker.operator)
            judges = [c for c in self._checkers() if account_address(c.operator) not in passers | {worker_op}]
            if not judges:
                return
            judge = self._pick(judges)
            evidence = hashlib.sha3_256(b"dispute" + result_hash).digest()
            async with judge.lock:
                await self.send(
                    "attestation::resolve_dispute",
                    judge.key,
                    self.pay.attestation_resolve_dispute(job_id, task_id, outcome == "dispute_upheld", evidence),
                )

    async def job_flow(self, outcomes: list[str] | None = None) -> None:
        """One job: open, a few tasks (sequentially), maybe a top-up, close by the creator or coordinator.

        ``outcomes`` (the tour) fixes each task's ending and tops the job up after every task.
        """
        creator = self._pick(self.creators)
        job_id = await self.open_job(creator, self._amount(50, 300))
        if job_id is None:
            return
        for outcome in outcomes or [None] * self.rng.randint(1, 4):
            await self.task_flow(creator, job_id, outcome)
            if outcomes or self.rng.random() < 0.2:
                await self.send("escrow::top_up", creator, self.pay.escrow_top_up(job_id, self._amount(10, 50)))
        closer = creator if self.rng.random() < 0.7 else self.coordinator
        await self.send("escrow::close_job", closer, self.pay.escrow_close_job(job_id))

    # ------------------------------------------------------------------ vault, wallets, staking, registry

    async def claim_credit(self, user: Account, *, expired: bool = False) -> None:
        """A credit claim signed by the credit signer (with the user's next nonce)."""
        address = account_address(user)
        lock = self._claim_locks.setdefault(address, asyncio.Lock())
        async with lock:
            nonce = self.nonces.get(address, 0)
            amount = self._amount(1, 50)
            expires_at = 1 if expired else U64_MAX
            signature = sign_credit_claim(self.credit_signer, address, amount, nonce, expires_at)
            result = await self.send(
                "vault::claim_credit", user, self.pay.vault_claim_credit(amount, nonce, expires_at, signature)
            )
            if result.success:
                self.nonces[address] = nonce + 1

    async def vault_flow(self) -> None:
        """Deposits, withdrawals, credit claims, faucet and wallet transfers."""
        user = self._pick(self.creators + self.worker_ops + self.checker_ops)
        choice = self.rng.choice(["deposit", "withdraw", "claim", "faucet", "transfer", "apt"])
        if choice == "deposit":
            await self.send("vault::deposit", user, self.pay.vault_deposit(self._amount(1, 200)))
        elif choice == "withdraw":
            await self.send("vault::withdraw", user, self.pay.vault_withdraw(self._amount(1, 30)))
        elif choice == "claim":
            await self.claim_credit(user)
        elif choice == "faucet":
            await self.send("token::faucet", user, self.pay.token_faucet(self._amount(1, 100)))
        elif choice == "transfer":
            to = account_address(self._pick(self.creators + self.worker_ops))
            await self.send(
                "primary_fungible_store::transfer", user, pictor_transfer(self.metadata, to, self._amount(1, 20))
            )
        else:
            to = account_address(self._pick(self.creators))
            await self.send("aptos_account::transfer", user, apt_transfer(to, self.rng.randint(1, 10_000)))

    async def staking_flow(self, choice: str | None = None, role: int | None = None) -> None:
        """Stake, request unstake, withdraw after unbonding, admin slash (``role``: its first operator)."""
        if role is None:
            role, ops = self.rng.choice([(ROLE_WORKER, self.worker_ops), (ROLE_CHECKER, self.checker_ops)])
            operator = self._pick(ops)
        else:
            operator = (self.worker_ops if role == ROLE_WORKER else self.checker_ops)[0]
        choice = choice or self.rng.choice(["stake", "unstake", "unstake", "withdraw", "slash"])
        if choice == "stake":
            await self.send("staking::stake", operator, self.pay.staking_stake(role, self._amount(10, 200)))
        elif choice == "unstake":
            await self.send(
                "staking::request_unstake", operator, self.pay.staking_request_unstake(role, self._amount(1, 20))
            )
        elif choice == "withdraw":
            await self.advance_clock(self.unbonding + 1)
            await self.send("staking::withdraw_unstaked", operator, self.pay.staking_withdraw_unstaked())
        else:
            await self.send(
                "staking::slash",
                self.admin,
                self.pay.staking_slash(account_address(operator), role, self._amount(1, 60)),
            )

    async def registry_flow(self, choice: str | None = None) -> None:
        """Rotate a node key, or deregister a node and register a replacement."""
        node = self._pick(self.nodes)
        choice = choice or self.rng.choice(["rotate", "rotate", "replace"])
        async with node.lock:
            if not node.active:
                return
            if choice == "rotate":
                key = generate_account()
                await self._fund([key], 20 * APT)
                proof = registration_proof(key, account_address(node.operator), node.role)
                result = await self.send(
                    "registry::rotate_node_key",
                    node.operator,
                    self.pay.registry_rotate_node_key(node.node_id, key.public_key().key.encode(), proof),  # type: ignore[attr-defined]
                )
                if result.success:
                    node.key = key
                return
            result = await self.send(
                "registry::deregister_node", node.operator, self.pay.registry_deregister_node(node.node_id)
            )
            if result.success:
                node.active = False
        await self._register(node.operator, node.role)

    # ------------------------------------------------------------------ rewards and config

    async def rewards_flow(self, choice: str | None = None) -> None:
        """Fund the pool, publish an epoch of leaves, or claim a published leaf (now and then a bad proof)."""
        choice = choice or self.rng.choice(["fund", "publish", "claim", "claim", "claim", "bad_claim"])
        if choice in ("claim", "bad_claim") and self.claims:
            claim = self.claims.pop(self.rng.randrange(len(self.claims)))
            proof = claim.proof if choice == "claim" else [hashlib.sha3_256(b"bad").digest()]
            result = await self.send(
                "rewards::claim", claim.user, self.pay.rewards_claim(claim.epoch, claim.index, claim.amount, proof)
            )
            if not result.success and proof is not claim.proof:
                self.claims.append(claim)
            return
        if choice == "fund":
            await self.send("rewards::fund_pool", self.admin, self.pay.rewards_fund_pool(self._amount(100, 1000)))
            return
        async with self._epoch_lock:
            epoch = self.next_epoch
            users = self.rng.sample(self.creators + self.worker_ops + self.checker_ops, self.rng.randint(1, 6))
            leaves = [(i * 3 + 1, u, self._amount(1, 20)) for i, u in enumerate(users)]
            root, proofs = merkle_root_and_proofs([reward_leaf(epoch, i, account_address(u), a) for i, u, a in leaves])
            total = sum(a for _, _, a in leaves)
            result = await self.send(
                "rewards::publish_epoch", self.admin, self.pay.rewards_publish_epoch(epoch, root, total)
            )
            if not result.success:
                await self.send("rewards::fund_pool", self.admin, self.pay.rewards_fund_pool(total))
                result = await self.send(
                    "rewards::publish_epoch", self.admin, self.pay.rewards_publish_epoch(epoch, root, total)
                )
            if result.success:
                self.next_epoch += 1
                self.claims += [Claim(epoch, i, u, a, p) for (i, u, a), p in zip(leaves, proofs, strict=True)]

    async def config_flow(self, choice: str | None = None) -> None:
        """Fee split, params (quorum and review window), a short pause, treasury changes."""
        choice = choice or self.rng.choice(["fee", "params", "pause", "roles"])
        if choice == "fee":
            worker = self.rng.randint(4000, 7000)
            await self.send(
                "config::set_fee_split",
                self.admin,
                self.pay.config_set_fee_split(worker, self.rng.randint(0, 10_000 - worker)),
            )
        elif choice == "params":
            await self._set_params(self.rng.choice([1, 1, 2]), self.rng.choice([0, 20, 20]))
        elif choice == "pause":
            await self.send("config::set_paused", self.admin, self.pay.config_set_paused(True))
            await self.send("config::set_paused", self.admin, self.pay.config_set_paused(False))
        else:
            treasury = self._pick([self.treasury, self.treasury2])
            await self.send(
                "config::set_roles",
                self.admin,
                self.pay.config_set_roles(
                    account_address(self.admin), account_address(self.coordinator), account_address(treasury)
                ),
            )

    async def failing_flow(self) -> None:
        """Transactions that abort on purpose: their events must not be indexed."""
        user = self._pick(self.creators)
        choice = self.rng.choice(["withdraw", "zero_job", "bad_role", "not_admin", "expired_claim"])
        if choice == "withdraw":
            await self.send("vault::withdraw", user, self.pay.vault_withdraw(U64_MAX))
        elif choice == "zero_job":
            await self.send("escrow::open_job", user, self.pay.escrow_open_job(0, PICTOR))
        elif choice == "bad_role":
            await self.send("staking::stake", user, self.pay.staking_stake(3, PICTOR))
        elif choice == "not_admin":
            await self.send("token::mint", user, self.pay.token_mint(account_address(user), PICTOR))
        else:
            await self.claim_credit(user, expired=True)

    # ------------------------------------------------------------------ the whole history

    async def tour(self) -> None:
        """Every entry function and every money branch at least once, in a fixed order."""
        await self.job_flow(["requeue", "dispute_upheld", "fail", "finalize", "dispute_rejected", "unsure", "abandon"])
        creator = self.creators[0]
        await self.send("vault::withdraw", creator, self.pay.vault_withdraw(PICTOR))
        await self.claim_credit(creator)
        await self.send("token::faucet", creator, self.pay.token_faucet(10 * PICTOR))
        await self.staking_flow("unstake", ROLE_WORKER)
        await self.staking_flow("withdraw", ROLE_WORKER)
        await self.staking_flow("slash", ROLE_CHECKER)
        await self.registry_flow("rotate")
        await self.registry_flow("replace")
        await self.rewards_flow("fund")
        await self.rewards_flow("publish")
        await self.rewards_flow("claim")
        for choice in ("fee", "pause", "roles"):
            await self.config_flow(choice)
        await self._set_params(2, 0)  # quorum 2 and no review window: settle at once
        await self.job_flow(["accept", "fail"])
        await self._set_params(1, 20)
        await self.config_flow("roles")
        missing = [f for f in ENTRY_FUNCTIONS if not self.calls[f]]
        if missing:
            raise ChainError(f"the tour left entry functions without a successful call: {missing}")

    async def run(self, transactions: int, concurrency: int = 12) -> None:
        """Random flows from ``concurrency`` actors until ``transactions`` have been submitted in all."""
        flows = [
            self.job_flow,
            self.vault_flow,
            self.staking_flow,
            self.registry_flow,
            self.rewards_flow,
            self.config_flow,
            self.failing_flow,
        ]
        weights = [55, 14, 8, 3, 8, 2, 4]

        async def actor() -> None:
            while self.submitted < transactions:
                await self.rng.choices(flows, weights)[0]()

        await asyncio.gather(*(actor() for _ in range(concurrency)))

    async def generate(self, transactions: int, concurrency: int = 12) -> None:
        """Setup, the tour, then random flows up to ``transactions`` submitted transactions."""
        await self.setup()
        await self.tour()
        await self.run(transactions, concurrency)


class BulkHistory(History):
    """A large history fast: rounds of jobs whose tasks go assign → submit → attest (settled at once).

    Transactions of one sender are pipelined (submitted without waiting; only each sender's last one is
    awaited), so the localnet commits big blocks. Each task emits 5 pictor events (TaskAssigned,
    ResultSubmitted, Attested, TaskVerified, TaskSettled) and 6 PICTOR movements.
    """
    async def _pipeline(self, batches: dict[str, tuple[Account, list[TransactionPayload]]]) -> None:
        """Submit each sender's payloads in order without waiting, then wait for each sender's last one."""
        async def one(sender: Account, payloads: list[TransactionPayload]) -> None:
            last = None
            for payload in payloads:
                last = await self.chain.submit(sender, payload)
                self.submitted += 1
            if last is not None:
                (await self.chain.wait_for_result(last, timeout=600)).raise_for_status()

        await asyncio.gather(*(one(sender, payloads) for sender, payloads in batches.values()))

    async def bulk(self, pictor_events: int, jobs_per_round: int = 8, tasks_per_job: int = 250) -> None:
        """Rounds of jobs until about ``pictor_events`` pictor events were emitted."""
        await self._set_params(1, 0)
        creators = self.creators[:jobs_per_round]
        rounds = pictor_events // (5 * jobs_per_round * tasks_per_job) + 1
        await asyncio.gather(
            *(  # enough PICTOR for every round's deposit
                self.send(
                    "token::mint",
                    self.admin,
                    self.pay.token_mint(account_address(c), rounds * tasks_per_job * 50 * PICTOR),
                )
                for c in creators
            )
        )
        emitted = 0
        while emitted < pictor_events:
            await asyncio.gather(
                *(self.send("vault::deposit", c, self.pay.vault_deposit(tasks_per_job * 50 * PICTOR)) for c in creators)
            )
            opened = await asyncio.gather(*(self.open_job(c, tasks_per_job * 40 * PICTOR) for c in creators))
            pairs = [(c, j) for c, j in zip(creators, opened, strict=True) if j is not None]
            jobs = [j for _, j in pairs]
            if not jobs:
                raise ChainError("no job could be opened: the creators ran out of funds")
            workers, checkers = self._workers(), self._checkers()
            plan = []  # (job, task, worker, checker)
            for j, job_id in enumerate(jobs):
                for t in range(tasks_per_job):
                    worker = workers[(j + t) % len(workers)]
                    eligible = [c for c in checkers if c.operator is not worker.operator]
                    plan.append((job_id, t + 1, worker, eligible[(j * 7 + t) % len(eligible)]))
            await self._pipeline(
                {
                    "coordinator": (
                        self.coordinator,
                        [
                            self.pay.escrow_assign_task(job_id, task_id, w.node_id, 30 * PICTOR)
                            for job_id, task_id, w, _ in plan
                        ],
                    )
                }
            )
            submits: dict[str, tuple[Account, list[TransactionPayload]]] = {}
            attests: dict[str, tuple[Account, list[TransactionPayload]]] = {}
            for job_id, task_id, worker, checker in plan:
                result_hash = hashlib.sha256(b"bulk" + _u64(job_id) + _u64(task_id)).digest()
                submits.setdefault(account_address(worker.key), (worker.key, []))[1].append(
                    self.pay.escrow_submit_result(job_id, task_id, result_hash, self.rng.randint(60_000, 900_000))
                )
                attests.setdefault(account_address(checker.key), (checker.key, []))[1].append(
                    self.pay.attestation_attest(
                        job_id, task_id, result_hash, True, hashlib.sha3_256(result_hash).digest()
                    )
                )
            await self._pipeline(submits)
            await self._pipeline(attests)
            await asyncio.gather(*(self.send("escrow::close_job", c, self.pay.escrow_close_job(j)) for c, j in pairs))
            emitted += 5 * len(plan) + 2 * len(jobs)
