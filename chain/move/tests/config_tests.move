#[test_only]
module pictor::config_tests {
    use pictor::config;
    use pictor::test_helpers as h;

    // ---------------------------------------------------------------- init

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun init_sets_documented_defaults(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        let (admin, coordinator, treasury) = config::roles();
        assert!(admin == @pictor, 1);
        assert!(coordinator == @pictor, 2);
        assert!(treasury == @pictor, 3);
        let (worker_bps, checker_bps) = config::fee_split();
        assert!(worker_bps == 6000, 4);
        assert!(checker_bps == 1000, 5);
        let (quorum, min_worker, min_checker, unbonding, review, slash_bps, max_strikes, faucet_max) =
            config::params();
        assert!(quorum == 1, 6);
        assert!(min_worker == 100_00000000, 7);
        assert!(min_checker == 100_00000000, 8);
        assert!(unbonding == 604800, 9);
        assert!(review == 86400, 10);
        assert!(slash_bps == 1000, 11);
        assert!(max_strikes == 3, 12);
        assert!(faucet_max == 1000_00000000, 13);
        assert!(!config::is_paused(), 14);
        assert!(config::credit_signer() == vector[], 15);
    }

    // ---------------------------------------------------------------- set_roles

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun set_roles_updates_and_hands_over_admin(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_roles(pictor, @0xa11ce, @0xc00d, @0x7ea5);
        let (admin, coordinator, treasury) = config::roles();
        assert!(admin == @0xa11ce, 1);
        assert!(coordinator == @0xc00d, 2);
        assert!(treasury == @0x7ea5, 3);
        // the new admin can act
        config::set_fee_split(&h::acct(@0xa11ce), 5000, 2000);
        let (worker_bps, checker_bps) = config::fee_split();
        assert!(worker_bps == 5000 && checker_bps == 2000, 4);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::config)]
    fun set_roles_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_roles(bob, @0xb0b, @0xb0b, @0xb0b);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::config)]
    fun old_admin_loses_rights_after_handover(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_roles(pictor, @0xa11ce, @pictor, @pictor);
        config::set_paused(pictor, true);
    }

    // ---------------------------------------------------------------- set_fee_split

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun set_fee_split_accepts_bounds(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_fee_split(pictor, 7000, 3000);
        let (w, c) = config::fee_split();
        assert!(w == 7000 && c == 3000, 1);
        config::set_fee_split(pictor, 10000, 0);
        let (w, c) = config::fee_split();
        assert!(w == 10000 && c == 0, 2);
        config::set_fee_split(pictor, 0, 10000);
        let (w, c) = config::fee_split();
        assert!(w == 0 && c == 10000, 3);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::config)]
    fun set_fee_split_sum_above_100_percent(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_fee_split(pictor, 6000, 4001);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::config)]
    fun set_fee_split_worker_above_100_percent(fx: &signer, pictor: &signer) {
        // must abort with E_INVALID_FEE_SPLIT, not with an arithmetic underflow of 10000 - worker_bps
        h::setup_defaults(fx, pictor);
        config::set_fee_split(pictor, 10001, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::config)]
    fun set_fee_split_not_admin_checked_first(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_fee_split(bob, 10001, 10001);
    }

    // ---------------------------------------------------------------- set_params

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun set_params_accepts_bounds(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 10, 0, 7, 31536000, 2592000, 10000, 1, 0);
        let (quorum, min_worker, min_checker, unbonding, review, slash_bps, max_strikes, faucet_max) =
            config::params();
        assert!(quorum == 10, 1);
        assert!(min_worker == 0, 2);
        assert!(min_checker == 7, 3);
        assert!(unbonding == 31536000, 4);
        assert!(review == 2592000, 5);
        assert!(slash_bps == 10000, 6);
        assert!(max_strikes == 1, 7);
        assert!(faucet_max == 0, 8);
        config::set_params(pictor, 1, 5, 5, 0, 0, 0, 99, 5);
        let (quorum, _, _, unbonding, review, slash_bps, max_strikes, faucet_max) = config::params();
        assert!(quorum == 1 && unbonding == 0 && review == 0 && slash_bps == 0, 9);
        assert!(max_strikes == 99 && faucet_max == 5, 10);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::config)]
    fun set_params_quorum_zero(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 0, 1, 1, 1, 1, 1, 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::config)]
    fun set_params_quorum_above_ten(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 11, 1, 1, 1, 1, 1, 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::config)]
    fun set_params_unbonding_above_a_year(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 1, 1, 1, 31536001, 1, 1, 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::config)]
    fun set_params_review_window_above_30_days(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 1, 1, 1, 1, 2592001, 1, 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::config)]
    fun set_params_slash_above_100_percent(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 1, 1, 1, 1, 1, 10001, 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::config)]
    fun set_params_max_strikes_zero(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(pictor, 1, 1, 1, 1, 1, 1, 0, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::config)]
    fun set_params_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_params(bob, 1, 1, 1, 1, 1, 1, 1, 1);
    }

    // ---------------------------------------------------------------- set_credit_signer

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun set_credit_signer_stores_key(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        let (_sk, pk) = h::new_key();
        config::set_credit_signer(pictor, pk);
        assert!(config::credit_signer() == pk, 1);
        let (_sk2, pk2) = h::new_key();
        config::set_credit_signer(pictor, pk2);
        assert!(config::credit_signer() == pk2, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 5, location = pictor::config)]
    fun set_credit_signer_small_order_point(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        // the identity point: 32 bytes, on the curve, small order -> not a valid key
        config::set_credit_signer(pictor, x"0100000000000000000000000000000000000000000000000000000000000000");
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 5, location = pictor::config)]
    fun set_credit_signer_wrong_length(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_credit_signer(pictor, x"deadbeef");
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::config)]
    fun set_credit_signer_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup_defaults(fx, pictor);
        let (_sk, pk) = h::new_key();
        config::set_credit_signer(bob, pk);
    }

    // ---------------------------------------------------------------- set_paused / assert_not_paused

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun set_paused_toggles(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::assert_not_paused();
        config::set_paused(pictor, true);
        assert!(config::is_paused(), 1);
        config::set_paused(pictor, false);
        assert!(!config::is_paused(), 2);
        config::assert_not_paused();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun assert_not_paused_aborts_when_paused(fx: &signer, pictor: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_paused(pictor, true);
        config::assert_not_paused();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::config)]
    fun set_paused_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup_defaults(fx, pictor);
        config::set_paused(bob, true);
    }
}
