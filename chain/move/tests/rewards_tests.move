// Shared Merkle test vector (chain/move/tests/vectors/merkle.json, reproduced by
// `python chain/move/tests/vectors/make_merkle.py`; the Python test suite checks the same bytes).
//
//   leaf   = sha3_256(b"PICTOR_REWARD_LEAF" || bcs(epoch: u64) || bcs(index: u64) || bcs(user: address) || bcs(amount: u64))
//   parent = sha3_256(min(a, b) || max(a, b))   (byte-wise lexicographic)
//   proof  = siblings from leaf to root; a node without a sibling on its level is promoted unchanged.
//
// Epoch 1 (4 leaves), total 30000000000, root
//   0x005d2ee0702088e454587c0e1c7ead65f731a4a96b86bb4a592f830b3e963ea1
//   idx user     amount       leaf                                                               proof
//   0   0xa11ce  15000000000  0x44d4eafec8a7171f53f34a88667d1396ee5c277ac46866694032d2fcbb5da575 [0x038740cb489821364a5786c4c8c803ab5951ee8d55be711a8c0a62ed00ec9596, 0xb65f96475eec7d44fcab7598a08b92d87ae8169228e0061c671b0319749732ba]
//   1   0xb0b    7500000000   0x038740cb489821364a5786c4c8c803ab5951ee8d55be711a8c0a62ed00ec9596 [0x44d4eafec8a7171f53f34a88667d1396ee5c277ac46866694032d2fcbb5da575, 0xb65f96475eec7d44fcab7598a08b92d87ae8169228e0061c671b0319749732ba]
//   2   0xca401  5000000000   0xd24e57e06df170cacd07935d6c73e028a9fd479eaf6d47f81d58fb03a84f8ce1 [0x50e61321af8833bb7c9ac85bd2e225e8b509d16449e801c450b1105313787d54, 0x53860e96de919160245e4765c404aa6d4e8fd926e66d7603591748962c289b1e]
//   3   0xda5e   2500000000   0x50e61321af8833bb7c9ac85bd2e225e8b509d16449e801c450b1105313787d54 [0xd24e57e06df170cacd07935d6c73e028a9fd479eaf6d47f81d58fb03a84f8ce1, 0x53860e96de919160245e4765c404aa6d4e8fd926e66d7603591748962c289b1e]
//
// Epoch 2 (3 leaves; the third is promoted), total 6000000000, root
//   0x465ca262a2946edf2d8163062ebb2b5b1e2a51fa9ecf17acaa477dff3c52530d
//   0   0xa11ce  1000000000   0xf100f3d0c1532138823d6f1a9897f3a93b1f05e0ffe0d5fe7e35974f35e3326b [0xa41cd4d07643f4bb0812e72661b2cd64f39614e5105df69b9dca3cdfd3488266, 0x02ec9433614ab0eb4e022b61f7977da394b619a5de629ec5075c89ba2485f247]
//   1   0xb0b    2000000000   0xa41cd4d07643f4bb0812e72661b2cd64f39614e5105df69b9dca3cdfd3488266 [0xf100f3d0c1532138823d6f1a9897f3a93b1f05e0ffe0d5fe7e35974f35e3326b, 0x02ec9433614ab0eb4e022b61f7977da394b619a5de629ec5075c89ba2485f247]
//   2   0xca401  3000000000   0x02ec9433614ab0eb4e022b61f7977da394b619a5de629ec5075c89ba2485f247 [0x3be1c61129b126a01ed83f00c27264f3e182e6ae0df6a9df56a1be1860b47a95]
//
// Epoch 3 (1 leaf: root = leaf, empty proof; index 200 lives in the 4th 64-bit word of the bitmap),
// total 500000000, root
//   0x7b9d355002eba48a2797ef5bc4a939e96537c6440995211e2974ec1c74323b2a
//   200 0xda5e   500000000    0x7b9d355002eba48a2797ef5bc4a939e96537c6440995211e2974ec1c74323b2a []
#[test_only]
module pictor::rewards_tests {
    use std::bcs;
    use std::hash;
    use std::vector;
    use aptos_std::comparator;
    use pictor::rewards;
    use pictor::test_helpers as h;
    use pictor::token;

    // ---------------------------------------------------------------- the vector

    fun root1(): vector<u8> { x"005d2ee0702088e454587c0e1c7ead65f731a4a96b86bb4a592f830b3e963ea1" }
    fun root2(): vector<u8> { x"465ca262a2946edf2d8163062ebb2b5b1e2a51fa9ecf17acaa477dff3c52530d" }
    fun root3(): vector<u8> { x"7b9d355002eba48a2797ef5bc4a939e96537c6440995211e2974ec1c74323b2a" }

    fun total1(): u64 { 30000000000 }
    fun total2(): u64 { 6000000000 }
    fun total3(): u64 { 500000000 }

    // epoch 1
    fun amount_alice1(): u64 { 15000000000 }
    fun amount_bob1(): u64 { 7500000000 }
    fun amount_carol1(): u64 { 5000000000 }
    fun amount_dave1(): u64 { 2500000000 }

    fun leaf_alice1(): vector<u8> { x"44d4eafec8a7171f53f34a88667d1396ee5c277ac46866694032d2fcbb5da575" }
    fun leaf_bob1(): vector<u8> { x"038740cb489821364a5786c4c8c803ab5951ee8d55be711a8c0a62ed00ec9596" }
    fun leaf_carol1(): vector<u8> { x"d24e57e06df170cacd07935d6c73e028a9fd479eaf6d47f81d58fb03a84f8ce1" }
    fun leaf_dave1(): vector<u8> { x"50e61321af8833bb7c9ac85bd2e225e8b509d16449e801c450b1105313787d54" }

    fun proof_alice1(): vector<vector<u8>> {
        vector[
            x"038740cb489821364a5786c4c8c803ab5951ee8d55be711a8c0a62ed00ec9596",
            x"b65f96475eec7d44fcab7598a08b92d87ae8169228e0061c671b0319749732ba"
        ]
    }

    fun proof_bob1(): vector<vector<u8>> {
        vector[
            x"44d4eafec8a7171f53f34a88667d1396ee5c277ac46866694032d2fcbb5da575",
            x"b65f96475eec7d44fcab7598a08b92d87ae8169228e0061c671b0319749732ba"
        ]
    }

    fun proof_carol1(): vector<vector<u8>> {
        vector[
            x"50e61321af8833bb7c9ac85bd2e225e8b509d16449e801c450b1105313787d54",
            x"53860e96de919160245e4765c404aa6d4e8fd926e66d7603591748962c289b1e"
        ]
    }

    fun proof_dave1(): vector<vector<u8>> {
        vector[
            x"d24e57e06df170cacd07935d6c73e028a9fd479eaf6d47f81d58fb03a84f8ce1",
            x"53860e96de919160245e4765c404aa6d4e8fd926e66d7603591748962c289b1e"
        ]
    }

    // epoch 2
    fun amount_alice2(): u64 { 1000000000 }
    fun amount_bob2(): u64 { 2000000000 }
    fun amount_carol2(): u64 { 3000000000 }

    fun leaf_carol2(): vector<u8> { x"02ec9433614ab0eb4e022b61f7977da394b619a5de629ec5075c89ba2485f247" }

    fun proof_alice2(): vector<vector<u8>> {
        vector[
            x"a41cd4d07643f4bb0812e72661b2cd64f39614e5105df69b9dca3cdfd3488266",
            x"02ec9433614ab0eb4e022b61f7977da394b619a5de629ec5075c89ba2485f247"
        ]
    }

    fun proof_bob2(): vector<vector<u8>> {
        vector[
            x"f100f3d0c1532138823d6f1a9897f3a93b1f05e0ffe0d5fe7e35974f35e3326b",
            x"02ec9433614ab0eb4e022b61f7977da394b619a5de629ec5075c89ba2485f247"
        ]
    }

    fun proof_carol2(): vector<vector<u8>> {
        vector[x"3be1c61129b126a01ed83f00c27264f3e182e6ae0df6a9df56a1be1860b47a95"]
    }

    // epoch 3
    fun amount_dave3(): u64 { 500000000 }

    // ---------------------------------------------------------------- local reference implementation

    fun leaf(epoch: u64, index: u64, user: address, amount: u64): vector<u8> {
        let bytes = b"PICTOR_REWARD_LEAF";
        vector::append(&mut bytes, bcs::to_bytes(&epoch));
        vector::append(&mut bytes, bcs::to_bytes(&index));
        vector::append(&mut bytes, bcs::to_bytes(&user));
        vector::append(&mut bytes, bcs::to_bytes(&amount));
        hash::sha3_256(bytes)
    }

    fun parent(a: vector<u8>, b: vector<u8>): vector<u8> {
        let bytes = if (comparator::is_smaller_than(&comparator::compare_u8_vector(copy a, copy b))) {
            let v = a;
            vector::append(&mut v, b);
            v
        } else {
            let v = b;
            vector::append(&mut v, a);
            v
        };
        hash::sha3_256(bytes)
    }

    fun fold(leaf_hash: vector<u8>, proof: vector<vector<u8>>): vector<u8> {
        let node = leaf_hash;
        let i = 0;
        let n = vector::length(&proof);
        while (i < n) {
            node = parent(node, *vector::borrow(&proof, i));
            i = i + 1;
        };
        node
    }

    /// Mints `amount` to @pictor and puts it in the pool.
    fun fund(pictor: &signer, amount: u64) {
        token::mint(pictor, @pictor, amount);
        rewards::fund_pool(pictor, amount);
    }

    /// Funds the pool with everything the three epochs pay and publishes them in order.
    fun publish_all(pictor: &signer) {
        fund(pictor, total1() + total2() + total3());
        rewards::publish_epoch(pictor, 1, root1(), total1());
        rewards::publish_epoch(pictor, 2, root2(), total2());
        rewards::publish_epoch(pictor, 3, root3(), total3());
    }

    // ---------------------------------------------------------------- the vector is self-consistent

    #[test]
    fun vector_matches_move_hashing() {
        assert!(leaf(1, 0, @0xa11ce, amount_alice1()) == leaf_alice1(), 1);
        assert!(leaf(1, 1, @0xb0b, amount_bob1()) == leaf_bob1(), 2);
        assert!(leaf(1, 2, @0xca401, amount_carol1()) == leaf_carol1(), 3);
        assert!(leaf(1, 3, @0xda5e, amount_dave1()) == leaf_dave1(), 4);
        assert!(fold(leaf_alice1(), proof_alice1()) == root1(), 5);
        assert!(fold(leaf_bob1(), proof_bob1()) == root1(), 6);
        assert!(fold(leaf_carol1(), proof_carol1()) == root1(), 7);
        assert!(fold(leaf_dave1(), proof_dave1()) == root1(), 8);
        assert!(fold(leaf(2, 0, @0xa11ce, amount_alice2()), proof_alice2()) == root2(), 9);
        assert!(fold(leaf(2, 1, @0xb0b, amount_bob2()), proof_bob2()) == root2(), 10);
        assert!(leaf(2, 2, @0xca401, amount_carol2()) == leaf_carol2(), 11);
        assert!(fold(leaf_carol2(), proof_carol2()) == root2(), 12);
        assert!(leaf(3, 200, @0xda5e, amount_dave3()) == root3(), 13);
        assert!(total1() == amount_alice1() + amount_bob1() + amount_carol1() + amount_dave1(), 14);
        assert!(total2() == amount_alice2() + amount_bob2() + amount_carol2(), 15);
        // the module hashes the same way
        assert!(rewards::leaf_hash_for_test(1, 0, @0xa11ce, amount_alice1()) == leaf_alice1(), 16);
        assert!(rewards::leaf_hash_for_test(3, 200, @0xda5e, amount_dave3()) == root3(), 17);
        assert!(rewards::hash_pair_for_test(leaf_alice1(), leaf_bob1()) == parent(leaf_alice1(), leaf_bob1()), 18);
        assert!(rewards::hash_pair_for_test(leaf_bob1(), leaf_alice1()) == parent(leaf_alice1(), leaf_bob1()), 19);
    }

    // ---------------------------------------------------------------- fund_pool

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    fun fund_pool_moves_wallet_tokens(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xb0b, 1_000);
        rewards::fund_pool(bob, 600);
        rewards::fund_pool(bob, 100);
        let (pool, allocated) = rewards::pool();
        assert!(pool == 700 && allocated == 0, 1);
        assert!(token::balance(@0xb0b) == 300, 2);
        assert!(h::store_balance(h::rewards_store()) == 700, 3);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 2, location = pictor::rewards)]
    fun fund_pool_zero(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xb0b, 1_000);
        rewards::fund_pool(bob, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 0x10004, location = aptos_framework::fungible_asset)]
    fun fund_pool_more_than_wallet(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xb0b, 1_000);
        rewards::fund_pool(bob, 1_001);
    }

    // ---------------------------------------------------------------- publish_epoch

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun publish_epochs_in_order(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        assert!(rewards::next_epoch() == 1, 1);
        fund(pictor, total1() + total2());
        rewards::publish_epoch(pictor, 1, root1(), total1());
        let (root, total, claimed) = rewards::epoch(1);
        assert!(root == root1() && total == total1() && claimed == 0, 2);
        assert!(rewards::next_epoch() == 2, 3);
        let (pool, allocated) = rewards::pool();
        assert!(pool == total1() + total2() && allocated == total1(), 4);
        rewards::publish_epoch(pictor, 2, root2(), total2());
        let (_, allocated) = rewards::pool();
        assert!(allocated == total1() + total2(), 5);
        assert!(rewards::next_epoch() == 3, 6);
        assert!(!rewards::is_claimed(1, 0), 7);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::rewards)]
    fun publish_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(bob, 1, root1(), total1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::rewards)]
    fun publish_skipping_an_epoch(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(pictor, 2, root1(), total1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::rewards)]
    fun publish_epoch_zero(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(pictor, 0, root1(), total1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::rewards)]
    fun publish_same_epoch_twice(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, 2 * total1());
        rewards::publish_epoch(pictor, 1, root1(), total1());
        rewards::publish_epoch(pictor, 1, root1(), total1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 5, location = pictor::rewards)]
    fun publish_short_root(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        let root = root1();
        vector::pop_back(&mut root);
        rewards::publish_epoch(pictor, 1, root, total1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::rewards)]
    fun publish_zero_total(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(pictor, 1, root1(), 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::rewards)]
    fun publish_more_than_pool(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1() - 1);
        rewards::publish_epoch(pictor, 1, root1(), total1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::rewards)]
    fun publish_more_than_unallocated_pool(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1() + total2() - 1);
        rewards::publish_epoch(pictor, 1, root1(), total1());
        rewards::publish_epoch(pictor, 2, root2(), total2());
    }

    // ---------------------------------------------------------------- claim

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun claim_every_leaf_of_the_four_leaf_tree(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(pictor, 1, root1(), total1());
        rewards::claim(&h::acct(@0xca401), 1, 2, amount_carol1(), proof_carol1());
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof_alice1());
        h::assert_conservation();
        rewards::claim(&h::acct(@0xda5e), 1, 3, amount_dave1(), proof_dave1());
        rewards::claim(&h::acct(@0xb0b), 1, 1, amount_bob1(), proof_bob1());
        assert!(token::balance(@0xa11ce) == amount_alice1(), 1);
        assert!(token::balance(@0xb0b) == amount_bob1(), 2);
        assert!(token::balance(@0xca401) == amount_carol1(), 3);
        assert!(token::balance(@0xda5e) == amount_dave1(), 4);
        assert!(rewards::is_claimed(1, 0) && rewards::is_claimed(1, 1), 5);
        assert!(rewards::is_claimed(1, 2) && rewards::is_claimed(1, 3), 6);
        assert!(!rewards::is_claimed(1, 4), 7);
        let (_, total, claimed) = rewards::epoch(1);
        assert!(claimed == total && total == total1(), 8);
        let (pool, allocated) = rewards::pool();
        assert!(pool == 0 && allocated == 0, 9);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun claim_three_leaf_tree_with_promoted_leaf(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xca401), 2, 2, amount_carol2(), proof_carol2());
        rewards::claim(&h::acct(@0xa11ce), 2, 0, amount_alice2(), proof_alice2());
        rewards::claim(&h::acct(@0xb0b), 2, 1, amount_bob2(), proof_bob2());
        assert!(token::balance(@0xca401) == amount_carol2(), 1);
        assert!(token::balance(@0xa11ce) == amount_alice2(), 2);
        assert!(token::balance(@0xb0b) == amount_bob2(), 3);
        // epoch 1 untouched
        assert!(!rewards::is_claimed(1, 0) && !rewards::is_claimed(1, 2), 4);
        let (_, _, claimed2) = rewards::epoch(2);
        assert!(claimed2 == total2(), 5);
        let (pool, allocated) = rewards::pool();
        assert!(pool == total1() + total3() && allocated == total1() + total3(), 6);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun claim_single_leaf_tree_high_index(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xda5e), 3, 200, amount_dave3(), vector<vector<u8>>[]);
        assert!(token::balance(@0xda5e) == amount_dave3(), 1);
        assert!(rewards::is_claimed(3, 200), 2);
        assert!(!rewards::is_claimed(3, 199) && !rewards::is_claimed(3, 201), 3);
        assert!(!rewards::is_claimed(3, 8) && !rewards::is_claimed(3, 0), 4);
        assert!(!rewards::is_claimed(1, 200), 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun is_claimed_of_unknown_epoch_is_false(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        assert!(!rewards::is_claimed(1, 0), 1);
        assert!(!rewards::is_claimed(99, 5), 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::rewards)]
    fun claim_unknown_epoch(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(pictor, 1, root1(), total1());
        rewards::claim(&h::acct(@0xa11ce), 2, 0, amount_alice2(), proof_alice2());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::rewards)]
    fun claim_zero_amount(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, 0, proof_alice1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::rewards)]
    fun claim_twice(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof_alice1());
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof_alice1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::rewards)]
    fun claimed_bit_checked_before_proof(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xda5e), 3, 200, amount_dave3(), vector<vector<u8>>[]);
        rewards::claim(&h::acct(@0xda5e), 3, 200, 1, vector[x"00"]);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_wrong_amount(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1() + 1, proof_alice1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_someone_elses_leaf(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xb0b), 1, 0, amount_alice1(), proof_alice1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_wrong_index(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        rewards::claim(&h::acct(@0xa11ce), 1, 1, amount_alice1(), proof_alice1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_proof_of_another_epoch(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        // same user, index and proof as epoch 1, but the leaf commits to the epoch
        rewards::claim(&h::acct(@0xa11ce), 2, 0, amount_alice1(), proof_alice1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_siblings_out_of_order(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        let proof = proof_alice1();
        vector::reverse(&mut proof);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_truncated_proof(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        let proof = proof_alice1();
        vector::pop_back(&mut proof);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_short_sibling(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        publish_all(pictor);
        let proof = proof_alice1();
        vector::pop_back(vector::borrow_mut(&mut proof, 0));
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::rewards)]
    fun claim_extra_empty_sibling(fx: &signer, pictor: &signer) {
        // a sibling that is not 32 bytes is rejected even where it would not change the fold
        h::setup(fx, pictor);
        publish_all(pictor);
        let proof = proof_alice1();
        vector::push_back(&mut proof, vector<u8>[]);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 9, location = pictor::rewards)]
    fun claims_beyond_epoch_total(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        // published total smaller than the tree pays out
        rewards::publish_epoch(pictor, 1, root1(), amount_alice1() + amount_bob1() - 1);
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof_alice1());
        rewards::claim(&h::acct(@0xb0b), 1, 1, amount_bob1(), proof_bob1());
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun claims_up_to_epoch_total(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        fund(pictor, total1());
        rewards::publish_epoch(pictor, 1, root1(), amount_alice1() + amount_bob1());
        rewards::claim(&h::acct(@0xa11ce), 1, 0, amount_alice1(), proof_alice1());
        rewards::claim(&h::acct(@0xb0b), 1, 1, amount_bob1(), proof_bob1());
        let (pool, allocated) = rewards::pool();
        assert!(pool == total1() - amount_alice1() - amount_bob1() && allocated == 0, 1);
        h::assert_conservation();
    }

    // ---------------------------------------------------------------- views

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::rewards)]
    fun epoch_view_unknown(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (_, _, _) = rewards::epoch(1);
    }
}
