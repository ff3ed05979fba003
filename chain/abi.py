"""The ``pictor`` package's Move signatures: every entry function's parameters and every view's parameters and returns.

:data:`ENTRY_FUNCTIONS` and :data:`VIEW_FUNCTIONS` are what the payload builders and typed views encode
against; the tests compare both tables with chain/SPEC.md.
"""

from __future__ import annotations

#: Entry functions of the package: (module, function) -> Move parameters after the signer.
ENTRY_FUNCTIONS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("config", "set_roles"): (("new_admin", "address"), ("coordinator", "address"), ("treasury", "address")),
    ("config", "set_fee_split"): (("worker_bps", "u64"), ("checker_bps", "u64")),
    ("config", "set_params"): (
        ("quorum", "u64"),
        ("min_worker_stake", "u64"),
        ("min_checker_stake", "u64"),
        ("unbonding_secs", "u64"),
        ("review_window_secs", "u64"),
        ("slash_bps", "u64"),
        ("max_strikes", "u64"),
        ("faucet_max", "u64"),
    ),
    ("config", "set_credit_signer"): (("public_key", "vector<u8>"),),
    ("config", "set_paused"): (("paused", "bool"),),
    ("token", "mint"): (("to", "address"), ("amount", "u64")),
    ("token", "faucet"): (("amount", "u64"),),
    ("vault", "deposit"): (("amount", "u64"),),
    ("vault", "withdraw"): (("amount", "u64"),),
    ("vault", "claim_credit"): (
        ("amount", "u64"),
        ("nonce", "u64"),
        ("expires_at", "u64"),
        ("signature", "vector<u8>"),
    ),
    ("registry", "register_node"): (("role", "u8"), ("public_key", "vector<u8>"), ("proof", "vector<u8>")),
    # its second `&signer` (the node account) signs the multi-agent transaction: not an argument
    ("registry", "register_node_cosigned"): (("role", "u8"), ("public_key", "vector<u8>")),
    ("registry", "rotate_node_key"): (("node_id", "u64"), ("public_key", "vector<u8>"), ("proof", "vector<u8>")),
    ("registry", "deregister_node"): (("node_id", "u64"),),
    ("staking", "stake"): (("role", "u8"), ("amount", "u64")),
    ("staking", "request_unstake"): (("role", "u8"), ("amount", "u64")),
    ("staking", "withdraw_unstaked"): (),
    ("staking", "slash"): (("operator", "address"), ("role", "u8"), ("amount", "u64")),
    ("escrow", "open_job"): (("budget", "u64"), ("price_per_minute", "u64")),
    ("escrow", "top_up"): (("job_id", "u64"), ("amount", "u64")),
    ("escrow", "assign_task"): (("job_id", "u64"), ("task_id", "u64"), ("node_id", "u64"), ("quote", "u64")),
    ("escrow", "requeue_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "requeue_unverified"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "submit_result"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("reference_ms", "u64"),
    ),
    ("escrow", "accept_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "finalize_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "dispute_task"): (("job_id", "u64"), ("task_id", "u64")),
    ("escrow", "close_job"): (("job_id", "u64"),),
    ("attestation", "attest"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("pass", "bool"),
        ("evidence_hash", "vector<u8>"),
    ),
    ("attestation", "abstain"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("result_hash", "vector<u8>"),
        ("evidence_hash", "vector<u8>"),
    ),
    ("attestation", "resolve_dispute"): (
        ("job_id", "u64"),
        ("task_id", "u64"),
        ("uphold", "bool"),
        ("evidence_hash", "vector<u8>"),
    ),
    ("rewards", "fund_pool"): (("amount", "u64"),),
    ("rewards", "publish_epoch"): (("epoch", "u64"), ("root", "vector<u8>"), ("total", "u64")),
    ("rewards", "claim"): (("epoch", "u64"), ("index", "u64"), ("amount", "u64"), ("proof", "vector<vector<u8>>")),
}

#: View functions of the package: (module, function) -> (Move parameters, Move return types).
VIEW_FUNCTIONS: dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    ("config", "roles"): ((), ("address", "address", "address")),
    ("config", "fee_split"): ((), ("u64", "u64")),
    ("config", "params"): ((), ("u64",) * 8),
    ("config", "is_paused"): ((), ("bool",)),
    ("config", "credit_signer"): ((), ("vector<u8>",)),
    ("token", "metadata"): ((), ("0x1::object::Object<0x1::fungible_asset::Metadata>",)),
    ("token", "balance"): ((("owner", "address"),), ("u64",)),
    ("token", "supply"): ((), ("u64",)),
    ("token", "max_supply"): ((), ("u64",)),
    ("vault", "account"): ((("user", "address"),), ("u64", "u64")),
    ("vault", "totals"): ((), ("u64", "u64")),
    ("vault", "next_claim_nonce"): ((("user", "address"),), ("u64",)),
    ("vault", "store_balance"): ((), ("u64",)),
    ("registry", "node"): ((("node_id", "u64"),), ("address", "u8", "vector<u8>", "address", "bool", "u64")),
    ("registry", "node_of_account"): ((("account", "address"),), ("u64",)),
    ("registry", "node_count"): ((), ("u64",)),
    ("staking", "stake_of"): ((("operator", "address"), ("role", "u8")), ("u64", "u64")),
    ("staking", "unbonding_requests"): (
        (("operator", "address"),),
        ("vector<u64>", "vector<u8>", "vector<u64>", "vector<u64>"),
    ),
    ("staking", "totals"): ((), ("u64", "u64")),
    ("escrow", "job"): ((("job_id", "u64"),), ("address", "u64", "u64", "u64", "u64", "u64", "bool")),
    ("escrow", "task"): (
        (("job_id", "u64"), ("task_id", "u64")),
        ("u8", "u64", "u64", "vector<u8>", "u64", "u64", "u64", "u64"),
    ),
    ("escrow", "job_store"): ((("job_id", "u64"),), ("address",)),
    ("escrow", "next_job_id"): ((), ("u64",)),
    ("rewards", "epoch"): ((("epoch", "u64"),), ("vector<u8>", "u64", "u64")),
    ("rewards", "is_claimed"): ((("epoch", "u64"), ("index", "u64")), ("bool",)),
    ("rewards", "pool"): ((), ("u64", "u64")),
    ("rewards", "next_epoch"): ((), ("u64",)),
}
