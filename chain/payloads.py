"""Typed builders for every entry function of the ``pictor`` package and the two transfers.

``PictorPayloads(package_address)`` has one method per entry function of chain/SPEC.md, named
``<module>_<function>``; each validates its arguments in Python (u64 range, 32-byte hashes, roles,
non-zero amounts, parameter ranges …) and raises :class:`~chain.errors.InvalidArgument` before anything
is sent. ``strict=False`` keeps only the checks needed to encode (types and integer ranges), so tests can
send arguments the chain must reject. The Move signatures live in :mod:`chain.abi`, the argument checks
in :mod:`chain.arguments`.

The typed views (:class:`PictorViews`, the result dataclasses, the ``TASK_*`` states) live in
:mod:`chain.views`; the names other packages take from here are re-exported below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import EntryFunction, ModuleId, TransactionPayload
from aptos_sdk.type_tag import StructTag, TypeTag

from chain.abi import ENTRY_FUNCTIONS
from chain.arguments import (
    Address,
    Bytes,
    check_bytes,
    check_positive,
    check_public_key,
    check_role,
    check_u64,
    encode_args,
)
from chain.errors import InvalidArgument
from chain.keys import ROLE_CHECKER, ROLE_WORKER, normalize_address
from chain.views import (
    TASK_ASSIGNED,
    TASK_DISPUTED,
    TASK_QUEUED,
    TASK_SETTLED,
    TASK_SUBMITTED,
    TASK_VERIFIED,
    PictorViews,
)

BPS = 10_000
FRAMEWORK = "0x1"

# ROLE_*, TASK_* and PictorViews are re-exported: other packages import them from here.
__all__ = [
    "ROLE_CHECKER",
    "ROLE_WORKER",
    "TASK_ASSIGNED",
    "TASK_DISPUTED",
    "TASK_QUEUED",
    "TASK_SETTLED",
    "TASK_SUBMITTED",
    "TASK_VERIFIED",
    "PictorPayloads",
    "PictorViews",
    "apt_transfer",
    "entry_payload",
    "pictor_transfer",
]


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

    def registry_register_node_cosigned(self, role: int, public_key: Bytes) -> TransactionPayload:
        """``registry::register_node_cosigned`` (operator): send it as a multi-agent transaction whose secondary
        signer is the node account, ``public_key`` being that account's current key."""
        if self.strict:
            check_role("role", role)
            public_key = check_public_key("public_key", public_key)
        return self._build("registry", "register_node_cosigned", role, public_key)

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
