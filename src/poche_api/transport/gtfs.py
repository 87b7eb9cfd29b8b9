"""GTFS import: validate, stream each zip member through ``csv``, load with ``COPY``, switch.

The feed is read straight from the zip members, a batch of rows at a time: memory holds the ids
needed to check references (stops, trips, routes, services, shapes), never the timetable. Every
table is loaded beside the active version under a new ``feed_version``; the switch flips the
active flag in one transaction, then the previous version's rows are deleted.
"""

import asyncio
import csv
import dataclasses
import functools
import hashlib
import io
import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import httpx
import orjson

from poche_api.kit.text import normalize

logger = logging.getLogger(__name__)

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
REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
BATCH_ROWS = 20_000
MAX_REPORTED_ERRORS = 20
DOWNLOAD_CHUNK = 1 << 16

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

    def error(self, message: str) -> None:
        self.errors.append(message)
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            raise InvalidFeed(self.errors)

    async def copy(
        self,
        member: str,
        table: str,
        columns: Sequence[str],
        convert: Callable[[dict[str, str], int], tuple[Any, ...] | None],
    ) -> int:
        """Stream ``member`` through ``convert`` into ``table`` with COPY, in batches."""
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
                count += await self._flush(member, table, columns, batch)
                batch = []
        if batch:
            count += await self._flush(member, table, columns, batch)
        self.counts[member.removesuffix(".txt")] = count
        return count

    async def _flush(
        self, member: str, table: str, columns: Sequence[str], batch: list[tuple[Any, ...]]
    ) -> int:
        if self.errors:  # no point loading once the feed is known to be invalid
            return len(batch)
        await self.connection.copy_records_to_table(
            table, records=batch, columns=["feed_version", *columns]
        )
        if self.progress is not None:
            self.progress(member, len(batch))
        return len(batch)


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

    shapes: set[str] = set()
    if "shapes.txt" in loader.names:

        def shape(row: dict[str, str], line: int) -> tuple[Any, ...]:
            shape_id = row["shape_id"].strip()
            shapes.add(shape_id)
            return (
                shape_id,
                int(row["shape_pt_sequence"]),
                float(row["shape_pt_lat"]),
                float(row["shape_pt_lon"]),
            )

        await loader.copy(
            "shapes.txt", "transport_shapes", ("shape_id", "sequence", "lat", "lon"), shape
        )

    # trips.txt is read twice: once to validate and know the trip ids (stop_times refer to
    # them), once after stop_times to load each trip with its first departure.
    trips: set[str] = set()
    for line, row in enumerate(rows(loader.archive, "trips.txt"), start=2):
        try:
            trip_id = row["trip_id"].strip()
            route_id, service_id = row["route_id"].strip(), row["service_id"].strip()
            if trip_id in trips:
                raise ValueError(f"duplicate trip_id {trip_id!r}")
            if route_id not in routes:
                raise ValueError(f"route_id {route_id!r} is not a route")
            if service_id not in services:
                raise ValueError(f"service_id {service_id!r} is not in the calendar")
        except (ValueError, KeyError) as exc:
            loader.error(f"trips.txt:{line}: invalid value ({exc})")
            continue
        trips.add(trip_id)

    first_departure: dict[str, int] = {}

    def stop_time(row: dict[str, str], line: int) -> tuple[Any, ...]:
        trip_id, stop_id = row["trip_id"], row["stop_id"]
        if trip_id not in trips:
            raise ValueError(f"trip_id {trip_id!r} is not a trip")
        if stop_id not in stops:
            raise ValueError(f"stop_id {stop_id!r} is not a stop")
        arrival = parse_time(row.get("arrival_time", ""))
        departure = parse_time(row.get("departure_time", ""))
        if departure is None:
            departure = arrival
        if departure is not None:
            known = first_departure.get(trip_id)
            if known is None or departure < known:
                first_departure[trip_id] = departure
        return (
            trip_id,
            int(row["stop_sequence"]),
            stop_id,
            arrival if arrival is not None else departure,
            departure,
            _opt(row.get("stop_headsign")),
            _int(row.get("pickup_type")),
            _int(row.get("drop_off_type")),
        )

    await loader.copy(
        "stop_times.txt",
        "transport_stop_times",
        (
            "trip_id",
            "stop_sequence",
            "stop_id",
            "arrival_seconds",
            "departure_seconds",
            "stop_headsign",
            "pickup_type",
            "drop_off_type",
        ),
        stop_time,
    )

    def trip(row: dict[str, str], line: int) -> tuple[Any, ...] | None:
        trip_id = row["trip_id"].strip()
        if trip_id not in trips:  # reported by the first pass
            return None
        shape_id = _opt(row.get("shape_id"))
        if shape_id is not None and shape_id not in shapes:
            shape_id = None  # shapes are optional; a dangling one is dropped, not fatal
        return (
            trip_id,
            row["route_id"].strip(),
            row["service_id"].strip(),
            _opt(row.get("trip_headsign")),
            _opt(row.get("trip_short_name")),
            _opt_int(row.get("direction_id")),
            _opt(row.get("block_id")),
            shape_id,
            _int(row.get("wheelchair_accessible")),
            first_departure.get(trip_id),
        )

    await loader.copy(
        "trips.txt",
        "transport_trips",
        (
            "trip_id",
            "route_id",
            "service_id",
            "headsign",
            "short_name",
            "direction_id",
            "block_id",
            "shape_id",
            "wheelchair_accessible",
            "start_seconds",
        ),
        trip,
    )

    if "frequencies.txt" in loader.names:

        def frequency(row: dict[str, str], line: int) -> tuple[Any, ...]:
            trip_id = row["trip_id"].strip()
            if trip_id not in trips:
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
            await connection.execute(
                "UPDATE transport_feed_versions SET status = 'ready', timezone = $2,"
                " feed_start_date = $3, feed_end_date = $4, counts = $5::jsonb WHERE id = $1",
                version,
                timezone,
                start,
                end,
                orjson.dumps(loader.counts).decode(),
            )
    replaced = await activate(connection, version)
    logger.info(
        "gtfs imported",
        extra={"feed_version": version, "counts": loader.counts, "replaced": replaced},
    )
    return ImportResult(version, loader.counts, timezone, start, end, replaced)


async def activate(connection: asyncpg.Connection, version: int) -> list[int]:
    """Make ``version`` the active one atomically, then delete every other loaded version."""
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
    # Readers now see the new version only; the old rows go in a second transaction.
    async with connection.transaction():
        deleted = await connection.fetch(
            "DELETE FROM transport_feed_versions WHERE id <> $1 AND status <> 'loading'"
            " RETURNING id",
            version,
        )
        old = [int(row["id"]) for row in deleted]
        if old:
            for table in GTFS_TABLES:
                await connection.execute(
                    f"DELETE FROM {table} WHERE feed_version = ANY($1::int[])",  # noqa: S608 - fixed names
                    old,
                )
    return sorted(int(row["id"]) for row in deleted)


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
