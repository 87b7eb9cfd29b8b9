"""Transit feed simulator: a Rouen-shaped GTFS and live GTFS-RT computed from the clock.

The network is generated deterministically (no randomness): metro (``TCAR:90``) with trips past
midnight, TEOR T1 (``TCAR:91``), the F1 bus (``TCAR:20``) on weekdays and the Noctambus
(``TCAR:98``) on Friday and Saturday nights only; French public holidays are
``calendar_dates`` exceptions (weekday service removed, Sunday service added).

GTFS-RT is computed for the simulator's clock (the real time, or one set through ``/control``):
vehicles move between stops, trips run late by a delay derived from their id, and the scenario
served at ``/scenario`` names the trip that is cancelled, the stop that is skipped, the trip
whose next stop has NO_DATA, a trip absent from the GTFS and an ADDED trip. One French alert
with an English translation is active. ``/control`` switches failures on: ``down`` (503) and
``malformed`` (bytes that are not a protobuf).
"""

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from google.transit import gtfs_realtime_pb2 as rt
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from poche_api.config import Settings
from poche_api.kit.timeutil import PARIS
from poche_api.simulators import Simulator, register

FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2030, 12, 31)
UNKNOWN_TRIP_ID = "TCAR:999999"
ADDED_TRIP_ID = "TCAR:ADDED-1"
ALERT_ID = "TCAR:ALERT:1"
STALE_VEHICLE_ID = "TCAR:Vehicle::999:LOC"

# (stop_id, name, lat, lon)
STOPS: tuple[tuple[str, str, float, float], ...] = (
    ("TCAR:BOUL", "Boulingrin", 49.4490, 1.1050),
    ("TCAR:GARE", "Gare - Rue Verte", 49.4480, 1.0940),
    ("TCAR:PDJ", "Palais de Justice", 49.4430, 1.0920),
    ("TCAR:TDA", "Théâtre des Arts", 49.4400, 1.0880),
    ("TCAR:SEV", "Saint-Sever", 49.4330, 1.0890),
    ("TCAR:JJA", "Jean Jaurès", 49.4240, 1.0870),
    ("TCAR:TEC", "Technopôle", 49.3860, 1.0650),
    ("TCAR:MRK", "Mont-Riboudet - Kindarena", 49.4480, 1.0700),
    ("TCAR:HDV", "Hôtel de Ville", 49.4430, 1.0990),
    ("TCAR:CHU", "CHU Charles Nicolle", 49.4520, 1.1100),
    ("TCAR:CAM", "Campus", 49.4580, 1.0700),
    ("TCAR:SOT", "Mairie de Sotteville", 49.4100, 1.0900),
    ("TCAR:ELB", "Église d'Elbeuf", 49.2880, 1.0080),
)


@dataclass(frozen=True)
class Line:
    route_id: str
    short_name: str
    long_name: str
    route_type: int
    color: str
    text_color: str
    stops: tuple[str, ...]
    hop_seconds: int
    # service_id → (first start, last start, headway), GTFS seconds
    runs: dict[str, tuple[int, int, int]]
    both_directions: bool = True


def _h(hours: float) -> int:
    return round(hours * 3600)


LINES: tuple[Line, ...] = (
    Line(
        "TCAR:90",
        "M",
        "Métro Boulingrin - Technopôle",
        0,
        "E2001A",
        "FFFFFF",
        ("TCAR:BOUL", "TCAR:GARE", "TCAR:PDJ", "TCAR:TDA", "TCAR:SEV", "TCAR:JJA", "TCAR:TEC"),
        120,
        {"SEM": (_h(5), _h(24.5), 600), "SAM": (_h(5), _h(24.5), 600), "DIM": (_h(6), _h(24), 900)},
    ),
    Line(
        "TCAR:91",
        "T1",
        "TEOR T1 Mont-Riboudet - Campus",
        3,
        "0096D7",
        "FFFFFF",
        ("TCAR:MRK", "TCAR:TDA", "TCAR:HDV", "TCAR:CHU", "TCAR:CAM"),
        180,
        {
            "SEM": (_h(5.5), _h(23.5), 720),
            "SAM": (_h(6), _h(23.5), 900),
            "DIM": (_h(7), _h(22), 1200),
        },
    ),
    Line(
        "TCAR:20",
        "F1",
        "Fast F1 Hôtel de Ville - Sotteville",
        3,
        "F39200",
        "000000",
        ("TCAR:HDV", "TCAR:BOUL", "TCAR:SEV", "TCAR:SOT"),
        240,
        {"SEM": (_h(6), _h(21), 1200)},
    ),
    Line(
        "TCAR:98",
        "N",
        "Noctambus Théâtre des Arts - Elbeuf",
        3,
        "1D1D1B",
        "FFFFFF",
        ("TCAR:TDA", "TCAR:SEV", "TCAR:JJA", "TCAR:ELB"),
        420,
        {"NUIT": (_h(24.5), _h(26.5), 3600)},
        both_directions=False,
    ),
)

# Monday first; NUIT runs the nights starting on Friday and Saturday.
SERVICES: dict[str, str] = {"SEM": "1111100", "SAM": "0000010", "DIM": "0000001", "NUIT": "0000110"}
HOLIDAYS = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))


@dataclass(frozen=True)
class SimTrip:
    trip_id: str
    route_id: str
    service_id: str
    direction_id: int
    headsign: str
    # (stop_id, GTFS seconds) in order
    times: tuple[tuple[str, int], ...]
    wheelchair: int


@dataclass
class Network:
    trips: list[SimTrip] = field(default_factory=list)

    def by_id(self) -> dict[str, SimTrip]:
        return {trip.trip_id: trip for trip in self.trips}


def _stop_names() -> dict[str, str]:
    return {stop_id: name for stop_id, name, _, _ in STOPS}


@lru_cache(maxsize=1)
def network() -> Network:
    names = _stop_names()
    built = Network()
    counter = 100_000
    for line in LINES:
        directions = (
            [line.stops, tuple(reversed(line.stops))] if line.both_directions else [line.stops]
        )
        for service_id, (first, last, headway) in line.runs.items():
            for direction_id, stops in enumerate(directions):
                start = first
                while start <= last:
                    counter += 1
                    times = tuple(
                        (stop_id, start + index * line.hop_seconds)
                        for index, stop_id in enumerate(stops)
                    )
                    built.trips.append(
                        SimTrip(
                            trip_id=f"TCAR:{counter}",
                            route_id=line.route_id,
                            service_id=service_id,
                            direction_id=direction_id,
                            headsign=names[stops[-1]],
                            times=times,
                            wheelchair=1 if counter % 7 else 2,
                        )
                    )
                    start += headway
    return built


def holiday_exceptions() -> list[tuple[str, date, int]]:
    exceptions: list[tuple[str, date, int]] = []
    for year in range(FIRST_DAY.year, LAST_DAY.year + 1):
        for month, day in HOLIDAYS:
            holiday = date(year, month, day)
            weekday = holiday.weekday()
            if weekday == 6:
                continue
            exceptions.append(("SEM" if weekday < 5 else "SAM", holiday, 2))
            exceptions.append(("DIM", holiday, 1))
    return exceptions


def _csv(header: str, lines: list[str]) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def _time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@lru_cache(maxsize=1)
def gtfs_zip() -> bytes:
    net = network()
    members: dict[str, bytes] = {
        "agency.txt": _csv(
            "agency_id,agency_name,agency_url,agency_timezone,agency_lang,agency_phone",
            ["TCAR,Réseau Astuce (TCAR),https://www.reseau-astuce.fr,Europe/Paris,fr,0235526500"],
        ),
        "stops.txt": _csv(
            "stop_id,stop_code,stop_name,stop_lat,stop_lon,location_type,wheelchair_boarding",
            [
                f'{stop_id},{stop_id.split(":")[1]},"{name}",{lat},{lon},0,1'
                for stop_id, name, lat, lon in STOPS
            ],
        ),
        "routes.txt": _csv(
            "route_id,agency_id,route_short_name,route_long_name,route_type,route_color,"
            "route_text_color,route_sort_order",
            [
                f'{line.route_id},TCAR,{line.short_name},"{line.long_name}",{line.route_type},'
                f"{line.color},{line.text_color},{index}"
                for index, line in enumerate(LINES)
            ],
        ),
        "calendar.txt": _csv(
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
            "start_date,end_date",
            [
                f"{service_id},{','.join(mask)},{FIRST_DAY:%Y%m%d},{LAST_DAY:%Y%m%d}"
                for service_id, mask in SERVICES.items()
            ],
        ),
        "calendar_dates.txt": _csv(
            "service_id,date,exception_type",
            [f"{service},{day:%Y%m%d},{kind}" for service, day, kind in holiday_exceptions()],
        ),
        "trips.txt": _csv(
            "route_id,service_id,trip_id,trip_headsign,direction_id,shape_id,wheelchair_accessible",
            [
                f'{trip.route_id},{trip.service_id},{trip.trip_id},"{trip.headsign}",'
                f"{trip.direction_id},{trip.route_id}:{trip.direction_id},{trip.wheelchair}"
                for trip in net.trips
            ],
        ),
        "stop_times.txt": _csv(
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence",
            [
                f"{trip.trip_id},{_time(seconds)},{_time(seconds)},{stop_id},{index + 1}"
                for trip in net.trips
                for index, (stop_id, seconds) in enumerate(trip.times)
            ],
        ),
        "shapes.txt": _csv("shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence", _shapes()),
        "feed_info.txt": _csv(
            "feed_publisher_name,feed_publisher_url,feed_lang,feed_start_date,feed_end_date",
            [f"Simulateur Astuce,https://example.invalid,fr,{FIRST_DAY:%Y%m%d},{LAST_DAY:%Y%m%d}"],
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def _shapes() -> list[str]:
    where = {stop_id: (lat, lon) for stop_id, _, lat, lon in STOPS}
    lines = []
    for line in LINES:
        directions = [line.stops, tuple(reversed(line.stops))]
        for direction_id, stops in enumerate(directions):
            for sequence, stop_id in enumerate(stops):
                lat, lon = where[stop_id]
                lines.append(f"{line.route_id}:{direction_id},{lat},{lon},{sequence + 1}")
    return lines


def service_reference(day: date) -> datetime:
    """Noon minus 12 h of ``day`` in Europe/Paris: the origin of GTFS times, DST-proof."""
    # In UTC: arithmetic on an aware local datetime is wall-clock arithmetic in Python.
    return datetime(day.year, day.month, day.day, 12, tzinfo=PARIS).astimezone(UTC) - timedelta(
        hours=12
    )


def services_on(day: date) -> set[str]:
    active = {sid for sid, mask in SERVICES.items() if mask[day.weekday()] == "1"}
    for service_id, holiday, kind in holiday_exceptions():
        if holiday == day:
            if kind == 2:
                active.discard(service_id)
            else:
                active.add(service_id)
    return active


def delay_of(trip_id: str) -> int:
    """A stable delay for a trip: 0, 60, 120, 180 or 240 seconds."""
    return int(hashlib.sha256(trip_id.encode()).hexdigest(), 16) % 5 * 60


@dataclass(frozen=True)
class Running:
    trip: SimTrip
    day: date
    starts_at: datetime


def trips_around(now: datetime, *, before: timedelta, after: timedelta) -> list[Running]:
    """Trips whose run overlaps [now - before, now + after], on yesterday's or today's service."""
    today = now.astimezone(PARIS).date()
    found = []
    for day in (today - timedelta(days=1), today):
        services = services_on(day)
        origin = service_reference(day)
        for trip in network().trips:
            if trip.service_id not in services:
                continue
            start = origin + timedelta(seconds=trip.times[0][1])
            end = origin + timedelta(seconds=trip.times[-1][1] + delay_of(trip.trip_id))
            if end >= now - before and start <= now + after:
                found.append(Running(trip, day, start))
    found.sort(key=lambda running: (running.starts_at, running.trip.trip_id))
    return found


@dataclass(frozen=True)
class Scenario:
    cancelled: str | None
    skipped: tuple[str, str] | None
    no_data: tuple[str, str] | None
    unknown_trip: str
    added_trip: str
    delays: dict[str, int]


def scenario(now: datetime) -> Scenario:
    upcoming = trips_around(now, before=timedelta(0), after=timedelta(minutes=90))
    started = [r for r in upcoming if r.starts_at <= now]
    future = [r for r in upcoming if r.starts_at > now]
    cancelled = next((r for r in future if r.trip.route_id == "TCAR:91"), None)
    metro = [r for r in future if r.trip.route_id == "TCAR:90"]
    skipped = metro[0] if metro else None
    no_data = metro[1] if len(metro) > 1 else None
    return Scenario(
        cancelled=cancelled.trip.trip_id if cancelled else None,
        skipped=(skipped.trip.trip_id, skipped.trip.times[2][0]) if skipped else None,
        no_data=(no_data.trip.trip_id, no_data.trip.times[1][0]) if no_data else None,
        unknown_trip=UNKNOWN_TRIP_ID,
        added_trip=ADDED_TRIP_ID,
        delays={r.trip.trip_id: delay_of(r.trip.trip_id) for r in started + future},
    )


def _header(message: rt.FeedMessage, now: datetime) -> None:
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = int(now.timestamp())


def trip_updates(now: datetime) -> bytes:
    message = rt.FeedMessage()
    _header(message, now)
    plan = scenario(now)
    for running in trips_around(now, before=timedelta(0), after=timedelta(minutes=90)):
        trip = running.trip
        entity = message.entity.add()
        entity.id = f"TU:{trip.trip_id}"
        update = entity.trip_update
        update.trip.trip_id = trip.trip_id
        update.trip.route_id = trip.route_id
        update.trip.direction_id = trip.direction_id
        update.trip.start_date = running.day.strftime("%Y%m%d")
        update.trip.start_time = _time(trip.times[0][1])
        update.timestamp = int(now.timestamp())
        if trip.trip_id == plan.cancelled:
            update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
            continue
        update.trip.schedule_relationship = rt.TripDescriptor.SCHEDULED
        delay = delay_of(trip.trip_id)
        origin = service_reference(running.day)
        # The first stop not yet served gets the delay; later stops are left to propagation.
        upcoming = [
            (index, stop_id, seconds)
            for index, (stop_id, seconds) in enumerate(trip.times)
            if origin + timedelta(seconds=seconds + delay) >= now
        ]
        if not upcoming:
            continue
        index, stop_id, seconds = upcoming[0]
        stu = update.stop_time_update.add()
        stu.stop_sequence = index + 1
        stu.stop_id = stop_id
        if plan.no_data and plan.no_data[0] == trip.trip_id:
            stu.stop_sequence, stu.stop_id = 2, plan.no_data[1]
            stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.NO_DATA
            continue
        stu.departure.delay = delay
        stu.departure.time = int((origin + timedelta(seconds=seconds + delay)).timestamp())
        if plan.skipped and plan.skipped[0] == trip.trip_id:
            skip = update.stop_time_update.add()
            skip.stop_sequence = 3
            skip.stop_id = plan.skipped[1]
            skip.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
            after = update.stop_time_update.add()
            after.stop_sequence = 4
            after.stop_id = trip.times[3][0]
            after.departure.delay = delay
    _unknown_and_added(message, now)
    return message.SerializeToString()


def _unknown_and_added(message: rt.FeedMessage, now: datetime) -> None:
    today = now.astimezone(PARIS).date()
    unknown = message.entity.add()
    unknown.id = "TU:unknown"
    unknown.trip_update.trip.trip_id = UNKNOWN_TRIP_ID
    unknown.trip_update.trip.route_id = "TCAR:90"
    unknown.trip_update.trip.start_date = today.strftime("%Y%m%d")
    stu = unknown.trip_update.stop_time_update.add()
    stu.stop_id, stu.stop_sequence, stu.departure.delay = "TCAR:TDA", 4, 120

    added = message.entity.add()
    added.id = "TU:added"
    trip = added.trip_update.trip
    trip.trip_id = ADDED_TRIP_ID
    trip.route_id = "TCAR:91"
    trip.direction_id = 0
    trip.start_date = today.strftime("%Y%m%d")
    trip.schedule_relationship = rt.TripDescriptor.ADDED
    base = now.replace(second=0, microsecond=0) + timedelta(minutes=5)
    line = next(line for line in LINES if line.route_id == "TCAR:91")
    for index, stop_id in enumerate(line.stops):
        update = added.trip_update.stop_time_update.add()
        update.stop_sequence = index + 1
        update.stop_id = stop_id
        moment = int((base + timedelta(seconds=index * line.hop_seconds)).timestamp())
        update.arrival.time = moment
        update.departure.time = moment


def vehicle_positions(now: datetime) -> bytes:
    message = rt.FeedMessage()
    _header(message, now)
    where = {stop_id: (lat, lon) for stop_id, _, lat, lon in STOPS}
    for number, running in enumerate(
        trips_around(now, before=timedelta(0), after=timedelta(0)), start=400
    ):
        trip = running.trip
        origin = service_reference(running.day)
        elapsed = (now - origin).total_seconds() - delay_of(trip.trip_id)
        lat, lon = where[trip.times[0][0]]
        for (stop_a, t_a), (stop_b, t_b) in zip(trip.times, trip.times[1:], strict=False):
            if t_a <= elapsed <= t_b:
                share = (elapsed - t_a) / (t_b - t_a)
                (lat_a, lon_a), (lat_b, lon_b) = where[stop_a], where[stop_b]
                lat, lon = lat_a + (lat_b - lat_a) * share, lon_a + (lon_b - lon_a) * share
            elif elapsed > t_b:
                lat, lon = where[stop_b]
        entity = message.entity.add()
        entity.id = f"VM:{number}"
        vehicle = entity.vehicle
        vehicle.trip.trip_id = trip.trip_id
        vehicle.trip.route_id = trip.route_id
        vehicle.trip.start_date = running.day.strftime("%Y%m%d")
        vehicle.vehicle.id = f"TCAR:Vehicle::{number}:LOC"
        vehicle.vehicle.label = str(number)
        vehicle.position.latitude = lat
        vehicle.position.longitude = lon
        vehicle.timestamp = int(now.timestamp())
    stale = message.entity.add()
    stale.id = "VM:stale"
    stale.vehicle.trip.route_id = "TCAR:90"
    stale.vehicle.vehicle.id = STALE_VEHICLE_ID
    stale.vehicle.position.latitude, stale.vehicle.position.longitude = where["TCAR:TDA"]
    stale.vehicle.timestamp = int((now - timedelta(minutes=10)).timestamp())
    return message.SerializeToString()


def alerts(now: datetime, variant: int) -> bytes:
    message = rt.FeedMessage()
    _header(message, now)
    if variant >= 2:  # resolved: the alert left the feed
        return message.SerializeToString()
    day = now.astimezone(PARIS).date()
    entity = message.entity.add()
    entity.id = ALERT_ID
    alert = entity.alert
    period = alert.active_period.add()
    period.start = int(service_reference(day).timestamp())
    period.end = int(service_reference(day + timedelta(days=2)).timestamp())
    alert.informed_entity.add().route_id = "TCAR:91"
    alert.informed_entity.add().stop_id = "TCAR:HDV"
    alert.cause = rt.Alert.CONSTRUCTION
    alert.effect = rt.Alert.STOP_MOVED if variant == 1 else rt.Alert.DETOUR
    texts = {
        "fr": "Travaux : l'arrêt Hôtel de Ville n'est pas desservi par le T1",
        "en": "Roadworks: the T1 does not serve the Hôtel de Ville stop",
    }
    for language, text in texts.items():
        translation = alert.header_text.translation.add()
        translation.language, translation.text = language, text
    details = {
        "fr": "Arrêt reporté rue Jeanne d'Arc."
        + (" Prolongé jusqu'à dimanche." if variant else ""),
        "en": "Stop moved to rue Jeanne d'Arc." + (" Extended until Sunday." if variant else ""),
    }
    for language, text in details.items():
        translation = alert.description_text.translation.add()
        translation.language, translation.text = language, text
    return message.SerializeToString()


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")

    down: bool | None = Field(None, description="Answer 503 on every feed")
    malformed: bool | None = Field(None, description="Answer bytes that are not a protobuf")
    now: datetime | None = Field(None, description="Freeze the simulator clock (aware time)")
    alert_variant: int | None = Field(None, description="0 base, 1 changed, 2 resolved")
    reset: bool = Field(False, description="Back to the real clock, no failure, base alert")


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


def build(settings: Settings) -> FastAPI:
    app = FastAPI(title="Transit feed simulator (Astuce)", docs_url=None, openapi_url=None)
    state: dict[str, Any] = {"down": False, "malformed": False, "now": None, "alert_variant": 0}

    def clock() -> datetime:
        frozen: datetime | None = state["now"]
        return frozen if frozen is not None else datetime.now(UTC)

    def answer(request: Request, body: bytes, media_type: str) -> Response:
        if state["down"]:
            return Response(b"service unavailable", status_code=503)
        if state["malformed"]:
            body = b"\xff\xff\xff not a protobuf \x00\x01"
        tag = _etag(body)
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers={"ETag": tag})
        return Response(body, media_type=media_type, headers={"ETag": tag})

    @app.get("/gtfs.zip")
    async def gtfs(request: Request) -> Response:
        if state["down"]:
            return Response(b"service unavailable", status_code=503)
        body = gtfs_zip()
        tag = _etag(body)
        headers = {"ETag": tag, "Last-Modified": "Thu, 01 Jan 2026 00:00:00 GMT"}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/zip", headers=headers)

    @app.get("/trip-updates.pb")
    async def trip_updates_feed(request: Request) -> Response:
        return answer(request, trip_updates(clock()), "application/x-protobuf")

    @app.get("/vehicle-positions.pb")
    async def vehicle_positions_feed(request: Request) -> Response:
        return answer(request, vehicle_positions(clock()), "application/x-protobuf")

    @app.get("/alerts.pb")
    async def alerts_feed(request: Request) -> Response:
        return answer(request, alerts(clock(), state["alert_variant"]), "application/x-protobuf")

    @app.get("/scenario")
    async def scenario_view() -> dict[str, Any]:
        plan = scenario(clock())
        return {
            "now": clock().isoformat(),
            "cancelled": plan.cancelled,
            "skipped": plan.skipped,
            "no_data": plan.no_data,
            "unknown_trip": plan.unknown_trip,
            "added_trip": plan.added_trip,
            "delays": plan.delays,
        }

    @app.post("/control")
    async def control(body: Control) -> dict[str, Any]:
        if body.reset:
            state.update(down=False, malformed=False, now=None, alert_variant=0)
        for key in ("down", "malformed", "now", "alert_variant"):
            value = getattr(body, key)
            if value is not None:
                state[key] = value
        return {key: (v.isoformat() if isinstance(v, datetime) else v) for key, v in state.items()}

    return app


register(
    Simulator(
        name="transit",
        build=build,
        description="Astuce GTFS zip and GTFS-RT TripUpdates, VehiclePositions, ServiceAlerts",
    )
)
