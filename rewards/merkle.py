"""Merkle trees of reward payouts, hashed exactly as ``pictor::rewards`` verifies a claim.

* leaf   = ``sha3_256(b"PICTOR_REWARD_LEAF" ‖ bcs(epoch: u64) ‖ bcs(index: u64) ‖ bcs(user: address) ‖ bcs(amount: u64))``
  (BCS: u64 as 8 little-endian bytes, an address as its 32 bytes);
* parent = ``sha3_256(min(a, b) ‖ max(a, b))`` in byte-wise lexicographic order, so a proof needs no
  left/right flags;
* the tree pairs nodes by position (0‖1, 2‖3, …) level by level; a last node without a partner is promoted
  unchanged and adds nothing to the proofs under it;
* a proof is the list of 32-byte siblings from the leaf up to the root; the chain folds it with the same
  parent hash and aborts ``E_INVALID_PROOF`` when a sibling is not 32 bytes.

Shared test vector: ``chain/move/tests/vectors/merkle.json`` (the Move unit tests read the same bytes).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from chain.constants import U64_MAX
from chain.keys import address_bytes

LEAF_DOMAIN = b"PICTOR_REWARD_LEAF"
HASH_LEN = 32


def sha3(data: bytes) -> bytes:
    """SHA3-256 (``std::hash::sha3_256``)."""
    return hashlib.sha3_256(data).digest()


def bcs_u64(name: str, value: int) -> bytes:
    """BCS of a u64 (8 bytes, little-endian); ValueError outside 0..2^64−1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be a u64 (0..{U64_MAX}), got {value!r}")
    return struct.pack("<Q", value)


def leaf_hash(epoch: int, index: int, user: str | bytes, amount: int) -> bytes:
    """The leaf of ``user``'s ``amount`` at position ``index`` of chain epoch ``epoch``."""
    return sha3(
        LEAF_DOMAIN
        + bcs_u64("epoch", epoch)
        + bcs_u64("index", index)
        + address_bytes(user)
        + bcs_u64("amount", amount)
    )


def hash_pair(a: bytes, b: bytes) -> bytes:
    """A parent: ``sha3_256(min(a, b) ‖ max(a, b))`` (Python's bytes order is the byte-wise order Move uses)."""
    return sha3(a + b if a <= b else b + a)


def fold_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root a proof leads to from ``leaf``; None when a sibling is not 32 bytes (the chain aborts then)."""
    node = leaf
    for sibling in proof:
        if len(sibling) != HASH_LEN:
            return None
        node = hash_pair(node, bytes(sibling))
    return node


def verify_proof(root: bytes, epoch: int, index: int, user: str | bytes, amount: int, proof: Sequence[bytes]) -> bool:
    """Whether ``claim(epoch, index, amount, proof)`` signed by ``user`` would pass the chain's proof check."""
    return fold_proof(leaf_hash(epoch, index, user, amount), proof) == root


@dataclass(frozen=True)
class MerkleTree:
    """A built tree: its root and, per leaf (in input order), the proof."""

    leaves: tuple[bytes, ...]
    root: bytes
    proofs: tuple[tuple[bytes, ...], ...]


def build_tree(leaves: Sequence[bytes]) -> MerkleTree:
    """The tree over ``leaves`` in the given order (ValueError when empty or a leaf is not 32 bytes)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    for i, leaf in enumerate(leaves):
        if len(leaf) != HASH_LEN:
            raise ValueError(f"leaf {i} is {len(leaf)} bytes, not {HASH_LEN}")
    levels: list[list[bytes]] = [[bytes(leaf) for leaf in leaves]]
    while len(levels[-1]) > 1:
        level = levels[-1]
        nxt = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])  # promoted unchanged
        levels.append(nxt)
    proofs: list[tuple[bytes, ...]] = []
    for i in range(len(leaves)):
        proof: list[bytes] = []
        pos = i
        for level in levels[:-1]:
            sibling = pos ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            pos //= 2
        proofs.append(tuple(proof))
    return MerkleTree(tuple(levels[0]), levels[-1][0], tuple(proofs))


def payout_tree(epoch: int, payouts: Sequence[tuple[int, str, int]]) -> MerkleTree:
    """The tree of ``(index, user, amount)`` payouts of chain epoch ``epoch``, leaves in the given order."""
    return build_tree([leaf_hash(epoch, index, user, amount) for index, user, amount in payouts])
