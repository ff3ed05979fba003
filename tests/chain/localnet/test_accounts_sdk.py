"""Every Aptos account and transaction kind, built and signed by the unmodified ``aptos-sdk``, against a localnet process:
key rotation (Ed25519 and MultiEd25519) and the ``OriginatingAddress`` table, multi-agent and fee-payer (sponsored)
transactions, SingleKey (Ed25519, Secp256k1) and MultiKey accounts, and their simulations.

Each flow asserts the effect on chain and, for a refusal, the exact Aptos error (``vm_error`` and its status code).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import ecdsa
import pytest
from aptos_sdk import asymmetric_crypto_wrapper, ed25519, secp256k1_ecdsa
from aptos_sdk.account import Account, RotationProofChallenge
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.authenticator import (
    AccountAuthenticator,
    Authenticator,
    FeePayerAuthenticator,
    MultiAgentAuthenticator,
    MultiEd25519Authenticator,
    MultiKeyAuthenticator,
    SingleKeyAuthenticator,
    SingleSenderAuthenticator,
)
from aptos_sdk.bcs import Deserializer, Serializer
from aptos_sdk.transactions import (
    FeePayerRawTransaction,
    MultiAgentRawTransaction,
    RawTransaction,
    SignedTransaction,
)

from chain.constants import LOCALNET_PACKAGE_ADDRESS

pytestmark = pytest.mark.timeout(300)

PICTOR = LOCALNET_PACKAGE_ADDRESS
APT = 100_000_000
ZERO = AccountAddress.from_str("0x0")
STATUS = {
    "INVALID_SIGNATURE": 1,
    "INVALID_AUTH_KEY": 2,
    "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE": 5,
    "SENDING_ACCOUNT_DOES_NOT_EXIST": 7,
    "SECONDARY_KEYS_ADDRESSES_COUNT_MISMATCH": 27,
    "SIGNERS_CONTAIN_DUPLICATES": 28,
}  # move-core-types vm_status.rs


# --------------------------------------------------------------------------- building and sending


def transfer_payload(tx: ModuleType, to: AccountAddress, amount: int) -> Any:
    return tx.entry_payload("0x1::aptos_account::transfer", [tx.bcs_address(to), tx.bcs_u64(amount)])


def raw_for(http: Any, tx: ModuleType, sender: AccountAddress, payload: Any, **kw: Any) -> RawTransaction:
    return tx.raw_txn(sender, http.seq(sender), payload, chain_id=http.chain_id, **kw)


def submit(http: Any, signed: SignedTransaction) -> dict[str, Any]:
    """Submit and wait; the committed transaction's JSON."""
    return http.submit_and_wait(signed.bytes())


def refused(http: Any, signed: SignedTransaction, status: str) -> None:
    """The node refuses the transaction with Aptos's ``vm_error`` for ``status``."""
    response = http.submit(signed.bytes())
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "vm_error", body
    assert body["vm_error_code"] == STATUS[status], body
    assert body["message"].endswith(f"Code: {status}"), body


def multi_agent(raw: RawTransaction, sender: Account, others: list[Account]) -> SignedTransaction:
    """A multi-agent transaction signed by the sender and every secondary signer."""
    message = MultiAgentRawTransaction(raw, [o.address() for o in others])
    auth = MultiAgentAuthenticator(
        sender.sign_transaction(message), [(o.address(), o.sign_transaction(message)) for o in others]
    )
    return SignedTransaction(raw, Authenticator(auth))


def sponsored(
    raw: RawTransaction, sender: Account, payer: Account, others: list[Account] | None = None, *, payer_address=None
) -> SignedTransaction:
    """A fee-payer transaction: the sender (and secondaries) sign with the fee payer left at 0x0, as wallets do;
    the fee payer signs with its own address."""
    others = others or []
    addresses = [o.address() for o in others]
    unsponsored = FeePayerRawTransaction(raw, addresses, None)
    address = payer.address() if payer_address is None else payer_address
    complete = FeePayerRawTransaction(raw, addresses, address)
    auth = FeePayerAuthenticator(
        sender.sign_transaction(unsponsored),
        [(o.address(), o.sign_transaction(unsponsored)) for o in others],
        (address, payer.sign_transaction(complete)),
    )
    return SignedTransaction(raw, Authenticator(auth))


def no_account_authenticator() -> AccountAuthenticator:
    """``AccountAuthenticator::NoAccountAuthenticator`` (variant 4, no fields): what SDKs simulate with."""

    class _NoAccount:
        def serialize(self, serializer: Serializer) -> None:
            pass

    auth = AccountAuthenticator.__new__(AccountAuthenticator)
    auth.variant = 4
    auth.authenticator = _NoAccount()
    return auth


def single_key_ed25519_account() -> Account:
    """An Ed25519 key used as a SingleKey account (scheme 2): its address is sha3(bcs(AnyPublicKey) ‖ 0x02)."""
    key = ed25519.PrivateKey.random()
    return Account(AccountAddress.from_key(asymmetric_crypto_wrapper.PublicKey(key.public_key())), key)


def sign_single_key(account: Account, raw: RawTransaction) -> SignedTransaction:
    """A SingleSender transaction with a SingleKey authenticator (any key scheme)."""
    signature = account.private_key.sign(raw.keyed())
    auth = AccountAuthenticator(SingleKeyAuthenticator(account.private_key.public_key(), signature))
    return SignedTransaction(raw, Authenticator(SingleSenderAuthenticator(auth)))


def rotation_proofs(http: Any, account: Account, new_public_key: Any) -> tuple[bytes, Callable[[Any], bytes]]:
    """The serialized ``RotationProofChallenge`` for ``account`` and a signer of it."""
    info = http.get(f"accounts/{account.address()}").json()
    challenge = RotationProofChallenge(
        int(info["sequence_number"]),
        account.address(),
        AccountAddress.from_str(info["authentication_key"]),
        new_public_key,
    )
    serializer = Serializer()
    challenge.serialize(serializer)
    message = serializer.output()
    return message, lambda key: key.sign(message).signature


def rotate_ed25519(http: Any, tx: ModuleType, account: Account, new_key: ed25519.PrivateKey) -> dict[str, Any]:
    """``0x1::account::rotate_authentication_key`` from the account's Ed25519 key to ``new_key``."""
    message, _ = rotation_proofs(http, account, new_key.public_key())
    args = [
        tx.bcs_u8(0),
        tx.bcs_bytes(account.private_key.public_key().key.encode()),
        tx.bcs_u8(0),
        tx.bcs_bytes(new_key.public_key().key.encode()),
        tx.bcs_bytes(account.sign(message).signature),
        tx.bcs_bytes(new_key.sign(message).signature),
    ]
    return http.run(account, "0x1::account::rotate_authentication_key", args)


def originating(http: Any, auth_key: Any) -> list[str]:
    """``0x1::account::originating_address`` (an ``Option<address>``)."""
    return http.view("0x1::account::originating_address", [str(auth_key)])[0]["vec"]


def table_lookup(http: Any, auth_key: Any) -> Any:
    """What the TS SDK's ``lookupOriginalAccountAddress`` does: the table item behind ``OriginatingAddress``."""
    handle = http.get("accounts/0x1/resource/0x1::account::OriginatingAddress").json()["data"]["address_map"]["handle"]
    return http.post_json(
        f"tables/{handle}/item", {"key_type": "address", "value_type": "address", "key": str(auth_key)}
    )


# --------------------------------------------------------------------------- key rotation


def test_rotate_authentication_key_ed25519(http: Any, tx: ModuleType) -> None:
    alice = http.new_account(5 * APT)
    new_key = ed25519.PrivateKey.random()
    new_auth_key = AccountAddress.from_key(new_key.public_key())
    txn = rotate_ed25519(http, tx, alice, new_key)
    assert txn["success"], txn["vm_status"]
    events = {e["type"]: e["data"] for e in txn["events"]}
    assert events["0x1::account::KeyRotation"] == {
        "account": str(alice.address()),
        "old_authentication_key": alice.auth_key(),
        "new_authentication_key": str(new_auth_key),
    }
    assert events["0x1::account::KeyRotationToPublicKey"]["verified_public_key_bit_map"] == "0x80000000"
    assert http.get(f"accounts/{alice.address()}").json()["authentication_key"] == str(new_auth_key)

    # the reverse lookup wallets use to recover the account from its new key
    assert originating(http, new_auth_key) == [str(alice.address())]
    item = table_lookup(http, new_auth_key)
    assert item.status_code == 200 and item.json() == str(alice.address())
    missing = table_lookup(http, alice.auth_key())
    assert missing.status_code == 404 and missing.json()["error_code"] == "table_item_not_found"

    # the old key is refused as an Aptos node refuses it; the new key signs for the same address
    raw = raw_for(http, tx, alice.address(), transfer_payload(tx, alice.address(), 1))
    refused(http, SignedTransaction(raw, alice.sign_transaction(raw)), "INVALID_AUTH_KEY")
    rotated = Account(alice.address(), new_key)
    txn = submit(http, SignedTransaction(raw, rotated.sign_transaction(raw)))
    assert txn["success"] and txn["sender"] == str(alice.address())

    # rotating again moves the table entry to the newest key
    third = ed25519.PrivateKey.random()
    assert rotate_ed25519(http, tx, rotated, third)["success"]
    assert originating(http, new_auth_key) == []
    assert originating(http, AccountAddress.from_key(third.public_key())) == [str(alice.address())]


@pytest.mark.parametrize(
    ("case", "reason", "code"),
    [
        ("wrong current key", "EWRONG_CURRENT_PUBLIC_KEY", 0x40007),
        ("new key did not sign", "EINVALID_PROOF_OF_KNOWLEDGE", 0x10008),
        ("unknown scheme", "EINVALID_SCHEME", 0x1000C),
        ("key already mapped", "ENEW_AUTH_KEY_ALREADY_MAPPED", 0x10015),
        ("same key", "ENEW_AUTH_KEY_SAME_AS_CURRENT", 0x10016),
        ("short public key", "E_WRONG_PUBKEY_SIZE", 0x10001),
    ],
)
def test_rotation_refusals(http: Any, tx: ModuleType, case: str, reason: str, code: int) -> None:
    alice = http.new_account(2 * APT)
    new_key = ed25519.PrivateKey.random()
    current_pk = alice.private_key.public_key().key.encode()
    if case == "key already mapped":
        other = http.new_account(2 * APT)
        assert rotate_ed25519(http, tx, other, new_key)["success"]
    if case == "same key":
        new_key = alice.private_key
    message, _ = rotation_proofs(http, alice, new_key.public_key())
    from_scheme, from_pk = 0, current_pk
    new_proof = new_key.sign(message).signature
    if case == "wrong current key":
        from_pk = ed25519.PrivateKey.random().public_key().key.encode()
    elif case == "new key did not sign":
        new_proof = alice.sign(message).signature
    elif case == "unknown scheme":
        from_scheme = 2
    elif case == "short public key":
        from_pk = current_pk[:31]
    args = [tx.bcs_u8(from_scheme), tx.bcs_bytes(from_pk), tx.bcs_u8(0), tx.bcs_bytes(new_key.public_key().key.encode()),
            tx.bcs_bytes(alice.sign(message).signature), tx.bcs_bytes(new_proof)]
    seq = http.seq(alice.address())
    txn = http.run(alice, "0x1::account::rotate_authentication_key", args)
    assert txn["success"] is False
    module = "ed25519" if reason == "E_WRONG_PUBKEY_SIZE" else "account"
    assert txn["vm_status"].startswith(f"Move abort in 0x1::{module}: {reason}({code:#x}): "), txn["vm_status"]
    assert http.get(f"accounts/{alice.address()}").json() == {
        "sequence_number": str(seq + 1),
        "authentication_key": alice.auth_key(),
    }


def test_rotate_to_multi_ed25519_then_sign_with_two_of_three(http: Any, tx: ModuleType) -> None:
    alice = http.new_account(5 * APT)
    keys = [ed25519.PrivateKey.random() for _ in range(3)]
    multi = ed25519.MultiPublicKey([k.public_key() for k in keys], 2)
    message, _ = rotation_proofs(http, alice, multi)
    proof = ed25519.MultiSignature([(0, keys[0].sign(message)), (2, keys[2].sign(message))])
    serializer = Serializer()
    proof.serialize(serializer)
    cap_update_table = Deserializer(serializer.output()).to_bytes()  # signatures ‖ 4-byte bitmap
    args = [tx.bcs_u8(0), tx.bcs_bytes(alice.private_key.public_key().key.encode()), tx.bcs_u8(1),
            tx.bcs_bytes(bytes(multi.to_crypto_bytes())), tx.bcs_bytes(alice.sign(message).signature),
            tx.bcs_bytes(cap_update_table)]
    txn = http.run(alice, "0x1::account::rotate_authentication_key", args)
    assert txn["success"], txn["vm_status"]
    multi_auth_key = AccountAddress.from_key(multi)
    assert http.get(f"accounts/{alice.address()}").json()["authentication_key"] == str(multi_auth_key)
    rotated = [e["data"] for e in txn["events"] if e["type"].endswith("KeyRotationToPublicKey")][0]
    assert rotated["verified_public_key_bit_map"] == "0xa0000000" and rotated["public_key_scheme"] == 1

    raw = raw_for(http, tx, alice.address(), transfer_payload(tx, alice.address(), 1))

    def signed_by(*indices: int) -> SignedTransaction:
        signature = ed25519.MultiSignature([(i, keys[i].sign(raw.keyed())) for i in indices])
        return SignedTransaction(raw, Authenticator(MultiEd25519Authenticator(multi, signature)))

    refused(http, signed_by(1), "INVALID_SIGNATURE")
    txn = submit(http, signed_by(0, 1))
    assert txn["success"], txn["vm_status"]
    assert txn["signature"]["type"] == "multi_ed25519_signature"
    assert txn["signature"]["threshold"] == 2 and len(txn["signature"]["public_keys"]) == 3


def test_rotate_authentication_key_call_skips_the_table(http: Any, tx: ModuleType) -> None:
    alice = http.new_account(2 * APT)
    new_key = ed25519.PrivateKey.random()
    new_auth_key = AccountAddress.from_key(new_key.public_key())
    txn = http.run(alice, "0x1::account::rotate_authentication_key_call", [tx.bcs_bytes(new_auth_key.address)])
    assert txn["success"], txn["vm_status"]
    assert originating(http, new_auth_key) == []
    raw = raw_for(http, tx, alice.address(), transfer_payload(tx, alice.address(), 1))
    assert submit(http, SignedTransaction(raw, Account(alice.address(), new_key).sign_transaction(raw)))["success"]
    short = http.run(Account(alice.address(), new_key), "0x1::account::rotate_authentication_key_call",
                     [tx.bcs_bytes(b"\x01" * 31)])
    assert short["vm_status"].startswith("Move abort in 0x1::account: EMALFORMED_AUTHENTICATION_KEY(0x10004)")


# --------------------------------------------------------------------------- multi-agent


def node_registration_args(tx: ModuleType, role: int, public_key: bytes) -> list[bytes]:
    return [tx.bcs_u8(role), tx.bcs_bytes(public_key)]


def test_multi_agent_registers_a_cosigning_node(http: Any, tx: ModuleType) -> None:
    operator = http.new_account(5 * APT)
    node = http.new_account(APT)
    public_key = node.private_key.public_key().key.encode()
    payload = tx.entry_payload(f"{PICTOR}::registry::register_node_cosigned", node_registration_args(tx, 1, public_key))
    raw = raw_for(http, tx, operator.address(), payload)
    node_apt, node_seq = http.apt_balance(node.address()), http.seq(node.address())
    txn = submit(http, multi_agent(raw, operator, [node]))
    assert txn["success"], txn["vm_status"]
    assert txn["signature"]["type"] == "multi_agent_signature"
    assert txn["signature"]["secondary_signer_addresses"] == [str(node.address())]
    assert txn["signature"]["secondary_signers"][0]["type"] == "ed25519_signature"
    registered = [e["data"] for e in txn["events"] if e["type"].endswith("::registry::NodeRegistered")][0]
    assert registered["account"] == str(node.address()) and registered["operator"] == str(operator.address())
    node_id = int(registered["node_id"])
    assert http.view(f"{PICTOR}::registry::node_of_account", [str(node.address())]) == [str(node_id)]
    # only the sender pays and moves its sequence number
    assert (http.apt_balance(node.address()), http.seq(node.address())) == (node_apt, node_seq)
    assert http.seq(operator.address()) == 1

    # a node account whose Aptos key was rotated co-signs under its new key, from the same address
    other = http.new_account(APT)
    new_key = ed25519.PrivateKey.random()
    assert rotate_ed25519(http, tx, other, new_key)["success"]
    rotated = Account(other.address(), new_key)
    payload = tx.entry_payload(
        f"{PICTOR}::registry::register_node_cosigned", node_registration_args(tx, 2, new_key.public_key().key.encode())
    )
    txn = submit(http, multi_agent(raw_for(http, tx, operator.address(), payload), operator, [rotated]))
    assert txn["success"], txn["vm_status"]
    assert [e["data"]["account"] for e in txn["events"] if e["type"].endswith("NodeRegistered")] == [
        str(other.address())
    ]
    # its former key does not stand for it any more
    payload = tx.entry_payload(
        f"{PICTOR}::registry::register_node_cosigned",
        node_registration_args(tx, 2, other.private_key.public_key().key.encode()),
    )
    refused(http, multi_agent(raw_for(http, tx, operator.address(), payload), operator, [other]), "INVALID_AUTH_KEY")


def test_multi_agent_validation_errors(http: Any, tx: ModuleType) -> None:
    operator = http.new_account(5 * APT)
    node, third = http.new_account(APT), http.new_account(APT)
    public_key = node.private_key.public_key().key.encode()
    payload = tx.entry_payload(f"{PICTOR}::registry::register_node_cosigned", node_registration_args(tx, 1, public_key))
    raw = raw_for(http, tx, operator.address(), payload)

    # two secondary addresses, one secondary signature (every signature valid)
    message = MultiAgentRawTransaction(raw, [node.address(), third.address()])
    out = Serializer()
    raw.serialize(out)
    out.uleb128(2)  # TransactionAuthenticator::MultiAgent
    operator.sign_transaction(message).serialize(out)
    out.sequence([node.address(), third.address()], Serializer.struct)
    out.sequence([node.sign_transaction(message)], Serializer.struct)
    response = http.submit(out.output())
    assert response.status_code == 400, response.text
    assert response.json()["vm_error_code"] == STATUS["SECONDARY_KEYS_ADDRESSES_COUNT_MISMATCH"]

    stranger = Account.generate()  # no account on chain
    refused(http, multi_agent(raw, operator, [stranger]), "SENDING_ACCOUNT_DOES_NOT_EXIST")
    impostor = Account(node.address(), ed25519.PrivateKey.random())  # signs validly, with a key that is not node's
    refused(http, multi_agent(raw, operator, [impostor]), "INVALID_AUTH_KEY")
    tampered = multi_agent(raw, operator, [node])
    tampered.authenticator.authenticator.secondary_signers[0] = (
        node.address(), node.sign_transaction(MultiAgentRawTransaction(raw, [third.address()]))
    )
    refused(http, tampered, "INVALID_SIGNATURE")
    refused(http, multi_agent(raw, operator, [operator]), "SIGNERS_CONTAIN_DUPLICATES")

    # a one-signer function called with two signers commits as failed, as Aptos's argument check does
    transfer = raw_for(http, tx, operator.address(), transfer_payload(tx, node.address(), 1))
    txn = submit(http, multi_agent(transfer, operator, [node]))
    assert txn["success"] is False
    assert txn["vm_status"] == "Transaction Executed and Committed with Error NUMBER_OF_SIGNER_ARGUMENTS_MISMATCH"


def test_simulate_multi_agent(http: Any, tx: ModuleType) -> None:
    operator = http.new_account(5 * APT)
    node = http.new_account(APT)
    payload = tx.entry_payload(
        f"{PICTOR}::registry::register_node_cosigned",
        node_registration_args(tx, 2, node.private_key.public_key().key.encode()),
    )
    raw = raw_for(http, tx, operator.address(), payload)
    message = MultiAgentRawTransaction(raw, [node.address()])
    auth = MultiAgentAuthenticator(
        operator.sign_simulated_transaction(message), [(node.address(), node.sign_simulated_transaction(message))]
    )
    count = http.view(f"{PICTOR}::registry::node_count", [])
    response = http.simulate(SignedTransaction(raw, Authenticator(auth)).bytes())
    assert response.status_code == 200, response.text
    (sim,) = response.json()
    assert sim["success"], sim["vm_status"]
    assert any(e["type"].endswith("NodeRegistered") for e in sim["events"])
    assert http.view(f"{PICTOR}::registry::node_count", []) == count
    assert http.seq(operator.address()) == 0
    # a real signature is refused for a simulation
    response = http.simulate(multi_agent(raw, operator, [node]).bytes())
    assert response.status_code == 400


# --------------------------------------------------------------------------- fee payer (sponsored)


def test_fee_payer_pays_the_gas(http: Any, tx: ModuleType) -> None:
    sender = http.new_account(APT)
    payer = http.new_account(5 * APT)
    recipient = Account.generate()
    raw = raw_for(http, tx, sender.address(), transfer_payload(tx, recipient.address(), 12345))
    payer_apt, payer_seq = http.apt_balance(payer.address()), http.seq(payer.address())
    txn = submit(http, sponsored(raw, sender, payer))
    assert txn["success"], txn["vm_status"]
    fee = int(txn["gas_used"]) * int(txn["gas_unit_price"])
    assert fee > 0
    assert http.apt_balance(sender.address()) == APT - 12345
    assert http.apt_balance(payer.address()) == payer_apt - fee
    assert http.seq(payer.address()) == payer_seq and http.seq(sender.address()) == 1
    signature = txn["signature"]
    assert signature["type"] == "fee_payer_signature"
    assert signature["fee_payer_address"] == str(payer.address()) and signature["secondary_signers"] == []
    assert http.apt_balance(recipient.address()) == 12345


def test_sponsored_transaction_creates_the_sender_account(http: Any, tx: ModuleType) -> None:
    newcomer = Account.generate()  # no account, no APT
    payer = http.new_account(5 * APT)
    assert http.get(f"accounts/{newcomer.address()}").status_code == 404
    payload = tx.entry_payload(f"{PICTOR}::token::faucet", [tx.bcs_u64(5)])
    raw = tx.raw_txn(newcomer, 0, payload, chain_id=http.chain_id)
    txn = submit(http, sponsored(raw, newcomer, payer))
    assert txn["success"], txn["vm_status"]
    assert http.get(f"accounts/{newcomer.address()}").json() == {
        "sequence_number": "1",
        "authentication_key": newcomer.auth_key(),
    }
    assert http.view(f"{PICTOR}::token::balance", [str(newcomer.address())]) == ["5"]
    # without a sponsor the same newcomer's first transaction has no account to come from
    later = Account.generate()
    plain = tx.raw_txn(later, 0, payload, chain_id=http.chain_id)
    refused(http, SignedTransaction(plain, later.sign_transaction(plain)), "SENDING_ACCOUNT_DOES_NOT_EXIST")


def test_fee_payer_validation_errors(http: Any, tx: ModuleType) -> None:
    sender = http.new_account(APT)
    payer = http.new_account(5 * APT)
    poor = Account.generate()
    raw = raw_for(http, tx, sender.address(), transfer_payload(tx, payer.address(), 1))
    # the fee payer left at 0x0: nobody can pay
    refused(http, sponsored(raw, sender, payer, payer_address=ZERO), "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE")
    # the fee payer must sign with its own address in the message
    unsponsored = FeePayerRawTransaction(raw, [], None)
    lazy = FeePayerAuthenticator(
        sender.sign_transaction(unsponsored), [], (payer.address(), payer.sign_transaction(unsponsored))
    )
    refused(http, SignedTransaction(raw, Authenticator(lazy)), "INVALID_SIGNATURE")
    # a fee payer whose key is not the account's
    impostor = Account(payer.address(), ed25519.PrivateKey.random())
    refused(http, sponsored(raw, sender, impostor), "INVALID_AUTH_KEY")
    # a fee payer without the APT
    http.fund(poor.address(), 1)
    refused(http, sponsored(raw, sender, poor), "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE")
    refused(http, sponsored(raw, sender, sender), "SIGNERS_CONTAIN_DUPLICATES")


def test_fee_payer_with_a_secondary_signer_and_a_secp256k1_sponsor(http: Any, tx: ModuleType) -> None:
    operator = http.new_account(APT)
    node = http.new_account(APT)
    payer = Account.generate_secp256k1_ecdsa()
    http.fund(payer.address(), 5 * APT)
    payload = tx.entry_payload(
        f"{PICTOR}::registry::register_node_cosigned",
        node_registration_args(tx, 1, node.private_key.public_key().key.encode()),
    )
    raw = raw_for(http, tx, operator.address(), payload)
    before = http.apt_balance(operator.address())
    txn = submit(http, sponsored(raw, operator, payer, [node]))
    assert txn["success"], txn["vm_status"]
    assert http.apt_balance(operator.address()) == before
    fee_payer = txn["signature"]["fee_payer_signer"]
    assert fee_payer["type"] == "single_key_signature" and fee_payer["public_key"]["type"] == "secp256k1_ecdsa"


def test_simulate_fee_payer_without_keys_or_sponsor(http: Any, tx: ModuleType) -> None:
    """As the TS SDK simulates: no public keys (``NoAccountAuthenticator``) and the fee payer still 0x0."""
    newcomer = Account.generate()
    payload = tx.entry_payload(f"{PICTOR}::token::faucet", [tx.bcs_u64(7)])
    raw = tx.raw_txn(newcomer, 0, payload, chain_id=http.chain_id)
    auth = FeePayerAuthenticator(no_account_authenticator(), [], (ZERO, no_account_authenticator()))
    response = http.simulate(SignedTransaction(raw, Authenticator(auth)).bytes())
    assert response.status_code == 200, response.text
    (sim,) = response.json()
    assert sim["success"], sim["vm_status"]
    assert int(sim["gas_used"]) > 0
    assert sim["signature"]["sender"] == {"type": "no_account_signature"}
    assert http.get(f"accounts/{newcomer.address()}").status_code == 404
    # the same without keys is refused outside a simulation
    response = http.submit(SignedTransaction(raw, Authenticator(auth)).bytes())
    assert response.status_code == 400 and response.json()["error_code"] == "vm_error"


# --------------------------------------------------------------------------- SingleKey and MultiKey accounts


def test_secp256k1_single_key_account(http: Any, tx: ModuleType) -> None:
    account = Account.generate_secp256k1_ecdsa()
    http.fund(account.address(), 2 * APT)
    raw = raw_for(http, tx, account.address(), transfer_payload(tx, account.address(), 1))
    signed = SignedTransaction(raw, account.sign_transaction(raw))
    txn = submit(http, signed)
    assert txn["success"], txn["vm_status"]
    assert txn["signature"]["type"] == "single_sender"
    assert txn["signature"]["public_key"]["type"] == "secp256k1_ecdsa"
    assert txn["signature"]["signature"]["type"] == "secp256k1_ecdsa"
    assert http.get(f"accounts/{account.address()}").json()["authentication_key"] == str(account.address())

    # the malleable twin (r, n − s) of a valid signature is refused, as Aptos refuses high-s signatures
    raw = raw_for(http, tx, account.address(), transfer_payload(tx, account.address(), 2))
    low = account.private_key.sign(raw.keyed()).data()
    n = ecdsa.SECP256k1.order
    high = low[:32] + (n - int.from_bytes(low[32:], "big")).to_bytes(32, "big")
    verifier = ecdsa.VerifyingKey.from_string(account.public_key().to_crypto_bytes(), ecdsa.SECP256k1, hashlib.sha3_256)
    assert verifier.verify(high, raw.keyed())  # valid ECDSA, only not low-s
    twin = AccountAuthenticator(SingleKeyAuthenticator(account.public_key(), secp256k1_ecdsa.Signature(high)))
    refused(http, SignedTransaction(raw, Authenticator(SingleSenderAuthenticator(twin))), "INVALID_SIGNATURE")


def test_ed25519_single_key_account(http: Any, tx: ModuleType) -> None:
    account = single_key_ed25519_account()
    http.fund(account.address(), 2 * APT)
    assert account.address() != AccountAddress.from_key(account.private_key.public_key())  # not the legacy address
    txn = submit(http, sign_single_key(account, raw_for(http, tx, account.address(), transfer_payload(tx, ZERO, 0))))
    assert txn["success"], txn["vm_status"]
    assert txn["signature"]["public_key"] == {
        "type": "ed25519",
        "value": "0x" + account.private_key.public_key().key.encode().hex(),
    }
    # the same key as a legacy Ed25519 authenticator stands for another authentication key
    raw = raw_for(http, tx, account.address(), transfer_payload(tx, ZERO, 0))
    refused(http, SignedTransaction(raw, account.sign_transaction(raw)), "INVALID_AUTH_KEY")


def test_multi_key_account_two_of_three(http: Any, tx: ModuleType) -> None:
    keys: list[Any] = [ed25519.PrivateKey.random(), secp256k1_ecdsa.PrivateKey.random(), ed25519.PrivateKey.random()]
    multi = asymmetric_crypto_wrapper.MultiPublicKey([k.public_key() for k in keys], 2)
    address = AccountAddress.from_key(multi)
    http.fund(address, 2 * APT)

    def signed_by(raw: RawTransaction, *indices: int) -> SignedTransaction:
        signature = asymmetric_crypto_wrapper.MultiSignature([(i, keys[i].sign(raw.keyed())) for i in indices])
        auth = AccountAuthenticator(MultiKeyAuthenticator(multi, signature))
        return SignedTransaction(raw, Authenticator(SingleSenderAuthenticator(auth)))

    raw = raw_for(http, tx, address, transfer_payload(tx, address, 1))
    refused(http, signed_by(raw, 2), "INVALID_SIGNATURE")
    txn = submit(http, signed_by(raw, 0, 1))
    assert txn["success"], txn["vm_status"]
    signature = txn["signature"]
    assert signature["type"] == "single_sender" and signature["signatures_required"] == 2
    assert [s["index"] for s in signature["signatures"]] == [0, 1]
    assert [k["type"] for k in signature["public_keys"]] == ["ed25519", "secp256k1_ecdsa", "ed25519"]
    assert http.get(f"accounts/{address}").json()["authentication_key"] == str(address)


def test_every_signature_kind_conforms_to_the_node_api_spec(http: Any, tx: ModuleType, spec_validator: Any) -> None:
    """The committed and pending JSON of multi-agent and fee-payer transactions matches the official Node API document.

    (SingleKey keys render as an Aptos node renders them, ``{"type", "value"}``; the v1.2.0 document's
    ``PublicKey_string(HexEncodedBytes)`` asks for an object that is also a string, which no node can send.)
    """
    operator, node, payer = http.new_account(2 * APT), http.new_account(APT), http.new_account(2 * APT)
    sender = http.new_account(APT)
    payload = tx.entry_payload(
        f"{PICTOR}::registry::register_node_cosigned",
        node_registration_args(tx, 1, node.private_key.public_key().key.encode()),
    )
    kinds = [
        multi_agent(raw_for(http, tx, operator.address(), payload), operator, [node]),
        sponsored(raw_for(http, tx, sender.address(), transfer_payload(tx, ZERO, 0)), sender, payer),
    ]
    for signed in kinds:
        response = http.submit(signed.bytes())
        pending = spec_validator.validate(response, expect_status=202)
        committed = http.wait(pending["hash"])
        assert committed["success"], committed["vm_status"]
        spec_validator.validate(http.get(f"transactions/by_hash/{pending['hash']}"), expect_status=200)
