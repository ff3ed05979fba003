"""The performance multiplier: a real (short) benchmark render, then the cache."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import pytest

from blender import benchmark
from blender.benchmark import (
    BENCHMARK_SAMPLES,
    CACHE_FILE,
    REFERENCE_SECONDS,
    hardware_fingerprint,
    performance_multiplier,
)
from protocol.render_spec import Device
from protocol.telemetry import GpuInfo, collect_telemetry


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One real benchmark through the cache (about 3 s on the 2-core CI machine)."""
    cache_dir = tmp_path_factory.mktemp("bench-cache")
    return cache_dir, performance_multiplier(cache_dir=cache_dir, repeats=1)


def test_multiplier_is_sane(measured):
    _cache_dir, result = measured
    assert not result.cached and result.device == "CPU" and result.blender == "5.0.1"
    assert len(result.runs) == 1 and result.seconds == min(result.runs) > 0
    assert math.isclose(result.multiplier, REFERENCE_SECONDS / result.seconds, rel_tol=1e-3)
    # Loose on purpose: any machine that can run the suite lands within a factor of 50 of the reference.
    assert 0.02 < result.multiplier < 50
    assert result.reference_seconds == REFERENCE_SECONDS and BENCHMARK_SAMPLES == 32


def test_second_call_uses_the_cache(measured, monkeypatch):
    cache_dir, first = measured
    monkeypatch.setattr(benchmark, "run_benchmark", lambda **kw: pytest.fail("should not render again"))
    started = time.monotonic()
    again = performance_multiplier(cache_dir=cache_dir)
    assert again.cached and again.multiplier == first.multiplier and again.fingerprint == first.fingerprint
    assert time.monotonic() - started < 5
    stored = json.loads((cache_dir / CACHE_FILE).read_text())
    assert list(stored) == [first.fingerprint]


def test_stale_other_hardware_or_forced_results_are_measured_again(measured, monkeypatch, tmp_path):
    cache_dir, first = measured
    calls = []

    def fake_run(**kwargs):
        calls.append(kwargs)
        return replace(
            first,
            multiplier=1.5,
            fingerprint=hardware_fingerprint(kwargs["telemetry"], kwargs["device"], kwargs["threads"]),
        )

    monkeypatch.setattr(benchmark, "run_benchmark", fake_run)
    assert performance_multiplier(cache_dir=cache_dir, max_age_s=0).multiplier == 1.5  # too old
    assert performance_multiplier(cache_dir=cache_dir, force=True).multiplier == 1.5
    assert performance_multiplier(cache_dir=cache_dir, threads=1).multiplier == 1.5  # other settings
    assert len(calls) == 3
    # A damaged cache file is measured again, not an error.
    (tmp_path / CACHE_FILE).write_text("{not json")
    assert performance_multiplier(cache_dir=tmp_path).multiplier == 1.5


def test_fingerprint_follows_the_hardware():
    telemetry = collect_telemetry()
    base = hardware_fingerprint(telemetry, Device.CPU, None)
    assert base == hardware_fingerprint(telemetry, Device.CPU, None)
    gpu = GpuInfo(0, "NVIDIA GeForce RTX 4090", "GPU-1", "nvidia", 24_576, 0, 0, 0, 40, 30.0, 450.0)
    others = {
        hardware_fingerprint(telemetry, Device.GPU, None),
        hardware_fingerprint(telemetry, Device.CPU, 1),
        hardware_fingerprint(replace(telemetry, gpus=[gpu]), Device.CPU, None),
        hardware_fingerprint(replace(telemetry, cpu=replace(telemetry.cpu, model="Other CPU")), Device.CPU, None),
    }
    assert base not in others and len(others) == 4
