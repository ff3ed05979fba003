"""Key files (0600, atomic, no overwrite), localnet dev keys, node addresses and the signed messages."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from nacl.signing import VerifyKey

from chain.errors import InvalidArgument
from chain.keys import (
    account_address,
    account_from_private_key,
    credit_claim_message,
    generate_key_file,
    load_key_file,
    load_localnet_keys,
    load_settings_keys,
    node_address,
    private_key_hex,
    registration_message,
    registration_proof,
    sign_credit_claim,
    verify_signature,
    write_key_file,
)

SEED = "0x" + "11" * 32


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_0600_hex_and_loads_back(tmp_path: Path) -> None:
    account = Account.generate()
    path = write_key_file(tmp_path / "sub" / "node.key", account)
    assert mode(path) == 0o600
    assert path.read_text() == private_key_hex(account) + "\n"
    assert load_key_file(path) == account
    assert sorted(p.name for p in path.parent.iterdir()) == ["node.key"]  # no temp file left behind


def test_key_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = write_key_file(tmp_path / "k.key", Account.generate())
    finally:
        os.umask(old)
    assert mode(path) == 0o600


def test_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    first = generate_key_file(tmp_path / "k.key")
    with pytest.raises(FileExistsError):
        write_key_file(tmp_path / "k.key", Account.generate())
    assert load_key_file(tmp_path / "k.key") == first
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]


def test_key_file_explicit_overwrite(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "k.key")
    second = Account.generate()
    write_key_file(tmp_path / "k.key", second, overwrite=True)
    assert load_key_file(tmp_path / "k.key") == second and mode(tmp_path / "k.key") == 0o600


@pytest.mark.parametrize(
    "text", [SEED, SEED[2:], "ed25519-priv-" + SEED, SEED.upper().replace("0X", "0x"), f"  {SEED}\n"]
)
def test_private_key_forms(text: str) -> None:
    assert account_from_private_key(text) == account_from_private_key(bytes.fromhex(SEED[2:]))


def test_sdk_json_key_file(tmp_path: Path) -> None:
    account = Account.generate()
    account.store(str(tmp_path / "a.json"))
    assert load_key_file(tmp_path / "a.json") == account


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "", b"\x00" * 31])
def test_bad_private_keys(bad: str | bytes) -> None:
    with pytest.raises(InvalidArgument):
        account_from_private_key(bad)


def test_node_address_is_the_single_key_auth_key() -> None:
    account = account_from_private_key(SEED)
    pub = account.public_key().key.encode()
    expected = "0x" + hashlib.sha3_256(pub + b"\x00").hexdigest()
    assert node_address(pub) == expected == node_address(account) == node_address("0x" + pub.hex())
    assert expected == account_address(account) == "0x" + AccountAddress.from_key(account.public_key()).address.hex()


def test_registration_message_layout_and_proof() -> None:
    node = account_from_private_key(SEED)
    operator = "0x" + "0" * 62 + "ab"
    pub = node.public_key().key.encode()
    message = registration_message(operator, 2, node)
    assert message == b"PICTOR_NODE_REGISTRATION" + bytes.fromhex(operator[2:]) + b"\x02" + pub
    assert len(message) == 24 + 32 + 1 + 32
    proof = registration_proof(node, operator, 2)
    assert len(proof) == 64
    VerifyKey(pub).verify(message, proof)  # raises if it does not verify
    assert verify_signature(pub, message, proof)
    assert not verify_signature(pub, registration_message(operator, 1, node), proof)
    with pytest.raises(InvalidArgument):
        registration_message(operator, 3, node)


def test_credit_claim_message_layout_and_signature() -> None:
    signer = account_from_private_key(SEED)
    user = "0x" + "cd" * 32
    message = credit_claim_message(user, 5 * 10**8, 0, 1_700_000_000)
    assert message == (
        b"PICTOR_CREDIT_CLAIM"
        + bytes.fromhex(user[2:])
        + (5 * 10**8).to_bytes(8, "little")
        + (0).to_bytes(8, "little")
        + (1_700_000_000).to_bytes(8, "little")
    )
    signature = sign_credit_claim(signer, user, 5 * 10**8, 0, 1_700_000_000)
    assert verify_signature(signer.public_key().key.encode(), message, signature)
    assert not verify_signature(signer.public_key().key.encode(), message, signature[:63])
    with pytest.raises(InvalidArgument):
        credit_claim_message(user, -1, 0, 0)
    with pytest.raises(InvalidArgument):
        credit_claim_message(user, 2**64, 0, 0)


def _write_dev_keys(data_dir: Path, accounts: dict[str, Account], listing: object | None = None) -> None:
    keys = data_dir / "keys"
    for name, account in accounts.items():
        write_key_file(keys / f"{name}.key", account)
    if listing is not None:
        (keys / "accounts.json").write_text(json.dumps(listing))


def test_load_localnet_keys(tmp_path: Path) -> None:
    accounts = {name: Account.generate() for name in ("admin", "coordinator", "treasury")}
    listing = {name: {"address": account_address(a)} for name, a in accounts.items()}
    _write_dev_keys(tmp_path, accounts, listing)
    keys = load_localnet_keys(tmp_path)
    assert (keys.admin, keys.coordinator, keys.treasury) == (
        accounts["admin"],
        accounts["coordinator"],
        accounts["treasury"],
    )
    assert keys.accounts == listing


def test_load_localnet_keys_without_listing(tmp_path: Path) -> None:
    accounts = {name: Account.generate() for name in ("admin", "coordinator", "treasury")}
    _write_dev_keys(tmp_path, accounts)
    assert load_localnet_keys(tmp_path).treasury == accounts["treasury"]


def test_load_localnet_keys_uses_the_listed_address_of_a_rotated_key(tmp_path: Path) -> None:
    """The localnet admin key signs for the package account, whose address is not the key's."""
    accounts = {name: Account.generate() for name in ("admin", "coordinator", "treasury")}
    package = "0x635e1d3966d97165b72ea99efb8c44cdeb96a30f37d69563fcde9151078dc42c"
    _write_dev_keys(tmp_path, accounts, {"admin": package, "package": package})
    keys = load_localnet_keys(tmp_path)
    assert account_address(keys.admin) == package
    assert keys.admin.private_key == accounts["admin"].private_key
    assert keys.coordinator == accounts["coordinator"]


def test_missing_dev_keys(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_localnet_keys(tmp_path)


def test_load_settings_keys(tmp_path: Path) -> None:
    from pictor.settings import Settings  # lazy: only this test needs the kernel's settings

    accounts = {name: Account.generate() for name in ("admin", "coordinator", "treasury")}
    _write_dev_keys(tmp_path / "localnet", accounts)
    assert load_settings_keys(Settings(data_dir=tmp_path)).admin == accounts["admin"]
    assert load_settings_keys(Settings(keys_dir=tmp_path / "localnet" / "keys")).treasury == accounts["treasury"]
