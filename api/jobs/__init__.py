"""Render jobs: estimates (:mod:`.estimate`), a job's life from creation to review (:mod:`.lifecycle`), and what
creators read (:mod:`.reads`). Status changes go through :mod:`tables.state_machine`."""

from __future__ import annotations

from api.jobs.estimate import CreateBody, EstimateBody, Pretest, estimate, owned_upload, prepare_estimate
from api.jobs.lifecycle import (
    cancel,
    check_unpaid_room,
    expire_unpaid,
    insert_job,
    open_job_payload,
    owned_job,
    record_escrow_txn,
    refresh,
    refresh_pending,
    review_frame,
)
from api.jobs.reads import MEDIA, frame_format, job_detail, job_version, rendered_frames, summary

__all__ = [
    "MEDIA",
    "CreateBody",
    "EstimateBody",
    "Pretest",
    "cancel",
    "check_unpaid_room",
    "estimate",
    "expire_unpaid",
    "frame_format",
    "insert_job",
    "job_detail",
    "job_version",
    "open_job_payload",
    "owned_job",
    "owned_upload",
    "prepare_estimate",
    "record_escrow_txn",
    "refresh",
    "refresh_pending",
    "rendered_frames",
    "review_frame",
    "summary",
]
