"""``pictor up --demo`` end to end in a subprocess: localnet, embedded PostgreSQL, indexer, API, two worker nodes
rendering a real job in Blender, a real checker node (``pictor checker run``) verifying and attesting every task
on chain, the creator paying and accepting through the creator CLI's code, settlement, the on-chain trail from
the mirror, the conservation checks, and nothing left running afterwards."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from PIL import Image

from tests.support import REPO_ROOT

pytestmark = pytest.mark.timeout(400)


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A folder outside pytest's temporary root: the embedded server runs as an unprivileged user that must
    traverse the parents (pytest makes its root 0700), else stopping it fails and it keeps running."""
    root = Path(tempfile.mkdtemp(prefix="pictor-demo-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention ``text``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if text in cmdline:
            found.append(f"{proc.pid}: {cmdline}")
    return found


def test_demo_renders_on_two_workers_a_checker_node_verifies_and_it_settles(data_root: Path) -> None:
    data_dir, out = data_root / "demo", data_root / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--demo", "--frames", "2", "--data-dir", str(data_dir),
         "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=360,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-6000:]
    summary = json.loads((data_dir / "demo.json").read_text())
    nodes = summary["nodes"]
    checker = nodes["checker"]
    workers = [nodes["worker-1"], nodes["worker-2"]]
    assert checker["role"] == "checker" and all(w["role"] == "worker" for w in workers)
    assert re.search(r"worker-1: .*`pictor worker run` started", text) and re.search(r"worker-2: .*run` started", text)
    assert re.search(r"checker: .*`pictor checker init` registered node \d+; `pictor checker run` started", text)
    # Three operators: the checker never checks its own operator's frames.
    assert len({checker["operator"], *(w["operator"] for w in workers)}) == 3

    # Every task (2 frames, 1 per task) attested "pass" on chain by the checker's node, as the mirror shows it,
    # and printed live per frame with its transaction.
    attested = summary["attestations"]
    assert sorted(int(a["task_id"]) for a in attested) == [1, 2], attested
    for a in attested:
        assert a["pass"] is True and int(a["node_id"]) == checker["node_id"] and a["operator"] == checker["operator"]
        assert re.search(rf"frame \d verified by checker node {checker['node_id']} \(task {a['task_id']},"
                         rf" tx {a['txn_hash']}", text), text[-6000:]  # fmt: skip
    assert f"rendered frames: 2/2 by 2 worker nodes, verified by checker node {checker['node_id']}" in text

    # One settlement per task: the rendering worker's operator paid, the checker's operator named, all on chain.
    settled = summary["settlements"]
    assert sorted(int(s["task_id"]) for s in settled) == [1, 2]
    worker_ops = {w["operator"]: w["node_id"] for w in workers}
    for s in settled:
        assert worker_ops[s["worker_operator"]] == int(s["node_id"]) and int(s["worker_amount"]) > 0
        assert s["checkers"] == [checker["operator"]] and int(s["checker_amount"]) > 0
    assert re.search(r"escrow opened\s+v\d+\s+0x[0-9a-f]{64}", text), text[-6000:]
    assert len(re.findall(r"task \d attested v\d+\s+0x[0-9a-f]{64}  pass by checker node", text)) == 2
    assert len(re.findall(r"task \d settled v\d+\s+0x[0-9a-f]{64}", text)) == 2
    assert len(re.findall(r"escrow::accept_task task \d", text)) == 2  # the creator accepts (review window on)
    assert re.search(r"refund at close v\d+\s+0x[0-9a-f]{64}\s+0\.99999\d{3} PICTOR", text)
    assert "(60%)" in text and "(10%)" in text and "creator refund" in text

    # Conservation and the vaults: every check held, the worker and checker operators hold their shares.
    assert summary["conserved"] is True and all(summary["checks"].values()), summary["checks"]
    assert "[FAILED]" not in text and "conservation: holds" in text
    assert "(stopping " not in text  # every service stopped cleanly
    assert summary["points"]["creator"]["points"] > 0  # the creator's completed job, credited at once

    # Nothing left running: the three agents, their Blender children, the localnet and PostgreSQL are gone.
    for name, node in nodes.items():
        assert node["pid"] and not _running(node["pid"]), f"{name} (pid {node['pid']}) still runs"
    assert _mentioning(str(data_dir)) == []

    frames = sorted(out.iterdir())
    assert [p.name for p in frames] == ["frame_000001.png", "frame_000002.png"]
    for path in frames:
        with Image.open(path) as image:
            assert image.size == (160, 120)
    assert (data_dir / "creator" / "wallet.key").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "checker" / "node.key").stat().st_mode & 0o777 == 0o600
