"""Campaigns as data: a period, a pool in points or PICTOR base units, and the rank bands that share it.

Bands are validated when a campaign is created: contiguous from rank 1, non-overlapping, integer amounts ≥ 0,
and their total (ranks × amount each) no more than the pool. Several campaigns may run at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator, model_validator
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chain.constants import U64_MAX
from rewards.points import RewardsError, audit, utcnow
from tables.points import campaigns

#: Most bands a campaign may have and the lowest rank a band may reach.
MAX_BANDS = 100
MAX_RANK = 1_000_000


class Band(BaseModel):
    """Ranks ``from_rank``..``to_rank`` (inclusive) each get ``amount_each``."""

    from_rank: StrictInt = Field(ge=1, le=MAX_RANK)
    to_rank: StrictInt = Field(ge=1, le=MAX_RANK)
    amount_each: StrictInt = Field(ge=0, le=U64_MAX)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.to_rank < self.from_rank:
            raise ValueError(f"band {self.from_rank}-{self.to_rank}: to_rank is below from_rank")
        return self

    @property
    def total(self) -> int:
        """What the band pays in all."""
        return (self.to_rank - self.from_rank + 1) * self.amount_each


class CampaignIn(BaseModel):
    """A campaign to create."""

    name: str = Field(min_length=1, max_length=100)
    starts_at: datetime
    ends_at: datetime
    pool: StrictInt = Field(ge=0, le=U64_MAX)
    currency: Literal["points", "PICTOR"]
    bands: list[Band] = Field(min_length=1, max_length=MAX_BANDS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the name is empty")
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (for example 2026-12-01T00:00:00Z)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        validate_bands(self.bands, self.pool)
        return self


def validate_bands(bands: list[Band], pool: int) -> None:
    """Contiguous from rank 1, non-overlapping, total ≤ pool (ValueError naming the first problem)."""
    expected = 1
    for band in bands:
        if band.from_rank < expected:
            raise ValueError(f"band {band.from_rank}-{band.to_rank} overlaps the band before it")
        if band.from_rank > expected:
            raise ValueError(
                f"bands must be contiguous from rank 1: rank {expected} is in no band "
                f"(the next band starts at {band.from_rank})"
            )
        expected = band.to_rank + 1
    total = sum(b.total for b in bands)
    if total > pool:
        raise ValueError(f"the bands pay {total} in all, more than the pool ({pool})")


def create_campaign(engine: Engine, admin: str, body: CampaignIn, now: datetime | None = None) -> dict[str, Any]:
    """Store a validated campaign (names are unique) and audit it."""
    now = now or utcnow()
    bands = [b.model_dump() for b in body.bands]
    with engine.begin() as conn:
        campaign_id = conn.execute(
            pg_insert(campaigns)
            .values(
                name=body.name,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                pool=body.pool,
                currency=body.currency,
                bands=bands,
                created_by=admin,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(campaigns.c.campaign_id)
        ).scalar_one_or_none()
        if campaign_id is None:
            raise RewardsError(409, f"a campaign named {body.name!r} already exists")
        audit(
            conn,
            admin,
            "campaign_create",
            f"campaign:{campaign_id}",
            f"created campaign {body.name}",
            {"name": body.name, "pool": str(body.pool), "currency": body.currency, "bands": bands},
            now,
        )
    return get_campaign(engine, campaign_id)


def _row(r: Any) -> dict[str, Any]:
    return {
        "campaign_id": r.campaign_id,
        "name": r.name,
        "starts_at": r.starts_at,
        "ends_at": r.ends_at,
        "pool": int(r.pool),
        "currency": r.currency,
        "bands": r.bands,
        "created_by": r.created_by,
        "created_at": r.created_at,
    }


def get_campaign(engine: Engine, campaign_id: int) -> dict[str, Any]:
    """One campaign (RewardsError 404 when unknown)."""
    with engine.connect() as conn:
        row = conn.execute(select(campaigns).where(campaigns.c.campaign_id == campaign_id)).first()
    if row is None:
        raise RewardsError(404, f"campaign {campaign_id} does not exist")
    return _row(row)


def list_campaigns(engine: Engine, active_at: datetime | None = None) -> list[dict[str, Any]]:
    """Every campaign, or those running at ``active_at`` (starts_at ≤ t < ends_at)."""
    query = select(campaigns)
    if active_at is not None:
        query = query.where(campaigns.c.starts_at <= active_at, campaigns.c.ends_at > active_at)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(campaigns.c.campaign_id)).all()
    return [_row(r) for r in rows]
