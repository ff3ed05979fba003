"""rewards: points ledger, referrals, check-ins, social claims, campaigns, GPU registry, admin audit log (schema ``api``)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
