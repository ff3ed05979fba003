"""The benchmarks run end to end at a small size and report figures that can be believed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.localnet import run_bench as localnet_bench
from bench.scheduler import run_bench as scheduler_bench
from tests.support import REPO_ROOT

pytestmark = pytest.mark.slow


def test_the_scheduler_benchmark_claims_every_task_once() -> None:
    figures = scheduler_bench(tasks=120, workers=8, processes=1, connections=4, render_ms=0)
    assert figures["double_claims"] == 0
    assert figures["claims"] == 120 and figures["tasks"] == 120 and figures["errors"] == 0
    assert figures["tasks_rendered_db"] == 120
    assert figures["claims_per_s"] > 0 and figures["p99_claim_ms"] > 0


def test_the_localnet_benchmark_commits_transfers() -> None:
    figures = localnet_bench(seconds=2, clients=2, warmup=0.5)
    assert figures["tps"] > 0 and 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_pictor_bench_prints_one_json_line_last() -> None:
    run = subprocess.run([sys.executable, "-m", "cli.main", "bench", "localnet", "--seconds", "1", "--clients", "1"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    last = json.loads(run.stdout.strip().splitlines()[-1])
    assert last["tps"] > 0
