"""Foundation: communes, idempotency keys, the pgqueuer job tables, and the communes data.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

from poche_api.territory.loader import UPSERT, bundled_geojson, commune_rows

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = postgresql.TIMESTAMP(timezone=True)


def _raw_execute(sql: str) -> None:
    """Run a multi-statement script through asyncpg's simple protocol, in this transaction."""
    connection = op.get_bind().connection.driver_connection
    if connection is None:
        raise RuntimeError("migrations need a live asyncpg connection")
    await_only(connection.execute(sql))


def upgrade() -> None:
    op.create_table(
        "communes",
        sa.Column("insee", sa.String(5), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("name_normalized", sa.String(120), nullable=False),
        sa.Column("postal_codes", postgresql.ARRAY(sa.String(5)), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("town_hall", postgresql.JSONB(), nullable=False),
        sa.Column("centroid_lat", sa.Float(), nullable=False),
        sa.Column("centroid_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("boundary", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("insee", name=op.f("pk_communes")),
    )
    op.create_index(op.f("ix_communes_name_normalized"), "communes", ["name_normalized"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(160), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("locked_until", TIMESTAMPTZ, nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TIMESTAMPTZ, nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"])
    _raw_execute(QueryBuilderEnvironment().build_install_query())
    op.get_bind().execute(UPSERT, commune_rows(bundled_geojson()))


def downgrade() -> None:
    _raw_execute(QueryBuilderEnvironment().build_uninstall_query())
    op.drop_table("idempotency_keys")
    op.drop_table("communes")
