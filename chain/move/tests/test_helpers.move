#[test_only]
/// Shared fixtures for the `pictor` unit tests: framework clock, accounts, module initialisation in
/// genesis order, PICTOR funding, node registration with real Ed25519 keys, the signed messages of
/// chain/SPEC.md, a standard job scenario and the conservation check.
module pictor::test_helpers {
    use std::bcs;
    use std::hash;
    use std::signer;
    use std::vector;
    use aptos_std::ed25519;
    use aptos_std::from_bcs;
    use aptos_framework::account;
    use aptos_framework::fungible_asset::{Self, FungibleStore};
    use aptos_framework::object;
    use aptos_framework::timestamp;

    use pictor::attestation;
    use pictor::config;
    use pictor::escrow;
    use pictor::registry;
    use pictor::rewards;
    use pictor::staking;
    use pictor::token;
    use pictor::vault;

    // ------------------------------------------------------------------
    // Well-known values (constants are module-private, so they are exposed as functions)
    // ------------------------------------------------------------------

    /// Test clock start (seconds).
    public fun start_time(): u64 { 1_700_000_000 }

    /// 1 PICTOR in base units.
    public fun one(): u64 { 100000000 }

    /// Default minimum worker / checker stake (100 PICTOR).
    public fun min_stake(): u64 { 100_00000000 }

    /// Default slash: 10% of 100 PICTOR.
    public fun default_slash(): u64 { 10_00000000 }

    public fun unbonding_secs(): u64 { 604800 }
    public fun review_window_secs(): u64 { 86400 }
    public fun faucet_max(): u64 { 1000_00000000 }
    public fun max_supply(): u64 { 100_000_000_000_000_000 }

    public fun role_worker(): u8 { 1 }
    public fun role_checker(): u8 { 2 }

    // Task states
    public fun queued(): u8 { 0 }
    public fun assigned(): u8 { 1 }
    public fun submitted(): u8 { 2 }
    public fun verified(): u8 { 3 }
    public fun settled(): u8 { 4 }
    public fun disputed(): u8 { 5 }

    // Standard job: budget 10_000 units at 1_000 units per reference-GPU-minute; a task quoted 2_000
    // rendering 74_000 reference-ms costs ceil(74_000 * 1_000 / 60_000) = 1_234.
    public fun budget(): u64 { 10_000 }
    public fun price(): u64 { 1_000 }
    public fun quote(): u64 { 2_000 }
    public fun reference_ms(): u64 { 74_000 }
    public fun charge(): u64 { 1_234 }
    /// 1_234 * 6000 / 10000
    public fun worker_cut(): u64 { 740 }
    /// 1_234 * 1000 / 10000 (one passer)
    public fun checker_cut(): u64 { 123 }
    /// 1_234 - 740 - 123
    public fun treasury_cut(): u64 { 371 }
    /// Creator funds deposited by `standard_job`.
    public fun creator_funds(): u64 { 100_000 }

    // Addresses used by the tests
    public fun alice(): address { @0xa11ce }
    public fun bob(): address { @0xb0b }
    public fun carol(): address { @0xca401 }
    public fun dave(): address { @0xda5e }
    public fun worker_op(): address { @0x3001 }
    public fun worker2_op(): address { @0x3002 }
    public fun checker_op(): address { @0x4001 }
    public fun checker2_op(): address { @0x4002 }
    public fun checker3_op(): address { @0x4003 }
    public fun coordinator_addr(): address { @0xc00d }
    public fun treasury_addr(): address { @0x7ea5 }

    /// Every address a test may hold PICTOR in a primary store (nodes' own accounts never receive tokens).
    public fun wallets(): vector<address> {
        vector[
            @pictor, @0xa11ce, @0xb0b, @0xca401, @0xda5e, @0x3001, @0x3002, @0x4001, @0x4002, @0x4003,
            @0xc00d, @0x7ea5
        ]
    }

    /// A signer for an address (the account resource is created by `setup`).
    public fun acct(addr: address): signer {
        account::create_signer_for_test(addr)
    }

    public fun coordinator(): signer { acct(@0xc00d) }

    // ------------------------------------------------------------------
    // Setup
    // ------------------------------------------------------------------

    /// Clock at `start_time()`, accounts for every test address, every module's `init_for_test` in genesis
    /// order (config, token, vault, registry, staking, escrow, attestation, rewards). Roles stay the
    /// init_module defaults (admin = coordinator = treasury = @pictor).
    public fun setup_defaults(fx: &signer, pictor: &signer) {
        timestamp::set_time_has_started_for_testing(fx);
        timestamp::update_global_time_for_test_secs(start_time());
        let addrs = wallets();
        let i = 0;
        let n = vector::length(&addrs);
        while (i < n) {
            account::create_account_for_test(*vector::borrow(&addrs, i));
            i = i + 1;
        };
        config::init_for_test(pictor);
        token::init_for_test(pictor);
        vault::init_for_test(pictor);
        registry::init_for_test(pictor);
        staking::init_for_test(pictor);
        escrow::init_for_test(pictor);
        attestation::init_for_test(pictor);
        rewards::init_for_test(pictor);
    }

    /// `setup_defaults`, then the genesis `set_roles`: admin @pictor, coordinator @0xc00d, treasury @0x7ea5.
    public fun setup(fx: &signer, pictor: &signer) {
        setup_defaults(fx, pictor);
        config::set_roles(pictor, @pictor, coordinator_addr(), treasury_addr());
    }

    /// Moves the clock forward by `secs` (> 0).
    public fun advance(secs: u64) {
        timestamp::fast_forward_seconds(secs);
    }

    public fun now(): u64 { timestamp::now_seconds() }

    /// Sets the config params, keeping the defaults for everything but quorum, review window and faucet.
    public fun set_quorum_window(pictor: &signer, quorum: u64, review_window: u64) {
        config::set_params(
            pictor, quorum, min_stake(), min_stake(), unbonding_secs(), review_window, 1000, 3, faucet_max()
        );
    }

    /// Sets the config params, keeping the defaults for everything but the minimum worker stake.
    public fun set_min_worker_stake(pictor: &signer, min_worker_stake: u64) {
        config::set_params(
            pictor, 1, min_worker_stake, min_stake(), unbonding_secs(), review_window_secs(), 1000, 3, faucet_max()
        );
    }

    // ------------------------------------------------------------------
    // Money helpers
    // ------------------------------------------------------------------

    /// Mints `amount` PICTOR into `to`'s wallet (admin = @pictor).
    public fun mint(pictor: &signer, to: address, amount: u64) {
        token::mint(pictor, to, amount);
    }

    /// Mints `amount` to `user` and deposits it into the vault (withdrawable balance).
    public fun fund(pictor: &signer, user: &signer, amount: u64) {
        token::mint(pictor, signer::address_of(user), amount);
        vault::deposit(user, amount);
    }

    public fun vault_credit(user: address): u64 {
        let (credit, _) = vault::account(user);
        credit
    }

    public fun vault_balance(user: address): u64 {
        let (_, balance) = vault::account(user);
        balance
    }

    public fun active_stake(operator: address, role: u8): u64 {
        let (active, _) = staking::stake_of(operator, role);
        active
    }

    public fun unbonding_stake(operator: address, role: u8): u64 {
        let (_, unbonding) = staking::stake_of(operator, role);
        unbonding
    }

    // ------------------------------------------------------------------
    // Ed25519 keys and the signed messages of SPEC.md
    // ------------------------------------------------------------------

    /// A fresh Ed25519 key pair: (secret key, 32-byte public key).
    public fun new_key(): (ed25519::SecretKey, vector<u8>) {
        let (sk, vpk) = ed25519::generate_keys();
        (sk, ed25519::validated_public_key_to_bytes(&vpk))
    }

    /// 64-byte Ed25519 signature of `msg`.
    public fun sign(sk: &ed25519::SecretKey, msg: vector<u8>): vector<u8> {
        ed25519::signature_to_bytes(&ed25519::sign_arbitrary_bytes(sk, msg))
    }

    /// The node account of a public key: sha3_256(public_key || 0x00).
    public fun account_of_key(public_key: vector<u8>): address {
        let bytes = public_key;
        vector::push_back(&mut bytes, 0u8);
        from_bcs::to_address(hash::sha3_256(bytes))
    }

    /// b"PICTOR_NODE_REGISTRATION" || bcs(operator) || bcs(role) || public_key
    public fun registration_message(operator: address, role: u8, public_key: vector<u8>): vector<u8> {
        let msg = b"PICTOR_NODE_REGISTRATION";
        vector::append(&mut msg, bcs::to_bytes(&operator));
        vector::append(&mut msg, bcs::to_bytes(&role));
        vector::append(&mut msg, public_key);
        msg
    }

    /// b"PICTOR_CREDIT_CLAIM" || bcs(user) || bcs(amount) || bcs(nonce) || bcs(expires_at)
    public fun credit_claim_message(user: address, amount: u64, nonce: u64, expires_at: u64): vector<u8> {
        let msg = b"PICTOR_CREDIT_CLAIM";
        vector::append(&mut msg, bcs::to_bytes(&user));
        vector::append(&mut msg, bcs::to_bytes(&amount));
        vector::append(&mut msg, bcs::to_bytes(&nonce));
        vector::append(&mut msg, bcs::to_bytes(&expires_at));
        msg
    }

    /// Registration proof for (operator, role, public key) signed by `sk`.
    public fun registration_proof(sk: &ed25519::SecretKey, operator: address, role: u8, public_key: vector<u8>): vector<u8> {
        sign(sk, registration_message(operator, role, public_key))
    }

    /// Installs a fresh credit signer key and returns its secret key.
    public fun install_credit_signer(pictor: &signer): ed25519::SecretKey {
        let (sk, pk) = new_key();
        config::set_credit_signer(pictor, pk);
        sk
    }

    /// Signs a credit claim with `sk` and submits it for `user`.
    public fun claim_credit(sk: &ed25519::SecretKey, user: &signer, amount: u64, nonce: u64, expires_at: u64) {
        let sig = sign(sk, credit_claim_message(signer::address_of(user), amount, nonce, expires_at));
        vault::claim_credit(user, amount, nonce, expires_at, sig);
    }

    // ------------------------------------------------------------------
    // Nodes
    // ------------------------------------------------------------------

    /// Registers a node with a fresh key for `operator`; returns (node id, signer of the node account).
    public fun register(operator: &signer, role: u8): (u64, signer) {
        let (sk, pk) = new_key();
        let proof = registration_proof(&sk, signer::address_of(operator), role, pk);
        registry::register_node(operator, role, pk, proof);
        let node_account = account_of_key(pk);
        let node_id = registry::node_of_account(node_account);
        assert!(node_id != 0, 900);
        (node_id, account::create_account_for_test(node_account))
    }

    /// Mints `amount` to the operator and stakes it for `role`.
    public fun stake(pictor: &signer, operator: &signer, role: u8, amount: u64) {
        token::mint(pictor, signer::address_of(operator), amount);
        staking::stake(operator, role, amount);
    }

    /// A worker node of `operator` with exactly the minimum stake: (node id, node signer).
    public fun add_worker(pictor: &signer, operator: &signer): (u64, signer) {
        stake(pictor, operator, 1, min_stake());
        register(operator, 1)
    }

    /// A checker node of `operator` with exactly the minimum stake: (node id, node signer).
    public fun add_checker(pictor: &signer, operator: &signer): (u64, signer) {
        stake(pictor, operator, 2, min_stake());
        register(operator, 2)
    }

    // ------------------------------------------------------------------
    // Jobs
    // ------------------------------------------------------------------

    /// A distinct 32-byte hash.
    public fun hash32(n: u8): vector<u8> {
        hash::sha3_256(vector[n])
    }

    /// The standard result hash of the scenario.
    public fun result_hash(): vector<u8> { hash32(1) }

    /// Opens a job and returns its id.
    public fun open_job(creator: &signer, budget: u64, price_per_minute: u64): u64 {
        let job_id = escrow::next_job_id();
        escrow::open_job(creator, budget, price_per_minute);
        job_id
    }

    /// Funds `creator` with `creator_funds()` in the vault and opens the standard job.
    public fun standard_job(pictor: &signer, creator: &signer): u64 {
        fund(pictor, creator, creator_funds());
        open_job(creator, budget(), price())
    }

    /// Coordinator assigns `task_id` of `job_id` to `node_id` with the standard quote.
    public fun assign(job_id: u64, task_id: u64, node_id: u64) {
        escrow::assign_task(&coordinator(), job_id, task_id, node_id, quote());
    }

    /// The node submits the standard result for the task.
    public fun submit(node: &signer, job_id: u64, task_id: u64) {
        escrow::submit_result(node, job_id, task_id, result_hash(), reference_ms());
    }

    /// A checker passes (or fails) the standard result.
    public fun attest(checker: &signer, job_id: u64, task_id: u64, pass: bool) {
        attestation::attest(checker, job_id, task_id, result_hash(), pass, hash32(200));
    }

    /// A checker abstains on the standard result.
    public fun abstain(checker: &signer, job_id: u64, task_id: u64) {
        attestation::abstain(checker, job_id, task_id, result_hash(), hash32(200));
    }

    /// `setup`, a worker (operator @0x3001) and a checker (operator @0x4001) with minimum stakes, alice's
    /// standard job, task 1 assigned to the worker and its result submitted (charge 1_234).
    /// Returns (job id, worker node id, worker node signer, checker node id, checker node signer).
    public fun submitted_scenario(fx: &signer, pictor: &signer): (u64, u64, signer, u64, signer) {
        setup(fx, pictor);
        let (wid, worker) = add_worker(pictor, &acct(worker_op()));
        let (cid, checker) = add_checker(pictor, &acct(checker_op()));
        let job_id = standard_job(pictor, &acct(alice()));
        assign(job_id, 1, wid);
        submit(&worker, job_id, 1);
        (job_id, wid, worker, cid, checker)
    }

    /// `submitted_scenario` followed by a passing attestation (quorum 1): task 1 is VERIFIED and in its
    /// review window (deadline now + 86400).
    public fun verified_scenario(fx: &signer, pictor: &signer): (u64, u64, signer, u64, signer) {
        let (job_id, wid, worker, cid, checker) = submitted_scenario(fx, pictor);
        attest(&checker, job_id, 1, true);
        (job_id, wid, worker, cid, checker)
    }

    public fun task_state(job_id: u64, task_id: u64): u8 {
        let (state, _, _, _, _, _, _, _) = escrow::task(job_id, task_id);
        state
    }

    public fun job_spent(job_id: u64): u64 {
        let (_, _, _, spent, _, _, _) = escrow::job(job_id);
        spent
    }

    public fun job_reserved(job_id: u64): u64 {
        let (_, _, _, _, reserved, _, _) = escrow::job(job_id);
        reserved
    }

    // ------------------------------------------------------------------
    // Stores and conservation
    // ------------------------------------------------------------------

    public fun vault_store(): address { object::create_object_address(&@pictor, b"pictor::vault") }
    public fun staking_store(): address { object::create_object_address(&@pictor, b"pictor::staking") }
    public fun rewards_store(): address { object::create_object_address(&@pictor, b"pictor::rewards") }

    /// The escrow root object: named object `b"pictor::escrow"` of @pictor. It creates the job stores,
    /// because @pictor's own signer only exists during `init_module`.
    public fun escrow_root(): address { object::create_object_address(&@pictor, b"pictor::escrow") }

    /// A job's store: named object `b"pictor::escrow" || bcs(job_id)` of the escrow root object.
    /// (chain/SPEC.md words it as a named object of @pictor itself, which cannot be created after
    /// publishing; the sources use the root object.)
    public fun escrow_store(job_id: u64): address {
        let seed = b"pictor::escrow";
        vector::append(&mut seed, bcs::to_bytes(&job_id));
        object::create_object_address(&escrow_root(), seed)
    }

    /// PICTOR held by the fungible store object at `store` (0 if there is none).
    public fun store_balance(store: address): u64 {
        if (!fungible_asset::store_exists(store)) {
            return 0
        };
        fungible_asset::balance(object::address_to_object<FungibleStore>(store))
    }

    /// supply = Σ wallets + vault store + Σ escrow stores + staking store + rewards store, and the
    /// per-module identities of SPEC.md (vault store = credit + balance, escrow store = budget − spent
    /// while the job is open and 0 once it is closed, staking store = active + unbonding, rewards pool =
    /// its store).
    public fun assert_conservation() {
        let total: u128 = 0;
        let addrs = wallets();
        let i = 0;
        let n = vector::length(&addrs);
        while (i < n) {
            total = total + (token::balance(*vector::borrow(&addrs, i)) as u128);
            i = i + 1;
        };

        let vault_held = store_balance(vault_store());
        let (total_credit, total_balance) = vault::totals();
        assert!(vault_held == total_credit + total_balance, 901);
        assert!(vault::store_balance() == vault_held, 902);
        total = total + (vault_held as u128);

        let job_id = 1;
        let next = escrow::next_job_id();
        while (job_id < next) {
            let store = escrow::job_store(job_id);
            assert!(store == escrow_store(job_id), 903);
            let (_, job_budget, _, spent, _, _, closed) = escrow::job(job_id);
            let held = store_balance(store);
            if (closed) {
                assert!(held == 0, 904);
            } else {
                assert!(held == job_budget - spent, 904);
            };
            total = total + (held as u128);
            job_id = job_id + 1;
        };

        let staked = store_balance(staking_store());
        let (total_active, total_unbonding) = staking::totals();
        assert!(staked == total_active + total_unbonding, 905);
        total = total + (staked as u128);

        let pooled = store_balance(rewards_store());
        let (pool, _) = rewards::pool();
        assert!(pool == pooled, 906);
        total = total + (pooled as u128);

        assert!(total == (token::supply() as u128), 907);
    }
}
