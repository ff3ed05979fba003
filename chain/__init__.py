"""The chain boundary: everything above ``chain/`` talks to Aptos through this package.

Public API (imported lazily, so ``import chain.localnet`` does not pull in the client and the SDK):

* :class:`PictorChain` (``chain.client``) — the async client; ``TxResult``, ``ChainTransaction``, ``EventRecord``;
* :class:`PictorPayloads`, ``apt_transfer``, ``pictor_transfer`` (``chain.payloads``), :class:`PictorViews` and the
  view results (``chain.views``), the Move signature tables (``chain.abi``);
* the event dataclasses, ``decode_event``, ``decode_events`` (``chain.events``);
* ``ChainError`` and its subclasses, one per pictor abort (``chain.errors``);
* key files, the localnet dev keys, registration proofs and credit claims (``chain.keys``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # client
    "PictorChain": "chain.client",
    "TxResult": "chain.client",
    "PendingTransaction": "chain.client",
    "ChainTransaction": "chain.client",
    "EventRecord": "chain.client",
    "LedgerInfo": "chain.client",
    "transaction_hash": "chain.client",
    # payloads and views
    "PictorPayloads": "chain.payloads",
    "PictorViews": "chain.views",
    "apt_transfer": "chain.payloads",
    "pictor_transfer": "chain.payloads",
    "ENTRY_FUNCTIONS": "chain.abi",
    "VIEW_FUNCTIONS": "chain.abi",
    "ROLE_WORKER": "chain.keys",
    "ROLE_CHECKER": "chain.keys",
    "Roles": "chain.views",
    "FeeSplit": "chain.views",
    "Params": "chain.views",
    "VaultAccount": "chain.views",
    "VaultTotals": "chain.views",
    "NodeInfo": "chain.views",
    "StakeInfo": "chain.views",
    "UnbondRequest": "chain.views",
    "StakingTotals": "chain.views",
    "JobInfo": "chain.views",
    "TaskInfo": "chain.views",
    "EpochInfo": "chain.views",
    "RewardPool": "chain.views",
    # events
    "PictorEvent": "chain.events",
    "decode_event": "chain.events",
    "decode_events": "chain.events",
    "EVENT_CLASSES": "chain.events",
    # errors
    "ChainError": "chain.errors",
    "InvalidArgument": "chain.errors",
    "NodeRejected": "chain.errors",
    "NodeUnavailable": "chain.errors",
    "Timeout": "chain.errors",
    "TransactionDiscarded": "chain.errors",
    "TransactionFailed": "chain.errors",
    "MoveAbortError": "chain.errors",
    "PictorAbort": "chain.errors",
    "FrameworkAbort": "chain.errors",
    "UnknownEventType": "chain.errors",
    # keys
    "node_address": "chain.keys",
    "normalize_address": "chain.keys",
    "generate_account": "chain.keys",
    "account_from_private_key": "chain.keys",
    "write_key_file": "chain.keys",
    "load_key_file": "chain.keys",
    "load_localnet_keys": "chain.keys",
    "load_settings_keys": "chain.keys",
    "LocalnetKeys": "chain.keys",
    "registration_proof": "chain.keys",
    "registration_message": "chain.keys",
    "sign_credit_claim": "chain.keys",
    "credit_claim_message": "chain.keys",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # static names for type checkers and IDEs
    from chain.abi import ENTRY_FUNCTIONS, VIEW_FUNCTIONS  # noqa: F401
    from chain.client import (  # noqa: F401
        ChainTransaction,
        EventRecord,
        LedgerInfo,
        PendingTransaction,
        PictorChain,
        TxResult,
        transaction_hash,
    )
    from chain.errors import (  # noqa: F401
        ChainError,
        FrameworkAbort,
        InvalidArgument,
        MoveAbortError,
        NodeRejected,
        NodeUnavailable,
        PictorAbort,
        Timeout,
        TransactionDiscarded,
        TransactionFailed,
        UnknownEventType,
    )
    from chain.events import EVENT_CLASSES, PictorEvent, decode_event, decode_events  # noqa: F401
    from chain.keys import (  # noqa: F401
        ROLE_CHECKER,
        ROLE_WORKER,
        LocalnetKeys,
        account_from_private_key,
        credit_claim_message,
        generate_account,
        load_key_file,
        load_localnet_keys,
        load_settings_keys,
        node_address,
        normalize_address,
        registration_message,
        registration_proof,
        sign_credit_claim,
        write_key_file,
    )
    from chain.payloads import PictorPayloads, apt_transfer, pictor_transfer  # noqa: F401
    from chain.views import (  # noqa: F401
        EpochInfo,
        FeeSplit,
        JobInfo,
        NodeInfo,
        Params,
        PictorViews,
        RewardPool,
        Roles,
        StakeInfo,
        StakingTotals,
        TaskInfo,
        UnbondRequest,
        VaultAccount,
        VaultTotals,
    )


def __getattr__(name: str) -> Any:
    """Import the public names on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chain' has no attribute {name!r}")
    # lazy: ``import chain.localnet`` must not load the client, the payload builders and the SDK
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
