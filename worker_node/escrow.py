"""``escrow::submit_result`` from the node account, once the coordinator's assignment is visible on chain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aptos_sdk.account import Account

from chain.client import PictorChain
from chain.errors import ChainError
from chain.keys import account_address
from protocol.node_config import NodeConfig

log = logging.getLogger("pictor.worker")

#: Waits between escrow::submit_result attempts while the task's on-chain assignment may still be pending.
CHAIN_RETRY_DELAYS_S = (2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0)
#: ``escrow`` task state ASSIGNED (see chain.payloads.TaskInfo).
TASK_ASSIGNED = 1


class ResultSubmitter:
    """Submits results with the node key (the node account pays the gas: the operator funds it, nothing here
    funds anything); one record per submission in ``records`` (status committed, already submitted, failed)."""

    def __init__(self, config: NodeConfig, key: Account, records: list[dict[str, Any]]) -> None:
        self.config = config
        self.key = key
        self.address = account_address(key)
        self.records = records
        self._chain: PictorChain | None = None

    async def close(self) -> None:
        """Close the chain client if one was made."""
        if self._chain is not None:
            with contextlib.suppress(Exception):
                await self._chain.close()

    async def submit(
        self, job_id: int, task_id: int, digest: bytes, ref_ms: int, *, past_grace: Callable[[], bool]
    ) -> None:
        """``escrow::submit_result`` for the escrow's ``job_id``/``task_id``; failures are logged and recorded
        (the API holds the signed result). ``past_grace()`` ends the wait for the assignment when shutting down."""
        record: dict[str, Any] = {"job_id": job_id, "task_id": task_id, "result_hash": digest.hex(),
                                  "reference_ms": ref_ms}  # fmt: skip
        try:
            if self._chain is None:
                self._chain = self.config.chain_client()
            # The coordinator's assign_task may not be committed yet: wait for it (views cost no gas).
            for delay in (0.0, *CHAIN_RETRY_DELAYS_S):
                await asyncio.sleep(delay)  # also while shutting down: the agent waits shutdown_grace_s for this
                try:
                    info = await self._chain.views.task(job_id, task_id)
                except ChainError as exc:
                    log.info("escrow task %s/%s not readable yet: %s", job_id, task_id, exc)
                    continue
                if info.state == TASK_ASSIGNED:
                    break
                if info.state > TASK_ASSIGNED and info.result_hash == digest:
                    record.update(status="already submitted")
                    self.records.append(record)
                    return
                if past_grace():
                    break
            payload = self._chain.payloads.escrow_submit_result(job_id, task_id, digest, ref_ms)
            result = await asyncio.wait_for(self._chain.submit_and_wait(self.key, payload), 120)
            record.update(status="committed", txn_hash=result.hash, version=result.version)
            log.info("escrow::submit_result job %s task %s: %s", job_id, task_id, result.hash)
        except Exception as exc:  # noqa: BLE001 - the API holds the signed result; the chain call can be redone
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            log.error(
                "escrow::submit_result job %s task %s failed: %s (the node account %s pays the gas; "
                "the operator funds it)", job_id, task_id, record["error"], self.address,
            )  # fmt: skip
        self.records.append(record)
