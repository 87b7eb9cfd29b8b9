"""Transport rules: service days, departures with provenance, lines, vehicles, alerts, follows.

Service days: GTFS times count from "noon minus 12 h" of the service day in the feed's time
zone, so a 25:10 trip belongs to the previous day and DST days have 23 or 25 hours; the
reference instant is computed per day, never by adding 24 h.
"""

import dataclasses
import logging
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.message import DecodeError
from redis.asyncio import Redis

from poche_api.config import Settings
from poche_api.errors import NotFound, ServiceUnavailable
from poche_api.kit.geo import BBox, haversine_m
from poche_api.kit.text import normalize
from poche_api.models import FeedVersion, Route, Stop, TransportAlert
from poche_api.transport import realtime, schemas
from poche_api.transport.repository import TransportRepository

logger = logging.getLogger(__name__)

MODES = {
    0: "tram",
    1: "metro",
    2: "rail",
    3: "bus",
    4: "ferry",
    5: "cable_tram",
    6: "aerial_lift",
    7: "funicular",
    11: "trolleybus",
    12: "monorail",
}
LOOKBACK_SECONDS = 20 * 60  # a late departure scheduled this long ago may still be ahead
METRES_PER_DEGREE_LAT = 111_320


def service_reference(day: date, zone: ZoneInfo) -> datetime:
    """The instant GTFS time 00:00:00 denotes on ``day``: noon minus 12 h, local time."""
    # In UTC: arithmetic on an aware local datetime is wall-clock arithmetic in Python.
    return datetime(day.year, day.month, day.day, 12, tzinfo=zone).astimezone(UTC) - timedelta(
        hours=12
    )


def gtfs_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def line_summary(route: Route) -> schemas.LineSummary:
    return schemas.LineSummary(
        id=route.route_id,
        short_name=route.short_name,
        long_name=route.long_name,
        mode=MODES.get(route.route_type, "bus" if 700 <= route.route_type < 800 else "other"),
        color=route.color,
        text_color=route.text_color,
    )


def _wheelchair(value: int) -> bool | None:
    return {1: True, 2: False}.get(value)


def stop_summary(stop: Stop) -> schemas.StopSummary:
    return schemas.StopSummary(
        id=stop.stop_id,
        name=stop.name,
        code=stop.code,
        lat=stop.lat,
        lon=stop.lon,
        wheelchair_boarding=_wheelchair(stop.wheelchair_boarding),
    )


def _not_found_stop(stop_id: str) -> NotFound:
    return NotFound(
        (f"L'arrêt {stop_id} n'existe pas.", f"Stop {stop_id} does not exist."),
        slug="stop-not-found",
    )


def _not_found_line(line_id: str) -> NotFound:
    return NotFound(
        (f"La ligne {line_id} n'existe pas.", f"Line {line_id} does not exist."),
        slug="line-not-found",
    )


@dataclasses.dataclass
class _Candidate:
    row: Any
    service_date: date
    scheduled: datetime


class TransportService:
    def __init__(
        self,
        repository: TransportRepository,
        *,
        settings: Settings,
        redis: Redis,
        cache: realtime.RealtimeCache,
    ) -> None:
        self.repository = repository
        self.settings = settings
        self.redis = redis
        self.cache = cache
        self.feeds = realtime.realtime_feeds(settings)

    async def version(self) -> FeedVersion:
        version = await self.repository.active_version()
        if version is None:
            raise ServiceUnavailable(
                ("Les horaires ne sont pas encore chargés.", "The timetable is not loaded yet."),
                slug="timetable-not-loaded",
            )
        return version

    # --- Stops and lines ----------------------------------------------------------------------

    async def search_stops(self, query: str, limit: int) -> schemas.StopList:
        version = await self.version()
        prefix = normalize(query)
        stops = await self.repository.search_stops(version.id, prefix, limit) if prefix else []
        return schemas.StopList(items=[stop_summary(stop) for stop in stops])

    async def nearby(
        self, lat: float, lon: float, radius_m: int, limit: int
    ) -> schemas.NearbyStops:
        version = await self.version()
        dlat = radius_m / METRES_PER_DEGREE_LAT
        dlon = dlat / max(0.01, abs(_cos_deg(lat)))
        box = BBox(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        found = []
        for stop in await self.repository.stops_in_bbox(version.id, box):
            if stop.parent_station is not None:
                continue
            distance = haversine_m(lat, lon, stop.lat, stop.lon)
            if distance <= radius_m:
                found.append(
                    schemas.NearbyStop(
                        **stop_summary(stop).model_dump(), distance_m=round(distance)
                    )
                )
        found.sort(key=lambda s: (s.distance_m, s.id))
        return schemas.NearbyStops(items=found[:limit])

    async def _stop(self, version: FeedVersion, stop_id: str) -> tuple[Stop, list[str]]:
        stop = await self.repository.stop(version.id, stop_id)
        if stop is None:
            raise _not_found_stop(stop_id)
        children = await self.repository.child_stop_ids(version.id, stop_id)
        return stop, [stop_id, *children]

    async def stop_detail(self, stop_id: str) -> schemas.StopDetail:
        version = await self.version()
        stop, stop_ids = await self._stop(version, stop_id)
        routes = await self.repository.routes_at_stops(version.id, stop_ids)
        return schemas.StopDetail(
            **stop_summary(stop).model_dump(),
            platforms=stop_ids[1:],
            lines=[line_summary(route) for route in routes],
        )

    async def lines(self) -> schemas.LineList:
        version = await self.version()
        return schemas.LineList(
            items=[line_summary(route) for route in await self.repository.routes(version.id)]
        )

    async def line_detail(self, line_id: str) -> schemas.LineDetail:
        version = await self.version()
        route = await self.repository.route(version.id, line_id)
        if route is None:
            raise _not_found_line(line_id)
        directions: dict[int | None, schemas.LineDirection] = {}
        shapes: dict[int | None, str | None] = {}
        for row in await self.repository.route_patterns(version.id, line_id):
            direction = directions.get(row.direction_id)
            if direction is None:
                direction = schemas.LineDirection(
                    direction_id=row.direction_id, headsign=row.headsign, stops=[], shape=[]
                )
                directions[row.direction_id] = direction
                shapes[row.direction_id] = row.shape_id
            direction.stops.append(
                schemas.LineStop(id=row.stop_id, name=row.name, lat=row.lat, lon=row.lon)
            )
        for direction_id, direction in directions.items():
            shape_id = shapes[direction_id]
            points = await self.repository.shape(version.id, shape_id) if shape_id else []
            if not points:
                points = [(stop.lat, stop.lon) for stop in direction.stops]
            direction.shape = [[lon, lat] for lat, lon in points]
        return schemas.LineDetail(
            **line_summary(route).model_dump(), directions=list(directions.values())
        )

    # --- Departures ---------------------------------------------------------------------------

    async def departures(
        self,
        stop_id: str,
        *,
        now: datetime | None = None,
        horizon_minutes: int = 90,
        limit: int = 20,
    ) -> schemas.DepartureBoard:
        now = now or datetime.now(UTC)
        version = await self.version()
        zone = ZoneInfo(version.timezone)
        stop, stop_ids = await self._stop(version, stop_id)
        local_today = now.astimezone(zone).date()
        start = now - timedelta(seconds=LOOKBACK_SECONDS)
        end = now + timedelta(minutes=horizon_minutes)
        candidates: list[_Candidate] = []
        # Yesterday's service runs past midnight (times ≥ 24:00); tomorrow's may start before.
        for day in (local_today - timedelta(days=1), local_today, local_today + timedelta(days=1)):
            origin = service_reference(day, zone)
            low = int((start - origin).total_seconds())
            high = int((end - origin).total_seconds())
            if high < 0 or low > 48 * 3600:
                continue
            services = await self.repository.services_on(version.id, day)
            if not services:
                continue
            for row in await self.repository.departures(
                version.id, stop_ids, services, low, high, limit * 3
            ):
                scheduled = origin + timedelta(seconds=row.departure_seconds)
                candidates.append(_Candidate(row, day, scheduled))
            for row in await self.repository.frequency_departures(version.id, stop_ids, services):
                offset = row.departure_seconds - (row.start_seconds or row.departure_seconds)
                first = row.window_start + offset
                k = max(0, -(-(low - first) // row.headway_seconds))
                while (at := first + k * row.headway_seconds) <= min(high, row.window_end + offset):
                    candidates.append(_Candidate(row, day, origin + timedelta(seconds=at)))
                    k += 1
                    if k > 10_000:  # pragma: no cover - a sane feed never gets here
                        break
        index, age = await self.cache.trip_updates(
            self.redis,
            self.feeds,
            stale_seconds=self.settings.transport_stale_seconds,
            now=now.timestamp(),
        )
        trusted = self.settings.transport_trusted_lines
        departures: list[schemas.Departure] = []
        for candidate in candidates:
            row = candidate.row
            found = None
            if index is not None:
                found = index.find(
                    row.trip_id,
                    candidate.service_date.strftime("%Y%m%d"),
                    row.route_id,
                    row.direction_id,
                    gtfs_time(row.start_seconds) if row.start_seconds is not None else None,
                )
            merged = realtime.merge(
                found,
                stop_sequence=row.stop_sequence,
                stop_id=row.stop_id,
                scheduled=candidate.scheduled,
                trusted=trusted is None or row.route_id in trusted,
            )
            shown = merged.expected or candidate.scheduled
            if shown < now - timedelta(seconds=30):
                continue
            departures.append(
                schemas.Departure(
                    trip_id=row.trip_id,
                    service_date=candidate.service_date,
                    line=schemas.LineSummary(
                        id=row.route_id,
                        short_name=row.short_name,
                        long_name=row.long_name,
                        mode=MODES.get(row.route_type, "other"),
                        color=row.color,
                        text_color=row.text_color,
                    ),
                    headsign=row.stop_headsign or row.headsign,
                    stop_id=row.stop_id,
                    scheduled_at=candidate.scheduled,
                    expected_at=merged.expected,
                    delay_seconds=merged.delay_seconds,
                    status=merged.status,
                    realtime_age_seconds=round(age)
                    if found is not None and age is not None
                    else None,
                    wheelchair_accessible=_wheelchair(row.wheelchair_accessible),
                )
            )
        if index is not None:
            departures += await self._added(index, version, stop_ids, now, end, age)
        departures.sort(key=lambda d: (d.expected_at or d.scheduled_at or now, d.trip_id))
        return schemas.DepartureBoard(
            stop=stop_summary(stop),
            generated_at=now,
            realtime_available=index is not None,
            realtime_age_seconds=round(age) if age is not None else None,
            departures=departures[:limit],
        )

    async def _added(
        self,
        index: realtime.TripUpdatesIndex,
        version: FeedVersion,
        stop_ids: list[str],
        now: datetime,
        end: datetime,
        age: float | None,
    ) -> list[schemas.Departure]:
        # (trip_id, route_id, the trip, its update at one of the stops, its last stop)
        hits: list[tuple[str, str, realtime.TripRealtime, realtime.StopUpdate, str | None]] = []
        for trip in index.added:
            trip_id, route_id = trip.trip_id, trip.route_id
            if trip_id is None or route_id is None:  # no id or line to show it by
                continue
            updates = realtime.stop_updates(trip)
            for update in updates[:-1]:  # the last stop is an arrival
                if update.stop_id in stop_ids and update.time is not None:
                    at = datetime.fromtimestamp(update.time, UTC)
                    if now - timedelta(seconds=30) <= at <= end:
                        hits.append((trip_id, route_id, trip, update, updates[-1].stop_id))
        if not hits:
            return []
        routes = await self.repository.routes_by_id(version.id, [hit[1] for hit in hits])
        last_stops = await self.repository.stops_by_id(
            version.id, [last for *_, last in hits if last]
        )
        zone = ZoneInfo(version.timezone)
        found = []
        for trip_id, route_id, trip, update, last_stop_id in hits:
            route = routes.get(route_id)
            if route is None or update.time is None or not update.stop_id:
                continue
            last = last_stops.get(last_stop_id or "")
            day = (
                datetime.strptime(trip.start_date, "%Y%m%d").date()
                if trip.start_date
                else now.astimezone(zone).date()
            )
            found.append(
                schemas.Departure(
                    trip_id=trip_id,
                    service_date=day,
                    line=line_summary(route),
                    headsign=last.name if last else None,
                    stop_id=update.stop_id,
                    scheduled_at=None,
                    expected_at=datetime.fromtimestamp(update.time, UTC),
                    delay_seconds=None,
                    status=realtime.Status.realtime,
                    realtime_age_seconds=round(age) if age is not None else None,
                    wheelchair_accessible=None,
                )
            )
        return found

    # --- Vehicles -----------------------------------------------------------------------------

    async def vehicles(self, line_id: str, *, now: datetime | None = None) -> schemas.VehicleList:
        now = now or datetime.now(UTC)
        version = await self.version()
        if await self.repository.route(version.id, line_id) is None:
            raise _not_found_line(line_id)
        records: list[realtime.VehicleRecord] = []
        for feed in self.feeds:
            if feed.kind == "vehicle_positions":
                snapshot = await self.cache.snapshot(self.redis, feed)
                if snapshot is None:
                    continue
                try:
                    records += realtime.vehicles(snapshot.message)
                except DecodeError:  # the poller stores only what protobuf parsed: not expected
                    logger.exception("gtfs-rt snapshot unreadable", extra={"feed": feed.name})
        missing_route = [r.trip_id for r in records if r.route_id is None and r.trip_id]
        trip_routes = (
            await self.repository.trip_routes(version.id, missing_route) if missing_route else {}
        )
        max_age = self.settings.transport_vehicle_max_age_seconds
        items = []
        for record in records:
            route_id = record.route_id or trip_routes.get(record.trip_id or "")
            age = now.timestamp() - record.timestamp
            if route_id != line_id or age > max_age:
                continue
            items.append(
                schemas.Vehicle(
                    id=record.vehicle_id,
                    label=record.label,
                    trip_id=record.trip_id,
                    lat=record.lat,
                    lon=record.lon,
                    bearing=record.bearing,
                    updated_at=datetime.fromtimestamp(record.timestamp, UTC),
                    age_seconds=max(0, round(age)),
                    occupancy=record.occupancy,
                )
            )
        items.sort(key=lambda v: v.id)
        return schemas.VehicleList(line_id=line_id, items=items)

    # --- Alerts -------------------------------------------------------------------------------

    async def alerts(
        self,
        lang: str,
        *,
        line_id: str | None = None,
        stop_id: str | None = None,
        now: datetime | None = None,
    ) -> schemas.AlertList:
        now = now or datetime.now(UTC)
        stop_ids = None
        if line_id is not None or stop_id is not None:
            version = await self.version()
            if line_id is not None and await self.repository.route(version.id, line_id) is None:
                raise _not_found_line(line_id)
            if stop_id is not None:
                _, stop_ids = await self._stop(version, stop_id)
        rows = await self.repository.open_alerts(route_id=line_id, stop_ids=stop_ids)
        items = [
            _alert(row, lang)
            for row in rows
            if realtime.active_now(row.active_periods, now.timestamp())
        ]
        return schemas.AlertList(items=items)

    async def record_alerts(
        self, feed: str, records: list[realtime.AlertRecord], *, now: datetime
    ) -> list[uuid.UUID]:
        """Diff the feed's alerts against the stored ones; record each change once.

        Returns the ids of the events recorded by this call (an event another poll already
        recorded is not returned again)."""
        stored = await self.repository.alerts_of_feed(feed)
        events: list[uuid.UUID] = []
        seen = set()
        for record in records:
            seen.add(record.alert_id)
            digest = record.content_hash()
            row = stored.get(record.alert_id)
            if row is not None and row.resolved_at is None and row.content_hash == digest:
                continue
            kind = "new" if row is None or row.resolved_at is not None else "changed"
            if row is None:
                row = TransportAlert(
                    feed=feed, alert_id=record.alert_id, revision=0, first_seen_at=now
                )
                self.repository.add(row)
            row.revision += 1
            row.content_hash = digest
            row.cause, row.effect = record.cause, record.effect
            row.header, row.description, row.url = record.header, record.description, record.url
            row.active_periods = record.active_periods
            row.route_ids, row.stop_ids, row.trip_ids = (
                record.route_ids,
                record.stop_ids,
                record.trip_ids,
            )
            row.updated_at, row.resolved_at = now, None
            event = await self._event(row, kind)
            if event is not None:
                events.append(event)
        for alert_id, row in stored.items():
            if alert_id in seen or row.resolved_at is not None:
                continue
            row.revision += 1
            row.resolved_at = row.updated_at = now
            event = await self._event(row, "resolved")
            if event is not None:
                events.append(event)
        await self.repository.session.flush()
        return events

    async def _event(self, row: TransportAlert, kind: str) -> uuid.UUID | None:
        await self.repository.session.flush()
        return await self.repository.insert_event(
            {
                "id": uuid.uuid4(),
                "feed": row.feed,
                "alert_id": row.alert_id,
                "revision": row.revision,
                "kind": kind,
                "content_hash": row.content_hash,
                "route_ids": row.route_ids,
                "stop_ids": row.stop_ids,
                "status": "pending",
            }
        )

    # --- Health -------------------------------------------------------------------------------

    async def health(self) -> schemas.TransportHealth:
        version = await self.repository.active_version()
        now = time.time()
        feeds = []
        realtime_ok = False
        for feed in self.feeds:
            state = await realtime.feed_health(
                self.redis, feed, stale_seconds=self.settings.transport_stale_seconds, now=now
            )
            if state.unmatched_trips is not None:
                realtime.UNMATCHED_TRIPS.labels(feed.name).set(state.unmatched_trips)
            realtime_ok = realtime_ok or (
                feed.kind == "trip_updates"
                and state.age_seconds is not None
                and state.age_seconds <= self.settings.transport_stale_seconds
            )
            feeds.append(
                schemas.FeedHealth(
                    name=state.name,
                    kind=state.kind,
                    healthy=state.healthy,
                    last_success_at=_at(state.last_success_at),
                    age_seconds=state.age_seconds,
                    entity_count=state.entity_count,
                    consecutive_errors=state.consecutive_errors,
                    errors_total=state.errors_total,
                    last_error=state.last_error,
                    last_error_at=_at(state.last_error_at),
                    unmatched_trips=state.unmatched_trips,
                )
            )
        return schemas.TransportHealth(
            timetable_version=version.id if version else None,
            timetable_valid_until=version.feed_end_date if version else None,
            realtime_available=realtime_ok,
            feeds=feeds,
        )

    # --- Follows ------------------------------------------------------------------------------

    async def follows(self, principal_id: str) -> schemas.FollowList:
        rows = await self.repository.follows(principal_id)
        return schemas.FollowList(items=[_follow(row) for row in rows])

    async def follow(self, principal_id: str, body: schemas.FollowCreate) -> schemas.Follow:
        version = await self.version()
        if body.kind == "stop" and await self.repository.stop(version.id, body.id) is None:
            raise _not_found_stop(body.id)
        if body.kind == "line" and await self.repository.route(version.id, body.id) is None:
            raise _not_found_line(body.id)
        return _follow(await self.repository.follow(principal_id, body.kind, body.id))

    async def unfollow(self, principal_id: str, follow_id: uuid.UUID) -> None:
        if not await self.repository.unfollow(principal_id, follow_id):
            raise NotFound(
                ("Abonnement introuvable.", "Follow not found."), slug="follow-not-found"
            )


def _follow(row: Any) -> schemas.Follow:
    return schemas.Follow(
        id=str(row.id), kind=row.kind, target_id=row.target_id, created_at=row.created_at
    )


def _at(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _cos_deg(value: float) -> float:
    import math

    return math.cos(math.radians(value))


def _pick(texts: dict[str, str], lang: str) -> str | None:
    return texts.get(lang) or texts.get("fr") or next(iter(texts.values()), None)


def _alert(row: TransportAlert, lang: str) -> schemas.Alert:
    return schemas.Alert(
        id=row.alert_id,
        header=_pick(row.header, lang) or "",
        description=_pick(row.description, lang),
        url=_pick(row.url, lang),
        cause=row.cause,
        effect=row.effect,
        active_periods=[[_at(start), _at(end)] for start, end in row.active_periods],
        line_ids=row.route_ids,
        stop_ids=row.stop_ids,
        trip_ids=row.trip_ids,
        updated_at=row.updated_at,
    )
