"""``/rewards``: my points ledger, check-ins, social task claims, referrals; admin voids, reviews and campaigns.

A user touches only their own points (the session's address); ``/rewards/admin/*`` is for the addresses in
``settings.admin_addresses`` (403 for anyone else). Refusals are 4xx with a message and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AdminUser, CurrentUser, get_engine
from protocol.bounds import DbCursor, DbId
from rewards import campaigns as campaign_store
from rewards import points
from rewards.points import RewardsError

router = APIRouter(prefix="/rewards", tags=["rewards"])

T = TypeVar("T")


async def _run(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking rewards call in the thread pool; its RewardsError becomes the HTTP answer."""
    try:
        return await run_in_threadpool(fn, *args)
    except RewardsError as exc:
        raise HTTPException(exc.status, exc.message) from None




# ----------------------------------------------------------------------------- models


class SocialClaimBody(BaseModel):
    """The proof of a social task: a public link (a post, a profile) an admin can open."""

    proof_url: str = Field(min_length=8, max_length=500)


class ReferralBody(BaseModel):
    """A referral code to apply to my account (once)."""

    code: str = Field(min_length=1, max_length=32)


class VoidBody(BaseModel):
    """The ledger entry to void and why."""

    entry_id: DbId
    reason: str = Field(min_length=3, max_length=1000)


class ReviewBody(BaseModel):
    """An admin's decision on a social claim."""

    approve: bool
    note: str = Field(default="", max_length=1000)


# ----------------------------------------------------------------------------- my points


@router.get("/points", summary="My points: the total and my ledger, newest first")
async def my_points(
    request: Request,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[DbId | None, Query(description="Entries older than this id.")] = None,
) -> dict[str, Any]:
    """Paginate with ``before`` = the previous page's ``next_before``; ``withheld`` lists events that earned nothing."""
    return await _run(points.ledger_page, get_engine(request), user, limit, before)


@router.post("/checkin", summary="Daily check-in (once per UTC day; streaks earn more)")
async def checkin(request: Request, user: CurrentUser) -> dict[str, Any]:
    """409 when already checked in today (UTC); 429 past the rate limit."""
    engine = get_engine(request)
    await _run(points.rate_limit, engine, user, "checkin")
    return await _run(points.check_in, engine, user)


@router.get("/social", summary="The social tasks and my claims")
async def social(request: Request, user: CurrentUser) -> dict[str, Any]:
    """Each task's points and accepted proof hosts, and the status of my claims."""
    return {"tasks": points.social_tasks(), "claims": await _run(points.my_social_claims, get_engine(request), user)}


@router.post("/social/{task}", status_code=201, summary="Claim a social task with its proof (reviewed by an admin)")
async def claim_social(task: str, body: SocialClaimBody, request: Request, user: CurrentUser) -> dict[str, Any]:
    """One claim per task; the points are credited when an admin approves it."""
    if task not in points.SOCIAL_TASKS:
        raise HTTPException(404, f"unknown social task {task[:40]!r}; the tasks are {', '.join(points.SOCIAL_TASKS)}")
    try:
        points.check_proof_url(task, body.proof_url)  # bad input is refused before it counts against the limit
    except RewardsError as exc:
        raise HTTPException(exc.status, exc.message) from None
    engine = get_engine(request)
    await _run(points.rate_limit, engine, user, "social")
    return await _run(points.claim_social, engine, user, task, body.proof_url)


@router.get("/referral", summary="My referral code, who referred me and my referees")
async def referral(request: Request, user: CurrentUser) -> dict[str, Any]:
    """The code is made on first ask; referees are newest first (at most 100)."""
    return await _run(points.referral_info, get_engine(request), user)


@router.post("/referral", summary="Apply a referral code (once; no self-referral, no loops)")
async def apply_referral(body: ReferralBody, request: Request, user: CurrentUser) -> dict[str, Any]:
    """My referrer then earns 10 % of my points from now on."""
    try:
        points.normalize_code(body.code)  # a malformed code is refused before it counts against the limit
    except RewardsError as exc:
        raise HTTPException(exc.status, exc.message) from None
    engine = get_engine(request)
    await _run(points.rate_limit, engine, user, "referral")
    return await _run(points.apply_referral, engine, user, body.code)


# ----------------------------------------------------------------------------- admin


@router.post("/admin/void", summary="Void a ledger entry with a reason (admin; audited)")
async def void(body: VoidBody, request: Request, admin: AdminUser) -> dict[str, Any]:
    """Appends a negative entry (source ``void``); the original entry stays."""
    if len(body.reason.strip()) < 3:
        raise HTTPException(422, "give a reason of at least 3 characters")
    return await _run(points.void_entry, get_engine(request), admin, body.entry_id, body.reason.strip())


@router.get("/admin/social", summary="Social claims to review (admin)")
async def social_claims(
    request: Request,
    admin: AdminUser,
    status: Literal["pending", "approved", "rejected"] | None = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[DbCursor | None, Query(description="Claims after this id.")] = None,
) -> dict[str, Any]:
    """Oldest first; page with ``after`` = the last claim id seen."""
    return {"claims": await _run(points.list_social_claims, get_engine(request), status, limit, after)}


@router.post("/admin/social/{claim_id}", summary="Approve or reject a social claim (admin; audited)")
async def review_social(claim_id: DbId, body: ReviewBody, request: Request, admin: AdminUser) -> dict[str, Any]:
    """Approval credits the task's points; rejection is final."""
    return await _run(points.review_social, get_engine(request), admin, claim_id, body.approve, body.note)


@router.get("/admin/campaigns", summary="Campaigns (admin)")
async def list_campaigns(
    request: Request,
    admin: AdminUser,
    active_at: Annotated[datetime | None, Query(description="Only those running then.")] = None,
) -> dict[str, Any]:
    """Every campaign, or those running at ``active_at``."""
    return {"campaigns": await _run(campaign_store.list_campaigns, get_engine(request), active_at)}


@router.post("/admin/campaigns", status_code=201, summary="Create a campaign (admin; audited)")
async def create_campaign(body: campaign_store.CampaignIn, request: Request, admin: AdminUser) -> dict[str, Any]:
    """Bands must be contiguous from rank 1, non-overlapping, integer amounts ≥ 0, paying no more than the pool."""
    return await _run(campaign_store.create_campaign, get_engine(request), admin, body)
