"""Liveness renders through the real API on PostgreSQL with real Blender at 64×48: the heartbeat's challenge, an
honest node's render passing (online points credited), wrong, blank, undecodable and late answers failing (online
points withheld), and the refusals that change nothing (another node's check 404, replay 409, 413, 400)."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image
from sqlalchemy import select, update

from blender.liveness import render_liveness
from chain.keys import generate_account
from protocol import signing as ns
from protocol.liveness import LivenessChallenge
from rewards.liveness import LIVENESS_MAX_BYTES, LIVENESS_MIN_PSNR_DB, LIVENESS_MIN_SSIM
from rewards.sources import credit_sources, online_points
from tables.points import liveness_checks, points_ledger, points_withheld
from tests.support.api import register_on_chain

pytestmark = pytest.mark.timeout(600)



def addr() -> str:
    return "0x" + secrets.token_hex(32)


def register(engine: Any, node_id: int, operator: str) -> Any:
    """A node key registered and staked as the indexer's mirror shows it (what node authentication reads)."""
    node = generate_account()
    register_on_chain(engine, node, operator, node_id=node_id)
    return node


def idle_day(pts: Any, nodes: dict[int, str]) -> tuple[Any, datetime]:
    """Yesterday 00:00–03:00 of heartbeats (every 5 min) by each node, no work anywhere: each gets a pending check
    at 01:00 whose deadline lies ahead of the real clock. Returns the pass settings and yesterday's midnight."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = today - timedelta(days=1)
    settings = pts.settings.model_copy(
        update={"rewards_liveness_idle_s": 3600, "rewards_liveness_deadline_s": 3 * 24 * 3600}
    )
    for i in range(0, 37):
        t = day + timedelta(minutes=5 * i)
        for node_id, operator in nodes.items():
            pts.heartbeat(node_id, operator, t)
        credit_sources(pts.engine, settings, t)
    with pts.engine.connect() as conn:
        checks = conn.execute(select(liveness_checks).order_by(liveness_checks.c.node_id)).all()
    assert [(c.node_id, c.status) for c in checks] == [(n, "pending") for n in sorted(nodes)]
    assert all(c.requested_at == day + timedelta(hours=1) for c in checks)
    return settings, day


def beat(pts: Any, node: Any) -> dict[str, Any]:
    response = pts.client.post("/nodes/heartbeat", json={"telemetry": {}}, auth=ns.NodeAuth(node))
    assert response.status_code == 200, response.text
    return response.json()


def answer(pts: Any, node: Any, check_id: int, body: bytes) -> Any:
    return pts.client.post(
        f"/nodes/liveness/{check_id}", content=body, headers={"Content-Type": "image/png"}, auth=ns.NodeAuth(node)
    )


def check_row(pts: Any, check_id: int) -> Any:
    with pts.engine.connect() as conn:
        return conn.execute(select(liveness_checks).where(liveness_checks.c.check_id == check_id)).one()


def render(challenge: dict[str, Any], tmp_path: Path, **changes: int) -> bytes:
    """What the worker agent renders for a challenge (``changes``: a dishonest variant)."""
    work = tmp_path / f"render-{secrets.token_hex(4)}"
    work.mkdir()
    return render_liveness(LivenessChallenge.parse({**challenge, **changes}), work)


def png(color: tuple[int, int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, color).save(out, "PNG")
    return out.getvalue()


def online_rows(pts: Any, table: Any, operator: str) -> list[Any]:
    with pts.engine.connect() as conn:
        return conn.execute(
            select(table).where(table.c.address == operator, table.c.source == "online").order_by(table.c.source_key)
        ).all()


def test_an_honest_node_passes_its_liveness_render_and_earns_the_day(pts, tmp_path) -> None:
    op = addr()
    node = register(pts.engine, 11, op)
    settings, _day = idle_day(pts, {11: op})
    challenge = beat(pts, node)["liveness"]
    assert set(challenge) == {"check_id", "seed", "width", "height", "samples", "frame", "deadline"}
    assert (challenge["width"], challenge["height"], challenge["samples"]) == (64, 48, 4)
    assert beat(pts, node)["liveness"] == challenge  # the seed is stored with the check: the same challenge again
    stored = check_row(pts, challenge["check_id"]).challenge
    assert (stored["seed"], stored["frame"]) == (challenge["seed"], challenge["frame"])

    result = answer(pts, node, challenge["check_id"], render(challenge, tmp_path))
    assert result.status_code == 200, result.text
    verdict = result.json()
    assert verdict["status"] == "passed", verdict
    assert verdict["evidence"]["metrics"]["ssim"] >= LIVENESS_MIN_SSIM
    row = check_row(pts, challenge["check_id"])
    assert row.status == "passed" and "matches the reference" in row.reason and row.evidence["challenge"]["seed"] == stored["seed"]
    assert "liveness" not in beat(pts, node)  # settled: no challenge any more

    again = answer(pts, node, challenge["check_id"], render(challenge, tmp_path))
    assert again.status_code == 409 and "already settled" in again.json()["detail"]
    assert pts.client.app.state.liveness_renderer.renders == 1  # the reference of a challenge is rendered once

    credit_sources(pts.engine, settings, datetime.now(UTC))
    assert [r.points for r in online_rows(pts, points_ledger, op)] == [online_points(3 * 3600)]
    assert online_rows(pts, points_withheld, op) == []


def test_wrong_blank_undecodable_and_late_answers_fail_and_withhold_the_day(pts, tmp_path) -> None:
    ops = {21: addr(), 22: addr(), 23: addr(), 24: addr()}
    nodes = {node_id: register(pts.engine, node_id, op) for node_id, op in ops.items()}
    settings, _day = idle_day(pts, ops)
    challenges = {node_id: beat(pts, node)["liveness"] for node_id, node in nodes.items()}

    # Another seed's scene (other objects, other Cycles noise): a render, but not of this challenge.
    wrong = challenges[21]
    other_seed = (wrong["seed"] + 1) % 2**31
    result = answer(pts, nodes[21], wrong["check_id"], render(wrong, tmp_path, seed=other_seed))
    assert result.status_code == 200, result.text
    verdict = result.json()
    assert verdict["status"] == "failed" and "does not match the reference" in verdict["reason"]
    metrics = verdict["evidence"]["metrics"]
    assert metrics["ssim"] < LIVENESS_MIN_SSIM or float(metrics["psnr_db"]) < LIVENESS_MIN_PSNR_DB

    blank = answer(pts, nodes[22], challenges[22]["check_id"], png((12, 12, 12, 255))).json()
    assert blank["status"] == "failed" and "not_blank" in blank["reason"]

    garbage = answer(pts, nodes[23], challenges[23]["check_id"], b"GIF89a not a render").json()
    assert garbage["status"] == "failed" and "not a PNG" in garbage["reason"]

    # Late: the deadline passed before the answer came (rendered honestly, still too late).
    late = challenges[24]
    with pts.engine.begin() as conn:
        conn.execute(
            update(liveness_checks)
            .where(liveness_checks.c.check_id == late["check_id"])
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    answered = answer(pts, nodes[24], late["check_id"], png((12, 12, 12, 255))).json()
    assert answered["status"] == "failed" and "after the check's deadline" in answered["reason"]

    for node_id, challenge in challenges.items():
        assert check_row(pts, challenge["check_id"]).status == "failed", node_id
    credit_sources(pts.engine, settings, datetime.now(UTC))
    for node_id, op in ops.items():
        assert online_rows(pts, points_ledger, op) == []
        [withheld] = online_rows(pts, points_withheld, op)
        assert f"failed liveness check {challenges[node_id]['check_id']}" in withheld.reason


def test_refusals_change_nothing_only_the_checks_node_answers_once(pts, tmp_path) -> None:
    owner_op, other_op = addr(), addr()
    owner, other = register(pts.engine, 31, owner_op), register(pts.engine, 32, other_op)
    idle_day(pts, {31: owner_op})
    with pts.engine.connect() as conn:
        [check] = conn.execute(select(liveness_checks)).all()
    early = answer(pts, owner, check.check_id, png((200, 10, 10, 255)))
    assert early.status_code == 409 and "no challenge yet" in early.json()["detail"]  # not issued yet
    challenge = beat(pts, owner)["liveness"]
    before = check_row(pts, check.check_id)

    assert "liveness" not in beat(pts, other)
    stolen = answer(pts, other, check.check_id, render(challenge, tmp_path))
    assert stolen.status_code == 404 and "no liveness check" in stolen.json()["detail"]
    assert answer(pts, owner, check.check_id + 1000, png((1, 2, 3, 255))).status_code == 404
    too_big = answer(pts, owner, check.check_id, b"\x89PNG\r\n\x1a\n" + b"\0" * LIVENESS_MAX_BYTES)
    assert too_big.status_code == 413 and str(LIVENESS_MAX_BYTES) in too_big.json()["detail"]
    empty = answer(pts, owner, check.check_id, b"")
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    unsigned = pts.client.post(f"/nodes/liveness/{check.check_id}", content=png((1, 2, 3, 255)))
    assert unsigned.status_code == 401
    assert check_row(pts, check.check_id) == before  # still pending, same challenge

    # The owner answers (a blank image: it fails); a second answer is a replay.
    assert answer(pts, owner, check.check_id, png((5, 5, 5, 255))).json()["status"] == "failed"
    replay = answer(pts, owner, check.check_id, png((5, 5, 5, 255)))
    assert replay.status_code == 409 and "already settled (failed)" in replay.json()["detail"]
    assert check_row(pts, check.check_id).status == "failed"


def test_answers_beyond_the_render_slots_wait_then_get_503_and_change_nothing(pts) -> None:
    op = addr()
    node = register(pts.engine, 41, op)
    idle_day(pts, {41: op})
    challenge = beat(pts, node)["liveness"]
    app = pts.client.app
    app.state.settings = app.state.settings.model_copy(
        update={"rewards_liveness_renders": 1, "rewards_liveness_render_wait_s": 0.2}
    )
    limiter = pts.client.portal.call(anyio.CapacityLimiter, 1)
    app.state.liveness_limiter = limiter
    pts.client.portal.call(limiter.acquire_on_behalf_of_nowait, "another answer being judged")
    before = check_row(pts, challenge["check_id"])
    busy = answer(pts, node, challenge["check_id"], png((5, 5, 5, 255)))
    assert busy.status_code == 503 and "send the answer again" in busy.json()["detail"]
    assert check_row(pts, challenge["check_id"]) == before
    pts.client.portal.call(limiter.release_on_behalf_of, "another answer being judged")
    assert answer(pts, node, challenge["check_id"], png((5, 5, 5, 255))).json()["status"] == "failed"


def test_an_unanswered_challenge_fails_at_the_deadline_even_without_work_while_an_unasked_check_is_excused(
    pts,
) -> None:
    silent_op, unasked_op = addr(), addr()
    silent = register(pts.engine, 51, silent_op)
    register(pts.engine, 52, unasked_op)
    settings, _day = idle_day(pts, {51: silent_op, 52: unasked_op})
    challenge = beat(pts, silent)["liveness"]  # node 52 never heartbeats through the API: never challenged
    deadline = check_row(pts, challenge["check_id"]).deadline
    credit_sources(pts.engine, settings, deadline + timedelta(minutes=1))  # nobody rendered anything meanwhile
    with pts.engine.connect() as conn:
        statuses = dict(conn.execute(select(liveness_checks.c.node_id, liveness_checks.c.status)).all())
    assert statuses == {51: "failed", 52: "excused"}
    assert "no answer to the liveness render" in check_row(pts, challenge["check_id"]).reason
    assert online_rows(pts, points_ledger, silent_op) == []
    [withheld] = online_rows(pts, points_withheld, silent_op)
    assert f"failed liveness check {challenge['check_id']}" in withheld.reason
    assert [r.points for r in online_rows(pts, points_ledger, unasked_op)] == [online_points(3 * 3600)]
