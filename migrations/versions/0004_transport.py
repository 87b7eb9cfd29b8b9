"""Transport: versioned GTFS tables, feed sources, alerts, alert events and follows.

Revision ID: 0004_transport
Revises: 0003_push
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_transport"
down_revision: str | None = "0003_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = postgresql.TIMESTAMP(timezone=True)
GTFS_TABLES = (
    "transport_agencies",
    "transport_routes",
    "transport_stops",
    "transport_trips",
    "transport_stop_times",
    "transport_calendars",
    "transport_calendar_dates",
    "transport_frequencies",
    "transport_shapes",
)


def _version() -> sa.Column[int]:
    # No foreign key to transport_feed_versions: see the model (COPY speed).
    return sa.Column("feed_version", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "transport_feed_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("feed_start_date", sa.Date(), nullable=True),
        sa.Column("feed_end_date", sa.Date(), nullable=True),
        sa.Column(
            "counts", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("imported_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.Column("activated_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transport_feed_versions")),
    )
    op.create_index(
        "ix_transport_feed_versions_one_active",
        "transport_feed_versions",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "transport_feed_sources",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("checked_at", TIMESTAMPTZ, nullable=True),
        sa.Column("changed_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_transport_feed_sources")),
    )
    op.create_table(
        "transport_agencies",
        _version(),
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(16), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("feed_version", "agency_id", name=op.f("pk_transport_agencies")),
    )
    op.create_table(
        "transport_routes",
        _version(),
        sa.Column("route_id", sa.Text(), nullable=False),
        sa.Column("agency_id", sa.Text(), nullable=True),
        sa.Column("short_name", sa.Text(), nullable=True),
        sa.Column("long_name", sa.Text(), nullable=True),
        sa.Column("route_type", sa.SmallInteger(), nullable=False),
        sa.Column("color", sa.String(6), nullable=True),
        sa.Column("text_color", sa.String(6), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("feed_version", "route_id", name=op.f("pk_transport_routes")),
    )
    op.create_table(
        "transport_stops",
        _version(),
        sa.Column("stop_id", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_normalized", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("location_type", sa.SmallInteger(), nullable=False),
        sa.Column("parent_station", sa.Text(), nullable=True),
        sa.Column("wheelchair_boarding", sa.SmallInteger(), nullable=False),
        sa.Column("platform_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("feed_version", "stop_id", name=op.f("pk_transport_stops")),
    )
    op.create_index(
        "ix_transport_stops_name_prefix",
        "transport_stops",
        ["feed_version", "name_normalized"],
        postgresql_ops={"name_normalized": "text_pattern_ops"},
    )
    op.create_index("ix_transport_stops_lat_lon", "transport_stops", ["feed_version", "lat", "lon"])
    op.create_index(
        "ix_transport_stops_parent", "transport_stops", ["feed_version", "parent_station"]
    )
    op.create_table(
        "transport_trips",
        _version(),
        sa.Column("trip_id", sa.Text(), nullable=False),
        sa.Column("route_id", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("headsign", sa.Text(), nullable=True),
        sa.Column("short_name", sa.Text(), nullable=True),
        sa.Column("direction_id", sa.SmallInteger(), nullable=True),
        sa.Column("block_id", sa.Text(), nullable=True),
        sa.Column("shape_id", sa.Text(), nullable=True),
        sa.Column("wheelchair_accessible", sa.SmallInteger(), nullable=False),
        sa.Column("start_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("feed_version", "trip_id", name=op.f("pk_transport_trips")),
    )
    op.create_index(
        "ix_transport_trips_route", "transport_trips", ["feed_version", "route_id", "direction_id"]
    )
    op.create_table(
        "transport_stop_times",
        _version(),
        sa.Column("trip_id", sa.Text(), nullable=False),
        sa.Column("stop_sequence", sa.Integer(), nullable=False),
        sa.Column("stop_id", sa.Text(), nullable=False),
        sa.Column("arrival_seconds", sa.Integer(), nullable=True),
        sa.Column("departure_seconds", sa.Integer(), nullable=True),
        sa.Column("stop_headsign", sa.Text(), nullable=True),
        sa.Column("pickup_type", sa.SmallInteger(), nullable=False),
        sa.Column("drop_off_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "feed_version", "trip_id", "stop_sequence", name=op.f("pk_transport_stop_times")
        ),
    )
    op.create_index(
        "ix_transport_stop_times_stop",
        "transport_stop_times",
        ["feed_version", "stop_id", "departure_seconds"],
    )
    op.create_table(
        "transport_calendars",
        _version(),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("weekdays", sa.String(7), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("feed_version", "service_id", name=op.f("pk_transport_calendars")),
    )
    op.create_table(
        "transport_calendar_dates",
        _version(),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("exception_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "feed_version", "service_id", "date", name=op.f("pk_transport_calendar_dates")
        ),
    )
    op.create_index(
        "ix_transport_calendar_dates_date", "transport_calendar_dates", ["feed_version", "date"]
    )
    op.create_table(
        "transport_frequencies",
        _version(),
        sa.Column("trip_id", sa.Text(), nullable=False),
        sa.Column("start_seconds", sa.Integer(), nullable=False),
        sa.Column("end_seconds", sa.Integer(), nullable=False),
        sa.Column("headway_seconds", sa.Integer(), nullable=False),
        sa.Column("exact_times", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "feed_version", "trip_id", "start_seconds", name=op.f("pk_transport_frequencies")
        ),
    )
    op.create_table(
        "transport_shapes",
        _version(),
        sa.Column("shape_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "feed_version", "shape_id", "sequence", name=op.f("pk_transport_shapes")
        ),
    )
    op.create_table(
        "transport_alerts",
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("effect", sa.String(32), nullable=False),
        sa.Column("header", postgresql.JSONB(), nullable=False),
        sa.Column("description", postgresql.JSONB(), nullable=False),
        sa.Column("url", postgresql.JSONB(), nullable=False),
        sa.Column("active_periods", postgresql.JSONB(), nullable=False),
        sa.Column("route_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("stop_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("trip_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("first_seen_at", TIMESTAMPTZ, nullable=False),
        sa.Column("updated_at", TIMESTAMPTZ, nullable=False),
        sa.Column("resolved_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("feed", "alert_id", name=op.f("pk_transport_alerts")),
    )
    op.create_table(
        "transport_alert_events",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("route_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("stop_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.Column("ready_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transport_alert_events")),
        sa.UniqueConstraint(
            "feed", "alert_id", "revision", name=op.f("uq_transport_alert_events_feed")
        ),
    )
    op.create_table(
        "transport_follows",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("principal_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("target_id", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transport_follows")),
        sa.UniqueConstraint(
            "principal_id", "kind", "target_id", name=op.f("uq_transport_follows_principal_id")
        ),
    )
    op.create_index("ix_transport_follows_target", "transport_follows", ["kind", "target_id"])


def downgrade() -> None:
    op.drop_table("transport_follows")
    op.drop_table("transport_alert_events")
    op.drop_table("transport_alerts")
    for table in reversed(GTFS_TABLES):
        op.drop_table(table)
    op.drop_table("transport_feed_sources")
    op.drop_table("transport_feed_versions")
