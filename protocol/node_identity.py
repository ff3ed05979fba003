"""A node's identity: its key file, the operator's check, the registration proof, enrollment with the API.

The shared steps of ``pictor worker init|enroll|run`` and ``pictor checker init|run``; the commands print
what these return and turn :class:`NodeIdentityError` into exit code 2. Registering on chain stays with
each command (a checker stakes first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aptos_sdk.account import Account

from chain.errors import InvalidArgument
from chain.keys import account_address, generate_key_file, load_key_file, public_key_bytes, registration_proof
from pictor.settings import get_settings
from protocol.enrollment import enrollment_body
from protocol.node_config import NodeConfig

#: How long ``POST /nodes/enroll`` may take.
ENROLL_TIMEOUT_S = 30.0


class NodeIdentityError(Exception):
    """Bad input to a node's identity step (config, key files, an existing key); the message says which."""


@dataclass(frozen=True)
class NodeIdentity:
    """A freshly created node key with what registering it on chain needs."""

    node: Account
    operator: Account | None
    role: int
    public_key: bytes
    proof: bytes
    package: str
    key_path: Path

    def summary(self) -> str:
        """The key file, the node's address, public key and registration proof, one per line."""
        return "\n".join(
            [
                f"node key:           {self.key_path} (mode 0600; keep it secret, back it up)",
                f"node address:       {account_address(self.node)}",
                f"node public key:    0x{self.public_key.hex()}",
                f"registration proof: 0x{self.proof.hex()}",
            ]
        )

    def register_payload(self) -> dict[str, Any]:
        """The unsigned ``registry::register_node`` entry function, for the operator's wallet."""
        return {
            "function": f"{self.package}::registry::register_node",
            "type_arguments": [],
            "arguments": [self.role, f"0x{self.public_key.hex()}", f"0x{self.proof.hex()}"],
        }


def _operator(config: NodeConfig, operator_key: Path) -> Account:
    """The operator's key, which must be the config's ``operator_address``."""
    try:
        operator = load_key_file(operator_key)
    except (OSError, ValueError, KeyError, InvalidArgument) as exc:
        raise NodeIdentityError(f"cannot read the operator key {operator_key}: {exc}") from None
    if account_address(operator) != config.operator_address:
        raise NodeIdentityError(
            f"the operator key is for {account_address(operator)}, but the config's operator_address is "
            f"{config.operator_address}"
        )
    return operator


def new_node_identity(config: NodeConfig, operator_key: Path | None, role: int) -> NodeIdentity:
    """Never overwrite a node key, check the operator key against the config, create the node key (0600) and
    its registration proof for ``role`` (NodeIdentityError on bad input, before any key is written)."""
    if config.key_path.exists():
        raise NodeIdentityError(
            f"a node key already exists at {config.key_path}; refusing to overwrite it (it is this node's identity "
            "on chain). Move it away first to create a new node."
        )
    operator = None if operator_key is None else _operator(config, operator_key)
    try:
        node = generate_key_file(config.key_path)
    except FileExistsError as exc:
        raise NodeIdentityError(str(exc)) from None
    except OSError as exc:
        raise NodeIdentityError(f"cannot write the node key {config.key_path}: {exc}") from None
    return NodeIdentity(
        node=node,
        operator=operator,
        role=role,
        public_key=public_key_bytes(node),
        proof=registration_proof(node, config.operator_address, role),
        package=config.package_address or get_settings().package_address,
        key_path=config.key_path,
    )


def load_node_key(config: NodeConfig, config_path: Path, command: str) -> Account:
    """The node key a config names (NodeIdentityError when it is missing or unreadable; ``command``: the
    ``pictor`` sub-command that creates it, worker or checker)."""
    if not config.key_path.exists():
        raise NodeIdentityError(
            f"no node key at {config.key_path}; run `pictor {command} init --config {config_path}` first"
        )
    try:
        return load_key_file(config.key_path)
    except (OSError, ValueError, KeyError, InvalidArgument) as exc:
        raise NodeIdentityError(f"cannot read the node key {config.key_path}: {exc}") from None


def enroll_node(config: NodeConfig, node: Account) -> tuple[bool, str]:
    """``POST /nodes/enroll`` with the config's token and the node key's signature: (done or skipped, what
    happened), or (False, why it failed) — the key is kept either way."""
    if not config.enrollment_token:
        return True, (
            "enrollment skipped: the config has no enrollment token (download the worker's config from the API "
            "to enroll); the API still recognises the node once the indexer sees its registration and stake."
        )
    body = enrollment_body(node, config.enrollment_token, config.worker_id)
    try:
        with httpx.Client(base_url=config.api_url, timeout=ENROLL_TIMEOUT_S) as client:
            answer = client.post("/nodes/enroll", json=body)
    except httpx.HTTPError as exc:
        return False, f"enrolling with the API at {config.api_url} failed: {exc}"
    if answer.status_code != 200:
        try:
            detail = answer.json().get("detail", answer.text)
        except ValueError:
            detail = answer.text[:300]
        return False, f"the API refused the enrollment: HTTP {answer.status_code}: {detail}"
    return True, f"enrolled with the API: worker {config.worker_id}, node {answer.json().get('node_address')}"
