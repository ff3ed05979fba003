"""The creator CLI (``pictor wallet …``, ``pictor job …``) as subprocesses against ``pictor up`` (a real localnet,
PostgreSQL, indexer and API) and a real ``pictor worker run`` rendering a tiny scene with Blender: exact
integer amounts on chain, key and session files 0600, every bad input answered with exit code 2 and nothing changed,
submit → watch → download end to end, a cancelled job watched to a non-zero exit, and Ctrl-C stopping the
stack cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from blender.scenegen import SceneSpec, generate_scene
from chain.client import PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.keys import account_address, load_key_file, load_role_keys
from chain.payloads import TASK_SUBMITTED
from cli.up import UpProcess, child_env, pictor_command, provision_worker
from creator.keys import create_wallet, session_path
from creator.wallet import deposit, fund_wallet
from pictor.db import get_engine
from tables.jobs import jobs, tasks
from tables.uploads import uploads
from tests.support.stack import up_stack

pytestmark = pytest.mark.timeout(900)
PICTOR = 10**8


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """``pictor up`` in a subprocess on a fresh copy of the migrated template database."""
    yield from up_stack(pg_server, tmp_path_factory.mktemp("up"))


def cli(
    stack: UpProcess, *args: str, timeout: float = 300, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``pictor ARGS`` pointed at the stack (PICTOR_DATA_DIR is the stack's, so no default key exists)."""
    env = child_env({**stack.env(), "PICTOR_DATA_DIR": str(stack.root / "cli-home"), **(extra_env or {})})
    env.pop("PICTOR_WALLET_KEY", None)
    if not extra_env:
        env.pop("TTY_COMPATIBLE", None)
        env.pop("FORCE_COLOR", None)
    return subprocess.run(pictor_command(*args), env=env, capture_output=True, text=True, timeout=timeout)


def chain_of(stack: UpProcess) -> object:
    return PictorChain(stack.info["PICTOR_NODE_URL"], LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                       faucet_url=stack.info["PICTOR_FAUCET_URL"], wait_timeout=60)  # fmt: skip


def on_chain(stack: UpProcess, work) -> object:
    async def go() -> object:
        chain = chain_of(stack)
        try:
            return await work(chain)
        finally:
            await chain.close()

    return asyncio.run(go())


def shown(output: str) -> dict[str, str]:
    """``pictor wallet show``'s lines as a dict."""
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in output.splitlines() if ":" in line)}


def test_wallet_create_fund_deposit_show_and_bad_input(stack: UpProcess, tmp_path: Path) -> None:
    key = tmp_path / "wallet.key"
    created = cli(stack, "wallet", "create", "--key-file", str(key))
    assert created.returncode == 0, created.stderr
    assert key.stat().st_mode & 0o777 == 0o600
    address = account_address(load_key_file(key))
    assert address in created.stdout
    before = key.read_bytes()
    again = cli(stack, "wallet", "create", "--key-file", str(key))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr and key.read_bytes() == before

    funded = cli(stack, "wallet", "fund", "25.5", "--key-file", str(key))
    assert funded.returncode == 0, funded.stderr
    assert re.search(r"transaction 0x[0-9a-f]{64}", funded.stdout)
    deposited = cli(stack, "wallet", "deposit", "10.12345678", "--key-file", str(key))
    assert deposited.returncode == 0, deposited.stderr
    show = cli(stack, "wallet", "show", "--key-file", str(key))
    assert show.returncode == 0, show.stderr
    lines = shown(show.stdout)
    assert lines["address"] == address
    assert lines["wallet PICTOR"] == "15.37654322" and lines["vault balance"] == "10.12345678"
    assert lines["vault credit"] == "0.00000000" and float(lines["APT (gas)"]) > 0

    async def read(chain) -> tuple[int, int]:
        return await chain.pictor_balance(address), (await chain.views.vault_account(address)).balance

    assert on_chain(stack, read) == (1_537_654_322, 1_012_345_678)  # exact base units

    # Bad input: exit code 2, a message, nothing changed on chain.
    for args, words in [
        (("wallet", "deposit", "100"), "wallet holds 15.37654322"),
        (("wallet", "deposit", "1.123456789"), "at most 8 decimals"),
        (("wallet", "fund", "abc"), "not a PICTOR amount"),
        (("wallet", "fund", "0"), "more than 0"),
        (("wallet", "fund", "5000"), "faucet gives at most"),
    ]:
        bad = cli(stack, *args, "--key-file", str(key))
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert words in bad.stderr, (args, bad.stderr)
    assert on_chain(stack, read) == (1_537_654_322, 1_012_345_678)
    missing = tmp_path / "nobody.key"
    for args in (("wallet", "show"), ("wallet", "fund", "1"), ("wallet", "login"), ("job", "watch", "1")):
        bad = cli(stack, *args, "--key-file", str(missing))
        assert bad.returncode == 2 and "no wallet key file" in bad.stderr, (args, bad.stderr)
    default = cli(stack, "wallet", "show")  # no --key-file and none in the data dir
    assert default.returncode == 2 and "cli-home/wallet.key" in default.stderr

    login = cli(stack, "wallet", "login", "--key-file", str(key))
    assert login.returncode == 0, login.stderr
    session_file = session_path(key)
    assert session_file.stat().st_mode & 0o777 == 0o600
    session = json.loads(session_file.read_text())
    me = httpx.get(stack.info["PICTOR_API_URL"] + "/auth/me", headers={"Authorization": f"Bearer {session['token']}"})
    assert me.status_code == 200 and me.json() == {"address": address}


def test_submit_watch_download_with_a_real_worker(stack: UpProcess, tmp_path: Path) -> None:
    engine = get_engine(stack.info["database_url"])
    keys = load_role_keys(stack.info["PICTOR_KEYS_DIR"])
    worker = on_chain(stack, lambda chain: provision_worker(chain, keys, stack.info["PICTOR_API_URL"],
                                                            tmp_path / "worker", "cli-worker"))  # fmt: skip
    worker.start()
    try:
        key = tmp_path / "creator.key"
        creator = create_wallet(key)

        async def pay(chain) -> None:
            await fund_wallet(chain, creator, 10 * PICTOR)
            await deposit(chain, creator, 10 * PICTOR)

        on_chain(stack, pay)
        scene = generate_scene(tmp_path / "tiny.blend", SceneSpec(frame_start=1, frame_end=3, resolution_x=64,
                                                                  resolution_y=64, samples=4))  # fmt: skip
        tiny = ("--resolution", "64x64", "--samples", "4", "--engine", "cycles", "--device", "CPU")

        def uploads_of(owner: str) -> int:
            with engine.connect() as conn:
                return conn.execute(
                    select(func.count()).select_from(uploads).where(uploads.c.owner == owner)
                ).scalar_one()

        # Bad input: exit code 2 with a message, nothing uploaded or created.
        address = account_address(creator)
        for args, words in [
            ((str(tmp_path / "missing.blend"), "--frames", "1-3"), "no such scene file"),
            ((str(scene), "--frames", "5-1"), "frames"),
            ((str(scene), "--frames", "1-3", "--resolution", "HDX"), "resolution"),
            ((str(scene), "--frames", "1-3", "--samples", "0"), "samples"),
            ((str(scene), "--frames", "1-3", "--tier", "gold"), "pricing tier"),
            ((str(scene), "--frames", "1-3", "--budget", "0.000000001"), "at most 8 decimals"),
        ]:
            bad = cli(stack, "job", "submit", *tiny, *args, "--key-file", str(key))  # the last option wins
            assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
            assert words in bad.stderr, (args, bad.stderr)
        too_big = cli(
            stack, "job", "submit", str(scene), "--frames", "1-3", *tiny, "--budget", "50", "--key-file", str(key)
        )
        assert too_big.returncode == 2 and "the vault holds 10.00000000 PICTOR" in too_big.stderr, too_big.stderr
        assert uploads_of(address) == 0
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(jobs).where(jobs.c.owner == address)).scalar_one() == 0

        submitted = cli(stack, "job", "submit", str(scene), "--frames", "1-3", "--chunk", "2", *tiny,
                        "--key-file", str(key))  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        out = submitted.stdout
        assert "inspection: scene 'Scene'" in out and "frames 1-3" in out, out
        assert "estimate: 3 frames in 2 tasks" in out and "quoted total" in out, out
        assert re.search(r"escrow::open_job signed by .* transaction 0x[0-9a-f]{64}", out), out
        job_id = int(re.search(r"job id: (\d+)", out).group(1))
        assert uploads_of(address) == 1  # the refused submissions uploaded nothing

        watched = cli(stack, "job", "watch", str(job_id), "--timeout", "400", "--key-file", str(key), timeout=450)
        assert watched.returncode == 0, watched.stdout + watched.stderr + worker.log.read_text()[-3000:]
        assert f"job {job_id} completed: 3/3 rendered" in watched.stdout
        assert f"job {job_id} finished: 3 frames rendered" in watched.stdout
        # On a terminal the same stream drives rich progress bars (forced here: the test has no tty).
        bars = cli(stack, "job", "watch", str(job_id), "--key-file", str(key), extra_env={"TTY_COMPATIBLE": "1"})
        assert bars.returncode == 0, bars.stdout + bars.stderr
        assert f"job {job_id} rendered" in bars.stdout and "3/3" in bars.stdout and "━" in bars.stdout

        frames_dir = tmp_path / "frames"
        downloaded = cli(stack, "job", "download", str(job_id), "--out", str(frames_dir), "--key-file", str(key))
        assert downloaded.returncode == 0, downloaded.stderr
        names = sorted(p.name for p in frames_dir.iterdir())
        assert names == ["frame_000001.png", "frame_000002.png", "frame_000003.png"]
        for name in names:
            with Image.open(frames_dir / name) as image:
                assert image.size == (64, 64)

        with engine.connect() as conn:
            job = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).one()
            states = conn.execute(select(tasks.c.state, tasks.c.node_id).where(tasks.c.job_id == job_id)).all()
        assert job.owner == address and job.state == "completed"
        assert {s for s, _ in states} == {"rendered"} and {n for _, n in states} == {worker.node_id}

        async def escrow(chain) -> tuple[object, list[object]]:
            deadline = asyncio.get_running_loop().time() + 120
            while True:
                infos = [await chain.views.task(int(job.chain_job_id), seq) for seq in (1, 2)]
                if all(i.state >= TASK_SUBMITTED for i in infos) or asyncio.get_running_loop().time() > deadline:
                    return await chain.views.job(int(job.chain_job_id)), infos
                await asyncio.sleep(0.3)

        opened, infos = on_chain(stack, escrow)
        assert opened.creator == address and opened.budget == int(job.budget)
        assert all(i.state >= TASK_SUBMITTED for i in infos), infos

        # Someone else's job is "no such job" (the API's 404 relayed, exit 2); so is an unknown id.
        other = tmp_path / "other.key"
        create_wallet(other)
        for key_file, job in ((other, job_id), (key, 999_999)):
            refused = cli(stack, "job", "watch", str(job), "--key-file", str(key_file))
            assert refused.returncode == 2 and "HTTP 404" in refused.stderr and "no such job" in refused.stderr
            refused = cli(stack, "job", "download", str(job), "--out", str(tmp_path / "x"), "--key-file", str(key_file))
            assert refused.returncode == 2 and "no such job" in refused.stderr

        # A cancelled job: watch exits non-zero.
        worker.stop()
        second = cli(stack, "job", "submit", str(scene), "--frames", "1", *tiny, "--key-file", str(key))
        assert second.returncode == 0, second.stderr
        second_id = int(re.search(r"job id: (\d+)", second.stdout).group(1))
        token = json.loads(session_path(key).read_text())["token"]
        cancel = httpx.post(f"{stack.info['PICTOR_API_URL']}/jobs/{second_id}/cancel",
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert cancel.status_code == 200, cancel.text
        watched = cli(stack, "job", "watch", str(second_id), "--key-file", str(key))
        assert watched.returncode == 1 and "was cancelled" in watched.stderr, watched.stdout + watched.stderr
    finally:
        worker.stop()


def test_ctrl_c_stops_the_stack(stack: UpProcess) -> None:
    localnet = json.loads((stack.root / "localnet" / "localnet.json").read_text())
    assert stack.stop() == 0, stack.log.read_text()[-3000:]
    assert not (stack.root / "up.json").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(int(localnet["pid"]), 0)
    with pytest.raises(httpx.HTTPError):
        httpx.get(stack.info["PICTOR_API_URL"] + "/health", timeout=2)
