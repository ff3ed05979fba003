#[test_only]
module pictor::staking_tests {
    use std::vector;
    use aptos_framework::event;
    use pictor::config;
    use pictor::staking;
    use pictor::test_helpers as h;
    use pictor::token;

    // ---------------------------------------------------------------- stake

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun stake_per_role(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 500);
        staking::stake(op, 1, 300);
        staking::stake(op, 1, 50);
        staking::stake(op, 2, 100);
        let (active, unbonding) = staking::stake_of(@0x3001, 1);
        assert!(active == 350 && unbonding == 0, 1);
        let (active, unbonding) = staking::stake_of(@0x3001, 2);
        assert!(active == 100 && unbonding == 0, 2);
        let (total_active, total_unbonding) = staking::totals();
        assert!(total_active == 450 && total_unbonding == 0, 3);
        assert!(token::balance(@0x3001) == 50, 4);
        assert!(h::store_balance(h::staking_store()) == 450, 5);
        let (unknown_active, unknown_unbonding) = staking::stake_of(@0xb0b, 2);
        assert!(unknown_active == 0 && unknown_unbonding == 0, 6);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::config)]
    fun stake_paused(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 500);
        config::set_paused(pictor, true);
        staking::stake(op, 1, 300);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::staking)]
    fun stake_role_zero(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 500);
        staking::stake(op, 0, 300);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::staking)]
    fun stake_role_three_checked_before_amount(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        staking::stake(op, 3, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 1, location = pictor::staking)]
    fun stake_zero(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 500);
        staking::stake(op, 1, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 0x10004, location = aptos_framework::fungible_asset)]
    fun stake_more_than_wallet(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 500);
        staking::stake(op, 1, 501);
    }

    // ---------------------------------------------------------------- request_unstake

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun request_unstake_queues_with_release_time(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::stake(op, 2, 200);
        let t0 = h::now();
        staking::request_unstake(op, 1, 100);
        h::advance(10);
        staking::request_unstake(op, 2, 200);
        let (active, unbonding) = staking::stake_of(@0x3001, 1);
        assert!(active == 200 && unbonding == 100, 1);
        let (active, unbonding) = staking::stake_of(@0x3001, 2);
        assert!(active == 0 && unbonding == 200, 2);
        let (ids, roles, amounts, release_at) = staking::unbonding_requests(@0x3001);
        assert!(ids == vector[1, 2], 3);
        assert!(roles == vector[1u8, 2u8], 4);
        assert!(amounts == vector[100, 200], 5);
        assert!(release_at == vector[t0 + 604800, t0 + 10 + 604800], 6);
        let (total_active, total_unbonding) = staking::totals();
        assert!(total_active == 200 && total_unbonding == 300, 7);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun request_unstake_allowed_while_paused(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        config::set_paused(pictor, true);
        staking::request_unstake(op, 1, 300);
        h::advance(604800);
        staking::withdraw_unstaked(op);
        assert!(token::balance(@0x3001) == 1000, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 2, location = pictor::staking)]
    fun request_unstake_invalid_role(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 0, 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 1, location = pictor::staking)]
    fun request_unstake_zero(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 1, 0);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::staking)]
    fun request_unstake_more_than_active(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 1, 200);
        staking::request_unstake(op, 1, 101);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::staking)]
    fun request_unstake_other_role(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 2, 1);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 3, location = pictor::staking)]
    fun request_unstake_unknown_operator(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        staking::request_unstake(op, 1, 1);
    }

    // ---------------------------------------------------------------- withdraw_unstaked (unbonding timing)

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun withdraw_exactly_at_release(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 1, 120);
        h::advance(604800);
        staking::withdraw_unstaked(op);
        assert!(token::balance(@0x3001) == 820, 1);
        let (active, unbonding) = staking::stake_of(@0x3001, 1);
        assert!(active == 180 && unbonding == 0, 2);
        let (ids, _, _, _) = staking::unbonding_requests(@0x3001);
        assert!(vector::is_empty(&ids), 3);
        let (total_active, total_unbonding) = staking::totals();
        assert!(total_active == 180 && total_unbonding == 0, 4);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::staking)]
    fun withdraw_one_second_early(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 1, 120);
        h::advance(604799);
        staking::withdraw_unstaked(op);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::staking)]
    fun withdraw_with_nothing_queued(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::withdraw_unstaked(op);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::staking)]
    fun withdraw_twice(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::request_unstake(op, 1, 120);
        h::advance(604800);
        staking::withdraw_unstaked(op);
        staking::withdraw_unstaked(op);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun withdraw_only_matured_requests_in_order(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 300);
        staking::stake(op, 2, 300);
        let t0 = h::now();
        staking::request_unstake(op, 1, 10);        // id 1, t0
        h::advance(100);
        staking::request_unstake(op, 2, 20);        // id 2, t0 + 100
        h::advance(100);
        staking::request_unstake(op, 1, 30);        // id 3, t0 + 200
        // t0 + 604800 + 100: ids 1 and 2 are ready, 3 is not
        h::advance(604800 - 100);
        staking::withdraw_unstaked(op);
        assert!(token::balance(@0x3001) == 400 + 30, 1);
        let (ids, roles, amounts, release_at) = staking::unbonding_requests(@0x3001);
        assert!(ids == vector[3], 2);
        assert!(roles == vector[1u8], 3);
        assert!(amounts == vector[30], 4);
        assert!(release_at == vector[t0 + 200 + 604800], 5);
        let (_, unbonding1) = staking::stake_of(@0x3001, 1);
        let (_, unbonding2) = staking::stake_of(@0x3001, 2);
        assert!(unbonding1 == 30 && unbonding2 == 0, 6);
        h::advance(100);
        staking::withdraw_unstaked(op);
        assert!(token::balance(@0x3001) == 460, 7);
        h::assert_conservation();
    }

    // ---------------------------------------------------------------- slash (admin)

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    fun slash_takes_active_then_newest_unbonding(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 100);
        staking::stake(op, 2, 100);
        staking::request_unstake(op, 1, 30);   // id 1
        staking::request_unstake(op, 2, 40);   // id 2 (other role: never touched by a worker slash)
        staking::request_unstake(op, 1, 20);   // id 3
        // worker: active 50, unbonding 30 (id 1) + 20 (id 3)
        staking::slash(pictor, @0x3001, 1, 60);
        let (active, unbonding) = staking::stake_of(@0x3001, 1);
        assert!(active == 0 && unbonding == 40, 1);
        let (ids, _, amounts, _) = staking::unbonding_requests(@0x3001);
        assert!(ids == vector[1, 2, 3], 2);
        assert!(amounts == vector[30, 40, 10], 3);
        assert!(h::vault_balance(@0x7ea5) == 60, 4);

        // 15 more: id 3 (10) is emptied and removed, then 5 from id 1
        staking::slash(pictor, @0x3001, 1, 15);
        let (ids, roles, amounts, _) = staking::unbonding_requests(@0x3001);
        assert!(ids == vector[1, 2], 5);
        assert!(roles == vector[1u8, 2u8], 6);
        assert!(amounts == vector[25, 40], 7);
        assert!(h::vault_balance(@0x7ea5) == 75, 8);

        // more than what is left: only min(amount, active + unbonding) = 25
        staking::slash(pictor, @0x3001, 1, 1000);
        let (active, unbonding) = staking::stake_of(@0x3001, 1);
        assert!(active == 0 && unbonding == 0, 9);
        let (ids, _, amounts, _) = staking::unbonding_requests(@0x3001);
        assert!(ids == vector[2] && amounts == vector[40], 10);
        assert!(h::vault_balance(@0x7ea5) == 100, 11);
        let (checker_active, checker_unbonding) = staking::stake_of(@0x3001, 2);
        assert!(checker_active == 60 && checker_unbonding == 40, 12);
        let (total_active, total_unbonding) = staking::totals();
        assert!(total_active == 60 && total_unbonding == 40, 13);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 3, 14);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    fun slash_with_nothing_to_take_emits_nothing(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        staking::slash(pictor, @0x3001, 2, 100);
        assert!(vector::length(&event::emitted_events<staking::Slashed>()) == 0, 1);
        assert!(h::vault_balance(@0x7ea5) == 0, 2);
        h::assert_conservation();
    }

    #[test(fx = @aptos_framework, pictor = @pictor, op = @0x3001)]
    #[expected_failure(abort_code = 4, location = pictor::staking)]
    fun slashed_request_cannot_be_withdrawn(fx: &signer, pictor: &signer, op: &signer) {
        h::setup(fx, pictor);
        token::mint(pictor, @0x3001, 1000);
        staking::stake(op, 1, 100);
        staking::request_unstake(op, 1, 100);
        staking::slash(pictor, @0x3001, 1, 100);
        h::advance(604800);
        staking::withdraw_unstaked(op);
    }

    #[test(fx = @aptos_framework, pictor = @pictor, bob = @0xb0b)]
    #[expected_failure(abort_code = 5, location = pictor::staking)]
    fun slash_not_admin(fx: &signer, pictor: &signer, bob: &signer) {
        h::setup(fx, pictor);
        staking::slash(bob, @0x3001, 1, 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::staking)]
    fun slash_invalid_role(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        staking::slash(pictor, @0x3001, 3, 100);
    }

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 1, location = pictor::staking)]
    fun slash_zero(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        staking::slash(pictor, @0x3001, 1, 0);
    }

    // ---------------------------------------------------------------- views

    #[test(fx = @aptos_framework, pictor = @pictor)]
    #[expected_failure(abort_code = 2, location = pictor::staking)]
    fun stake_of_invalid_role(fx: &signer, pictor: &signer) {
        h::setup(fx, pictor);
        let (_, _) = staking::stake_of(@0x3001, 0);
    }
}
