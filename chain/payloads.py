"""Typed builders for every entry function of the ``pictor`` package, the two transfers, and typed views.

``PictorPayloads(package_address)`` has one method per entry function of chain/SPEC.md, named
``<module>_<function>``; each validates its arguments in Python (u64 range, 32-byte hashes, roles,
non-zero amounts, parameter ranges …) and raises :class:`~chain.errors.InvalidArgument` before anything
is sent. ``strict=False`` keeps only the checks needed to encode (types and integer ranges), so tests can
send arguments the chain must reject. The Move signatures live in :data:`ENTRY_FUNCTIONS` and
:data:`VIEW_FUNCTIONS`, one table each, which the tests compare with SPEC.md.

``PictorViews`` wraps a ``view(function_id, type_args, args) -> list`` coroutine with one typed method per
``#[view]`` function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import EntryFunction, ModuleId, TransactionPayload
from aptos_sdk.type_tag import StructTag, TypeTag
from nacl.bindings import crypto_core_ed25519_is_valid_point

from chain.errors import InvalidArgument
from chain.keys import normalize_address

U8_MAX = 2**8 - 1
U64_MAX = 2**64 - 1
BPS = 10_000
ROLE_WORKER = 1
ROLE_CHECKER = 2
FRAMEWORK = "0x1"
Address = str | bytes | AccountAddress
Bytes = bytes | bytearray | str

#: Entry functions of the package: (module, function) -> Move parameters after the signer.
ENTRY_FUNCTIONS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("config", "set_roles"): (("new_admin", "address"), ("coordinator", "address"), ("treasury", "address")),
    ("config", "set_fee_split"): (("worker_bps", "u64"), ("checker_bps", "u64")),
    ("config", "set_params"): (
        ("quorum", "u64"),
        ("min_worker_stake", "u64"),
        ("min_checker_stake", "u64"),
        ("unbonding_secs", "u64"),
        ("review_window_secs", "u64"),
        ("slash_bps", "u64"),
        ("max_strikes", "u64"),
        ("faucet_max", "u64"),
    ),
    ("config", "set_credit_signer"): (("public_key", "vector<u8>"),),
    ("config", "set_paused"): (("paused", "bool"),),
    ("token", "mint"): (("to", "address"), ("amount", "u64")),
    ("token", "faucet"): (("amount", "u64"),),
    ("vault", "deposit"): (("amount", "u64"),),
    ("vault", "withdraw"): (("amount", "u64"),),
    ("vault", "claim_credit"): (
        ("amount", "u64"),
        ("nonce", "u64"),
        ("expires_at", "u64"),
        ("signature", "vector<u8>"),
    ),
    ("registry", "register_node"): (("role", "u8"), ("public_key", "vector<u8>"), ("proof", "vector<u8>")),
    ("registry", "rotate_node_key"): (("node_id", "u64"), ("public_key", "vector<u8>"), ("proof", "vector<u8>")),
    ("registry", "deregister_node"): (("node_id", "u64"),),
    ("staking", "stake"): (("role", "u8"), ("amount", "u64")),
    ("staking", "request_unstake"): (("role", "u8"), ("amount", "u64")),
    ("staking", "withdraw_unstaked"): (),
    ("staking", "slash"): (("operator", "address"), ("role", "u8"), ("amount", "u64")),
    ("escrow", "open_job"): (("budget", "u64"), ("price_per_minute", "u64")),
    ("escrow", "top_up"): (("job_id", "u64"), ("amount", "u64")),
    ("escrow", "assign_task"): (("job_id", "u64"), ("task_id", "u64"), ("node_id", "u64"), ("quote", "u64")),
    ("escrow", "requeue_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "requeue_unverified"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "submit_result"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("reference_ms", "u64"),
    ),
    ("escrow", "accept_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "finalize_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "dispute_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "close_job"): (("job_id", "u64"),),
    ("attestation", "attest"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("pass", "bool"),
        ("evidence_hash", "vector<u8>"),
    ),
    ("attestation", "abstain"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("evidence_hash", "vector<u8>"),
    ),
    ("attestation", "resolve_dispute"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("uphold", "bool"),
        ("evidence_hash", "vector<u8>"),
    ),
    ("rewards", "fund_pool"): (("amount", "u64"),),
    ("rewards", "publish_epoch"): (("epoch", "u64"), ("root", "vector<u8>"), ("total", "u64")),
    ("rewards", "claim"): (("epoch", "u64"), ("index", "u64"), ("amount", "u64"), ("proof", "vector<vector<u8>>")),
}

#: View functions of the package: (module, function) -> (Move parameters, Move return types).
VIEW_FUNCTIONS: dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    ("config", "roles"): ((), ("address", "address", "address")),
    ("config", "fee_split"): ((), ("u64", "u64")),
    ("config", "params"): ((), ("u64",) * 8),
    ("config", "is_paused"): ((), ("bool",)),
    ("config", "credit_signer"): ((), ("vector<u8>",)),
    ("token", "metadata"): ((), ("0x1::object::Object<0x1::fungible_asset::Metadata>",)),
    ("token", "balance"): ((("owner", "address"),), ("u64",)),
    ("token", "supply"): ((), ("u64",)),
    ("token", "max_supply"): ((), ("u64",)),
    ("vault", "account"): ((("user", "address"),), ("u64", "u64")),
    ("vault", "totals"): ((), ("u64", "u64")),
    ("vault", "next_claim_nonce"): ((("user", "address"),), ("u64",)),
    ("vault", "store_balance"): ((), ("u64",)),
    ("registry", "node"): ((("node_id", "u64"),), ("address", "u8", "vector<u8>", "address", "bool", "u64")),
    ("registry", "node_of_account"): ((("account", "address"),), ("u64",)),
    ("registry", "node_count"): ((), ("u64",)),
    ("staking", "stake_of"): ((("operator", "address"), ("role", "u8")), ("u64", "u64")),
    ("staking", "unbonding_requests"): (
        (("operator", "address"),),
        ("vector<u64>", "vector<u8>", "vector<u64>", "vector<u64>"),
    ),
    ("staking", "totals"): ((), ("u64", "u64")),
    ("escrow", "job"): ((("job_id", "u64"),), ("address", "u64", "u64", "u64", "u64", "u64", "bool")),
    ("escrow", "task"): (
        (("job_id", "u64"), ("task_id", "u64")),
        ("u8", "u64", "u64", "vector<u8>", "u64", "u64", "u64", "u64"),
    ),
    ("escrow", "job_store"): ((("job_id", "u64"),), ("address",)),
    ("escrow", "next_job_id"): ((), ("u64",)),
    ("rewards", "epoch"): ((("epoch", "u64"),), ("vector<u8>", "u64", "u64")),
    ("rewards", "is_claimed"): ((("epoch", "u64"), ("index", "u64")), ("bool",)),
    ("rewards", "pool"): ((), ("u64", "u64")),
    ("rewards", "next_epoch"): ((), ("u64",)),
}


# --------------------------------------------------------------------------- argument checks


def check_u64(name: str, value: Any) -> int:
    """``value`` as a u64 (int only: no bool, float or str)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise InvalidArgument(f"{name} must fit in u64, got {value}")
    return value


def check_u8(name: str, value: Any) -> int:
    """``value`` as a u8."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= U8_MAX:
        raise InvalidArgument(f"{name} must fit in u8, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool (no truthy ints)."""
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_positive(name: str, value: Any) -> int:
    """A u64 greater than zero."""
    if check_u64(name, value) == 0:
        raise InvalidArgument(f"{name} must be greater than zero")
    return value


def check_address(name: str, value: Any) -> AccountAddress:
    """An account address (hex string, 32 bytes or AccountAddress)."""
    try:
        return AccountAddress(bytes.fromhex(normalize_address(value)[2:]))
    except InvalidArgument as exc:
        raise InvalidArgument(f"{name}: {exc}") from None


def check_bytes(name: str, value: Any, length: int | None = None) -> bytes:
    """Bytes given as bytes or hex text (``0x`` optional), of exactly ``length`` bytes when given."""
    if isinstance(value, str):
        text = value[2:] if value.startswith("0x") else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise InvalidArgument(f"{name} is not hex") from None
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidArgument(f"{name} must be bytes, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise InvalidArgument(f"{name} must be {length} bytes, got {len(value)}")
    return bytes(value)


def check_role(name: str, value: Any) -> int:
    """A node role: 1 worker or 2 checker."""
    if check_u8(name, value) not in (ROLE_WORKER, ROLE_CHECKER):
        raise InvalidArgument(f"{name} must be 1 (worker) or 2 (checker), got {value}")
    return value


def check_public_key(name: str, value: Any) -> bytes:
    """A 32-byte Ed25519 public key that is a valid curve point (the chain's own check)."""
    key = check_bytes(name, value, 32)
    if not crypto_core_ed25519_is_valid_point(key):
        raise InvalidArgument(f"{name} is not a valid Ed25519 public key")
    return key


# --------------------------------------------------------------------------- encoding


def _encoder(move_type: str) -> Callable[[Serializer, Any], None]:
    """The BCS serializer of a Move argument type."""
    if move_type == "u8":
        return Serializer.u8
    if move_type == "u64":
        return Serializer.u64
    if move_type == "bool":
        return Serializer.bool
    if move_type == "address":
        return Serializer.struct
    if move_type == "vector<u8>":
        return Serializer.to_bytes
    if move_type == "vector<vector<u8>>":
        return Serializer.sequence_serializer(Serializer.to_bytes)
    raise ValueError(f"no encoder for {move_type}")


def _coerce(name: str, move_type: str, value: Any) -> Any:
    # The checks every call needs to be encodable at all, strict or not.
    """Check and convert one argument to what its Move type's serializer takes."""
    if move_type == "u8":
        return check_u8(name, value)
    if move_type == "u64":
        return check_u64(name, value)
    if move_type == "bool":
        return check_bool(name, value)
    if move_type == "address":
        return check_address(name, value)
    if move_type == "vector<u8>":
        return check_bytes(name, value)
    if move_type == "vector<vector<u8>>":
        if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
            raise InvalidArgument(f"{name} must be a list of byte strings")
        return [check_bytes(f"{name}[{i}]", v) for i, v in enumerate(value)]
    raise ValueError(f"unsupported Move type {move_type}")


def encode_args(params: Sequence[tuple[str, str]], values: Sequence[Any]) -> list[bytes]:
    """BCS-encode entry-function arguments against their Move types (InvalidArgument on a bad value)."""
    if len(params) != len(values):
        raise InvalidArgument(f"expected {len(params)} arguments, got {len(values)}")
    out: list[bytes] = []
    for (name, move_type), value in zip(params, values, strict=True):
        ser = Serializer()
        _encoder(move_type)(ser, _coerce(name, move_type, value))
        out.append(ser.output())
    return out


def _module_id(address: str, module: str) -> ModuleId:
    """The ModuleId of ``address::module``."""
    return ModuleId(AccountAddress(bytes.fromhex(normalize_address(address)[2:])), module)


def entry_payload(
    address: str,
    module: str,
    function: str,
    params: Sequence[tuple[str, str]],
    values: Sequence[Any],
    type_args: Sequence[TypeTag] = (),
) -> TransactionPayload:
    """A ``TransactionPayload`` for ``address::module::function`` with BCS arguments."""
    return TransactionPayload(
        EntryFunction(_module_id(address, module), function, list(type_args), encode_args(params, values))
    )


def apt_transfer(to: Address, amount: int) -> TransactionPayload:
    """``0x1::aptos_account::transfer(to, amount)`` (creates the recipient account if needed)."""
    return entry_payload(FRAMEWORK, "aptos_account", "transfer", (("to", "address"), ("amount", "u64")), (to, amount))


def pictor_transfer(metadata: Address, to: Address, amount: int) -> TransactionPayload:
    """``0x1::primary_fungible_store::transfer<0x1::fungible_asset::Metadata>(metadata, to, amount)``."""
    return entry_payload(
        FRAMEWORK,
        "primary_fungible_store",
        "transfer",
        (("metadata", "address"), ("recipient", "address"), ("amount", "u64")),
        (metadata, to, amount),
        (TypeTag(StructTag.from_str("0x1::fungible_asset::Metadata")),),
    )


# --------------------------------------------------------------------------- pictor entry functions


class PictorPayloads:
    """Builders for the ``pictor`` entry functions at one package address."""

    def __init__(self, package_address: str, *, strict: bool = True) -> None:
        self.package_address = normalize_address(package_address)
        self.strict = strict

    def _build(self, module: str, function: str, *values: Any) -> TransactionPayload:
        """Encode ``module::function`` of this package with its declared parameters."""
        return entry_payload(self.package_address, module, function, ENTRY_FUNCTIONS[(module, function)], values)

    def function_id(self, module: str, function: str) -> str:
        """``0x…::module::function`` for this package."""
        return f"{self.package_address}::{module}::{function}"

    # config ------------------------------------------------------------------

    def config_set_roles(self, new_admin: Address, coordinator: Address, treasury: Address) -> TransactionPayload:
        """``config::set_roles`` (admin)."""
        return self._build("config", "set_roles", new_admin, coordinator, treasury)

    def config_set_fee_split(self, worker_bps: int, checker_bps: int) -> TransactionPayload:
        """``config::set_fee_split`` (admin): shares in basis points, together at most 100%."""
        if self.strict:
            check_u64("worker_bps", worker_bps)
            check_u64("checker_bps", checker_bps)
            if worker_bps > BPS or checker_bps > BPS - worker_bps:
                raise InvalidArgument("worker_bps + checker_bps must be at most 10000")
        return self._build("config", "set_fee_split", worker_bps, checker_bps)

    def config_set_params(
        self,
        quorum: int,
        min_worker_stake: int,
        min_checker_stake: int,
        unbonding_secs: int,
        review_window_secs: int,
        slash_bps: int,
        max_strikes: int,
        faucet_max: int,
    ) -> TransactionPayload:
        """``config::set_params`` (admin)."""
        values = (
            quorum, min_worker_stake, min_checker_stake, unbonding_secs,
            review_window_secs, slash_bps, max_strikes, faucet_max,
        )  # fmt: skip
        if self.strict:
            for (name, _), value in zip(ENTRY_FUNCTIONS[("config", "set_params")], values, strict=True):
                check_u64(name, value)
            if not 1 <= quorum <= 10:
                raise InvalidArgument("quorum must be between 1 and 10")
            if unbonding_secs > 31_536_000:
                raise InvalidArgument("unbonding_secs must be at most 31536000 (one year)")
            if review_window_secs > 2_592_000:
                raise InvalidArgument("review_window_secs must be at most 2592000 (30 days)")
            if slash_bps > BPS:
                raise InvalidArgument("slash_bps must be at most 10000")
            if max_strikes < 1:
                raise InvalidArgument("max_strikes must be at least 1")
        return self._build("config", "set_params", *values)

    def config_set_credit_signer(self, public_key: Bytes) -> TransactionPayload:
        """``config::set_credit_signer`` (admin): the Ed25519 key that signs credit claims."""
        if self.strict:
            public_key = check_public_key("public_key", public_key)
        return self._build("config", "set_credit_signer", public_key)

    def config_set_paused(self, paused: bool) -> TransactionPayload:
        """``config::set_paused`` (admin)."""
        return self._build("config", "set_paused", paused)

    # token -------------------------------------------------------------------

    def token_mint(self, to: Address, amount: int) -> TransactionPayload:
        """``token::mint`` (admin): mint PICTOR into ``to``'s primary store."""
        if self.strict:
            check_positive("amount", amount)
        return self._build("token", "mint", to, amount)

    def token_faucet(self, amount: int) -> TransactionPayload:
        """``token::faucet``: mint up to the configured faucet_max PICTOR to the sender."""
        if self.strict:
            check_positive("amount", amount)
        return self._build("token", "faucet", amount)

    # vault -------------------------------------------------------------------

    def vault_deposit(self, amount: int) -> TransactionPayload:
        """``vault::deposit``: move PICTOR from the sender's wallet into its vault balance."""
        if self.strict:
            check_positive("amount", amount)
        return self._build("vault", "deposit", amount)

    def vault_withdraw(self, amount: int) -> TransactionPayload:
        """``vault::withdraw``: move withdrawable vault balance back to the sender's wallet."""
        if self.strict:
            check_positive("amount", amount)
        return self._build("vault", "withdraw", amount)

    def vault_claim_credit(self, amount: int, nonce: int, expires_at: int, signature: Bytes) -> TransactionPayload:
        """``vault::claim_credit``: redeem a credit claim signed by the credit signer."""
        if self.strict:
            check_positive("amount", amount)
            signature = check_bytes("signature", signature, 64)
        return self._build("vault", "claim_credit", amount, nonce, expires_at, signature)

    # registry ----------------------------------------------------------------

    def registry_register_node(self, role: int, public_key: Bytes, proof: Bytes) -> TransactionPayload:
        """``registry::register_node`` (operator): ``proof`` is the node key's signature (keys.registration_proof)."""
        if self.strict:
            check_role("role", role)
            public_key = check_public_key("public_key", public_key)
            proof = check_bytes("proof", proof, 64)
        return self._build("registry", "register_node", role, public_key, proof)

    def registry_rotate_node_key(self, node_id: int, public_key: Bytes, proof: Bytes) -> TransactionPayload:
        """``registry::rotate_node_key`` (operator)."""
        if self.strict:
            check_positive("node_id", node_id)
            public_key = check_public_key("public_key", public_key)
            proof = check_bytes("proof", proof, 64)
        return self._build("registry", "rotate_node_key", node_id, public_key, proof)

    def registry_deregister_node(self, node_id: int) -> TransactionPayload:
        """``registry::deregister_node`` (operator)."""
        if self.strict:
            check_positive("node_id", node_id)
        return self._build("registry", "deregister_node", node_id)

    # staking -----------------------------------------------------------------

    def staking_stake(self, role: int, amount: int) -> TransactionPayload:
        """``staking::stake`` (operator): lock PICTOR from the wallet as worker or checker stake."""
        if self.strict:
            check_role("role", role)
            check_positive("amount", amount)
        return self._build("staking", "stake", role, amount)

    def staking_request_unstake(self, role: int, amount: int) -> TransactionPayload:
        """``staking::request_unstake`` (operator): start unbonding ``amount`` of active stake."""
        if self.strict:
            check_role("role", role)
            check_positive("amount", amount)
        return self._build("staking", "request_unstake", role, amount)

    def staking_withdraw_unstaked(self) -> TransactionPayload:
        """``staking::withdraw_unstaked`` (operator): collect every unbonded request."""
        return self._build("staking", "withdraw_unstaked")

    def staking_slash(self, operator: Address, role: int, amount: int) -> TransactionPayload:
        """``staking::slash`` (admin)."""
        if self.strict:
            check_role("role", role)
            check_positive("amount", amount)
        return self._build("staking", "slash", operator, role, amount)

    # escrow ------------------------------------------------------------------

    def escrow_open_job(self, budget: int, price_per_minute: int) -> TransactionPayload:
        """``escrow::open_job`` (creator): lock ``budget`` from the vault (credit first)."""
        if self.strict:
            check_positive("budget", budget)
            check_positive("price_per_minute", price_per_minute)
        return self._build("escrow", "open_job", budget, price_per_minute)

    def escrow_top_up(self, job_id: int, amount: int) -> TransactionPayload:
        """``escrow::top_up`` (creator)."""
        if self.strict:
            check_positive("job_id", job_id)
            check_positive("amount", amount)
        return self._build("escrow", "top_up", job_id, amount)

    def escrow_assign_task(self, job_id: int, task_id: int, node_id: int, quote: int) -> TransactionPayload:
        """``escrow::assign_task`` (coordinator): reserve ``quote`` for the task on a worker node."""
        if self.strict:
            check_positive("job_id", job_id)
            check_positive("node_id", node_id)
            check_positive("quote", quote)
        return self._build("escrow", "assign_task", job_id, task_id, node_id, quote)

    def escrow_requeue_task(self, job_id: int, task_id: int) -> TransactionPayload:
        """``escrow::requeue_task`` (coordinator): an expired lease goes back to the queue."""
        if self.strict:
            check_positive("job_id", job_id)
        return self._build("escrow", "requeue_task", job_id, task_id)

    def escrow_requeue_unverified(self, job_id: int, task_id: int) -> TransactionPayload:
        """``escrow::requeue_unverified`` (coordinator): a submitted result no checker could decide, no strike."""
        if self.strict:
            check_positive("job_id", job_id)
        return self._build("escrow", "requeue_unverified", job_id, task_id)

    def escrow_submit_result(
        self, job_id: int, task_id: int, result_hash: Bytes, reference_ms: int
    ) -> TransactionPayload:
        """``escrow::submit_result`` (the assigned worker node's account)."""
        if self.strict:
            check_positive("job_id", job_id)
            result_hash = check_bytes("result_hash", result_hash, 32)
        return self._build("escrow", "submit_result", job_id, task_id, result_hash, reference_ms)

    def escrow_accept_task(self, job_id: int, task_id: int) -> TransactionPayload:
        """``escrow::accept_task`` (creator): settle a verified task before its review window ends."""
        if self.strict:
            check_positive("job_id", job_id)
        return self._build("escrow", "accept_task", job_id, task_id)

    def escrow_finalize_task(self, job_id: int, task_id: int) -> TransactionPayload:
        """``escrow::finalize_task`` (anyone): settle a verified task after its review window."""
        if self.strict:
            check_positive("job_id", job_id)
        return self._build("escrow", "finalize_task", job_id, task_id)

    def escrow_dispute_task(self, job_id: int, task_id: int) -> TransactionPayload:
        """``escrow::dispute_task`` (creator): reject a verified task inside its review window."""
        if self.strict:
            check_positive("job_id", job_id)
        return self._build("escrow", "dispute_task", job_id, task_id)

    def escrow_close_job(self, job_id: int) -> TransactionPayload:
        """``escrow::close_job`` (creator or coordinator): refund what is left to the creator's vault."""
        if self.strict:
            check_positive("job_id", job_id)
        return self._build("escrow", "close_job", job_id)

    # attestation -------------------------------------------------------------

    def attestation_attest(
        self, job_id: int, task_id: int, result_hash: Bytes, passed: bool, evidence_hash: Bytes
    ) -> TransactionPayload:
        """``attestation::attest`` (a checker node's account): the verdict on a submitted result."""
        if self.strict:
            check_positive("job_id", job_id)
            result_hash = check_bytes("result_hash", result_hash, 32)
            evidence_hash = check_bytes("evidence_hash", evidence_hash, 32)
        return self._build("attestation", "attest", job_id, task_id, result_hash, passed, evidence_hash)

    def attestation_abstain(
        self, job_id: int, task_id: int, result_hash: Bytes, evidence_hash: Bytes
    ) -> TransactionPayload:
        """``attestation::abstain`` (a checker node's account): it could not decide; uses its operator's vote."""
        if self.strict:
            check_positive("job_id", job_id)
            result_hash = check_bytes("result_hash", result_hash, 32)
            evidence_hash = check_bytes("evidence_hash", evidence_hash, 32)
        return self._build("attestation", "abstain", job_id, task_id, result_hash, evidence_hash)

    def attestation_resolve_dispute(
        self, job_id: int, task_id: int, uphold: bool, evidence_hash: Bytes
    ) -> TransactionPayload:
        """``attestation::resolve_dispute`` (a second checker node's account)."""
        if self.strict:
            check_positive("job_id", job_id)
            evidence_hash = check_bytes("evidence_hash", evidence_hash, 32)
        return self._build("attestation", "resolve_dispute", job_id, task_id, uphold, evidence_hash)

    # rewards -----------------------------------------------------------------

    def rewards_fund_pool(self, amount: int) -> TransactionPayload:
        """``rewards::fund_pool``: move PICTOR from the sender's wallet into the rewards pool."""
        if self.strict:
            check_positive("amount", amount)
        return self._build("rewards", "fund_pool", amount)

    def rewards_publish_epoch(self, epoch: int, root: Bytes, total: int) -> TransactionPayload:
        """``rewards::publish_epoch`` (admin): an epoch's Merkle root and total."""
        if self.strict:
            check_positive("epoch", epoch)
            root = check_bytes("root", root, 32)
            check_positive("total", total)
        return self._build("rewards", "publish_epoch", epoch, root, total)

    def rewards_claim(self, epoch: int, index: int, amount: int, proof: Sequence[Bytes]) -> TransactionPayload:
        """``rewards::claim``: claim leaf ``index`` of ``epoch`` with its Merkle proof (32-byte siblings)."""
        if self.strict:
            check_positive("epoch", epoch)
            check_positive("amount", amount)
            if isinstance(proof, (str, bytes, bytearray)):
                raise InvalidArgument("proof must be a list of 32-byte siblings")
            proof = [check_bytes(f"proof[{i}]", p, 32) for i, p in enumerate(proof)]
        return self._build("rewards", "claim", epoch, index, amount, proof)


# --------------------------------------------------------------------------- views


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
