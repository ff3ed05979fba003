/// Protocol configuration of the Pictor network: roles (admin, coordinator, treasury), the fee
/// split between worker, checkers and treasury, protocol parameters, the credit-claim signer and
/// the pause switch. Every other `pictor` module reads its settings from here.
module pictor::config {
    use std::option;
    use std::signer;
    use std::vector;
    use aptos_std::ed25519;
    use aptos_framework::event;

    /// The signer is not the admin.
    const E_NOT_ADMIN: u64 = 1;
    /// Worker and checker shares exceed 100%.
    const E_INVALID_FEE_SPLIT: u64 = 2;
    /// A parameter is out of range.
    const E_INVALID_PARAMETER: u64 = 3;
    /// The protocol is paused.
    const E_PAUSED: u64 = 4;
    /// The public key is not a valid Ed25519 public key.
    const E_INVALID_PUBLIC_KEY: u64 = 5;

    const BPS_DENOMINATOR: u64 = 10000;
    const MAX_QUORUM: u64 = 10;
    const MAX_UNBONDING_SECS: u64 = 31536000;
    const MAX_REVIEW_WINDOW_SECS: u64 = 2592000;
    const PUBLIC_KEY_LENGTH: u64 = 32;

    /// Protocol settings, stored at `@pictor`.
    struct Config has key {
        admin: address,
        coordinator: address,
        treasury: address,
        credit_signer: vector<u8>,
        worker_share_bps: u64,
        checker_share_bps: u64,
        quorum: u64,
        min_worker_stake: u64,
        min_checker_stake: u64,
        unbonding_secs: u64,
        review_window_secs: u64,
        slash_bps: u64,
        max_strikes: u64,
        faucet_max: u64,
        paused: bool,
    }

    #[event]
    struct RolesUpdated has drop, store {
        admin: address,
        coordinator: address,
        treasury: address,
    }

    #[event]
    struct FeeSplitUpdated has drop, store {
        worker_bps: u64,
        checker_bps: u64,
    }

    #[event]
    struct ParamsUpdated has drop, store {
        quorum: u64,
        min_worker_stake: u64,
        min_checker_stake: u64,
        unbonding_secs: u64,
        review_window_secs: u64,
        slash_bps: u64,
        max_strikes: u64,
        faucet_max: u64,
    }

    #[event]
    struct CreditSignerUpdated has drop, store {
        public_key: vector<u8>,
    }

    #[event]
    struct PausedUpdated has drop, store {
        paused: bool,
    }

    fun init_module(pictor: &signer) {
        let config = Config {
            admin: @pictor,
            coordinator: @pictor,
            treasury: @pictor,
            credit_signer: vector::empty<u8>(),
            worker_share_bps: 6000,
            checker_share_bps: 1000,
            quorum: 1,
            min_worker_stake: 10000000000,
            min_checker_stake: 10000000000,
            unbonding_secs: 604800,
            review_window_secs: 86400,
            slash_bps: 1000,
            max_strikes: 3,
            faucet_max: 100000000000,
            paused: false,
        };
        event::emit(RolesUpdated {
            admin: config.admin,
            coordinator: config.coordinator,
            treasury: config.treasury,
        });
        event::emit(FeeSplitUpdated {
            worker_bps: config.worker_share_bps,
            checker_bps: config.checker_share_bps,
        });
        event::emit(ParamsUpdated {
            quorum: config.quorum,
            min_worker_stake: config.min_worker_stake,
            min_checker_stake: config.min_checker_stake,
            unbonding_secs: config.unbonding_secs,
            review_window_secs: config.review_window_secs,
            slash_bps: config.slash_bps,
            max_strikes: config.max_strikes,
            faucet_max: config.faucet_max,
        });
        move_to(pictor, config);
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions (admin only)
    // ---------------------------------------------------------------------------------------

    /// Replace the admin, coordinator and treasury addresses.
    public entry fun set_roles(
        admin: &signer,
        new_admin: address,
        coordinator: address,
        treasury: address,
    ) acquires Config {
        let config = borrow_global_mut<Config>(@pictor);
        assert!(signer::address_of(admin) == config.admin, E_NOT_ADMIN);
        config.admin = new_admin;
        config.coordinator = coordinator;
        config.treasury = treasury;
        event::emit(RolesUpdated { admin: new_admin, coordinator, treasury });
    }

    /// Set the worker and checker shares of every settled charge, in basis points.
    public entry fun set_fee_split(admin: &signer, worker_bps: u64, checker_bps: u64) acquires Config {
        let config = borrow_global_mut<Config>(@pictor);
        assert!(signer::address_of(admin) == config.admin, E_NOT_ADMIN);
        assert!(
            worker_bps <= BPS_DENOMINATOR && checker_bps <= BPS_DENOMINATOR - worker_bps,
            E_INVALID_FEE_SPLIT
        );
        config.worker_share_bps = worker_bps;
        config.checker_share_bps = checker_bps;
        event::emit(FeeSplitUpdated { worker_bps, checker_bps });
    }

    /// Set the protocol parameters.
    public entry fun set_params(
        admin: &signer,
        quorum: u64,
        min_worker_stake: u64,
        min_checker_stake: u64,
        unbonding_secs: u64,
        review_window_secs: u64,
        slash_bps: u64,
        max_strikes: u64,
        faucet_max: u64,
    ) acquires Config {
        let config = borrow_global_mut<Config>(@pictor);
        assert!(signer::address_of(admin) == config.admin, E_NOT_ADMIN);
        assert!(
            quorum >= 1
                && quorum <= MAX_QUORUM
                && unbonding_secs <= MAX_UNBONDING_SECS
                && review_window_secs <= MAX_REVIEW_WINDOW_SECS
                && slash_bps <= BPS_DENOMINATOR
                && max_strikes >= 1,
            E_INVALID_PARAMETER
        );
        config.quorum = quorum;
        config.min_worker_stake = min_worker_stake;
        config.min_checker_stake = min_checker_stake;
        config.unbonding_secs = unbonding_secs;
        config.review_window_secs = review_window_secs;
        config.slash_bps = slash_bps;
        config.max_strikes = max_strikes;
        config.faucet_max = faucet_max;
        event::emit(ParamsUpdated {
            quorum,
            min_worker_stake,
            min_checker_stake,
            unbonding_secs,
            review_window_secs,
            slash_bps,
            max_strikes,
            faucet_max,
        });
    }

    /// Set the Ed25519 public key whose signatures authorize `vault::claim_credit`.
    public entry fun set_credit_signer(admin: &signer, public_key: vector<u8>) acquires Config {
        let config = borrow_global_mut<Config>(@pictor);
        assert!(signer::address_of(admin) == config.admin, E_NOT_ADMIN);
        assert!(is_valid_public_key(public_key), E_INVALID_PUBLIC_KEY);
        config.credit_signer = public_key;
        event::emit(CreditSignerUpdated { public_key });
    }

    /// Pause or unpause the protocol (deposits, claims, registrations, stakes, new jobs and assignments).
    public entry fun set_paused(admin: &signer, paused: bool) acquires Config {
        let config = borrow_global_mut<Config>(@pictor);
        assert!(signer::address_of(admin) == config.admin, E_NOT_ADMIN);
        config.paused = paused;
        event::emit(PausedUpdated { paused });
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    /// (admin, coordinator, treasury)
    public fun roles(): (address, address, address) acquires Config {
        let config = borrow_global<Config>(@pictor);
        (config.admin, config.coordinator, config.treasury)
    }

    #[view]
    /// (worker_bps, checker_bps)
    public fun fee_split(): (u64, u64) acquires Config {
        let config = borrow_global<Config>(@pictor);
        (config.worker_share_bps, config.checker_share_bps)
    }

    #[view]
    /// (quorum, min_worker_stake, min_checker_stake, unbonding_secs, review_window_secs, slash_bps,
    /// max_strikes, faucet_max)
    public fun params(): (u64, u64, u64, u64, u64, u64, u64, u64) acquires Config {
        let config = borrow_global<Config>(@pictor);
        (
            config.quorum,
            config.min_worker_stake,
            config.min_checker_stake,
            config.unbonding_secs,
            config.review_window_secs,
            config.slash_bps,
            config.max_strikes,
            config.faucet_max,
        )
    }

    #[view]
    public fun is_paused(): bool acquires Config {
        borrow_global<Config>(@pictor).paused
    }

    #[view]
    /// The credit-claim signer's public key; empty when claims are disabled.
    public fun credit_signer(): vector<u8> acquires Config {
        borrow_global<Config>(@pictor).credit_signer
    }

    // ---------------------------------------------------------------------------------------
    // Read helpers for the other pictor modules
    // ---------------------------------------------------------------------------------------

    /// Aborts with `E_PAUSED` while the protocol is paused.
    public fun assert_not_paused() acquires Config {
        assert!(!borrow_global<Config>(@pictor).paused, E_PAUSED);
    }

    public fun admin(): address acquires Config {
        borrow_global<Config>(@pictor).admin
    }

    public fun coordinator(): address acquires Config {
        borrow_global<Config>(@pictor).coordinator
    }

    public fun treasury(): address acquires Config {
        borrow_global<Config>(@pictor).treasury
    }

    public fun quorum(): u64 acquires Config {
        borrow_global<Config>(@pictor).quorum
    }

    public fun min_worker_stake(): u64 acquires Config {
        borrow_global<Config>(@pictor).min_worker_stake
    }

    public fun min_checker_stake(): u64 acquires Config {
        borrow_global<Config>(@pictor).min_checker_stake
    }

    public fun unbonding_secs(): u64 acquires Config {
        borrow_global<Config>(@pictor).unbonding_secs
    }

    public fun review_window_secs(): u64 acquires Config {
        borrow_global<Config>(@pictor).review_window_secs
    }

    public fun slash_bps(): u64 acquires Config {
        borrow_global<Config>(@pictor).slash_bps
    }

    public fun max_strikes(): u64 acquires Config {
        borrow_global<Config>(@pictor).max_strikes
    }

    public fun faucet_max(): u64 acquires Config {
        borrow_global<Config>(@pictor).faucet_max
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    fun is_valid_public_key(public_key: vector<u8>): bool {
        if (vector::length(&public_key) != PUBLIC_KEY_LENGTH) {
            return false
        };
        option::is_some(&ed25519::new_validated_public_key_from_bytes(public_key))
    }
}
