/// Checker verdicts. A staked, active checker node attests a worker's submitted result hash;
/// at quorum of passes the task is verified (and paid after the review window), at quorum of
/// fails it goes back to the queue and the worker node gets a strike (slashed at
/// `config::max_strikes`). A checker that cannot decide abstains: its operator's vote is used and
/// the coordinator may requeue the task without a strike. A disputed task is decided by another
/// checker; the loser is slashed. No state of its own: the verdicts live in the escrow task.
module pictor::attestation {
    use std::signer;
    use std::vector;
    use aptos_framework::event;
    use pictor::config;
    use pictor::escrow;
    use pictor::registry;
    use pictor::staking;

    /// The signer is not an active checker node.
    const E_NOT_CHECKER: u64 = 1;
    /// The checker's operator has too little stake.
    const E_INSUFFICIENT_STAKE: u64 = 2;
    /// A checker cannot judge work its own operator or its attesters did.
    const E_CONFLICT_OF_INTEREST: u64 = 3;
    /// This node, or another node of the same operator, already attested this task.
    const E_ALREADY_ATTESTED: u64 = 4;
    /// The result hash is not the one the worker submitted.
    const E_RESULT_MISMATCH: u64 = 5;
    /// Hashes must be 32 bytes.
    const E_INVALID_HASH: u64 = 6;
    /// The task is not awaiting this verdict.
    const E_BAD_TASK_STATE: u64 = 7;

    const ROLE_WORKER: u8 = 1;
    const ROLE_CHECKER: u8 = 2;
    const STATE_SUBMITTED: u8 = 2;
    const STATE_DISPUTED: u8 = 5;
    const REASON_LOST_DISPUTE: u8 = 2;
    const REASON_TOO_MANY_STRIKES: u8 = 3;
    const BPS_DENOMINATOR: u128 = 10000;
    const HASH_LENGTH: u64 = 32;

    #[event]
    struct Attested has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        operator: address,
        attempt: u64,
        result_hash: vector<u8>,
        pass: bool,
        evidence_hash: vector<u8>,
    }

    #[event]
    struct Abstained has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        operator: address,
        attempt: u64,
        result_hash: vector<u8>,
        evidence_hash: vector<u8>,
    }

    #[event]
    struct DisputeResolved has drop, store {
        job_id: u64,
        task_id: u64,
        node_id: u64,
        upheld: bool,
        evidence_hash: vector<u8>,
    }

    /// Nothing to initialize; present so that every module of the package has the same life cycle.
    fun init_module(_pictor: &signer) {}

    #[test_only]
    public fun init_for_test(pictor: &signer) {
        init_module(pictor)
    }

    // ---------------------------------------------------------------------------------------
    // Entry functions
    // ---------------------------------------------------------------------------------------

    /// Checker node: judge the worker's submitted result of a task.
    public entry fun attest(
        checker: &signer,
        job_id: u64,
        task_id: u64,
        result_hash: vector<u8>,
        pass: bool,
        evidence_hash: vector<u8>,
    ) {
        let (node_id, operator, worker_node_id, worker_operator, attempt) =
            check_vote(checker, job_id, task_id, &result_hash, &evidence_hash);
        event::emit(Attested {
            job_id,
            task_id,
            node_id,
            operator,
            attempt,
            result_hash,
            pass,
            evidence_hash,
        });
        let failed = escrow::record_attestation(job_id, task_id, node_id, operator, pass);
        if (failed) {
            let strikes = registry::strike(worker_node_id);
            if (strikes >= config::max_strikes()) {
                slash_share(worker_operator, ROLE_WORKER, REASON_TOO_MANY_STRIKES, job_id, task_id);
            };
        };
    }

    /// Checker node: it could not decide the worker's submitted result of a task. The abstention is
    /// neither a pass nor a fail; it uses the operator's vote on this attempt and lets the
    /// coordinator `escrow::requeue_unverified` the task.
    public entry fun abstain(
        checker: &signer,
        job_id: u64,
        task_id: u64,
        result_hash: vector<u8>,
        evidence_hash: vector<u8>,
    ) {
        let (node_id, operator, _, _, attempt) =
            check_vote(checker, job_id, task_id, &result_hash, &evidence_hash);
        event::emit(Abstained {
            job_id,
            task_id,
            node_id,
            operator,
            attempt,
            result_hash,
            evidence_hash,
        });
        escrow::record_abstention(job_id, task_id, node_id);
    }

    /// Checker node (neither the worker's operator nor a passer): decide a disputed task.
    /// Upheld: the worker operator and every passer are slashed, the task is requeued unpaid.
    /// Not upheld: the task is settled.
    public entry fun resolve_dispute(
        checker: &signer,
        job_id: u64,
        task_id: u64,
        uphold: bool,
        evidence_hash: vector<u8>,
    ) {
        let (node_id, operator) = checker_identity(checker);
        assert!(vector::length(&evidence_hash) == HASH_LENGTH, E_INVALID_HASH);
        let (state, _, worker_operator, _, _, _, passers) = escrow::attestation_context(job_id, task_id, false);
        assert!(state == STATE_DISPUTED, E_BAD_TASK_STATE);
        assert!(
            operator != worker_operator && !vector::contains(&passers, &operator),
            E_CONFLICT_OF_INTEREST
        );
        event::emit(DisputeResolved { job_id, task_id, node_id, upheld: uphold, evidence_hash });
        if (uphold) {
            slash_share(worker_operator, ROLE_WORKER, REASON_LOST_DISPUTE, job_id, task_id);
            let i = 0;
            let len = vector::length(&passers);
            while (i < len) {
                slash_share(*vector::borrow(&passers, i), ROLE_CHECKER, REASON_LOST_DISPUTE, job_id, task_id);
                i = i + 1;
            };
            escrow::requeue_disputed(job_id, task_id);
        } else {
            escrow::settle_disputed(job_id, task_id);
        };
    }

    // ---------------------------------------------------------------------------------------
    // Internal
    // ---------------------------------------------------------------------------------------

    /// (node_id, operator) of the signer's checker node. Aborts with `E_NOT_CHECKER` unless the
    /// signer's account is the current account of an active checker node, and with
    /// `E_INSUFFICIENT_STAKE` unless its operator's active checker stake is at least
    /// `config::min_checker_stake`.
    fun checker_identity(checker: &signer): (u64, address) {
        let node_id = registry::node_of_account(signer::address_of(checker));
        assert!(node_id != 0, E_NOT_CHECKER);
        let (operator, role, _, _, active, _) = registry::node(node_id);
        assert!(active && role == ROLE_CHECKER, E_NOT_CHECKER);
        let (active_stake, _) = staking::stake_of(operator, ROLE_CHECKER);
        assert!(active_stake >= config::min_checker_stake(), E_INSUFFICIENT_STAKE);
        (node_id, operator)
    }

    /// The checks of a vote (`attest` or `abstain`), in order: checker identity and stake, both
    /// hashes 32 bytes, the task (escrow aborts, then SUBMITTED), no conflict of interest, one vote
    /// per operator, the worker's result hash. Returns (node_id, operator, worker_node_id,
    /// worker_operator, attempt).
    fun check_vote(
        checker: &signer,
        job_id: u64,
        task_id: u64,
        result_hash: &vector<u8>,
        evidence_hash: &vector<u8>,
    ): (u64, address, u64, address, u64) {
        let (node_id, operator) = checker_identity(checker);
        assert!(
            vector::length(result_hash) == HASH_LENGTH && vector::length(evidence_hash) == HASH_LENGTH,
            E_INVALID_HASH
        );
        let (state, worker_node_id, worker_operator, attempt, submitted_hash, attesters, _) =
            escrow::attestation_context(job_id, task_id, true);
        assert!(state == STATE_SUBMITTED, E_BAD_TASK_STATE);
        assert!(operator != worker_operator, E_CONFLICT_OF_INTEREST);
        // One vote per operator: a farm of checker nodes must not reach quorum on its own.
        assert!(
            !vector::contains(&attesters, &node_id) && !operator_attested(&attesters, operator),
            E_ALREADY_ATTESTED
        );
        assert!(*result_hash == submitted_hash, E_RESULT_MISMATCH);
        (node_id, operator, worker_node_id, worker_operator, attempt)
    }

    /// Whether any of the `attesters` (node ids) belongs to `operator`.
    fun operator_attested(attesters: &vector<u64>, operator: address): bool {
        let i = 0;
        let len = vector::length(attesters);
        while (i < len) {
            let (node_operator, _, _, _, _, _) = registry::node(*vector::borrow(attesters, i));
            if (node_operator == operator) return true;
            i = i + 1;
        };
        false
    }

    /// Slash `config::slash_bps` of `operator`'s active stake of `role`.
    fun slash_share(operator: address, role: u8, reason: u8, job_id: u64, task_id: u64) {
        let (active_stake, _) = staking::stake_of(operator, role);
        let amount = (((active_stake as u128) * (config::slash_bps() as u128) / BPS_DENOMINATOR) as u64);
        staking::slash_stake(operator, role, amount, reason, job_id, task_id);
    }

    // ---------------------------------------------------------------------------------------
    // Test-only helpers
    // ---------------------------------------------------------------------------------------

    #[test_only]
    /// An `Abstained` event with these fields, to compare with the emitted ones.
    public fun abstained_event_for_test(
        job_id: u64,
        task_id: u64,
        node_id: u64,
        operator: address,
        attempt: u64,
        result_hash: vector<u8>,
        evidence_hash: vector<u8>,
    ): Abstained {
        Abstained { job_id, task_id, node_id, operator, attempt, result_hash, evidence_hash }
    }
}
