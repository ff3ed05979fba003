"""``/auth``: sign in with Aptos (a nonce, then the signed message), log out, who am I."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, insert, select, update
from starlette.concurrency import run_in_threadpool

from api.deps import BearerDep, CurrentUser, SettingsDep, bearer_token, get_chain, get_engine
from api.limits import SigninLimit
from api.signin import (
    MAX_OPEN_NONCES,
    TOKEN_BYTES,
    build_message,
    chain_id_line,
    hash_token,
    iso_utc,
    key_controls_address,
    now_to_the_second,
    parse_address,
    parse_hex,
    signing_message,
)
from chain.errors import ChainError
from chain.keys import public_key_bytes, verify_signature
from tables.auth import sessions, signin_nonces

router = APIRouter(prefix="/auth", tags=["auth"])


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


@router.post("/nonce", response_model=NonceResponse, summary="Start a sign-in: a single-use nonce and the message",
             dependencies=[SigninLimit])
async def issue_nonce(body: NonceRequest, request: Request, settings: SettingsDep) -> NonceResponse:
    """Store a fresh nonce bound to ``address`` and answer the AIP-116 message to sign with it; past
    ``MAX_OPEN_NONCES`` open ones for the address, the oldest are retired (so asking always works)."""
    address = parse_address(body.address)
    try:
        chain_id = await chain_id_line(get_chain(request), settings)
    except ChainError as exc:
        raise HTTPException(503, f"the chain node cannot be reached to name the chain id: {exc}") from None
    issued = now_to_the_second()
    expires = issued + timedelta(seconds=settings.signin_nonce_ttl_s)
    nonce = secrets.token_hex(16)  # 32 alphanumerics: AIP-116 wants at least 8
    fields = SignInInput(
        domain=settings.signin_domain, address=address, statement=settings.signin_statement,
        uri=settings.signin_uri, version="1", chainId=chain_id, nonce=nonce,
        issuedAt=iso_utc(issued), expirationTime=iso_utc(expires),
    )
    engine = get_engine(request)

    def store() -> None:
        with engine.begin() as conn:
            # Expired nonces are useless; sweep them here so the table stays small without a cron job.
            conn.execute(delete(signin_nonces).where(signin_nonces.c.expires_at < issued - timedelta(minutes=5)))
            conn.execute(insert(signin_nonces).values(
                nonce=nonce, address=address, input=fields.model_dump(), expires_at=expires,
                issued_at=datetime.now(UTC),  # to the microsecond (the message shows seconds): orders the retiring
            ))
            # Anyone may ask for a nonce for any address, so a full set must not lock its owner out: the newest
            # request always gets one, and the oldest open ones past the bound are retired instead.
            older = (
                select(signin_nonces.c.nonce).where(
                    signin_nonces.c.address == address, signin_nonces.c.used_at.is_(None),
                    signin_nonces.c.nonce != nonce,
                ).order_by(signin_nonces.c.issued_at.desc(), signin_nonces.c.nonce).offset(MAX_OPEN_NONCES - 1)
            )
            conn.execute(delete(signin_nonces).where(signin_nonces.c.nonce.in_(older)))

    await run_in_threadpool(store)
    return NonceResponse(nonce=nonce, message=build_message(fields.model_dump()), input=fields, expires_at=expires)


@router.post("/sign-in", response_model=SessionResponse, summary="Finish a sign-in: verify and open a session",
             dependencies=[SigninLimit])
async def sign_in(body: SignInRequest, request: Request, settings: SettingsDep) -> SessionResponse:
    """Verify the signed AIP-116 message of ``nonce`` and answer a session token; an account holds at most
    ``session_max_per_account`` sessions (a new one past that ends the oldest)."""
    address = parse_address(body.address)
    public_key = parse_hex("public_key", body.public_key, 32)
    signature = parse_hex("signature", body.signature, 64)
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
    if not await key_controls_address(get_chain(request), address, public_key_bytes(public_key)):
        raise HTTPException(401, "this public key is not the authentication key of the account")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + timedelta(seconds=settings.session_ttl_s)

    def open_session() -> None:
        with engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(insert(sessions).values(
                token_hash=hash_token(token), address=address, created_at=now, expires_at=expires
            ))
            # Keys are free to make, so sessions per account are bounded: the oldest past the bound end now.
            older = (
                select(sessions.c.token_hash)
                .where(sessions.c.address == address, sessions.c.token_hash != hash_token(token))
                .order_by(sessions.c.created_at.desc(), sessions.c.token_hash)
                .offset(settings.session_max_per_account - 1)
            )
            conn.execute(delete(sessions).where(sessions.c.token_hash.in_(older)))

    await run_in_threadpool(open_session)
    return SessionResponse(token=token, address=address, expires_at=expires)


@router.post("/logout", status_code=204, summary="End the session of the bearer token")
async def logout(request: Request, credentials: BearerDep) -> Response:
    """Delete the session; its token stops working at once."""
    token = bearer_token(credentials)
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
