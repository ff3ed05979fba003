/// Reward epochs. The admin publishes one Merkle root per epoch over
/// (epoch, index, user, amount) leaves, backed by the rewards pool; each user claims their leaf
/// with a proof. Leaf = `sha3_256(b"PICTOR_REWARD_LEAF" ‖ bcs(epoch) ‖ bcs(index) ‖ bcs(user) ‖
/// bcs(amount))`; parent = `sha3_256(min(a, b) ‖ max(a, b))` (byte-wise order); a proof is the
/// list of 32-byte siblings from the leaf up to the root.
module pictor::rewards {
    use std::bcs;
    use std::hash;
    use std::signer;
    use std::vector;
    use aptos_std::comparator;
    use aptos_std::table::{Self, Table};
    use aptos_framework::event;
    use pictor::config;
    use pictor::token;

    /// The signer is not the admin.
    const E_NOT_ADMIN: u64 = 1;
    /// Amount must be greater than zero.
    const E_ZERO_AMOUNT: u64 = 2;
    /// Epochs are published in order starting at 1.
    const E_BAD_EPOCH: u64 = 3;
    /// No epoch has this number.
    const E_EPOCH_NOT_FOUND: u64 = 4;
    /// A Merkle root must be 32 bytes.
    const E_INVALID_ROOT: u64 = 5;
    /// The pool cannot cover this epoch's total.
    const E_POOL_TOO_SMALL: u64 = 6;
    /// This leaf was already claimed.
    const E_ALREADY_CLAIMED: u64 = 7;
    /// The Merkle proof does not match the epoch root.
    const E_INVALID_PROOF: u64 = 8;
    /// Claims would exceed the epoch's total.
    const E_EPOCH_EXHAUSTED: u64 = 9;

    const LEAF_DOMAIN: vector<u8> = b"PICTOR_REWARD_LEAF";
    const HASH_LENGTH: u64 = 32;
    const BITS_PER_WORD: u64 = 64;

    struct Epoch has store {
        root: vector<u8>,
        total: u64,
        claimed: u64,
        claimed_bits: Table<u64, u64>,
    }

    /// Stored at `@pictor`. `store` is the address of the rewards pool's PICTOR store;
    /// `allocated` is what published epochs still owe (published and not yet claimed).
    struct Rewards has key {
        store: address,
        epochs: Table<u64, Epoch>,
        next_epoch: u64,
        allocated: u64,
    }

    #[event]
    struct PoolFunded has drop, store {
        funder: address,
        amount: u64,
        pool: u64,
    }

    #[event]
    struct EpochPublished has drop, store {
        epoch: u64,
        root: vector<u8>,
        total: u64,
    }

    #[event]
    struct RewardClaimed has drop, store {
        epoch: u64,
        index: u64,
        user: address,
        amount: u64,
    }

    fun init_module(pictor: &signer) {
        move_to(pictor, Rewards {
            store: token::rewards_store(),
            epochs: table::new(),
            next_epoch: 1,
            allocated: 0,
        });
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Move `amount` PICTOR from the caller's wallet into the rewards pool.
    public entry fun fund_pool(funder: &signer, amount: u64) acquires Rewards {
        assert!(amount > 0, E_ZERO_AMOUNT);
        let store = borrow_global<Rewards>(@pictor).store;
        token::deposit_from_wallet(funder, store, amount);
        event::emit(PoolFunded {
            funder: signer::address_of(funder),
            amount,
            pool: token::store_balance(store),
        });
    }

    /// Admin: publish the Merkle root of epoch `epoch` owing `total` in all.
    public entry fun publish_epoch(admin: &signer, epoch: u64, root: vector<u8>, total: u64) acquires Rewards {
        assert!(signer::address_of(admin) == config::admin(), E_NOT_ADMIN);
        let rewards = borrow_global_mut<Rewards>(@pictor);
        assert!(epoch == rewards.next_epoch, E_BAD_EPOCH);
        assert!(vector::length(&root) == HASH_LENGTH, E_INVALID_ROOT);
        assert!(total > 0, E_ZERO_AMOUNT);
        let pool = token::store_balance(rewards.store);
        assert!(pool >= rewards.allocated && total <= pool - rewards.allocated, E_POOL_TOO_SMALL);
        rewards.allocated = rewards.allocated + total;
        rewards.next_epoch = epoch + 1;
        table::add(&mut rewards.epochs, epoch, Epoch {
            root: copy root,
            total,
            claimed: 0,
            claimed_bits: table::new(),
        });
        event::emit(EpochPublished { epoch, root, total });
    }

    /// Claim leaf `index` of epoch `epoch` (`amount` for the caller) with its Merkle proof.
    public entry fun claim(
        user: &signer,
        epoch: u64,
        index: u64,
        amount: u64,
        proof: vector<vector<u8>>,
    ) acquires Rewards {
        let user_addr = signer::address_of(user);
        let rewards = borrow_global_mut<Rewards>(@pictor);
        assert!(table::contains(&rewards.epochs, epoch), E_EPOCH_NOT_FOUND);
        assert!(amount > 0, E_ZERO_AMOUNT);
        let e = table::borrow_mut(&mut rewards.epochs, epoch);
        let word_index = index / BITS_PER_WORD;
        let mask = 1u64 << ((index % BITS_PER_WORD) as u8);
        let word = read_word(&e.claimed_bits, word_index);
        assert!((word & mask) == 0, E_ALREADY_CLAIMED);
        let computed = fold_proof(leaf_hash(epoch, index, user_addr, amount), &proof);
        assert!(computed == e.root, E_INVALID_PROOF);
        assert!(amount <= e.total - e.claimed, E_EPOCH_EXHAUSTED);
        table::upsert(&mut e.claimed_bits, word_index, word | mask);
        e.claimed = e.claimed + amount;
        rewards.allocated = rewards.allocated - amount;
        token::pay_to_wallet(rewards.store, user_addr, amount);
        event::emit(RewardClaimed { epoch, index, user: user_addr, amount });
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    /// (root, total, claimed) of an epoch.
    public fun epoch(epoch: u64): (vector<u8>, u64, u64) acquires Rewards {
        let rewards = borrow_global<Rewards>(@pictor);
        assert!(table::contains(&rewards.epochs, epoch), E_EPOCH_NOT_FOUND);
        let e = table::borrow(&rewards.epochs, epoch);
        (e.root, e.total, e.claimed)
    }

    #[view]
    /// Whether leaf `index` of `epoch` was claimed; false for an unknown epoch.
    public fun is_claimed(epoch: u64, index: u64): bool acquires Rewards {
        let rewards = borrow_global<Rewards>(@pictor);
        if (!table::contains(&rewards.epochs, epoch)) {
            return false
        };
        let e = table::borrow(&rewards.epochs, epoch);
        let mask = 1u64 << ((index % BITS_PER_WORD) as u8);
        (read_word(&e.claimed_bits, index / BITS_PER_WORD) & mask) != 0
    }

    #[view]
    /// (pool store balance, allocated)
    public fun pool(): (u64, u64) acquires Rewards {
        let rewards = borrow_global<Rewards>(@pictor);
        (token::store_balance(rewards.store), rewards.allocated)
    }

    #[view]
    public fun next_epoch(): u64 acquires Rewards {
        borrow_global<Rewards>(@pictor).next_epoch
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    fun read_word(bits: &Table<u64, u64>, word_index: u64): u64 {
        if (table::contains(bits, word_index)) {
            *table::borrow(bits, word_index)
        } else {
            0
        }
    }

    fun leaf_hash(epoch: u64, index: u64, user: address, amount: u64): vector<u8> {
        let bytes = LEAF_DOMAIN;
        vector::append(&mut bytes, bcs::to_bytes(&epoch));
        vector::append(&mut bytes, bcs::to_bytes(&index));
        vector::append(&mut bytes, bcs::to_bytes(&user));
        vector::append(&mut bytes, bcs::to_bytes(&amount));
        hash::sha3_256(bytes)
    }

    /// sha3_256(min(a, b) ‖ max(a, b)), byte-wise lexicographic order.
    fun hash_pair(a: vector<u8>, b: vector<u8>): vector<u8> {
        if (comparator::is_greater_than(&comparator::compare_u8_vector(copy a, copy b))) {
            vector::append(&mut b, a);
            hash::sha3_256(b)
        } else {
            vector::append(&mut a, b);
            hash::sha3_256(a)
        }
    }

    /// Fold a proof from the leaf up; a sibling that is not 32 bytes aborts with `E_INVALID_PROOF`.
    fun fold_proof(leaf: vector<u8>, proof: &vector<vector<u8>>): vector<u8> {
        let node = leaf;
        let i = 0;
        let len = vector::length(proof);
        while (i < len) {
            let sibling = *vector::borrow(proof, i);
            assert!(vector::length(&sibling) == HASH_LENGTH, E_INVALID_PROOF);
            node = hash_pair(node, sibling);
            i = i + 1;
        };
        node
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers (to build Merkle trees in tests)
    // ---------------------------------------------------------------------------------------

    #[test_only]
    public fun leaf_hash_for_test(epoch: u64, index: u64, user: address, amount: u64): vector<u8> {
        leaf_hash(epoch, index, user, amount)
    }

    #[test_only]
    public fun hash_pair_for_test(a: vector<u8>, b: vector<u8>): vector<u8> {
        hash_pair(a, b)
    }
}
