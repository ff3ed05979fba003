"""`pictor::escrow`: one escrow per job, its budget, price per reference-GPU-minute and task states."""

from __future__ import annotations

import bisect
from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import config, registry, staking, token, vault
from chain.localnet.vm.pictor.config import PICTOR, SHORT

ESCROW_TAG = f"{SHORT}::escrow::Escrow"
STORE_SEED_PREFIX = b"pictor::escrow"
HASH_LEN = 32
MS_PER_MINUTE = 60_000

QUEUED = 0
ASSIGNED = 1
SUBMITTED = 2
VERIFIED = 3
SETTLED = 4
DISPUTED = 5

REQUEUE_LEASE_EXPIRED = 1
REQUEUE_FAILED_VERIFICATION = 2
REQUEUE_DISPUTE_UPHELD = 3
REQUEUE_JOB_CLOSED = 4
REQUEUE_UNVERIFIABLE = 5

ERRORS = core.error_set(
    PICTOR,
    "escrow",
    E_ZERO_AMOUNT=(1, "Amount must be greater than zero."),
    E_JOB_NOT_FOUND=(2, "No job has this id."),
    E_NOT_CREATOR=(3, "The signer is not the job's creator."),
    E_NOT_COORDINATOR=(4, "The signer is not the coordinator."),
    E_JOB_CLOSED=(5, "The job is closed."),
    E_INSUFFICIENT_ESCROW=(6, "The escrow cannot cover this task's quote."),
    E_TASK_NOT_FOUND=(7, "No task has this id in the job."),
    E_BAD_TASK_STATE=(8, "The task is not in a state that allows this."),
    E_NOT_ASSIGNED_NODE=(9, "The signer is not the node the task is assigned to."),
    E_INVALID_HASH=(10, "A result hash must be 32 bytes."),
    E_REVIEW_WINDOW_OPEN=(11, "The review window has not ended."),
    E_REVIEW_WINDOW_CLOSED=(12, "The review window has ended."),
    E_TASKS_IN_FLIGHT=(13, "Tasks are submitted or under review; settle them first."),
    E_NODE_NOT_ELIGIBLE=(14, "The node is not an active worker with enough stake."),
    E_INVALID_PRICE=(15, "Price per minute must be greater than zero."),
    E_NOT_UNVERIFIABLE=(16, "No checker abstained and the task was submitted less than a review window ago."),
)

JOB_OPENED = core.event_type(
    PICTOR,
    "escrow",
    "JobOpened",
    [
        ("job_id", "u64"),
        ("creator", "address"),
        ("budget", "u64"),
        ("credit_used", "u64"),
        ("balance_used", "u64"),
        ("price_per_minute", "u64"),
        ("store", "address"),
    ],
)
JOB_TOPPED_UP = core.event_type(
    PICTOR,
    "escrow",
    "JobToppedUp",
    [("job_id", "u64"), ("amount", "u64"), ("credit_used", "u64"), ("balance_used", "u64"), ("budget", "u64")],
)
TASK_ASSIGNED = core.event_type(
    PICTOR,
    "escrow",
    "TaskAssigned",
    [
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("worker_operator", "address"),
        ("quote", "u64"),
        ("attempt", "u64"),
    ],
)
TASK_REQUEUED = core.event_type(
    PICTOR, "escrow", "TaskRequeued", [("job_id", "u64"), ("task_id", "u64"), ("node_id", "u64"), ("reason", "u8")]
)
RESULT_SUBMITTED = core.event_type(
    PICTOR,
    "escrow",
    "ResultSubmitted",
    [
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("reference_ms", "u64"),
        ("charge", "u64"),
    ],
)
TASK_VERIFIED = core.event_type(
    PICTOR,
    "escrow",
    "TaskVerified",
    [("job_id", "u64"), ("task_id", "u64"), ("charge", "u64"), ("review_deadline", "u64")],
)
TASK_DISPUTED = core.event_type(
    PICTOR, "escrow", "TaskDisputed", [("job_id", "u64"), ("task_id", "u64"), ("node_id", "u64")]
)
TASK_SETTLED = core.event_type(
    PICTOR,
    "escrow",
    "TaskSettled",
    [
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("node_id", "u64"),
        ("charge", "u64"),
        ("worker_operator", "address"),
        ("worker_amount", "u64"),
        ("checkers", "vector<address>"),
        ("checker_amount", "u64"),
        ("treasury", "address"),
        ("treasury_amount", "u64"),
    ],
)
JOB_CLOSED = core.event_type(
    PICTOR,
    "escrow",
    "JobClosed",
    [("job_id", "u64"), ("spent", "u64"), ("refund_credit", "u64"), ("refund_balance", "u64")],
)


# --------------------------------------------------------------------------- state access


def escrow_key() -> str:
    """State key of the `Escrow` resource."""
    return core.resource_key(PICTOR, ESCROW_TAG)


def jobs_handle() -> str:
    """Handle of `Escrow.jobs`."""
    return core.table_handle(PICTOR, "escrow.jobs")


def tasks_handle(job_id: int) -> str:
    """Handle of `Job.tasks` of one job."""
    return core.table_handle(PICTOR, f"escrow.jobs.{job_id}.tasks")


def escrow_root_address() -> str:
    """The escrow root object (named object of `@pictor`, seed `b"pictor::escrow"`) that owns every job store."""
    return core.object_address_from_seed(PICTOR, STORE_SEED_PREFIX)


def job_store_address(job_id: int) -> str:
    """The job's store: named object of the escrow root, seed `b"pictor::escrow" ‖ bcs(job_id)`.

    Move can only sign for `@pictor` inside `init_module`, so job stores hang off a root object.
    """
    return core.object_address_from_seed(escrow_root_address(), STORE_SEED_PREFIX + config.bcs_u64(job_id))


def _job_key(job_id: int) -> str:
    return core.table_key(jobs_handle(), job_id)


def _task_key(job_id: int, task_id: int) -> str:
    return core.table_key(tasks_handle(job_id), task_id)


def get_job(state: core.Overlay, job_id: int) -> dict[str, Any] | None:
    """A copy of the job, or None."""
    return state.get(_job_key(job_id))


def get_task(state: core.Overlay, job_id: int, task_id: int) -> dict[str, Any] | None:
    """A copy of the task, or None."""
    return state.get(_task_key(job_id, task_id))


def put_job(state: core.Overlay, job_id: int, job: dict[str, Any]) -> None:
    """Write a job back."""
    state.put(_job_key(job_id), job)


def put_task(state: core.Overlay, job_id: int, task_id: int, task: dict[str, Any]) -> None:
    """Write a task back."""
    state.put(_task_key(job_id, task_id), task)


def load_job(state: core.Overlay, job_id: int) -> dict[str, Any]:
    """The job (E_JOB_NOT_FOUND)."""
    job = get_job(state, job_id)
    ERRORS.check(job is not None, "E_JOB_NOT_FOUND")
    assert job is not None
    return job


def load_task(state: core.Overlay, job_id: int, task_id: int) -> dict[str, Any]:
    """The task (E_TASK_NOT_FOUND)."""
    task = get_task(state, job_id, task_id)
    ERRORS.check(task is not None, "E_TASK_NOT_FOUND")
    assert task is not None
    return task


def assert_job_open(job: dict[str, Any]) -> None:
    """E_JOB_CLOSED when the job is closed."""
    ERRORS.check(not job["closed"], "E_JOB_CLOSED")


def available(job: dict[str, Any]) -> int:
    """budget − spent − reserved."""
    return job["budget"] - job["spent"] - job["reserved"]


def credit_left(job: dict[str, Any]) -> int:
    """Credit locked in the job not yet consumed by charges."""
    return job["credit_in"] - min(job["credit_in"], job["spent"])


def compute_charge(quote: int, reference_ms: int, price_per_minute: int) -> int:
    """min(quote, ceil(reference_ms × price_per_minute / 60000)), as u128 math."""
    return min(quote, (reference_ms * price_per_minute + MS_PER_MINUTE - 1) // MS_PER_MINUTE)


def _new_task() -> dict[str, Any]:
    return {
        "state": QUEUED,
        "node_id": 0,
        "worker_operator": core.norm_addr("0x0"),
        "quote": 0,
        "result_hash": b"",
        "reference_ms": 0,
        "charge": 0,
        "attempt": 0,
        "review_deadline": 0,
        "attesters": [],
        "passers": [],
        "pass_count": 0,
        "fail_count": 0,
        "unsure_count": 0,
        "submitted_at": 0,
        "disputed_at": 0,
    }


# --------------------------------------------------------------------------- friend operations


def requeue(ctx: core.TxContext, job_id: int, task_id: int, reason: int) -> None:
    """Release the task's reservation and put it back in the queue (`TaskRequeued`)."""
    job = load_job(ctx.state, job_id)
    task = load_task(ctx.state, job_id, task_id)
    job["reserved"] -= task["quote"]
    task["state"] = QUEUED
    put_job(ctx.state, job_id, job)
    put_task(ctx.state, job_id, task_id, task)
    ctx.emit(TASK_REQUEUED, job_id=job_id, task_id=task_id, node_id=task["node_id"], reason=reason)


def mark_verified(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """Quorum passed: open the review window (`TaskVerified`), or settle at once when it is 0."""
    task = load_task(ctx.state, job_id, task_id)
    window = config.param(ctx.state, "review_window_secs")
    deadline = ctx.now_seconds() + window
    task["state"] = VERIFIED
    task["review_deadline"] = deadline
    put_task(ctx.state, job_id, task_id, task)
    ctx.emit(TASK_VERIFIED, job_id=job_id, task_id=task_id, charge=task["charge"], review_deadline=deadline)
    if window == 0:
        settle(ctx, job_id, task_id)


def settle(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """Pay the charge: worker share, equal checker shares to the passers, the rest to the treasury."""
    job = load_job(ctx.state, job_id)
    task = load_task(ctx.state, job_id, task_id)
    cfg = config.get_config(ctx.state)
    charge = task["charge"]
    passers: list[str] = task["passers"]
    worker_amount = charge * cfg["worker_share_bps"] // config.BPS
    checker_total = charge * cfg["checker_share_bps"] // config.BPS
    each = checker_total // len(passers) if passers else 0
    treasury_amount = charge - worker_amount - each * len(passers)
    treasury = cfg["treasury"]
    store = job["store"]
    vault.pay(ctx, store, task["worker_operator"], worker_amount, False)
    for passer in passers:
        vault.pay(ctx, store, passer, each, False)
    vault.pay(ctx, store, treasury, treasury_amount, False)
    job["spent"] += charge
    job["reserved"] -= task["quote"]
    task["state"] = SETTLED
    put_job(ctx.state, job_id, job)
    put_task(ctx.state, job_id, task_id, task)
    ctx.emit(
        TASK_SETTLED,
        job_id=job_id,
        task_id=task_id,
        node_id=task["node_id"],
        charge=charge,
        worker_operator=task["worker_operator"],
        worker_amount=worker_amount,
        checkers=list(passers),
        checker_amount=each,
        treasury=treasury,
        treasury_amount=treasury_amount,
    )


# --------------------------------------------------------------------------- init & entry functions


def init_module(ctx: core.TxContext) -> None:
    """Create the `Escrow` resource."""
    ctx.state.put(escrow_key(), {"jobs": {"handle": jobs_handle()}, "next_job_id": 1})


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def open_job(ctx: core.TxContext, budget: int, price_per_minute: int) -> None:
    """Open a job: create its store and lock `budget` from the signer's vault funds (credit first)."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(budget > 0, "E_ZERO_AMOUNT")
    ERRORS.check(price_per_minute > 0, "E_INVALID_PRICE")
    creator = core.norm_addr(ctx.sender)
    escrow = ctx.state.get(escrow_key())
    job_id = escrow["next_job_id"]
    escrow["next_job_id"] = job_id + 1
    ctx.state.put(escrow_key(), escrow)
    store = job_store_address(job_id)
    framework.create_store(ctx, store, escrow_root_address(), token.metadata_address())
    credit_used, balance_used = vault.lock_for_job(ctx, creator, budget, store)
    job = {
        "creator": creator,
        "store": store,
        "budget": budget,
        "credit_in": credit_used,
        "spent": 0,
        "reserved": 0,
        "price_per_minute": price_per_minute,
        "closed": False,
        "tasks": {"handle": tasks_handle(job_id)},
        "task_ids": [],
    }
    put_job(ctx.state, job_id, job)
    ctx.emit(
        JOB_OPENED,
        job_id=job_id,
        creator=creator,
        budget=budget,
        credit_used=credit_used,
        balance_used=balance_used,
        price_per_minute=price_per_minute,
        store=store,
    )


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def top_up(ctx: core.TxContext, job_id: int, amount: int) -> None:
    """Lock more of the creator's vault funds into the job."""
    config.assert_not_paused(ctx.state)
    job = load_job(ctx.state, job_id)
    creator = core.norm_addr(ctx.sender)
    ERRORS.check(job["creator"] == creator, "E_NOT_CREATOR")
    assert_job_open(job)
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    credit_used, balance_used = vault.lock_for_job(ctx, creator, amount, job["store"])
    job["budget"] += amount
    job["credit_in"] += credit_used
    put_job(ctx.state, job_id, job)
    ctx.emit(
        JOB_TOPPED_UP,
        job_id=job_id,
        amount=amount,
        credit_used=credit_used,
        balance_used=balance_used,
        budget=job["budget"],
    )


@core.entry(PICTOR, "escrow", ["u64", "u64", "u64", "u64"])
def assign_task(ctx: core.TxContext, job_id: int, task_id: int, node_id: int, quote: int) -> None:
    """Coordinator assigns a (new or queued) task to an eligible worker node, reserving its quote."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(core.norm_addr(ctx.sender) == config.coordinator(ctx.state), "E_NOT_COORDINATOR")
    job = load_job(ctx.state, job_id)
    assert_job_open(job)
    ERRORS.check(quote > 0, "E_ZERO_AMOUNT")
    task = get_task(ctx.state, job_id, task_id)
    ERRORS.check(task is None or task["state"] == QUEUED, "E_BAD_TASK_STATE")
    node = registry.get_node(ctx.state, node_id)
    ERRORS.check(
        node is not None
        and node["active"]
        and node["role"] == registry.ROLE_WORKER
        and staking.active_stake(ctx.state, node["operator"], staking.ROLE_WORKER)
        >= config.param(ctx.state, "min_worker_stake"),
        "E_NODE_NOT_ELIGIBLE",
    )
    assert node is not None
    ERRORS.check(quote <= available(job), "E_INSUFFICIENT_ESCROW")
    job["reserved"] += quote
    if task is None:
        bisect.insort(job["task_ids"], task_id)
        attempt = 1
    else:
        attempt = task["attempt"] + 1
    task = _new_task()
    task.update(state=ASSIGNED, node_id=node_id, worker_operator=node["operator"], quote=quote, attempt=attempt)
    put_job(ctx.state, job_id, job)
    put_task(ctx.state, job_id, task_id, task)
    ctx.emit(
        TASK_ASSIGNED,
        job_id=job_id,
        task_id=task_id,
        node_id=node_id,
        worker_operator=node["operator"],
        quote=quote,
        attempt=attempt,
    )


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def requeue_task(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """Coordinator puts an assigned task back in the queue (lease expired)."""
    ERRORS.check(core.norm_addr(ctx.sender) == config.coordinator(ctx.state), "E_NOT_COORDINATOR")
    load_job(ctx.state, job_id)
    task = load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == ASSIGNED, "E_BAD_TASK_STATE")
    requeue(ctx, job_id, task_id, REQUEUE_LEASE_EXPIRED)


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def requeue_unverified(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """Coordinator puts back a submitted result no checker could decide: no strike, no charge."""
    ERRORS.check(core.norm_addr(ctx.sender) == config.coordinator(ctx.state), "E_NOT_COORDINATOR")
    load_job(ctx.state, job_id)
    task = load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == SUBMITTED, "E_BAD_TASK_STATE")
    window = config.param(ctx.state, "review_window_secs")
    ERRORS.check(
        task.get("unsure_count", 0) >= 1 or ctx.now_seconds() >= task.get("submitted_at", 0) + window,
        "E_NOT_UNVERIFIABLE",
    )
    requeue(ctx, job_id, task_id, REQUEUE_UNVERIFIABLE)


@core.entry(PICTOR, "escrow", ["u64", "u64", "vector<u8>", "u64"])
def submit_result(ctx: core.TxContext, job_id: int, task_id: int, result_hash: bytes, reference_ms: int) -> None:
    """The assigned node submits its result hash and measured reference-GPU milliseconds."""
    job = load_job(ctx.state, job_id)
    assert_job_open(job)
    task = load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == ASSIGNED, "E_BAD_TASK_STATE")
    ERRORS.check(registry.node_of(ctx.state, ctx.sender) == task["node_id"], "E_NOT_ASSIGNED_NODE")
    ERRORS.check(len(result_hash) == HASH_LEN, "E_INVALID_HASH")
    charge = compute_charge(task["quote"], reference_ms, job["price_per_minute"])
    task["state"] = SUBMITTED
    task["result_hash"] = bytes(result_hash)
    task["reference_ms"] = reference_ms
    task["charge"] = charge
    task["submitted_at"] = ctx.now_seconds()
    put_task(ctx.state, job_id, task_id, task)
    ctx.emit(
        RESULT_SUBMITTED,
        job_id=job_id,
        task_id=task_id,
        node_id=task["node_id"],
        result_hash=bytes(result_hash),
        reference_ms=reference_ms,
        charge=charge,
    )


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def accept_task(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """The creator accepts a verified task before its review window ends: settle now."""
    job = load_job(ctx.state, job_id)
    ERRORS.check(job["creator"] == core.norm_addr(ctx.sender), "E_NOT_CREATOR")
    task = load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == VERIFIED, "E_BAD_TASK_STATE")
    settle(ctx, job_id, task_id)


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def finalize_task(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """Anyone settles a verified task once its review window has ended, or a disputed one that no checker resolved
    within a review window (the verified result stands)."""
    load_job(ctx.state, job_id)
    task = load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] in (VERIFIED, DISPUTED), "E_BAD_TASK_STATE")
    if task["state"] == VERIFIED:
        due = task["review_deadline"]
    else:
        due = task.get("disputed_at", 0) + config.param(ctx.state, "review_window_secs")
    ERRORS.check(ctx.now_seconds() >= due, "E_REVIEW_WINDOW_OPEN")
    settle(ctx, job_id, task_id)


@core.entry(PICTOR, "escrow", ["u64", "u64"])
def dispute_task(ctx: core.TxContext, job_id: int, task_id: int) -> None:
    """The creator rejects a verified task inside its review window."""
    job = load_job(ctx.state, job_id)
    ERRORS.check(job["creator"] == core.norm_addr(ctx.sender), "E_NOT_CREATOR")
    task = load_task(ctx.state, job_id, task_id)
    ERRORS.check(task["state"] == VERIFIED, "E_BAD_TASK_STATE")
    ERRORS.check(ctx.now_seconds() < task["review_deadline"], "E_REVIEW_WINDOW_CLOSED")
    task["state"] = DISPUTED
    task["disputed_at"] = ctx.now_seconds()
    put_task(ctx.state, job_id, task_id, task)
    ctx.emit(TASK_DISPUTED, job_id=job_id, task_id=task_id, node_id=task["node_id"])


@core.entry(PICTOR, "escrow", ["u64"])
def close_job(ctx: core.TxContext, job_id: int) -> None:
    """Creator or coordinator closes a job: requeue assigned tasks and refund what is left."""
    job = load_job(ctx.state, job_id)
    caller = core.norm_addr(ctx.sender)
    ERRORS.check(caller == job["creator"] or caller == config.coordinator(ctx.state), "E_NOT_CREATOR")
    assert_job_open(job)
    tasks = [(task_id, load_task(ctx.state, job_id, task_id)) for task_id in job["task_ids"]]
    ERRORS.check(all(t["state"] not in (SUBMITTED, VERIFIED, DISPUTED) for _, t in tasks), "E_TASKS_IN_FLIGHT")
    for task_id, task in tasks:
        if task["state"] == ASSIGNED:
            task["state"] = QUEUED
            put_task(ctx.state, job_id, task_id, task)
            ctx.emit(TASK_REQUEUED, job_id=job_id, task_id=task_id, node_id=task["node_id"], reason=REQUEUE_JOB_CLOSED)
    job["reserved"] = 0
    remaining = job["budget"] - job["spent"]
    refund_credit = min(remaining, credit_left(job))
    refund_balance = remaining - refund_credit
    vault.pay(ctx, job["store"], job["creator"], refund_credit, True)
    vault.pay(ctx, job["store"], job["creator"], refund_balance, False)
    job["closed"] = True
    put_job(ctx.state, job_id, job)
    ctx.emit(JOB_CLOSED, job_id=job_id, spent=job["spent"], refund_credit=refund_credit, refund_balance=refund_balance)


# --------------------------------------------------------------------------- views


@core.view(PICTOR, "escrow", ["u64"], ["address", "u64", "u64", "u64", "u64", "u64", "bool"])
def job(ctx: core.TxContext, job_id: int) -> list[Any]:
    """Creator, budget, credit_in, spent, reserved, price_per_minute, closed."""
    found = load_job(ctx.state, job_id)
    return [
        found["creator"],
        found["budget"],
        found["credit_in"],
        found["spent"],
        found["reserved"],
        found["price_per_minute"],
        found["closed"],
    ]


@core.view(PICTOR, "escrow", ["u64", "u64"], ["u8", "u64", "u64", "vector<u8>", "u64", "u64", "u64", "u64"])
def task(ctx: core.TxContext, job_id: int, task_id: int) -> list[Any]:
    """State, node_id, quote, result_hash, charge, attempt, review_deadline, pass_count."""
    load_job(ctx.state, job_id)
    found = load_task(ctx.state, job_id, task_id)
    return [
        found["state"],
        found["node_id"],
        found["quote"],
        found["result_hash"],
        found["charge"],
        found["attempt"],
        found["review_deadline"],
        found["pass_count"],
    ]


@core.view(PICTOR, "escrow", ["u64"], ["address"])
def job_store(ctx: core.TxContext, job_id: int) -> list[Any]:
    """The job's fungible store address (E_JOB_NOT_FOUND)."""
    return [load_job(ctx.state, job_id)["store"]]


@core.view(PICTOR, "escrow", [], ["u64"])
def next_job_id(ctx: core.TxContext) -> list[Any]:
    """The id the next job will get."""
    return [ctx.state.get(escrow_key())["next_job_id"]]
