"""``pictor checker init`` and ``pictor checker run`` (typer; the rest loads inside the commands: `pictor --help` stays fast).

Exit codes: 0 done, 1 a chain or network step failed (the key is kept), 2 bad input (config file, key
files, refusing to overwrite a key).
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from aptos_sdk.account import Account

    from checker_node.config import CheckerConfig
    from protocol.node_identity import NodeIdentity

checker_app = typer.Typer(help="Checker node: verify frames and attest on chain.", no_args_is_help=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The checker config file (the API's worker config of role checker).")
]


def _die(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(config: Path) -> CheckerConfig:
    from checker_node.config import load_checker_config  # lazy: keeps `pictor --help` fast
    from protocol.node_config import ConfigError  # lazy: keeps `pictor --help` fast

    try:
        return load_checker_config(config)
    except ConfigError as exc:
        _die(str(exc))


async def _register(cfg: CheckerConfig, identity: NodeIdentity, stake: int | None) -> int:
    """Stake (up to the minimum, or ``stake``) and ``registry::register_node`` as a checker; 0 or 1."""
    from chain.errors import ChainError  # lazy: keeps `pictor --help` fast
    from chain.events import NodeRegistered  # lazy: keeps `pictor --help` fast
    from chain.keys import account_address  # lazy: keeps `pictor --help` fast

    operator = identity.operator
    assert operator is not None
    chain = cfg.chain_client()
    try:
        if stake is None:
            minimum = (await chain.views.params()).min_checker_stake
            active = (await chain.views.stake_of(account_address(operator), identity.role)).active
            stake = max(0, minimum - active)
        if stake > 0:
            staked = await chain.submit_and_wait(operator, chain.payloads.staking_stake(identity.role, stake))
            typer.echo(f"staked {stake} base units as a checker: transaction {staked.hash} (version {staked.version})")
        payload = chain.payloads.registry_register_node(identity.role, identity.public_key, identity.proof)
        result = await chain.submit_and_wait(operator, payload)
    except (ChainError, OSError) as exc:
        typer.echo(f"error: staking or registering the checker on chain failed: {exc}", err=True)
        return 1
    finally:
        await chain.close()
    events = result.events_of(NodeRegistered)
    node_id = events[0].node_id if events else "?"
    typer.echo(f"registered on chain: checker node id {node_id}, transaction {result.hash} (version {result.version})")
    return 0


@checker_app.command("init")
def init(
    config: ConfigOption,
    operator_key: Annotated[
        Path | None,
        typer.Option(help="Operator key file: stake and register the node on chain now (else the payload is printed)."),
    ] = None,
    stake: Annotated[
        int | None,
        typer.Option(help="Checker stake to add, base units (default: up to the protocol's minimum).", min=0),
    ] = None,
) -> None:
    """Create the node key (mode 0600), stake and register it as a checker, enroll it with the API."""
    from chain.keys import ROLE_CHECKER, account_address  # lazy: keeps `pictor --help` fast
    from protocol import node_identity  # lazy: keeps `pictor --help` fast

    cfg = _load(config)
    try:
        identity = node_identity.new_node_identity(cfg, operator_key, ROLE_CHECKER)
    except node_identity.NodeIdentityError as exc:
        _die(str(exc))
    typer.echo(identity.summary())
    code = 0
    if identity.operator is not None:
        code = asyncio.run(_register(cfg, identity, stake))
    if identity.operator is None or code:
        typer.echo(
            f"\nTo serve, the operator {cfg.operator_address} stakes at least the minimum checker stake "
            f"({identity.package}::staking::stake with role {ROLE_CHECKER}) and signs this entry function:"
        )
        typer.echo(json.dumps(identity.register_payload(), indent=2))
    typer.echo(
        f"\nThe node account {account_address(identity.node)} pays the gas of its attestations: fund it with APT "
        "(nothing is funded automatically)."
    )
    enrolled, message = node_identity.enroll_node(cfg, identity.node)
    typer.echo(message if enrolled else f"error: {message}", err=not enrolled)
    if not enrolled:
        code = 1  # the key is kept: enroll again with a newly downloaded config
    raise typer.Exit(code)


@checker_app.command("run")
def run(
    config: ConfigOption,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run the checker agent until SIGTERM/Ctrl-C (the current verification is finished first)."""
    from protocol.node_identity import NodeIdentityError, load_node_key  # lazy: keeps `pictor --help` fast

    cfg = _load(config)
    try:
        key: Account = load_node_key(cfg, config, "checker")
    except NodeIdentityError as exc:
        _die(str(exc))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from checker_node.agent import CheckerAgent  # lazy: the agent loads the verifier; `pictor --help` stays fast

    raise typer.Exit(asyncio.run(CheckerAgent(cfg, key=key).run()))


def start_checker(config: Path, *, log_path: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    """Start ``pictor checker run --config CONFIG`` as a subprocess logging to ``log_path`` (for ``pictor demo``).

    The caller stops it with SIGTERM (it finishes the current verification) and waits.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", "checker", "run", "--config", str(config)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches only its owner
        )  # fmt: skip
