"""``/rewards/epochs``: reward epochs with their roots and totals, and each user's payout proof to claim on chain.

u64 amounts are decimal strings (as the Aptos API renders them), hashes ``0x``-hex. ``claimed`` comes from the
chain mirror (``reward_claims``, written by the indexer when the claim transaction is indexed).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from sqlalchemy import Engine, and_, func, select, true
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, get_engine
from api.limits import PublicLimit
from indexer import schema as mirror
from protocol.bounds import DbId, Page
from tables.epochs import epoch_payouts, epochs

log = logging.getLogger(__name__)


router = APIRouter(prefix="/rewards", tags=["rewards"])

def _hex(value: bytes | memoryview | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _u64(value: Decimal | int | None) -> str | None:
    return None if value is None else str(int(value))


def _epoch_json(row: Any) -> dict[str, Any]:
    """One epoch as the list renders it."""
    return {
        "epoch": row.epoch,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "state": row.state,
        "chain_epoch": _u64(row.chain_epoch),
        "root": _hex(row.root),
        "budget": _u64(row.budget),
        "total": _u64(row.total),
        "unpaid": _u64(row.unpaid),
        "payouts": row.payout_count,
        "claimed": _u64(row.claimed) if row.claimed is not None else ("0" if row.state == "published" else None),
        "publish_txn_hash": row.publish_txn_hash or row.mirror_txn_hash,
        "publish_version": row.publish_version if row.publish_version is not None else row.mirror_version,
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }


def _epoch_query() -> Any:
    """Epochs joined with the mirror (what was claimed, and the publishing transaction when ours is unknown)."""
    me, pub = mirror.reward_epochs, mirror.epoch_publications
    first_pub = (
        select(pub.c.txn_hash, pub.c.txn_version)
        .where(pub.c.epoch == epochs.c.chain_epoch)
        .order_by(pub.c.txn_version)
        .limit(1)
        .lateral()
    )
    return select(
        epochs,
        me.c.claimed,
        first_pub.c.txn_hash.label("mirror_txn_hash"),
        first_pub.c.txn_version.label("mirror_version"),
    ).select_from(epochs.outerjoin(me, me.c.epoch == epochs.c.chain_epoch).outerjoin(first_pub, true()))


def list_epochs(engine: Engine, page: int, page_size: int) -> dict[str, Any]:
    """A page of epochs, newest first."""
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(epochs)).scalar_one()
        rows = conn.execute(
            _epoch_query().order_by(epochs.c.epoch.desc()).limit(page_size).offset((page - 1) * page_size)
        ).all()
    return {"epochs": [_epoch_json(r) for r in rows], "page": page, "page_size": page_size, "count": count}


def proof_of(engine: Engine, n: int, address: str) -> dict[str, Any]:
    """``address``'s payout of epoch ``n`` with its proof (HTTPException when there is none to claim)."""
    claims = mirror.reward_claims
    with engine.connect() as conn:
        epoch = conn.execute(_epoch_query().where(epochs.c.epoch == n)).one_or_none()
        if epoch is None:
            raise HTTPException(404, f"epoch {n} has not been closed yet")
        if epoch.state == "empty":
            raise HTTPException(404, f"epoch {n} paid nobody")
        if epoch.state != "published":
            raise HTTPException(409, f"epoch {n} is not published on chain yet (it is {epoch.state}); try again later")
        payout = conn.execute(
            select(epoch_payouts).where(epoch_payouts.c.epoch == n, epoch_payouts.c.address == address)
        ).one_or_none()
        if payout is None:
            raise HTTPException(404, f"{address} has no payout in epoch {n}")
        claim = conn.execute(
            select(claims.c.txn_hash, claims.c.txn_version).where(
                and_(claims.c.epoch == epoch.chain_epoch, claims.c.claim_index == payout.leaf_index)
            )
        ).first()
    return {
        "epoch": n,
        "chain_epoch": _u64(epoch.chain_epoch),
        "address": address,
        "amount": _u64(payout.amount),
        "rank": payout.rank,
        "points": payout.points,
        "leaf_index": payout.leaf_index,
        "leaf": _hex(payout.leaf),
        "proof": [_hex(p) for p in payout.proof],
        "root": _hex(epoch.root),
        "claimed": claim is not None,
        "claim_txn_hash": claim.txn_hash if claim is not None else None,
    }


@router.get("/epochs", summary="Reward epochs: roots, totals, publishing transactions", dependencies=[PublicLimit])
async def get_epochs(
    request: Request,
    page: Annotated[Page, Query(description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=500, description="Epochs per page.")] = 50,
) -> dict[str, Any]:
    """Every closed (or closing) epoch, newest first: window, state, Merkle root, totals and transaction."""
    return await run_in_threadpool(list_epochs, get_engine(request), page, page_size)


@router.get("/epochs/{n}/proof", summary="My payout of an epoch and its Merkle proof")
async def get_proof(
    request: Request,
    user: CurrentUser,
    n: Annotated[DbId, Path(description="Epoch number, from 1.")],
) -> dict[str, Any]:
    """The signed-in user's amount, leaf index and proof for ``rewards::claim``, the root, and whether it is claimed."""
    return await run_in_threadpool(proof_of, get_engine(request), n, user)
