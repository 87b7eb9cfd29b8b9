"""Demo timetable: the transit simulator's Rouen-shaped GTFS, loaded when none is active."""

import asyncio
import tempfile
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from poche_api.demo import seeder
from poche_api.simulators import transit
from poche_api.transport.gtfs import import_gtfs


@seeder("transport")
async def seed_timetable(connection: AsyncConnection) -> None:
    active = await connection.scalar(text("SELECT id FROM transport_feed_versions WHERE active"))
    if active is not None:  # a real or earlier demo timetable is there: keep it
        return
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "astuce-simulator.zip"
        await asyncio.to_thread(path.write_bytes, transit.gtfs_zip())
        # Inside the seeding transaction: asyncpg turns the import's transactions into savepoints.
        await import_gtfs(driver, path, source="simulator:transit")
