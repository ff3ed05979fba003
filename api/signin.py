"""Sign in with Aptos (AIP-116) and bearer sessions: the message, its verification, nonces and session tokens.

Flow: ``POST /auth/nonce`` {address} stores a single-use nonce and answers the sign-in input and the exact
message to sign; the wallet signs ``sha3_256(b"SIGN_IN_WITH_APTOS::") ‖ message`` (AIP-116's domain-separated
signing message); ``POST /auth/sign-in`` {address, public_key, signature, nonce} rebuilds the message from the
stored input, consumes the nonce, verifies the Ed25519 signature and that the key controls the address (the
on-chain authentication key, or for an account not on chain yet, the key's derived address), then issues an
opaque session token (only its sha256 is stored; an account holds at most ``session_max_per_account``, a new one
ending the oldest). Both endpoints are rate-limited per client (:mod:`api.limits`). :func:`api.deps.current_user` is
the dependency other routes use.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine, select

from chain.client import PictorChain
from chain.errors import ChainError, InvalidArgument
from chain.keys import normalize_address
from pictor.settings import Settings
from tables.auth import sessions

SIGNING_PREFIX = hashlib.sha3_256(b"SIGN_IN_WITH_APTOS::").digest()
#: Open (unused) nonces one address may hold; a new one past this retires the oldest, so nobody can lock an
#: address out by asking for nonces on its behalf.
MAX_OPEN_NONCES = 20
TOKEN_BYTES = 32


def now_to_the_second() -> datetime:
    """The current time, UTC, to the second (what the message shows)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as wallets print it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- the AIP-116 message


def build_message(fields: dict[str, Any]) -> str:
    """The AIP-116 plain-text message of a sign-in input (fields in the AIP's ABNF order, absent ones left out)."""
    lines = [f"{fields['domain']} wants you to sign in with your Aptos account:", fields["address"]]
    if fields.get("statement"):
        lines += ["", fields["statement"]]
    advanced = [
        ("URI", "uri"), ("Version", "version"), ("Chain ID", "chainId"), ("Nonce", "nonce"),
        ("Issued At", "issuedAt"), ("Expiration Time", "expirationTime"), ("Not Before", "notBefore"),
        ("Request ID", "requestId"),
    ]
    present = [f"{label}: {fields[key]}" for label, key in advanced if fields.get(key)]
    if present:
        lines += ["", *present]
    return "\n".join(lines)


def signing_message(message: str) -> bytes:
    """The bytes a wallet signs for ``message``: ``sha3_256(b"SIGN_IN_WITH_APTOS::") ‖ utf8(message)``."""
    return SIGNING_PREFIX + message.encode()


def ed25519_auth_keys(public_key: bytes) -> set[str]:
    """The authentication keys an Ed25519 key may hold: legacy Ed25519 (scheme 0) and SingleKey (scheme 2)."""
    legacy = hashlib.sha3_256(public_key + b"\x00").hexdigest()
    single = hashlib.sha3_256(b"\x00\x20" + public_key + b"\x02").hexdigest()  # AnyPublicKey::Ed25519, BCS
    return {"0x" + legacy, "0x" + single}


async def chain_id_line(chain: PictorChain, settings: Settings) -> str:
    """The message's ``Chain ID``: configured, else ``aptos:<name or id>`` from the node."""
    if settings.signin_chain_id:
        return settings.signin_chain_id
    chain_id = await chain.chain_id()
    return {1: "aptos:mainnet", 2: "aptos:testnet"}.get(chain_id, f"aptos:{chain_id}")


# ----------------------------------------------------------------------------- models


def parse_address(value: str) -> str:
    """A normalized address, 400 if it is not one."""
    try:
        return normalize_address(value)
    except (InvalidArgument, ValueError, TypeError):
        raise HTTPException(400, f"not an account address: {value[:80]!r}") from None


def parse_hex(name: str, value: str, size: int) -> bytes:
    """``value`` (0x-hex) as exactly ``size`` bytes, 400 otherwise."""
    text = value[2:] if value.startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise HTTPException(400, f"{name} must be {size} bytes of hex")
    return raw


# ----------------------------------------------------------------------------- endpoints


async def key_controls_address(chain: PictorChain, address: str, public_key: bytes) -> bool:
    """Whether ``public_key`` may sign for ``address``: its on-chain auth key, or its derived address if new."""
    keys = ed25519_auth_keys(public_key)
    try:
        account = await chain.account(address)
    except ChainError as exc:
        raise HTTPException(503, f"the chain node cannot be reached to check the account's key: {exc}") from None
    if account is None:  # not on chain yet: the address is the key's authentication key
        return address in keys
    try:
        on_chain = normalize_address(str(account.get("authentication_key", "")))  # the account may have rotated
    except InvalidArgument:
        return False  # a node answer without a readable key proves nothing
    return on_chain in keys


def hash_token(token: str) -> str:
    """What is stored for a session token: its sha256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()




def session_address(engine: Engine, token: str) -> str | None:
    """The address of a live session, None when the token is unknown or expired."""
    with engine.connect() as conn:
        return conn.execute(
            select(sessions.c.address).where(
                sessions.c.token_hash == hash_token(token), sessions.c.expires_at > datetime.now(UTC)
            )
        ).scalar_one_or_none()
