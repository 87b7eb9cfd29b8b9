"""Transport: versioned GTFS tables, real-time alerts and their events, follows.

Every GTFS table is keyed and partitioned by ``feed_version``: an import loads beside the active
version and is switched on in one transaction (the active flag), then the previous version's
tables are dropped.
Times in ``transport_trip_times`` and ``transport_frequencies`` are GTFS seconds: seconds since
"noon minus 12 h" of the service day, so 25:10:00 is 90600 and belongs to the previous day.
"""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from poche_api.db import Base

# Each version's rows live in tables of their own (schema gtfs_versions), attached as partitions:
# an import builds their indexes once, and a replaced version is dropped whole (gtfs.activate).
PARTITIONED = {"postgresql_partition_by": "LIST (feed_version)"}
# GTFS ids compare byte by byte: indexes on them build several times faster than under a
# linguistic collation, and equal ids are equal whatever the database's locale.
GTFS_ID = Text(collation="C")


def _version_column() -> Mapped[int]:
    # No foreign key on purpose: a per-row RI check made COPY of a million stop_times several
    # times slower. Rows of a version are loaded in the transaction that creates it and
    # dropped with their tables when it is replaced (gtfs.activate).
    return mapped_column(Integer, primary_key=True)


class FeedVersion(Base):
    """One imported GTFS feed; exactly one is active at a time."""

    __tablename__ = "transport_feed_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # loading | ready | retired
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    timezone: Mapped[str] = mapped_column(String(64))
    feed_start_date: Mapped[date | None] = mapped_column(Date)
    feed_end_date: Mapped[date | None] = mapped_column(Date)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    imported_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    activated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        Index(
            "ix_transport_feed_versions_one_active",
            "active",
            unique=True,
            postgresql_where=text("active"),
        ),
    )


class FeedSource(Base):
    """Validators of the last download of a feed URL, for conditional requests."""

    __tablename__ = "transport_feed_sources"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    changed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class Agency(Base):
    __tablename__ = "transport_agencies"

    feed_version: Mapped[int] = _version_column()
    agency_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (PARTITIONED,)


class Route(Base):
    __tablename__ = "transport_routes"

    feed_version: Mapped[int] = _version_column()
    route_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    agency_id: Mapped[str | None] = mapped_column(GTFS_ID)
    short_name: Mapped[str | None] = mapped_column(Text)
    long_name: Mapped[str | None] = mapped_column(Text)
    route_type: Mapped[int] = mapped_column(SmallInteger)
    color: Mapped[str | None] = mapped_column(String(6))
    text_color: Mapped[str | None] = mapped_column(String(6))
    sort_order: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (PARTITIONED,)


class Stop(Base):
    __tablename__ = "transport_stops"

    feed_version: Mapped[int] = _version_column()
    stop_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    code: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    name_normalized: Mapped[str] = mapped_column(Text)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    location_type: Mapped[int] = mapped_column(SmallInteger)
    parent_station: Mapped[str | None] = mapped_column(GTFS_ID)
    wheelchair_boarding: Mapped[int] = mapped_column(SmallInteger)
    platform_code: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_transport_stops_name_prefix",
            "feed_version",
            "name_normalized",
            postgresql_ops={"name_normalized": "text_pattern_ops"},
        ),
        Index("ix_transport_stops_lat_lon", "feed_version", "lat", "lon"),
        Index("ix_transport_stops_parent", "feed_version", "parent_station"),
        PARTITIONED,
    )


class Trip(Base):
    __tablename__ = "transport_trips"

    feed_version: Mapped[int] = _version_column()
    trip_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    route_id: Mapped[str] = mapped_column(GTFS_ID)
    service_id: Mapped[str] = mapped_column(GTFS_ID)
    headsign: Mapped[str | None] = mapped_column(Text)
    short_name: Mapped[str | None] = mapped_column(Text)
    direction_id: Mapped[int | None] = mapped_column(SmallInteger)
    block_id: Mapped[str | None] = mapped_column(GTFS_ID)
    shape_id: Mapped[str | None] = mapped_column(GTFS_ID)
    wheelchair_accessible: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (
        Index("ix_transport_trips_route", "feed_version", "route_id", "direction_id"),
        PARTITIONED,
    )


class TripTimes(Base):
    """A trip's stop times as arrays, position by position over its stop pattern."""

    __tablename__ = "transport_trip_times"

    feed_version: Mapped[int] = _version_column()
    trip_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    pattern_id: Mapped[int] = mapped_column(Integer)
    stop_sequences: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    arrival_seconds: Mapped[list[int | None]] = mapped_column(ARRAY(Integer))
    departure_seconds: Mapped[list[int | None]] = mapped_column(ARRAY(Integer))
    # NULL when every stop of the import's block is the default (regular pickup, drop-off,
    # no stop headsign).
    pickup_types: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))
    drop_off_types: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))
    stop_headsigns: Mapped[list[str | None] | None] = mapped_column(ARRAY(Text))

    __table_args__ = (
        PrimaryKeyConstraint("trip_id", "feed_version"),
        Index("ix_transport_trip_times_pattern", "pattern_id"),
        PARTITIONED,
    )


class PatternStop(Base):
    """The stops of a pattern (trips calling at the same stops in the same order), in order."""

    __tablename__ = "transport_pattern_stops"

    feed_version: Mapped[int] = _version_column()
    pattern_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # from 1
    stop_id: Mapped[str] = mapped_column(GTFS_ID)
    last: Mapped[bool] = mapped_column(Boolean)  # the terminus: an arrival, no departure

    __table_args__ = (
        PrimaryKeyConstraint("pattern_id", "position", "feed_version"),
        Index("ix_transport_pattern_stops_stop", "stop_id"),
        PARTITIONED,
    )


class Calendar(Base):
    __tablename__ = "transport_calendars"

    feed_version: Mapped[int] = _version_column()
    service_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    weekdays: Mapped[str] = mapped_column(String(7))  # "1111100": Monday first
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)

    __table_args__ = (PARTITIONED,)


class CalendarDate(Base):
    __tablename__ = "transport_calendar_dates"

    feed_version: Mapped[int] = _version_column()
    service_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    exception_type: Mapped[int] = mapped_column(SmallInteger)  # 1 added, 2 removed

    __table_args__ = (
        Index("ix_transport_calendar_dates_date", "feed_version", "date"),
        PARTITIONED,
    )


class Frequency(Base):
    __tablename__ = "transport_frequencies"

    feed_version: Mapped[int] = _version_column()
    trip_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    start_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    end_seconds: Mapped[int] = mapped_column(Integer)
    headway_seconds: Mapped[int] = mapped_column(Integer)
    exact_times: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (PARTITIONED,)


class ShapePoint(Base):
    __tablename__ = "transport_shapes"

    feed_version: Mapped[int] = _version_column()
    shape_id: Mapped[str] = mapped_column(GTFS_ID, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)

    __table_args__ = (PARTITIONED,)


class TransportAlert(Base):
    """A ServiceAlert as last seen in a feed; ``resolved_at`` once it left the feed."""

    __tablename__ = "transport_alerts"

    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(Text, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(32))
    effect: Mapped[str] = mapped_column(String(32))
    header: Mapped[dict[str, str]] = mapped_column(JSONB)
    description: Mapped[dict[str, str]] = mapped_column(JSONB)
    url: Mapped[dict[str, str]] = mapped_column(JSONB)
    active_periods: Mapped[list[list[int | None]]] = mapped_column(JSONB)
    route_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    stop_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    trip_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    first_seen_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class TransportAlertEvent(Base):
    """A new, changed or resolved alert, recorded once (unique feed + alert + revision)."""

    __tablename__ = "transport_alert_events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    feed: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # new | changed | resolved
    content_hash: Mapped[str] = mapped_column(String(32))
    route_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    stop_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(String(16))  # pending | notified
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    ready_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (UniqueConstraint("feed", "alert_id", "revision"),)


class TransportFollow(Base):
    """A principal (resident or device, from the identity capability) follows a stop or line."""

    __tablename__ = "transport_follows"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))  # stop | line
    target_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        UniqueConstraint("principal_id", "kind", "target_id"),
        Index("ix_transport_follows_target", "kind", "target_id"),
    )
