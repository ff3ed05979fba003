#[test_only]
module pictor::attestation_tests {
    use std::vector;
    use aptos_framework::event;
    use pictor::attestation;
    use pictor::escrow;
    use pictor::registry;
    use pictor::staking;
    use pictor::test_helpers as h;

    // ================================================================ attest: pass

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun pass_at_quorum_opens_review_window(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 1, true);
        let (state, _, _, _, charge, attempt, deadline, passes) = escrow::task(job_id, 1);
        assert!(state == h::verified(), 1);
        assert!(charge == 1_234 && attempt == 1, 2);
        assert!(deadline == h::now() + 86400, 3);
        assert!(passes == 1, 4);
        // verification alone pays nothing
        assert!(h::job_spent(job_id) == 0 && h::job_reserved(job_id) == 2_000, 5);
        assert!(h::vault_balance(@0x3001) == 0 && h::vault_balance(@0x4001) == 0, 6);
        assert!(vector::length(&event::emitted_events<attestation::Attested>()) == 1, 7);
        assert!(vector::length(&event::emitted_events<escrow::TaskVerified>()) == 1, 8);
        assert!(vector::length(&event::emitted_events<escrow::TaskSettled>()) == 0, 9);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun pass_settles_at_once_without_review_window(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 1, 0);
        h::attest(&checker, job_id, 1, true);
        let (state, _, _, _, _, _, deadline, _) = escrow::task(job_id, 1);
        assert!(state == h::settled(), 1);
        // it still passed through VERIFIED, with review_deadline = now (SPEC Decisions)
        assert!(deadline == h::now(), 10);
        assert!(h::vault_balance(@0x3001) == 740, 2);
        assert!(h::vault_balance(@0x4001) == 123, 3);
        assert!(h::vault_balance(@0x7ea5) == 371, 4);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 5);
        assert!(vector::length(&event::emitted_events<escrow::TaskVerified>()) == 1, 6);
        assert!(vector::length(&event::emitted_events<escrow::TaskSettled>()) == 1, 7);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun quorum_two_splits_checker_share_among_passers(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::attest(&checker, job_id, 1, true);
        let (state, _, _, _, _, _, _, passes) = escrow::task(job_id, 1);
        assert!(state == h::submitted() && passes == 1, 1);
        h::attest(&checker2, job_id, 1, true);
        let (state, _, _, _, _, _, _, passes) = escrow::task(job_id, 1);
        assert!(state == h::verified() && passes == 2, 2);
        escrow::accept_task(alice, job_id, 1);
        // 1_234: worker 740, checker total 123 -> 61 each, treasury 1_234 - 740 - 122 = 372
        assert!(h::vault_balance(@0x3001) == 740, 3);
        assert!(h::vault_balance(@0x4001) == 61, 4);
        assert!(h::vault_balance(@0x4002) == 61, 5);
        assert!(h::vault_balance(@0x7ea5) == 372, 6);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun quorum_two_pays_only_passers(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        let (_cid3, checker3) = h::add_checker(pictor, &h::acct(@0x4003));
        h::attest(&checker, job_id, 1, true);
        h::attest(&checker2, job_id, 1, false);
        assert!(h::task_state(job_id, 1) == h::submitted(), 1);
        h::attest(&checker3, job_id, 1, true);
        assert!(h::task_state(job_id, 1) == h::verified(), 2);
        escrow::accept_task(alice, job_id, 1);
        assert!(h::vault_balance(@0x4001) == 61, 3);
        assert!(h::vault_balance(@0x4002) == 0, 4);
        assert!(h::vault_balance(@0x4003) == 61, 5);
        assert!(h::vault_balance(@0x7ea5) == 372, 6);
        h::assert_conservation();
    }

    // ================================================================ attest: fail, strikes

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun fail_at_quorum_requeues_and_strikes(fx: &signer, pictor: &signer) {
        let (job_id, wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 1, false);
        assert!(h::task_state(job_id, 1) == h::queued(), 1);
        assert!(h::job_reserved(job_id) == 0 && h::job_spent(job_id) == 0, 2);
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 1, 3);
        // one strike is not a slash
        assert!(h::active_stake(@0x3001, 1) == h::min_stake(), 4);
        assert!(h::vault_balance(@0x7ea5) == 0, 5);
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 1, 6);
        assert!(vector::length(&event::emitted_events<registry::NodeStruck>()) == 1, 7);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 0, 8);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun quorum_two_fails_requeue(fx: &signer, pictor: &signer) {
        let (job_id, wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::attest(&checker, job_id, 1, false);
        assert!(h::task_state(job_id, 1) == h::submitted(), 1);
        h::attest(&checker2, job_id, 1, false);
        assert!(h::task_state(job_id, 1) == h::queued(), 2);
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 1, 3);
        h::assert_conservation();
    }

    /// One failed attempt of task 1 by the worker: assign, submit, fail.
    fun failed_round(job_id: u64, wid: u64, worker: &signer, checker: &signer) {
        h::assign(job_id, 1, wid);
        h::submit(worker, job_id, 1);
        h::attest(checker, job_id, 1, false);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun strikes_slash_at_max_strikes(fx: &signer, pictor: &signer) {
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 1, false);                  // strike 1
        failed_round(job_id, wid, &worker, &checker);           // strike 2
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 2, 1);
        assert!(h::active_stake(@0x3001, 1) == h::min_stake(), 2);
        failed_round(job_id, wid, &worker, &checker);           // strike 3 = max_strikes -> slash 10%
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 3, 3);
        assert!(h::active_stake(@0x3001, 1) == h::min_stake() - h::default_slash(), 4);
        assert!(h::vault_balance(@0x7ea5) == h::default_slash(), 5);
        let (_, _, _, _, _, attempt, _, _) = escrow::task(job_id, 1);
        assert!(attempt == 3, 6);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 1, 7);
        assert!(h::job_spent(job_id) == 0, 8);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun strikes_past_max_strikes_slash_again(fx: &signer, pictor: &signer) {
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 1, false);
        failed_round(job_id, wid, &worker, &checker);
        failed_round(job_id, wid, &worker, &checker);              // slash 1: 100 -> 90 PICTOR
        // let the slashed worker keep working so that it can fail once more
        h::set_min_worker_stake(pictor, 0);
        failed_round(job_id, wid, &worker, &checker);              // strike 4 >= 3: slash 10% of 90
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 4, 1);
        assert!(h::active_stake(@0x3001, 1) == 81_00000000, 2);
        assert!(h::vault_balance(@0x7ea5) == 19_00000000, 3);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 2, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 14, location = pictor::escrow)]
    fun slashed_worker_is_no_longer_eligible(fx: &signer, pictor: &signer) {
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 1, false);
        failed_round(job_id, wid, &worker, &checker);
        failed_round(job_id, wid, &worker, &checker);
        h::assign(job_id, 1, wid);
    }

    // ================================================================ resolve_dispute

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun dispute_upheld_slashes_and_requeues(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 1, true, h::hash32(50));
        assert!(h::task_state(job_id, 1) == h::queued(), 1);
        // worker and the passer lose slash_bps (10%) of their active stake of that role
        assert!(h::active_stake(@0x3001, 1) == h::min_stake() - h::default_slash(), 2);
        assert!(h::active_stake(@0x4001, 2) == h::min_stake() - h::default_slash(), 3);
        assert!(h::active_stake(@0x4002, 2) == h::min_stake(), 4);
        assert!(h::vault_balance(@0x7ea5) == 2 * h::default_slash(), 5);
        // no charge, reservation released
        assert!(h::job_spent(job_id) == 0 && h::job_reserved(job_id) == 0, 6);
        assert!(h::vault_balance(@0x3001) == 0 && h::vault_balance(@0x4001) == 0, 7);
        assert!(vector::length(&event::emitted_events<attestation::DisputeResolved>()) == 1, 8);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 2, 9);
        h::assert_conservation();

        // the frame is re-rendered by another worker and verified by a checker that still has stake
        let (wid2, worker2) = h::add_worker(pictor, &h::acct(@0x3002));
        h::assign(job_id, 1, wid2);
        h::submit(&worker2, job_id, 1);
        h::attest(&checker2, job_id, 1, true);
        escrow::accept_task(alice, job_id, 1);
        assert!(h::vault_balance(@0x3002) == 740, 10);
        assert!(h::vault_balance(@0x4002) == 123, 11);
        assert!(h::vault_balance(@0x7ea5) == 2 * h::default_slash() + 371, 12);
        let (_, _, _, _, _, attempt, _, _) = escrow::task(job_id, 1);
        assert!(attempt == 2, 13);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun dispute_upheld_slashes_every_passer(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        let (_cid3, checker3) = h::add_checker(pictor, &h::acct(@0x4003));
        h::attest(&checker, job_id, 1, true);
        h::attest(&checker2, job_id, 1, true);
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker3, job_id, 1, true, h::hash32(50));
        assert!(h::active_stake(@0x3001, 1) == h::min_stake() - h::default_slash(), 1);
        assert!(h::active_stake(@0x4001, 2) == h::min_stake() - h::default_slash(), 2);
        assert!(h::active_stake(@0x4002, 2) == h::min_stake() - h::default_slash(), 3);
        assert!(h::active_stake(@0x4003, 2) == h::min_stake(), 4);
        assert!(h::vault_balance(@0x7ea5) == 3 * h::default_slash(), 5);
        assert!(h::task_state(job_id, 1) == h::queued(), 6);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun dispute_rejected_settles(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 1, false, h::hash32(50));
        assert!(h::task_state(job_id, 1) == h::settled(), 1);
        // the original passer is paid, not the resolver; nobody is slashed
        assert!(h::vault_balance(@0x3001) == 740, 2);
        assert!(h::vault_balance(@0x4001) == 123, 3);
        assert!(h::vault_balance(@0x4002) == 0, 4);
        assert!(h::vault_balance(@0x7ea5) == 371, 5);
        assert!(h::active_stake(@0x3001, 1) == h::min_stake(), 6);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 0, 7);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 8);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun dispute_rejected_after_deadline_still_settles(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        h::advance(3 * 86400);
        attestation::resolve_dispute(&checker2, job_id, 1, false, h::hash32(50));
        assert!(h::task_state(job_id, 1) == h::settled(), 1);
        h::assert_conservation();
    }

    // ================================================================ attest: aborts

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun attest_by_worker_node(fx: &signer, pictor: &signer) {
        let (job_id, _wid, worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::attest(&worker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun attest_by_operator_account(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::attest(&h::acct(@0x4001), job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun attest_by_deregistered_checker(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, cid, checker) = h::submitted_scenario(fx, pictor);
        registry::deregister_node(&h::acct(@0x4001), cid);
        h::attest(&checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun attest_with_retired_checker_key(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, cid, checker) = h::submitted_scenario(fx, pictor);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(&h::acct(@0x4001), cid, pk, h::registration_proof(&sk, @0x4001, 2, pk));
        h::attest(&checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::attestation)]
    fun attest_with_too_little_stake(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        staking::request_unstake(&h::acct(@0x4001), 2, 1);
        h::attest(&checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::attestation)]
    fun attest_short_result_hash(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let short = h::result_hash();
        vector::pop_back(&mut short);
        attestation::attest(&checker, job_id, 1, short, true, h::hash32(200));
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::attestation)]
    fun attest_long_evidence_hash(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let long = h::hash32(200);
        vector::push_back(&mut long, 0);
        attestation::attest(&checker, job_id, 1, h::result_hash(), true, long);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun attest_unknown_job(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id + 1, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::escrow)]
    fun attest_closed_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_cid, checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::close_job(alice, job_id);
        h::attest(&checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun attest_unknown_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 2, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::attestation)]
    fun attest_task_not_submitted(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_cid, checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::attest(&checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::attestation)]
    fun attest_verified_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::attest(&checker2, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::attestation)]
    fun attest_own_operators_work(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        // the worker's operator also runs a staked checker node
        let (_own_cid, own_checker) = h::add_checker(pictor, &h::acct(@0x3001));
        h::attest(&own_checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun attest_twice(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        h::attest(&checker, job_id, 1, true);
        h::attest(&checker, job_id, 1, false);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun attest_twice_through_another_node_of_the_operator(fx: &signer, pictor: &signer) {
        // one vote per operator: a farm of checker nodes cannot reach quorum on its own
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid_b, checker_b) = h::register(&h::acct(@0x4001), 2);
        h::attest(&checker, job_id, 1, true);
        h::attest(&checker_b, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun next_attempt_accepts_the_same_checker_again(fx: &signer, pictor: &signer) {
        // attesters are per attempt: after a failed attempt the same checker judges the next one
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::attest(&checker, job_id, 1, false);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id, 1);
        h::attest(&checker, job_id, 1, true);
        let (state, _, _, _, _, attempt, _, passes) = escrow::task(job_id, 1);
        assert!(state == h::verified() && attempt == 2 && passes == 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 5, location = pictor::attestation)]
    fun attest_other_result_hash(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        attestation::attest(&checker, job_id, 1, h::hash32(9), true, h::hash32(200));
    }

    // ================================================================ abstain

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun abstain_records_the_vote_without_a_verdict(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        assert!(event::was_event_emitted(&attestation::abstained_event_for_test(
            job_id, 1, cid, @0x4001, 1, h::result_hash(), h::hash32(200)
        )), 1);
        assert!(vector::length(&event::emitted_events<attestation::Abstained>()) == 1, 2);
        // neither a pass nor a fail: the task waits, nothing is paid, requeued or struck
        let (state, _, _, _, charge, attempt, deadline, passes) = escrow::task(job_id, 1);
        assert!(state == h::submitted() && charge == 1_234 && attempt == 1, 3);
        assert!(deadline == 0 && passes == 0, 4);
        let (_, _, attesters, passers, fail_count) = escrow::task_details_for_test(job_id, 1);
        assert!(attesters == vector[cid] && vector::is_empty(&passers) && fail_count == 0, 5);
        let (unsure_count, submitted_at) = escrow::unverifiable_details_for_test(job_id, 1);
        assert!(unsure_count == 1 && submitted_at == h::now(), 6);
        assert!(h::job_spent(job_id) == 0 && h::job_reserved(job_id) == 2_000, 7);
        assert!(vector::length(&event::emitted_events<attestation::Attested>()) == 0, 8);
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 0, 9);
        assert!(vector::length(&event::emitted_events<registry::NodeStruck>()) == 0, 10);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun abstain_leaves_the_verdict_to_other_operators(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, cid, checker) = h::submitted_scenario(fx, pictor);
        let (cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::abstain(&checker, job_id, 1);
        // quorum 1: the abstention does not count towards it, the next pass does
        h::attest(&checker2, job_id, 1, true);
        let (state, _, _, _, _, _, _, passes) = escrow::task(job_id, 1);
        assert!(state == h::verified() && passes == 1, 1);
        let (_, _, attesters, passers, _) = escrow::task_details_for_test(job_id, 1);
        assert!(attesters == vector[cid, cid2] && passers == vector[@0x4002], 2);
        escrow::accept_task(alice, job_id, 1);
        // only the passer shares the checker cut
        assert!(h::vault_balance(@0x4001) == 0, 3);
        assert!(h::vault_balance(@0x4002) == 123, 4);
        assert!(h::vault_balance(@0x3001) == 740 && h::vault_balance(@0x7ea5) == 371, 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun two_abstentions_leave_the_task_submitted(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::abstain(&checker, job_id, 1);
        h::abstain(&checker2, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::submitted(), 1);
        let (unsure_count, _) = escrow::unverifiable_details_for_test(job_id, 1);
        assert!(unsure_count == 2, 2);
        assert!(vector::length(&event::emitted_events<attestation::Abstained>()) == 2, 3);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun next_attempt_accepts_the_abstaining_checker_again(fx: &signer, pictor: &signer) {
        // the abstention belongs to its attempt: after requeue_unverified the checker judges the next one
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id, 1);
        h::attest(&checker, job_id, 1, true);
        let (state, _, _, _, _, attempt, _, passes) = escrow::task(job_id, 1);
        assert!(state == h::verified() && attempt == 2 && passes == 1, 1);
        h::assert_conservation();
    }

    // ================================================================ abstain: aborts (the checks of attest)

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun abstain_by_worker_node(fx: &signer, pictor: &signer) {
        let (job_id, _wid, worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&worker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun abstain_by_deregistered_checker(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, cid, checker) = h::submitted_scenario(fx, pictor);
        registry::deregister_node(&h::acct(@0x4001), cid);
        h::abstain(&checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun abstain_checks_the_checker_before_the_hashes(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        attestation::abstain(&h::acct(@0x4001), job_id, 1, x"00", x"00");
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::attestation)]
    fun abstain_with_too_little_stake(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        staking::request_unstake(&h::acct(@0x4001), 2, 1);
        h::abstain(&checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::attestation)]
    fun abstain_short_result_hash(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let short = h::result_hash();
        vector::pop_back(&mut short);
        attestation::abstain(&checker, job_id, 1, short, h::hash32(200));
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::attestation)]
    fun abstain_long_evidence_hash(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let long = h::hash32(200);
        vector::push_back(&mut long, 0);
        attestation::abstain(&checker, job_id, 1, h::result_hash(), long);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 6, location = pictor::attestation)]
    fun abstain_checks_the_hashes_before_the_job(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        attestation::abstain(&checker, job_id + 1, 1, h::result_hash(), x"00");
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun abstain_unknown_job(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id + 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::escrow)]
    fun abstain_closed_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_cid, checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::close_job(alice, job_id);
        h::abstain(&checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun abstain_unknown_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::attestation)]
    fun abstain_task_not_submitted(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_cid, checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::abstain(&checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::attestation)]
    fun abstain_verified_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::abstain(&checker2, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::attestation)]
    fun abstain_requeued_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        h::abstain(&checker2, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 3, location = pictor::attestation)]
    fun abstain_on_own_operators_work(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        let (_own_cid, own_checker) = h::add_checker(pictor, &h::acct(@0x3001));
        h::abstain(&own_checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun abstain_twice(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        h::abstain(&checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun attest_after_abstaining(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        h::attest(&checker, job_id, 1, true);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun abstain_after_attesting(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        h::attest(&checker, job_id, 1, true);
        h::abstain(&checker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun attest_after_another_node_of_the_operator_abstained(fx: &signer, pictor: &signer) {
        // an abstention uses the operator's vote: its other checker nodes cannot vote on this attempt
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let (_cid_b, checker_b) = h::register(&h::acct(@0x4001), 2);
        h::abstain(&checker, job_id, 1);
        h::attest(&checker_b, job_id, 1, false);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun abstain_after_another_node_of_the_operator_abstained(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let (_cid_b, checker_b) = h::register(&h::acct(@0x4001), 2);
        h::abstain(&checker, job_id, 1);
        h::abstain(&checker_b, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 4, location = pictor::attestation)]
    fun abstain_after_another_node_of_the_operator_attested(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid_b, checker_b) = h::register(&h::acct(@0x4001), 2);
        h::attest(&checker, job_id, 1, true);
        h::abstain(&checker_b, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 5, location = pictor::attestation)]
    fun abstain_other_result_hash(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        attestation::abstain(&checker, job_id, 1, h::hash32(9), h::hash32(200));
    }

    // ================================================================ resolve_dispute: aborts

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::attestation)]
    fun resolve_by_worker_node(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_wid2, worker2) = h::add_worker(pictor, &h::acct(@0x3002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&worker2, job_id, 1, true, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::attestation)]
    fun resolve_with_too_little_stake(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let op2 = h::acct(@0x4002);
        h::stake(pictor, &op2, 2, h::min_stake() - 1);
        let (_cid2, checker2) = h::register(&op2, 2);
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 1, true, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 6, location = pictor::attestation)]
    fun resolve_short_evidence_hash(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 1, true, x"00");
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun resolve_unknown_job(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id + 1, 1, true, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun resolve_unknown_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 2, true, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::attestation)]
    fun resolve_undisputed_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        attestation::resolve_dispute(&checker2, job_id, 1, true, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::attestation)]
    fun resolve_by_a_passer(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker, job_id, 1, false, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::attestation)]
    fun resolve_by_another_node_of_a_passer(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        // passers are operators: a second checker node of the same operator is still conflicted
        let (_cid_b, checker_b) = h::register(&h::acct(@0x4001), 2);
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker_b, job_id, 1, false, h::hash32(50));
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::attestation)]
    fun resolve_by_the_workers_operator(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_own_cid, own_checker) = h::add_checker(pictor, &h::acct(@0x3001));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&own_checker, job_id, 1, false, h::hash32(50));
    }
}
