#!/usr/bin/env python3
"""Reproduce the shared Merkle test vector of `pictor::rewards` (chain/SPEC.md, section rewards).

    python chain/move/tests/vectors/make_merkle.py > chain/move/tests/vectors/merkle.json

leaf   = sha3_256(b"PICTOR_REWARD_LEAF" || bcs(epoch: u64) || bcs(index: u64) || bcs(user: address) || bcs(amount: u64))
parent = sha3_256(min(a, b) || max(a, b))      (byte-wise lexicographic order)
proof  = siblings from the leaf up to the root (a node without a sibling on its level is promoted unchanged
         and contributes no proof element).

The Move unit tests in chain/move/tests/rewards_tests.move use exactly these bytes; the Python test suite
checks the same file. Only the standard library is needed.
"""

from __future__ import annotations

import hashlib
import json
import struct

LEAF_DOMAIN = b"PICTOR_REWARD_LEAF"

USERS = {
    "alice": "0xa11ce",
    "bob": "0xb0b",
    "carol": "0xca401",
    "dave": "0xda5e",
}

# (epoch, [(index, user, amount)]) -- amounts in PICTOR base units (8 decimals)
EPOCHS = [
    (1, [(0, "alice", 150_00000000), (1, "bob", 75_00000000), (2, "carol", 50_00000000), (3, "dave", 25_00000000)]),
    (2, [(0, "alice", 10_00000000), (1, "bob", 20_00000000), (2, "carol", 30_00000000)]),
    (3, [(200, "dave", 5_00000000)]),
]


def sha3(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


def bcs_u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def bcs_address(addr: str) -> bytes:
    raw = addr[2:] if addr.startswith("0x") else addr
    return bytes.fromhex(raw.rjust(64, "0"))


def long_address(addr: str) -> str:
    return "0x" + bcs_address(addr).hex()


def leaf_hash(epoch: int, index: int, user: str, amount: int) -> bytes:
    return sha3(LEAF_DOMAIN + bcs_u64(epoch) + bcs_u64(index) + bcs_address(user) + bcs_u64(amount))


def parent_hash(a: bytes, b: bytes) -> bytes:
    lo, hi = (a, b) if a <= b else (b, a)
    return sha3(lo + hi)


def build(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Return (root, proofs) for leaves in the given order."""
    proofs: list[list[bytes]] = [[] for _ in leaves]
    # positions[i] = position of leaf i's ancestor on the current level
    positions = list(range(len(leaves)))
    level = list(leaves)
    while len(level) > 1:
        nxt: list[bytes] = []
        for i in range(0, len(level), 2):
            if i + 1 < len(level):
                nxt.append(parent_hash(level[i], level[i + 1]))
            else:
                nxt.append(level[i])  # odd node promoted unchanged
        for leaf_i, pos in enumerate(positions):
            sib = pos ^ 1
            if sib < len(level):
                proofs[leaf_i].append(level[sib])
            positions[leaf_i] = pos // 2
        level = nxt
    return level[0], proofs


def fold(leaf: bytes, proof: list[bytes]) -> bytes:
    node = leaf
    for sib in proof:
        node = parent_hash(node, sib)
    return node


def epoch_vector(epoch: int, entries: list[tuple[int, str, int]]) -> dict:
    leaves = [leaf_hash(epoch, idx, USERS[name], amt) for idx, name, amt in entries]
    root, proofs = build(leaves)
    for leaf, proof in zip(leaves, proofs, strict=True):
        assert fold(leaf, proof) == root
    return {
        "epoch": epoch,
        "total": sum(amt for _, _, amt in entries),
        "root": "0x" + root.hex(),
        "leaves": [
            {
                "index": idx,
                "name": name,
                "user": long_address(USERS[name]),
                "amount": amt,
                "leaf": "0x" + leaf.hex(),
            }
            for (idx, name, amt), leaf in zip(entries, leaves, strict=True)
        ],
        "proofs": [["0x" + p.hex() for p in proof] for proof in proofs],
    }


def main() -> None:
    vectors = [epoch_vector(e, entries) for e, entries in EPOCHS]
    first = vectors[0]
    doc = {
        "description": "Shared Merkle test vector for pictor::rewards (chain/SPEC.md). "
        "leaf = sha3_256(b'PICTOR_REWARD_LEAF' || bcs(epoch) || bcs(index) || bcs(user) || bcs(amount)); "
        "parent = sha3_256(min(a,b) || max(a,b)); proofs list siblings from leaf to root; "
        "a node without a sibling is promoted unchanged.",
        "leaf_domain": LEAF_DOMAIN.decode(),
        "hash": "sha3_256",
        "epoch": first["epoch"],
        "total": first["total"],
        "root": first["root"],
        "leaves": first["leaves"],
        "proofs": first["proofs"],
        "additional_epochs": vectors[1:],
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
