"""Typed ``#[view]`` calls of the ``pictor`` package: one dataclass per multi-value result, decoded by Move type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aptos_sdk.account_address import AccountAddress

from chain.abi import VIEW_FUNCTIONS
from chain.arguments import Address, check_u8, check_u64
from chain.errors import InvalidArgument
from chain.keys import normalize_address


@dataclass(frozen=True)
class Roles:
    """``config::roles``."""

    admin: str
    coordinator: str
    treasury: str


@dataclass(frozen=True)
class FeeSplit:
    """``config::fee_split`` in basis points."""

    worker_bps: int
    checker_bps: int


@dataclass(frozen=True)
class Params:
    """``config::params`` (ParamsUpdated order)."""

    quorum: int
    min_worker_stake: int
    min_checker_stake: int
    unbonding_secs: int
    review_window_secs: int
    slash_bps: int
    max_strikes: int
    faucet_max: int


@dataclass(frozen=True)
class VaultAccount:
    """``vault::account``: promotional credit and withdrawable balance."""

    credit: int
    balance: int


@dataclass(frozen=True)
class VaultTotals:
    """``vault::totals``."""

    total_credit: int
    total_balance: int


@dataclass(frozen=True)
class NodeInfo:
    """``registry::node``."""

    operator: str
    role: int
    public_key: bytes
    account: str
    active: bool
    strikes: int


@dataclass(frozen=True)
class StakeInfo:
    """``staking::stake_of``: active and unbonding stake of one role."""

    active: int
    unbonding: int


@dataclass(frozen=True)
class UnbondRequest:
    """One entry of ``staking::unbonding_requests``."""

    request_id: int
    role: int
    amount: int
    release_at: int


@dataclass(frozen=True)
class StakingTotals:
    """``staking::totals``."""

    active: int
    unbonding: int


@dataclass(frozen=True)
class JobInfo:
    """``escrow::job``."""

    creator: str
    budget: int
    credit_in: int
    spent: int
    reserved: int
    price_per_minute: int
    closed: bool

    @property
    def remaining(self) -> int:
        """What the escrow store holds: budget − spent."""
        return self.budget - self.spent

    @property
    def available(self) -> int:
        """What new quotes can still reserve: budget − spent − reserved."""
        return self.budget - self.spent - self.reserved


@dataclass(frozen=True)
class TaskInfo:
    """``escrow::task`` (state 0 QUEUED, 1 ASSIGNED, 2 SUBMITTED, 3 VERIFIED, 4 SETTLED, 5 DISPUTED)."""

    state: int
    node_id: int
    quote: int
    result_hash: bytes
    charge: int
    attempt: int
    review_deadline: int
    pass_count: int


@dataclass(frozen=True)
class EpochInfo:
    """``rewards::epoch``."""

    root: bytes
    total: int
    claimed: int


@dataclass(frozen=True)
class RewardPool:
    """``rewards::pool``: pool store balance and what published epochs still owe."""

    balance: int
    allocated: int


#: The ``state`` of an ``escrow`` task (:class:`TaskInfo`).
TASK_QUEUED, TASK_ASSIGNED, TASK_SUBMITTED, TASK_VERIFIED, TASK_SETTLED, TASK_DISPUTED = range(6)


def decode_view_value(move_type: str, value: Any) -> Any:
    """One JSON view result as a Python value (u64 strings → int, hex → bytes, Object → address)."""
    if move_type in ("u8", "u16", "u32", "u64", "u128", "u256"):
        return int(value)
    if move_type == "bool":
        return bool(value)
    if move_type == "address":
        return normalize_address(value)
    if move_type.startswith("0x1::object::Object<"):
        return normalize_address(value["inner"] if isinstance(value, dict) else value)
    if move_type == "vector<u8>":
        if isinstance(value, list):
            return bytes(int(v) for v in value)
        text = str(value)
        return bytes.fromhex(text[2:] if text.startswith("0x") else text)
    if move_type.startswith("vector<"):
        inner = move_type[len("vector<") : -1]
        return [decode_view_value(inner, v) for v in value]
    raise ValueError(f"unsupported view return type {move_type}")


def encode_view_arg(move_type: str, name: str, value: Any) -> Any:
    """One view argument as the node's JSON wants it (u64 as a decimal string, address as hex)."""
    if move_type == "u8":
        return check_u8(name, value)
    if move_type == "u64":
        return str(check_u64(name, value))
    if move_type == "address":
        return normalize_address(value) if not isinstance(value, AccountAddress) else "0x" + value.address.hex()
    raise ValueError(f"unsupported view argument type {move_type}")


ViewCaller = Callable[[str, list[str], list[Any]], Awaitable[list[Any]]]


class PictorViews:
    """Typed ``#[view]`` calls of the package over a ``view(function_id, type_args, args)`` coroutine."""

    def __init__(self, package_address: str, view: ViewCaller) -> None:
        self.package_address = normalize_address(package_address)
        self._view = view

    async def call(self, module: str, function: str, *args: Any) -> list[Any]:
        """Call ``module::function`` and decode its results by the declared Move return types."""
        params, returns = VIEW_FUNCTIONS[(module, function)]
        if len(args) != len(params):
            raise InvalidArgument(f"{module}::{function} takes {len(params)} arguments, got {len(args)}")
        json_args = [encode_view_arg(t, n, v) for (n, t), v in zip(params, args, strict=True)]
        raw = await self._view(f"{self.package_address}::{module}::{function}", [], json_args)
        if len(raw) != len(returns):
            raise ValueError(f"{module}::{function} returned {len(raw)} values, expected {len(returns)}")
        return [decode_view_value(t, v) for t, v in zip(returns, raw, strict=True)]

    # config
    async def roles(self) -> Roles:
        """Admin, coordinator and treasury addresses."""
        return Roles(*await self.call("config", "roles"))

    async def fee_split(self) -> FeeSplit:
        """Worker and checker shares in basis points."""
        return FeeSplit(*await self.call("config", "fee_split"))

    async def params(self) -> Params:
        """Protocol parameters."""
        return Params(*await self.call("config", "params"))

    async def is_paused(self) -> bool:
        """Whether the protocol is paused."""
        return (await self.call("config", "is_paused"))[0]

    async def credit_signer(self) -> bytes:
        """The credit signer's public key (empty when claims are disabled)."""
        return (await self.call("config", "credit_signer"))[0]

    # token
    async def token_metadata(self) -> str:
        """The PICTOR metadata object address."""
        return (await self.call("token", "metadata"))[0]

    async def token_balance(self, owner: Address) -> int:
        """PICTOR in ``owner``'s primary store."""
        return (await self.call("token", "balance", owner))[0]

    async def token_supply(self) -> int:
        """PICTOR supply."""
        return (await self.call("token", "supply"))[0]

    async def token_max_supply(self) -> int:
        """PICTOR maximum supply."""
        return (await self.call("token", "max_supply"))[0]

    # vault
    async def vault_account(self, user: Address) -> VaultAccount:
        """``user``'s vault credit and balance."""
        return VaultAccount(*await self.call("vault", "account", user))

    async def vault_totals(self) -> VaultTotals:
        """Total credit and balance held by the vault."""
        return VaultTotals(*await self.call("vault", "totals"))

    async def vault_next_claim_nonce(self, user: Address) -> int:
        """The nonce ``user``'s next credit claim must carry."""
        return (await self.call("vault", "next_claim_nonce", user))[0]

    async def vault_store_balance(self) -> int:
        """PICTOR in the vault's store."""
        return (await self.call("vault", "store_balance"))[0]

    # registry
    async def node(self, node_id: int) -> NodeInfo:
        """A registered node."""
        return NodeInfo(*await self.call("registry", "node", node_id))

    async def node_of_account(self, account: Address) -> int:
        """The node whose current account this is (0 if none)."""
        return (await self.call("registry", "node_of_account", account))[0]

    async def node_count(self) -> int:
        """How many nodes were ever registered."""
        return (await self.call("registry", "node_count"))[0]

    # staking
    async def stake_of(self, operator: Address, role: int) -> StakeInfo:
        """Active and unbonding stake of ``operator`` in ``role``."""
        return StakeInfo(*await self.call("staking", "stake_of", operator, role))

    async def unbonding_requests(self, operator: Address) -> list[UnbondRequest]:
        """``operator``'s pending unbonding requests."""
        ids, roles, amounts, release = await self.call("staking", "unbonding_requests", operator)
        return [UnbondRequest(*row) for row in zip(ids, roles, amounts, release, strict=True)]

    async def staking_totals(self) -> StakingTotals:
        """Total active and unbonding stake."""
        return StakingTotals(*await self.call("staking", "totals"))

    # escrow
    async def job(self, job_id: int) -> JobInfo:
        """A job's escrow figures."""
        return JobInfo(*await self.call("escrow", "job", job_id))

    async def task(self, job_id: int, task_id: int) -> TaskInfo:
        """A task of a job."""
        return TaskInfo(*await self.call("escrow", "task", job_id, task_id))

    async def job_store(self, job_id: int) -> str:
        """The address of a job's escrow store."""
        return (await self.call("escrow", "job_store", job_id))[0]

    async def next_job_id(self) -> int:
        """The id the next job will get."""
        return (await self.call("escrow", "next_job_id"))[0]

    # rewards
    async def epoch(self, epoch: int) -> EpochInfo:
        """A published reward epoch."""
        return EpochInfo(*await self.call("rewards", "epoch", epoch))

    async def is_claimed(self, epoch: int, index: int) -> bool:
        """Whether leaf ``index`` of ``epoch`` was claimed."""
        return (await self.call("rewards", "is_claimed", epoch, index))[0]

    async def reward_pool(self) -> RewardPool:
        """Rewards pool balance and allocation."""
        return RewardPool(*await self.call("rewards", "pool"))

    async def next_epoch(self) -> int:
        """The number the next published epoch must have."""
        return (await self.call("rewards", "next_epoch"))[0]
