"""`pictor::registry`: worker and checker nodes, their operators and Ed25519 node keys."""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import config
from chain.localnet.vm.pictor.config import PICTOR, SHORT

REGISTRY_TAG = f"{SHORT}::registry::Registry"
REGISTRATION_DOMAIN = b"PICTOR_NODE_REGISTRATION"

ROLE_WORKER = 1
ROLE_CHECKER = 2

ERRORS = core.error_set(
    PICTOR,
    "registry",
    E_INVALID_ROLE=(1, "Role must be 1 (worker) or 2 (checker)."),
    E_INVALID_PUBLIC_KEY=(2, "The node key is not a valid Ed25519 public key."),
    E_BAD_PROOF=(3, "The node key did not sign the registration."),
    E_KEY_IN_USE=(4, "The node key is already registered."),
    E_NODE_NOT_FOUND=(5, "No node has this id."),
    E_NOT_OPERATOR=(6, "The signer is not the node's operator."),
    E_NODE_INACTIVE=(7, "The node is deregistered."),
)

NODE_REGISTERED = core.event_type(
    PICTOR,
    "registry",
    "NodeRegistered",
    [("node_id", "u64"), ("operator", "address"), ("role", "u8"), ("public_key", "vector<u8>"), ("account", "address")],
)
NODE_KEY_ROTATED = core.event_type(
    PICTOR,
    "registry",
    "NodeKeyRotated",
    [("node_id", "u64"), ("old_account", "address"), ("public_key", "vector<u8>"), ("account", "address")],
)
NODE_DEREGISTERED = core.event_type(
    PICTOR, "registry", "NodeDeregistered", [("node_id", "u64"), ("operator", "address")]
)
NODE_STRUCK = core.event_type(PICTOR, "registry", "NodeStruck", [("node_id", "u64"), ("strikes", "u64")])


# --------------------------------------------------------------------------- state access


def registry_key() -> str:
    """State key of the `Registry` resource."""
    return core.resource_key(PICTOR, REGISTRY_TAG)


def nodes_handle() -> str:
    """Handle of `Registry.nodes`."""
    return core.table_handle(PICTOR, "registry.nodes")


def by_account_handle() -> str:
    """Handle of `Registry.by_account`."""
    return core.table_handle(PICTOR, "registry.by_account")


def _node_key(node_id: int) -> str:
    return core.table_key(nodes_handle(), node_id)


def _account_key(account: str) -> str:
    return core.table_key(by_account_handle(), core.norm_addr(account))


def get_node(state: core.Overlay, node_id: int) -> dict[str, Any] | None:
    """A copy of the node, or None."""
    return state.get(_node_key(node_id))


def _put_node(state: core.Overlay, node_id: int, node: dict[str, Any]) -> None:
    state.put(_node_key(node_id), node)


def node_of(state: core.Overlay, account: str) -> int:
    """The node whose current account is `account` (active or not), 0 if none."""
    node_id = state.get(_account_key(account), 0)
    if node_id == 0:
        return 0
    node = get_node(state, node_id)
    return node_id if node is not None and node["account"] == core.norm_addr(account) else 0


def registration_message(operator: str, role: int, public_key: bytes) -> bytes:
    """The bytes a node key signs to prove it belongs to `operator` in `role`."""
    return REGISTRATION_DOMAIN + config.bcs_address(operator) + config.bcs_u8(role) + bytes(public_key)


def _load_own_active(ctx: core.TxContext, node_id: int) -> dict[str, Any]:
    node = get_node(ctx.state, node_id)
    ERRORS.check(node is not None, "E_NODE_NOT_FOUND")
    assert node is not None
    ERRORS.check(node["operator"] == core.norm_addr(ctx.sender), "E_NOT_OPERATOR")
    ERRORS.check(node["active"], "E_NODE_INACTIVE")
    return node


# --------------------------------------------------------------------------- friend operations


def strike(ctx: core.TxContext, node_id: int) -> int:
    """Add a strike to a node; returns its strikes after."""
    node = get_node(ctx.state, node_id)
    ERRORS.check(node is not None, "E_NODE_NOT_FOUND")
    assert node is not None
    node["strikes"] += 1
    _put_node(ctx.state, node_id, node)
    ctx.emit(NODE_STRUCK, node_id=node_id, strikes=node["strikes"])
    return node["strikes"]


# --------------------------------------------------------------------------- init & entry functions


def init_module(ctx: core.TxContext) -> None:
    """Create the `Registry` resource."""
    ctx.state.put(
        registry_key(),
        {"nodes": {"handle": nodes_handle()}, "by_account": {"handle": by_account_handle()}, "next_node_id": 1},
    )


@core.entry(PICTOR, "registry", ["u8", "vector<u8>", "vector<u8>"])
def register_node(ctx: core.TxContext, role: int, public_key: bytes, proof: bytes) -> None:
    """Register a worker or checker node key under the signer as operator."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(role in (ROLE_WORKER, ROLE_CHECKER), "E_INVALID_ROLE")
    ERRORS.check(config.valid_public_key(public_key), "E_INVALID_PUBLIC_KEY")
    operator = core.norm_addr(ctx.sender)
    message = registration_message(operator, role, public_key)
    ERRORS.check(config.verify_signature(public_key, message, proof), "E_BAD_PROOF")
    _add_node(ctx, operator, role, public_key, core.ed25519_auth_key(public_key))


@core.entry(PICTOR, "registry", ["u8", "vector<u8>"], signers=2)
def register_node_cosigned(ctx: core.TxContext, node: str, role: int, public_key: bytes) -> None:
    """Register the co-signing account `node` (a multi-agent transaction) as a node whose current key is `public_key`."""
    config.assert_not_paused(ctx.state)
    ERRORS.check(role in (ROLE_WORKER, ROLE_CHECKER), "E_INVALID_ROLE")
    ERRORS.check(config.valid_public_key(public_key), "E_INVALID_PUBLIC_KEY")
    account = core.norm_addr(node)
    resource = core.peek(ctx.state, framework.account_key(account))
    if resource is None:  # account::get_authentication_key
        raise framework.ACCOUNT_ERRORS.abort("EACCOUNT_DOES_NOT_EXIST")
    key_account = core.ed25519_auth_key(public_key)
    ERRORS.check(bytes(resource["authentication_key"]) == core.addr_bytes(key_account), "E_BAD_PROOF")
    _add_node(ctx, core.norm_addr(ctx.sender), role, public_key, account)


def _add_node(ctx: core.TxContext, operator: str, role: int, public_key: bytes, account: str) -> None:
    """A new active node for `account` (`E_KEY_IN_USE` if that account was ever registered)."""
    ERRORS.check(not ctx.state.exists(_account_key(account)), "E_KEY_IN_USE")
    reg = ctx.state.get(registry_key())
    node_id = reg["next_node_id"]
    reg["next_node_id"] = node_id + 1
    ctx.state.put(registry_key(), reg)
    node = {
        "operator": operator,
        "role": role,
        "public_key": bytes(public_key),
        "account": account,
        "active": True,
        "strikes": 0,
        "registered_at": ctx.now_seconds(),
    }
    _put_node(ctx.state, node_id, node)
    ctx.state.put(_account_key(account), node_id)
    ctx.emit(
        NODE_REGISTERED, node_id=node_id, operator=operator, role=role, public_key=bytes(public_key), account=account
    )


@core.entry(PICTOR, "registry", ["u64", "vector<u8>", "vector<u8>"])
def rotate_node_key(ctx: core.TxContext, node_id: int, public_key: bytes, proof: bytes) -> None:
    """Replace a node's key; the retired key's account can never be registered again."""
    node = _load_own_active(ctx, node_id)
    ERRORS.check(config.valid_public_key(public_key), "E_INVALID_PUBLIC_KEY")
    message = registration_message(node["operator"], node["role"], public_key)
    ERRORS.check(config.verify_signature(public_key, message, proof), "E_BAD_PROOF")
    account = core.ed25519_auth_key(public_key)
    ERRORS.check(not ctx.state.exists(_account_key(account)), "E_KEY_IN_USE")
    old_account = node["account"]
    node["public_key"] = bytes(public_key)
    node["account"] = account
    _put_node(ctx.state, node_id, node)
    ctx.state.put(_account_key(account), node_id)
    ctx.emit(NODE_KEY_ROTATED, node_id=node_id, old_account=old_account, public_key=bytes(public_key), account=account)


@core.entry(PICTOR, "registry", ["u64"])
def deregister_node(ctx: core.TxContext, node_id: int) -> None:
    """Deactivate a node for good."""
    node = _load_own_active(ctx, node_id)
    node["active"] = False
    _put_node(ctx.state, node_id, node)
    ctx.emit(NODE_DEREGISTERED, node_id=node_id, operator=node["operator"])


# --------------------------------------------------------------------------- views


@core.view(PICTOR, "registry", ["u64"], ["address", "u8", "vector<u8>", "address", "bool", "u64"])
def node(ctx: core.TxContext, node_id: int) -> list[Any]:
    """Operator, role, public key, account, active, strikes."""
    found = get_node(ctx.state, node_id)
    ERRORS.check(found is not None, "E_NODE_NOT_FOUND")
    assert found is not None
    return [
        found["operator"],
        found["role"],
        found["public_key"],
        found["account"],
        found["active"],
        found["strikes"],
    ]


@core.view(PICTOR, "registry", ["address"], ["u64"])
def node_of_account(ctx: core.TxContext, account: str) -> list[Any]:
    """The node whose current account this is (0 if none)."""
    return [node_of(ctx.state, account)]


@core.view(PICTOR, "registry", [], ["u64"])
def node_count(ctx: core.TxContext) -> list[Any]:
    """How many nodes were ever registered."""
    return [ctx.state.get(registry_key())["next_node_id"] - 1]
