"""``pictor worker init``, ``enroll`` and ``run`` (typer; the heavy imports happen inside the commands).

Exit codes: 0 done, 1 a chain, enrollment or network step failed (the key is kept), 2 bad input (config
file, key files, refusing to overwrite a key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

worker_app = typer.Typer(help="Worker node: render frames for the network.", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The worker config file from the API (JSON).")]


def _die(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(config: Path) -> Any:
    from worker_node.config import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        _die(str(exc))


@worker_app.command("init")
def init(
    config: ConfigOption,
    operator_key: Annotated[
        Path | None,
        typer.Option(help="Operator key file: register the node on chain now (else the unsigned payload is printed)."),
    ] = None,
) -> None:
    """Create the node key (mode 0600), print its address and registration proof, register it, enroll it."""
    import asyncio

    from chain.keys import (
        ROLE_WORKER,
        account_address,
    )

    cfg = _load(config)
    if cfg.role != "worker":
        _die(f"{config} is the config of a {cfg.role} node, not of a worker; use that node's own command")
    node, operator, public_key, proof, package = new_node_identity(cfg, operator_key, ROLE_WORKER)
    code = 0
    if operator is not None:
        code = asyncio.run(_register(cfg, operator, public_key, proof))
    if operator is None or code:
        payload = {
            "function": f"{package}::registry::register_node",
            "type_arguments": [],
            "arguments": [ROLE_WORKER, f"0x{public_key.hex()}", f"0x{proof.hex()}"],
        }
        typer.echo(f"\nTo register the node, the operator {cfg.operator_address} signs this entry function:")
        typer.echo(json.dumps(payload, indent=2))
    typer.echo(
        f"\nThe node account {account_address(node)} pays the gas of escrow::submit_result: fund it with APT "
        "(nothing is funded automatically)."
    )
    if enroll_node(cfg, node):
        typer.echo(f"the node key is kept: retry with `pictor worker enroll --config {config}`", err=True)
        code = 1
    raise typer.Exit(code)


def new_node_identity(cfg: Any, operator_key: Path | None, role: int) -> tuple[Any, Any | None, bytes, bytes, str]:
    """The first half of ``pictor worker init`` and ``pictor checker init``: never overwrite a node key, check
    the operator key against the config, create the node key (0600) and its registration proof, and print them.

    Returns (node key, operator key or None, public key, registration proof, package address); exits 2 on bad
    input."""
    from chain.errors import InvalidArgument
    from chain.keys import account_address, generate_key_file, load_key_file, public_key_bytes, registration_proof
    from pictor.settings import get_settings

    if cfg.key_path.exists():
        _die(
            f"a node key already exists at {cfg.key_path}; refusing to overwrite it (it is this node's identity "
            "on chain). Move it away first to create a new node."
        )
    operator = None
    if operator_key is not None:
        try:
            operator = load_key_file(operator_key)
        except (OSError, ValueError, KeyError, InvalidArgument) as exc:
            _die(f"cannot read the operator key {operator_key}: {exc}")
        if account_address(operator) != cfg.operator_address:
            _die(
                f"the operator key is for {account_address(operator)}, but the config's operator_address is "
                f"{cfg.operator_address}"
            )
    try:
        node = generate_key_file(cfg.key_path)
    except FileExistsError as exc:
        _die(str(exc))
    except OSError as exc:
        _die(f"cannot write the node key {cfg.key_path}: {exc}")
    public_key = public_key_bytes(node)
    proof = registration_proof(node, cfg.operator_address, role)
    typer.echo(f"node key:           {cfg.key_path} (mode 0600; keep it secret, back it up)")
    typer.echo(f"node address:       {account_address(node)}")
    typer.echo(f"node public key:    0x{public_key.hex()}")
    typer.echo(f"registration proof: 0x{proof.hex()}")
    return node, operator, public_key, proof, cfg.package_address or get_settings().package_address


async def _register(cfg: Any, operator: Any, public_key: bytes, proof: bytes) -> int:
    """``registry::register_node`` signed by the operator; 0 on success, 1 with a message otherwise."""
    from chain.client import PictorChain
    from chain.errors import ChainError
    from chain.events import NodeRegistered
    from chain.keys import ROLE_WORKER
    from pictor.settings import get_settings

    overrides = {
        k: v
        for k, v in (("node_url", cfg.node_url), ("package_address", cfg.package_address), ("chain_id", cfg.chain_id))
        if v is not None
    }
    chain = PictorChain.from_settings(get_settings(), **overrides)
    try:
        payload = chain.payloads.registry_register_node(ROLE_WORKER, public_key, proof)
        result = await chain.submit_and_wait(operator, payload)
    except (ChainError, OSError) as exc:
        typer.echo(f"error: registering the node on chain failed: {exc}", err=True)
        return 1
    finally:
        await chain.close()
    events = result.events_of(NodeRegistered)
    node_id = events[0].node_id if events else "?"
    typer.echo(f"registered on chain: node id {node_id}, transaction {result.hash} (version {result.version})")
    return 0


def enroll_node(cfg: Any, node: Any) -> int:
    """``POST /nodes/enroll`` with the config's token and the node key's signature; 0 done or skipped, 1 failed."""
    import httpx

    from protocol.enrollment import enrollment_body

    if not cfg.enrollment_token:
        typer.echo(
            "enrollment skipped: the config has no enrollment token (download the worker's config from the API "
            "to enroll); the API still recognises the node once the indexer sees its registration and stake."
        )
        return 0
    body = enrollment_body(node, cfg.enrollment_token, cfg.worker_id)
    try:
        with httpx.Client(base_url=cfg.api_url, timeout=30.0) as client:
            answer = client.post("/nodes/enroll", json=body)
    except httpx.HTTPError as exc:
        typer.echo(f"error: enrolling with the API at {cfg.api_url} failed: {exc}", err=True)
        return 1
    if answer.status_code != 200:
        try:
            detail = answer.json().get("detail", answer.text)
        except ValueError:
            detail = answer.text[:300]
        typer.echo(f"error: the API refused the enrollment: HTTP {answer.status_code}: {detail}", err=True)
        return 1
    typer.echo(f"enrolled with the API: worker {cfg.worker_id}, node {answer.json().get('node_address')}")
    return 0


@worker_app.command("enroll")
def enroll(config: ConfigOption) -> None:
    """Enroll the existing node key with the API (a retry after ``init``, e.g. with a newly downloaded config)."""

    cfg = _load(config)
    if not cfg.key_path.exists():
        _die(f"no node key at {cfg.key_path}; run `pictor worker init --config {config}` first")
    if not cfg.enrollment_token:
        _die(f"{config} has no enrollment_token; download the worker's config from the API")
    raise typer.Exit(enroll_node(cfg, load_node_key(cfg, config, "worker")))


def load_node_key(cfg: Any, config: Path, command: str) -> Any:
    """The node key a config names; exits 2 when it is missing or unreadable (``command``: worker or checker)."""
    from chain.errors import InvalidArgument
    from chain.keys import load_key_file

    if not cfg.key_path.exists():
        _die(f"no node key at {cfg.key_path}; run `pictor {command} init --config {config}` first")
    try:
        return load_key_file(cfg.key_path)
    except (OSError, ValueError, KeyError, InvalidArgument) as exc:
        _die(f"cannot read the node key {cfg.key_path}: {exc}")


@worker_app.command("run")
def run(
    config: ConfigOption,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run the worker agent until SIGTERM/Ctrl-C (the current frame is finished or the lease given back)."""
    import asyncio
    import logging

    cfg = _load(config)
    key = load_node_key(cfg, config, "worker")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from worker_node.agent import WorkerAgent

    raise typer.Exit(asyncio.run(WorkerAgent(cfg, key=key).run()))
