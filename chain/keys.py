"""Ed25519 keys: key files, the localnet dev keys, node registration proofs and credit-claim signatures.

Signed messages follow chain/SPEC.md: an ASCII domain prefix followed by BCS of the fields
(address = 32 bytes, u64 = 8 bytes little endian, u8 = 1 byte).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aptos_sdk import ed25519
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from chain.constants import U64_MAX
from chain.errors import InvalidArgument

REGISTRATION_DOMAIN = b"PICTOR_NODE_REGISTRATION"
CREDIT_CLAIM_DOMAIN = b"PICTOR_CREDIT_CLAIM"
ROLE_WORKER = 1
ROLE_CHECKER = 2
_AIP80_PREFIX = "ed25519-priv-"


# --------------------------------------------------------------------------- addresses and keys


_HEX_DIGITS = frozenset("0123456789abcdef")


#: Canonical addresses already seen (a set lookup is cheaper than checking 64 digits again); bounded.
_CANONICAL: set[str] = set()
_CANONICAL_MAX = 1 << 16


def normalize_address(value: str | bytes | AccountAddress) -> str:
    """An address as ``0x`` + 64 lowercase hex digits (InvalidArgument if it is not one)."""
    if value.__class__ is str and value in _CANONICAL:
        return value  # type: ignore[return-value]
    if isinstance(value, AccountAddress):
        return "0x" + value.address.hex()
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise InvalidArgument(f"an address is 32 bytes, got {len(value)}")
        return "0x" + bytes(value).hex()
    if not isinstance(value, str):
        raise InvalidArgument(f"not an address: {value!r}")
    if len(value) == 66 and value.startswith("0x") and _HEX_DIGITS.issuperset(value[2:]):
        if value.__class__ is str:
            if len(_CANONICAL) >= _CANONICAL_MAX:
                _CANONICAL.clear()
            _CANONICAL.add(value)
        return value  # already canonical: the indexer's hot path
    text = value.strip().lower()
    text = text[2:] if text.startswith("0x") else text
    if not text or len(text) > 64 or not _HEX_DIGITS.issuperset(text):
        raise InvalidArgument(f"not an account address: {value!r}")
    return "0x" + text.rjust(64, "0")


def address_bytes(value: str | bytes | AccountAddress) -> bytes:
    """The 32 raw bytes of an address."""
    return bytes.fromhex(normalize_address(value)[2:])


def public_key_bytes(public_key: bytes | str | ed25519.PublicKey | Account) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as bytes, hex, SDK key or account."""
    if isinstance(public_key, Account):
        public_key = public_key.public_key()  # type: ignore[assignment]
    if isinstance(public_key, ed25519.PublicKey):
        return public_key.key.encode()
    if isinstance(public_key, str):
        text = public_key[2:] if public_key.startswith("0x") else public_key
        try:
            public_key = bytes.fromhex(text)
        except ValueError as exc:
            raise InvalidArgument(f"public key is not hex: {exc}") from exc
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise InvalidArgument("an Ed25519 public key is 32 bytes")
    return bytes(public_key)


def node_address(public_key: bytes | str | ed25519.PublicKey | Account) -> str:
    """The account address of a node key: ``sha3_256(public_key ‖ 0x00)`` (single Ed25519 auth key)."""
    return "0x" + hashlib.sha3_256(public_key_bytes(public_key) + b"\x00").hexdigest()


def account_address(account: Account) -> str:
    """An account's address, normalized."""
    return normalize_address(account.address())


def generate_account() -> Account:
    """A fresh Ed25519 account (operator, creator or node key)."""
    return Account.generate()


def account_from_private_key(private_key: str | bytes) -> Account:
    """An account from a private key given as raw 32 bytes, hex (with or without 0x) or AIP-80 text."""
    if isinstance(private_key, (bytes, bytearray)):
        if len(private_key) != 32:
            raise InvalidArgument("an Ed25519 private key is 32 bytes")
        key = ed25519.PrivateKey.from_hex(bytes(private_key), strict=False)
    else:
        text = private_key.strip()
        if text.startswith(_AIP80_PREFIX):
            text = text[len(_AIP80_PREFIX) :]
        body = text[2:] if text.startswith("0x") else text
        if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
            raise InvalidArgument("an Ed25519 private key is 64 hex digits")
        key = ed25519.PrivateKey.from_hex("0x" + body.lower(), strict=False)
    return Account(AccountAddress.from_key(key.public_key()), key)


def private_key_hex(account: Account) -> str:
    """The account's private key as ``0x`` + 64 hex digits."""
    return "0x" + account.private_key.key.encode().hex()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- key files


def write_key_file(path: Path | str, account: Account, *, overwrite: bool = False) -> Path:
    """Write the private key as hex to ``path`` with mode 0600, atomically; refuse to replace an existing file.

    The key is written to a temporary file created 0600 in the same directory, fsynced, then hard-linked
    into place: ``link`` fails if the target exists, so two writers can never both "win", and a reader
    never sees a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite key file {path}")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(private_key_hex(account) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # the umask cannot widen 0600, but a pre-set ACL default could; be explicit
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(f"refusing to overwrite key file {path}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # Persist the directory entry so the key survives a crash right after it was written.
    """Flush a directory entry to disk (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_key_file(path: Path | str) -> Account:
    """Read an account from a key file (hex, optionally ``0x`` or AIP-80 prefixed, or an SDK JSON file)."""
    text = Path(path).read_text().strip()
    if text.startswith("{"):
        data = json.loads(text)
        return account_from_private_key(str(data["private_key"]))
    return account_from_private_key(text)


def generate_key_file(path: Path | str) -> Account:
    """Create a new account and write its key file (refusing to overwrite)."""
    account = generate_account()
    write_key_file(path, account)
    return account


# --------------------------------------------------------------------------- localnet dev keys


@dataclass(frozen=True)
class LocalnetKeys:
    """The accounts genesis created: admin, coordinator, treasury, plus any extra named accounts."""

    admin: Account
    coordinator: Account
    treasury: Account
    accounts: dict[str, Any] = field(default_factory=dict)  # accounts.json as written by genesis


def load_localnet_keys(data_dir: Path | str) -> LocalnetKeys:
    """Load ``DATA_DIR/keys/{admin,coordinator,treasury}.key`` (and ``accounts.json`` if present)."""
    keys_dir = Path(data_dir) / "keys"
    return load_role_keys(keys_dir)


def load_settings_keys(settings: Any) -> LocalnetKeys:
    """The admin/coordinator/treasury keys of the configured deployment (a :class:`pictor.settings.Settings`).

    ``PICTOR_KEYS_DIR`` when set; else the keys of the default localnet (``PICTOR_DATA_DIR/localnet/keys``,
    where ``pictor localnet`` keeps its chain).
    """
    keys_dir = settings.keys_dir or Path(settings.data_dir) / "localnet" / "keys"
    return load_role_keys(keys_dir)


def load_role_keys(keys_dir: Path | str) -> LocalnetKeys:
    """Load ``admin.key``, ``coordinator.key`` and ``treasury.key`` from a keys directory.

    Where ``accounts.json`` names a role's address, the account uses it: an account whose authentication
    key was rotated (the localnet admin key signs for the package address) is not at its key's address.
    """
    keys_dir = Path(keys_dir)
    accounts: dict[str, Any] = {}
    accounts_file = keys_dir / "accounts.json"
    if accounts_file.exists():
        accounts = json.loads(accounts_file.read_text())
    roles: dict[str, Account] = {}
    for name in ("admin", "coordinator", "treasury"):
        account = load_key_file(keys_dir / f"{name}.key")
        entry = accounts.get(name) if isinstance(accounts, dict) else None
        listed = entry.get("address") if isinstance(entry, dict) else entry
        if isinstance(listed, str):
            account = Account(AccountAddress(address_bytes(listed)), account.private_key)
        roles[name] = account
    return LocalnetKeys(roles["admin"], roles["coordinator"], roles["treasury"], accounts)


# --------------------------------------------------------------------------- signed messages


def _u64(name: str, value: int) -> bytes:
    """A u64 as 8 little-endian bytes (BCS)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise InvalidArgument(f"{name} must be a u64, got {value!r}")
    return value.to_bytes(8, "little")


def _role(role: int) -> bytes:
    """A node role as one byte (BCS u8)."""
    if isinstance(role, bool) or role not in (ROLE_WORKER, ROLE_CHECKER):
        raise InvalidArgument(f"role must be 1 (worker) or 2 (checker), got {role!r}")
    return bytes([role])


def registration_message(
    operator: str | bytes | AccountAddress, role: int, public_key: bytes | str | ed25519.PublicKey | Account
) -> bytes:
    """``b"PICTOR_NODE_REGISTRATION" ‖ bcs(operator) ‖ bcs(role: u8) ‖ public_key`` (key raw, no length)."""
    return REGISTRATION_DOMAIN + address_bytes(operator) + _role(role) + public_key_bytes(public_key)


def registration_proof(node: Account, operator: str | bytes | AccountAddress, role: int) -> bytes:
    """The node key's 64-byte signature proving it agrees to serve ``operator`` in ``role``."""
    return node.sign(registration_message(operator, role, node)).data()


def credit_claim_message(user: str | bytes | AccountAddress, amount: int, nonce: int, expires_at: int) -> bytes:
    """``b"PICTOR_CREDIT_CLAIM" ‖ bcs(user) ‖ bcs(amount) ‖ bcs(nonce) ‖ bcs(expires_at)``."""
    return (
        CREDIT_CLAIM_DOMAIN
        + address_bytes(user)
        + _u64("amount", amount)
        + _u64("nonce", nonce)
        + _u64("expires_at", expires_at)
    )


def sign_credit_claim(
    credit_signer: Account, user: str | bytes | AccountAddress, amount: int, nonce: int, expires_at: int
) -> bytes:
    """The credit signer's 64-byte signature over a credit claim, for ``vault::claim_credit``."""
    return credit_signer.sign(credit_claim_message(user, amount, nonce, expires_at)).data()


def verify_signature(public_key: bytes | str | ed25519.PublicKey, message: bytes, signature: bytes) -> bool:
    """Strict Ed25519 verification of a 64-byte signature (False on any malformed input)."""
    if len(signature) != 64:
        return False
    try:
        VerifyKey(public_key_bytes(public_key)).verify(message, bytes(signature))
    except (BadSignatureError, InvalidArgument, ValueError, TypeError):
        return False
    return True
