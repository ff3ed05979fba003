/// One escrow per job: a budget locked from the creator's vault funds into the job's own frozen
/// PICTOR store, a price per reference-GPU-minute, and the job's tasks with their state.
/// Funds leave a job's store only when a verified task is settled (worker, checker and treasury
/// shares go to their vault balances) or when the job is closed (the rest goes back to the
/// creator's vault credit and balance). While a job is open, `store balance = budget − spent`.
module pictor::escrow {
    use std::bcs;
    use std::signer;
    use std::vector;
    use aptos_std::table::{Self, Table};
    use aptos_framework::event;
    use aptos_framework::object::{Self, ExtendRef};
    use aptos_framework::timestamp;
    use pictor::config;
    use pictor::registry;
    use pictor::staking;
    use pictor::token;
    use pictor::vault;

    friend pictor::attestation;

    /// Amount must be greater than zero.
    const E_ZERO_AMOUNT: u64 = 1;
    /// No job has this id.
    const E_JOB_NOT_FOUND: u64 = 2;
    /// The signer is not the job's creator.
    const E_NOT_CREATOR: u64 = 3;
    /// The signer is not the coordinator.
    const E_NOT_COORDINATOR: u64 = 4;
    /// The job is closed.
    const E_JOB_CLOSED: u64 = 5;
    /// The escrow cannot cover this task's quote.
    const E_INSUFFICIENT_ESCROW: u64 = 6;
    /// No task has this id in the job.
    const E_TASK_NOT_FOUND: u64 = 7;
    /// The task is not in a state that allows this.
    const E_BAD_TASK_STATE: u64 = 8;
    /// The signer is not the node the task is assigned to.
    const E_NOT_ASSIGNED_NODE: u64 = 9;
    /// A result hash must be 32 bytes.
    const E_INVALID_HASH: u64 = 10;
    /// The review window has not ended.
    const E_REVIEW_WINDOW_OPEN: u64 = 11;
    /// The review window has ended.
    const E_REVIEW_WINDOW_CLOSED: u64 = 12;
    /// Tasks are submitted or under review; settle them first.
    const E_TASKS_IN_FLIGHT: u64 = 13;
    /// The node is not an active worker with enough stake.
    const E_NODE_NOT_ELIGIBLE: u64 = 14;
    /// Price per minute must be greater than zero.
    const E_INVALID_PRICE: u64 = 15;
    /// No checker abstained and the task was submitted less than a review window ago.
    const E_NOT_UNVERIFIABLE: u64 = 16;

    const STATE_QUEUED: u8 = 0;
    const STATE_ASSIGNED: u8 = 1;
    const STATE_SUBMITTED: u8 = 2;
    const STATE_VERIFIED: u8 = 3;
    const STATE_SETTLED: u8 = 4;
    const STATE_DISPUTED: u8 = 5;

    const REASON_LEASE_EXPIRED: u8 = 1;
    const REASON_FAILED_VERIFICATION: u8 = 2;
    const REASON_DISPUTE_UPHELD: u8 = 3;
    const REASON_JOB_CLOSED: u8 = 4;
    const REASON_UNVERIFIABLE: u8 = 5;

    const ROLE_WORKER: u8 = 1;
    const BPS_DENOMINATOR: u128 = 10000;
    const MS_PER_MINUTE: u128 = 60000;
    const HASH_LENGTH: u64 = 32;
    const ESCROW_SEED: vector<u8> = b"pictor::escrow";

    struct Task has store {
        state: u8,
        node_id: u64,
        worker_operator: address,
        quote: u64,
        result_hash: vector<u8>,
        reference_ms: u64,
        charge: u64,
        attempt: u64,
        review_deadline: u64,
        attesters: vector<u64>,
        passers: vector<address>,
        pass_count: u64,
        fail_count: u64,
        unsure_count: u64,
        submitted_at: u64,
        disputed_at: u64,
    }

    /// `store` is the address of the job's PICTOR store. `assigned` (ids of the ASSIGNED tasks,
    /// ascending) and `in_flight` (number of SUBMITTED, VERIFIED or DISPUTED tasks) exist because
    /// a `Table` cannot be iterated; `close_job` needs both.
    struct Job has store {
        creator: address,
        store: address,
        budget: u64,
        credit_in: u64,
        spent: u64,
        reserved: u64,
        price_per_minute: u64,
        closed: bool,
        tasks: Table<u64, Task>,
        assigned: vector<u64>,
        in_flight: u64,
    }

    /// Stored at `@pictor`.
    struct Escrow has key {
        jobs: Table<u64, Job>,
        next_job_id: u64,
    }

    /// Stored at `@pictor`: the extend ref of the escrow root object (named object
    /// `b"pictor::escrow"` of `@pictor`), which creates and owns the per-job store objects
    /// (`@pictor`'s own signer exists only during `init_module`).
    struct EscrowRoot has key {
        extend_ref: ExtendRef,
    }

    #[event]
    struct JobOpened has drop, store {
        job_id: u64,
        creator: address,
        budget: u64,
        credit_used: u64,
        balance_used: u64,
        price_per_minute: u64,
        store: address,
    }

    #[event]
    struct JobToppedUp has drop, store {
        job_id: u64,
        amount: u64,
        credit_used: u64,
        balance_used: u64,
        budget: u64,
    }

    #[event]
    struct TaskAssigned has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        worker_operator: address,
        quote: u64,
        attempt: u64,
    }

    #[event]
    struct TaskRequeued has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        reason: u8,
    }

    #[event]
    struct ResultSubmitted has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        result_hash: vector<u8>,
        reference_ms: u64,
        charge: u64,
    }

    #[event]
    struct TaskVerified has drop, store {
        job_id: u64,
        task_id: u64,
        charge: u64,
        review_deadline: u64,
    }

    #[event]
    struct TaskDisputed has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
    }

    #[event]
    struct TaskSettled has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        charge: u64,
        worker_operator: address,
        worker_amount: u64,
        checkers: vector<address>,
        checker_amount: u64,
        treasury: address,
        treasury_amount: u64,
    }

    #[event]
    struct JobClosed has drop, store {
        job_id: u64,
        spent: u64,
        refund_credit: u64,
        refund_balance: u64,
    }

    fun init_module(pictor: &signer) {
        let constructor_ref = object::create_named_object(pictor, ESCROW_SEED);
        let object_transfer_ref = object::generate_transfer_ref(&constructor_ref);
        object::disable_ungated_transfer(&object_transfer_ref);
        move_to(pictor, EscrowRoot { extend_ref: object::generate_extend_ref(&constructor_ref) });
        move_to(pictor, Escrow { jobs: table::new(), next_job_id: 1 });
    }

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Open a job: create its store and lock `budget` from the caller's vault funds (credit first).
    public entry fun open_job(creator: &signer, budget: u64, price_per_minute: u64) acquires Escrow, EscrowRoot {
        config::assert_not_paused();
        assert!(budget > 0, E_ZERO_AMOUNT);
        assert!(price_per_minute > 0, E_INVALID_PRICE);
        let creator_addr = signer::address_of(creator);
        let escrow = borrow_global_mut<Escrow>(@pictor);
        let job_id = escrow.next_job_id;
        escrow.next_job_id = job_id + 1;
        let store = create_job_store(job_id);
        let (credit_used, balance_used) = vault::lock_into(creator_addr, store, budget);
        table::add(&mut escrow.jobs, job_id, Job {
            creator: creator_addr,
            store,
            budget,
            credit_in: credit_used,
            spent: 0,
            reserved: 0,
            price_per_minute,
            closed: false,
            tasks: table::new(),
            assigned: vector::empty<u64>(),
            in_flight: 0,
        });
        event::emit(JobOpened {
            job_id,
            creator: creator_addr,
            budget,
            credit_used,
            balance_used,
            price_per_minute,
            store,
        });
    }

    /// Lock `amount` more of the creator's vault funds into the job.
    public entry fun top_up(creator: &signer, job_id: u64, amount: u64) acquires Escrow {
        config::assert_not_paused();
        let creator_addr = signer::address_of(creator);
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(job.creator == creator_addr, E_NOT_CREATOR);
        assert!(!job.closed, E_JOB_CLOSED);
        assert!(amount > 0, E_ZERO_AMOUNT);
        let (credit_used, balance_used) = vault::lock_into(creator_addr, job.store, amount);
        job.budget = job.budget + amount;
        job.credit_in = job.credit_in + credit_used;
        event::emit(JobToppedUp { job_id, amount, credit_used, balance_used, budget: job.budget });
    }

    /// Coordinator: assign a new or queued task to a worker node and reserve its quote.
    public entry fun assign_task(
        coordinator: &signer,
        job_id: u64,
        task_id: u64,
        node_id: u64,
        quote: u64,
    ) acquires Escrow {
        config::assert_not_paused();
        assert!(signer::address_of(coordinator) == config::coordinator(), E_NOT_COORDINATOR);
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(!job.closed, E_JOB_CLOSED);
        assert!(quote > 0, E_ZERO_AMOUNT);
        let known = table::contains(&job.tasks, task_id);
        if (known) {
            assert!(table::borrow(&job.tasks, task_id).state == STATE_QUEUED, E_BAD_TASK_STATE);
        };
        let (eligible, worker_operator) = worker_eligibility(node_id);
        assert!(eligible, E_NODE_NOT_ELIGIBLE);
        assert!(quote <= job.budget - job.spent - job.reserved, E_INSUFFICIENT_ESCROW);
        job.reserved = job.reserved + quote;
        if (!known) {
            table::add(&mut job.tasks, task_id, new_task());
        };
        let task = table::borrow_mut(&mut job.tasks, task_id);
        task.state = STATE_ASSIGNED;
        task.node_id = node_id;
        task.worker_operator = worker_operator;
        task.quote = quote;
        task.result_hash = vector::empty<u8>();
        task.reference_ms = 0;
        task.charge = 0;
        task.attempt = task.attempt + 1;
        task.review_deadline = 0;
        task.attesters = vector::empty<u64>();
        task.passers = vector::empty<address>();
        task.pass_count = 0;
        task.fail_count = 0;
        task.unsure_count = 0;
        task.submitted_at = 0;
        task.disputed_at = 0;
        let attempt = task.attempt;
        insert_sorted(&mut job.assigned, task_id);
        event::emit(TaskAssigned { job_id, task_id, node_id, worker_operator, quote, attempt });
    }

    /// Coordinator: put an assigned task whose lease expired back into the queue.
    public entry fun requeue_task(coordinator: &signer, job_id: u64, task_id: u64) acquires Escrow {
        assert!(signer::address_of(coordinator) == config::coordinator(), E_NOT_COORDINATOR);
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(task_state(job, task_id) == STATE_ASSIGNED, E_BAD_TASK_STATE);
        requeue(job, job_id, task_id, REASON_LEASE_EXPIRED);
    }

    /// Coordinator: put a submitted task that no checker could decide back into the queue, unpaid
    /// and without a strike. Allowed once a checker abstained on this attempt, or once a review
    /// window has passed since the result was submitted.
    public entry fun requeue_unverified(coordinator: &signer, job_id: u64, task_id: u64) acquires Escrow {
        assert!(signer::address_of(coordinator) == config::coordinator(), E_NOT_COORDINATOR);
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(task_state(job, task_id) == STATE_SUBMITTED, E_BAD_TASK_STATE);
        let task = table::borrow(&job.tasks, task_id);
        let unsure_count = task.unsure_count;
        let submitted_at = task.submitted_at;
        assert!(
            unsure_count >= 1 || timestamp::now_seconds() >= submitted_at + config::review_window_secs(),
            E_NOT_UNVERIFIABLE
        );
        requeue(job, job_id, task_id, REASON_UNVERIFIABLE);
    }

    /// Node: submit the result hash and the measured reference-GPU milliseconds of its task.
    /// The charge is min(quote, ceil(reference_ms × price_per_minute / 60000)).
    public entry fun submit_result(
        node: &signer,
        job_id: u64,
        task_id: u64,
        result_hash: vector<u8>,
        reference_ms: u64,
    ) acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(!job.closed, E_JOB_CLOSED);
        assert!(task_state(job, task_id) == STATE_ASSIGNED, E_BAD_TASK_STATE);
        let price_per_minute = job.price_per_minute;
        let task = table::borrow_mut(&mut job.tasks, task_id);
        assert!(registry::node_of_account(signer::address_of(node)) == task.node_id, E_NOT_ASSIGNED_NODE);
        assert!(vector::length(&result_hash) == HASH_LENGTH, E_INVALID_HASH);
        let raw = ((reference_ms as u128) * (price_per_minute as u128) + (MS_PER_MINUTE - 1)) / MS_PER_MINUTE;
        let charge = if (raw < (task.quote as u128)) { (raw as u64) } else { task.quote };
        task.state = STATE_SUBMITTED;
        task.result_hash = copy result_hash;
        task.reference_ms = reference_ms;
        task.charge = charge;
        task.submitted_at = timestamp::now_seconds();
        let node_id = task.node_id;
        remove_id(&mut job.assigned, task_id);
        job.in_flight = job.in_flight + 1;
        event::emit(ResultSubmitted { job_id, task_id, node_id, result_hash, reference_ms, charge });
    }

    /// Creator: accept a verified task before its review window ends; settles it.
    public entry fun accept_task(creator: &signer, job_id: u64, task_id: u64) acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(job.creator == signer::address_of(creator), E_NOT_CREATOR);
        assert!(task_state(job, task_id) == STATE_VERIFIED, E_BAD_TASK_STATE);
        settle(job, job_id, task_id);
    }

    /// Anyone: settle a verified task once its review window has ended, or a disputed task once
    /// a review window (the current `review_window_secs`) has passed since the dispute. A dispute
    /// that no checker resolved in that time is not upheld: the task is settled as when a checker
    /// rejects the dispute, and its passers are paid.
    public entry fun finalize_task(caller: &signer, job_id: u64, task_id: u64) acquires Escrow {
        let _ = caller;
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        let state = task_state(job, task_id);
        assert!(state == STATE_VERIFIED || state == STATE_DISPUTED, E_BAD_TASK_STATE);
        let task = table::borrow(&job.tasks, task_id);
        let ends_at = if (state == STATE_VERIFIED) {
            task.review_deadline
        } else {
            task.disputed_at + config::review_window_secs()
        };
        assert!(timestamp::now_seconds() >= ends_at, E_REVIEW_WINDOW_OPEN);
        settle(job, job_id, task_id);
    }

    /// Creator: reject a verified task inside its review window; a second checker decides. The
    /// dispute's time is kept: if no checker decides within a review window of it, anyone may
    /// `finalize_task` the task and it is paid.
    public entry fun dispute_task(creator: &signer, job_id: u64, task_id: u64) acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(job.creator == signer::address_of(creator), E_NOT_CREATOR);
        assert!(task_state(job, task_id) == STATE_VERIFIED, E_BAD_TASK_STATE);
        let task = table::borrow_mut(&mut job.tasks, task_id);
        let now = timestamp::now_seconds();
        assert!(now < task.review_deadline, E_REVIEW_WINDOW_CLOSED);
        task.disputed_at = now;
        task.state = STATE_DISPUTED;
        event::emit(TaskDisputed { job_id, task_id, node_id: task.node_id });
    }

    /// Creator or coordinator: close the job. Assigned tasks go back to the queue; what is left
    /// of the budget returns to the creator's vault credit (up to the credit not yet spent) and
    /// balance (the rest).
    public entry fun close_job(caller: &signer, job_id: u64) acquires Escrow {
        let caller_addr = signer::address_of(caller);
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        assert!(caller_addr == job.creator || caller_addr == config::coordinator(), E_NOT_CREATOR);
        assert!(!job.closed, E_JOB_CLOSED);
        assert!(job.in_flight == 0, E_TASKS_IN_FLIGHT);
        let ids = job.assigned;
        let i = 0;
        let len = vector::length(&ids);
        while (i < len) {
            requeue(job, job_id, *vector::borrow(&ids, i), REASON_JOB_CLOSED);
            i = i + 1;
        };
        job.reserved = 0;
        let remaining = job.budget - job.spent;
        let credit_left = job.credit_in - min(job.credit_in, job.spent);
        let refund_credit = min(remaining, credit_left);
        let refund_balance = remaining - refund_credit;
        vault::credit_from(job.store, job.creator, refund_credit, refund_balance);
        job.closed = true;
        event::emit(JobClosed { job_id, spent: job.spent, refund_credit, refund_balance });
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    #[view]
    /// (creator, budget, credit_in, spent, reserved, price_per_minute, closed)
    public fun job(job_id: u64): (address, u64, u64, u64, u64, u64, bool) acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        (j.creator, j.budget, j.credit_in, j.spent, j.reserved, j.price_per_minute, j.closed)
    }

    #[view]
    /// (state, node_id, quote, result_hash, charge, attempt, review_deadline, pass_count)
    public fun task(job_id: u64, task_id: u64): (u8, u64, u64, vector<u8>, u64, u64, u64, u64) acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        assert!(table::contains(&j.tasks, task_id), E_TASK_NOT_FOUND);
        let t = table::borrow(&j.tasks, task_id);
        (t.state, t.node_id, t.quote, t.result_hash, t.charge, t.attempt, t.review_deadline, t.pass_count)
    }

    #[view]
    /// Address of the job's PICTOR store.
    public fun job_store(job_id: u64): address acquires Escrow {
        borrow_job(borrow_global<Escrow>(@pictor), job_id).store
    }

    #[view]
    public fun next_job_id(): u64 acquires Escrow {
        borrow_global<Escrow>(@pictor).next_job_id
    }

    // ---------------------------------------------------------------------------------------
    // Friend operations (attestation)
    // ---------------------------------------------------------------------------------------

    /// What `attestation` needs to judge a task: (state, node_id, worker_operator, attempt,
    /// result_hash, attesters, passers). Aborts with `E_JOB_NOT_FOUND`, then `E_JOB_CLOSED` when
    /// `require_open`, then `E_TASK_NOT_FOUND`.
    public(friend) fun attestation_context(
        job_id: u64,
        task_id: u64,
        require_open: bool,
    ): (u8, u64, address, u64, vector<u8>, vector<u64>, vector<address>) acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        if (require_open) {
            assert!(!j.closed, E_JOB_CLOSED);
        };
        assert!(table::contains(&j.tasks, task_id), E_TASK_NOT_FOUND);
        let t = table::borrow(&j.tasks, task_id);
        (t.state, t.node_id, t.worker_operator, t.attempt, t.result_hash, t.attesters, t.passers)
    }

    /// Record a checker's verdict on a SUBMITTED task. On the quorum-th pass the task becomes
    /// VERIFIED (`TaskVerified`) and, with a zero review window, is settled at once. On the
    /// quorum-th fail the task is requeued (reason 2) and `true` is returned so that the caller
    /// strikes the worker node.
    public(friend) fun record_attestation(
        job_id: u64,
        task_id: u64,
        checker_node_id: u64,
        checker_operator: address,
        pass: bool,
    ): bool acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        let quorum = config::quorum();
        let task = table::borrow_mut(&mut job.tasks, task_id);
        vector::push_back(&mut task.attesters, checker_node_id);
        if (pass) {
            task.pass_count = task.pass_count + 1;
            vector::push_back(&mut task.passers, checker_operator);
            if (task.pass_count >= quorum) {
                let window = config::review_window_secs();
                let review_deadline = timestamp::now_seconds() + window;
                task.state = STATE_VERIFIED;
                task.review_deadline = review_deadline;
                let charge = task.charge;
                event::emit(TaskVerified { job_id, task_id, charge, review_deadline });
                if (window == 0) {
                    settle(job, job_id, task_id);
                };
            };
            false
        } else {
            task.fail_count = task.fail_count + 1;
            if (task.fail_count >= quorum) {
                requeue(job, job_id, task_id, REASON_FAILED_VERIFICATION);
                true
            } else {
                false
            }
        }
    }

    /// Record a checker's abstention on a SUBMITTED task: the node joins the attesters (its
    /// operator has used its vote on this attempt) and `unsure_count` grows, which lets the
    /// coordinator `requeue_unverified` the task. Neither a pass nor a fail.
    public(friend) fun record_abstention(job_id: u64, task_id: u64, checker_node_id: u64) acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        let task = table::borrow_mut(&mut job.tasks, task_id);
        vector::push_back(&mut task.attesters, checker_node_id);
        task.unsure_count = task.unsure_count + 1;
    }

    /// Dispute not upheld: settle the DISPUTED task.
    public(friend) fun settle_disputed(job_id: u64, task_id: u64) acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        settle(job, job_id, task_id);
    }

    /// Dispute upheld: requeue the DISPUTED task (reason 3, no charge).
    public(friend) fun requeue_disputed(job_id: u64, task_id: u64) acquires Escrow {
        let job = borrow_job_mut(borrow_global_mut<Escrow>(@pictor), job_id);
        requeue(job, job_id, task_id, REASON_DISPUTE_UPHELD);
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    fun create_job_store(job_id: u64): address acquires EscrowRoot {
        let root = borrow_global<EscrowRoot>(@pictor);
        let root_signer = object::generate_signer_for_extending(&root.extend_ref);
        let seed = ESCROW_SEED;
        vector::append(&mut seed, bcs::to_bytes(&job_id));
        let constructor_ref = object::create_named_object(&root_signer, seed);
        token::create_store(&constructor_ref)
    }

    fun borrow_job(escrow: &Escrow, job_id: u64): &Job {
        assert!(table::contains(&escrow.jobs, job_id), E_JOB_NOT_FOUND);
        table::borrow(&escrow.jobs, job_id)
    }

    fun borrow_job_mut(escrow: &mut Escrow, job_id: u64): &mut Job {
        assert!(table::contains(&escrow.jobs, job_id), E_JOB_NOT_FOUND);
        table::borrow_mut(&mut escrow.jobs, job_id)
    }

    /// The task's state; aborts with `E_TASK_NOT_FOUND`.
    fun task_state(job: &Job, task_id: u64): u8 {
        assert!(table::contains(&job.tasks, task_id), E_TASK_NOT_FOUND);
        table::borrow(&job.tasks, task_id).state
    }

    fun new_task(): Task {
        Task {
            state: STATE_QUEUED,
            node_id: 0,
            worker_operator: @0x0,
            quote: 0,
            result_hash: vector::empty<u8>(),
            reference_ms: 0,
            charge: 0,
            attempt: 0,
            review_deadline: 0,
            attesters: vector::empty<u64>(),
            passers: vector::empty<address>(),
            pass_count: 0,
            fail_count: 0,
            unsure_count: 0,
            submitted_at: 0,
            disputed_at: 0,
        }
    }

    /// (eligible, operator): the node exists, is an active worker, and its operator's active
    /// worker stake is at least `config::min_worker_stake`.
    fun worker_eligibility(node_id: u64): (bool, address) {
        if (!registry::node_exists(node_id)) {
            return (false, @0x0)
        };
        let (operator, role, _, _, active, _) = registry::node(node_id);
        if (!active || role != ROLE_WORKER) {
            return (false, operator)
        };
        let (active_stake, _) = staking::stake_of(operator, ROLE_WORKER);
        (active_stake >= config::min_worker_stake(), operator)
    }

    /// Task back to QUEUED: its quote is released; other fields stay until the next assignment.
    fun requeue(job: &mut Job, job_id: u64, task_id: u64, reason: u8) {
        let task = table::borrow_mut(&mut job.tasks, task_id);
        let previous = task.state;
        let quote = task.quote;
        let node_id = task.node_id;
        task.state = STATE_QUEUED;
        job.reserved = job.reserved - quote;
        if (previous == STATE_ASSIGNED) {
            remove_id(&mut job.assigned, task_id);
        } else {
            job.in_flight = job.in_flight - 1;
        };
        event::emit(TaskRequeued { job_id, task_id, node_id, reason });
    }

    /// Pay a VERIFIED or DISPUTED task: the charge moves from the job's store into the vault,
    /// split between the worker operator, each passing checker operator and the treasury.
    fun settle(job: &mut Job, job_id: u64, task_id: u64) {
        let (worker_bps, checker_bps) = config::fee_split();
        let treasury = config::treasury();
        let store = job.store;
        let task = table::borrow_mut(&mut job.tasks, task_id);
        let charge = task.charge;
        let quote = task.quote;
        let node_id = task.node_id;
        let worker_operator = task.worker_operator;
        let checkers = task.passers;
        task.state = STATE_SETTLED;
        let worker_amount = bps_of(charge, worker_bps);
        let checker_total = bps_of(charge, checker_bps);
        let count = vector::length(&checkers);
        let checker_amount = if (count == 0) { 0 } else { checker_total / count };
        let treasury_amount = charge - worker_amount - checker_amount * count;
        job.spent = job.spent + charge;
        job.reserved = job.reserved - quote;
        job.in_flight = job.in_flight - 1;
        vault::credit_from(store, worker_operator, 0, worker_amount);
        let i = 0;
        while (i < count) {
            vault::credit_from(store, *vector::borrow(&checkers, i), 0, checker_amount);
            i = i + 1;
        };
        vault::credit_from(store, treasury, 0, treasury_amount);
        event::emit(TaskSettled {
            job_id,
            task_id,
            node_id,
            charge,
            worker_operator,
            worker_amount,
            checkers,
            checker_amount,
            treasury,
            treasury_amount,
        });
    }

    fun bps_of(amount: u64, bps: u64): u64 {
        (((amount as u128) * (bps as u128) / BPS_DENOMINATOR) as u64)
    }

    fun min(a: u64, b: u64): u64 {
        if (a < b) { a } else { b }
    }

    /// Insert `id` into the ascending vector `ids`.
    fun insert_sorted(ids: &mut vector<u64>, id: u64) {
        vector::push_back(ids, id);
        let i = vector::length(ids) - 1;
        while (i > 0 && *vector::borrow(ids, i - 1) > id) {
            vector::swap(ids, i - 1, i);
            i = i - 1;
        };
    }

    fun remove_id(ids: &mut vector<u64>, id: u64) {
        let (found, index) = vector::index_of(ids, &id);
        if (found) {
            vector::remove(ids, index);
        };
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers
    // ---------------------------------------------------------------------------------------

    #[test_only]
    /// Task fields the `task` view leaves out:
    /// (worker_operator, reference_ms, attesters, passers, fail_count).
    public fun task_details_for_test(
        job_id: u64,
        task_id: u64,
    ): (address, u64, vector<u64>, vector<address>, u64) acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        let t = table::borrow(&j.tasks, task_id);
        (t.worker_operator, t.reference_ms, t.attesters, t.passers, t.fail_count)
    }

    #[test_only]
    /// What `requeue_unverified` reads besides the state: (unsure_count, submitted_at).
    public fun unverifiable_details_for_test(job_id: u64, task_id: u64): (u64, u64) acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        let t = table::borrow(&j.tasks, task_id);
        (t.unsure_count, t.submitted_at)
    }

    #[test_only]
    /// When the task was disputed (0 until `dispute_task`; cleared by `assign_task`).
    public fun disputed_at_for_test(job_id: u64, task_id: u64): u64 acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        table::borrow(&j.tasks, task_id).disputed_at
    }

    #[test_only]
    /// A `TaskRequeued` event with these fields, to compare with the emitted ones.
    public fun task_requeued_event_for_test(job_id: u64, task_id: u64, node_id: u64, reason: u8): TaskRequeued {
        TaskRequeued { job_id, task_id, node_id, reason }
    }

    #[test_only]
    /// A `TaskSettled` event with these fields, to compare with the emitted ones.
    public fun task_settled_event_for_test(
        job_id: u64,
        task_id: u64,
        node_id: u64,
        charge: u64,
        worker_operator: address,
        worker_amount: u64,
        checkers: vector<address>,
        checker_amount: u64,
        treasury: address,
        treasury_amount: u64,
    ): TaskSettled {
        TaskSettled {
            job_id,
            task_id,
            node_id,
            charge,
            worker_operator,
            worker_amount,
            checkers,
            checker_amount,
            treasury,
            treasury_amount,
        }
    }

    #[test_only]
    /// (ids of ASSIGNED tasks ascending, number of SUBMITTED/VERIFIED/DISPUTED tasks).
    public fun job_tracking_for_test(job_id: u64): (vector<u64>, u64) acquires Escrow {
        let j = borrow_job(borrow_global<Escrow>(@pictor), job_id);
        (j.assigned, j.in_flight)
    }

    #[test_only]
    /// PICTOR held by the job's store.
    public fun job_store_balance_for_test(job_id: u64): u64 acquires Escrow {
        token::store_balance(borrow_job(borrow_global<Escrow>(@pictor), job_id).store)
    }

    #[test_only]
    /// Address of the escrow root object that creates and owns the job stores.
    public fun root_address_for_test(): address acquires EscrowRoot {
        object::address_from_extend_ref(&borrow_global<EscrowRoot>(@pictor).extend_ref)
    }
}
