"""The scheduler: matching and pricing, claims, leases, batching, and the coordinator's chain outbox.

Modules: :mod:`.matching` (what a node can do, quotes), :mod:`.claims` (leasing the best task in one
transaction), :mod:`.batching` (claims and completions made side by side share a round trip), :mod:`.leases`
(heartbeats, giving tasks up or back, expiry), :mod:`.outbox` (coordinator transactions sent exactly once).
Status changes go through :mod:`tables.state_machine`; the background pass is :mod:`api.background`'s.
"""

from __future__ import annotations

from api.scheduler.batching import (
    COMMIT_BATCH_MAX,
    commit_batcher,
    group_commit,
    group_commit_async,
    loop_commit_batcher,
    touch,
)
from api.scheduler.claims import (
    CLAIM_BATCH_MAX,
    claim,
    claim_async,
    claim_batcher,
    claim_on,
    escrow_available,
    loop_claim_batcher,
)
from api.scheduler.leases import (
    LeaseGone,
    TaskNotFound,
    fail_task,
    leased_task,
    record_heartbeat,
    release_task,
    sweep_expired,
    task_heartbeat,
    utcnow,
)
from api.scheduler.matching import NodeFacts, mismatch, node_facts, task_quote, tier_allows, tier_price
from api.scheduler.outbox import outbox, process_outbox, queue_close, queue_unverified, unverified_requeued

__all__ = [
    "CLAIM_BATCH_MAX",
    "COMMIT_BATCH_MAX",
    "LeaseGone",
    "NodeFacts",
    "TaskNotFound",
    "claim",
    "claim_async",
    "claim_batcher",
    "commit_batcher",
    "claim_on",
    "escrow_available",
    "fail_task",
    "group_commit",
    "group_commit_async",
    "leased_task",
    "loop_claim_batcher",
    "loop_commit_batcher",
    "mismatch",
    "node_facts",
    "outbox",
    "process_outbox",
    "queue_close",
    "queue_unverified",
    "record_heartbeat",
    "release_task",
    "sweep_expired",
    "task_heartbeat",
    "task_quote",
    "tier_allows",
    "tier_price",
    "touch",
    "unverified_requeued",
    "utcnow",
]
