#[test_only]
module pictor::registry_tests {
    use aptos_framework::account;
    use pictor::config;
    use pictor::registry;
    use pictor::test_helpers as h;

    const IDENTITY_POINT: vector<u8> = x"0100000000000000000000000000000000000000000000000000000000000000";

    // ---------------------------------------------------------------- register_node

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun register_worker_and_checker(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        assert!(registry::node_count() == 0, 1);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        let node_account = h::account_of_key(pk);
        let (operator, role, public_key, account, active, strikes) = registry::node(1);
        assert!(operator == @0x3001, 2);
        assert!(role == 1, 3);
        assert!(public_key == pk, 4);
        assert!(account == node_account, 5);
        assert!(active, 6);
        assert!(strikes == 0, 7);
        assert!(registry::node_of_account(node_account) == 1, 8);
        assert!(registry::node_count() == 1, 9);

        // same operator, checker role: next id
        let (sk2, pk2) = h::new_key();
        registry::register_node(op, 2, pk2, h::registration_proof(&sk2, @0x3001, 2, pk2));
        let (_, role2, _, account2, _, _) = registry::node(2);
        assert!(role2 == 2, 10);
        assert!(registry::node_of_account(account2) == 2, 11);
        assert!(registry::node_count() == 2, 12);
        assert!(registry::node_of_account(@0xdead) == 0, 13);
        assert!(registry::registered_at_for_test(1) == h::now(), 14);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun signed_message_and_node_account_match_the_module(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (_sk, pk) = h::new_key();
        assert!(
            h::registration_message(@0x3001, 2, pk) == registry::registration_message_for_test(@0x3001, 2, pk),
            1
        );
        // prefix, 32-byte operator, 1-byte role, raw 32-byte key
        assert!(std::vector::length(&h::registration_message(@0x3001, 2, pk)) == 24 + 32 + 1 + 32, 2);
        assert!(h::account_of_key(pk) == registry::node_account_for_test(pk), 3);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun register_paused(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        config::set_paused(pictor, true);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 1, location = pictor::registry)]
    fun register_role_zero(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 0, pk, h::registration_proof(&sk, @0x3001, 0, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 1, location = pictor::registry)]
    fun register_role_three(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 3, pk, h::registration_proof(&sk, @0x3001, 3, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::registry)]
    fun register_small_order_key(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, _pk) = h::new_key();
        registry::register_node(op, 1, IDENTITY_POINT, h::registration_proof(&sk, @0x3001, 1, IDENTITY_POINT));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::registry)]
    fun register_key_wrong_length(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, _pk) = h::new_key();
        registry::register_node(op, 1, x"0102030405", h::registration_proof(&sk, @0x3001, 1, x"0102030405"));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::registry)]
    fun register_proof_for_other_role(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 2, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::registry)]
    fun register_proof_for_other_operator(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3002, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::registry)]
    fun register_proof_by_other_key(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (_sk, pk) = h::new_key();
        let (other, _other_pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&other, @0x3001, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::registry)]
    fun register_proof_wrong_length(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (_sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, x"00");
    }

    // ---------------------------------------------------------------- register_node_cosigned

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun register_cosigned_registers_the_signing_account(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (_sk, pk) = h::new_key();
        let node_addr = h::account_of_key(pk);
        let node = account::create_account_for_test(node_addr);
        registry::register_node_cosigned(op, &node, 2, pk);
        let (operator, role, public_key, node_account, active, strikes) = registry::node(1);
        assert!(operator == @0x3001, 1);
        assert!(role == 2, 2);
        assert!(public_key == pk, 3);
        assert!(node_account == node_addr, 4);
        assert!(active && strikes == 0, 5);
        assert!(registry::node_of_account(node_addr) == 1, 6);
        assert!(registry::registered_at_for_test(1) == h::now(), 7);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::registry)]
    fun register_cosigned_by_an_account_with_another_key(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (_sk, pk) = h::new_key();
        let other = account::create_account_for_test(@0x5005);
        registry::register_node_cosigned(op, &other, 1, pk);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::registry)]
    fun register_cosigned_account_already_registered(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        let node = account::create_account_for_test(h::account_of_key(pk));
        registry::register_node_cosigned(op, &node, 1, pk);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 1, location = pictor::registry)]
    fun register_cosigned_bad_role(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (_sk, pk) = h::new_key();
        let node = account::create_account_for_test(h::account_of_key(pk));
        registry::register_node_cosigned(op, &node, 3, pk);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::registry)]
    fun register_cosigned_invalid_key(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let node = account::create_account_for_test(@0x5006);
        registry::register_node_cosigned(op, &node, 1, IDENTITY_POINT);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun register_cosigned_paused(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        config::set_paused(pictor, true);
        let (_sk, pk) = h::new_key();
        let node = account::create_account_for_test(h::account_of_key(pk));
        registry::register_node_cosigned(op, &node, 1, pk);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::registry)]
    fun register_same_key_twice(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001, op2 = @0x3002)]
    #[expected_failure(abort_code = 4, location = pictor::registry)]
    fun register_key_of_other_operator(fx: &signer, pictor: &signer, op: &signer, op2: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        registry::register_node(op2, 2, pk, h::registration_proof(&sk, @0x3002, 2, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::registry)]
    fun register_key_of_deregistered_node(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        registry::deregister_node(op, 1);
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
    }

    // ---------------------------------------------------------------- rotate_node_key

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun rotate_moves_node_to_new_account(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 2);
        let (_, _, old_pk, old_account, _, _) = registry::node(node_id);
        let (sk, pk) = h::new_key();
        // the proof is over the node's role (checker)
        registry::rotate_node_key(op, node_id, pk, h::registration_proof(&sk, @0x3001, 2, pk));
        let new_account = h::account_of_key(pk);
        let (operator, role, public_key, account, active, strikes) = registry::node(node_id);
        assert!(operator == @0x3001 && role == 2, 1);
        assert!(public_key == pk && public_key != old_pk, 2);
        assert!(account == new_account, 3);
        assert!(active && strikes == 0, 4);
        assert!(registry::node_of_account(new_account) == node_id, 5);
        // the retired account no longer maps to the node
        assert!(registry::node_of_account(old_account) == 0, 6);
        assert!(registry::node_count() == 1, 7);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 5, location = pictor::registry)]
    fun rotate_unknown_node(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(op, 7, pk, h::registration_proof(&sk, @0x3001, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001, op2 = @0x3002)]
    #[expected_failure(abort_code = 6, location = pictor::registry)]
    fun rotate_not_operator(fx: &signer, pictor: &signer, op: &signer, op2: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(op2, node_id, pk, h::registration_proof(&sk, @0x3002, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 7, location = pictor::registry)]
    fun rotate_deregistered_node(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        registry::deregister_node(op, node_id);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(op, node_id, pk, h::registration_proof(&sk, @0x3001, 1, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::registry)]
    fun rotate_to_invalid_key(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        let (sk, _pk) = h::new_key();
        registry::rotate_node_key(op, node_id, IDENTITY_POINT, h::registration_proof(&sk, @0x3001, 1, IDENTITY_POINT));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::registry)]
    fun rotate_proof_with_wrong_role(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(op, node_id, pk, h::registration_proof(&sk, @0x3001, 2, pk));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::registry)]
    fun rotate_back_to_retired_key(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (sk1, pk1) = h::new_key();
        registry::register_node(op, 1, pk1, h::registration_proof(&sk1, @0x3001, 1, pk1));
        let (sk2, pk2) = h::new_key();
        registry::rotate_node_key(op, 1, pk2, h::registration_proof(&sk2, @0x3001, 1, pk2));
        registry::rotate_node_key(op, 1, pk1, h::registration_proof(&sk1, @0x3001, 1, pk1));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::registry)]
    fun rotate_to_key_of_other_node(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        let (sk, pk) = h::new_key();
        registry::register_node(op, 1, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        registry::rotate_node_key(op, node_id, pk, h::registration_proof(&sk, @0x3001, 1, pk));
    }

    // ---------------------------------------------------------------- deregister_node

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun deregister_marks_inactive(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        let (_, _, _, account, _, _) = registry::node(node_id);
        registry::deregister_node(op, node_id);
        let (operator, _, _, _, active, _) = registry::node(node_id);
        assert!(operator == @0x3001, 1);
        assert!(!active, 2);
        // still the node of its current account, active or not
        assert!(registry::node_of_account(account) == node_id, 3);
        assert!(registry::node_count() == 1, 4);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun deregister_allowed_while_paused(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        config::set_paused(pictor, true);
        registry::deregister_node(op, node_id);
        let (_, _, _, _, active, _) = registry::node(node_id);
        assert!(!active, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 5, location = pictor::registry)]
    fun deregister_unknown_node(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        registry::deregister_node(op, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001, op2 = @0x3002)]
    #[expected_failure(abort_code = 6, location = pictor::registry)]
    fun deregister_not_operator(fx: &signer, pictor: &signer, op: &signer, op2: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        registry::deregister_node(op2, node_id);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 7, location = pictor::registry)]
    fun deregister_twice(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        let (node_id, _node) = h::register(op, 1);
        registry::deregister_node(op, node_id);
        registry::deregister_node(op, node_id);
    }

    // ---------------------------------------------------------------- views

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 5, location = pictor::registry)]
    fun node_view_unknown(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (_, _, _, _, _, _) = registry::node(1);
    }
}
