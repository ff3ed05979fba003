"""rewards.merkle reproduces the shared vector of the Move tests byte for byte, and its proofs behave."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.localnet.vm.pictor import rewards as vm_rewards
from rewards.merkle import (
    HASH_LEN,
    U64_MAX,
    build_tree,
    fold_proof,
    hash_pair,
    leaf_hash,
    payout_tree,
    verify_proof,
)
from tests.support import REPO_ROOT

VECTOR = REPO_ROOT / "chain" / "move" / "tests" / "vectors" / "merkle.json"


def _b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.removeprefix("0x"))


def _epochs() -> list[dict[str, Any]]:
    doc = json.loads(VECTOR.read_text())
    first = {k: doc[k] for k in ("epoch", "total", "root", "leaves", "proofs")}
    return [first, *doc["additional_epochs"]]


def test_the_vector_names_the_move_hashing() -> None:
    doc = json.loads(VECTOR.read_text())
    assert doc["hash"] == "sha3_256" and doc["leaf_domain"] == "PICTOR_REWARD_LEAF"
    assert len(_epochs()) == 3  # an even tree, an odd tree (promoted node) and a single leaf at index 200


@pytest.mark.parametrize("vector", _epochs(), ids=lambda v: f"epoch{v['epoch']}")
def test_leaves_root_and_proofs_match_the_vector_byte_for_byte(vector: dict[str, Any]) -> None:
    entries = [(leaf["index"], leaf["user"], leaf["amount"]) for leaf in vector["leaves"]]
    for (index, user, amount), leaf in zip(entries, vector["leaves"], strict=True):
        assert leaf_hash(vector["epoch"], index, user, amount) == _b(leaf["leaf"])
    tree = payout_tree(vector["epoch"], entries)
    assert tree.root == _b(vector["root"])
    assert [list(p) for p in tree.proofs] == [[_b(s) for s in proof] for proof in vector["proofs"]]
    assert sum(amount for _, _, amount in entries) == vector["total"]
    for (index, user, amount), proof in zip(entries, tree.proofs, strict=True):
        assert verify_proof(tree.root, vector["epoch"], index, user, amount, proof)


def test_short_addresses_hash_as_their_32_bytes() -> None:
    full = "0x" + "0" * 59 + "a11ce"
    assert leaf_hash(1, 0, "0xa11ce", 5) == leaf_hash(1, 0, full, 5) == leaf_hash(1, 0, bytes.fromhex(full[2:]), 5)


def test_parent_order_is_bytewise_and_symmetric() -> None:
    a, b = b"\x01" + b"\x00" * 31, b"\x00" + b"\xff" * 31
    assert hash_pair(a, b) == hash_pair(b, a)
    import hashlib

    assert hash_pair(a, b) == hashlib.sha3_256(b + a).digest()  # b < a byte-wise


def test_a_sibling_that_is_not_32_bytes_fails_like_the_chain() -> None:
    tree = payout_tree(1, [(0, "0x1", 1), (1, "0x2", 2)])
    assert fold_proof(tree.leaves[0], [tree.proofs[0][0][:31]]) is None
    assert not verify_proof(tree.root, 1, 0, "0x1", 1, [tree.proofs[0][0] + b"\x00"])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        build_tree([])
    with pytest.raises(ValueError, match="not 32"):
        build_tree([b"\x00" * 31])
    for bad in (-1, U64_MAX + 1, True, 1.0):
        with pytest.raises(ValueError, match="u64"):
            leaf_hash(1, 0, "0x1", bad)  # type: ignore[arg-type]


addresses = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
entries = st.lists(st.tuples(addresses, st.integers(1, U64_MAX)), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(epoch=st.integers(1, U64_MAX), entries=entries)
def test_every_leaf_proof_verifies_and_matches_the_localnet_vm(epoch: int, entries: list[tuple[str, int]]) -> None:
    payouts = [(i, user, amount) for i, (user, amount) in enumerate(entries)]
    tree = payout_tree(epoch, payouts)
    # The localnet's VM is a separate implementation of the chain's algorithm: same root, same proofs.
    vm_root, vm_proofs = vm_rewards.merkle_tree([vm_rewards.reward_leaf(epoch, i, u, a) for i, u, a in payouts])
    assert tree.root == vm_root and [list(p) for p in tree.proofs] == vm_proofs
    depth = max(1, (len(payouts) - 1).bit_length())
    for (index, user, amount), proof in zip(payouts, tree.proofs, strict=True):
        assert len(proof) <= depth and all(len(s) == HASH_LEN for s in proof)
        assert verify_proof(tree.root, epoch, index, user, amount, proof)
        assert vm_rewards.fold_proof(vm_rewards.reward_leaf(epoch, index, user, amount), list(proof)) == tree.root


@settings(max_examples=60, deadline=None)
@given(epoch=st.integers(1, 1000), entries=entries, data=st.data())
def test_a_changed_field_does_not_verify(epoch: int, entries: list[tuple[str, int]], data: st.DataObject) -> None:
    payouts = [(i, user, amount) for i, (user, amount) in enumerate(entries)]
    tree = payout_tree(epoch, payouts)
    index = data.draw(st.integers(0, len(payouts) - 1))
    _, user, amount = payouts[index]
    proof = tree.proofs[index]
    other = data.draw(st.integers(1, U64_MAX).filter(lambda a: a != amount))
    assert not verify_proof(tree.root, epoch, index, user, other, proof)
    assert not verify_proof(tree.root, epoch + 1, index, user, amount, proof)
    assert not verify_proof(tree.root, epoch, index + 1, user, amount, proof)
    stranger = data.draw(addresses.filter(lambda a: a != user))
    assert not verify_proof(tree.root, epoch, index, stranger, amount, proof)


def test_the_whole_vector_file_regenerates_byte_for_byte_with_this_module(capsys: pytest.CaptureFixture[str]) -> None:
    """The vector's generator, with its hashing and tree swapped for rewards.merkle, prints the file exactly."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_merkle_vector", VECTOR.with_name("make_merkle.py"))
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)

    def build(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
        tree = build_tree(leaves)
        return tree.root, [list(p) for p in tree.proofs]

    generator.leaf_hash = leaf_hash
    generator.build = build
    generator.fold = lambda leaf, proof: fold_proof(leaf, proof)
    generator.main()
    assert capsys.readouterr().out.encode() == VECTOR.read_bytes()
