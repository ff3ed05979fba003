/// Per-user funds held by the protocol: `credit` (promotional, spendable on jobs, never
/// withdrawable) and `balance` (withdrawable). All of it sits in one frozen PICTOR store, so
/// `store balance = total_credit + total_balance` at every version.
module pictor::vault {
    use std::bcs;
    use std::signer;
    use std::vector;
    use aptos_std::ed25519;
    use aptos_std::table::{Self, Table};
    use aptos_framework::event;
    use aptos_framework::timestamp;
    use pictor::config;
    use pictor::token;

    friend pictor::escrow;
    friend pictor::staking;

    /// Amount must be greater than zero.
    const E_ZERO_AMOUNT: u64 = 1;
    /// Withdrawable balance is too low.
    const E_INSUFFICIENT_BALANCE: u64 = 2;
    /// Credit plus balance is too low.
    const E_INSUFFICIENT_FUNDS: u64 = 3;
    /// Credit claim nonce is not the next one for this user.
    const E_BAD_NONCE: u64 = 4;
    /// Credit claim signature does not verify.
    const E_BAD_SIGNATURE: u64 = 5;
    /// No credit signer is configured.
    const E_CLAIMS_DISABLED: u64 = 6;
    /// Credit claim has expired.
    const E_EXPIRED: u64 = 7;

    const CREDIT_CLAIM_DOMAIN: vector<u8> = b"PICTOR_CREDIT_CLAIM";
    const PUBLIC_KEY_LENGTH: u64 = 32;
    const SIGNATURE_LENGTH: u64 = 64;

    struct Account has store, drop {
        credit: u64,
        balance: u64,
    }

    /// Stored at `@pictor`. `store` is the address of the vault's PICTOR store.
    struct Vault has key {
        store: address,
        accounts: Table<address, Account>,
        total_credit: u64,
        total_balance: u64,
        claim_nonces: Table<address, u64>,
    }

    #[event]
    struct Deposited has drop, store {
        user: address,
        amount: u64,
        balance: u64,
    }

    #[event]
    struct Withdrawn has drop, store {
        user: address,
        amount: u64,
        balance: u64,
    }

    #[event]
    struct CreditClaimed has drop, store {
        user: address,
        amount: u64,
        nonce: u64,
        credit: u64,
    }

    fun init_module(pictor: &signer) {
        move_to(pictor, Vault {
            store: token::vault_store(),
            accounts: table::new(),
            total_credit: 0,
            total_balance: 0,
            claim_nonces: table::new(),
        });
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Move `amount` PICTOR from the caller's wallet into the vault as withdrawable balance.
    public entry fun deposit(user: &signer, amount: u64) acquires Vault {
        config::assert_not_paused();
        assert!(amount > 0, E_ZERO_AMOUNT);
        let user_addr = signer::address_of(user);
        let vault = borrow_global_mut<Vault>(@pictor);
        token::deposit_from_wallet(user, vault.store, amount);
        let entry_ref = table::borrow_mut_with_default(
            &mut vault.accounts,
            user_addr,
            Account { credit: 0, balance: 0 }
        );
        entry_ref.balance = entry_ref.balance + amount;
        let balance = entry_ref.balance;
        vault.total_balance = vault.total_balance + amount;
        event::emit(Deposited { user: user_addr, amount, balance });
    }

    /// Move `amount` of the caller's withdrawable balance back to the caller's wallet.
    public entry fun withdraw(user: &signer, amount: u64) acquires Vault {
        assert!(amount > 0, E_ZERO_AMOUNT);
        let user_addr = signer::address_of(user);
        let vault = borrow_global_mut<Vault>(@pictor);
        let (_, current) = read_account(&vault.accounts, user_addr);
        assert!(current >= amount, E_INSUFFICIENT_BALANCE);
        let entry_ref = table::borrow_mut(&mut vault.accounts, user_addr);
        entry_ref.balance = entry_ref.balance - amount;
        let balance = entry_ref.balance;
        vault.total_balance = vault.total_balance - amount;
        token::pay_to_wallet(vault.store, user_addr, amount);
        event::emit(Withdrawn { user: user_addr, amount, balance });
    }

    /// Claim promotional credit authorized by the credit signer's Ed25519 signature over
    /// `b"PICTOR_CREDIT_CLAIM" ‖ bcs(user) ‖ bcs(amount) ‖ bcs(nonce) ‖ bcs(expires_at)`.
    /// The credit is minted into the vault store.
    public entry fun claim_credit(
        user: &signer,
        amount: u64,
        nonce: u64,
        expires_at: u64,
        signature: vector<u8>,
    ) acquires Vault {
        config::assert_not_paused();
        assert!(amount > 0, E_ZERO_AMOUNT);
        let credit_signer = config::credit_signer();
        assert!(!vector::is_empty(&credit_signer), E_CLAIMS_DISABLED);
        assert!(timestamp::now_seconds() <= expires_at, E_EXPIRED);
        let user_addr = signer::address_of(user);
        let vault = borrow_global_mut<Vault>(@pictor);
        assert!(nonce == read_nonce(&vault.claim_nonces, user_addr), E_BAD_NONCE);
        let message = credit_claim_message(user_addr, amount, nonce, expires_at);
        assert!(verify_signature(credit_signer, signature, message), E_BAD_SIGNATURE);
        token::mint_into(vault.store, amount);
        table::upsert(&mut vault.claim_nonces, user_addr, nonce + 1);
        let entry_ref = table::borrow_mut_with_default(
            &mut vault.accounts,
            user_addr,
            Account { credit: 0, balance: 0 }
        );
        entry_ref.credit = entry_ref.credit + amount;
        let credit = entry_ref.credit;
        vault.total_credit = vault.total_credit + amount;
        event::emit(CreditClaimed { user: user_addr, amount, nonce, credit });
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    /// (credit, balance) of `user`; (0, 0) if unknown.
    public fun account(user: address): (u64, u64) acquires Vault {
        read_account(&borrow_global<Vault>(@pictor).accounts, user)
    }

    #[view]
    /// (total_credit, total_balance)
    public fun totals(): (u64, u64) acquires Vault {
        let vault = borrow_global<Vault>(@pictor);
        (vault.total_credit, vault.total_balance)
    }

    #[view]
    public fun next_claim_nonce(user: address): u64 acquires Vault {
        read_nonce(&borrow_global<Vault>(@pictor).claim_nonces, user)
    }

    #[view]
    /// PICTOR held by the vault store.
    public fun store_balance(): u64 acquires Vault {
        token::store_balance(borrow_global<Vault>(@pictor).store)
    }

    // ---------------------------------------------------------------------------------------
    // Friend operations (no events of their own)
    // ---------------------------------------------------------------------------------------

    /// Lock `amount` of `user`'s funds into the module store at `to_store`, spending credit first.
    /// Returns (credit_used, balance_used). Aborts with `E_INSUFFICIENT_FUNDS`.
    public(friend) fun lock_into(user: address, to_store: address, amount: u64): (u64, u64) acquires Vault {
        let vault = borrow_global_mut<Vault>(@pictor);
        let (credit, balance) = read_account(&vault.accounts, user);
        assert!(credit + balance >= amount, E_INSUFFICIENT_FUNDS);
        let credit_used = if (credit < amount) { credit } else { amount };
        let balance_used = amount - credit_used;
        if (amount > 0) {
            let entry_ref = table::borrow_mut(&mut vault.accounts, user);
            entry_ref.credit = entry_ref.credit - credit_used;
            entry_ref.balance = entry_ref.balance - balance_used;
        };
        vault.total_credit = vault.total_credit - credit_used;
        vault.total_balance = vault.total_balance - balance_used;
        token::move_between(vault.store, to_store, amount);
        (credit_used, balance_used)
    }

    /// Take `credit_amount + balance_amount` from the module store at `from_store` into the vault
    /// store and add them to `user`'s credit and balance.
    public(friend) fun credit_from(
        from_store: address,
        user: address,
        credit_amount: u64,
        balance_amount: u64,
    ) acquires Vault {
        let amount = credit_amount + balance_amount;
        if (amount == 0) {
            return
        };
        let vault = borrow_global_mut<Vault>(@pictor);
        token::move_between(from_store, vault.store, amount);
        let entry_ref = table::borrow_mut_with_default(
            &mut vault.accounts,
            user,
            Account { credit: 0, balance: 0 }
        );
        entry_ref.credit = entry_ref.credit + credit_amount;
        entry_ref.balance = entry_ref.balance + balance_amount;
        vault.total_credit = vault.total_credit + credit_amount;
        vault.total_balance = vault.total_balance + balance_amount;
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    fun read_account(accounts: &Table<address, Account>, user: address): (u64, u64) {
        if (!table::contains(accounts, user)) {
            return (0, 0)
        };
        let entry_ref = table::borrow(accounts, user);
        (entry_ref.credit, entry_ref.balance)
    }

    fun read_nonce(nonces: &Table<address, u64>, user: address): u64 {
        if (table::contains(nonces, user)) {
            *table::borrow(nonces, user)
        } else {
            0
        }
    }

    fun credit_claim_message(user: address, amount: u64, nonce: u64, expires_at: u64): vector<u8> {
        let message = CREDIT_CLAIM_DOMAIN;
        vector::append(&mut message, bcs::to_bytes(&user));
        vector::append(&mut message, bcs::to_bytes(&amount));
        vector::append(&mut message, bcs::to_bytes(&nonce));
        vector::append(&mut message, bcs::to_bytes(&expires_at));
        message
    }

    /// Ed25519 strict verification; a key or signature of the wrong length simply fails.
    fun verify_signature(public_key: vector<u8>, signature: vector<u8>, message: vector<u8>): bool {
        if (vector::length(&public_key) != PUBLIC_KEY_LENGTH || vector::length(&signature) != SIGNATURE_LENGTH) {
            return false
        };
        let sig = ed25519::new_signature_from_bytes(signature);
        let pk = ed25519::new_unvalidated_public_key_from_bytes(public_key);
        ed25519::signature_verify_strict(&sig, &pk, message)
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers
    // ---------------------------------------------------------------------------------------

    #[test_only]
    /// The exact bytes the credit signer must sign for `claim_credit`.
    public fun credit_claim_message_for_test(user: address, amount: u64, nonce: u64, expires_at: u64): vector<u8> {
        credit_claim_message(user, amount, nonce, expires_at)
    }

    #[test_only]
    /// Address of the vault's PICTOR store.
    public fun store_address_for_test(): address acquires Vault {
        borrow_global<Vault>(@pictor).store
    }
}
