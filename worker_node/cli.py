"""``pictor worker init``, ``enroll``, ``run`` and ``check`` (typer; the rest loads inside the commands: `pictor
--help` stays fast).

Exit codes: 0 done, 1 a chain, enrollment or network step failed (the key is kept) or the API does not accept
the node (``check``), 2 bad input (config file, key files, refusing to overwrite a key).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from aptos_sdk.account import Account

    from protocol.node_identity import NodeIdentity
    from worker_node.config import WorkerConfig

worker_app = typer.Typer(help="Worker node: render frames for the network.", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The worker config file from the API (JSON).")]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder for the node key and the cache when the config gives them as relative paths (default: the "
        "config file's folder); lets the config file be read-only, as in the Docker image.",
    ),
]
#: How long ``pictor worker check`` waits for the API.
CHECK_TIMEOUT_S = 10.0


def _die(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _where(config: Path, data_dir: Path | None) -> str:
    """The ``--config`` (and ``--data-dir``) arguments of a command to suggest."""
    return f"--config {config}" + (f" --data-dir {data_dir}" if data_dir is not None else "")


def _load(config: Path, data_dir: Path | None = None) -> WorkerConfig:
    from protocol.node_config import ConfigError  # lazy: keeps `pictor --help` fast
    from worker_node.config import load_config  # lazy: keeps `pictor --help` fast

    if data_dir is not None and not data_dir.is_dir():
        _die(f"the data folder {data_dir} does not exist or is not a folder")
    try:
        return load_config(config, base=data_dir)
    except ConfigError as exc:
        _die(str(exc))


def _node_key(cfg: WorkerConfig, config: Path) -> Account:
    """The config's node key; exits 2 when it is missing or unreadable."""
    from protocol.node_identity import NodeIdentityError, load_node_key  # lazy: keeps `pictor --help` fast

    try:
        return load_node_key(cfg, config, "worker")
    except NodeIdentityError as exc:
        _die(str(exc))


def _enroll(cfg: WorkerConfig, node: Account) -> int:
    """``POST /nodes/enroll`` (skipped without a token); 0 done or skipped, 1 failed (the key is kept)."""
    from protocol.node_identity import enroll_node  # lazy: keeps `pictor --help` fast

    ok, message = enroll_node(cfg, node)
    typer.echo(message if ok else f"error: {message}", err=not ok)
    return 0 if ok else 1


@worker_app.command("init")
def init(
    config: ConfigOption,
    operator_key: Annotated[
        Path | None,
        typer.Option(help="Operator key file: register the node on chain now (else the unsigned payload is printed)."),
    ] = None,
    data_dir: DataDirOption = None,
    if_needed: Annotated[
        bool,
        typer.Option(
            "--if-needed", help="Do nothing (exit 0) when the node key exists: for an entrypoint run at every start."
        ),
    ] = False,
) -> None:
    """Create the node key (mode 0600), print its address and registration proof, register it, enroll it."""
    from chain.keys import ROLE_WORKER, account_address  # lazy: keeps `pictor --help` fast
    from protocol.node_identity import NodeIdentityError, new_node_identity  # lazy: keeps `pictor --help` fast

    cfg = _load(config, data_dir)
    if cfg.role != "worker":
        _die(f"{config} is the config of a {cfg.role} node, not of a worker; use that node's own command")
    if if_needed and cfg.key_path.exists():
        typer.echo(f"node key {cfg.key_path} exists: this node is initialised already")
        raise typer.Exit(0)
    try:
        identity = new_node_identity(cfg, operator_key, ROLE_WORKER)
    except NodeIdentityError as exc:
        _die(str(exc))
    typer.echo(identity.summary())
    code = 0
    if identity.operator is not None:
        code = asyncio.run(_register(cfg, identity))
    if identity.operator is None or code:
        typer.echo(f"\nTo register the node, the operator {cfg.operator_address} signs this entry function:")
        typer.echo(json.dumps(identity.register_payload(), indent=2))
    typer.echo(
        f"\nThe node account {account_address(identity.node)} pays the gas of escrow::submit_result: fund it with APT "
        "(nothing is funded automatically)."
    )
    if _enroll(cfg, identity.node):
        typer.echo(f"the node key is kept: retry with `pictor worker enroll {_where(config, data_dir)}`", err=True)
        code = 1
    raise typer.Exit(code)


async def _register(cfg: WorkerConfig, identity: NodeIdentity) -> int:
    """``registry::register_node`` signed by the operator; 0 on success, 1 with a message otherwise."""
    from chain.errors import ChainError  # lazy: keeps `pictor --help` fast
    from chain.events import NodeRegistered  # lazy: keeps `pictor --help` fast

    assert identity.operator is not None
    chain = cfg.chain_client()
    try:
        payload = chain.payloads.registry_register_node(identity.role, identity.public_key, identity.proof)
        result = await chain.submit_and_wait(identity.operator, payload)
    except (ChainError, OSError) as exc:
        typer.echo(f"error: registering the node on chain failed: {exc}", err=True)
        return 1
    finally:
        await chain.close()
    events = result.events_of(NodeRegistered)
    node_id = events[0].node_id if events else "?"
    typer.echo(f"registered on chain: node id {node_id}, transaction {result.hash} (version {result.version})")
    return 0


@worker_app.command("enroll")
def enroll(config: ConfigOption, data_dir: DataDirOption = None) -> None:
    """Enroll the existing node key with the API (a retry after ``init``, e.g. with a newly downloaded config)."""
    cfg = _load(config, data_dir)
    if not cfg.key_path.exists():
        _die(f"no node key at {cfg.key_path}; run `pictor worker init {_where(config, data_dir)}` first")
    if not cfg.enrollment_token:
        _die(f"{config} has no enrollment_token; download the worker's config from the API")
    raise typer.Exit(_enroll(cfg, _node_key(cfg, config)))


@worker_app.command("run")
def run(
    config: ConfigOption,
    data_dir: DataDirOption = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run the worker agent until SIGTERM/Ctrl-C (the current frame is finished or the lease given back)."""
    cfg = _load(config, data_dir)
    key = _node_key(cfg, config)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from worker_node.agent import WorkerAgent  # lazy: the agent loads Blender tooling; `pictor --help` stays fast

    raise typer.Exit(asyncio.run(WorkerAgent(cfg, key=key).run()))


@worker_app.command("check")
def check(config: ConfigOption, data_dir: DataDirOption = None) -> None:
    """Whether the API accepts this node now (a signed ``GET /nodes/whoami``): 0 yes, 1 no; the image's health check."""
    import httpx  # lazy: keeps `pictor --help` fast

    from protocol.client import response_detail  # lazy: keeps `pictor --help` fast
    from protocol.signing import NodeAuth  # lazy: keeps `pictor --help` fast

    cfg = _load(config, data_dir)
    key = _node_key(cfg, config)
    try:
        answer = httpx.get(f"{cfg.api_url}/nodes/whoami", auth=NodeAuth(key), timeout=CHECK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        _die(f"the API at {cfg.api_url} did not answer: {type(exc).__name__}: {exc}", 1)
    if answer.status_code != 200:
        _die(f"the API does not accept this node: HTTP {answer.status_code}: {response_detail(answer)}", 1)
    who = answer.json()
    typer.echo(f"the API accepts this node: node id {who.get('node_id')}, operator {who.get('operator')}, "
               f"role {who.get('role')}")  # fmt: skip
