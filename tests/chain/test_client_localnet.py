"""PictorChain against a real localnet subprocess: concurrency, resync, aborts, simulation, reads, keys."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aptos_sdk.account import Account

pytest.importorskip("chain.localnet")

from chain import errors  # noqa: E402
from chain.client import PictorChain  # noqa: E402
from chain.constants import LOCALNET_CHAIN_ID, LOCALNET_PACKAGE_ADDRESS  # noqa: E402
from chain.events import CreditClaimed, Deposited, Minted, NodeRegistered, Staked  # noqa: E402
from chain.keys import (  # noqa: E402
    account_address,
    generate_account,
    load_localnet_keys,
    node_address,
    registration_proof,
    sign_credit_claim,
)
from chain.localnet import start_localnet_process  # noqa: E402
from chain.payloads import ROLE_CHECKER, ROLE_WORKER, PictorPayloads  # noqa: E402

pytestmark = pytest.mark.timeout(600)

PICTOR = 100_000_000
APT = 100_000_000


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    handle = start_localnet_process(tmp_path_factory.mktemp("client-localnet"), test_clock=True)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
async def chain(localnet: Any) -> AsyncIterator[PictorChain]:
    # Generous wait: a loaded 2-core CI machine runs this next to the localnet.
    client = PictorChain(
        localnet.node_url, LOCALNET_PACKAGE_ADDRESS, chain_id=LOCALNET_CHAIN_ID,
        faucet_url=localnet.faucet_url, wait_timeout=120.0,
    )  # fmt: skip
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def keys(localnet: Any) -> Any:
    return load_localnet_keys(Path(localnet.data_dir))


async def funded(chain: PictorChain, keys: Any, pictor: int = 0) -> Account:
    account = generate_account()
    await chain.fund(account_address(account), APT)
    if pictor:
        await chain.submit_and_wait(keys.admin, chain.payloads.token_mint(account_address(account), pictor))
    return account


async def test_ledger_and_balances(chain: PictorChain, keys: Any) -> None:
    info = await chain.ledger_info()
    assert info.chain_id == LOCALNET_CHAIN_ID and info.ledger_version >= 0
    assert await chain.chain_id() == LOCALNET_CHAIN_ID
    assert await chain.healthy()
    alice = await funded(chain, keys, pictor=5 * PICTOR)
    assert await chain.apt_balance(account_address(alice)) == APT
    assert await chain.pictor_balance(account_address(alice)) == 5 * PICTOR
    assert (await chain.views.roles()).admin == account_address(keys.admin)
    assert account_address(keys.admin) == LOCALNET_PACKAGE_ADDRESS


async def test_concurrent_submits_from_one_account(chain: PictorChain, keys: Any) -> None:
    alice = await funded(chain, keys, pictor=100 * PICTOR)
    amounts = list(range(1, 31))
    results = await asyncio.gather(*(chain.submit_and_wait(alice, chain.payloads.vault_deposit(a)) for a in amounts))
    assert sorted(r.sequence_number for r in results) == list(range(30))
    assert sorted(r.event(Deposited).amount for r in results) == amounts
    assert (await chain.views.vault_account(account_address(alice))).balance == sum(amounts)
    assert await chain.account_sequence_number(account_address(alice)) == 30


async def test_resync_when_another_client_used_the_account(chain: PictorChain, keys: Any, localnet: Any) -> None:
    alice = await funded(chain, keys, pictor=10 * PICTOR)
    await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))  # our counter: 1
    other = PictorChain(localnet.node_url, LOCALNET_PACKAGE_ADDRESS, wait_timeout=120.0)
    try:
        # (a different amount: the same payload in the same second would be the very same transaction)
        for _ in range(3):
            await other.submit_and_wait(alice, other.payloads.vault_deposit(2))
    finally:
        await other.close()
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))  # too old -> resync
    assert result.sequence_number == 4


async def test_aborts_map_to_named_errors(chain: PictorChain, keys: Any) -> None:
    alice = await funded(chain, keys, pictor=10 * PICTOR)
    with pytest.raises(errors.VaultInsufficientBalance) as info:
        await chain.submit_and_wait(alice, chain.payloads.vault_withdraw(1))
    assert info.value.version and info.value.txn_hash and info.value.code == 2
    with pytest.raises(errors.FungibleAssetInsufficientBalance):
        await chain.submit_and_wait(alice, chain.payloads.vault_deposit(11 * PICTOR))
    with pytest.raises(errors.VaultInsufficientFunds):
        await chain.submit_and_wait(alice, chain.payloads.escrow_open_job(1, 1))
    with pytest.raises(errors.ConfigNotAdmin):
        await chain.submit_and_wait(alice, chain.payloads.config_set_paused(True))
    with pytest.raises(errors.EscrowJobNotFound):
        await chain.views.job(10**9)  # a view abort
    loose = PictorPayloads(LOCALNET_PACKAGE_ADDRESS, strict=False)
    with pytest.raises(errors.StakingInvalidRole):
        await chain.submit_and_wait(alice, loose.staking_stake(3, 1))
    # A failed transaction still consumed its sequence number: the next one goes through.
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(PICTOR))
    assert result.success and result.sequence_number == 5


async def test_simulate_commits_nothing(chain: PictorChain, keys: Any) -> None:
    alice = await funded(chain, keys, pictor=10 * PICTOR)
    ok = await chain.simulate(alice, chain.payloads.vault_deposit(PICTOR))
    assert ok.success and ok.event(Deposited).amount == PICTOR and ok.gas_used > 0
    bad = await chain.simulate(alice, chain.payloads.vault_withdraw(PICTOR))
    assert not bad.success and isinstance(bad.error(), errors.VaultInsufficientBalance)
    assert await chain.account_sequence_number(account_address(alice)) == 0
    assert (await chain.views.vault_account(account_address(alice))).balance == 0


async def test_transactions_by_version_range(chain: PictorChain, keys: Any) -> None:
    alice = await funded(chain, keys)
    minted = await chain.submit_and_wait(keys.admin, chain.payloads.token_mint(account_address(alice), 3))
    page = await chain.transactions(minted.version, 1)
    assert [t.version for t in page] == [minted.version]
    txn = page[0]
    assert txn.hash == minted.hash and txn.success and txn.type == "user_transaction"
    assert txn.sender == LOCALNET_PACKAGE_ADDRESS
    [record] = txn.events
    assert record.version == minted.version and isinstance(record.event, Minted) and record.event.amount == 3
    assert txn.raw["events"][record.index]["type"].endswith("::token::Minted")
    everything = await chain.transactions(0, 100)
    assert [t.version for t in everything] == list(
        range(everything[0].version, everything[0].version + len(everything))
    )
    assert everything[0].version == 0


async def test_transfers(chain: PictorChain, keys: Any) -> None:
    alice = await funded(chain, keys, pictor=5 * PICTOR)
    bob = generate_account()
    await chain.transfer_apt(alice, account_address(bob), APT // 10)
    await chain.transfer_pictor(alice, account_address(bob), 2 * PICTOR)
    assert await chain.apt_balance(account_address(bob)) == APT // 10
    assert await chain.pictor_balance(account_address(bob)) == 2 * PICTOR
    assert await chain.pictor_balance(account_address(alice)) == 3 * PICTOR


async def test_node_registration_proof_is_accepted_and_checked(chain: PictorChain, keys: Any) -> None:
    operator = await funded(chain, keys, pictor=200 * PICTOR)
    op = account_address(operator)
    node = generate_account()
    staked = await chain.submit_and_wait(operator, chain.payloads.staking_stake(ROLE_CHECKER, 100 * PICTOR))
    assert staked.event(Staked).active == 100 * PICTOR
    pub = node.public_key().key.encode()
    # A proof for the other role does not verify.
    with pytest.raises(errors.RegistryBadProof):
        await chain.submit_and_wait(
            operator,
            chain.payloads.registry_register_node(ROLE_CHECKER, pub, registration_proof(node, op, ROLE_WORKER)),
        )
    result = await chain.submit_and_wait(
        operator, chain.payloads.registry_register_node(ROLE_CHECKER, pub, registration_proof(node, op, ROLE_CHECKER))
    )
    event = result.event(NodeRegistered)
    assert event.account == node_address(pub) == account_address(node) and event.operator == op
    assert await chain.views.node_of_account(event.account) == event.node_id
    info = await chain.views.node(event.node_id)
    assert info.public_key == pub and info.role == ROLE_CHECKER and info.active
    with pytest.raises(errors.RegistryKeyInUse):
        await chain.submit_and_wait(
            operator, chain.payloads.registry_register_node(ROLE_WORKER, pub, registration_proof(node, op, ROLE_WORKER))
        )


async def test_credit_claim_signature_is_accepted(chain: PictorChain, keys: Any) -> None:
    signer = generate_account()
    await chain.submit_and_wait(keys.admin, chain.payloads.config_set_credit_signer(signer.public_key().key.encode()))
    user = await funded(chain, keys)
    me = account_address(user)
    nonce = await chain.views.vault_next_claim_nonce(me)
    expires = int(time.time()) + 3600
    sig = sign_credit_claim(signer, me, 7 * PICTOR, nonce, expires)
    claimed = await chain.submit_and_wait(user, chain.payloads.vault_claim_credit(7 * PICTOR, nonce, expires, sig))
    assert claimed.event(CreditClaimed) == CreditClaimed(user=me, amount=7 * PICTOR, nonce=nonce, credit=7 * PICTOR)
    with pytest.raises(errors.VaultBadNonce):
        await chain.submit_and_wait(user, chain.payloads.vault_claim_credit(7 * PICTOR, nonce, expires, sig))
    forged = sign_credit_claim(generate_account(), me, 7 * PICTOR, nonce + 1, expires)
    with pytest.raises(errors.VaultBadSignature):
        await chain.submit_and_wait(user, chain.payloads.vault_claim_credit(7 * PICTOR, nonce + 1, expires, forged))


async def test_submits_keep_working_after_the_test_clock_moves(chain: PictorChain, keys: Any, localnet: Any) -> None:
    alice = await funded(chain, keys, pictor=PICTOR)
    await chain.ledger_info()  # the client learns the ledger clock now …
    async with httpx.AsyncClient() as http:  # … and then a test moves it a week ahead
        response = await http.post(f"{localnet.node_url}/-/test/clock/advance", params={"seconds": 7 * 86400})
        assert response.status_code == 200
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    assert result.success and result.timestamp_us / 1e6 > time.time() + 6 * 86400


async def test_result_hash_round_trip(chain: PictorChain, keys: Any) -> None:
    alice = await funded(chain, keys, pictor=PICTOR)
    result = await chain.submit_and_wait(alice, chain.payloads.vault_deposit(1))
    again = await chain.result_by_hash(result.hash)
    assert again is not None and again.version == result.version and again.events == result.events
    assert await chain.result_by_hash("0x" + hashlib.sha3_256(b"nothing").hexdigest()) is None
