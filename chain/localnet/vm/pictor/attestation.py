"""`pictor::attestation`: checker verdicts per task, quorum, payout or requeue, and disputes."""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core
from chain.localnet.vm.pictor import config, escrow, registry, staking
from chain.localnet.vm.pictor.config import PICTOR

HASH_LEN = 32

ERRORS = core.error_set(
    PICTOR,
    "attestation",
    E_NOT_CHECKER=(1, "The signer is not an active checker node."),
    E_INSUFFICIENT_STAKE=(2, "The checker's operator has too little stake."),
    E_CONFLICT_OF_INTEREST=(3, "A checker cannot judge work its own operator or its attesters did."),
    E_ALREADY_ATTESTED=(4, "This node, or another node of the same operator, already attested this task."),
    E_RESULT_MISMATCH=(5, "The result hash is not the one the worker submitted."),
    E_INVALID_HASH=(6, "Hashes must be 32 bytes."),
    E_BAD_TASK_STATE=(7, "The task is not awaiting this verdict."),
)

ATTESTED = core.event_type(
    PICTOR,
    "attestation",
    "Attested",
    [
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("operator", "address"),
        ("attempt", "u64"),
        ("result_hash", "vector<u8>"),
        ("pass", "bool"),
        ("evidence_hash", "vector<u8>"),
    ],
)
ABSTAINED = core.event_type(
    PICTOR,
    "attestation",
    "Abstained",
    [
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("operator", "address"),
        ("attempt", "u64"),
        ("result_hash", "vector<u8>"),
        ("evidence_hash", "vector<u8>"),
    ],
)
DISPUTE_RESOLVED = core.event_type(
    PICTOR,
    "attestation",
    "DisputeResolved",
    [("job_id", "u64"), ("task_id", "u64"), ("node_id", "u64"), ("upheld", "bool"), ("evidence_hash", "vector<u8>")],
)


def _checker(ctx: core.TxContext) -> tuple[int, str]:
    """The signer's active checker node with enough stake: (node_id, operator)."""
    node_id = registry.node_of(ctx.state, ctx.sender)
    node = registry.get_node(ctx.state, node_id) if node_id else None
    ERRORS.check(node is not None and node["active"] and node["role"] == registry.ROLE_CHECKER, "E_NOT_CHECKER")
    assert node is not None
    operator = node["operator"]
    ERRORS.check(
        staking.active_stake(ctx.state, operator, staking.ROLE_CHECKER) >= config.param(ctx.state, "min_checker_stake"),
        "E_INSUFFICIENT_STAKE",
    )
    return node_id, operator


def init_module(ctx: core.TxContext) -> None:
    """No state of its own (the verdicts live in the escrow task)."""


def _vote(
    ctx: core.TxContext, job_id: int, task_id: int, result_hash: bytes, evidence_hash: bytes
) -> tuple[int, str, dict[str, Any]]:
    """The checks shared by `attest` and `abstain`, in order: (node_id, operator, task)."""
    node_id, operator = _checker(ctx)
    ERRORS.check(len(result_hash) == HASH_LEN and len(evidence_hash) == HASH_LEN, "E_INVALID_HASH")
    job = escrow.load_job(ctx.state, job_id)
    escrow.assert_job_open(job)
    task = escrow.load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == escrow.SUBMITTED, "E_BAD_TASK_STATE")
    ERRORS.check(operator != task["worker_operator"], "E_CONFLICT_OF_INTEREST")
    # One vote per operator: a farm of checker nodes must not reach quorum on its own.
    ERRORS.check(
        node_id not in task["attesters"]
        and all(registry.get_node(ctx.state, other)["operator"] != operator for other in task["attesters"]),
        "E_ALREADY_ATTESTED",
    )
    ERRORS.check(bytes(result_hash) == task["result_hash"], "E_RESULT_MISMATCH")
    return node_id, operator, task


@core.entry(PICTOR, "attestation", ["u64", "u64", "vector<u8>", "bool", "vector<u8>"])
def attest(
    ctx: core.TxContext, job_id: int, task_id: int, result_hash: bytes, passed: bool, evidence_hash: bytes
) -> None:
    """A checker node's verdict on a submitted result; quorum pays out or requeues."""
    node_id, operator, task = _vote(ctx, job_id, task_id, result_hash, evidence_hash)
    task["attesters"].append(node_id)
    if passed:
        task["pass_count"] += 1
        task["passers"].append(operator)
    else:
        task["fail_count"] += 1
    escrow.put_task(ctx.state, job_id, task_id, task)
    ctx.emit(
        ATTESTED,
        job_id=job_id,
        task_id=task_id,
        node_id=node_id,
        operator=operator,
        attempt=task["attempt"],
        result_hash=bytes(result_hash),
        evidence_hash=bytes(evidence_hash),
        **{"pass": bool(passed)},
    )
    quorum = config.param(ctx.state, "quorum")
    if passed and task["pass_count"] >= quorum:
        escrow.mark_verified(ctx, job_id, task_id)
    elif not passed and task["fail_count"] >= quorum:
        escrow.requeue(ctx, job_id, task_id, escrow.REQUEUE_FAILED_VERIFICATION)
        strikes = registry.strike(ctx, task["node_id"])
        if strikes >= config.param(ctx.state, "max_strikes"):
            staking.slash_bps_of_active(
                ctx, task["worker_operator"], staking.ROLE_WORKER, staking.REASON_STRIKES, job_id, task_id
            )


@core.entry(PICTOR, "attestation", ["u64", "u64", "vector<u8>", "vector<u8>"])
def abstain(ctx: core.TxContext, job_id: int, task_id: int, result_hash: bytes, evidence_hash: bytes) -> None:
    """A checker node could not decide: its operator's vote is used; the coordinator may requeue without strike."""
    node_id, operator, task = _vote(ctx, job_id, task_id, result_hash, evidence_hash)
    ctx.emit(
        ABSTAINED,
        job_id=job_id,
        task_id=task_id,
        node_id=node_id,
        operator=operator,
        attempt=task["attempt"],
        result_hash=bytes(result_hash),
        evidence_hash=bytes(evidence_hash),
    )
    task["attesters"].append(node_id)
    task["unsure_count"] = task.get("unsure_count", 0) + 1
    escrow.put_task(ctx.state, job_id, task_id, task)


@core.entry(PICTOR, "attestation", ["u64", "u64", "bool", "vector<u8>"])
def resolve_dispute(ctx: core.TxContext, job_id: int, task_id: int, uphold: bool, evidence_hash: bytes) -> None:
    """A second, independent checker decides a disputed task: slash and requeue, or settle."""
    node_id, operator = _checker(ctx)
    ERRORS.check(len(evidence_hash) == HASH_LEN, "E_INVALID_HASH")
    escrow.load_job(ctx.state, job_id)
    task = escrow.load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == escrow.DISPUTED, "E_BAD_TASK_STATE")
    ERRORS.check(operator != task["worker_operator"] and operator not in task["passers"], "E_CONFLICT_OF_INTEREST")
    ctx.emit(
        DISPUTE_RESOLVED,
        job_id=job_id,
        task_id=task_id,
        node_id=node_id,
        upheld=bool(uphold),
        evidence_hash=bytes(evidence_hash),
    )
    if uphold:
        staking.slash_bps_of_active(
            ctx, task["worker_operator"], staking.ROLE_WORKER, staking.REASON_DISPUTE, job_id, task_id
        )
        for passer in task["passers"]:
            staking.slash_bps_of_active(ctx, passer, staking.ROLE_CHECKER, staking.REASON_DISPUTE, job_id, task_id)
        escrow.requeue(ctx, job_id, task_id, escrow.REQUEUE_DISPUTE_UPHELD)
    else:
        escrow.settle(ctx, job_id, task_id)
