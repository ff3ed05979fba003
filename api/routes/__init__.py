"""Every HTTP route of the API, one module per area, mounted by :func:`api.app.create_app` from :data:`ROUTERS`."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    audit,
    auth,
    epochs,
    jobs,
    leaderboard,
    node_tasks,
    nodes,
    ops,
    rewards,
    uploads,
    verification,
    workers,
)

#: The routers in mounting order.
ROUTERS: tuple[APIRouter, ...] = (
    audit.router,
    auth.router,
    nodes.router,
    uploads.router,
    jobs.router,
    node_tasks.router,
    verification.router,
    epochs.router,
    workers.router,
    leaderboard.router,
    rewards.router,
    ops.router,
)
