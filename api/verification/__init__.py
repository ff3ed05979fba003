"""Verification: checker work items, downloads, verdicts with evidence, disputes, the review-window finalizer,
and the money trail of a job.

Life of a work item (``tables.verification.verifications``), one per task attempt and round:

1. A worker completes a task (``POST /nodes/tasks/{id}/complete``): :func:`enqueue_rendered` queues a
   ``verify`` item in the same transaction (frames, result hash = sha256 of the canonical manifest, the
   worker's operator).
2. A checker claims (``POST /nodes/verify/claim``, one transaction, ``FOR UPDATE SKIP LOCKED``). It gets only
   items whose on-chain task (as the mirror shows it) awaits that very verdict: ``SUBMITTED`` with the same
   result hash for ``verify``, ``DISPUTED`` for ``dispute`` — and **never** an item of its own operator, of an
   operator that already judged the same attempt, or of an operator excluded from it (the passers of a frame
   the creator rejected). Frames move ``rendered → verifying``.
3. It downloads the scene and the frames (``GET /nodes/verify/{id}/blobs/{sha256}``), verifies, attests on
   chain (``attestation::attest``, ``abstain`` or ``resolve_dispute`` from its node account) and reports
   (``POST /nodes/verify/{id}/verdict``) with the evidence, whose canonical JSON must hash to the
   ``evidence_hash`` it signed; every frame's evidence must name its frame, the manifest's sha256 and the
   checker's registered key, and the task verdict must follow from the frames' (any fail → fail, else any
   unsure → unsure, else pass).
4. ``pass`` with a committed attestation: once the passes reach the protocol's quorum the frames are
   ``verified`` (the escrow verified — and, with no review window, paid — the task in the same transaction);
   below quorum another operator is asked. ``fail``: at quorum the task goes back to the queue for another
   worker (the chain already requeued it and struck the worker node), the worker's failure on the job is
   counted (blocklisted at ``blocklist_failures``, as for failed renders). ``unsure`` (or a verdict whose
   attestation did not commit): another operator is asked, up to ``verify_max_rounds`` rounds.
   **Unverifiable**: after the last round without a decision — or when a round stays unclaimed for
   ``verify_lease_s`` because no checker may claim it (the worker's operator, the operators that judged the
   attempt and the excluded ones leave none; :func:`escalate_stalled`) — nothing was proven either way. A
   checker's ``unsure`` is on chain as ``attestation::abstain``; the coordinator's ``escrow::requeue_unverified``
   (outbox row ``unverified``) then takes the result back without a strike — at once when a checker abstained,
   else a review window after the submission, as the chain requires — and only then is the task rendered again
   by another worker under the same on-chain task id (the worker joins its ``excluded_nodes``; no failure
   counted). See :func:`_requeue_unverifiable`.
5. Disputes: a creator who rejects a verified frame inside the review window gets the
   ``escrow::dispute_task`` payload to sign (:func:`dispute_offer`); once the mirror shows the dispute, a
   ``dispute`` item is queued at the next claim, for a checker that is neither the worker's operator nor a
   passer. Its ``fail`` upholds the dispute on chain (the worker operator and every passer are slashed
   ``slash_bps`` of their stake, the task requeued unpaid); ``pass`` settles it.
6. Verified tasks whose review window has ended are settled by the API's finalizer
   (``escrow::finalize_task``, which anyone may call; the coordinator account pays the gas), and so are disputed
   tasks that no checker resolved within a review window of the dispute (the verified result stands, nobody is
   slashed; their open ``dispute`` items close as ``unresolved``); the same loop runs :func:`escalate_stalled`.

Read side: ``GET /jobs/{id}/frames/{frame}/verification`` (the creator: verdicts, evidence, on-chain
attestations), ``GET /verification/evidence/{sha256}`` (public: the exact evidence bytes, so anyone recomputes
the hash), ``GET /jobs/{id}/trail`` (the creator: every escrow event of the job with its transaction hash).
"""

from __future__ import annotations

from api.verification.finalizer import finalize_due
from api.verification.queue import (
    DISPUTE,
    VERIFY,
    claim,
    enqueue_rendered,
    heartbeat,
    may_download,
    record_checker_heartbeat,
    release,
)
from api.verification.reads import dispute_offer, evidence_by_hash, frame_verification, trail
from api.verification.verdicts import ReleaseBody, VerdictBody, escalate_stalled, submit_verdict

__all__ = [
    "DISPUTE",
    "VERIFY",
    "ReleaseBody",
    "VerdictBody",
    "claim",
    "dispute_offer",
    "enqueue_rendered",
    "escalate_stalled",
    "evidence_by_hash",
    "finalize_due",
    "frame_verification",
    "heartbeat",
    "may_download",
    "record_checker_heartbeat",
    "release",
    "submit_verdict",
    "trail",
]
