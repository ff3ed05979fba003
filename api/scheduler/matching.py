"""Matching and pricing: what a node's heartbeat says it can do, whether it may take a job, and a task's quote.

Quote = tier price × node multiplier × the node's estimated minutes (reference minutes ÷ multiplier) ×
``quote_margin``, capped at ``max_task_quote``. The claim does the same in SQL over the jobs' ``req_*`` columns
(``api.claim_task``; tests check the two agree over random jobs and nodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from pictor.settings import Settings
from protocol.render_spec import Device, GpuVendor, JobSpec, PricingTier, Region, RenderEngine


@dataclass(frozen=True)
class NodeFacts:
    """What matching needs from a heartbeat's telemetry."""

    gpu_count: int
    gpu_vendor: str | None
    gpu_models: tuple[str, ...]
    min_gpu_vram_gb: float  # of the node's smallest GPU
    ram_gb: float
    location: str
    engines: tuple[str, ...]
    multiplier: float
    operator: str


def node_facts(telemetry: dict[str, Any], operator: str) -> NodeFacts:
    """Read the telemetry of ``protocol.telemetry`` (plus ``multiplier``, ``location``, ``engines``)."""
    gpus = [g for g in telemetry.get("gpus") or [] if isinstance(g, dict)]
    cpu = telemetry.get("cpu") if isinstance(telemetry.get("cpu"), dict) else {}
    vram = [float(g.get("memory_total_mb") or 0) / 1024 for g in gpus]
    engines = telemetry.get("engines") or [e.value for e in RenderEngine]
    benchmark = telemetry.get("benchmark") if isinstance(telemetry.get("benchmark"), dict) else {}
    try:
        multiplier = float(
            telemetry.get("multiplier") or telemetry.get("performance_multiplier") or benchmark.get("multiplier") or 1.0
        )
    except (TypeError, ValueError):
        multiplier = 1.0
    return NodeFacts(
        gpu_count=len(gpus),
        gpu_vendor=(str(gpus[0].get("vendor") or "").lower() or None) if gpus else None,
        gpu_models=tuple(str(g.get("name") or "") for g in gpus),
        min_gpu_vram_gb=min(vram) if vram else 0.0,
        ram_gb=float(cpu.get("ram_total_mb") or 0) / 1024,
        location=str(telemetry.get("location") or "any").lower(),
        engines=tuple(str(e).upper() for e in engines),
        multiplier=min(max(multiplier, 0.01), 1000.0),
        operator=operator,
    )


def tier_allows(tier: PricingTier, facts: NodeFacts, settings: Settings) -> bool:
    """Tier 2 wants nodes at least ``tier2_min_multiplier`` fast; Tier 3 only trusted operators."""
    if tier is PricingTier.TIER_2:
        return facts.multiplier >= settings.tier2_min_multiplier
    if tier is PricingTier.TIER_3:
        return facts.operator in {o.lower() for o in settings.trusted_operators}
    return True


def mismatch(job: JobSpec, facts: NodeFacts, settings: Settings) -> str | None:
    """Why the node cannot take the job (None when it can)."""
    if job.engine.value not in facts.engines:
        return "engine"
    if job.device is Device.GPU and facts.gpu_count < job.min_gpu_count:
        return "device"
    hw = job.hardware
    if hw.gpu_vendor is not GpuVendor.ANY and facts.gpu_vendor != hw.gpu_vendor.value:
        return "gpu vendor"
    if hw.gpu_model and not any(hw.gpu_model.lower() in m.lower() for m in facts.gpu_models):
        return "gpu model"
    if hw.min_vram_gb is not None and facts.min_gpu_vram_gb < hw.min_vram_gb:
        return "vram"
    if hw.min_ram_gb is not None and facts.ram_gb < hw.min_ram_gb:
        return "ram"
    if job.worker_location is not Region.ANY and facts.location != job.worker_location.value:
        return "location"
    if not tier_allows(job.pricing_tier, facts, settings):
        return "tier"
    return None


def tier_price(settings: Settings, tier: PricingTier | str) -> int:
    """Base units per reference-GPU-minute of a tier (the documented table in settings)."""
    value = tier.value if isinstance(tier, PricingTier) else tier
    return int(settings.tier_prices.get(value, settings.tier_prices.get("none", 1)))


def task_quote(settings: Settings, price: int, multiplier: float, ref_minutes: float) -> int:
    """Tier price × multiplier × the node's estimated minutes (× margin), capped; at least 1."""
    # Estimates are floats; money is not: take the estimates as exact rationals, round once, up.
    node_minutes = Fraction(ref_minutes) / Fraction(multiplier)
    raw = Fraction(price) * Fraction(multiplier) * node_minutes * Fraction(settings.quote_margin)
    return max(1, min(settings.max_task_quote, math.ceil(raw)))


def fact_values(facts: NodeFacts) -> dict[str, Any]:
    """``node_status`` column values of a node's facts."""
    return {
        "engines": list(facts.engines),
        "gpu_count": facts.gpu_count,
        "gpu_vendor": facts.gpu_vendor,
        "gpu_models": list(facts.gpu_models),
        "min_gpu_vram_gb": facts.min_gpu_vram_gb,
        "ram_gb": facts.ram_gb,
        "location": facts.location,
    }


@lru_cache(maxsize=64)
def trusted_operators(operators: tuple[str, ...]) -> list[str]:
    return sorted({o.lower() for o in operators})
