#[test_only]
module pictor::token_tests {
    use std::string;
    use aptos_framework::fungible_asset;
    use aptos_framework::object;
    use pictor::config;
    use pictor::test_helpers as h;
    use pictor::token;

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun init_creates_pictor_metadata(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let metadata = token::metadata();
        assert!(object::object_address(&metadata) == object::create_object_address(&@pictor, b"PICTOR"), 1);
        assert!(fungible_asset::name(metadata) == string::utf8(b"Pictor"), 2);
        assert!(fungible_asset::symbol(metadata) == string::utf8(b"PICTOR"), 3);
        assert!(fungible_asset::decimals(metadata) == 8, 4);
        assert!(token::supply() == 0, 5);
        assert!(token::max_supply() == 100_000_000_000_000_000, 6);
        assert!(token::balance(@0xa11ce) == 0, 7);
    }

    // ---------------------------------------------------------------- mint

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun mint_credits_wallet_and_supply(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, 5 * h::one());
        token::mint(pictor, @0xb0b, 7);
        assert!(token::balance(@0xa11ce) == 5 * h::one(), 1);
        assert!(token::balance(@0xb0b) == 7, 2);
        assert!(token::supply() == 5 * h::one() + 7, 3);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun mint_up_to_max_supply(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, h::max_supply() - 1);
        token::mint(pictor, @0xb0b, 1);
        assert!(token::supply() == h::max_supply(), 1);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun mint_follows_config_admin(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        config::set_roles(pictor, @0xa11ce, @0xc00d, @0x7ea5);
        token::mint(&h::acct(@0xa11ce), @0xb0b, 10);
        assert!(token::balance(@0xb0b) == 10, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 1, location = pictor::token)]
    fun mint_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        token::mint(bob, @0xb0b, 10);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::token)]
    fun mint_zero(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xb0b, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::token)]
    fun mint_above_max_supply(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, h::max_supply());
        token::mint(pictor, @0xa11ce, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::token)]
    fun mint_single_call_above_max_supply(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xa11ce, h::max_supply() + 1);
    }

    // ---------------------------------------------------------------- faucet

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun faucet_mints_up_to_limit(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::faucet(alice, h::faucet_max());
        token::faucet(alice, 1);
        assert!(token::balance(@0xa11ce) == h::faucet_max() + 1, 1);
        assert!(token::supply() == h::faucet_max() + 1, 2);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun faucet_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        config::set_paused(pictor, true);
        token::faucet(alice, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::token)]
    fun faucet_zero(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::faucet(alice, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::token)]
    fun faucet_above_limit(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::faucet(alice, h::faucet_max() + 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::token)]
    fun faucet_disabled_by_zero_limit(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        config::set_params(pictor, 1, h::min_stake(), h::min_stake(), 604800, 86400, 1000, 3, 0);
        token::faucet(alice, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::token)]
    fun faucet_above_max_supply(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0xb0b, h::max_supply() - 1);
        token::faucet(alice, 2);
    }
}
