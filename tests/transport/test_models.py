import asyncio
import uuid
from typing import Any

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.db import Base, plain_url
from poche_api.migrate import alembic_config, upgrade_async
from tests.conftest import _recreate_database


async def test_the_migration_matches_the_transport_models(engine: AsyncEngine) -> None:
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)

    transport = [d for d in differences if "transport_" in repr(d)]
    assert transport == []


async def test_migration_0007_turns_loaded_stop_times_into_trip_rows_and_back(
    database_url: str,
) -> None:
    name = f"poche_test_0007_{uuid.uuid4().hex[:8]}"
    await _recreate_database(database_url, name)
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    stop_times = [  # trip, sequence, stop, arrival, departure, headsign, pickup, drop-off
        ("A", 1, "S1", 100, 110, None, 0, 0),
        ("A", 2, "S2", 200, 200, "Gare", 1, 0),
        ("B", 1, "S1", 300, 300, None, 0, 0),
        ("B", 2, "S2", 400, 400, None, 0, 0),
        ("C", 5, "S2", 500, 500, None, 0, 1),
        ("C", 9, "S1", 600, 600, None, 0, 0),
    ]
    try:
        await upgrade_async(url, "0006_transport_partitions")
        connection = await asyncpg.connect(plain_url(url))
        try:
            await connection.execute(
                "CREATE TABLE gtfs_versions.transport_stop_times_7"
                " PARTITION OF transport_stop_times FOR VALUES IN (7)"
            )
            await connection.executemany(
                "INSERT INTO transport_stop_times (feed_version, trip_id, stop_sequence, stop_id,"
                " arrival_seconds, departure_seconds, stop_headsign, pickup_type, drop_off_type)"
                " VALUES (7, $1, $2, $3, $4, $5, $6, $7, $8)",
                stop_times,
            )
            await upgrade_async(url)

            trips = await connection.fetch(
                "SELECT trip_id, pattern_id, stop_sequences, arrival_seconds, departure_seconds,"
                " pickup_types, drop_off_types, stop_headsigns FROM transport_trip_times"
                " WHERE feed_version = 7 ORDER BY trip_id"
            )
            patterns = await connection.fetch(
                "SELECT pattern_id, position, stop_id, last FROM transport_pattern_stops"
                " WHERE feed_version = 7 ORDER BY pattern_id, position"
            )
            await asyncio.to_thread(
                command.downgrade, alembic_config(url), "0006_transport_partitions"
            )
            back = await connection.fetch(
                "SELECT trip_id, stop_sequence, stop_id, arrival_seconds, departure_seconds,"
                " stop_headsign, pickup_type, drop_off_type FROM transport_stop_times"
                " ORDER BY trip_id, stop_sequence"
            )
        finally:
            await connection.close()
    finally:
        await _recreate_database(database_url, name, drop_only=True)

    a, b, c = (tuple(row) for row in trips)
    assert a[1] == b[1] != c[1]  # A and B call at the same stops in the same order
    assert a[2:] == ([1, 2], [100, 200], [110, 200], [0, 1], [0, 0], [None, "Gare"])
    assert b[7] is None  # no headsign at all
    assert c[2] == [5, 9]
    assert {(r["stop_id"], r["last"]) for r in patterns if r["pattern_id"] == a[1]} == {
        ("S1", False),
        ("S2", True),
    }
    assert [tuple(row) for row in back] == stop_times
