"""Tables of uploads: content-addressed blobs and the creators' uploads that point at them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, String, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from tables.base import metadata

#: PostgreSQL schema of the API tables (as in tables.auth; not imported from there to keep imports acyclic).
SCHEMA = "api"

#: One row per distinct content (sha256, lowercase hex); many uploads may share one blob.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    schema=SCHEMA,
)

#: A creator's upload: a .blend, or a .zip project with the main .blend named inside it.
uploads = Table(
    "uploads",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("owner", String(66), nullable=False),
    Column("blob_sha256", String(64), ForeignKey(f"{SCHEMA}.blobs.sha256"), nullable=False),
    Column("kind", String(8), nullable=False),  # blend | zip
    Column("compression", String(8), nullable=False),  # none | gzip | zstd (of the .blend itself)
    Column("filename", String(255), nullable=False),
    Column("main_blend", Text),  # path inside the zip; None for a .blend
    Column("size", BigInteger, nullable=False),
    # Bytes of the extracted project (a .zip's files; 0 for a .blend): with ``size``, what the owner's quota counts.
    Column("extracted_size", BigInteger, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("scene", JSONB),  # the cached inspection
    Column("scene_error", Text),  # the cached inspection failure
    Column("inspected_at", DateTime(timezone=True)),
    Index("uploads_owner", "owner", "created_at"),
    Index("uploads_blob", "blob_sha256"),
    schema=SCHEMA,
)
