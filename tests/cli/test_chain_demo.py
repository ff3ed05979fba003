"""The chain demo end to end: a real localnet subprocess, real transactions, the money rules checked."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("chain.localnet")

from cli.chain_demo import PICTOR_UNIT, chain_demo  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One demo run (its own localnet subprocess and event loop) shared by the checks below."""
    lines: list[str] = []
    result = chain_demo(tmp_path_factory.mktemp("chain-demo"), out=lines.append)
    result["_printed"] = lines
    return result


def test_worker_checker_treasury_split_the_charge(demo: dict[str, Any]) -> None:
    charge = demo["charge"]
    # 12 reference minutes at 2 PICTOR a minute, under the 50 PICTOR quote.
    assert charge == 24 * PICTOR_UNIT
    assert demo["fee_split"] == {"worker_bps": 6000, "checker_bps": 1000}
    assert demo["worker_amount"] == charge * 60 // 100
    assert demo["checker_amount"] == charge * 10 // 100
    assert demo["treasury_amount"] == charge - demo["worker_amount"] - demo["checker_amount"]
    assert demo["worker_vault_after_settle"] == demo["worker_amount"]

    before, after = demo["before"]["parties"], demo["after"]["parties"]

    def delta(party: str, column: str) -> int:
        return after[party][column] - before[party][column]

    assert delta("checker_operator", "vault_balance") == demo["checker_amount"]
    assert delta("treasury", "vault_balance") == demo["treasury_amount"]
    # The worker operator withdrew its whole share to its wallet.
    assert delta("worker_operator", "vault_balance") == 0
    assert after["worker_operator"]["wallet"] == 150 * PICTOR_UNIT - 100 * PICTOR_UNIT + demo["worker_amount"]
    assert after["worker_operator"]["stake_worker"] == 100 * PICTOR_UNIT
    assert after["checker_operator"]["stake_checker"] == 100 * PICTOR_UNIT


def test_creator_gets_back_budget_minus_charge(demo: dict[str, Any]) -> None:
    assert demo["refund"] == demo["budget"] - demo["charge"] == 276 * PICTOR_UNIT
    assert demo["refund_credit"] == 0  # the creator deposited balance, no promotional credit
    creator = demo["after"]["parties"]["creator"]
    assert creator["vault_balance"] == demo["deposit"] - demo["budget"] + demo["refund"]
    assert creator["wallet"] == 1_000 * PICTOR_UNIT - demo["deposit"]
    assert demo["after"]["system"]["escrow_stores"] == {demo["job_id"]: 0}


def test_conservation_holds(demo: dict[str, Any]) -> None:
    assert demo["fresh_chain"] and demo["conserved"]
    for snap in (demo["before"], demo["after"]):
        s = snap["system"]
        assert (
            s["supply"]
            == s["wallets"]
            + s["vault_store"]
            + sum(s["escrow_stores"].values())
            + s["staking_store"]
            + s["rewards_store"]
        )
        assert s["vault_store"] == s["vault_total_credit"] + s["vault_total_balance"]
        assert s["staking_store"] == s["staking_active"] + s["staking_unbonding"]
    assert demo["after"]["system"]["supply"] == 1_300 * PICTOR_UNIT


def test_every_transaction_is_recorded_with_hash_and_version(demo: dict[str, Any]) -> None:
    log = demo["transactions"]
    steps = [t["step"] for t in log]
    for expected in (
        "vault::deposit", "escrow::open_job", "escrow::assign_task", "escrow::submit_result",
        "attestation::attest (pass)", "escrow::close_job", "vault::withdraw (earnings)",
    ):  # fmt: skip
        assert expected in steps
    assert sum(s.startswith("token::mint") for s in steps) == 3
    assert all(t["success"] for t in log)
    assert all(t["hash"].startswith("0x") and len(t["hash"]) == 66 for t in log)
    assert len({t["hash"] for t in log}) == len(log) and len({t["version"] for t in log}) == len(log)
    ordered = [t["version"] for t in log if t["step"] in ("escrow::open_job", "escrow::assign_task",
                                                           "escrow::submit_result", "escrow::close_job")]  # fmt: skip
    assert ordered == sorted(ordered)
    printed = "\n".join(demo["_printed"])
    assert all(t["hash"] in printed for t in log)
    assert "conservation: holds" in printed
