"""Operator-created workers and node enrollment.

A signed-in operator creates a worker (``POST /workers``: a name and a role, worker or checker) and downloads
its config file (``GET /workers/{id}/config``): the worker id, the API and chain node URLs, the operator's
address, the role and a single-use enrollment token with its expiry. Only the token's sha256 is stored; each
download issues a new token and voids the previous one. The node then enrolls (``POST /nodes/enroll``) with
the token, its public key and a signature by that key over the enrollment message
(:func:`protocol.enrollment.enrollment_message`), which binds the key to the worker. ``DELETE
/workers/{id}`` revokes a worker: its node's signed requests are refused from then on (:mod:`api.node_auth`).

A worker is visible to its operator only (404 for anyone else); the node still serves only while it is
registered on chain by that operator with enough active stake, as today.
"""

from __future__ import annotations

import hmac
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from api.signin import hash_token
from chain.errors import InvalidArgument
from chain.keys import ROLE_CHECKER, ROLE_WORKER, node_address, public_key_bytes, verify_signature
from indexer import schema as mirror
from pictor.settings import Settings
from protocol.enrollment import enrollment_message
from tables.jobs import node_status
from tables.workers import workers

ROLE_IDS = {"worker": ROLE_WORKER, "checker": ROLE_CHECKER}
TOKEN_PREFIX = "pwe_"  # recognisable in logs and secret scanners
#: Advisory lock space of an operator's worker creations (with ``hashtext(operator)``): counted one at a time.
WORKERS_LOCK_SPACE = 0x776F_726B  # "work"


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class EnrollBody(BaseModel):
    """A node's enrollment: the config's worker id and token, its public key, its signature over the message."""

    worker_id: Annotated[str, Field(min_length=1, max_length=20)]
    enrollment_token: Annotated[str, Field(min_length=1, max_length=128)]
    public_key: Annotated[str, Field(min_length=64, max_length=66)]
    signature: Annotated[str, Field(min_length=128, max_length=130)]


def _mirror_nodes(conn: Any, addresses: list[str]) -> dict[str, Any]:
    """The latest on-chain node row of each account address (as the indexer mirrors it)."""
    if not addresses:
        return {}
    rows = conn.execute(
        select(mirror.nodes).where(mirror.nodes.c.account.in_(addresses)).order_by(mirror.nodes.c.node_id)
    ).all()
    return {row.account: row for row in rows}  # the highest node id wins


def _view(row: Any, node: Any, seen: datetime | None, settings: Settings, now: datetime) -> dict[str, Any]:
    """A worker as its operator sees it, with its status."""
    online = seen is not None and (now - seen).total_seconds() <= settings.node_online_s
    if row.revoked_at is not None:
        status = "revoked"
    elif row.enrolled_at is None:
        status = "pending"
    else:
        status = "online" if online else "enrolled"
    token_live = row.token_hash is not None and row.token_expires_at is not None and row.token_expires_at > now
    return {
        "worker_id": str(row.worker_id),
        "name": row.name,
        "role": row.role,
        "status": status,
        "created_at": iso_or_none(row.created_at),
        "enrollment": {
            "token_issued": row.token_hash is not None,
            "token_live": token_live,
            "expires_at": iso_or_none(row.token_expires_at) if row.token_hash is not None else None,
        },
        "node": None
        if row.enrolled_at is None
        else {
            "address": row.node_address,
            "public_key": "0x" + bytes(row.public_key).hex(),
            "enrolled_at": iso_or_none(row.enrolled_at),
            "node_id": None if node is None else str(node.node_id),
            "registered_on_chain": node is not None and bool(node.active),
        },
        "online": online and row.revoked_at is None,
        "last_heartbeat": iso_or_none(seen),
        "revoked_at": iso_or_none(row.revoked_at),
    }


def node_views(engine: Engine, operator: str, settings: Settings, worker_id: int | None = None) -> list[dict[str, Any]]:
    now = now_utc()
    query = select(workers).where(workers.c.operator == operator).order_by(workers.c.worker_id)
    if worker_id is not None:
        query = query.where(workers.c.worker_id == worker_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        nodes = _mirror_nodes(conn, [r.node_address for r in rows if r.node_address])
        ids = [int(n.node_id) for n in nodes.values()]
        seen = (
            dict(
                conn.execute(
                    select(node_status.c.node_id, node_status.c.last_seen).where(node_status.c.node_id.in_(ids))
                ).all()
            )
            if ids
            else {}
        )
    out = []
    for row in rows:
        node = nodes.get(row.node_address) if row.node_address else None
        out.append(_view(row, node, seen.get(int(node.node_id)) if node is not None else None, settings, now))
    return out


def check_worker_room(conn: Any, operator: str, settings: Settings, now: datetime) -> None:
    """Refuse a new worker over the operator's limits: 409 at ``workers_max`` workers not revoked, 429 at
    ``workers_max_per_day`` created in the last 24 hours (revoked ones too: creating and revoking in a loop
    still adds rows), with the time until the oldest of those leaves the window."""
    conn.execute(select(func.pg_advisory_xact_lock(WORKERS_LOCK_SPACE, func.hashtext(operator))))
    day_ago = now - timedelta(days=1)
    recent = workers.c.created_at > day_ago
    live, created, oldest = conn.execute(
        select(func.count().filter(workers.c.revoked_at.is_(None)), func.count().filter(recent),
               func.min(workers.c.created_at).filter(recent))
        .where(workers.c.operator == operator)).one()
    if live >= settings.workers_max:
        raise HTTPException(409, f"you have {live} workers, the most one operator may hold; revoke one you no longer "
                                 "use (DELETE /workers/{id}) before creating another")
    if created >= settings.workers_max_per_day:
        wait = max(1, math.ceil((oldest - day_ago).total_seconds()))
        raise HTTPException(429, f"you created {created} workers in the last 24 hours, the most one operator may; "
                                 f"the next can be created in {wait} s", headers={"Retry-After": str(wait)})


def parse_worker_id(value: str) -> int:
    """A worker id from a path (404 for anything that cannot be one)."""
    if not value.isdigit() or len(value) > 18:
        raise HTTPException(404, f"no worker {value!r} of yours")
    return int(value)


def node_view(engine: Engine, operator: str, worker_id: int, settings: Settings) -> dict[str, Any]:
    found = node_views(engine, operator, settings, worker_id)
    if not found:
        raise HTTPException(404, f"no worker {worker_id} of yours")
    return found[0]


def _hex(name: str, value: str, size: int) -> bytes:
    text = value[2:] if value.startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be hex") from None
    if len(raw) != size:
        raise HTTPException(400, f"{name} must be {size} bytes")
    return raw


def enroll_node(engine: Engine, body: EnrollBody) -> dict[str, Any]:
    """Bind the node key to the worker, once; every refusal leaves the worker as it was."""
    public_key = _hex("public_key", body.public_key, 32)
    signature = _hex("signature", body.signature, 64)
    try:
        address = node_address(public_key_bytes(public_key))
    except InvalidArgument as exc:
        raise HTTPException(400, f"public_key: {exc}") from None
    invalid = HTTPException(
        403,
        f"the enrollment token is not valid for worker {body.worker_id!r} (a newer "
        "config download replaces it); download the worker's config again",
    )
    if not body.worker_id.isdigit() or len(body.worker_id) > 18:
        raise invalid
    wid = int(body.worker_id)
    now = now_utc()
    with engine.begin() as conn:
        row = conn.execute(select(workers).where(workers.c.worker_id == wid).with_for_update()).first()
        if row is None:
            raise invalid
        if row.revoked_at is not None:
            raise HTTPException(403, f"worker {wid} was revoked by its operator")
        if row.enrolled_at is not None:
            raise HTTPException(409, f"worker {wid} is already enrolled (an enrollment token is single-use)")
        if row.token_hash is None or not hmac.compare_digest(row.token_hash, hash_token(body.enrollment_token)):
            raise invalid
        if row.token_expires_at is None or row.token_expires_at <= now:
            raise HTTPException(
                410,
                f"the enrollment token expired at {iso_or_none(row.token_expires_at)}; download "
                "the worker's config again for a new one",
            )
        message = enrollment_message(body.enrollment_token, body.worker_id, public_key)
        if not verify_signature(public_key, message, signature):
            raise HTTPException(
                400,
                "the signature does not verify: sign the enrollment message "
                "(protocol.enrollment) with the node key being enrolled",
            )
        node = _mirror_nodes(conn, [address]).get(address)
        if node is not None and node.operator != row.operator:
            raise HTTPException(
                409,
                f"node {address} is registered on chain by {node.operator}, not by this "
                f"worker's operator {row.operator}",
            )
        if node is not None and int(node.role) != ROLE_IDS[row.role]:
            raise HTTPException(409, f"node {address} is registered on chain with another role than {row.role}")
        taken = conn.execute(select(workers.c.worker_id).where(workers.c.node_address == address)).first()
        if taken is not None:
            raise HTTPException(
                409,
                f"this node key is already enrolled (worker {taken.worker_id}); a node key "
                "serves one worker: generate a new key for a new worker",
            )
        try:
            with conn.begin_nested():
                conn.execute(
                    update(workers)
                    .where(workers.c.worker_id == wid)
                    .values(
                        public_key=public_key,
                        node_address=address,
                        enrolled_at=now,
                        token_hash=None,
                        token_expires_at=None,
                    )
                )
        except IntegrityError:  # a concurrent enrollment of the same key for another worker won
            raise HTTPException(409, "this node key is already enrolled for another worker") from None
    return {
        "worker_id": str(wid),
        "role": row.role,
        "status": "enrolled",
        "node_address": address,
        "public_key": "0x" + public_key.hex(),
        "node_id": None if node is None else str(node.node_id),
        "registered_on_chain": node is not None,
    }


