"""`pictor::rewards`: the reward pool, per-epoch Merkle roots and claimed bitmaps."""

from __future__ import annotations

from typing import Any

from chain.localnet.vm import core, framework
from chain.localnet.vm.pictor import config, token
from chain.localnet.vm.pictor.config import PICTOR, SHORT

REWARDS_TAG = f"{SHORT}::rewards::Rewards"
STORE_SEED = b"pictor::rewards"
LEAF_DOMAIN = b"PICTOR_REWARD_LEAF"
HASH_LEN = 32
BITS_PER_WORD = 64

ERRORS = core.error_set(
    PICTOR,
    "rewards",
    E_NOT_ADMIN=(1, "The signer is not the admin."),
    E_ZERO_AMOUNT=(2, "Amount must be greater than zero."),
    E_BAD_EPOCH=(3, "Epochs are published in order starting at 1."),
    E_EPOCH_NOT_FOUND=(4, "No epoch has this number."),
    E_INVALID_ROOT=(5, "A Merkle root must be 32 bytes."),
    E_POOL_TOO_SMALL=(6, "The pool cannot cover this epoch's total."),
    E_ALREADY_CLAIMED=(7, "This leaf was already claimed."),
    E_INVALID_PROOF=(8, "The Merkle proof does not match the epoch root."),
    E_EPOCH_EXHAUSTED=(9, "Claims would exceed the epoch's total."),
)

POOL_FUNDED = core.event_type(
    PICTOR, "rewards", "PoolFunded", [("funder", "address"), ("amount", "u64"), ("pool", "u64")]
)
EPOCH_PUBLISHED = core.event_type(
    PICTOR, "rewards", "EpochPublished", [("epoch", "u64"), ("root", "vector<u8>"), ("total", "u64")]
)
REWARD_CLAIMED = core.event_type(
    PICTOR, "rewards", "RewardClaimed", [("epoch", "u64"), ("index", "u64"), ("user", "address"), ("amount", "u64")]
)


# --------------------------------------------------------------------------- Merkle tree


def reward_leaf(epoch: int, index: int, user: str, amount: int) -> bytes:
    """sha3_256(b"PICTOR_REWARD_LEAF" ‖ bcs(epoch) ‖ bcs(index) ‖ bcs(user) ‖ bcs(amount))."""
    return core.sha3(
        LEAF_DOMAIN + config.bcs_u64(epoch) + config.bcs_u64(index) + config.bcs_address(user) + config.bcs_u64(amount)
    )


def merkle_parent(a: bytes, b: bytes) -> bytes:
    """sha3_256(min(a, b) ‖ max(a, b)) in byte-wise lexicographic order."""
    return core.sha3(min(a, b) + max(a, b))


def fold_proof(leaf: bytes, proof: list[bytes]) -> bytes | None:
    """The root a proof leads to from `leaf`, or None when a sibling is not 32 bytes."""
    node = leaf
    for sibling in proof:
        if len(sibling) != HASH_LEN:
            return None
        node = merkle_parent(node, bytes(sibling))
    return node


def merkle_tree(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and per-leaf proofs of a tree over `leaves` (an odd node is promoted unchanged)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    proofs: list[list[bytes]] = [[] for _ in leaves]
    level = [(leaf, [i]) for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        nxt: list[tuple[bytes, list[int]]] = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
                continue
            (left, left_ids), (right, right_ids) = level[i], level[i + 1]
            for j in left_ids:
                proofs[j].append(right)
            for j in right_ids:
                proofs[j].append(left)
            nxt.append((merkle_parent(left, right), left_ids + right_ids))
        level = nxt
    return level[0][0], proofs


# --------------------------------------------------------------------------- state access


def rewards_key() -> str:
    """State key of the `Rewards` resource."""
    return core.resource_key(PICTOR, REWARDS_TAG)


def store_address() -> str:
    """The rewards pool store (named object of `@pictor`, seed `b"pictor::rewards"`)."""
    return core.object_address_from_seed(PICTOR, STORE_SEED)


def epochs_handle() -> str:
    """Handle of `Rewards.epochs`."""
    return core.table_handle(PICTOR, "rewards.epochs")


def bits_handle(epoch: int) -> str:
    """Handle of `Epoch.claimed_bits` of one epoch."""
    return core.table_handle(PICTOR, f"rewards.epochs.{epoch}.claimed_bits")


def _epoch_key(epoch: int) -> str:
    return core.table_key(epochs_handle(), epoch)


def _bits_key(epoch: int, word: int) -> str:
    return core.table_key(bits_handle(epoch), word)


def get_epoch(state: core.Overlay, epoch: int) -> dict[str, Any] | None:
    """A copy of the epoch, or None."""
    return state.get(_epoch_key(epoch))


def claimed(state: core.Overlay, epoch: int, index: int) -> bool:
    """Whether leaf `index` of `epoch` was claimed."""
    word = state.get(_bits_key(epoch, index // BITS_PER_WORD), 0)
    return bool(word >> (index % BITS_PER_WORD) & 1)


def pool_balance(state: core.Overlay) -> int:
    """PICTOR in the rewards store."""
    return framework.fa_balance(state, store_address())


# --------------------------------------------------------------------------- init & entry functions


def init_module(ctx: core.TxContext) -> None:
    """Create the rewards store and the `Rewards` resource."""
    framework.create_store(ctx, store_address(), PICTOR, token.metadata_address())
    ctx.state.put(
        rewards_key(),
        {"store": store_address(), "epochs": {"handle": epochs_handle()}, "next_epoch": 1, "allocated": 0},
    )


@core.entry(PICTOR, "rewards", ["u64"])
def fund_pool(ctx: core.TxContext, amount: int) -> None:
    """Move PICTOR from the signer's wallet into the reward pool."""
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    funder = core.norm_addr(ctx.sender)
    framework.fa_transfer(ctx, token.primary_store(ctx, funder), store_address(), amount)
    ctx.emit(POOL_FUNDED, funder=funder, amount=amount, pool=pool_balance(ctx.state))


@core.entry(PICTOR, "rewards", ["u64", "vector<u8>", "u64"])
def publish_epoch(ctx: core.TxContext, epoch: int, root: bytes, total: int) -> None:
    """Admin publishes the next epoch's Merkle root and total, reserving it from the pool."""
    ERRORS.check(core.norm_addr(ctx.sender) == config.admin(ctx.state), "E_NOT_ADMIN")
    rewards = ctx.state.get(rewards_key())
    ERRORS.check(epoch == rewards["next_epoch"], "E_BAD_EPOCH")
    ERRORS.check(len(root) == HASH_LEN, "E_INVALID_ROOT")
    ERRORS.check(total > 0, "E_ZERO_AMOUNT")
    ERRORS.check(pool_balance(ctx.state) - rewards["allocated"] >= total, "E_POOL_TOO_SMALL")
    rewards["allocated"] += total
    rewards["next_epoch"] = epoch + 1
    ctx.state.put(rewards_key(), rewards)
    ctx.state.put(
        _epoch_key(epoch),
        {"root": bytes(root), "total": total, "claimed": 0, "claimed_bits": {"handle": bits_handle(epoch)}},
    )
    ctx.emit(EPOCH_PUBLISHED, epoch=epoch, root=bytes(root), total=total)


@core.entry(PICTOR, "rewards", ["u64", "u64", "u64", "vector<vector<u8>>"])
def claim(ctx: core.TxContext, epoch: int, index: int, amount: int, proof: list[bytes]) -> None:
    """Claim leaf `index` of an epoch with its Merkle proof; pays the signer's wallet."""
    record = get_epoch(ctx.state, epoch)
    ERRORS.check(record is not None, "E_EPOCH_NOT_FOUND")
    assert record is not None
    ERRORS.check(amount > 0, "E_ZERO_AMOUNT")
    ERRORS.check(not claimed(ctx.state, epoch, index), "E_ALREADY_CLAIMED")
    user = core.norm_addr(ctx.sender)
    root = fold_proof(reward_leaf(epoch, index, user, amount), proof)
    ERRORS.check(root is not None and root == record["root"], "E_INVALID_PROOF")
    ERRORS.check(record["claimed"] + amount <= record["total"], "E_EPOCH_EXHAUSTED")
    word_index = index // BITS_PER_WORD
    word = ctx.state.get(_bits_key(epoch, word_index), 0)
    ctx.state.put(_bits_key(epoch, word_index), word | (1 << (index % BITS_PER_WORD)))
    record["claimed"] += amount
    ctx.state.put(_epoch_key(epoch), record)
    rewards = ctx.state.get(rewards_key())
    rewards["allocated"] -= amount
    ctx.state.put(rewards_key(), rewards)
    framework.fa_transfer(ctx, store_address(), token.primary_store(ctx, user), amount)
    ctx.emit(REWARD_CLAIMED, epoch=epoch, index=index, user=user, amount=amount)


# --------------------------------------------------------------------------- views


@core.view(PICTOR, "rewards", ["u64"], ["vector<u8>", "u64", "u64"])
def epoch(ctx: core.TxContext, epoch: int) -> list[Any]:
    """Root, total and claimed of an epoch."""
    record = get_epoch(ctx.state, epoch)
    ERRORS.check(record is not None, "E_EPOCH_NOT_FOUND")
    assert record is not None
    return [record["root"], record["total"], record["claimed"]]


@core.view(PICTOR, "rewards", ["u64", "u64"], ["bool"])
def is_claimed(ctx: core.TxContext, epoch: int, index: int) -> list[Any]:
    """Whether a leaf was claimed (false for an unknown epoch)."""
    return [claimed(ctx.state, epoch, index)]


@core.view(PICTOR, "rewards", [], ["u64", "u64"])
def pool(ctx: core.TxContext) -> list[Any]:
    """Pool balance and the amount allocated to published, unclaimed epochs."""
    return [pool_balance(ctx.state), ctx.state.get(rewards_key())["allocated"]]


@core.view(PICTOR, "rewards", [], ["u64"])
def next_epoch(ctx: core.TxContext) -> list[Any]:
    """The number the next published epoch must have."""
    return [ctx.state.get(rewards_key())["next_epoch"]]
