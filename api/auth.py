"""``/auth``: Sign in with Aptos (AIP-116) and bearer sessions.

Flow: ``POST /auth/nonce`` {address} stores a single-use nonce and answers the sign-in input and the exact
message to sign; the wallet signs ``sha3_256(b"SIGN_IN_WITH_APTOS::") ‖ message`` (AIP-116's domain-separated
signing message); ``POST /auth/sign-in`` {address, public_key, signature, nonce} rebuilds the message from the
stored input, consumes the nonce, verifies the Ed25519 signature and that the key controls the address (the
on-chain authentication key, or for an account not on chain yet, the key's derived address), then issues an
opaque session token (only its sha256 is stored). :func:`current_user` is the dependency other routers use.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine, delete, func, insert, select, update
from starlette.concurrency import run_in_threadpool

from api.audit import get_chain, get_engine
from chain.errors import ChainError, InvalidArgument
from chain.keys import normalize_address, public_key_bytes, verify_signature
from pictor.settings import Settings, get_settings
from tables.auth import sessions, signin_nonces

router = APIRouter(prefix="/auth", tags=["auth"])

SIGNING_PREFIX = hashlib.sha3_256(b"SIGN_IN_WITH_APTOS::").digest()
#: Unused, unexpired nonces one address may hold at once (bounds the table and nonce farming).
MAX_OPEN_NONCES = 20
TOKEN_BYTES = 32


def get_app_settings(request: Request) -> Settings:
    """The app's settings (``app.state.settings``), else the process settings."""
    return getattr(request.app.state, "settings", None) or get_settings()


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def _now() -> datetime:
    """The current time, UTC, to the second (what the message shows)."""
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
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


async def chain_id_line(request: Request, settings: Settings) -> str:
    """The message's ``Chain ID``: configured, else ``aptos:<name or id>`` from the node."""
    if settings.signin_chain_id:
        return settings.signin_chain_id
    chain_id = await get_chain(request).chain_id()
    return {1: "aptos:mainnet", 2: "aptos:testnet"}.get(chain_id, f"aptos:{chain_id}")


# ----------------------------------------------------------------------------- models


class NonceRequest(BaseModel):
    """Who is about to sign in."""

    address: str = Field(max_length=66, description="The account address, 0x-hex.")


class SignInInput(BaseModel):
    """AIP-116 ``AptosSignInInput`` with every bound field filled by the server."""

    domain: str
    address: str
    statement: str
    uri: str
    version: str
    chainId: str  # noqa: N815 - AIP-116's field name
    nonce: str
    issuedAt: str  # noqa: N815
    expirationTime: str  # noqa: N815


class NonceResponse(BaseModel):
    """The nonce, the sign-in input and the exact message the wallet must sign."""

    nonce: str
    message: str
    input: SignInInput
    expires_at: datetime


class SignInRequest(BaseModel):
    """The wallet's answer: its key and its signature over the message of ``nonce``."""

    address: str = Field(max_length=66)
    public_key: str = Field(max_length=68, description="Ed25519 public key, 0x-hex (32 bytes).")
    signature: str = Field(max_length=130, description="Ed25519 signature, 0x-hex (64 bytes).")
    nonce: str = Field(min_length=8, max_length=64)


class SessionResponse(BaseModel):
    """A session: the bearer token (shown once), its account and expiry."""

    token: str
    address: str
    expires_at: datetime


def _address(value: str) -> str:
    """A normalized address, 400 if it is not one."""
    try:
        return normalize_address(value)
    except (InvalidArgument, ValueError, TypeError):
        raise HTTPException(400, f"not an account address: {value[:80]!r}") from None


def _hex_bytes(name: str, value: str, size: int) -> bytes:
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


@router.post("/nonce", response_model=NonceResponse, summary="Start a sign-in: a single-use nonce and the message")
async def issue_nonce(body: NonceRequest, request: Request, settings: SettingsDep) -> NonceResponse:
    """Store a fresh nonce bound to ``address`` and answer the AIP-116 message to sign with it."""
    address = _address(body.address)
    try:
        chain_id = await chain_id_line(request, settings)
    except ChainError as exc:
        raise HTTPException(503, f"the chain node cannot be reached to name the chain id: {exc}") from None
    issued = _now()
    expires = issued + timedelta(seconds=settings.signin_nonce_ttl_s)
    nonce = secrets.token_hex(16)  # 32 alphanumerics: AIP-116 wants at least 8
    fields = SignInInput(
        domain=settings.signin_domain, address=address, statement=settings.signin_statement,
        uri=settings.signin_uri, version="1", chainId=chain_id, nonce=nonce,
        issuedAt=_iso(issued), expirationTime=_iso(expires),
    )
    engine = get_engine(request)

    def store() -> None:
        with engine.begin() as conn:
            # Expired nonces are useless; sweep them here so the table stays small without a cron job.
            conn.execute(delete(signin_nonces).where(signin_nonces.c.expires_at < issued - timedelta(minutes=5)))
            open_count = conn.execute(
                select(func.count()).select_from(signin_nonces).where(
                    signin_nonces.c.address == address, signin_nonces.c.used_at.is_(None),
                    signin_nonces.c.expires_at > issued,
                )
            ).scalar_one()
            if open_count >= MAX_OPEN_NONCES:
                raise HTTPException(429, "too many sign-in requests are open for this address; finish one or wait")
            conn.execute(insert(signin_nonces).values(
                nonce=nonce, address=address, input=fields.model_dump(), issued_at=issued, expires_at=expires,
            ))

    await run_in_threadpool(store)
    return NonceResponse(nonce=nonce, message=build_message(fields.model_dump()), input=fields, expires_at=expires)


async def key_controls_address(request: Request, address: str, public_key: bytes) -> bool:
    """Whether ``public_key`` may sign for ``address``: its on-chain auth key, or its derived address if new."""
    keys = ed25519_auth_keys(public_key)
    try:
        account = await get_chain(request).account(address)
    except ChainError as exc:
        raise HTTPException(503, f"the chain node cannot be reached to check the account's key: {exc}") from None
    if account is None:  # not on chain yet: the address is the key's authentication key
        return address in keys
    try:
        on_chain = normalize_address(str(account.get("authentication_key", "")))  # the account may have rotated
    except InvalidArgument:
        return False  # a node answer without a readable key proves nothing
    return on_chain in keys


@router.post("/sign-in", response_model=SessionResponse, summary="Finish a sign-in: verify and open a session")
async def sign_in(body: SignInRequest, request: Request, settings: SettingsDep) -> SessionResponse:
    """Verify the signed AIP-116 message of ``nonce`` and answer a session token."""
    address = _address(body.address)
    public_key = _hex_bytes("public_key", body.public_key, 32)
    signature = _hex_bytes("signature", body.signature, 64)
    engine = get_engine(request)
    now = datetime.now(UTC)

    def consume() -> dict[str, Any]:
        with engine.begin() as conn:
            row = conn.execute(select(signin_nonces).where(signin_nonces.c.nonce == body.nonce)).first()
            if row is None or row.address != address:
                raise HTTPException(401, "unknown sign-in nonce for this address; ask for a new one")
            if row.used_at is not None:
                raise HTTPException(401, "this sign-in nonce was already used; ask for a new one")
            if row.expires_at <= now:
                raise HTTPException(401, "this sign-in request has expired; ask for a new nonce")
            # Single use, whatever the outcome: a wrong signature cannot be retried against the same nonce.
            used = conn.execute(
                update(signin_nonces).where(signin_nonces.c.nonce == body.nonce, signin_nonces.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if used != 1:
                raise HTTPException(401, "this sign-in nonce was already used; ask for a new one")
            return dict(row.input)

    fields = await run_in_threadpool(consume)
    message = build_message(fields)  # rebuilt from what the server issued, never taken from the client
    if not verify_signature(public_key, signing_message(message), signature):
        raise HTTPException(401, "the signature does not verify for this message and public key")
    if not await key_controls_address(request, address, public_key_bytes(public_key)):
        raise HTTPException(401, "this public key is not the authentication key of the account")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + timedelta(seconds=settings.session_ttl_s)

    def open_session() -> None:
        with engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(insert(sessions).values(
                token_hash=hash_token(token), address=address, created_at=now, expires_at=expires
            ))

    await run_in_threadpool(open_session)
    return SessionResponse(token=token, address=address, expires_at=expires)


def hash_token(token: str) -> str:
    """What is stored for a session token: its sha256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


#: Reads ``Authorization: Bearer …`` (and documents it in OpenAPI); errors are ours, hence auto_error off.
_bearer_scheme = HTTPBearer(auto_error=False, description="A session token from POST /auth/sign-in.")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)]


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token, 401 if there is none (or one too long to be ours)."""
    token = credentials.credentials.strip() if credentials else ""
    if not token or len(token) > 256:
        raise HTTPException(401, "sign in first: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return token


def _session_address(engine: Engine, token: str) -> str | None:
    """The address of a live session, None when the token is unknown or expired."""
    with engine.connect() as conn:
        return conn.execute(
            select(sessions.c.address).where(
                sessions.c.token_hash == hash_token(token), sessions.c.expires_at > datetime.now(UTC)
            )
        ).scalar_one_or_none()


async def current_user(request: Request, credentials: BearerDep) -> str:
    """The signed-in account's address (dependency); 401 without a live session."""
    token = _bearer(credentials)
    address = await run_in_threadpool(_session_address, get_engine(request), token)
    if address is None:
        raise HTTPException(401, "the session is unknown or has expired; sign in again",
                            headers={"WWW-Authenticate": "Bearer"})
    return address


CurrentUser = Annotated[str, Depends(current_user)]


@router.post("/logout", status_code=204, summary="End the session of the bearer token")
async def logout(request: Request, credentials: BearerDep) -> Response:
    """Delete the session; its token stops working at once."""
    token = _bearer(credentials)
    engine = get_engine(request)

    def end() -> int:
        with engine.begin() as conn:
            return conn.execute(delete(sessions).where(sessions.c.token_hash == hash_token(token))).rowcount

    if not await run_in_threadpool(end):
        raise HTTPException(401, "the session is unknown or has expired", headers={"WWW-Authenticate": "Bearer"})
    return Response(status_code=204)


@router.get("/me", summary="Who the bearer token signs in as")
async def me(user: CurrentUser) -> dict[str, str]:
    """The session's address."""
    return {"address": user}
