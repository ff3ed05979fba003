"""uploads: the bytes an upload's extracted project takes (counted in its owner's storage quota)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"


def upgrade() -> None:
    """Add ``uploads.extracted_size`` (0 for a .blend; uploads made before it count their blob alone)."""
    op.add_column("uploads", sa.Column("extracted_size", sa.BigInteger(), server_default=sa.text("0"),
                                       nullable=False), schema=SCHEMA)


def downgrade() -> None:
    """Drop ``uploads.extracted_size``."""
    op.drop_column("uploads", "extracted_size", schema=SCHEMA)
