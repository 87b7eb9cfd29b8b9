"""Transport: GTFS tables partitioned by feed_version, one table per version in gtfs_versions.

An import loads a version into tables of its own, without indexes, and attaches them (which
builds the indexes by sorting, far faster than maintaining them row by row); a replaced version
is dropped as tables instead of deleted row by row. Rows already there move to their version's
tables; primary keys and indexes keep their names.

GTFS ids take the "C" collation, and the two indexes of transport_stop_times lead with an id
instead of feed_version (constant in a partition): with both, building them sorts on the ids'
leading bytes, about twice as fast.

Revision ID: 0006_transport_partitions
Revises: 0005_incidents
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0006_transport_partitions"
down_revision: str | None = "0005_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "gtfs_versions"
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
# GTFS id columns: "C" collation once partitioned.
ID_COLUMNS = {
    "transport_agencies": ("agency_id",),
    "transport_routes": ("route_id", "agency_id"),
    "transport_stops": ("stop_id", "parent_station"),
    "transport_trips": ("trip_id", "route_id", "service_id", "block_id", "shape_id"),
    "transport_stop_times": ("trip_id", "stop_id"),
    "transport_calendars": ("service_id",),
    "transport_calendar_dates": ("service_id",),
    "transport_frequencies": ("trip_id",),
    "transport_shapes": ("shape_id",),
}
# transport_stop_times' key and stop index: (partitioned, plain) definitions.
STOP_TIMES_KEY = (
    "PRIMARY KEY (trip_id, stop_sequence, feed_version)",
    "PRIMARY KEY (feed_version, trip_id, stop_sequence)",
)
STOP_TIMES_INDEX = (
    (
        "CREATE INDEX ix_transport_stop_times_stop ON transport_stop_times"
        " USING btree (stop_id, departure_seconds)"
    ),
    (
        "CREATE INDEX ix_transport_stop_times_stop ON transport_stop_times"
        " USING btree (feed_version, stop_id, departure_seconds)"
    ),
)


def _definitions(table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The table's primary key (name, definition) and its other indexes' CREATE statements."""
    bind = op.get_bind()
    keys = bind.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:t AS regclass) AND contype = 'p'"
        ),
        {"t": table},
    ).all()
    indexes = bind.execute(
        text(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = CAST(:t AS regclass) AND NOT indisprimary"
        ),
        {"t": table},
    ).all()
    # A partitioned table's index reads "ON ONLY table": the statement must build them all.
    statements = [row[0].replace(" ON ONLY ", " ON ") for row in indexes]
    return [(name, definition) for name, definition in keys], statements


def _rebuild(table: str, *, partitioned: bool) -> None:
    """Recreate ``table`` (partitioned or plain) with its rows, key and indexes."""
    keys, indexes = _definitions(table)
    old = f"{table}__old"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for name, _ in keys:
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {name}")
    for statement in indexes:
        name = statement.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
        op.execute(f"DROP INDEX {name}")
    suffix = " PARTITION BY LIST (feed_version)" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS){suffix}")
    collation = '"C"' if partitioned else '"default"'
    for column in ID_COLUMNS[table]:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE text COLLATE {collation}")
    if table == "transport_stop_times":
        which = 0 if partitioned else 1
        keys = [(name, STOP_TIMES_KEY[which]) for name, _ in keys]
        indexes = [STOP_TIMES_INDEX[which]]
    for name, definition in keys:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for statement in indexes:
        op.execute(statement)  # names the table as it was: the new one now has that name
    if partitioned:
        versions = op.get_bind().execute(text(f"SELECT DISTINCT feed_version FROM {old}")).all()
        for (version,) in versions:
            op.execute(
                f"CREATE TABLE {SCHEMA}.{table}_{int(version)} PARTITION OF {table}"
                f" FOR VALUES IN ({int(version)})"
            )
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old} CASCADE")


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table in GTFS_TABLES:
        _rebuild(table, partitioned=True)


def downgrade() -> None:
    for table in GTFS_TABLES:
        _rebuild(table, partitioned=False)
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
