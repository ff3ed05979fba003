"""A checker's evidence: the versions of its formats, verdict names and how frame verdicts make a task's."""

from __future__ import annotations

#: ``version`` of a task's evidence (what ``POST /nodes/verify/{id}/verdict`` carries and the attestation hashes).
TASK_EVIDENCE_VERSION = "pictor-task-evidence-v1"
#: ``version`` of one frame's evidence inside it.
FRAME_EVIDENCE_VERSION = "pictor-evidence-v1"
#: Largest task evidence, in bytes of canonical JSON.
MAX_EVIDENCE_BYTES = 4 * 1024 * 1024

PASS, FAIL, UNSURE = "pass", "fail", "unsure"
VERDICTS = (PASS, FAIL, UNSURE)


def task_verdict(frame_verdicts: list[str]) -> str:
    """A task's verdict from its frames': any fail → fail, else any unsure → unsure, else pass."""
    if FAIL in frame_verdicts:
        return FAIL
    if UNSURE in frame_verdicts or not frame_verdicts:
        return UNSURE
    return PASS
