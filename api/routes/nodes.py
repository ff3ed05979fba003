"""``/nodes/whoami``: a node checks its request signing and standing."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import CurrentNode
from protocol import signing as ns

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.get("/whoami", summary="Check a node's request signing and standing")
async def whoami(node: CurrentNode) -> dict[str, object]:
    """The node, operator and role the signed request authenticates as (a node's self-check)."""
    return {"node_id": node.node_id, "operator": node.operator, "role": node.role_name}


@router.post("/whoami", summary="Check a node's signing of a request with a body")
async def whoami_post(node: CurrentNode, request: Request) -> dict[str, object]:
    """As ``GET /nodes/whoami``, plus the sha256 of the body the API verified."""
    return {**await whoami(node), "body_sha256": ns.body_sha256(await request.body())}
