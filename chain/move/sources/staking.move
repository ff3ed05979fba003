/// Stakes of node operators, per role (1 worker, 2 checker), with an unbonding queue and
/// slashing. All staked tokens sit in one frozen PICTOR store, so
/// `store balance = total_active + total_unbonding` at every version. Slashed tokens go to the
/// treasury's vault balance.
module pictor::staking {
    use std::signer;
    use std::vector;
    use aptos_std::table::{Self, Table};
    use aptos_framework::event;
    use aptos_framework::timestamp;
    use pictor::config;
    use pictor::token;
    use pictor::vault;

    friend pictor::attestation;

    /// Amount must be greater than zero.
    const E_ZERO_AMOUNT: u64 = 1;
    /// Role must be 1 (worker) or 2 (checker).
    const E_INVALID_ROLE: u64 = 2;
    /// Active stake is too low.
    const E_INSUFFICIENT_STAKE: u64 = 3;
    /// No unbonded stake is ready to withdraw.
    const E_NOTHING_TO_WITHDRAW: u64 = 4;
    /// The signer is not the admin.
    const E_NOT_ADMIN: u64 = 5;

    const ROLE_WORKER: u8 = 1;
    const ROLE_CHECKER: u8 = 2;
    const REASON_ADMIN: u8 = 1;

    struct Stake has store, drop {
        worker: u64,
        checker: u64,
    }

    struct Unbond has store, drop, copy {
        request_id: u64,
        role: u8,
        amount: u64,
        release_at: u64,
    }

    /// Stored at `@pictor`. `store` is the address of the staking PICTOR store.
    struct Staking has key {
        store: address,
        stakes: Table<address, Stake>,
        unbonding: Table<address, vector<Unbond>>,
        next_request_id: u64,
        total_active: u64,
        total_unbonding: u64,
    }

    #[event]
    struct Staked has drop, store {
        operator: address,
        role: u8,
        amount: u64,
        active: u64,
    }

    #[event]
    struct UnstakeRequested has drop, store {
        operator: address,
        role: u8,
        amount: u64,
        request_id: u64,
        release_at: u64,
        active: u64,
    }

    #[event]
    struct UnstakeWithdrawn has drop, store {
        operator: address,
        amount: u64,
        request_ids: vector<u64>,
    }

    #[event]
    struct Slashed has drop, store {
        operator: address,
        role: u8,
        amount: u64,
        reason: u8,
        job_id: u64,
        task_id: u64,
        treasury: address,
    }

    fun init_module(pictor: &signer) {
        move_to(pictor, Staking {
            store: token::staking_store(),
            stakes: table::new(),
            unbonding: table::new(),
            next_request_id: 1,
            total_active: 0,
            total_unbonding: 0,
        });
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Stake `amount` PICTOR from the caller's wallet for `role`.
    public entry fun stake(operator: &signer, role: u8, amount: u64) acquires Staking {
        config::assert_not_paused();
        assert_role(role);
        assert!(amount > 0, E_ZERO_AMOUNT);
        let operator_addr = signer::address_of(operator);
        let staking = borrow_global_mut<Staking>(@pictor);
        token::deposit_from_wallet(operator, staking.store, amount);
        let current = active_of(&staking.stakes, operator_addr, role);
        let active = current + amount;
        set_active(&mut staking.stakes, operator_addr, role, active);
        staking.total_active = staking.total_active + amount;
        event::emit(Staked { operator: operator_addr, role, amount, active });
    }

    /// Move `amount` of the caller's active stake of `role` into the unbonding queue; it can be
    /// withdrawn after `config::unbonding_secs`.
    public entry fun request_unstake(operator: &signer, role: u8, amount: u64) acquires Staking {
        assert_role(role);
        assert!(amount > 0, E_ZERO_AMOUNT);
        let operator_addr = signer::address_of(operator);
        let staking = borrow_global_mut<Staking>(@pictor);
        let current = active_of(&staking.stakes, operator_addr, role);
        assert!(current >= amount, E_INSUFFICIENT_STAKE);
        let active = current - amount;
        set_active(&mut staking.stakes, operator_addr, role, active);
        staking.total_active = staking.total_active - amount;
        staking.total_unbonding = staking.total_unbonding + amount;
        let request_id = staking.next_request_id;
        staking.next_request_id = request_id + 1;
        let release_at = timestamp::now_seconds() + config::unbonding_secs();
        let queue = table::borrow_mut_with_default(&mut staking.unbonding, operator_addr, vector::empty<Unbond>());
        vector::push_back(queue, Unbond { request_id, role, amount, release_at });
        event::emit(UnstakeRequested { operator: operator_addr, role, amount, request_id, release_at, active });
    }

    /// Pay out every unbonding request of the caller whose `release_at` has passed.
    public entry fun withdraw_unstaked(operator: &signer) acquires Staking {
        let operator_addr = signer::address_of(operator);
        let staking = borrow_global_mut<Staking>(@pictor);
        assert!(table::contains(&staking.unbonding, operator_addr), E_NOTHING_TO_WITHDRAW);
        let now = timestamp::now_seconds();
        let queue = table::borrow_mut(&mut staking.unbonding, operator_addr);
        let kept = vector::empty<Unbond>();
        let request_ids = vector::empty<u64>();
        let amount = 0;
        let i = 0;
        let len = vector::length(queue);
        while (i < len) {
            let request = *vector::borrow(queue, i);
            if (request.release_at <= now) {
                amount = amount + request.amount;
                vector::push_back(&mut request_ids, request.request_id);
            } else {
                vector::push_back(&mut kept, request);
            };
            i = i + 1;
        };
        assert!(!vector::is_empty(&request_ids), E_NOTHING_TO_WITHDRAW);
        *queue = kept;
        staking.total_unbonding = staking.total_unbonding - amount;
        token::pay_to_wallet(staking.store, operator_addr, amount);
        event::emit(UnstakeWithdrawn { operator: operator_addr, amount, request_ids });
    }

    /// Admin slash of `operator`'s stake of `role` (reason 1); the slashed tokens go to the
    /// treasury's vault balance.
    public entry fun slash(admin: &signer, operator: address, role: u8, amount: u64) acquires Staking {
        assert!(signer::address_of(admin) == config::admin(), E_NOT_ADMIN);
        assert_role(role);
        assert!(amount > 0, E_ZERO_AMOUNT);
        slash_stake(operator, role, amount, REASON_ADMIN, 0, 0);
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    /// (active, unbonding) stake of `operator` for `role`; (0, 0) if unknown.
    public fun stake_of(operator: address, role: u8): (u64, u64) acquires Staking {
        assert_role(role);
        let staking = borrow_global<Staking>(@pictor);
        (active_of(&staking.stakes, operator, role), unbonding_of(&staking.unbonding, operator, role))
    }

    #[view]
    /// The unbonding queue of `operator`: (request ids, roles, amounts, release times).
    public fun unbonding_requests(operator: address): (vector<u64>, vector<u8>, vector<u64>, vector<u64>) acquires Staking {
        let staking = borrow_global<Staking>(@pictor);
        let ids = vector::empty<u64>();
        let roles = vector::empty<u8>();
        let amounts = vector::empty<u64>();
        let release_times = vector::empty<u64>();
        if (table::contains(&staking.unbonding, operator)) {
            let queue = table::borrow(&staking.unbonding, operator);
            let i = 0;
            let len = vector::length(queue);
            while (i < len) {
                let request = vector::borrow(queue, i);
                vector::push_back(&mut ids, request.request_id);
                vector::push_back(&mut roles, request.role);
                vector::push_back(&mut amounts, request.amount);
                vector::push_back(&mut release_times, request.release_at);
                i = i + 1;
            };
        };
        (ids, roles, amounts, release_times)
    }

    #[view]
    /// (total_active, total_unbonding)
    public fun totals(): (u64, u64) acquires Staking {
        let staking = borrow_global<Staking>(@pictor);
        (staking.total_active, staking.total_unbonding)
    }

    // ---------------------------------------------------------------------------------------
    // Friend operations
    // ---------------------------------------------------------------------------------------

    /// Slash min(amount, active + unbonding) of `operator`'s `role` stake: active first, then the
    /// role's unbonding requests newest first (an emptied request is removed). The tokens go to
    /// the treasury's vault balance. Emits `Slashed`, or nothing when the slashable amount is 0.
    public(friend) fun slash_stake(
        operator: address,
        role: u8,
        amount: u64,
        reason: u8,
        job_id: u64,
        task_id: u64,
    ) acquires Staking {
        let staking = borrow_global_mut<Staking>(@pictor);
        let active = active_of(&staking.stakes, operator, role);
        let unbonding = unbonding_of(&staking.unbonding, operator, role);
        let slashable = active + unbonding;
        let total = if (amount < slashable) { amount } else { slashable };
        if (total == 0) {
            return
        };
        let from_active = if (total < active) { total } else { active };
        if (from_active > 0) {
            set_active(&mut staking.stakes, operator, role, active - from_active);
            staking.total_active = staking.total_active - from_active;
        };
        let from_unbonding = total - from_active;
        if (from_unbonding > 0) {
            let rest = from_unbonding;
            let queue = table::borrow_mut(&mut staking.unbonding, operator);
            let i = vector::length(queue);
            while (i > 0 && rest > 0) {
                i = i - 1;
                let request = vector::borrow_mut(queue, i);
                if (request.role == role) {
                    let cut = if (rest < request.amount) { rest } else { request.amount };
                    request.amount = request.amount - cut;
                    rest = rest - cut;
                    if (request.amount == 0) {
                        vector::remove(queue, i);
                    };
                };
            };
            staking.total_unbonding = staking.total_unbonding - from_unbonding;
        };
        let treasury = config::treasury();
        vault::credit_from(staking.store, treasury, 0, total);
        event::emit(Slashed { operator, role, amount: total, reason, job_id, task_id, treasury });
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    fun assert_role(role: u8) {
        assert!(role == ROLE_WORKER || role == ROLE_CHECKER, E_INVALID_ROLE);
    }

    fun active_of(stakes: &Table<address, Stake>, operator: address, role: u8): u64 {
        if (!table::contains(stakes, operator)) {
            return 0
        };
        let s = table::borrow(stakes, operator);
        if (role == ROLE_WORKER) { s.worker } else { s.checker }
    }

    fun set_active(stakes: &mut Table<address, Stake>, operator: address, role: u8, value: u64) {
        let s = table::borrow_mut_with_default(stakes, operator, Stake { worker: 0, checker: 0 });
        if (role == ROLE_WORKER) {
            s.worker = value;
        } else {
            s.checker = value;
        };
    }

    fun unbonding_of(unbonding: &Table<address, vector<Unbond>>, operator: address, role: u8): u64 {
        if (!table::contains(unbonding, operator)) {
            return 0
        };
        let queue = table::borrow(unbonding, operator);
        let sum = 0;
        let i = 0;
        let len = vector::length(queue);
        while (i < len) {
            let request = vector::borrow(queue, i);
            if (request.role == role) {
                sum = sum + request.amount;
            };
            i = i + 1;
        };
        sum
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers
    // ---------------------------------------------------------------------------------------

    #[test_only]
    /// PICTOR held by the staking store.
    public fun store_balance_for_test(): u64 acquires Staking {
        token::store_balance(borrow_global<Staking>(@pictor).store)
    }
}
