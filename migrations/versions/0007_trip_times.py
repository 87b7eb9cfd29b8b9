"""Transport: a trip's stop times as arrays over a shared stop pattern, instead of a row each.

transport_stop_times held a row per stop time (a million for Rouen's scale), which made loading
and indexing a feed several times slower than reading it. transport_trip_times holds one row per
trip, its times as arrays; transport_pattern_stops lists, once per pattern (trips calling at the
same stops in the same order), the stops in order. Loaded versions are converted here.
transport_trips.start_seconds goes: a trip's start is its first stop's departure, in the arrays.

Revision ID: 0007_trip_times
Revises: 0006_transport_partitions
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0007_trip_times"
down_revision: str | None = "0006_transport_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "gtfs_versions"


def upgrade() -> None:
    op.execute(
        "CREATE TABLE transport_trip_times ("
        " feed_version integer NOT NULL,"
        ' trip_id text COLLATE "C" NOT NULL,'
        " pattern_id integer NOT NULL,"
        " stop_sequences integer[] NOT NULL,"
        " arrival_seconds integer[] NOT NULL,"
        " departure_seconds integer[] NOT NULL,"
        " pickup_types smallint[],"
        " drop_off_types smallint[],"
        " stop_headsigns text[],"
        " CONSTRAINT pk_transport_trip_times PRIMARY KEY (trip_id, feed_version)"
        ") PARTITION BY LIST (feed_version)"
    )
    op.execute("CREATE INDEX ix_transport_trip_times_pattern ON transport_trip_times (pattern_id)")
    op.execute(
        "CREATE TABLE transport_pattern_stops ("
        " feed_version integer NOT NULL,"
        " pattern_id integer NOT NULL,"
        " position smallint NOT NULL,"
        ' stop_id text COLLATE "C" NOT NULL,'
        " last boolean NOT NULL,"
        " CONSTRAINT pk_transport_pattern_stops PRIMARY KEY (pattern_id, position, feed_version)"
        ") PARTITION BY LIST (feed_version)"
    )
    op.execute("CREATE INDEX ix_transport_pattern_stops_stop ON transport_pattern_stops (stop_id)")
    versions = (
        op.get_bind().execute(text("SELECT DISTINCT feed_version FROM transport_stop_times")).all()
    )
    for (version,) in versions:
        v = int(version)
        for table in ("transport_trip_times", "transport_pattern_stops"):
            op.execute(
                f"CREATE TABLE {SCHEMA}.{table}_{v} PARTITION OF {table} FOR VALUES IN ({v})"
            )
        op.execute(
            "CREATE TEMPORARY TABLE gtfs_migrated_trips ON COMMIT DROP AS"
            " SELECT trip_id, array_agg(stop_id ORDER BY stop_sequence) AS stops,"
            " array_agg(stop_sequence ORDER BY stop_sequence) AS sequences,"
            " array_agg(arrival_seconds ORDER BY stop_sequence) AS arrivals,"
            " array_agg(departure_seconds ORDER BY stop_sequence) AS departures,"
            " array_agg(pickup_type ORDER BY stop_sequence) AS pickups,"
            " array_agg(drop_off_type ORDER BY stop_sequence) AS drop_offs,"
            " array_agg(stop_headsign ORDER BY stop_sequence) AS headsigns"
            f" FROM transport_stop_times WHERE feed_version = {v} GROUP BY trip_id"
        )
        op.execute(
            "CREATE TEMPORARY TABLE gtfs_migrated_patterns ON COMMIT DROP AS"
            " SELECT row_number() OVER (ORDER BY stops)::integer AS pattern_id, stops"
            " FROM (SELECT DISTINCT stops FROM gtfs_migrated_trips) AS distinct_stops"
        )
        op.execute(
            "INSERT INTO transport_trip_times SELECT"
            f" {v}, t.trip_id, p.pattern_id, t.sequences, t.arrivals, t.departures,"
            " t.pickups, t.drop_offs,"
            " CASE WHEN EXISTS (SELECT 1 FROM unnest(t.headsigns) h WHERE h IS NOT NULL)"
            " THEN t.headsigns END"
            " FROM gtfs_migrated_trips t JOIN gtfs_migrated_patterns p ON p.stops = t.stops"
        )
        op.execute(
            "INSERT INTO transport_pattern_stops SELECT"
            f" {v}, p.pattern_id, s.position, s.stop_id, s.position = cardinality(p.stops)"
            " FROM gtfs_migrated_patterns p,"
            " unnest(p.stops) WITH ORDINALITY AS s(stop_id, position)"
        )
        op.execute("DROP TABLE gtfs_migrated_trips")
        op.execute("DROP TABLE gtfs_migrated_patterns")
    op.execute("DROP TABLE transport_stop_times")  # and its partitions
    # A trip's start is its first stop's departure, read from transport_trip_times.
    op.execute("ALTER TABLE transport_trips DROP COLUMN start_seconds")


def downgrade() -> None:
    op.execute("ALTER TABLE transport_trips ADD COLUMN start_seconds integer")
    op.execute(
        "UPDATE transport_trips t SET start_seconds = tt.departure_seconds[1]"
        " FROM transport_trip_times tt"
        " WHERE tt.feed_version = t.feed_version AND tt.trip_id = t.trip_id"
    )
    op.execute(
        "CREATE TABLE transport_stop_times ("
        " feed_version integer NOT NULL,"
        ' trip_id text COLLATE "C" NOT NULL,'
        " stop_sequence integer NOT NULL,"
        ' stop_id text COLLATE "C" NOT NULL,'
        " arrival_seconds integer,"
        " departure_seconds integer,"
        " stop_headsign text,"
        " pickup_type smallint NOT NULL,"
        " drop_off_type smallint NOT NULL,"
        " CONSTRAINT pk_transport_stop_times PRIMARY KEY (trip_id, stop_sequence, feed_version)"
        ") PARTITION BY LIST (feed_version)"
    )
    op.execute(
        "CREATE INDEX ix_transport_stop_times_stop ON transport_stop_times"
        " (stop_id, departure_seconds)"
    )
    versions = (
        op.get_bind().execute(text("SELECT DISTINCT feed_version FROM transport_trip_times")).all()
    )
    for (version,) in versions:
        v = int(version)
        op.execute(
            f"CREATE TABLE {SCHEMA}.transport_stop_times_{v} PARTITION OF transport_stop_times"
            f" FOR VALUES IN ({v})"
        )
    op.execute(
        "INSERT INTO transport_stop_times SELECT t.feed_version, t.trip_id,"
        " t.stop_sequences[s.position], s.stop_id, t.arrival_seconds[s.position],"
        " t.departure_seconds[s.position], t.stop_headsigns[s.position],"
        " coalesce(t.pickup_types[s.position], 0), coalesce(t.drop_off_types[s.position], 0)"
        " FROM transport_trip_times t JOIN transport_pattern_stops s"
        " ON s.feed_version = t.feed_version AND s.pattern_id = t.pattern_id"
    )
    op.execute("DROP TABLE transport_trip_times")
    op.execute("DROP TABLE transport_pattern_stops")
