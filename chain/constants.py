"""Facts of the chain every layer may need: the localnet's fixed addresses and ids, object addresses."""

from __future__ import annotations

import hashlib

#: Where genesis publishes the `pictor` package on the localnet (fixed, so every tool agrees).
LOCALNET_PACKAGE_ADDRESS = "0x635e1d3966d97165b72ea99efb8c44cdeb96a30f37d69563fcde9151078dc42c"
#: Chain id the localnet reports (Aptos uses 4 for its own local testnet).
LOCALNET_CHAIN_ID = 4
#: Largest Move ``u64`` (amounts, ids and counters on chain).
U64_MAX = 2**64 - 1
#: Seeds of the `pictor` modules' fungible-store objects (``object::create_named_object(package, seed)``).
MODULE_STORE_SEEDS = {"vault": b"pictor::vault", "staking": b"pictor::staking", "rewards": b"pictor::rewards"}


def object_address(creator: str, seed: bytes) -> str:
    """``object::create_object_address(creator, seed)``: sha3_256(creator ‖ seed ‖ 0xFE)."""
    hex_digits = creator.lower().removeprefix("0x").rjust(64, "0")
    return "0x" + hashlib.sha3_256(bytes.fromhex(hex_digits) + seed + b"\xfe").hexdigest()
