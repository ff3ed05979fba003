#[test_only]
module pictor::vault_tests {
    use pictor::config;
    use pictor::escrow;
    use pictor::test_helpers as h;
    use pictor::token;
    use pictor::vault;

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun claim_message_and_store_match_the_module(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        assert!(
            h::credit_claim_message(@0xa11ce, 500, 3, 1_800_000_000)
                == vault::credit_claim_message_for_test(@0xa11ce, 500, 3, 1_800_000_000),
            1
        );
        // prefix, 32-byte user, three u64
        assert!(std::vector::length(&h::credit_claim_message(@0xa11ce, 1, 2, 3)) == 19 + 32 + 24, 2);
        assert!(vault::store_address_for_test() == h::vault_store(), 3);
        assert!(vault::store_balance() == 0, 4);
    }

    // ---------------------------------------------------------------- deposit

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun deposit_moves_wallet_funds_to_balance(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, 1000);
        vault::deposit(alice, 600);
        vault::deposit(alice, 100);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 700, 1);
        assert!(token::balance(@0xa11ce) == 300, 2);
        assert!(vault::store_balance() == 700, 3);
        let (total_credit, total_balance) = vault::totals();
        assert!(total_credit == 0 && total_balance == 700, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun account_of_unknown_user_is_zero(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (credit, balance) = vault::account(@0xda5e);
        assert!(credit == 0 && balance == 0, 1);
        assert!(vault::next_claim_nonce(@0xda5e) == 0, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun deposit_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, 1000);
        config::set_paused(pictor, true);
        vault::deposit(alice, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::vault)]
    fun deposit_zero(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, 1000);
        vault::deposit(alice, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 0x10004, location = aptos_framework::fungible_asset)]
    fun deposit_more_than_wallet(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, 1000);
        vault::deposit(alice, 1001);
    }

    // ---------------------------------------------------------------- withdraw

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun withdraw_returns_balance_to_wallet(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 1000);
        vault::withdraw(alice, 400);
        assert!(h::vault_balance(@0xa11ce) == 600, 1);
        assert!(token::balance(@0xa11ce) == 400, 2);
        vault::withdraw(alice, 600);
        assert!(h::vault_balance(@0xa11ce) == 0, 3);
        assert!(token::balance(@0xa11ce) == 1000, 4);
        assert!(vault::store_balance() == 0, 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun withdraw_allowed_while_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 1000);
        config::set_paused(pictor, true);
        vault::withdraw(alice, 1000);
        assert!(token::balance(@0xa11ce) == 1000, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::vault)]
    fun withdraw_zero(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 1000);
        vault::withdraw(alice, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::vault)]
    fun withdraw_more_than_balance(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 1000);
        vault::withdraw(alice, 1001);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::vault)]
    fun credit_is_not_withdrawable(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 500, 0, h::now() + 100);
        h::fund(pictor, alice, 10);
        vault::withdraw(alice, 11);
    }

    // ---------------------------------------------------------------- claim_credit

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun claim_credit_mints_into_vault_credit(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        let expires = h::now() + 3600;
        h::claim_credit(&sk, alice, 500, 0, expires);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 500 && balance == 0, 1);
        assert!(vault::next_claim_nonce(@0xa11ce) == 1, 2);
        assert!(token::supply() == 500, 3);
        assert!(token::balance(@0xa11ce) == 0, 4);
        assert!(vault::store_balance() == 500, 5);
        // second claim with the next nonce; expiry exactly now is still valid
        h::claim_credit(&sk, alice, 250, 1, h::now());
        let (credit, _) = vault::account(@0xa11ce);
        assert!(credit == 750, 6);
        assert!(vault::next_claim_nonce(@0xa11ce) == 2, 7);
        let (total_credit, total_balance) = vault::totals();
        assert!(total_credit == 750 && total_balance == 0, 8);
        // nonces are per user
        h::claim_credit(&sk, &h::acct(@0xb0b), 1, 0, h::now());
        assert!(vault::next_claim_nonce(@0xb0b) == 1, 9);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun claim_credit_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        config::set_paused(pictor, true);
        h::claim_credit(&sk, alice, 500, 0, h::now() + 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::vault)]
    fun claim_credit_zero(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 0, 0, h::now() + 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 6, location = pictor::vault)]
    fun claim_credit_without_signer_configured(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (sk, _pk) = h::new_key();
        h::claim_credit(&sk, alice, 500, 0, h::now() + 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::vault)]
    fun claim_credit_expired(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 500, 0, h::now() - 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::vault)]
    fun claim_credit_nonce_not_next(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 500, 1, h::now() + 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::vault)]
    fun claim_credit_replay(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 500, 0, h::now() + 100);
        h::claim_credit(&sk, alice, 500, 0, h::now() + 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::vault)]
    fun claim_credit_signed_by_other_key(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let _sk = h::install_credit_signer(pictor);
        let (other, _pk) = h::new_key();
        h::claim_credit(&other, alice, 500, 0, h::now() + 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::vault)]
    fun claim_credit_amount_not_signed(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        let expires = h::now() + 100;
        let sig = h::sign(&sk, h::credit_claim_message(@0xa11ce, 500, 0, expires));
        vault::claim_credit(alice, 5000, 0, expires, sig);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::vault)]
    fun claim_credit_expiry_not_signed(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        let expires = h::now() + 100;
        let sig = h::sign(&sk, h::credit_claim_message(@0xa11ce, 500, 0, expires));
        vault::claim_credit(alice, 500, 0, expires + 1, sig);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 5, location = pictor::vault)]
    fun claim_credit_signature_of_other_user(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        let expires = h::now() + 100;
        let sig = h::sign(&sk, h::credit_claim_message(@0xa11ce, 500, 0, expires));
        vault::claim_credit(bob, 500, 0, expires, sig);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::vault)]
    fun claim_credit_signature_wrong_length(fx: &signer, pictor: &signer, alice: &signer) {
        // a signature that is not 64 bytes fails the same check, not a framework abort
        h::setup(fx, pictor);
        let _sk = h::install_credit_signer(pictor);
        vault::claim_credit(alice, 500, 0, h::now() + 100, x"0102");
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::token)]
    fun claim_credit_above_max_supply(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        token::mint(pictor, @0xb0b, h::max_supply() - 10);
        h::claim_credit(&sk, alice, 11, 0, h::now() + 100);
    }

    // ---------------------------------------------------------------- lock (via escrow): credit first

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun jobs_spend_credit_before_balance(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 300, 0, h::now() + 100);
        h::fund(pictor, alice, 1000);
        let job1 = h::open_job(alice, 200, 10);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 100 && balance == 1000, 1);
        let job2 = h::open_job(alice, 500, 10);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 600, 2);
        let (_, budget1, credit_in1, _, _, _, _) = escrow::job(job1);
        assert!(budget1 == 200 && credit_in1 == 200, 3);
        let (_, budget2, credit_in2, _, _, _, _) = escrow::job(job2);
        assert!(budget2 == 500 && credit_in2 == 100, 4);
        let (total_credit, total_balance) = vault::totals();
        assert!(total_credit == 0 && total_balance == 600, 5);
        assert!(vault::store_balance() == 600, 6);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::vault)]
    fun lock_more_than_credit_plus_balance(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 300, 0, h::now() + 100);
        h::fund(pictor, alice, 1000);
        h::open_job(alice, 1301, 10);
    }
}
