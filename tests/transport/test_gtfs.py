"""GTFS import: validation, times past 24:00, versions switched atomically, real feeds."""

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.simulators import transit
from poche_api.transport.gtfs import InvalidFeed, import_gtfs, parse_time
from tests.transport.conftest import SHARED_TRANSIT


@pytest_asyncio.fixture
async def raw(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A raw asyncpg connection inside a transaction rolled back at the end of the test."""
    async with engine.connect() as connection:
        driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
        outer = driver.transaction()
        await outer.start()
        try:
            yield driver
        finally:
            await outer.rollback()


def _zip_with(tmp_path: Path, replace: dict[str, bytes | None]) -> Path:
    source = zipfile.ZipFile(io.BytesIO(transit.gtfs_zip()))
    path = tmp_path / "feed.zip"
    with zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            if name in replace:
                content = replace[name]
                if content is not None:
                    target.writestr(name, content)
            else:
                target.writestr(name, source.read(name))
    return path


def test_times_past_midnight_count_from_the_service_day() -> None:
    assert parse_time("25:10:00") == 25 * 3600 + 600
    assert parse_time(" 5:03:09") == 5 * 3600 + 189
    assert parse_time("") is None
    with pytest.raises(ValueError, match="12:61"):
        parse_time("12:61:00")


@pytest.mark.usefixtures("timetable")
class TestImport:
    async def test_a_feed_without_stop_times_is_refused(
        self, raw: asyncpg.Connection, tmp_path: Path
    ) -> None:
        with pytest.raises(InvalidFeed, match=r"missing stop_times\.txt"):
            await import_gtfs(raw, _zip_with(tmp_path, {"stop_times.txt": None}), source="t")

    async def test_a_stop_time_on_an_unknown_stop_is_refused_and_nothing_changes(
        self, raw: asyncpg.Connection, tmp_path: Path
    ) -> None:
        before = await raw.fetchval("SELECT id FROM transport_feed_versions WHERE active")
        bad = b"trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        bad += b"TCAR:100001,05:00:00,05:00:00,TCAR:NOWHERE,1\n"
        path = _zip_with(tmp_path, {"stop_times.txt": bad})

        with pytest.raises(InvalidFeed, match="TCAR:NOWHERE") as caught:
            await import_gtfs(raw, path, source="t")

        assert caught.value.errors[0].startswith("stop_times.txt:2:")
        active = await raw.fetchval("SELECT id FROM transport_feed_versions WHERE active")
        assert active == before

    async def test_a_new_version_replaces_the_active_one_atomically(
        self, raw: asyncpg.Connection, tmp_path: Path
    ) -> None:
        timetable = await raw.fetchval("SELECT id FROM transport_feed_versions WHERE active")
        path = tmp_path / "astuce.zip"
        path.write_bytes(transit.gtfs_zip())
        seen: dict[str, int] = {}

        result = await import_gtfs(
            raw, path, source="t", progress=lambda m, n: seen.__setitem__(m, seen.get(m, 0) + n)
        )

        assert result.replaced_versions == [timetable]
        versions = await raw.fetch("SELECT id, active FROM transport_feed_versions")
        assert [(r["id"], r["active"]) for r in versions] == [(result.feed_version, True)]
        old_rows = await raw.fetchval(
            "SELECT count(*) FROM transport_stop_times WHERE feed_version = $1", timetable
        )
        assert old_rows == 0
        assert seen["stop_times.txt"] == result.counts["stop_times"] > 5000
        late = await raw.fetchval(
            "SELECT max(departure_seconds) FROM transport_stop_times WHERE feed_version = $1",
            result.feed_version,
        )
        assert late > 24 * 3600  # the Noctambus and last metros run past midnight
        assert result.timezone == "Europe/Paris"
        assert str(result.feed_end_date) == "2030-12-31"


@pytest.mark.skipif(
    not (SHARED_TRANSIT / "bullrunner-gtfs.zip").exists(),
    reason="../shared/data/transit/bullrunner-gtfs.zip is not there (real feed samples)",
)
@pytest.mark.usefixtures("timetable")
async def test_the_real_bullrunner_gtfs_imports_with_frequencies_and_shapes(
    raw: asyncpg.Connection,
) -> None:
    result = await import_gtfs(raw, SHARED_TRANSIT / "bullrunner-gtfs.zip", source="bullrunner")

    assert result.counts["routes"] == 6
    assert result.counts["stops"] == 125
    assert result.counts["frequencies"] > 0
    assert result.counts["shapes"] > 0
    assert result.timezone == "America/New_York"
