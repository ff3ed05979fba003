"""auth and uploads: sign-in nonces, sessions, node request nonces, blobs, uploads (schema ``api``)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"


def upgrade() -> None:
    """Apply this revision."""
    # The API's own tables live apart from the chain mirror (public), in their own schema.
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "signin_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("input", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
        schema=SCHEMA,
    )
    op.create_index("signin_nonces_address", "signin_nonces", ["address"], unique=False, schema=SCHEMA)
    op.create_index("signin_nonces_expires_at", "signin_nonces", ["expires_at"], unique=False, schema=SCHEMA)
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
        schema=SCHEMA,
    )
    op.create_index("sessions_address", "sessions", ["address"], unique=False, schema=SCHEMA)
    op.create_index("sessions_expires_at", "sessions", ["expires_at"], unique=False, schema=SCHEMA)
    op.create_table(
        "node_request_nonces",
        sa.Column("node", sa.String(length=66), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", "nonce"),
        schema=SCHEMA,
    )
    op.create_index(
        "node_request_nonces_expires_at", "node_request_nonces", ["expires_at"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
        schema=SCHEMA,
    )
    op.create_table(
        "uploads",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=66), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("compression", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("main_blend", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scene", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("scene_error", sa.Text(), nullable=True),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["blob_sha256"], [f"{SCHEMA}.blobs.sha256"]),
        sa.PrimaryKeyConstraint("upload_id"),
        schema=SCHEMA,
    )
    op.create_index("uploads_blob", "uploads", ["blob_sha256"], unique=False, schema=SCHEMA)
    op.create_index("uploads_owner", "uploads", ["owner", "created_at"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("uploads_owner", table_name="uploads", schema=SCHEMA)
    op.drop_index("uploads_blob", table_name="uploads", schema=SCHEMA)
    op.drop_table("uploads", schema=SCHEMA)
    op.drop_table("blobs", schema=SCHEMA)
    op.drop_index("node_request_nonces_expires_at", table_name="node_request_nonces", schema=SCHEMA)
    op.drop_table("node_request_nonces", schema=SCHEMA)
    op.drop_index("sessions_expires_at", table_name="sessions", schema=SCHEMA)
    op.drop_index("sessions_address", table_name="sessions", schema=SCHEMA)
    op.drop_table("sessions", schema=SCHEMA)
    op.drop_index("signin_nonces_expires_at", table_name="signin_nonces", schema=SCHEMA)
    op.drop_index("signin_nonces_address", table_name="signin_nonces", schema=SCHEMA)
    op.drop_table("signin_nonces", schema=SCHEMA)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA}")
