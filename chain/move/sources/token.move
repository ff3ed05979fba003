/// The PICTOR fungible asset (8 decimals, capped supply) and the plumbing that moves it.
///
/// Wallets hold PICTOR in primary fungible stores. The protocol's own stores (vault, staking,
/// rewards, one per job in escrow) are objects created here, frozen, and with ungated object
/// transfer disabled: only this module's `TransferRef`, used through the `public(friend)`
/// functions below, can move tokens in or out of them.
module pictor::token {
    use std::option;
    use std::signer;
    use std::string;
    use aptos_framework::event;
    use aptos_framework::fungible_asset::{Self, BurnRef, FungibleStore, Metadata, MintRef, TransferRef};
    use aptos_framework::object::{Self, ConstructorRef, Object};
    use aptos_framework::primary_fungible_store;
    use pictor::config;

    friend pictor::vault;
    friend pictor::staking;
    friend pictor::escrow;
    friend pictor::rewards;

    /// The signer is not the admin.
    const E_NOT_ADMIN: u64 = 1;
    /// Amount must be greater than zero.
    const E_ZERO_AMOUNT: u64 = 2;
    /// Minting would exceed the maximum supply.
    const E_MAX_SUPPLY: u64 = 3;
    /// Faucet amount is above the per-call limit.
    const E_FAUCET_LIMIT: u64 = 4;

    /// 1e9 PICTOR in base units (8 decimals); every sum of balances therefore fits in u64.
    const MAX_SUPPLY: u64 = 100000000000000000;
    const DECIMALS: u8 = 8;
    const METADATA_SEED: vector<u8> = b"PICTOR";
    const VAULT_STORE_SEED: vector<u8> = b"pictor::vault";
    const STAKING_STORE_SEED: vector<u8> = b"pictor::staking";
    const REWARDS_STORE_SEED: vector<u8> = b"pictor::rewards";

    /// The fungible asset's refs, stored at `@pictor`.
    struct TokenRefs has key {
        metadata: Object<Metadata>,
        mint_ref: MintRef,
        burn_ref: BurnRef,
        transfer_ref: TransferRef,
    }

    #[event]
    struct Minted has drop, store {
        to: address,
        amount: u64,
        supply: u64,
    }

    /// Creates the PICTOR metadata object (named object `b"PICTOR"` of `@pictor`) and the frozen
    /// module stores of vault, staking and rewards (named objects `b"pictor::vault"`,
    /// `b"pictor::staking"`, `b"pictor::rewards"` of `@pictor`). Depends on no other module's state,
    /// so the order in which the package's `init_module`s run does not matter.
    fun init_module(pictor: &signer) {
        let constructor_ref = object::create_named_object(pictor, METADATA_SEED);
        primary_fungible_store::create_primary_store_enabled_fungible_asset(
            &constructor_ref,
            option::some((MAX_SUPPLY as u128)),
            string::utf8(b"Pictor"),
            string::utf8(b"PICTOR"),
            DECIMALS,
            string::utf8(b""),
            string::utf8(b"https://pictor.network"),
        );
        let refs = TokenRefs {
            metadata: object::object_from_constructor_ref<Metadata>(&constructor_ref),
            mint_ref: fungible_asset::generate_mint_ref(&constructor_ref),
            burn_ref: fungible_asset::generate_burn_ref(&constructor_ref),
            transfer_ref: fungible_asset::generate_transfer_ref(&constructor_ref),
        };
        create_frozen_store(&refs, &object::create_named_object(pictor, VAULT_STORE_SEED));
        create_frozen_store(&refs, &object::create_named_object(pictor, STAKING_STORE_SEED));
        create_frozen_store(&refs, &object::create_named_object(pictor, REWARDS_STORE_SEED));
        move_to(pictor, refs);
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Admin mint into `to`'s primary store.
    public entry fun mint(admin: &signer, to: address, amount: u64) acquires TokenRefs {
        assert!(signer::address_of(admin) == config::admin(), E_NOT_ADMIN);
        assert!(amount > 0, E_ZERO_AMOUNT);
        let refs = borrow_global<TokenRefs>(@pictor);
        assert_can_mint(refs.metadata, amount);
        primary_fungible_store::mint(&refs.mint_ref, to, amount);
        event::emit(Minted { to, amount, supply: current_supply(refs.metadata) });
    }

    /// Testnet faucet: mint up to `config::faucet_max` into the caller's primary store.
    public entry fun faucet(user: &signer, amount: u64) acquires TokenRefs {
        config::assert_not_paused();
        assert!(amount > 0, E_ZERO_AMOUNT);
        assert!(amount <= config::faucet_max(), E_FAUCET_LIMIT);
        let refs = borrow_global<TokenRefs>(@pictor);
        assert_can_mint(refs.metadata, amount);
        let to = signer::address_of(user);
        primary_fungible_store::mint(&refs.mint_ref, to, amount);
        event::emit(Minted { to, amount, supply: current_supply(refs.metadata) });
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    public fun metadata(): Object<Metadata> acquires TokenRefs {
        borrow_global<TokenRefs>(@pictor).metadata
    }

    #[view]
    /// PICTOR balance of `owner`'s primary store.
    public fun balance(owner: address): u64 acquires TokenRefs {
        primary_fungible_store::balance(owner, borrow_global<TokenRefs>(@pictor).metadata)
    }

    #[view]
    public fun supply(): u64 acquires TokenRefs {
        current_supply(borrow_global<TokenRefs>(@pictor).metadata)
    }

    #[view]
    public fun max_supply(): u64 {
        MAX_SUPPLY
    }

    // ---------------------------------------------------------------------------------------
    // Store addresses and balances (public, read only)
    // ---------------------------------------------------------------------------------------

    /// Address of the vault's store: `object::create_object_address(@pictor, b"pictor::vault")`.
    public fun vault_store(): address {
        object::create_object_address(&@pictor, VAULT_STORE_SEED)
    }

    /// Address of the staking store: `object::create_object_address(@pictor, b"pictor::staking")`.
    public fun staking_store(): address {
        object::create_object_address(&@pictor, STAKING_STORE_SEED)
    }

    /// Address of the rewards pool store: `object::create_object_address(@pictor, b"pictor::rewards")`.
    public fun rewards_store(): address {
        object::create_object_address(&@pictor, REWARDS_STORE_SEED)
    }

    /// PICTOR balance of the fungible store at `store`.
    public fun store_balance(store: address): u64 {
        fungible_asset::balance(object::address_to_object<FungibleStore>(store))
    }

    // ---------------------------------------------------------------------------------------
    // Friend operations (no events of their own besides the framework's)
    // ---------------------------------------------------------------------------------------

    /// Turn a freshly created object into a frozen PICTOR store; returns its address.
    public(friend) fun create_store(constructor_ref: &ConstructorRef): address acquires TokenRefs {
        create_frozen_store(borrow_global<TokenRefs>(@pictor), constructor_ref)
    }

    /// Move `amount` from `owner`'s primary store into the module store at `store`.
    /// Aborts with the framework's `EINSUFFICIENT_BALANCE` when the wallet is short.
    public(friend) fun deposit_from_wallet(owner: &signer, store: address, amount: u64) acquires TokenRefs {
        if (amount == 0) {
            return
        };
        let refs = borrow_global<TokenRefs>(@pictor);
        let fa = primary_fungible_store::withdraw(owner, refs.metadata, amount);
        fungible_asset::deposit_with_ref(&refs.transfer_ref, object::address_to_object<FungibleStore>(store), fa);
    }

    /// Move `amount` from the module store at `store` into `to`'s primary store.
    public(friend) fun pay_to_wallet(store: address, to: address, amount: u64) acquires TokenRefs {
        if (amount == 0) {
            return
        };
        let refs = borrow_global<TokenRefs>(@pictor);
        let fa = fungible_asset::withdraw_with_ref(
            &refs.transfer_ref,
            object::address_to_object<FungibleStore>(store),
            amount
        );
        primary_fungible_store::deposit(to, fa);
    }

    /// Move `amount` between two module stores.
    public(friend) fun move_between(from_store: address, to_store: address, amount: u64) acquires TokenRefs {
        if (amount == 0) {
            return
        };
        let refs = borrow_global<TokenRefs>(@pictor);
        fungible_asset::transfer_with_ref(
            &refs.transfer_ref,
            object::address_to_object<FungibleStore>(from_store),
            object::address_to_object<FungibleStore>(to_store),
            amount
        );
    }

    /// Mint `amount` into the module store at `store`; aborts with `E_MAX_SUPPLY` above the cap.
    public(friend) fun mint_into(store: address, amount: u64) acquires TokenRefs {
        let refs = borrow_global<TokenRefs>(@pictor);
        assert_can_mint(refs.metadata, amount);
        if (amount == 0) {
            return
        };
        let fa = fungible_asset::mint(&refs.mint_ref, amount);
        fungible_asset::deposit_with_ref(&refs.transfer_ref, object::address_to_object<FungibleStore>(store), fa);
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    fun create_frozen_store(refs: &TokenRefs, constructor_ref: &ConstructorRef): address {
        let object_transfer_ref = object::generate_transfer_ref(constructor_ref);
        object::disable_ungated_transfer(&object_transfer_ref);
        let store = fungible_asset::create_store(constructor_ref, refs.metadata);
        fungible_asset::set_frozen_flag(&refs.transfer_ref, store, true);
        object::object_address(&store)
    }

    fun assert_can_mint(metadata: Object<Metadata>, amount: u64) {
        assert!(amount <= MAX_SUPPLY - current_supply(metadata), E_MAX_SUPPLY);
    }

    fun current_supply(metadata: Object<Metadata>): u64 {
        let current = fungible_asset::supply(metadata);
        if (option::is_some(&current)) {
            (option::extract(&mut current) as u64)
        } else {
            0
        }
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers
    // ---------------------------------------------------------------------------------------

    #[test_only]
    /// Mint into `to`'s primary store without the admin check and without an event.
    public fun mint_for_test(to: address, amount: u64) acquires TokenRefs {
        let refs = borrow_global<TokenRefs>(@pictor);
        primary_fungible_store::mint(&refs.mint_ref, to, amount);
    }
}
