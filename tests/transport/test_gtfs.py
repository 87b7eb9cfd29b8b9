"""GTFS import: validation, times past 24:00, versions switched atomically, real feeds."""

import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.simulators import transit
from poche_api.transport import gtfs
from poche_api.transport.gtfs import InvalidFeed, import_gtfs, parse_time
from tests.transport.conftest import SHARED_TRANSIT

# A version's stop times, a row each, as GTFS has them: each trip's arrays over its pattern.
STOP_TIMES = (
    "SELECT tt.trip_id, tt.stop_sequences[p.position], tt.arrival_seconds[p.position],"
    " tt.departure_seconds[p.position], coalesce(tt.pickup_types[p.position], 0),"
    " coalesce(tt.drop_off_types[p.position], 0), tt.stop_headsigns[p.position]"
    " FROM transport_trip_times tt JOIN transport_pattern_stops p"
    " ON p.feed_version = tt.feed_version AND p.pattern_id = tt.pattern_id"
    " WHERE tt.feed_version = $1 ORDER BY 1, 2"
)


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
            "SELECT count(*) FROM transport_trip_times WHERE feed_version = $1", timetable
        )
        assert old_rows == 0
        assert seen["stop_times.txt"] == result.counts["stop_times"] > 5000
        # Where the import spent its time, step by step (logged, and read by the benchmark).
        steps = {"stop_times.txt", "trips.txt", "references", "indexes", "commit", "switch"}
        assert steps <= result.seconds.keys()
        late = await raw.fetchval(
            "SELECT max(d) FROM transport_trip_times, unnest(departure_seconds) AS d"
            " WHERE feed_version = $1",
            result.feed_version,
        )
        assert result.counts["patterns"] < result.counts["trips"] / 5  # trips share patterns
        assert late > 24 * 3600  # the Noctambus and last metros run past midnight
        assert result.timezone == "Europe/Paris"
        assert str(result.feed_end_date) == "2030-12-31"

    async def test_members_as_spreadsheets_write_them_still_load(
        self, raw: asyncpg.Connection, tmp_path: Path
    ) -> None:
        # A BOM, CRLF, every field quoted (empty ones too), columns in another order plus some
        # we do not keep, a stop without times, spaces around a time and trailing blank lines.
        trips = (
            "\ufefftrip_id,route_id,service_id,shape_id,bikes_allowed,wheelchair_accessible\r\n"
            '"TCAR:1","TCAR:90","SEM","TCAR:NOSHAPE","1",""\r\n'
            '"TCAR:2","TCAR:90","SEM","TCAR:90:0","",""\r\n\r\n'
        )
        stop_times = (
            "\ufeffstop_sequence,stop_id,trip_id,timepoint,departure_time,arrival_time,"
            "pickup_type,stop_headsign\r\n"
            '"1","TCAR:BOUL","TCAR:1","1","25:10:00","25:09:00","",""\r\n'
            '"2","TCAR:GARE","TCAR:1","0","","","1","Gare"\r\n'
            '"3","TCAR:BOUL","TCAR:2","1"," 5:03:09","","",""\r\n\r\n\r\n'
        )
        path = _zip_with(
            tmp_path,
            {"trips.txt": trips.encode(), "stop_times.txt": stop_times.encode()},
        )

        result = await import_gtfs(raw, path, source="t")

        assert (result.counts["trips"], result.counts["stop_times"]) == (2, 3)
        version = result.feed_version
        rows = await raw.fetch(STOP_TIMES, version)
        assert [tuple(r) for r in rows] == [
            ("TCAR:1", 1, 25 * 3600 + 540, 25 * 3600 + 600, 0, 0, None),
            ("TCAR:1", 2, None, None, 1, 0, "Gare"),
            ("TCAR:2", 3, 5 * 3600 + 189, 5 * 3600 + 189, 0, 0, None),
        ]
        trips_loaded = await raw.fetch(
            "SELECT t.trip_id, t.shape_id, tt.departure_seconds[1], t.wheelchair_accessible,"
            " t.headsign FROM transport_trips t JOIN transport_trip_times tt"
            " ON tt.feed_version = t.feed_version AND tt.trip_id = t.trip_id"
            " WHERE t.feed_version = $1 ORDER BY t.trip_id",
            version,
        )
        assert [tuple(r) for r in trips_loaded] == [
            ("TCAR:1", None, 25 * 3600 + 600, 0, None),  # a dangling shape is dropped
            ("TCAR:2", "TCAR:90:0", 5 * 3600 + 189, 0, None),
        ]

    async def test_the_error_list_stops_at_its_bound(
        self, raw: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(gtfs, "MAX_REPORTED_ERRORS", 2)
        stop_times = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        stop_times += "TCAR:X,5h,05:00:00,TCAR:NOWHERE,one\n"
        path = _zip_with(tmp_path, {"stop_times.txt": stop_times.encode()})

        with pytest.raises(InvalidFeed) as caught:
            await import_gtfs(raw, path, source="t")

        assert caught.value.errors == [
            "stop_times.txt:2: invalid value (arrival_time '5h' is not a time like 25:10:00)",
            "stop_times.txt:2: invalid value (stop_id 'TCAR:NOWHERE' is not a stop)",
        ]

    async def test_a_trip_whose_rows_are_scattered_still_loads_as_one(
        self, raw: asyncpg.Connection, tmp_path: Path
    ) -> None:
        stop_times = (
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence,stop_headsign\n"
            'TCAR:100001,05:00:00,05:00:00,TCAR:BOUL,1,"Gare, ""Rive"" Droite"\n'
            "TCAR:100002,06:00:00,06:00:00,TCAR:GARE,1,\n"
            "TCAR:100001,05:04:00,05:04:00,TCAR:GARE,2,\n"
            "TCAR:100002,06:04:00,06:04:00,TCAR:BOUL,2,\n"
        )
        path = _zip_with(tmp_path, {"stop_times.txt": stop_times.encode()})

        result = await import_gtfs(raw, path, source="t")

        rows = await raw.fetch(STOP_TIMES, result.feed_version)
        assert [tuple(r) for r in rows] == [
            ("TCAR:100001", 1, 18000, 18000, 0, 0, 'Gare, "Rive" Droite'),
            ("TCAR:100001", 2, 18240, 18240, 0, 0, None),
            ("TCAR:100002", 1, 21600, 21600, 0, 0, None),
            ("TCAR:100002", 2, 21840, 21840, 0, 0, None),
        ]
        assert result.counts["patterns"] == 2

    @pytest.mark.parametrize(
        ("member", "content", "expected"),
        [
            (
                "stop_times.txt",
                (
                    "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "TCAR:100001,05:00:00,05:00:00,TCAR:BOUL,1\n"
                    "TCAR:100001,05:61:00,05:61:00,TCAR:GARE,2\n"
                ),
                (
                    r"^stop_times\.txt:3: invalid value \(arrival_time '05:61:00' is not a time"
                    r" like 25:10:00\)$"
                ),
            ),
            (
                "stop_times.txt",
                (
                    "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "TCAR:100001,05:00:00,05:00:00,TCAR:BOUL,1\n"
                    "TCAR:100001,05:02:00,05:02:00,TCAR:GARE,1\n"
                ),
                (
                    r"^stop_times\.txt:3: invalid value \(stop_sequence 1 repeats in trip_id"
                    r" 'TCAR:100001'\)$"
                ),
            ),
            (
                "stop_times.txt",
                (
                    "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "TCAR:100001,05:00:00,05:00:00,TCAR:BOUL,1\n"
                    "TCAR:100001,-00:02:00,,TCAR:GARE,2\n"
                ),
                (
                    r"^stop_times\.txt:3: invalid value \(arrival_time '-00:02:00' is not a time"
                    r" like 25:10:00\)$"
                ),
            ),
            (
                "stop_times.txt",
                "trip_id,arrival_time,departure_time,stop_sequence\nTCAR:100001,05:00:00,,1\n",
                r"^stop_times\.txt: missing column stop_id$",
            ),
            (
                "stop_times.txt",
                "trip_id,arrival_time,departure_time,stop_id,stop_sequence\nTCAR:100001,05:00:00\n",
                r"^stop_times\.txt: CSV parse error: Expected 5 columns, got 2",
            ),
            (
                "stop_times.txt",
                "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                + "TCAR:100001,05:00:00,05:00:00,TCAR:NOWHERE,1\n" * 3
                + "".join(f"TCAR:X{n},05:00:00,05:00:00,TCAR:BOUL,1\n" for n in range(30)),
                r"^stop_times\.txt:2: invalid value \(stop_id 'TCAR:NOWHERE' is not a stop\)$",
            ),
            (
                "trips.txt",
                (
                    "route_id,service_id,trip_id\nTCAR:90,SEM,TCAR:100001\nTCAR:99,SEM,TCAR:X\n"
                    "TCAR:90,NEVER,TCAR:Y\n"
                ),
                r"^trips\.txt:3: invalid value \(route_id 'TCAR:99' is not a route\)",
            ),
        ],
    )
    async def test_a_bad_row_is_refused_with_its_line(
        self, raw: asyncpg.Connection, tmp_path: Path, member: str, content: str, expected: str
    ) -> None:
        before = await raw.fetchval("SELECT id FROM transport_feed_versions WHERE active")

        with pytest.raises(InvalidFeed) as caught:
            await import_gtfs(raw, _zip_with(tmp_path, {member: content.encode()}), source="t")

        assert re.match(expected, caught.value.errors[0]), caught.value.errors
        if member == "trips.txt":
            assert caught.value.errors[1].startswith("trips.txt:4: invalid value (service_id")
        assert await raw.fetchval("SELECT id FROM transport_feed_versions WHERE active") == before


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
