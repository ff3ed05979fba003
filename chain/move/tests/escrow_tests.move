#[test_only]
module pictor::escrow_tests {
    use std::vector;
    use aptos_framework::event;
    use pictor::attestation;
    use pictor::config;
    use pictor::escrow;
    use pictor::registry;
    use pictor::staking;
    use pictor::test_helpers as h;
    use pictor::token;
    use pictor::vault;

    // ================================================================ open_job

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun open_job_locks_budget_in_its_store(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 100_000);
        assert!(escrow::next_job_id() == 1, 1);
        let job_id = h::open_job(alice, 10_000, 1_000);
        assert!(job_id == 1, 2);
        let (creator, budget, credit_in, spent, reserved, price, closed) = escrow::job(job_id);
        assert!(creator == @0xa11ce, 3);
        assert!(budget == 10_000 && credit_in == 0 && spent == 0 && reserved == 0, 4);
        assert!(price == 1_000 && !closed, 5);
        assert!(escrow::job_store(job_id) == h::escrow_store(job_id), 6);
        assert!(escrow::root_address_for_test() == h::escrow_root(), 12);
        assert!(escrow::job_store_balance_for_test(job_id) == 10_000, 13);
        assert!(h::store_balance(h::escrow_store(job_id)) == 10_000, 7);
        assert!(h::vault_balance(@0xa11ce) == 90_000, 8);
        assert!(escrow::next_job_id() == 2, 9);
        let job2 = h::open_job(alice, 1, 1);
        assert!(job2 == 2, 10);
        assert!(h::store_balance(h::escrow_store(job2)) == 1, 11);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun open_job_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 100_000);
        config::set_paused(pictor, true);
        escrow::open_job(alice, 10_000, 1_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::escrow)]
    fun open_job_zero_budget(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 100_000);
        escrow::open_job(alice, 0, 1_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 15, location = pictor::escrow)]
    fun open_job_zero_price(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 100_000);
        escrow::open_job(alice, 10_000, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::vault)]
    fun open_job_without_funds(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        h::fund(pictor, alice, 9_999);
        escrow::open_job(alice, 10_000, 1_000);
    }

    // ================================================================ top_up

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun top_up_adds_budget_credit_first(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 2_000, 0, h::now() + 10);
        escrow::top_up(alice, job_id, 5_000);
        let (_, budget, credit_in, _, _, _, _) = escrow::job(job_id);
        assert!(budget == 15_000, 1);
        assert!(credit_in == 2_000, 2);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 100_000 - 10_000 - 3_000, 3);
        assert!(h::store_balance(h::escrow_store(job_id)) == 15_000, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun top_up_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        config::set_paused(pictor, true);
        escrow::top_up(alice, job_id, 5_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun top_up_unknown_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::top_up(alice, job_id + 1, 5_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 3, location = pictor::escrow)]
    fun top_up_not_creator(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        h::fund(pictor, bob, 10_000);
        escrow::top_up(bob, job_id, 5_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::escrow)]
    fun top_up_closed_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::close_job(alice, job_id);
        escrow::top_up(alice, job_id, 5_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::escrow)]
    fun top_up_zero(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::top_up(alice, job_id, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 3, location = pictor::vault)]
    fun top_up_without_funds(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::top_up(alice, job_id, 90_001);
    }

    // ================================================================ assign_task

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun assign_reserves_the_quote(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        let (state, node_id, quote, result_hash, charge, attempt, deadline, passes) = escrow::task(job_id, 1);
        assert!(state == h::assigned(), 1);
        assert!(node_id == wid && quote == 2_000, 2);
        assert!(vector::is_empty(&result_hash), 3);
        assert!(charge == 0 && attempt == 1 && deadline == 0 && passes == 0, 4);
        assert!(h::job_reserved(job_id) == 2_000, 5);
        // task ids are chosen by the coordinator
        escrow::assign_task(&h::coordinator(), job_id, 42, wid, 8_000);
        assert!(h::job_reserved(job_id) == 10_000, 6);
        assert!(h::task_state(job_id, 42) == h::assigned(), 7);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun assign_paused(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        config::set_paused(pictor, true);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::escrow)]
    fun assign_not_coordinator(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        escrow::assign_task(alice, job_id, 1, wid, 2_000);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun assign_unknown_job(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        h::assign(1, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::escrow)]
    fun assign_closed_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        escrow::close_job(alice, job_id);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 1, location = pictor::escrow)]
    fun assign_zero_quote(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        escrow::assign_task(&h::coordinator(), job_id, 1, wid, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun assign_already_assigned(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun assign_verified_task(fx: &signer, pictor: &signer) {
        let (job_id, wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 14, location = pictor::escrow)]
    fun assign_to_checker_node(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (cid, _checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, cid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 14, location = pictor::escrow)]
    fun assign_to_unknown_node(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, 99);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 14, location = pictor::escrow)]
    fun assign_to_deregistered_worker(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let op = h::acct(@0x3001);
        let (wid, _worker) = h::add_worker(pictor, &op);
        registry::deregister_node(&op, wid);
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 14, location = pictor::escrow)]
    fun assign_to_understaked_worker(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let op = h::acct(@0x3001);
        h::stake(pictor, &op, 1, h::min_stake() - 1);
        // checker stake does not count for the worker role
        h::stake(pictor, &op, 2, h::min_stake());
        let (wid, _worker) = h::register(&op, 1);
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 14, location = pictor::escrow)]
    fun assign_to_worker_with_stake_unbonding(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let op = h::acct(@0x3001);
        let (wid, _worker) = h::add_worker(pictor, &op);
        staking::request_unstake(&op, 1, 1);
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 6, location = pictor::escrow)]
    fun assign_quote_above_budget(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        escrow::assign_task(&h::coordinator(), job_id, 1, wid, 10_001);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 6, location = pictor::escrow)]
    fun assign_quote_above_available(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);                                          // reserved 2_000
        escrow::assign_task(&h::coordinator(), job_id, 2, wid, 8_001);      // available 8_000
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun job_pauses_until_top_up(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        h::fund(pictor, alice, 10_000);
        let job_id = h::open_job(alice, 3_000, 1_000);
        h::assign(job_id, 1, wid);                                          // available 1_000 now
        // the next 2_000 quote does not fit until the creator tops up
        escrow::top_up(alice, job_id, 1_000);
        h::assign(job_id, 2, wid);
        assert!(h::job_reserved(job_id) == 4_000, 1);
        h::assert_conservation();
    }

    // ================================================================ requeue_task

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun requeue_releases_reservation(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (wid2, _worker2) = h::add_worker(pictor, &h::acct(@0x3002));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::requeue_task(&h::coordinator(), job_id, 1);
        // only the state changes; the last attempt's fields stay until the next assignment
        let (state, node_id, quote, _, _, attempt, _, _) = escrow::task(job_id, 1);
        assert!(state == h::queued() && node_id == wid && quote == 2_000 && attempt == 1, 1);
        assert!(h::job_reserved(job_id) == 0, 2);
        h::assign(job_id, 1, wid2);
        let (state, node_id, _, _, _, attempt, _, _) = escrow::task(job_id, 1);
        assert!(state == h::assigned() && node_id == wid2 && attempt == 2, 3);
        assert!(h::job_reserved(job_id) == 2_000, 4);
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 1, 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::escrow)]
    fun requeue_not_coordinator(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::requeue_task(alice, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun requeue_unknown_job(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        escrow::requeue_task(&h::coordinator(), 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun requeue_unknown_task(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::requeue_task(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun requeue_submitted_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        escrow::requeue_task(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun requeue_queued_task(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::requeue_task(&h::coordinator(), job_id, 1);
        escrow::requeue_task(&h::coordinator(), job_id, 1);
    }

    // ================================================================ requeue_unverified

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun requeue_unverified_after_an_abstention(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        let (unsure_count, submitted_at) = escrow::unverifiable_details_for_test(job_id, 1);
        assert!(unsure_count == 0 && submitted_at == h::now(), 1);
        h::abstain(&checker, job_id, 1);
        // at once: the abstention is enough, no need to wait for the window
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        let (state, node_id, quote, _, _, attempt, _, _) = escrow::task(job_id, 1);
        assert!(state == h::queued() && node_id == wid && quote == 2_000 && attempt == 1, 2);
        // reservation released, no charge, no strike, no slash
        assert!(h::job_reserved(job_id) == 0 && h::job_spent(job_id) == 0, 3);
        let (assigned, in_flight) = escrow::job_tracking_for_test(job_id);
        assert!(vector::is_empty(&assigned) && in_flight == 0, 4);
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 0, 5);
        assert!(h::vault_balance(@0x3001) == 0 && h::vault_balance(@0x4001) == 0, 6);
        assert!(h::vault_balance(@0x7ea5) == 0 && h::active_stake(@0x3001, 1) == h::min_stake(), 7);
        assert!(event::was_event_emitted(&escrow::task_requeued_event_for_test(job_id, 1, wid, 5)), 8);
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 1, 9);
        assert!(vector::length(&event::emitted_events<registry::NodeStruck>()) == 0, 10);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 0, 11);
        h::assert_conservation();

        // the task is assigned again (to the same, unpunished worker) and the new attempt settles
        h::advance(60);
        h::assign(job_id, 1, wid);
        let (unsure_count, submitted_at) = escrow::unverifiable_details_for_test(job_id, 1);
        assert!(unsure_count == 0 && submitted_at == 0, 12);
        let (_, _, attesters, _, _) = escrow::task_details_for_test(job_id, 1);
        assert!(vector::is_empty(&attesters), 13);
        h::submit(&worker, job_id, 1);
        let (_, submitted_at) = escrow::unverifiable_details_for_test(job_id, 1);
        assert!(submitted_at == h::now(), 14);
        h::attest(&checker, job_id, 1, true);
        escrow::accept_task(alice, job_id, 1);
        let (state, _, _, _, _, attempt, _, _) = escrow::task(job_id, 1);
        assert!(state == h::settled() && attempt == 2, 15);
        assert!(h::vault_balance(@0x3001) == 740, 16);
        assert!(h::vault_balance(@0x4001) == 123, 17);
        assert!(h::vault_balance(@0x7ea5) == 371, 18);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 19);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun requeue_unverified_after_a_review_window(fx: &signer, pictor: &signer) {
        // no checker answered: a review window after submission the coordinator may requeue
        let (job_id, wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::advance(86400);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        assert!(h::task_state(job_id, 1) == h::queued(), 1);
        assert!(h::job_reserved(job_id) == 0 && h::job_spent(job_id) == 0, 2);
        let (_, in_flight) = escrow::job_tracking_for_test(job_id);
        assert!(in_flight == 0, 3);
        let (_, _, _, _, _, strikes) = registry::node(wid);
        assert!(strikes == 0, 4);
        assert!(event::was_event_emitted(&escrow::task_requeued_event_for_test(job_id, 1, wid, 5)), 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun requeue_unverified_uses_the_current_review_window(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 1, 3600);
        h::advance(3600);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        assert!(h::task_state(job_id, 1) == h::queued(), 1);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 16, location = pictor::escrow)]
    fun requeue_unverified_without_abstention(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 16, location = pictor::escrow)]
    fun requeue_unverified_before_the_review_window_ends(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::advance(86399);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 16, location = pictor::escrow)]
    fun requeue_unverified_counts_abstentions_per_attempt(fx: &signer, pictor: &signer) {
        // the abstention on attempt 1 does not carry over, and the window restarts at the new submission
        let (job_id, wid, worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        h::advance(86400);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id, 1);
        h::advance(86399);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 4, location = pictor::escrow)]
    fun requeue_unverified_not_coordinator(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(alice, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun requeue_unverified_unknown_job(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id + 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun requeue_unverified_unknown_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun requeue_unverified_assigned_task(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::advance(86400);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun requeue_unverified_verified_task(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86400);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun requeue_unverified_twice(fx: &signer, pictor: &signer) {
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
    }

    // ================================================================ submit_result

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun submit_records_result_and_charge(fx: &signer, pictor: &signer) {
        let (job_id, wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        let (state, node_id, quote, result_hash, charge, attempt, _, passes) = escrow::task(job_id, 1);
        assert!(state == h::submitted(), 1);
        assert!(node_id == wid && quote == 2_000 && attempt == 1 && passes == 0, 2);
        assert!(result_hash == h::result_hash(), 3);
        // ceil(74_000 * 1_000 / 60_000) = 1_234
        assert!(charge == 1_234, 4);
        // submitting does not move money
        assert!(h::job_spent(job_id) == 0 && h::job_reserved(job_id) == 2_000, 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun submit_charge_rounds_up_and_is_capped(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        let coord = h::coordinator();
        // ceil(60_001 * 1_000 / 60_000) = 1_001
        escrow::assign_task(&coord, job_id, 1, wid, 2_000);
        escrow::submit_result(&worker, job_id, 1, h::hash32(1), 60_001);
        let (_, _, _, _, charge1, _, _, _) = escrow::task(job_id, 1);
        assert!(charge1 == 1_001, 1);
        // exactly one minute: 1_000
        escrow::assign_task(&coord, job_id, 2, wid, 2_000);
        escrow::submit_result(&worker, job_id, 2, h::hash32(2), 60_000);
        let (_, _, _, _, charge2, _, _, _) = escrow::task(job_id, 2);
        assert!(charge2 == 1_000, 2);
        // 1_000 minutes, capped at the quote
        escrow::assign_task(&coord, job_id, 3, wid, 2_000);
        escrow::submit_result(&worker, job_id, 3, h::hash32(3), 60_000_000);
        let (_, _, _, _, charge3, _, _, _) = escrow::task(job_id, 3);
        assert!(charge3 == 2_000, 3);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun submit_charge_computed_in_u128(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        h::fund(pictor, alice, 100_000);
        // 100 PICTOR per minute; 3.6e9 ms * 1e10 = 3.6e19 > u64::MAX
        let job_id = h::open_job(alice, 50_000, 100_0000_0000);
        escrow::assign_task(&h::coordinator(), job_id, 1, wid, 50_000);
        escrow::submit_result(&worker, job_id, 1, h::hash32(1), 3_600_000_000);
        let (_, _, _, _, charge, _, _, _) = escrow::task(job_id, 1);
        assert!(charge == 50_000, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun submit_unknown_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id + 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::escrow)]
    fun submit_to_closed_job(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::close_job(alice, job_id);
        h::submit(&worker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun submit_unknown_task(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun submit_twice(fx: &signer, pictor: &signer) {
        let (job_id, _wid, worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::submit(&worker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun submit_requeued_task(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        escrow::requeue_task(&h::coordinator(), job_id, 1);
        h::submit(&worker, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 9, location = pictor::escrow)]
    fun submit_by_other_worker(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, _worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_wid2, worker2) = h::add_worker(pictor, &h::acct(@0x3002));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::submit(&worker2, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 9, location = pictor::escrow)]
    fun submit_by_the_operator_account(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let op = h::acct(@0x3001);
        let (wid, _worker) = h::add_worker(pictor, &op);
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::submit(&op, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 9, location = pictor::escrow)]
    fun submit_with_retired_node_key(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let op = h::acct(@0x3001);
        let (wid, old_node) = h::add_worker(pictor, &op);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(&op, wid, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::submit(&old_node, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun submit_with_rotated_node_key(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let op = h::acct(@0x3001);
        let (wid, _old_node) = h::add_worker(pictor, &op);
        let (sk, pk) = h::new_key();
        registry::rotate_node_key(&op, wid, pk, h::registration_proof(&sk, @0x3001, 1, pk));
        let new_node = h::acct(h::account_of_key(pk));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        h::submit(&new_node, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::submitted(), 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 10, location = pictor::escrow)]
    fun submit_short_hash(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let job_id = h::standard_job(pictor, alice);
        h::assign(job_id, 1, wid);
        let short = h::hash32(1);
        vector::pop_back(&mut short);
        escrow::submit_result(&worker, job_id, 1, short, 74_000);
    }

    // ================================================================ accept_task (settle)

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun accept_settles_with_the_fee_split(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (state, _, _, _, charge, _, deadline, passes) = escrow::task(job_id, 1);
        assert!(state == h::verified() && charge == 1_234, 1);
        assert!(deadline == h::now() + 86400 && passes == 1, 2);
        escrow::accept_task(alice, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::settled(), 3);
        // worker 60%, checker 10% (one passer), treasury the rest
        assert!(h::vault_balance(@0x3001) == 740, 4);
        assert!(h::vault_balance(@0x4001) == 123, 5);
        assert!(h::vault_balance(@0x7ea5) == 371, 6);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 7);
        assert!(h::store_balance(h::escrow_store(job_id)) == 10_000 - 1_234, 8);
        // the node account never receives money; the operator does
        let (_, _, _, node_account, _, _) = registry::node(wid);
        assert!(h::vault_balance(node_account) == 0, 9);
        assert!(vector::length(&event::emitted_events<escrow::TaskSettled>()) == 1, 10);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun settle_follows_fee_split_and_treasury_changes(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        config::set_fee_split(pictor, 5000, 2500);
        config::set_roles(pictor, @pictor, @0xc00d, @0xda5e);
        escrow::accept_task(alice, job_id, 1);
        // 1_234 * 0.5 = 617; 1_234 * 0.25 = 308 (floor); treasury 1_234 - 617 - 308 = 309
        assert!(h::vault_balance(@0x3001) == 617, 1);
        assert!(h::vault_balance(@0x4001) == 308, 2);
        assert!(h::vault_balance(@0xda5e) == 309, 3);
        assert!(h::vault_balance(@0x7ea5) == 0, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun accept_unknown_job(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::accept_task(alice, job_id + 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 3, location = pictor::escrow)]
    fun accept_not_creator(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::accept_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun accept_unknown_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::accept_task(alice, job_id, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun accept_unverified_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        escrow::accept_task(alice, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun accept_twice(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::accept_task(alice, job_id, 1);
        escrow::accept_task(alice, job_id, 1);
    }

    // ================================================================ finalize_task (review window)

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    fun finalize_by_anyone_at_deadline(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::settled(), 1);
        assert!(h::vault_balance(@0x3001) == 740, 2);
        assert!(h::vault_balance(@0x4001) == 123, 3);
        assert!(h::vault_balance(@0x7ea5) == 371, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 11, location = pictor::escrow)]
    fun finalize_inside_window(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86399);
        escrow::finalize_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun finalize_unknown_job(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86400);
        escrow::finalize_task(bob, job_id + 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun finalize_unknown_task(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 9);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun finalize_unverified_task(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 1);
    }

    // ================================================================ finalize_task (disputed, unresolved)

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    fun finalize_disputed_task_a_review_window_after_the_dispute(
        fx: &signer,
        pictor: &signer,
        alice: &signer,
        bob: &signer,
    ) {
        // no checker resolved the dispute within a review window: it is not upheld and every passer is paid
        let (job_id, wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::set_quorum_window(pictor, 2, 86400);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::attest(&checker, job_id, 1, true);
        h::attest(&checker2, job_id, 1, true);
        h::advance(3600);
        escrow::dispute_task(alice, job_id, 1);
        let disputed_at = h::now();
        assert!(escrow::disputed_at_for_test(job_id, 1) == disputed_at, 1);
        let (_, in_flight) = escrow::job_tracking_for_test(job_id);
        assert!(in_flight == 1, 2);
        h::advance(86400);
        assert!(h::now() == disputed_at + 86400, 3);
        escrow::finalize_task(bob, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::settled(), 4);
        // 1_234: worker 740, the two passers 123 / 2 = 61 each, treasury 1_234 - 740 - 122 = 372
        assert!(h::vault_balance(@0x3001) == 740, 5);
        assert!(h::vault_balance(@0x4001) == 61 && h::vault_balance(@0x4002) == 61, 6);
        assert!(h::vault_balance(@0x7ea5) == 372, 7);
        assert!(
            event::was_event_emitted(&escrow::task_settled_event_for_test(
                job_id, 1, wid, 1_234, @0x3001, 740, vector[@0x4001, @0x4002], 61, @0x7ea5, 372
            )),
            8
        );
        assert!(vector::length(&event::emitted_events<escrow::TaskSettled>()) == 1, 9);
        // nobody is slashed, nothing is requeued
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 0, 10);
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 0, 11);
        assert!(h::active_stake(@0x3001, 1) == h::min_stake(), 12);
        assert!(h::active_stake(@0x4001, 2) == h::min_stake(), 13);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 14);
        let (assigned, in_flight) = escrow::job_tracking_for_test(job_id);
        assert!(vector::is_empty(&assigned) && in_flight == 0, 15);
        assert!(h::store_balance(h::escrow_store(job_id)) == 10_000 - 1_234, 16);
        h::assert_conservation();

        // the settled task is no longer in flight: the job closes and refunds the rest
        escrow::close_job(alice, job_id);
        let (_, budget, _, spent, reserved, _, closed) = escrow::job(job_id);
        assert!(closed && budget == 10_000 && spent == 1_234 && reserved == 0, 17);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 100_000 - 1_234, 18);
        assert!(h::store_balance(h::escrow_store(job_id)) == 0, 19);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 11, location = pictor::escrow)]
    fun finalize_disputed_task_one_second_early(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(3600);
        escrow::dispute_task(alice, job_id, 1);
        h::advance(86399);
        escrow::finalize_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 11, location = pictor::escrow)]
    fun finalize_disputed_task_counts_from_the_dispute(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        // disputed in the last second of the review window: the verification's deadline is not enough
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_, _, _, _, _, _, review_deadline, _) = escrow::task(job_id, 1);
        h::advance(86399);
        escrow::dispute_task(alice, job_id, 1);
        assert!(escrow::disputed_at_for_test(job_id, 1) == review_deadline - 1, 1);
        h::advance(1);
        assert!(h::now() == review_deadline, 2);
        escrow::finalize_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    fun finalize_disputed_task_late_dispute_settles_a_window_later(
        fx: &signer,
        pictor: &signer,
        alice: &signer,
        bob: &signer,
    ) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86399);
        escrow::dispute_task(alice, job_id, 1);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::settled(), 1);
        assert!(h::vault_balance(@0x3001) == 740, 2);
        assert!(h::vault_balance(@0x4001) == 123, 3);
        assert!(h::vault_balance(@0x7ea5) == 371, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun finalize_disputed_task_rejected_by_a_checker(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        // the checker settled it before the deadline: nothing is left to finalize
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 1, false, h::hash32(50));
        assert!(h::task_state(job_id, 1) == h::settled(), 1);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun finalize_disputed_task_upheld_by_a_checker(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        // the upheld dispute requeued the task: finalize cannot pay it
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        escrow::dispute_task(alice, job_id, 1);
        attestation::resolve_dispute(&checker2, job_id, 1, true, h::hash32(50));
        assert!(h::task_state(job_id, 1) == h::queued(), 1);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    fun finalize_disputed_task_uses_the_current_review_window(
        fx: &signer,
        pictor: &signer,
        alice: &signer,
        bob: &signer,
    ) {
        // the window is read at finalize time, not when the task was verified or disputed
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 1);
        h::set_quorum_window(pictor, 1, 3600);
        h::advance(3600);
        escrow::finalize_task(bob, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::settled(), 1);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 2);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 11, location = pictor::escrow)]
    fun finalize_disputed_task_waits_for_a_longer_current_window(
        fx: &signer,
        pictor: &signer,
        alice: &signer,
        bob: &signer,
    ) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 1);
        h::set_quorum_window(pictor, 1, 2 * 86400);
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun dispute_time_is_cleared_by_the_next_assignment(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        assert!(escrow::disputed_at_for_test(job_id, 1) == 0, 1);
        let (_cid2, checker2) = h::add_checker(pictor, &h::acct(@0x4002));
        h::advance(60);
        escrow::dispute_task(alice, job_id, 1);
        assert!(escrow::disputed_at_for_test(job_id, 1) == h::now(), 2);
        attestation::resolve_dispute(&checker2, job_id, 1, true, h::hash32(50));
        // requeue keeps the last attempt's fields; the next assignment (to a worker that still has its
        // stake) clears them
        assert!(escrow::disputed_at_for_test(job_id, 1) == h::now(), 3);
        let (wid2, _worker2) = h::add_worker(pictor, &h::acct(@0x3002));
        h::assign(job_id, 1, wid2);
        assert!(escrow::disputed_at_for_test(job_id, 1) == 0, 4);
    }

    // ================================================================ dispute_task

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun dispute_inside_window(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86399);
        escrow::dispute_task(alice, job_id, 1);
        assert!(h::task_state(job_id, 1) == h::disputed(), 1);
        // nothing is paid while disputed
        assert!(h::job_spent(job_id) == 0 && h::job_reserved(job_id) == 2_000, 2);
        assert!(h::vault_balance(@0x3001) == 0, 3);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 12, location = pictor::escrow)]
    fun dispute_at_deadline(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        h::advance(86400);
        escrow::dispute_task(alice, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun dispute_unknown_job(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id + 1, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 3, location = pictor::escrow)]
    fun dispute_not_creator(fx: &signer, pictor: &signer, bob: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(bob, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun dispute_unknown_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 2);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun dispute_unverified_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 8, location = pictor::escrow)]
    fun dispute_twice(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 1);
        escrow::dispute_task(alice, job_id, 1);
    }

    // ================================================================ close_job

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun close_refunds_rest_and_requeues_assigned(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::accept_task(alice, job_id, 1);
        h::assign(job_id, 3, wid);
        h::assign(job_id, 2, wid);
        escrow::close_job(alice, job_id);
        let (_, budget, _, spent, reserved, _, closed) = escrow::job(job_id);
        assert!(closed, 1);
        assert!(budget == 10_000 && spent == 1_234 && reserved == 0, 2);
        assert!(h::task_state(job_id, 2) == h::queued(), 3);
        assert!(h::task_state(job_id, 3) == h::queued(), 4);
        assert!(h::task_state(job_id, 1) == h::settled(), 5);
        // no credit was used: everything left goes back to the balance
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 100_000 - 1_234, 6);
        assert!(h::store_balance(h::escrow_store(job_id)) == 0, 7);
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 2, 8);
        assert!(vector::length(&event::emitted_events<escrow::JobClosed>()) == 1, 9);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun close_by_coordinator(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::close_job(&h::coordinator(), job_id);
        let (_, _, _, _, _, _, closed) = escrow::job(job_id);
        assert!(closed, 1);
        assert!(h::vault_balance(@0xa11ce) == 100_000, 2);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun close_refunds_unspent_credit_as_credit(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_cid, checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 3_000, 0, h::now() + 10);
        h::fund(pictor, alice, 20_000);
        let job_id = h::open_job(alice, 10_000, 1_000);
        // credit first: 3_000 credit + 7_000 balance
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 13_000, 1);
        let (_, _, credit_in, _, _, _, _) = escrow::job(job_id);
        assert!(credit_in == 3_000, 2);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id, 1);
        h::attest(&checker, job_id, 1, true);
        escrow::accept_task(alice, job_id, 1);
        // charges consume credit first: credit left 3_000 - 1_234 = 1_766
        escrow::close_job(alice, job_id);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 1_766, 3);
        assert!(balance == 13_000 + 7_000, 4);
        let (total_credit, _) = vault::totals();
        assert!(total_credit == 1_766, 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun close_refund_when_spent_exceeds_credit(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let (wid, worker) = h::add_worker(pictor, &h::acct(@0x3001));
        let (_cid, checker) = h::add_checker(pictor, &h::acct(@0x4001));
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 1_000, 0, h::now() + 10);
        h::fund(pictor, alice, 20_000);
        let job_id = h::open_job(alice, 10_000, 1_000);
        h::assign(job_id, 1, wid);
        h::submit(&worker, job_id, 1);
        h::attest(&checker, job_id, 1, true);
        escrow::accept_task(alice, job_id, 1);
        escrow::close_job(alice, job_id);
        // credit 1_000 fully consumed by the 1_234 charge; 8_766 back as balance
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0, 1);
        assert!(balance == 20_000 - 9_000 + 8_766, 2);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    fun close_after_requeue_unverified(fx: &signer, pictor: &signer, alice: &signer) {
        // the unverifiable task no longer counts as in flight: the job closes and refunds everything
        let (job_id, _wid, _worker, _cid, checker) = h::submitted_scenario(fx, pictor);
        h::abstain(&checker, job_id, 1);
        escrow::requeue_unverified(&h::coordinator(), job_id, 1);
        let (_, in_flight) = escrow::job_tracking_for_test(job_id);
        assert!(in_flight == 0, 1);
        escrow::close_job(alice, job_id);
        let (_, budget, _, spent, reserved, _, closed) = escrow::job(job_id);
        assert!(closed && budget == 10_000 && spent == 0 && reserved == 0, 2);
        assert!(h::vault_balance(@0xa11ce) == 100_000, 3);
        assert!(h::store_balance(h::escrow_store(job_id)) == 0, 4);
        // one requeue (reason 5); the queued task is not requeued again by close_job
        assert!(vector::length(&event::emitted_events<escrow::TaskRequeued>()) == 1, 5);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun close_unknown_job(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        escrow::close_job(&h::coordinator(), 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    #[expected_failure(abort_code = 3, location = pictor::escrow)]
    fun close_by_stranger(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::close_job(bob, job_id);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 5, location = pictor::escrow)]
    fun close_twice(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        escrow::close_job(alice, job_id);
        escrow::close_job(alice, job_id);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 13, location = pictor::escrow)]
    fun close_with_submitted_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::submitted_scenario(fx, pictor);
        escrow::close_job(alice, job_id);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 13, location = pictor::escrow)]
    fun close_with_verified_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::close_job(alice, job_id);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 13, location = pictor::escrow)]
    fun close_with_disputed_task(fx: &signer, pictor: &signer, alice: &signer) {
        let (job_id, _wid, _worker, _cid, _checker) = h::verified_scenario(fx, pictor);
        escrow::dispute_task(alice, job_id, 1);
        escrow::close_job(&h::coordinator(), job_id);
    }

    // ================================================================ views

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun job_view_unknown(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (_, _, _, _, _, _, _) = escrow::job(1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::escrow)]
    fun job_store_view_unknown(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        escrow::job_store(1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce)]
    #[expected_failure(abort_code = 7, location = pictor::escrow)]
    fun task_view_unknown(fx: &signer, pictor: &signer, alice: &signer) {
        h::setup(fx, pictor);
        let job_id = h::standard_job(pictor, alice);
        let (_, _, _, _, _, _, _, _) = escrow::task(job_id, 1);
    }

    // ================================================================ the whole money path

    /// Credit + balance funding, accept, dispute upheld (slashes, requeue, re-render by another worker),
    /// finalize after the review window, close with a task in flight of assignment, withdrawals and
    /// unbonding. Conservation is checked after every step.
    #[test(fx = @aptos_framework, pictor = @pictor, alice = @0xa11ce, bob = @0xb0b)]
    fun full_job_lifecycle_conserves_supply(fx: &signer, pictor: &signer, alice: &signer, bob: &signer) {
        h::setup(fx, pictor);
        let coord = h::coordinator();
        let w1_op = h::acct(@0x3001);
        let w2_op = h::acct(@0x3002);
        let c1_op = h::acct(@0x4001);
        let c2_op = h::acct(@0x4002);

        // funding: 5_000 credit (admin-signed claim) + 20_000 deposited of 50_000 minted
        let sk = h::install_credit_signer(pictor);
        h::claim_credit(&sk, alice, 5_000, 0, h::now() + 60);
        token::mint(pictor, @0xa11ce, 50_000);
        vault::deposit(alice, 20_000);
        h::assert_conservation();

        let (w1, w1_node) = h::add_worker(pictor, &w1_op);
        let (w2, w2_node) = h::add_worker(pictor, &w2_op);
        let (_c1, c1_node) = h::add_checker(pictor, &c1_op);
        let (_c2, c2_node) = h::add_checker(pictor, &c2_op);
        h::assert_conservation();

        let job_id = h::open_job(alice, 10_000, 1_000);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 0 && balance == 15_000, 1);
        h::assert_conservation();

        // task 1: accepted by the creator -> 740 / 123 / 371
        escrow::assign_task(&coord, job_id, 1, w1, 2_000);
        escrow::submit_result(&w1_node, job_id, 1, h::hash32(1), 74_000);
        h::assert_conservation();
        attestation::attest(&c1_node, job_id, 1, h::hash32(1), true, h::hash32(101));
        h::assert_conservation();
        escrow::accept_task(alice, job_id, 1);
        assert!(h::vault_balance(@0x3001) == 740, 2);
        assert!(h::vault_balance(@0x4001) == 123, 3);
        assert!(h::vault_balance(@0x7ea5) == 371, 4);
        h::assert_conservation();

        // task 2: verified, disputed, upheld by a second checker -> worker and passer slashed 10%
        escrow::assign_task(&coord, job_id, 2, w1, 2_000);
        escrow::submit_result(&w1_node, job_id, 2, h::hash32(2), 60_001);
        attestation::attest(&c1_node, job_id, 2, h::hash32(2), true, h::hash32(102));
        escrow::dispute_task(alice, job_id, 2);
        h::assert_conservation();
        attestation::resolve_dispute(&c2_node, job_id, 2, true, h::hash32(103));
        assert!(h::task_state(job_id, 2) == h::queued(), 5);
        assert!(h::active_stake(@0x3001, 1) == h::min_stake() - h::default_slash(), 6);
        assert!(h::active_stake(@0x4001, 2) == h::min_stake() - h::default_slash(), 7);
        assert!(h::vault_balance(@0x7ea5) == 371 + 2 * h::default_slash(), 8);
        assert!(h::job_spent(job_id) == 1_234 && h::job_reserved(job_id) == 0, 9);
        h::assert_conservation();

        // task 2 re-rendered by the second worker, checked by the second checker, finalized by anyone
        escrow::assign_task(&coord, job_id, 2, w2, 2_000);
        let (_, _, _, _, _, attempt, _, _) = escrow::task(job_id, 2);
        assert!(attempt == 2, 10);
        escrow::submit_result(&w2_node, job_id, 2, h::hash32(3), 120_000);
        attestation::attest(&c2_node, job_id, 2, h::hash32(3), true, h::hash32(104));
        h::advance(86400);
        escrow::finalize_task(bob, job_id, 2);
        assert!(h::vault_balance(@0x3002) == 1_200, 11);
        assert!(h::vault_balance(@0x4002) == 200, 12);
        assert!(h::vault_balance(@0x7ea5) == 371 + 2 * h::default_slash() + 600, 13);
        assert!(h::job_spent(job_id) == 3_234, 14);
        h::assert_conservation();

        // task 3 assigned, then the creator closes: 6_766 left, credit left 5_000 - 3_234 = 1_766
        escrow::assign_task(&coord, job_id, 3, w2, 1_500);
        h::assert_conservation();
        escrow::close_job(alice, job_id);
        assert!(h::task_state(job_id, 3) == h::queued(), 15);
        let (credit, balance) = vault::account(@0xa11ce);
        assert!(credit == 1_766, 16);
        assert!(balance == 20_000, 17);
        assert!(h::store_balance(h::escrow_store(job_id)) == 0, 18);
        h::assert_conservation();

        // earnings leave the vault; the slashed worker unbonds the rest of its stake
        vault::withdraw(&w1_op, 740);
        staking::request_unstake(&w1_op, 1, h::min_stake() - h::default_slash());
        h::assert_conservation();
        h::advance(604800);
        staking::withdraw_unstaked(&w1_op);
        assert!(token::balance(@0x3001) == 740 + h::min_stake() - h::default_slash(), 19);
        h::assert_conservation();

        // books: supply = everything ever minted; vault totals = what the vault owes
        assert!(token::supply() == 5_000 + 50_000 + 4 * h::min_stake(), 20);
        let (total_credit, total_balance) = vault::totals();
        assert!(total_credit == 1_766, 21);
        assert!(total_balance == 20_000 + 123 + 1_200 + 200 + 371 + 2 * h::default_slash() + 600, 22);
        let (total_active, total_unbonding) = staking::totals();
        assert!(total_active == 3 * h::min_stake() - h::default_slash() && total_unbonding == 0, 23);
        assert!(vector::length(&event::emitted_events<escrow::TaskSettled>()) == 2, 24);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 2, 25);
    }
}
