"""`pictor worker init --operator-key` registers the node on a real localnet, and the agent's
`escrow::submit_result` lands on chain with result_hash = sha256(canonical manifest) and the reference time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.node_api import NodeApiServer
from tests.support.worker import running, tiny_settings, wait_until, write_config

pytest.importorskip("chain.localnet")

from chain.client import PictorChain  # noqa: E402
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS  # noqa: E402
from chain.events import JobOpened, ResultSubmitted  # noqa: E402
from chain.keys import (  # noqa: E402
    ROLE_WORKER,
    account_address,
    generate_account,
    generate_key_file,
    load_key_file,
    load_localnet_keys,
    public_key_bytes,
)
from chain.localnet import start_localnet_process  # noqa: E402
from chain.payloads import apt_transfer  # noqa: E402
from protocol.manifest import reference_ms, result_hash  # noqa: E402
from worker_node.agent import WorkerAgent  # noqa: E402
from worker_node.config import load_config  # noqa: E402

pytestmark = pytest.mark.timeout(300)

PICTOR = 100_000_000
APT = 100_000_000


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    handle = start_localnet_process(tmp_path_factory.mktemp("worker-localnet"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def server() -> Iterator[NodeApiServer]:
    srv = NodeApiServer().start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_init_registers_on_chain_and_the_agent_submits_the_result(tmp_path, localnet, server, scenes):
    from typer.testing import CliRunner

    from cli.main import app

    chain = PictorChain(localnet.node_url, LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                        faucet_url=localnet.faucet_url, wait_timeout=120.0)  # fmt: skip
    keys = load_localnet_keys(Path(localnet.data_dir))
    pay, views = chain.payloads, chain.views
    try:
        operator_key = tmp_path / "operator.key"
        operator = generate_key_file(operator_key)
        creator = generate_account()
        for account in (operator, creator):
            await chain.fund(account_address(account), APT)
        params = await views.params()
        stake = max(params.min_worker_stake, 1)
        await chain.submit_and_wait(keys.admin, pay.token_mint(account_address(operator), stake))
        await chain.submit_and_wait(keys.admin, pay.token_mint(account_address(creator), 100 * PICTOR))
        await chain.submit_and_wait(operator, pay.staking_stake(ROLE_WORKER, stake))

        config = write_config(
            tmp_path, server, None, operator_address=account_address(operator), node_url=localnet.node_url,
            package_address=LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID, submit_on_chain=True,
            benchmark=False,
        )  # fmt: skip
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["worker", "init", "--config", str(config), "--operator-key", str(operator_key)]
        )
        assert result.exit_code == 0, result.output
        assert "registered on chain: node id" in result.output
        node = load_key_file(tmp_path / "node.key")
        node_id = await views.node_of_account(account_address(node))
        assert node_id > 0 and f"node id {node_id}," in result.output
        assert (await views.node(node_id)).operator == account_address(operator)

        # A job on chain with one task assigned to the node; the operator funds the node account's gas.
        await chain.submit_and_wait(creator, pay.vault_deposit(50 * PICTOR))
        opened = await chain.submit_and_wait(creator, pay.escrow_open_job(40 * PICTOR, 2 * PICTOR))
        job_id = opened.event(JobOpened).job_id
        await chain.submit_and_wait(keys.coordinator, pay.escrow_assign_task(job_id, 1, node_id, 10 * PICTOR))
        await chain.submit_and_wait(operator, apt_transfer(account_address(node), APT // 2))

        server.register_node(public_key_bytes(node))
        sha = server.add_blob(scenes.basic.read_bytes())
        # The API's ids differ from the escrow's: the lease carries both.
        server.add_task(1, 1000 + job_id, [1, 2], sha, tiny_settings()).chain_ids = (job_id, 1)
        agent = WorkerAgent(load_config(config), key=node)
        async with running(agent):
            await wait_until(lambda: agent.chain_results, timeout=120, what="the chain submission")
        record = agent.chain_results[0]
        assert record["status"] == "committed", record
        manifest = server.task(1).manifest
        assert manifest is not None
        seconds = sum(f["render_seconds"] for f in manifest["frames"])
        assert abs(record["reference_ms"] - reference_ms(seconds, None)) <= 2  # rounding of the 3-decimal seconds
        task = await views.task(job_id, 1)
        assert task.state == 2 and task.result_hash == result_hash(manifest)  # SUBMITTED
        tx = await chain.result_by_hash(record["txn_hash"])
        event = tx.event(ResultSubmitted)
        assert event.node_id == node_id and event.reference_ms == record["reference_ms"]
        assert json.loads(json.dumps(manifest))["node"] == account_address(node)
    finally:
        await chain.close()

