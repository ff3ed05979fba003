"""The checker's verdict on chain: ``attestation::attest``, ``abstain`` or ``resolve_dispute`` from the node account.

Sent once the chain shows the task awaiting that verdict (the mirror the API claims from may run ahead of
the node this checker reads, or behind); the node account pays the gas.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from aptos_sdk.account import Account

from chain.client import PictorChain
from chain.errors import ChainError
from chain.keys import account_address
from protocol.evidence import FAIL, PASS, UNSURE

log = logging.getLogger("pictor.checker")

#: escrow task states (chain/SPEC.md).
CHAIN_SUBMITTED, CHAIN_DISPUTED = 2, 5
#: Waits for the chain to show the task awaiting the verdict.
CHAIN_WAITS_S = (0.0, 1.0, 2.0, 4.0, 8.0, 15.0)


async def attest(
    chain: PictorChain, key: Account, item: dict[str, Any], verdict: str, evidence_hash: str
) -> tuple[str | None, str | None]:
    """Send ``verdict`` on the item's task; (transaction hash, None) or (None, why nothing committed)."""
    job_id, task_id = int(item["chain_job_id"]), int(item["chain_task_id"])
    result = bytes.fromhex(item["result_hash"])
    wanted = CHAIN_DISPUTED if item["purpose"] == "dispute" else CHAIN_SUBMITTED
    try:
        for delay in CHAIN_WAITS_S:
            await asyncio.sleep(delay)
            info = await chain.views.task(job_id, task_id)
            if info.state == wanted and info.result_hash == result:
                break
        else:
            return None, f"the chain shows task {job_id}/{task_id} in state {info.state}, not awaiting this verdict"
        pay = chain.payloads
        digest = bytes.fromhex(evidence_hash)
        if item["purpose"] == "dispute":
            payload = pay.attestation_resolve_dispute(job_id, task_id, verdict == FAIL, digest)
        elif verdict == UNSURE:
            payload = pay.attestation_abstain(job_id, task_id, result, digest)
        else:
            payload = pay.attestation_attest(job_id, task_id, result, verdict == PASS, digest)
        committed = await asyncio.wait_for(chain.submit_and_wait(key, payload), 120)
        log.info("attestation for %s/%s (%s): %s v%s", job_id, task_id, verdict, committed.hash, committed.version)
        return committed.hash, None
    except (ChainError, OSError, TimeoutError, httpx.HTTPError) as exc:
        log.error("attestation for %s/%s refused or failed: %s (the node account %s pays the gas)", job_id,
                  task_id, exc, account_address(key))  # fmt: skip
        return None, f"{type(exc).__name__}: {exc}"[:4000]
