"""``pictor up``: the whole service stack on one machine, and the pieces the demo and the end-to-end tests share.

:func:`start_stack` starts the localnet (subprocess), PostgreSQL (``DATABASE_URL``, else the embedded server
under the data dir; migrated), the indexer (a task of the caller's event loop) and the API (uvicorn in a
thread, its scheduler loop on, the localnet's coordinator key for the chain outbox). :func:`provision_node`
makes a worker or checker node the way an operator does (stake, ``pictor worker/checker init`` registering the
node on chain, APT for the node's gas); :class:`WorkerNode` runs ``pictor worker run`` and :class:`CheckerNode`
``pictor checker run`` (:func:`checker_node.cli.start_checker`) as real subprocesses.

``pictor up`` keeps the stack running until Ctrl-C (or SIGTERM) and writes ``<data dir>/up.json`` with the
URLs the creator CLI needs (``PICTOR_NODE_URL``, ``PICTOR_FAUCET_URL``, ``PICTOR_API_URL``); ``pictor up
--demo`` runs the main job on a fresh stack instead (:mod:`cli.demo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import psutil
import uvicorn
from sqlalchemy.engine import make_url

from api.app import create_app
from chain.client import PictorChain
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS
from chain.keys import (
    ROLE_CHECKER,
    ROLE_WORKER,
    LocalnetKeys,
    account_address,
    generate_account,
    load_key_file,
    write_key_file,
)
from chain.localnet import LocalnetProcess, start_localnet_process
from checker_node.cli import start_checker
from indexer.runner import Indexer, IndexerConfig
from pictor import db
from pictor.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
UP_FILE = "up.json"
APT = 10**8
#: APT (octas) a node account gets for the gas of its ``escrow::submit_result`` transactions.
NODE_GAS = 2 * APT


class StackError(RuntimeError):
    """A part of the stack failed to start or stopped; the message says which and why."""


class Services:
    """Everything started, stopped in reverse order (idempotent; also from a signal or an error)."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()

    def add(self, name: str, stop: Callable[[], None]) -> None:
        """Register how to stop something just started."""
        with self._lock:
            self._stops.append((name, stop))

    def stop_all(self) -> None:
        """Stop everything, newest first; a failing stop is reported and the rest still stopped."""
        while True:
            with self._lock:
                if not self._stops:
                    return
                name, stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"  (stopping {name}: {type(exc).__name__}: {exc})", file=sys.stderr)


class ApiServer:
    """An API app served by uvicorn in a thread on 127.0.0.1 (port 0: a free one); lifespan on."""

    def __init__(self, app: Any, port: int = 0, host: str = "127.0.0.1") -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise StackError(f"the API cannot listen on {host}:{port}: {exc}") from None
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", proxy_headers=False))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign] # signals are ours
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise StackError("the API did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(20)


@dataclass
class Stack:
    """A running stack: where it lives, its URLs, the database and the indexer task."""

    root: Path
    localnet: LocalnetProcess
    database_url: str
    engine: Any
    api: ApiServer
    settings: Settings
    indexer_task: asyncio.Task[None]
    indexer_chain: PictorChain

    @property
    def node_url(self) -> str:
        """The localnet's REST API (ends in /v1)."""
        return self.localnet.node_url

    @property
    def faucet_url(self) -> str:
        """The localnet's faucet."""
        return self.localnet.faucet_url

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return self.api.url

    @property
    def keys_dir(self) -> Path:
        """The localnet's genesis keys (admin, coordinator, treasury)."""
        return self.localnet.keys_dir

    def chain(self) -> PictorChain:
        """A chain client of this stack for the caller's event loop."""
        return PictorChain(self.node_url, LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                           faucet_url=self.faucet_url, wait_timeout=60)  # fmt: skip

    def env(self) -> dict[str, str]:
        """The environment that points the CLI (wallet, job, worker) at this stack."""
        return {"PICTOR_NODE_URL": self.node_url, "PICTOR_FAUCET_URL": self.faucet_url,
                "PICTOR_API_URL": self.api_url, "PICTOR_KEYS_DIR": str(self.keys_dir)}  # fmt: skip

    def check(self) -> None:
        """Raise StackError when the localnet or the indexer has stopped."""
        if not self.localnet.alive():
            raise StackError(f"the localnet exited:\n{self.localnet.log_tail(2000)}")
        if self.indexer_task.done():
            error = None if self.indexer_task.cancelled() else self.indexer_task.exception()
            raise StackError(f"the indexer stopped: {error!r}")


async def start_stack(root: Path, services: Services, *, port: int = 0, faucet_port: int = 0, api_port: int = 0,
                      database_url: str | None = None, step: Callable[[str], None] = print,
                      **settings_overrides: Any) -> Stack:  # fmt: skip
    """Start localnet, PostgreSQL (migrated), indexer and API under ``root``; each stop is registered."""
    root.mkdir(parents=True, exist_ok=True)
    localnet = await asyncio.to_thread(start_localnet_process, root / "localnet", port=port, faucet_port=faucet_port)
    services.add("localnet", localnet.stop)
    step(f"localnet up at {localnet.node_url} (faucet {localnet.faucet_url}, pid {localnet.pid})")
    url = database_url or get_settings().database_url
    if url:
        url = db.sqlalchemy_url(url)
        where = "PostgreSQL at DATABASE_URL"
    else:
        pgdata = root / "postgres"
        url = await asyncio.to_thread(db.start_embedded, pgdata)
        services.add("embedded PostgreSQL", lambda: db.stop_embedded(pgdata))
        where = f"embedded PostgreSQL in {pgdata}"
    await asyncio.to_thread(db.upgrade, url)
    engine = db.get_engine(url)
    services.add("database engine", engine.dispose)
    step(f"{where} up, migrated")

    def client() -> PictorChain:
        return PictorChain(localnet.node_url, LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
                           faucet_url=localnet.faucet_url, wait_timeout=60)  # fmt: skip

    indexer_chain = client()
    indexer_task = asyncio.create_task(
        Indexer(indexer_chain, IndexerConfig(database_url=url, poll_interval=0.2)).run(), name="indexer"
    )
    values: dict[str, Any] = {"scheduler_interval_s": 0.5, **settings_overrides}
    values.update(data_dir=root / "api", keys_dir=localnet.keys_dir, node_url=localnet.node_url,
                  faucet_url=localnet.faucet_url, chain_id=LOCALNET_CHAIN_ID)  # fmt: skip
    settings = Settings(**values)  # the rest (lease_s, limits, …) from PICTOR_* as usual
    app = create_app(engine, client())
    app.state.settings = settings
    api = await asyncio.to_thread(ApiServer, app, api_port)
    services.add("API", api.stop)
    step(f"indexer following the chain; API serving at {api.url}")
    return Stack(root, localnet, url, engine, api, settings, indexer_task, indexer_chain)


async def stop_indexer(stack: Stack) -> None:
    """Cancel the indexer task and close its chain client."""
    stack.indexer_task.cancel()
    await asyncio.gather(stack.indexer_task, return_exceptions=True)
    await stack.indexer_chain.close()


# ----------------------------------------------------------------------------- worker and checker nodes


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``pictor`` child process (this checkout importable, unbuffered output)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def pictor_command(*args: str) -> list[str]:
    """``python -m cli.main ARGS`` with this interpreter."""
    return [sys.executable, "-m", "cli.main", *args]


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file ('' when there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class NodeAgent:
    """A provisioned node: its folder, config, operator and node accounts; runs ``pictor ROLE run``."""

    role: ClassVar[str] = "worker"
    name: str
    folder: Path
    operator_address: str
    node_address: str
    node_id: int | None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        """The node's config file."""
        return self.folder / f"{self.role}-config.json"

    @property
    def log(self) -> Path:
        """The agent's log."""
        return self.folder / f"{self.role}.log"

    def start(self) -> int:
        """Start the agent; its pid."""
        raise NotImplementedError

    def alive(self) -> bool:
        """Whether the agent runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the agent finishes its frame or verification, or gives the lease back), then SIGKILL."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """``kill -9`` the agent and everything it started (its Blender), as a crash would."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(30)


@dataclass
class WorkerNode(NodeAgent):
    """A worker node; ``pictor worker run`` in its own process group (a kill reaches its Blender too)."""

    role: ClassVar[str] = "worker"

    def start(self) -> int:
        """Start ``pictor worker run``; the pid."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                pictor_command("worker", "run", "--config", str(self.config)), cwd=REPO_ROOT, env=child_env(),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        return self.proc.pid

    def kill(self) -> None:
        """``kill -9`` the agent's process group (the agent and its Blender), as a crash would."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


@dataclass
class CheckerNode(NodeAgent):
    """A checker node; ``pictor checker run`` started by :func:`checker_node.cli.start_checker`."""

    role: ClassVar[str] = "checker"

    def start(self) -> int:
        """Start ``pictor checker run``; the pid."""
        self.proc = start_checker(self.config, log_path=self.log, cwd=REPO_ROOT, env=child_env())
        return self.proc.pid


@dataclass(frozen=True)
class InitTxn:
    """A transaction that ``pictor worker/checker init`` printed (its hash and version)."""

    hash: str
    version: int


_INIT_TXN = re.compile(
    r"^(?P<what>staked|registered on chain).*transaction (?P<hash>0x[0-9a-f]{64}) \(version (?P<v>\d+)\)"
)
_NODE_ID = re.compile(r"node id (\d+),")

#: Per role: the node class and the config keys beyond the common ones.
_ROLES: dict[str, tuple[type[NodeAgent], dict[str, Any]]] = {
    "worker": (WorkerNode, {"task_heartbeat_s": 1, "shutdown_grace_s": 20, "benchmark": False}),
    "checker": (CheckerNode, {"role": "checker", "verify_heartbeat_s": 2, "cache_dir": "cache"}),
}


async def provision_node(chain: PictorChain, keys: LocalnetKeys, api_url: str, folder: Path, name: str, role: str,
                         record: Callable[[str, str, Any], Any] | None = None) -> NodeAgent:  # fmt: skip
    """An operator of its own gets APT and the role's minimum stake (PICTOR minted by the localnet admin) and
    stakes it, runs ``pictor ROLE init`` (the node key, registered on chain) and sends the node account APT for
    gas; the node is ready for ``start``. ``record(step, sender, transaction)`` sees every transaction."""
    node_class, extra = _ROLES[role]
    role_id = ROLE_CHECKER if role == "checker" else ROLE_WORKER

    def note(step: str, sender: str, result: Any) -> None:
        if record is not None:
            record(step, sender, result)

    operator = generate_account()
    operator_address = account_address(operator)
    params = await chain.views.params()
    stake = max(params.min_checker_stake if role == "checker" else params.min_worker_stake, 1)
    for result in await chain.fund(operator_address, NODE_GAS):
        note("faucet: APT for gas", "faucet", result)
    note(f"token::mint to {name} operator", "admin",
         await chain.submit_and_wait(keys.admin, chain.payloads.token_mint(operator_address, stake)))  # fmt: skip
    note(f"staking::stake ({name})", f"{name} operator",
         await chain.submit_and_wait(operator, chain.payloads.staking_stake(role_id, stake)))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    write_key_file(folder / "operator.key", operator)
    node = node_class(name, folder, operator_address, "", None)
    config = {"worker_id": name, "api_url": api_url, "operator_address": operator_address, "node_url": chain.node_url,
              "package_address": LOCALNET_PACKAGE_ADDRESS, "chain_id": LOCALNET_CHAIN_ID, "heartbeat_s": 1,
              "poll_s": 0.5, "max_backoff_s": 2, **extra}  # fmt: skip
    node.config.write_text(json.dumps(config, indent=2))
    init = await asyncio.to_thread(
        subprocess.run, pictor_command(role, "init", "--config", str(node.config), "--operator-key",
                                       str(folder / "operator.key")),
        cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=180)  # fmt: skip
    (folder / "init.log").write_text(init.stdout + init.stderr)
    if init.returncode != 0:
        raise StackError(f"`pictor {role} init` of {name} failed (exit {init.returncode}):\n"
                         f"{log_tail(folder / 'init.log')}")  # fmt: skip
    for line in init.stdout.splitlines():
        if match := _INIT_TXN.match(line):
            step = "staking::stake" if match["what"] == "staked" else "registry::register_node"
            note(
                f"{step} ({name}, by `pictor {role} init`)", f"{name} operator", InitTxn(match["hash"], int(match["v"]))
            )
            if ids := _NODE_ID.search(line):
                node.node_id = int(ids[1])
    node.node_address = account_address(load_key_file(folder / "node.key"))
    for result in await chain.fund(node.node_address, NODE_GAS):  # the node pays its submit_result / attest gas
        note("faucet: APT for gas", "faucet", result)
    return node


async def provision_worker(chain: PictorChain, keys: LocalnetKeys, api_url: str, folder: Path, name: str,
                           record: Callable[[str, str, Any], Any] | None = None) -> WorkerNode:  # fmt: skip
    """:func:`provision_node` of a worker."""
    return cast(WorkerNode, await provision_node(chain, keys, api_url, folder, name, "worker", record))


# ----------------------------------------------------------------------------- pictor up


def write_up_file(stack: Stack) -> Path:
    """``<root>/up.json``: the URLs, keys dir and pid of this stack (what a script or a test reads)."""
    info = {**stack.env(), "pid": os.getpid(), "database": make_url(stack.database_url).render_as_string(True)}
    path = stack.root / UP_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, path)
    return path


async def _serve(root: Path, services: Services, port: int, faucet_port: int, api_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    os.environ.setdefault("PICTOR_LEADERBOARD_BACKGROUND", "true")  # a served stack refreshes boards, as `pictor api`
    stack = await start_stack(root, services, port=port, faucet_port=faucet_port, api_port=api_port)
    try:
        path = write_up_file(stack)
        print("\nthe stack is up; point the CLI at it with:", flush=True)
        for key, value in stack.env().items():
            print(f"  export {key}={value}")
        print(f"({path}; Ctrl-C stops everything)", flush=True)
        while not stop.is_set():
            stack.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        print("\nstopping", flush=True)
    finally:
        (root / UP_FILE).unlink(missing_ok=True)
        await stop_indexer(stack)


def main(data_dir: Path | None, port: int, faucet_port: int, api_port: int) -> int:
    """``pictor up``: run the stack until Ctrl-C; 0 after a clean stop, 1 when a part failed."""
    root = Path(data_dir or get_settings().data_dir).resolve()
    services = Services()
    print(f"Pictor stack in {root}", flush=True)
    try:
        asyncio.run(_serve(root, services, port, faucet_port, api_port))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - one clear line, then clean up
        print(f"\npictor up failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        services.stop_all()
    print("stopped", flush=True)
    return 0


# ----------------------------------------------------------------------------- for tests: pictor up as a process


class UpProcess:
    """``pictor up`` in a subprocess (free ports, its own data dir), ready once ``up.json`` appears."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, timeout: float = 240.0) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.log = root / "up.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                pictor_command("up", "--data-dir", str(root), "--port", "0", "--faucet-port", "0", "--api-port", "0"),
                cwd=REPO_ROOT, env=child_env(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + timeout
        while not (root / UP_FILE).exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackError(f"pictor up did not come up:\n{log_tail(self.log, 40)}")
            time.sleep(0.2)
        self.info: dict[str, Any] = json.loads((root / UP_FILE).read_text())

    def env(self) -> dict[str, str]:
        """PICTOR_* variables pointing a CLI at this stack."""
        return {k: str(v) for k, v in self.info.items() if k.startswith("PICTOR_")}

    def stop(self, timeout: float = 60.0) -> int | None:
        """Ctrl-C (SIGINT) and wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode
