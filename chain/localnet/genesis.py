"""Genesis of a fresh localnet: version 0 holds the framework, the funded well-known accounts and ``pictor``.

Accounts created at genesis (keys are fresh Ed25519 keys, written to ``DATA_DIR/keys``):

* ``package``: the ``pictor`` package account at ``chain.constants.LOCALNET_PACKAGE_ADDRESS``; its
  authentication key is the **admin** key's, as if the package account had rotated to it, so the
  admin signs as the package address (``keys/admin.key``);
* ``coordinator`` and ``treasury``: ordinary accounts at their keys' addresses;
* ``faucet``: the account the faucet service pays from (a very large APT balance).

``keys/accounts.json`` maps each name (``admin``, ``package``, ``coordinator``, ``treasury``,
``faucet``) to its address. Then the ``pictor`` package's genesis runs as the package signer.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import nacl.signing

from chain.constants import LOCALNET_PACKAGE_ADDRESS
from chain.localnet.node import Node
from chain.localnet.render import render_events
from chain.localnet.vm import core, framework, load_pictor, rotation
from chain.localnet.vm.core import Overlay, TxContext

log = logging.getLogger("chain.localnet")

OCTAS_PER_APT = 10**8
ACCOUNT_FUNDS = 1_000_000 * OCTAS_PER_APT
FAUCET_FUNDS = 1_000_000_000 * OCTAS_PER_APT
KEY_NAMES = ("admin", "coordinator", "treasury", "faucet")


def write_key(path: Path, key: nacl.signing.SigningKey) -> None:
    """Write a private key as ``0x``-hex (the aptos-sdk ``PrivateKey.hex()`` form), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("0x" + bytes(key).hex() + "\n")
    os.chmod(path, 0o600)


def read_key(path: Path) -> nacl.signing.SigningKey:
    """Read a key written by :func:`write_key`."""
    text = Path(path).read_text().strip()
    return nacl.signing.SigningKey(bytes.fromhex(text[2:] if text.startswith("0x") else text))


def key_address(key: nacl.signing.SigningKey) -> str:
    """The default account address of an Ed25519 key: its single-key authentication key."""
    return core.ed25519_auth_key(bytes(key.verify_key))


def load_accounts(data_dir: Path) -> dict[str, str]:
    """``keys/accounts.json`` of a data dir: name -> address."""
    return json.loads((Path(data_dir) / "keys" / "accounts.json").read_text())


def _framework_resources(ctx: TxContext, chain_id: int) -> None:
    """The ``0x1`` resources: account, chain id, timestamp, the ``OriginatingAddress`` table, APT info, block resource."""
    fw = core.FRAMEWORK
    framework.create_account(ctx, fw, auth_key=bytes(32))
    ctx.state.put(core.resource_key(fw, framework.CHAIN_ID_T), {"id": chain_id})
    ctx.state.put(core.resource_key(fw, framework.TIMESTAMP_T), {"microseconds": 0})
    ctx.state.put(core.resource_key(fw, rotation.ORIGINATING_ADDRESS_T), rotation.originating_resource())
    ctx.state.put(
        core.resource_key(fw, framework.COIN_INFO_APT_T),
        {"name": "Aptos Coin", "symbol": "APT", "decimals": 8, "supply": {"vec": []}},
    )
    # Aptos numbers 0x1's GUIDs so that NewBlockEvent's handle is creation_num 3.
    account = ctx.state.get(framework.account_key(fw))
    account["guid_creation_num"] = 5
    ctx.state.put(framework.account_key(fw), account)
    ctx.state.put(
        core.resource_key(fw, framework.BLOCK_RESOURCE_T),
        {
            "height": 0,
            "epoch_interval": 7_200_000_000,
            "new_block_events": {"counter": 0, "guid": {"id": {"addr": "0x1", "creation_num": 3}}},
            "update_epoch_interval_events": {"counter": 0, "guid": {"id": {"addr": "0x1", "creation_num": 4}}},
        },
    )


def _run_pictor_genesis(ctx: TxContext, accounts: dict[str, str]) -> None:
    """Run the ``pictor`` package's genesis as the package signer."""
    pictor_vm = load_pictor()
    if pictor_vm is None:  # logged by load_pictor
        return
    init = getattr(pictor_vm, "genesis", None)
    if init is None:
        log.warning("chain.localnet.vm.pictor has no genesis(): genesis without the pictor package")
        return
    ctx.sender = accounts["package"]
    init(ctx, admin=accounts["admin"], coordinator=accounts["coordinator"], treasury=accounts["treasury"])


def create_genesis(node: Node, data_dir: Path) -> dict[str, str]:
    """Generate keys, build version 0 and commit it through ``node``; returns name -> address."""
    keys_dir = Path(data_dir) / "keys"
    keys = {name: nacl.signing.SigningKey.generate() for name in KEY_NAMES}
    package = core.norm_addr(LOCALNET_PACKAGE_ADDRESS)
    accounts = {
        "admin": package,
        "package": package,
        "coordinator": key_address(keys["coordinator"]),
        "treasury": key_address(keys["treasury"]),
        "faucet": key_address(keys["faucet"]),
    }
    state = Overlay({})
    ctx = TxContext(sender=core.norm_addr(core.FRAMEWORK), timestamp_us=0, state=state, version=0)
    _framework_resources(ctx, node.chain_id)
    admin_auth_key = core.addr_bytes(key_address(keys["admin"]))
    framework.create_account(ctx, package, auth_key=admin_auth_key)
    framework.apt_deposit(ctx, package, ACCOUNT_FUNDS)
    for name in ("coordinator", "treasury"):
        framework.create_account(ctx, accounts[name])
        framework.apt_deposit(ctx, accounts[name], ACCOUNT_FUNDS)
    framework.create_account(ctx, accounts["faucet"])
    framework.apt_deposit(ctx, accounts["faucet"], FAUCET_FUNDS)
    _run_pictor_genesis(ctx, accounts)

    events, handle_events = render_events(ctx)

    # Keys first: a crash between the two leaves keys without a chain, and the next start redoes genesis.
    for name, key in keys.items():
        write_key(keys_dir / f"{name}.key", key)
    accounts_path = keys_dir / "accounts.json"
    accounts_path.write_text(json.dumps(accounts, indent=2) + "\n")
    node.commit_genesis(state, events, handle_events)
    log.info("genesis committed: %s", accounts)
    return accounts
