"""GTFS-RT: polling into Redis snapshots, feed health, decoding, and the TripUpdates merge.

Each feed's last good message is kept in Redis (bytes + validators + header timestamp), so every
API replica reads the same snapshot; a replica decodes a snapshot once and keeps the index until
the poller stores a newer one. Health (last success, age, entity count, errors) is a Redis hash
per feed. The merge is a pure function of a scheduled departure and the TripUpdates index.
"""

import asyncio
import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, NamedTuple

import httpx
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from poche_api.config import Settings
from poche_api.simulators import simulator_url
from poche_api.transport import _tripupdates

logger = logging.getLogger(__name__)

FeedKind = Literal["trip_updates", "vehicle_positions", "alerts"]
SNAPSHOT_KEY = "poche:transport:rt:snapshot:{}"
HEALTH_KEY = "poche:transport:rt:health:{}"
MAX_FEED_BYTES = 20 * 1024 * 1024
FUTURE_TOLERANCE_SECONDS = 300

ASTUCE = "https://api.mrn.cityway.fr/dataflow"
ASTUCE_GTFS = f"{ASTUCE}/offre-tc/download?provider=ASTUCE&dataFormat=gtfs&dataProfil=ASTUCE"
ASTUCE_TRIP_UPDATES = {
    op: f"{ASTUCE}/horaire-tc-tr/download?provider={op}&dataFormat=gtfs-rt"
    for op in ("TCAR", "TAE", "TNI")
}
ASTUCE_VEHICLE_POSITIONS = {
    "TCAR": f"{ASTUCE}/vehicle-tc-tr/download?provider=TCAR&dataFormat=GTFS-RT",
    # The TAE and TNI paths are spelled "vehicule" upstream.
    "TAE": f"{ASTUCE}/vehicule-tc-tr/download?provider=TAE&dataFormat=GTFS-RT",
    "TNI": f"{ASTUCE}/vehicule-tc-tr/download?provider=TNI&dataFormat=GTFS-RT",
}
ASTUCE_ALERTS = f"{ASTUCE}/info-transport/download?provider=ASTUCE&dataFormat=gtfs-rt"

UNMATCHED_TRIPS = Gauge(
    "poche_transport_rt_unmatched_trips",
    "TripUpdates in the last snapshot whose trip_id is not in the active GTFS",
    ["feed"],
)
POLL_FAILURES = Counter(
    "poche_transport_rt_poll_failures_total", "GTFS-RT polls that failed", ["feed", "reason"]
)


@dataclasses.dataclass(frozen=True)
class FeedConfig:
    name: str
    kind: FeedKind
    url: str


def gtfs_url(settings: Settings) -> str:
    if settings.transport_gtfs_url:
        return settings.transport_gtfs_url
    if settings.simulators_on:
        return simulator_url(settings, "transit") + "/gtfs.zip"
    return ASTUCE_GTFS


def realtime_feeds(settings: Settings) -> list[FeedConfig]:
    sim = simulator_url(settings, "transit") if settings.simulators_on else None
    trip_updates = settings.transport_trip_updates_urls or (
        {"TCAR": f"{sim}/trip-updates.pb"} if sim else ASTUCE_TRIP_UPDATES
    )
    vehicles = settings.transport_vehicle_positions_urls or (
        {"TCAR": f"{sim}/vehicle-positions.pb"} if sim else ASTUCE_VEHICLE_POSITIONS
    )
    alerts = settings.transport_alerts_url or (f"{sim}/alerts.pb" if sim else ASTUCE_ALERTS)
    feeds = [
        FeedConfig(f"trip_updates:{op}", "trip_updates", url) for op, url in trip_updates.items()
    ]
    feeds += [
        FeedConfig(f"vehicle_positions:{op}", "vehicle_positions", url)
        for op, url in vehicles.items()
    ]
    feeds.append(FeedConfig("alerts:ASTUCE", "alerts", alerts))
    return feeds


class PollStatus(StrEnum):
    updated = "updated"
    not_modified = "not_modified"
    failed = "failed"


@dataclasses.dataclass
class PollOutcome:
    status: PollStatus
    message: rt.FeedMessage | None = None
    body: bytes | None = None
    error: str | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode(body: bytes) -> rt.FeedMessage:
    """Parse a FeedMessage; a body that is not one (or has no header) raises DecodeError."""
    message = rt.FeedMessage()
    message.ParseFromString(body)
    if not message.HasField("header") or not message.header.gtfs_realtime_version:
        raise DecodeError("no FeedHeader")
    return message


async def _record_failure(redis: Redis, feed: FeedConfig, reason: str, now: float) -> None:
    POLL_FAILURES.labels(feed.name, reason.split(":")[0]).inc()
    key = HEALTH_KEY.format(feed.name)
    await redis.hset(key, mapping={"last_error": reason, "last_error_at": now})
    await redis.hincrby(key, "consecutive_errors", 1)
    await redis.hincrby(key, "errors_total", 1)
    logger.warning("gtfs-rt poll failed", extra={"feed": feed.name, "reason": reason})


async def poll_feed(
    http: httpx.AsyncClient,
    redis: Redis,
    feed: FeedConfig,
    *,
    timeout_seconds: float,
    now: float | None = None,
) -> PollOutcome:
    """Fetch ``feed`` conditionally; store it as the snapshot when it is a valid, newer message."""
    now = time.time() if now is None else now
    snapshot_key = SNAPSHOT_KEY.format(feed.name)
    await redis.hset(HEALTH_KEY.format(feed.name), mapping={"last_attempt_at": now})
    validators = await redis.hmget(snapshot_key, ["etag", "last_modified", "header_timestamp"])
    headers = {}
    if validators[0]:
        headers["If-None-Match"] = _text(validators[0])
    if validators[1]:
        headers["If-Modified-Since"] = _text(validators[1])
    try:
        response = await http.get(feed.url, headers=headers, timeout=timeout_seconds)
    except httpx.TimeoutException:
        await _record_failure(redis, feed, "timeout", now)
        return PollOutcome(PollStatus.failed, error="timeout")
    except httpx.HTTPError as exc:
        await _record_failure(redis, feed, f"network: {type(exc).__name__}", now)
        return PollOutcome(PollStatus.failed, error="network")
    if response.status_code == 304:
        await redis.hset(
            HEALTH_KEY.format(feed.name), mapping={"last_success_at": now, "consecutive_errors": 0}
        )
        return PollOutcome(PollStatus.not_modified)
    if response.status_code != 200:
        await _record_failure(redis, feed, f"http: {response.status_code}", now)
        return PollOutcome(PollStatus.failed, error=f"http {response.status_code}")
    body = response.content
    if len(body) > MAX_FEED_BYTES:
        await _record_failure(redis, feed, "too large", now)
        return PollOutcome(PollStatus.failed, error="too large")
    try:
        message = decode(body)
    except (DecodeError, ValueError) as exc:
        await _record_failure(redis, feed, f"malformed: {exc}"[:200], now)
        return PollOutcome(PollStatus.failed, error="malformed")
    header_ts = int(message.header.timestamp) or int(now)
    previous_ts = int(_text(validators[2])) if validators[2] else 0
    if header_ts > now + FUTURE_TOLERANCE_SECONDS:
        await _record_failure(redis, feed, "header timestamp in the future", now)
        return PollOutcome(PollStatus.failed, error="future")
    if header_ts < previous_ts:
        await _record_failure(redis, feed, "header timestamp older than the snapshot", now)
        return PollOutcome(PollStatus.failed, error="older")
    await redis.hset(
        snapshot_key,
        mapping={
            "body": body,
            "fetched_at": now,
            "header_timestamp": header_ts,
            "etag": response.headers.get("etag", ""),
            "last_modified": response.headers.get("last-modified", ""),
            "digest": hashlib.blake2b(body, digest_size=12).hexdigest(),
        },
    )
    await redis.hset(
        HEALTH_KEY.format(feed.name),
        mapping={
            "last_success_at": now,
            "consecutive_errors": 0,
            "entity_count": len(message.entity),
            "header_timestamp": header_ts,
        },
    )
    return PollOutcome(PollStatus.updated, message=message, body=body)


@dataclasses.dataclass(frozen=True)
class FeedHealth:
    name: str
    kind: str
    healthy: bool
    last_attempt_at: float | None
    last_success_at: float | None
    header_timestamp: int | None
    age_seconds: float | None
    entity_count: int | None
    consecutive_errors: int
    errors_total: int
    last_error: str | None
    last_error_at: float | None
    unmatched_trips: int | None


async def feed_health(
    redis: Redis, feed: FeedConfig, *, stale_seconds: int, now: float | None = None
) -> FeedHealth:
    now = time.time() if now is None else now
    raw = {
        _text(k): _text(v) for k, v in (await redis.hgetall(HEALTH_KEY.format(feed.name))).items()
    }

    def number(key: str) -> float | None:
        return float(raw[key]) if raw.get(key) else None

    header_ts = number("header_timestamp")
    age = now - header_ts if header_ts is not None else None
    errors = int(raw.get("consecutive_errors") or 0)
    unmatched = number("unmatched_trips")
    return FeedHealth(
        name=feed.name,
        kind=feed.kind,
        healthy=age is not None and age <= stale_seconds and errors == 0,
        last_attempt_at=number("last_attempt_at"),
        last_success_at=number("last_success_at"),
        header_timestamp=int(header_ts) if header_ts is not None else None,
        age_seconds=round(age, 1) if age is not None else None,
        entity_count=int(raw["entity_count"]) if raw.get("entity_count") else None,
        consecutive_errors=errors,
        errors_total=int(raw.get("errors_total") or 0),
        last_error=raw.get("last_error"),
        last_error_at=number("last_error_at"),
        unmatched_trips=int(unmatched) if unmatched is not None else None,
    )


async def record_unmatched(redis: Redis, feed: FeedConfig, count: int) -> None:
    UNMATCHED_TRIPS.labels(feed.name).set(count)
    await redis.hset(HEALTH_KEY.format(feed.name), mapping={"unmatched_trips": count})


# --- TripUpdates index and merge --------------------------------------------------------------

TripRel = rt.TripDescriptor
StopRel = rt.TripUpdate.StopTimeUpdate

# One TripUpdate of a feed, read by the native reader: its descriptor as Python values, its stop
# time updates kept as bytes until a departure asks (reading them through protobuf's objects
# cost ten times the parse).
TripRealtime = _tripupdates.TripUpdate


@dataclasses.dataclass(frozen=True, slots=True)
class StopUpdate:
    sequence: int | None
    stop_id: str | None
    relationship: int
    delay: int | None
    time: int | None


def stop_updates(trip: TripRealtime) -> list[StopUpdate]:
    """Every stop time update of ``trip`` in feed order (an ADDED trip's stops)."""
    return [StopUpdate(*update) for update in trip.stop_time_updates()]


_ADDED = (TripRel.ADDED, TripRel.NEW)


@dataclasses.dataclass
class TripUpdatesIndex:
    header_timestamp: int
    by_key: dict[tuple[str, str], TripRealtime]
    by_trip: dict[str, TripRealtime]
    added: list[TripRealtime]
    entity_count: int
    _by_start: dict[tuple[str, int | None, str, str], TripRealtime] | None = None

    @classmethod
    def build(cls, bodies: Iterable[bytes]) -> "TripUpdatesIndex":
        """The index of serialized TripUpdates feeds; a malformed one raises DecodeError."""
        index = cls(0, {}, {}, [], 0)
        by_key, by_trip, added = index.by_key, index.by_trip, index.added
        for body in bodies:
            header_ts, entity_count, trips = _tripupdates.read_feed(body)
            index.header_timestamp = max(index.header_timestamp, header_ts)
            index.entity_count += entity_count
            for trip in trips:
                trip_id = trip.trip_id
                if trip.relationship in _ADDED:
                    if not trip.is_deleted:
                        added.append(trip)
                    continue
                if trip_id is None or trip.is_deleted:
                    continue
                if trip.start_date is not None:
                    by_key[(trip_id, trip.start_date)] = trip
                by_trip.setdefault(trip_id, trip)
        return index

    @property
    def by_start(self) -> dict[tuple[str, int | None, str, str], TripRealtime]:
        """Trips by route, direction, start date and start time: the last fallback, built the
        first time it is needed."""
        if self._by_start is None:
            self._by_start = {}
            for trip in self.by_key.values():
                start_time, route_id, start_date = trip.start_time, trip.route_id, trip.start_date
                if start_time and route_id and start_date:
                    key = (route_id, trip.direction_id, start_date, start_time)
                    self._by_start[key] = trip
        return self._by_start

    def trip_ids(self) -> set[str]:
        return set(self.by_trip)

    def find(
        self,
        trip_id: str,
        service_date: str,
        route_id: str,
        direction_id: int | None,
        start_time: str | None,
    ) -> TripRealtime | None:
        """Match on (trip_id, start_date); fall back to a trip_id without a start_date, then to
        route + direction + start date + start time (trip ids that changed between feeds)."""
        found = self.by_key.get((trip_id, service_date))
        if found is not None:
            return found
        loose = self.by_trip.get(trip_id)
        if loose is not None and loose.start_date is None:
            return loose
        if start_time is not None:
            return self.by_start.get((route_id, direction_id, service_date, start_time))
        return None


class Status(StrEnum):
    realtime = "realtime"
    estimated = "estimated"
    scheduled = "scheduled"
    cancelled = "cancelled"
    skipped = "skipped"


class Merged(NamedTuple):  # a tuple: built once per departure, cheaper than a dataclass
    status: Status
    expected: datetime | None
    delay_seconds: int | None


_CANCELED = TripRel.CANCELED
_SKIPPED = StopRel.SKIPPED
_NO_DATA = StopRel.NO_DATA


@functools.lru_cache(maxsize=4096)
def _seconds(delay: int) -> timedelta:
    """A delay as a timedelta: delays repeat across a feed, and building a timedelta costs more
    than the rest of a departure's merge."""
    return timedelta(seconds=delay)


def merge(
    realtime: TripRealtime | None,
    *,
    stop_sequence: int,
    stop_id: str,
    scheduled: datetime,
    trusted: bool = True,
) -> Merged:
    """What the rider is told for one scheduled departure, given its trip's real-time data.

    * CANCELED trip → cancelled; SKIPPED stop → skipped (both stay visible).
    * An update at this stop with a delay or a time → realtime (``estimated`` on untrusted lines).
    * Otherwise the latest earlier update's delay is propagated forward → estimated; an earlier
      NO_DATA (or an update at this stop with NO_DATA) means scheduled.
    """
    if realtime is None:
        return Merged(Status.scheduled, scheduled, None)
    if realtime.relationship == _CANCELED:
        return Merged(Status.cancelled, None, None)
    here, before = realtime.at_stop(stop_sequence, stop_id)
    if here is not None:
        relationship, delay, moment = here
        if relationship == _SKIPPED:
            return Merged(Status.skipped, None, None)
        if relationship == _NO_DATA:
            return Merged(Status.scheduled, scheduled, None)
        measured = Status.realtime if trusted else Status.estimated
        if moment is not None:
            delay = moment - int(scheduled.timestamp())
        if delay is not None:
            return Merged(measured, scheduled + _seconds(delay), delay)
    if before is not None:  # the delay to propagate: the last earlier stop not SKIPPED
        relationship, delay, _ = before
        if relationship != _NO_DATA and delay is not None:
            return Merged(Status.estimated, scheduled + _seconds(delay), delay)
    return Merged(Status.scheduled, scheduled, None)


# --- Vehicle positions ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class VehicleRecord:
    vehicle_id: str
    label: str | None
    trip_id: str | None
    route_id: str | None
    lat: float
    lon: float
    bearing: float | None
    timestamp: int
    occupancy: str | None


def vehicles(message: rt.FeedMessage) -> list[VehicleRecord]:
    found = []
    header_ts = int(message.header.timestamp)
    for entity in message.entity:
        if not entity.HasField("vehicle") or not entity.vehicle.HasField("position"):
            continue
        vehicle = entity.vehicle
        occupancy = (
            rt.VehiclePosition.OccupancyStatus.Name(vehicle.occupancy_status)
            if vehicle.HasField("occupancy_status")
            else None
        )
        found.append(
            VehicleRecord(
                vehicle_id=vehicle.vehicle.id or entity.id,
                label=vehicle.vehicle.label or None,
                trip_id=vehicle.trip.trip_id or None,
                route_id=vehicle.trip.route_id or None,
                lat=vehicle.position.latitude,
                lon=vehicle.position.longitude,
                bearing=vehicle.position.bearing if vehicle.position.HasField("bearing") else None,
                timestamp=int(vehicle.timestamp) or header_ts,
                occupancy=occupancy,
            )
        )
    return found


# --- Service alerts ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    cause: str
    effect: str
    header: dict[str, str]
    description: dict[str, str]
    url: dict[str, str]
    active_periods: list[list[int | None]]
    route_ids: list[str]
    stop_ids: list[str]
    trip_ids: list[str]

    def content_hash(self) -> str:
        material = repr(
            (
                self.cause,
                self.effect,
                sorted(self.header.items()),
                sorted(self.description.items()),
                sorted(self.url.items()),
                self.active_periods,
                self.route_ids,
                self.stop_ids,
                self.trip_ids,
            )
        )
        return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()


def _translations(value: rt.TranslatedString, default_language: str = "fr") -> dict[str, str]:
    texts: dict[str, str] = {}
    for translation in value.translation:
        language = (translation.language or default_language).lower().split("-")[0]
        texts.setdefault(language, translation.text)
    return texts


def alerts(message: rt.FeedMessage) -> list[AlertRecord]:
    found = []
    for entity in message.entity:
        if not entity.HasField("alert") or entity.is_deleted:
            continue
        alert = entity.alert
        periods: list[list[int | None]] = [
            [
                int(p.start) if p.HasField("start") and p.start else None,
                int(p.end) if p.HasField("end") and p.end else None,
            ]
            for p in alert.active_period
        ]
        routes, stops, trips = set(), set(), set()
        for informed in alert.informed_entity:
            if informed.route_id:
                routes.add(informed.route_id)
            if informed.stop_id:
                stops.add(informed.stop_id)
            if informed.HasField("trip"):
                if informed.trip.trip_id:
                    trips.add(informed.trip.trip_id)
                if informed.trip.route_id:
                    routes.add(informed.trip.route_id)
        found.append(
            AlertRecord(
                alert_id=entity.id,
                cause=rt.Alert.Cause.Name(alert.cause),
                effect=rt.Alert.Effect.Name(alert.effect),
                header=_translations(alert.header_text),
                description=_translations(alert.description_text),
                url=_translations(alert.url),
                active_periods=periods,
                route_ids=sorted(routes),
                stop_ids=sorted(stops),
                trip_ids=sorted(trips),
            )
        )
    return found


def active_now(periods: list[list[int | None]], now: float) -> bool:
    """No period means always active; otherwise ``now`` falls in one of them."""
    if not periods:
        return True
    return any((s is None or s <= now) and (e is None or now < e) for s, e in periods)


# --- Per-process decoded snapshots ------------------------------------------------------------


@dataclasses.dataclass
class Snapshot:
    """A feed's last good body; the poller checked it with protobuf before storing it."""

    digest: str
    header_timestamp: int
    fetched_at: float
    body: bytes

    @functools.cached_property
    def message(self) -> rt.FeedMessage:
        """The body through protobuf (vehicles, alerts), decoded the first time it is read."""
        return decode(self.body)


class BoardCache:
    """Encoded departure boards for a few seconds: a busy stop is computed once per window."""

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 5000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[tuple[Any, ...], tuple[float, bytes]] = {}
        self._pending: dict[tuple[Any, ...], asyncio.Future[bytes]] = {}

    async def get_or_compute(
        self, key: tuple[Any, ...], compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """The cached bytes, or computed once while concurrent callers wait (single flight)."""
        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            body = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(body)
        self.put(key, body)
        return body

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: tuple[Any, ...], body: bytes) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl_seconds, body)


class RealtimeCache:
    """Decodes each feed's Redis snapshot once per change, for this API process."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._indexes: dict[tuple[str, ...], TripUpdatesIndex] = {}
        self.boards = BoardCache()

    async def snapshot(self, redis: Redis, feed: FeedConfig) -> Snapshot | None:
        key = SNAPSHOT_KEY.format(feed.name)
        digest = await redis.hget(key, "digest")
        if not digest:
            self._snapshots.pop(feed.name, None)
            return None
        digest_text = _text(digest)
        cached = self._snapshots.get(feed.name)
        if cached is not None and cached.digest == digest_text:
            return cached
        body, header_ts, fetched_at = await redis.hmget(
            key, ["body", "header_timestamp", "fetched_at"]
        )
        if body is None:
            return None
        snapshot = Snapshot(
            digest_text,
            int(_text(header_ts or b"0")),
            float(_text(fetched_at or b"0")),
            body if isinstance(body, bytes) else body.encode(),
        )
        self._snapshots[feed.name] = snapshot
        return snapshot

    async def trip_updates(
        self, redis: Redis, feeds: list[FeedConfig], *, stale_seconds: int, now: float
    ) -> tuple[TripUpdatesIndex | None, float | None]:
        """The merged index of the fresh TripUpdates feeds and the age of the oldest one used."""
        fresh: list[Snapshot] = []
        oldest_age: float | None = None
        for feed in feeds:
            if feed.kind != "trip_updates":
                continue
            snapshot = await self.snapshot(redis, feed)
            if snapshot is None:
                continue
            age = now - snapshot.header_timestamp
            oldest_age = age if oldest_age is None else max(oldest_age, age)
            if age <= stale_seconds:
                fresh.append(snapshot)
        if not fresh:
            return None, oldest_age
        key = tuple(snapshot.digest for snapshot in fresh)
        index = self._indexes.get(key)
        if index is None:
            try:
                index = TripUpdatesIndex.build(snapshot.body for snapshot in fresh)
            except DecodeError:  # the poller stores only what protobuf parsed: not expected
                logger.exception("gtfs-rt snapshot unreadable", extra={"feeds": key})
                return None, oldest_age
            self._indexes = {key: index}
        return index, max(now - snapshot.header_timestamp for snapshot in fresh)
