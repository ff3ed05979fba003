"""``/workers`` and ``/nodes/enroll``: an operator's nodes (role worker or checker), config files, enrollment, revocation."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select, update
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, get_engine, get_settings
from api.enrollment import (
    TOKEN_PREFIX,
    EnrollBody,
    check_worker_room,
    enroll_node,
    iso_or_none,
    node_view,
    node_views,
    now_utc,
    parse_worker_id,
)
from api.limits import SigninLimit
from api.signin import hash_token
from tables.workers import workers

router = APIRouter(tags=["workers"])


class CreateWorker(BaseModel):
    """A new worker: a name for the operator, and the node's role."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]*$")]
    role: Literal["worker", "checker"] = "worker"


@router.post("/workers", status_code=201, summary="Create a worker (then download its config file)")
async def create_worker(body: CreateWorker, operator: CurrentUser, request: Request) -> dict[str, Any]:
    """A pending worker owned by the signed-in operator; ``config_url`` hands out its config and token. 409 at
    ``PICTOR_WORKERS_MAX`` workers not revoked, 429 at ``PICTOR_WORKERS_MAX_PER_DAY`` created in 24 hours."""
    engine, settings = get_engine(request), get_settings(request)

    def create() -> int:
        with engine.begin() as conn:
            check_worker_room(conn, operator, settings, now_utc())
            return int(
                conn.execute(
                    insert(workers)
                    .values(
                        operator=operator,
                        name=body.name.strip() or body.name,
                        role=body.role,
                        created_at=now_utc(),
                    )
                    .returning(workers.c.worker_id)
                ).scalar_one()
            )

    worker_id = await run_in_threadpool(create)
    view = await run_in_threadpool(node_view, engine, operator, worker_id, settings)
    return {**view, "config_url": f"/workers/{worker_id}/config"}


@router.get("/workers", summary="My workers and their status")
async def list_workers(operator: CurrentUser, request: Request) -> dict[str, Any]:
    """Every worker of the signed-in operator: pending / enrolled / online / revoked, node and last heartbeat."""
    views = await run_in_threadpool(node_views, get_engine(request), operator, get_settings(request))
    return {"workers": views}


@router.get("/workers/{worker_id}", summary="One of my workers")
async def get_worker(worker_id: str, operator: CurrentUser, request: Request) -> dict[str, Any]:
    """The worker and its status; 404 unless the signed-in operator created it."""
    return await run_in_threadpool(
        node_view, get_engine(request), operator, parse_worker_id(worker_id), get_settings(request)
    )


@router.get("/workers/{worker_id}/config", summary="Download a pending worker's config file (a new token)")
async def worker_config(worker_id: str, operator: CurrentUser, request: Request) -> dict[str, Any]:
    """The config JSON for ``pictor worker init --config``; each call issues a new token and voids the last."""
    engine, settings = get_engine(request), get_settings(request)
    wid = parse_worker_id(worker_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = now_utc()
    expires = now + timedelta(seconds=settings.worker_enrollment_ttl_s)

    def issue() -> Any:
        with engine.begin() as conn:
            row = conn.execute(
                select(workers).where(workers.c.worker_id == wid, workers.c.operator == operator).with_for_update()
            ).first()
            if row is None:
                raise HTTPException(404, f"no worker {wid} of yours")
            if row.revoked_at is not None:
                raise HTTPException(409, f"worker {wid} was revoked; create a new worker")
            if row.enrolled_at is not None:
                raise HTTPException(
                    409,
                    f"worker {wid} is already enrolled (node {row.node_address}); a config "
                    "with a new token is only for a worker that has not enrolled yet",
                )
            conn.execute(
                update(workers)
                .where(workers.c.worker_id == wid)
                .values(token_hash=hash_token(token), token_expires_at=expires)
            )
            return row

    row = await run_in_threadpool(issue)
    api_url = (settings.public_api_url or str(request.base_url)).rstrip("/")
    return {
        "version": 1,
        "worker_id": str(wid),
        "role": row.role,
        "api_url": api_url,
        "node_url": settings.public_node_url or settings.node_url,
        "package_address": settings.package_address,
        "chain_id": settings.chain_id,
        "operator_address": operator,
        "enrollment_token": token,
        "enrollment_expires_at": iso_or_none(expires),
    }


@router.delete("/workers/{worker_id}", summary="Revoke a worker: its node's requests are refused from now on")
async def revoke_worker(worker_id: str, operator: CurrentUser, request: Request) -> dict[str, Any]:
    """Mark the worker revoked and void its token (idempotent); deregistering on chain is the operator's call."""
    engine, settings = get_engine(request), get_settings(request)
    wid = parse_worker_id(worker_id)

    def revoke() -> None:
        with engine.begin() as conn:
            done = conn.execute(
                update(workers)
                .where(workers.c.worker_id == wid, workers.c.operator == operator)
                .values(revoked_at=func.coalesce(workers.c.revoked_at, now_utc()), token_hash=None, token_expires_at=None)
            ).rowcount
            if not done:
                raise HTTPException(404, f"no worker {wid} of yours")

    await run_in_threadpool(revoke)
    return await run_in_threadpool(node_view, engine, operator, wid, settings)


@router.post("/nodes/enroll", tags=["nodes"], summary="Bind a node key to a worker with its enrollment token",
             dependencies=[SigninLimit])
async def enroll(body: EnrollBody, request: Request) -> dict[str, Any]:
    """Single-use token (403 wrong/replaced, 409 used, 410 expired); 400 when the key's signature fails."""
    return await run_in_threadpool(enroll_node, get_engine(request), body)
