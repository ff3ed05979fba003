"""``/audit``: the read-only, public auditor API over the chain mirror.

Every row names its transaction (``txn_version``, ``txn_hash``, ``event_index``). Lists are paginated
(``page`` from 1, ``page_size`` up to 1000), filtered by version range (and kind where rows have one),
ordered by ledger position, and exported as CSV with ``format=csv``. Move ``u64`` amounts are decimal
strings (as the Aptos API renders them), hashes and keys ``0x``-hex.

``GET /audit/reconcile`` recomputes every vault balance and escrow from the mirror, compares them and
every other mirrored state with the chain's views at the indexed version, checks global conservation
and answers the list of mismatches (empty when all holds).

The router reads ``app.state.engine`` (a SQLAlchemy engine) and ``app.state.chain`` (a
:class:`chain.client.PictorChain`) when the app sets them, else the process defaults.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, Select, String, Table, literal, null, select, union_all
from sqlalchemy.sql import ColumnElement

from api.deps import EngineDep, get_chain
from api.limits import PublicLimit
from api.rows import row_json
from chain.errors import ChainError
from chain.keys import normalize_address
from indexer import schema as s
from indexer.reconcile import reconcile
from indexer.status import indexer_lag
from protocol.bounds import U64, Page, Version

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[PublicLimit])

MAX_PAGE_SIZE = 1000


class Format(StrEnum):
    """Response formats of the list endpoints."""

    json = "json"
    csv = "csv"


def address_param(address: Annotated[str, Path(description="Account address, 0x-hex (1 to 64 digits).")]) -> str:
    """A path address, normalized; 400 if it is not one."""
    try:
        return normalize_address(address)
    except (ValueError, TypeError) as exc:
        raise HTTPException(400, f"not an account address: {address!r}") from exc


JobId = Annotated[U64, Path(description="Job id (u64).")]
TaskId = Annotated[U64, Path(description="Task id within the job (u64).")]
NodeId = Annotated[U64, Path(description="Node id (u64).")]
EpochId = Annotated[U64, Path(description="On-chain reward epoch (u64).")]


def u64(value: int) -> ColumnElement:
    """``value`` bound as the mirror's NUMERIC u64: compared as a plain int it would be cast to BIGINT (2^63 fails)."""
    return literal(value, s.U64)


class ListParams:
    """Paging, version range and format of a list endpoint."""

    def __init__(
        self,
        page: Annotated[Page, Query(description="Page number, from 1.")] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")] = 100,
        from_version: Annotated[Version | None, Query(description="Only rows at or after this version.")] = None,
        to_version: Annotated[Version | None, Query(description="Only rows at or before this version.")] = None,
        format: Annotated[Format, Query(description="json (default) or csv.")] = Format.json,
    ) -> None:
        if from_version is not None and to_version is not None and from_version > to_version:
            raise HTTPException(400, f"from_version {from_version} is after to_version {to_version}")
        self.page, self.page_size = page, page_size
        self.from_version, self.to_version = from_version, to_version
        self.format = format


Listing = Annotated[ListParams, Depends()]


# ----------------------------------------------------------------------------- rendering


def _csv(items: Sequence[dict[str, Any]], columns: Iterable[str]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    names = list(columns)
    writer.writerow(names)
    for item in items:
        writer.writerow([";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                         for v in (item.get(n) for n in names)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def _page(engine: Engine, query: Select, params: ListParams, version: ColumnElement | None = None) -> Response:
    """Run a list query (filtered by version, paginated) and render it as JSON or CSV."""
    if version is not None:
        if params.from_version is not None:
            query = query.where(version >= params.from_version)
        if params.to_version is not None:
            query = query.where(version <= params.to_version)
    query = query.limit(params.page_size + 1).offset((params.page - 1) * params.page_size)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    items = [row_json(r) for r in rows[: params.page_size]]
    columns = list(query.selected_columns.keys())
    if params.format is Format.csv:
        return _csv(items, columns)
    return JSONResponse({
        "items": items, "page": params.page, "page_size": params.page_size, "has_more": len(rows) > params.page_size,
    })


def _one(engine: Engine, query: Select, missing: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise HTTPException(404, missing)
    return row_json(row)


# ----------------------------------------------------------------------------- accounts


@router.get("/accounts/{address}", summary="An account's vault, stakes and PICTOR stores now")
def account(address: Annotated[str, Depends(address_param)], engine: EngineDep) -> dict[str, Any]:
    """Vault credit and balance, stake per role and the PICTOR stores the account owns (mirror state)."""
    with engine.connect() as conn:
        vault = conn.execute(select(s.vault_accounts).where(s.vault_accounts.c.address == address)).first()
        stakes = conn.execute(select(s.stakes).where(s.stakes.c.operator == address).order_by(s.stakes.c.role)).all()
        stores = conn.execute(select(s.token_stores).where(s.token_stores.c.owner == address)).all()
        indexed = conn.execute(select(s.processor_status.c.last_success_version)).scalar()
    return {
        "address": address,
        "indexed_version": indexed,
        "vault": row_json(vault) if vault else {"address": address, "credit": "0", "balance": "0", "last_version": None},
        "stakes": [row_json(r) for r in stakes],
        "stores": [row_json(r) for r in stores],
    }


class HistoryKind(StrEnum):
    """Kinds of rows in an account's history."""

    deposit = "deposit"
    withdraw = "withdraw"
    credit_claim = "credit_claim"
    job_lock = "job_lock"
    job_refund = "job_refund"
    worker_payout = "worker_payout"
    checker_payout = "checker_payout"
    treasury_fee = "treasury_fee"
    slash = "slash"
    stake = "stake"
    unstake_request = "unstake_request"
    unstake_withdraw = "unstake_withdraw"
    stake_slashed = "stake_slashed"
    reward_claim = "reward_claim"


def _history_query(address: str) -> Select:
    """Every money row of an account: vault ledger, stake movements and slashes, reward claims."""
    nothing = null().cast(s.U64)
    zero = literal(0).cast(s.DELTA)

    def part(table: Any, kind: ColumnElement | str, amount: ColumnElement, who: ColumnElement, *,
             credit: ColumnElement = zero, balance: ColumnElement = zero, role: ColumnElement | None = None,
             job: ColumnElement = nothing, task: ColumnElement = nothing, seq: ColumnElement | None = None) -> Select:
        return select(
            table.c.txn_version, table.c.txn_hash, table.c.event_index,
            (seq if seq is not None else literal(0)).label("seq"),
            (kind if not isinstance(kind, str) else literal(kind, String)).label("kind"),
            credit.label("credit_delta"), balance.label("balance_delta"), amount.cast(s.DELTA).label("amount"),
            (role if role is not None else null()).cast(s.SmallInteger).label("role"),
            job.label("job_id"), task.label("task_id"),
        ).where(who == address)

    ledger = s.vault_ledger
    parts = [
        part(ledger, ledger.c.kind, ledger.c.credit_delta + ledger.c.balance_delta, ledger.c.address,
             credit=ledger.c.credit_delta, balance=ledger.c.balance_delta, job=ledger.c.job_id,
             task=ledger.c.task_id, seq=ledger.c.seq),
        part(s.stake_deposits, "stake", s.stake_deposits.c.amount, s.stake_deposits.c.operator,
             role=s.stake_deposits.c.role),
        part(s.unstake_requests, "unstake_request", s.unstake_requests.c.amount, s.unstake_requests.c.operator,
             role=s.unstake_requests.c.role),
        part(s.unstake_withdrawals, "unstake_withdraw", s.unstake_withdrawals.c.amount,
             s.unstake_withdrawals.c.operator),
        part(s.slashes, "stake_slashed", -s.slashes.c.amount, s.slashes.c.operator, role=s.slashes.c.role,
             job=s.slashes.c.job_id, task=s.slashes.c.task_id),
        part(s.reward_claims, "reward_claim", s.reward_claims.c.amount, s.reward_claims.c.user_address),
    ]
    return select(union_all(*parts).subquery())


@router.get("/accounts/{address}/history", summary="An account's history: deposits, withdrawals, payouts, slashes, claims")
def account_history(
    address: Annotated[str, Depends(address_param)],
    engine: EngineDep,
    params: Listing,
    kind: Annotated[HistoryKind | None, Query(description="Only rows of this kind.")] = None,
) -> Response:
    """Every movement of the account's vault (deltas of credit and balance), stakes and reward claims."""
    query = _history_query(address)
    history = query.selected_columns
    if kind is not None:
        query = query.where(history.kind == kind.value)
    query = query.order_by(history.txn_version, history.event_index, history.seq)
    return _page(engine, query, params, history.txn_version)


# ----------------------------------------------------------------------------- jobs, tasks, attestations


@router.get("/jobs/{job_id}", summary="A job's escrow now")
def job(job_id: JobId, engine: EngineDep) -> dict[str, Any]:
    """Budget, credit locked, spent, reserved, price and state of a job's escrow."""
    return _one(engine, select(s.jobs).where(s.jobs.c.job_id == u64(job_id)), f"job {job_id} not found")


def _require_job(engine: Engine, job_id: int) -> None:
    with engine.connect() as conn:
        if conn.execute(select(s.jobs.c.job_id).where(s.jobs.c.job_id == u64(job_id))).first() is None:
            raise HTTPException(404, f"job {job_id} not found")


@router.get("/jobs/{job_id}/ledger", summary="A job's escrow ledger")
def job_ledger(job_id: JobId, engine: EngineDep, params: Listing) -> Response:
    """Open and top-ups (+), charges at settlement (−), the refund at close (−), with the credit/balance split."""
    _require_job(engine, job_id)
    t = s.escrow_ledger
    query = select(t).where(t.c.job_id == u64(job_id)).order_by(t.c.txn_version, t.c.event_index)
    return _page(engine, query, params, t.c.txn_version)


@router.get("/jobs/{job_id}/tasks", summary="A job's tasks now")
def job_tasks(job_id: JobId, engine: EngineDep, params: Listing) -> Response:
    """State, node, quote, charge and attempt of each task of the job."""
    _require_job(engine, job_id)
    t = s.tasks
    return _page(engine, select(t).where(t.c.job_id == u64(job_id)).order_by(t.c.task_id), params, t.c.last_version)


def _task_events(engine: Engine, job_id: int, task_id: int, t: Table, params: ListParams) -> Response:
    """A page of the event table ``t``'s rows of one task (404 for an unknown job or task), in ledger order."""
    _require_job(engine, job_id)
    with engine.connect() as conn:
        known = conn.execute(
            select(s.tasks.c.task_id).where(s.tasks.c.job_id == u64(job_id), s.tasks.c.task_id == u64(task_id))
        )
        if known.first() is None:
            raise HTTPException(404, f"task {task_id} of job {job_id} not found")
    query = select(t).where(t.c.job_id == u64(job_id), t.c.task_id == u64(task_id))
    query = query.order_by(t.c.txn_version, t.c.event_index)
    return _page(engine, query, params, t.c.txn_version)


@router.get("/jobs/{job_id}/tasks/{task_id}/attestations", summary="Attestations of a task")
def task_attestations(job_id: JobId, task_id: TaskId, engine: EngineDep, params: Listing) -> Response:
    """Every checker verdict on the task (all attempts), in ledger order."""
    return _task_events(engine, job_id, task_id, s.attestations, params)


@router.get("/jobs/{job_id}/tasks/{task_id}/abstentions", summary="Abstentions on a task")
def task_abstentions(job_id: JobId, task_id: TaskId, engine: EngineDep, params: Listing) -> Response:
    """Every checker that could not decide the task's result (all attempts), in ledger order."""
    return _task_events(engine, job_id, task_id, s.abstentions, params)


@router.get("/jobs/{job_id}/settlements", summary="Settlements and payout splits of a job's tasks")
def job_settlements(job_id: JobId, engine: EngineDep, params: Listing) -> Response:
    """Each settled task: charge, worker share, checkers and their share, treasury share."""
    _require_job(engine, job_id)
    t = s.task_settlements
    query = select(t).where(t.c.job_id == u64(job_id)).order_by(t.c.txn_version, t.c.event_index)
    return _page(engine, query, params, t.c.txn_version)


# ----------------------------------------------------------------------------- nodes and stakes


@router.get("/nodes/{node_id}", summary="A node now")
def node(node_id: NodeId, engine: EngineDep) -> dict[str, Any]:
    """Operator, role, current key and account, active flag and strikes of a node."""
    return _one(engine, select(s.nodes).where(s.nodes.c.node_id == u64(node_id)), f"node {node_id} not found")


@router.get("/nodes/{node_id}/stake-history", summary="Stake history of a node's operator in the node's role")
def node_stake_history(node_id: NodeId, engine: EngineDep, params: Listing) -> Response:
    """Stakes, unstake requests, withdrawals and slashes of the node's operator (its role, withdrawals all roles)."""
    found = node(node_id, engine)
    operator, role = found["operator"], found["role"]
    query = _history_query(operator)
    history = query.selected_columns
    query = query.where(
        history.kind.in_(["stake", "unstake_request", "unstake_withdraw", "stake_slashed"]),
        (history.role == role) | history.role.is_(None),
    ).order_by(history.txn_version, history.event_index)
    return _page(engine, query, params, history.txn_version)


# ----------------------------------------------------------------------------- rewards


@router.get("/epochs", summary="Reward epochs")
def epochs(engine: EngineDep, params: Listing) -> Response:
    """Every published epoch: Merkle root, total and what was claimed."""
    t = s.reward_epochs
    return _page(engine, select(t).order_by(t.c.epoch), params, t.c.published_version)


@router.get("/epochs/{epoch}/claims", summary="Claims of a reward epoch")
def epoch_claims(epoch: EpochId, engine: EngineDep, params: Listing) -> Response:
    """Every claim paid from the epoch (leaf index, user, amount)."""
    epochs_t = s.reward_epochs
    _one(engine, select(epochs_t.c.epoch).where(epochs_t.c.epoch == u64(epoch)), f"epoch {epoch} not found")
    t = s.reward_claims
    query = select(t).where(t.c.epoch == u64(epoch)).order_by(t.c.txn_version, t.c.event_index)
    return _page(engine, query, params, t.c.txn_version)


# ----------------------------------------------------------------------------- reconcile and status


@router.get("/reconcile", summary="Reconcile the mirror with itself and with the chain")
async def reconcile_endpoint(request: Request, engine: EngineDep) -> dict[str, Any]:
    """Mismatches between the mirror's books, the chain's views at the indexed version, and conservation."""
    try:
        report = await reconcile(engine, get_chain(request))
    except ChainError as exc:
        raise HTTPException(503, f"the chain node is not answering: {exc}") from exc
    return {
        "version": report.version, "checked": report.checked, "ok": report.ok,
        "mismatches": [m.as_dict() for m in report.mismatches],
    }


@router.get("/status", summary="Indexed version, chain version and lag")
async def status(request: Request, engine: EngineDep) -> dict[str, Any]:
    """How far the mirror is behind the chain (``lag`` = chain version − indexed version)."""
    lag = await indexer_lag(engine, get_chain(request))
    return lag.as_dict()


__all__ = ["router"]
