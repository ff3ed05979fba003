"""What routes depend on: the app's settings, engine, chain client and blob store, and who is calling
(a signed-in user, an admin, a signed node)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.limits import Bucket, charge
from api.node_auth import NodeIdentity, verify_node_request
from api.signin import session_address
from api.state import blob_store_of, chain_of, engine_of, settings_of
from chain.client import PictorChain
from chain.errors import InvalidArgument
from chain.keys import normalize_address
from pictor.blobs import BlobStore
from pictor.settings import Settings


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return settings_of(request.app)


def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    return engine_of(request.app)


def get_chain(request: Request) -> PictorChain:
    """The app's chain client."""
    return chain_of(request.app)


def get_blob_store(request: Request) -> BlobStore:
    """The app's blob store."""
    return blob_store_of(request.app)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ChainDep = Annotated[PictorChain, Depends(get_chain)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]

#: Reads ``Authorization: Bearer …`` (and documents it in OpenAPI); errors are ours, hence auto_error off.
bearer_scheme = HTTPBearer(auto_error=False, description="A session token from POST /auth/sign-in.")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token, 401 if there is none (or one too long to be ours)."""
    token = credentials.credentials.strip() if credentials else ""
    if not token or len(token) > 256:
        raise HTTPException(401, "sign in first: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return token


async def current_user(request: Request, credentials: BearerDep) -> str:
    """The signed-in account's address; 401 without a live session, 429 past the account's request rate."""
    token = bearer_token(credentials)
    address = await run_in_threadpool(session_address, get_engine(request), token)
    if address is None:
        raise HTTPException(401, "the session is unknown or has expired; sign in again",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    await charge(request, Bucket.account, f"account:{address}")
    return address


CurrentUser = Annotated[str, Depends(current_user)]


def admin_addresses(settings: Settings) -> set[str]:
    """The configured admin addresses, normalized (an unreadable entry is ignored: it can match no one)."""
    found = set()
    for value in settings.admin_addresses:
        try:
            found.add(normalize_address(value.strip().lower()))
        except (InvalidArgument, ValueError, TypeError):
            continue
    return found


async def current_admin(request: Request, user: CurrentUser) -> str:
    """The signed-in address when it is an admin; 403 otherwise."""
    if user not in admin_addresses(get_settings(request)):
        raise HTTPException(403, "this endpoint is for Pictor admins only")
    return user


AdminUser = Annotated[str, Depends(current_admin)]


async def current_node(request: Request) -> NodeIdentity:
    """The registered, staked node that signed this request; 401/403 with the reason otherwise, 429 past its rate."""
    node = await verify_node_request(request, get_engine(request), get_settings(request))
    await charge(request, Bucket.node, f"node:{node.node_id}")  # after the signature: only the node spends its own
    return node


CurrentNode = Annotated[NodeIdentity, Depends(current_node)]
