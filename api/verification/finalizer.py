"""The review-window finalizer: settles verified tasks whose window ended and disputes nobody resolved."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select, update

from api import scheduler
from api.verification.queue import DISPUTE
from chain.payloads import TASK_DISPUTED, TASK_VERIFIED
from indexer import schema as mirror
from tables.verification import verifications

log = logging.getLogger(__name__)

async def finalize_due(engine: Engine, chain: Any, caller: Any, limit: int = 20) -> int:
    """``escrow::finalize_task`` for verified tasks whose review window has ended, and for disputed ones no checker
    resolved within a review window (their verified result stands); how many settled."""
    now_s = (await chain.ledger_info()).ledger_timestamp_us // 1_000_000
    v, mt = verifications, mirror.tasks
    with engine.connect() as conn:
        window = int(conn.execute(select(mirror.protocol_config.c.review_window_secs)).scalar_one_or_none() or 0)
        rows = conn.execute(
            select(mt.c.job_id, mt.c.task_id)
            .where(mt.c.state == TASK_VERIFIED, mt.c.review_deadline <= now_s)
            .order_by(mt.c.review_deadline)
            .limit(limit)
        ).all()
        # the chain counts from the dispute's block; the API's first dispute item is queued after it (later)
        first_item = (
            select(v.c.chain_job_id, v.c.chain_task_id, func.min(v.c.created_at).label("since"))
            .where(v.c.purpose == DISPUTE)
            .group_by(v.c.chain_job_id, v.c.chain_task_id)
            .subquery()
        )
        stale = conn.execute(
            select(mt.c.job_id, mt.c.task_id)
            .join(
                first_item, and_(first_item.c.chain_job_id == mt.c.job_id, first_item.c.chain_task_id == mt.c.task_id)
            )
            .where(mt.c.state == TASK_DISPUTED, first_item.c.since <= scheduler.utcnow() - timedelta(seconds=window))
            .limit(limit)
        ).all()
    done = 0
    for r in [*rows, *stale]:
        try:
            await chain.submit_and_wait(caller, chain.payloads.escrow_finalize_task(int(r.job_id), int(r.task_id)))
            done += 1
        except Exception as exc:  # noqa: BLE001 - settled meanwhile, or the chain is away: the next pass retries
            log.info("finalize_task %s/%s: %s", r.job_id, r.task_id, exc)
            continue
        if r in stale:
            log.warning("dispute of on-chain task %s/%s: no checker resolved it within %s s; settled as not upheld",
                        r.job_id, r.task_id, window)  # fmt: skip
            with engine.begin() as conn:
                conn.execute(
                    update(v)
                    .where(
                        v.c.chain_job_id == r.job_id,
                        v.c.chain_task_id == r.task_id,
                        v.c.purpose == DISPUTE,
                        v.c.state != "done",
                    )
                    .values(
                        state="done",
                        lease_deadline=None,
                        chain_error=f"unresolved: no checker decided the dispute within {window} s; settled",
                        updated_at=scheduler.utcnow(),
                    )
                )
    return done
