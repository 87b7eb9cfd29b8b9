"""GTFS import: validate, load with ``COPY``, switch atomically.

Every GTFS table is partitioned by ``feed_version``: a version's rows live in their own tables
in the ``gtfs_versions`` schema, loaded without indexes, indexed once (by sorting, with
parallel workers) and attached in the transaction that records the version. The switch flips
the active flag; the replaced versions' tables are dropped, not deleted row by row.

trips and shapes are streamed as raw CSV bytes straight into ``COPY``: PostgreSQL parses them,
and the references are checked with set-based SQL that names the first offending lines.
stop_times become one row per trip over shared stop patterns (``transport.timetable``: Arrow
reads, checks and converts the member block by block, ``25:10:00`` → 90600). The small members
go through ``csv`` in Python (time zones, accent-free stop names, parent stations). Memory holds
a block of the member or a batch of small rows, never the timetable.
"""

import asyncio
import csv
import dataclasses
import functools
import hashlib
import io
import logging
import re
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import httpx
import orjson

from poche_api.kit.text import normalize
from poche_api.transport.timetable import (
    LINE_COLUMN,
    PATTERN_STOPS_COLUMNS,
    TRIP_TIMES_COLUMNS,
    Scattered,
    TimetableReader,
    numbered,
)

logger = logging.getLogger(__name__)

GTFS_TABLES = (
    "transport_agencies",
    "transport_routes",
    "transport_stops",
    "transport_trips",
    "transport_trip_times",
    "transport_pattern_stops",
    "transport_calendars",
    "transport_calendar_dates",
    "transport_frequencies",
    "transport_shapes",
)
REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
PARTITIONS = "gtfs_versions"  # the schema of each version's tables (see migration 0005)
BATCH_ROWS = 20_000
MAX_REPORTED_ERRORS = 20
DOWNLOAD_CHUNK = 1 << 16
COPY_CHUNK = 1 << 19
# The tables stop_times.txt is loaded into (transport.timetable), for error messages.
TIMETABLE_TABLES = {
    "transport_trip_times": "stop_times.txt",
    "transport_pattern_stops": "stop_times.txt",
}
DROP_LOCK_TIMEOUT = "3s"  # dropping a replaced version waits this long for readers, then retries

Progress = Callable[[str, int], None]


class InvalidFeed(ValueError):
    """The feed breaks the GTFS rules we rely on; ``errors`` says where."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors[:MAX_REPORTED_ERRORS]))
        self.errors = list(errors)


@dataclasses.dataclass
class ImportResult:
    feed_version: int
    counts: dict[str, int]
    timezone: str
    feed_start_date: date | None
    feed_end_date: date | None
    replaced_versions: list[int]
    # Wall seconds of each step (a member's COPY, the reference checks, the indexes, the
    # switch): where an import spends its time, for the logs and the benchmark.
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Download:
    path: Path | None  # None: not modified since the validators we sent
    etag: str | None
    last_modified: str | None


@functools.lru_cache(maxsize=1 << 18)  # a feed has a few tens of thousands of distinct times
def parse_time(value: str) -> int | None:
    """``"25:10:00"`` → 90600 seconds since service-day noon minus 12 h; empty → None."""
    value = value.strip()
    if not value:
        return None
    hours, minutes, seconds = value.split(":")
    total = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    if int(minutes) > 59 or int(seconds) > 59 or total < 0:
        raise ValueError(value)
    return total


def parse_date(value: str) -> date:
    value = value.strip()
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def _int(value: str | None, default: int = 0) -> int:
    value = (value or "").strip()
    return int(value) if value else default


def _opt_int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value else None


def _opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _colour(value: str | None) -> str | None:
    value = (value or "").strip().lstrip("#").upper()
    return value if len(value) == 6 else None


def rows(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, str]]:
    """The member's rows, decoded as they are read (BOM tolerated, headers stripped)."""
    with archive.open(name) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        header = [column.strip() for column in next(reader, [])]
        for record in reader:
            if record:
                yield dict(zip(header, record, strict=False))


def partition(table: str, version: int) -> str:
    """The schema-qualified table holding ``version``'s rows of the partitioned ``table``."""
    return f"{PARTITIONS}.{table}_{version}"


@dataclasses.dataclass(frozen=True)
class Field:
    """How one GTFS field lands in a column when the member is copied as raw CSV.

    A field with ``expression`` is parsed into a ``gtfs_<field>`` column of ``raw_type`` and
    ``column`` is generated from it; without one, COPY parses the field straight into
    ``column``. ``absent`` fills a column whose field
    the member lacks.
    """

    name: str
    column: str
    raw_type: str
    required: bool = False
    expression: str | None = None
    absent: str | None = None


COPIED_MEMBERS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "trips.txt": (
        "transport_trips",
        (
            Field("trip_id", "trip_id", "text", required=True),
            Field("route_id", "route_id", "text", required=True),
            Field("service_id", "service_id", "text", required=True),
            Field("trip_headsign", "headsign", "text"),
            Field("trip_short_name", "short_name", "text"),
            Field("direction_id", "direction_id", "smallint"),
            Field("block_id", "block_id", "text"),
            Field("shape_id", "shape_id", "text"),
            Field(
                "wheelchair_accessible",
                "wheelchair_accessible smallint NOT NULL",
                "smallint",
                expression="coalesce(gtfs_wheelchair_accessible, 0)",
                absent="0",
            ),
        ),
    ),
    "shapes.txt": (
        "transport_shapes",
        (
            Field("shape_id", "shape_id", "text", required=True),
            Field("shape_pt_sequence", "sequence", "integer", required=True),
            Field("shape_pt_lat", "lat", "double precision", required=True),
            Field("shape_pt_lon", "lon", "double precision", required=True),
        ),
    ),
}
_COPY_LINE = re.compile(r"line (\d+)(?:, column (\w+))?")


def _header(archive: zipfile.ZipFile, member: str) -> list[str]:
    with archive.open(member) as raw:
        first = raw.readline().decode("utf-8-sig")
    return [name.strip() for name in next(csv.reader([first]), [])]


class _Loader:
    def __init__(
        self,
        connection: asyncpg.Connection,
        archive: zipfile.ZipFile,
        version: int,
        progress: Progress | None,
    ) -> None:
        self.connection = connection
        self.archive = archive
        self.version = version
        self.progress = progress
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}
        self.names = set(archive.namelist())
        self.tables: dict[str, str] = {}  # parent table → this version's member of it, if loaded
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, step: str) -> None:
        """Charge the time since the last lap to ``step``."""
        now = time.perf_counter()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._since, 3)
        self._since = now

    def error(self, message: str) -> None:
        self.errors.append(message)
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            raise InvalidFeed(self.errors)

    def table(self, parent: str) -> str:
        """This version's table of ``parent`` (or the one its rows wait in); an empty one if its
        member was not loaded."""
        return self.tables.get(parent) or partition(parent, self.version)

    async def create(self, parent: str) -> str:
        """This version's table of ``parent``: same columns, no index yet, and the check that
        lets ATTACH skip scanning it."""
        name = partition(parent, self.version)
        if parent not in self.tables:
            await self.connection.execute(
                f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS,"
                f" CHECK (feed_version IS NOT NULL AND feed_version = {int(self.version)}))"
            )
            self.tables[parent] = name
        return name

    async def copy(
        self,
        member: str,
        table: str,
        columns: Sequence[str],
        convert: Callable[[dict[str, str], int], tuple[Any, ...] | None],
    ) -> int:
        """Stream ``member`` through ``convert`` into ``table`` with COPY, in batches."""
        target = await self.create(table)
        batch: list[tuple[Any, ...]] = []
        count = 0
        for line, row in enumerate(rows(self.archive, member), start=2):
            try:
                record = convert(row, line)
            except (ValueError, KeyError) as exc:
                self.error(f"{member}:{line}: invalid value ({exc})")
                continue
            if record is None:
                continue
            batch.append((self.version, *record))
            if len(batch) >= BATCH_ROWS:
                count += await self._flush(member, target, columns, batch)
                batch = []
        if batch:
            count += await self._flush(member, target, columns, batch)
        self.counts[member.removesuffix(".txt")] = count
        self.lap(member)
        return count

    async def _flush(
        self, member: str, target: str, columns: Sequence[str], batch: list[tuple[Any, ...]]
    ) -> int:
        if self.errors:  # no point loading once the feed is known to be invalid
            return len(batch)
        schema, table = target.split(".")
        await self.connection.copy_records_to_table(
            table, schema_name=schema, records=batch, columns=["feed_version", *columns]
        )
        if self.progress is not None:
            self.progress(member, len(batch))
        return len(batch)

    async def copy_raw(self, member: str) -> int:
        """Stream ``member``'s bytes into COPY (CSV): PostgreSQL parses and converts each row."""
        parent, fields = COPIED_MEMBERS[member]
        header = _header(self.archive, member)
        by_name = {field.name: field for field in fields}
        missing = [f.name for f in fields if f.required and f.name not in header]
        if missing:
            raise InvalidFeed([*self.errors, f"{member}: missing column {', '.join(missing)}"])
        target = await self.create(parent)
        # Turn the copied table into one that takes the member's columns as they come: raw
        # columns for converted fields (their target generated from them), throwaway columns
        # for fields we do not keep. All of it is dropped again before the table is attached.
        alter = [f"ALTER COLUMN feed_version SET DEFAULT {int(self.version)}"]
        copy_columns: list[str] = []
        dropped_after: list[str] = []
        seen: set[str] = set()
        for position, name in enumerate(header):
            field = by_name.get(name)
            if field is None or name in seen:
                column = f"gtfs_extra_{position}"
                alter.append(f"ADD COLUMN {column} text")
                dropped_after.append(column)
            elif field.expression is not None:
                column = f"gtfs_{name}"
                alter.append(f"ADD COLUMN {column} {field.raw_type}")
                dropped_after.append(column)
            else:
                column = field.column
            seen.add(name)
            copy_columns.append(column)
        generated: list[str] = []
        for field in fields:
            if field.expression is None:
                continue
            column = field.column.split()[0]
            alter.append(f"DROP COLUMN {column}")
            if field.name in seen:
                alter.append(
                    f"ADD COLUMN {field.column} GENERATED ALWAYS AS ({field.expression}) STORED"
                )
                generated.append(column)
            else:
                default = f" DEFAULT {field.absent}" if field.absent is not None else ""
                alter.append(f"ADD COLUMN {field.column}{default}")
        await self.connection.execute(f"ALTER TABLE {target} {', '.join(alter)}")
        newlines = reported = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal newlines, reported
            with self.archive.open(member) as raw:
                held, ending = b"", b"\n"
                while chunk := await asyncio.to_thread(raw.read, COPY_CHUNK):
                    if held:
                        yield held
                    else:  # the first chunk: COPY wants every line ended like the first
                        first_end = chunk.find(b"\n")
                        ending = b"\r\n" if chunk[first_end - 1 : first_end] == b"\r" else ending
                    held = chunk
                    if self.progress is not None:
                        newlines += chunk.count(b"\n")
                        rows_so_far = max(newlines - 1, 0)  # the header is no row
                        self.progress(member, rows_so_far - reported)
                        reported = rows_so_far
                # Trailing blank lines are common and harmless; COPY would take them for rows.
                held = held.rstrip(b"\r\n\t ")
                if held:
                    yield held + ending

        schema, table = target.split(".")
        try:
            status = await self.connection.copy_to_table(
                table,
                schema_name=schema,
                source=chunks(),
                columns=copy_columns,
                format="csv",
                header=True,
                force_null=copy_columns,  # "" reads as absent, quoted or not
                encoding="utf-8",
                freeze=True,
            )
        except asyncpg.PostgresError as exc:
            raise InvalidFeed([*self.errors, _copy_error(member, exc)]) from exc
        count = int(status.split()[-1])
        if self.progress is not None and count != reported:
            self.progress(member, count - reported)
        alter = ["ALTER COLUMN feed_version DROP DEFAULT"]
        alter += [f"ALTER COLUMN {column} DROP EXPRESSION" for column in generated]
        alter += [f"DROP COLUMN {column}" for column in dropped_after]
        await self.connection.execute(f"ALTER TABLE {target} {', '.join(alter)}")
        self.counts[member.removesuffix(".txt")] = count
        self.lap(member)
        return count

    async def load_timetable(self) -> None:
        """stop_times.txt as one row per trip over shared stop patterns (transport.timetable),
        read in a thread block by block while PostgreSQL copies the previous one."""
        stops_table, trips_table = self.table("transport_stops"), self.table("transport_trips")
        # One array each: 40,000 trip ids come back several times faster than as 40,000 rows.
        stops_query = f"SELECT array_agg(stop_id) FROM {stops_table}"  # noqa: S608 - table names are ours
        trips_query = f"SELECT array_agg(trip_id) FROM {trips_table}"  # noqa: S608 - table names are ours
        stops = set(await self.connection.fetchval(stops_query) or ())
        trips = set(await self.connection.fetchval(trips_query) or ())

        def error(line: int, message: str) -> None:
            self.error(f"stop_times.txt:{line}: invalid value ({message})")

        reader = TimetableReader(self.version, stops=stops, trips=trips, error=error)
        target = await self.create("transport_trip_times")
        reported = len(self.errors)
        try:
            if not await self._copy_timetable(
                reader, target, lambda: self.archive.open("stop_times.txt")
            ):
                del self.errors[reported:]  # the second read reports them again
                await self.connection.execute(f"TRUNCATE {target}")
                with tempfile.TemporaryDirectory(prefix="gtfs-") as folder:
                    by_trip = Path(folder) / "stop_times.csv"
                    await self._sort_stop_times_by_trip(by_trip)
                    await self._copy_timetable(reader, target, lambda: by_trip.open("rb"))
        except InvalidFeed:  # too many errors already
            raise
        except ValueError as exc:  # a missing column, or CSV that Arrow cannot read
            raise InvalidFeed([*self.errors, f"stop_times.txt: {exc}"]) from exc
        timetable = reader.timetable
        schema, table = (await self.create("transport_pattern_stops")).split(".")
        await self.connection.copy_to_table(
            table,
            schema_name=schema,
            source=io.BytesIO(timetable.pattern_stops(self.version)),
            columns=list(PATTERN_STOPS_COLUMNS),
            format="csv",
            freeze=True,
        )
        self.counts["stop_times"] = timetable.rows
        self.counts["patterns"] = len(timetable.patterns)
        self.lap("stop_times.txt")

    async def _copy_timetable(
        self, reader: TimetableReader, target: str, open_member: Callable[[], IO[bytes]]
    ) -> bool:
        """Copy the member's trip rows into ``target``; False when its trips are scattered
        (the copy stops there: the caller empties ``target`` and sorts the member by trip)."""
        done = 0
        scattered = False

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal done, scattered
            with open_member() as raw:
                blocks = reader.read(raw)
                while True:
                    try:
                        chunk = await asyncio.to_thread(next, blocks, None)
                    except Scattered:  # ending the copy here keeps the transaction usable
                        scattered = True
                        return
                    if chunk is None:
                        return
                    if self.progress is not None:
                        self.progress("stop_times.txt", reader.timetable.rows - done)
                        done = reader.timetable.rows
                    yield chunk

        schema, table = target.split(".")
        await self.connection.copy_to_table(
            table,
            schema_name=schema,
            source=chunks(),
            columns=list(TRIP_TIMES_COLUMNS),
            format="csv",
            freeze=True,
        )
        return not scattered

    async def _sort_stop_times_by_trip(self, path: Path) -> None:
        """Write stop_times.txt to ``path`` with each trip's rows together, each row carrying
        its line: PostgreSQL sorts it (on disk past work_mem), so memory holds a block only."""
        table = f"gtfs_stop_times_by_trip_{int(self.version)}"
        with self.archive.open("stop_times.txt") as raw:
            columns, blocks = numbered(raw)  # names from a fixed list: safe in SQL
            await self.connection.execute(
                f"CREATE TEMPORARY TABLE {table} ({', '.join(f'{c} text' for c in columns)},"
                f" {LINE_COLUMN} bigint) ON COMMIT DROP"
            )

            async def chunks() -> AsyncIterator[bytes]:
                while (chunk := await asyncio.to_thread(next, blocks, None)) is not None:
                    yield chunk

            await self.connection.copy_to_table(
                table, source=chunks(), columns=[*columns, LINE_COLUMN], format="csv"
            )
        await self.connection.copy_from_query(
            f"SELECT * FROM {table} ORDER BY trip_id, {LINE_COLUMN}",  # noqa: S608 - names are ours
            output=str(path),
            format="csv",
            header=True,
        )
        await self.connection.execute(f"DROP TABLE {table}")

    async def first_errors(self, member: str, query: str, *arguments: Any) -> None:
        """Report the rows ``query`` finds, by line: ``query`` selects ``message`` from
        ``numbered``, the member's table with each row's ``line`` (COPY FREEZE kept them in
        file order)."""
        parent = COPIED_MEMBERS[member][0]
        statement = (
            f"WITH numbered AS (SELECT row_number() OVER (ORDER BY ctid) + 1 AS line, *"  # noqa: S608 - table names are ours
            f" FROM {self.table(parent)}) {query} ORDER BY line LIMIT {MAX_REPORTED_ERRORS}"
        )
        for row in await self.connection.fetch(statement, *arguments):
            self.error(f"{member}:{row['line']}: invalid value ({row['message']})")

    async def attach(self) -> None:
        """Index every loaded table as its parent is, then attach it (which adopts the indexes).

        Left to ATTACH, the indexes would be built without parallel workers; a plain
        CREATE INDEX (or ADD PRIMARY KEY) may use them, about a third faster on stop_times.
        """
        await self.connection.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for parent, name in self.tables.items():
            member = next(
                (m for m, (table, _) in COPIED_MEMBERS.items() if table == parent),
                TIMETABLE_TABLES.get(parent, parent.removeprefix("transport_") + ".txt"),
            )
            try:
                for statement in await self._index_statements(parent, name):
                    await self.connection.execute(statement)
                await self.connection.execute(
                    f"ALTER TABLE {parent} ATTACH PARTITION {name}"
                    f" FOR VALUES IN ({int(self.version)})"
                )
            except asyncpg.UniqueViolationError as exc:
                raise InvalidFeed([*self.errors, f"{member}: duplicate ({exc.detail})"]) from exc
            # Statistics of the scalar columns only: queries filter and join on those, and
            # sampling the timetable's arrays cost more than loading them.
            scalars = await self.connection.fetch(
                "SELECT quote_ident(a.attname) FROM pg_attribute a"
                " JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = $1::regclass"
                " AND a.attnum > 0 AND NOT a.attisdropped AND t.typcategory <> 'A'",
                name,
            )
            await self.connection.execute(f"ANALYZE {name} ({', '.join(r[0] for r in scalars)})")

    async def _index_statements(self, parent: str, table: str) -> list[str]:
        """The statements giving ``table`` the primary key and indexes of ``parent``."""
        keys = await self.connection.fetch(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND contype = 'p'",
            parent,
        )
        indexes = await self.connection.fetch(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = $1::regclass AND NOT indisprimary ORDER BY indexrelid",
            parent,
        )
        statements = [f"ALTER TABLE {table} ADD {row[0]}" for row in keys]
        for (definition,) in indexes:
            # "CREATE [UNIQUE] INDEX name ON ONLY parent USING ...": the same on the partition.
            head, tail = definition.split(" INDEX ", 1)[0], definition.split(" USING ", 1)[1]
            statements.append(f"{head} INDEX ON {table} USING {tail}")
        return statements


def _copy_error(member: str, exc: asyncpg.PostgresError) -> str:
    where = _COPY_LINE.search(str(getattr(exc, "context", "") or ""))
    line = f":{where.group(1)}" if where else ""
    column = where.group(2) if where and where.group(2) else None
    about = f" in {column.removeprefix('gtfs_')}" if column else ""
    message = getattr(exc, "message", None) or str(exc)
    return f"{member}{line}: invalid value ({message}{about})"


async def _load(loader: _Loader) -> tuple[str, date | None, date | None]:
    timezones: list[str] = []
    agencies: set[str] = set()

    def agency(row: dict[str, str], line: int) -> tuple[Any, ...]:
        agency_id = row.get("agency_id", "").strip() or "_default"
        timezone = row["agency_timezone"].strip()
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {timezone!r}") from exc
        timezones.append(timezone)
        agencies.add(agency_id)
        return (
            agency_id,
            row["agency_name"].strip(),
            _opt(row.get("agency_url")),
            timezone,
            _opt(row.get("agency_lang")),
            _opt(row.get("agency_phone")),
        )

    await loader.copy(
        "agency.txt",
        "transport_agencies",
        ("agency_id", "name", "url", "timezone", "lang", "phone"),
        agency,
    )
    if not timezones:
        loader.error("agency.txt: no agency")

    stops: set[str] = set()
    parents: list[tuple[int, str]] = []

    def stop(row: dict[str, str], line: int) -> tuple[Any, ...]:
        stop_id = row["stop_id"].strip()
        if stop_id in stops:
            raise ValueError(f"duplicate stop_id {stop_id!r}")
        stops.add(stop_id)
        name = row.get("stop_name", "").strip()
        location_type = _int(row.get("location_type"))
        lat, lon = row.get("stop_lat", "").strip(), row.get("stop_lon", "").strip()
        if not lat or not lon:
            raise ValueError("stop without coordinates")
        parent = _opt(row.get("parent_station"))
        if parent:
            parents.append((line, parent))
        return (
            stop_id,
            _opt(row.get("stop_code")),
            name,
            normalize(name),
            float(lat),
            float(lon),
            location_type,
            parent,
            _int(row.get("wheelchair_boarding")),
            _opt(row.get("platform_code")),
        )

    await loader.copy(
        "stops.txt",
        "transport_stops",
        (
            "stop_id",
            "code",
            "name",
            "name_normalized",
            "lat",
            "lon",
            "location_type",
            "parent_station",
            "wheelchair_boarding",
            "platform_code",
        ),
        stop,
    )
    for line, parent in parents:
        if parent not in stops:
            loader.error(f"stops.txt:{line}: parent_station {parent!r} is not a stop")

    routes: set[str] = set()

    def route(row: dict[str, str], line: int) -> tuple[Any, ...]:
        route_id = row["route_id"].strip()
        agency_id = _opt(row.get("agency_id"))
        if agency_id is not None and agency_id not in agencies:
            raise ValueError(f"agency_id {agency_id!r} is not an agency")
        routes.add(route_id)
        return (
            route_id,
            agency_id,
            _opt(row.get("route_short_name")),
            _opt(row.get("route_long_name")),
            int(row["route_type"]),
            _colour(row.get("route_color")),
            _colour(row.get("route_text_color")),
            _opt_int(row.get("route_sort_order")),
        )

    await loader.copy(
        "routes.txt",
        "transport_routes",
        (
            "route_id",
            "agency_id",
            "short_name",
            "long_name",
            "route_type",
            "color",
            "text_color",
            "sort_order",
        ),
        route,
    )

    services: set[str] = set()
    first_day: list[date] = []
    last_day: list[date] = []
    if "calendar.txt" in loader.names:
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

        def calendar(row: dict[str, str], line: int) -> tuple[Any, ...]:
            service_id = row["service_id"].strip()
            services.add(service_id)
            start, end = parse_date(row["start_date"]), parse_date(row["end_date"])
            first_day.append(start)
            last_day.append(end)
            mask = "".join("1" if row[day].strip() == "1" else "0" for day in days)
            return (service_id, mask, start, end)

        await loader.copy(
            "calendar.txt",
            "transport_calendars",
            ("service_id", "weekdays", "start_date", "end_date"),
            calendar,
        )
    if "calendar_dates.txt" in loader.names:

        def calendar_date(row: dict[str, str], line: int) -> tuple[Any, ...]:
            service_id = row["service_id"].strip()
            services.add(service_id)
            exception = int(row["exception_type"])
            if exception not in (1, 2):
                raise ValueError(f"exception_type {exception}")
            return (service_id, parse_date(row["date"]), exception)

        await loader.copy(
            "calendar_dates.txt",
            "transport_calendar_dates",
            ("service_id", "date", "exception_type"),
            calendar_date,
        )
    if not services:
        loader.error("calendar.txt or calendar_dates.txt is required")

    if "shapes.txt" in loader.names:
        await loader.copy_raw("shapes.txt")

    await loader.copy_raw("trips.txt")
    routes_table = loader.table("transport_routes")
    await loader.first_errors(
        "trips.txt",
        "SELECT line, CASE WHEN route_id NOT IN (SELECT route_id FROM"  # noqa: S608 - table names are ours
        f" {routes_table}) THEN format('route_id %L is not a route', route_id)"
        " ELSE format('service_id %L is not in the calendar', service_id) END AS message"
        f" FROM numbered WHERE route_id NOT IN (SELECT route_id FROM {routes_table})"
        " OR NOT service_id = ANY($1::text[])",
        sorted(services),
    )
    loader.lap("references")
    await loader.load_timetable()
    trips = loader.table("transport_trips")
    # Shapes are optional: a trip's dangling shape_id is dropped, not fatal (few rows, if any).
    shapes = loader.tables.get("transport_shapes")
    dangling = f"shape_id NOT IN (SELECT shape_id FROM {shapes})" if shapes else "true"  # noqa: S608 - table names are ours
    await loader.connection.execute(
        f"UPDATE {trips} SET shape_id = NULL WHERE shape_id IS NOT NULL AND {dangling}"  # noqa: S608 - table names are ours
    )
    loader.lap("references")

    if "frequencies.txt" in loader.names:
        known = await loader.connection.fetch(f"SELECT trip_id FROM {trips}")  # noqa: S608
        trip_ids = {row[0] for row in known}

        def frequency(row: dict[str, str], line: int) -> tuple[Any, ...]:
            trip_id = row["trip_id"].strip()
            if trip_id not in trip_ids:
                raise ValueError(f"trip_id {trip_id!r} is not a trip")
            start, end = parse_time(row["start_time"]), parse_time(row["end_time"])
            headway = int(row["headway_secs"])
            if start is None or end is None or headway <= 0:
                raise ValueError("start_time, end_time and a positive headway_secs are required")
            return (trip_id, start, end, headway, _int(row.get("exact_times")))

        await loader.copy(
            "frequencies.txt",
            "transport_frequencies",
            ("trip_id", "start_seconds", "end_seconds", "headway_seconds", "exact_times"),
            frequency,
        )

    start_date = min(first_day) if first_day else None
    end_date = max(last_day) if last_day else None
    if "feed_info.txt" in loader.names:
        for row in rows(loader.archive, "feed_info.txt"):
            if _opt(row.get("feed_start_date")):
                start_date = parse_date(row["feed_start_date"])
            if _opt(row.get("feed_end_date")):
                end_date = parse_date(row["feed_end_date"])
            break
    return (timezones[0] if timezones else "UTC"), start_date, end_date


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_members(archive: zipfile.ZipFile) -> None:
    names = set(archive.namelist())
    missing = [name for name in REQUIRED_FILES if name not in names]
    if "calendar.txt" not in names and "calendar_dates.txt" not in names:
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        raise InvalidFeed([f"missing {name}" for name in missing])


async def import_gtfs(
    connection: asyncpg.Connection,
    path: Path,
    *,
    source: str,
    progress: Progress | None = None,
) -> ImportResult:
    """Load the zip at ``path`` as a new version, activate it, delete the versions it replaced."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InvalidFeed(["not a zip archive"]) from exc
    with archive:
        check_members(archive)
        digest = sha256_of(path)
        async with connection.transaction():
            version: int = await connection.fetchval(
                "INSERT INTO transport_feed_versions (source, sha256, status, timezone) "
                "VALUES ($1, $2, 'loading', 'UTC') RETURNING id",
                source,
                digest,
            )
            loader = _Loader(connection, archive, version, progress)
            timezone, start, end = await _load(loader)
            if loader.errors:
                raise InvalidFeed(loader.errors)
            await loader.attach()
            loader.lap("indexes")
            await connection.execute(
                "UPDATE transport_feed_versions SET status = 'ready', timezone = $2,"
                " feed_start_date = $3, feed_end_date = $4, counts = $5::jsonb WHERE id = $1",
                version,
                timezone,
                start,
                end,
                orjson.dumps(loader.counts).decode(),
            )
        loader.lap("commit")
    replaced = await activate(connection, version)
    loader.lap("switch")
    logger.info(
        "gtfs imported",
        extra={
            "feed_version": version,
            "counts": loader.counts,
            "replaced": replaced,
            "seconds": loader.seconds,
        },
    )
    return ImportResult(version, loader.counts, timezone, start, end, replaced, loader.seconds)


async def activate(connection: asyncpg.Connection, version: int) -> list[int]:
    """Make ``version`` the active one atomically, then drop every other loaded version."""
    async with connection.transaction():
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('transport_feed_versions'))"
        )
        await connection.execute(
            "UPDATE transport_feed_versions SET active = false, status = 'retired'"
            " WHERE active AND id <> $1",
            version,
        )
        await connection.execute(
            "UPDATE transport_feed_versions SET active = true, activated_at = $2 WHERE id = $1",
            version,
            datetime.now(UTC),
        )
    # Readers now see the new version only. Dropping a version's tables needs a moment alone
    # with each parent table: if a reader holds it too long, the next import drops them.
    try:
        async with connection.transaction():
            await connection.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            deleted = await connection.fetch(
                "DELETE FROM transport_feed_versions WHERE id <> $1 AND status <> 'loading'"
                " RETURNING id",
                version,
            )
            old = sorted(int(row["id"]) for row in deleted)
            for table in GTFS_TABLES:
                for replaced in old:
                    await connection.execute(f"DROP TABLE IF EXISTS {partition(table, replaced)}")
    except asyncpg.LockNotAvailableError:
        logger.warning("replaced gtfs versions kept until the next import: tables busy")
        return []
    return old


async def download(
    http: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout_seconds: float = 120.0,
    max_bytes: int = 500 * 1024 * 1024,
) -> Download:
    """Stream ``url`` to a temporary file, conditionally; the caller deletes the file."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    async with http.stream("GET", url, headers=headers, timeout=timeout_seconds) as response:
        if response.status_code == 304:
            return Download(None, etag, last_modified)
        response.raise_for_status()
        written = 0
        with tempfile.NamedTemporaryFile(prefix="gtfs-", suffix=".zip", delete=False) as handle:
            target = Path(handle.name)
            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    break
                handle.write(chunk)
        if written > max_bytes:
            await asyncio.to_thread(target.unlink, missing_ok=True)
            raise InvalidFeed([f"download larger than {max_bytes} bytes"])
        return Download(
            Path(handle.name), response.headers.get("etag"), response.headers.get("last-modified")
        )
