"""Signed worker/checker requests: who signed a request, checked against the mirror (:func:`verify_node_request`).

A node signs each request with its Ed25519 key (:mod:`protocol.signing` builds the canonical string and
the ``X-Pictor-*`` headers). The API accepts it only when, **as the indexer's mirror shows it**, the node is
registered and active with that key, and its operator's active stake for the node's role is at least the
protocol's minimum. A node key enrolled for an operator-created worker (:mod:`api.enrollment`) must in addition
belong to a worker that is not revoked, whose operator and role are the ones on chain; a node that never
enrolled is accepted on the chain rule alone (enrollment names the node to its operator, it grants nothing). The timestamp must be within ``node_request_max_skew_s`` of the server's clock and the
nonce unused; nonces are stored until their timestamp leaves the window, after which the timestamp check
alone refuses a replay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.concurrency import run_in_threadpool

from chain.errors import InvalidArgument
from chain.keys import ROLE_CHECKER, ROLE_WORKER, normalize_address
from indexer import schema as mirror
from pictor.settings import Settings
from protocol import signing as ns
from tables.auth import node_request_nonces
from tables.workers import workers

ROLE_NAMES = {ROLE_WORKER: "worker", ROLE_CHECKER: "checker"}
_PARTS_HINT = "; upload a larger frame in parts (PUT …/frames/{frame}/parts/{n}, then POST …/frames/{frame}/finalize)"


@dataclass(frozen=True)
class NodeIdentity:
    """The node a request came from, as registered on chain."""

    node_id: int
    operator: str
    role: int

    @property
    def role_name(self) -> str:
        """``worker`` or ``checker``."""
        return ROLE_NAMES.get(self.role, str(self.role))


def _refuse(status: int, message: str) -> HTTPException:
    """An authentication refusal with the scheme named for 401s."""
    headers = {"WWW-Authenticate": "PictorNode"} if status == 401 else None
    return HTTPException(status, message, headers=headers)


def request_target(request: Request) -> str:
    """The path and query as the client sent them (the raw bytes, so encoding differences cannot matter)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def _lookup(engine: Engine, node: str) -> tuple[object, int, int, object]:
    """The node's mirror row, its operator's active stake for its role, the minimum and its worker enrollment."""
    with engine.begin() as conn:
        row = conn.execute(
            select(mirror.nodes).where(mirror.nodes.c.account == node).order_by(mirror.nodes.c.node_id.desc())
        ).first()
        if row is None:
            return None, 0, 0, None
        enrolled = conn.execute(
            select(workers.c.worker_id, workers.c.operator, workers.c.role, workers.c.revoked_at).where(
                workers.c.node_address == node
            )
        ).first()
        stake = conn.execute(
            select(mirror.stakes.c.active).where(
                mirror.stakes.c.operator == row.operator, mirror.stakes.c.role == row.role
            )
        ).scalar_one_or_none()
        config = conn.execute(select(mirror.protocol_config)).first()
        minimum_col = "min_worker_stake" if row.role == ROLE_WORKER else "min_checker_stake"
        minimum = getattr(config, minimum_col) if config is not None else None
        return row, int(stake or 0), (-1 if minimum is None else int(minimum)), enrolled


def _record_nonce(engine: Engine, node: str, nonce: str, expires: datetime, now: datetime) -> bool:
    """Store the nonce; False if this node already used it (a replay)."""
    with engine.begin() as conn:
        if random.random() < 0.01:  # sweep expired nonces now and then: cheap, and no cron job needed
            conn.execute(delete(node_request_nonces).where(node_request_nonces.c.expires_at < now))
        inserted = conn.execute(
            pg_insert(node_request_nonces)
            .values(node=node, nonce=nonce, expires_at=expires)
            .on_conflict_do_nothing()
            .returning(node_request_nonces.c.nonce)
        ).first()
        return inserted is not None


async def verify_node_request(request: Request, engine: Engine, settings: Settings) -> NodeIdentity:
    """The registered, staked node that signed this request; 401/403 with the reason otherwise."""
    headers = request.headers
    node_header = headers.get(ns.HEADER_NODE)
    timestamp_header = headers.get(ns.HEADER_TIMESTAMP)
    nonce = headers.get(ns.HEADER_NONCE)
    signature = headers.get(ns.HEADER_SIGNATURE)
    if not (node_header and timestamp_header and nonce and signature):
        raise _refuse(
            401,
            "node requests must be signed: send X-Pictor-Node, X-Pictor-Timestamp, "
            "X-Pictor-Nonce and X-Pictor-Signature",
        )
    try:
        node = normalize_address(node_header[:80])
    except (InvalidArgument, ValueError):
        raise _refuse(401, f"{ns.HEADER_NODE} is not an account address") from None
    if not timestamp_header.isdigit() or len(timestamp_header) > 12:
        raise _refuse(401, f"{ns.HEADER_TIMESTAMP} must be unix seconds")
    if not ns.valid_nonce(nonce):
        raise _refuse(401, f"{ns.HEADER_NONCE} must be 16 to 64 characters of [A-Za-z0-9_-]")
    if len(signature) > 130:
        raise _refuse(401, f"{ns.HEADER_SIGNATURE} is not a 64-byte hex signature")
    now = datetime.now(UTC)
    timestamp = int(timestamp_header)
    skew = settings.node_request_max_skew_s
    if abs(now.timestamp() - timestamp) > skew:
        raise _refuse(
            401, f"the request timestamp is more than {skew} s away from the server's clock; check the node's clock"
        )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.node_request_max_body:
        raise HTTPException(
            413, f"signed request bodies are limited to {settings.node_request_max_body} bytes{_PARTS_HINT}"
        )
    body = await request.body()  # cached by Starlette: the endpoint still reads it
    if len(body) > settings.node_request_max_body:
        raise HTTPException(
            413, f"signed request bodies are limited to {settings.node_request_max_body} bytes{_PARTS_HINT}"
        )
    message = ns.canonical_request(
        request.method, request_target(request), ns.body_sha256(body), timestamp, nonce, node
    )
    expires = datetime.fromtimestamp(timestamp, UTC) + timedelta(seconds=skew)
    row, stake, minimum, enrolled = await run_in_threadpool(_lookup, engine, node)
    if row is None:
        raise _refuse(403, f"node {node} is not registered on chain (or the indexer has not seen it yet)")
    if not ns.verify_request(bytes(row.public_key), message, signature):  # type: ignore[attr-defined]
        raise _refuse(
            401,
            "the request signature does not verify: the method, path, body, timestamp or nonce "
            "differ from what the node signed, or the key is not the registered one",
        )
    identity = NodeIdentity(int(row.node_id), row.operator, int(row.role))  # type: ignore[attr-defined]
    if not row.active:  # type: ignore[attr-defined]
        raise _refuse(403, f"node {identity.node_id} is deregistered")
    if enrolled is not None:
        _check_enrollment(enrolled, identity)
    if minimum < 0:
        raise HTTPException(503, "the protocol's minimum stakes are not indexed yet; try again shortly")
    if stake < minimum:
        raise _refuse(
            403,
            f"the operator's active {identity.role_name} stake ({stake}) is below the minimum "
            f"({minimum}); stake more to serve",
        )
    # The nonce is recorded only for a verified request, so nobody can burn a node's nonces for it.
    if not await run_in_threadpool(_record_nonce, engine, node, nonce, expires, now):
        raise _refuse(401, "this request nonce was already used (replay refused); sign each request afresh")
    return identity




def _check_enrollment(enrolled: Any, identity: NodeIdentity) -> None:
    """403 when the node's worker was revoked, or the chain names another operator or role than the worker."""
    if enrolled.revoked_at is not None:
        raise _refuse(403, f"worker {enrolled.worker_id} (this node's enrollment) was revoked by its operator")
    if enrolled.operator != identity.operator:
        raise _refuse(
            403,
            f"node {identity.node_id} is registered on chain by {identity.operator}, but enrolled "
            f"for worker {enrolled.worker_id} of {enrolled.operator}",
        )
    if enrolled.role != identity.role_name:
        raise _refuse(
            403,
            f"node {identity.node_id} is a {identity.role_name} on chain, but worker "
            f"{enrolled.worker_id} is a {enrolled.role}",
        )


