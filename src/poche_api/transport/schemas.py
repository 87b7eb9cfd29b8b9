from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from poche_api.transport.realtime import Status


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LineSummary(Schema):
    id: str = Field(description="GTFS route_id", examples=["TCAR:90"])
    short_name: str | None = Field(description="Name on the vehicle", examples=["T1"])
    long_name: str | None = Field(description="Full name of the line")
    mode: str = Field(description="tram, metro, rail, bus, ferry, ... (from route_type)")
    color: str | None = Field(description="Line colour, hex without #", examples=["E2001A"])
    text_color: str | None = Field(description="Text colour on the line colour, hex without #")


class StopSummary(Schema):
    id: str = Field(description="GTFS stop_id", examples=["TCAR:TDA"])
    name: str = Field(description="Stop name", examples=["Théâtre des Arts"])
    code: str | None = Field(description="Short code shown at the stop")
    lat: float = Field(description="Latitude (WGS 84)")
    lon: float = Field(description="Longitude (WGS 84)")
    wheelchair_boarding: bool | None = Field(
        description="Step-free boarding: true, false, or null when unknown"
    )


class NearbyStop(StopSummary):
    distance_m: int = Field(description="Distance from the requested point, in metres")


class StopList(Schema):
    items: list[StopSummary] = Field(description="Matching stops")


class NearbyStops(Schema):
    items: list[NearbyStop] = Field(description="Stops within the radius, nearest first")


class StopDetail(StopSummary):
    platforms: list[str] = Field(description="stop_ids of the platforms of this station")
    lines: list[LineSummary] = Field(description="Lines serving the stop")


class Departure(Schema):
    trip_id: str = Field(description="GTFS trip_id (or the real-time id of an added trip)")
    service_date: date = Field(description="Service day the trip belongs to (Europe/Paris)")
    line: LineSummary = Field(description="The line")
    headsign: str | None = Field(description="Destination shown on the vehicle")
    stop_id: str = Field(description="Platform the vehicle leaves from")
    scheduled_at: datetime | None = Field(description="Timetable time; null for an added trip")
    expected_at: datetime | None = Field(
        description="Best known time; null when cancelled or skipped"
    )
    delay_seconds: int | None = Field(description="expected - scheduled, when known")
    status: Status = Field(
        description="realtime (measured), estimated (propagated or untrusted line), "
        "scheduled (timetable only), cancelled, skipped (the vehicle will not stop here)"
    )
    realtime_age_seconds: int | None = Field(
        description="Age of the real-time data used (null when only the timetable is used)"
    )
    wheelchair_accessible: bool | None = Field(description="Vehicle accessible; null when unknown")


class DepartureBoard(Schema):
    stop: StopSummary = Field(description="The stop asked for")
    generated_at: datetime = Field(description="When the board was computed")
    realtime_available: bool = Field(
        description="False when no fresh real-time snapshot was available: times are scheduled"
    )
    realtime_age_seconds: int | None = Field(description="Age of the real-time snapshot")
    departures: list[Departure] = Field(description="Next departures, by expected time")


class LineStop(Schema):
    id: str = Field(description="GTFS stop_id")
    name: str = Field(description="Stop name")
    lat: float = Field(description="Latitude (WGS 84)")
    lon: float = Field(description="Longitude (WGS 84)")


class LineDirection(Schema):
    direction_id: int | None = Field(description="GTFS direction_id")
    headsign: str | None = Field(description="Destination")
    stops: list[LineStop] = Field(description="Stops in order (longest pattern)")
    shape: list[list[float]] = Field(
        description="Path for the map as [lon, lat] pairs (GeoJSON order); the stops when the "
        "feed has no shape"
    )


class LineList(Schema):
    items: list[LineSummary] = Field(description="Lines of the network")


class LineDetail(LineSummary):
    directions: list[LineDirection] = Field(description="One entry per direction")


class Vehicle(Schema):
    id: str = Field(description="Vehicle id from the feed")
    label: str | None = Field(description="Label shown to riders (fleet number)")
    trip_id: str | None = Field(description="Trip the vehicle is running")
    lat: float = Field(description="Latitude (WGS 84)")
    lon: float = Field(description="Longitude (WGS 84)")
    bearing: float | None = Field(description="Heading in degrees clockwise from north")
    updated_at: datetime = Field(description="When the vehicle reported this position")
    age_seconds: int = Field(description="Age of the position")
    occupancy: str | None = Field(description="GTFS-RT occupancy status, when reported")


class VehicleList(Schema):
    line_id: str = Field(description="The line")
    items: list[Vehicle] = Field(
        description="Vehicles with a position less than 3 minutes old (older ones are hidden)"
    )


class Alert(Schema):
    id: str = Field(description="Alert id from the feed")
    header: str = Field(description="Short text in the requested language (French fallback)")
    description: str | None = Field(description="Details in the requested language")
    url: str | None = Field(description="More information")
    cause: str = Field(description="GTFS-RT cause", examples=["CONSTRUCTION"])
    effect: str = Field(description="GTFS-RT effect", examples=["DETOUR"])
    active_periods: list[list[datetime | None]] = Field(
        description="[start, end] pairs; null means open-ended"
    )
    line_ids: list[str] = Field(description="Lines concerned")
    stop_ids: list[str] = Field(description="Stops concerned")
    trip_ids: list[str] = Field(description="Trips concerned")
    updated_at: datetime = Field(description="Last change seen in the feed")


class AlertList(Schema):
    items: list[Alert] = Field(description="Alerts active now")


class FeedHealth(Schema):
    name: str = Field(description="Feed name, kind:operator", examples=["trip_updates:TCAR"])
    kind: str = Field(description="trip_updates, vehicle_positions or alerts")
    healthy: bool = Field(description="Last poll succeeded and the data is fresh")
    last_success_at: datetime | None = Field(description="Last successful poll")
    age_seconds: float | None = Field(description="Age of the snapshot (its header timestamp)")
    entity_count: int | None = Field(description="Entities in the snapshot")
    consecutive_errors: int = Field(description="Failed polls since the last success")
    errors_total: int = Field(description="Failed polls counted since the snapshot store began")
    last_error: str | None = Field(description="Why the last failed poll failed")
    last_error_at: datetime | None = Field(description="When the last poll failed")
    unmatched_trips: int | None = Field(
        description="TripUpdates whose trip is not in the timetable (TripUpdates feeds only)"
    )


class TransportHealth(Schema):
    timetable_version: int | None = Field(description="Active GTFS version, null before import")
    timetable_valid_until: date | None = Field(description="Last day covered by the timetable")
    realtime_available: bool = Field(description="At least one fresh TripUpdates feed")
    feeds: list[FeedHealth] = Field(description="Every configured GTFS-RT feed")


class FollowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["stop", "line"] = Field(description="What to follow")
    id: str = Field(min_length=1, max_length=200, description="stop_id or route_id")


class Follow(Schema):
    id: str = Field(description="Follow id")
    kind: Literal["stop", "line"] = Field(description="stop or line")
    target_id: str = Field(description="The followed stop_id or route_id")
    created_at: datetime = Field(description="When it was followed")


class FollowList(Schema):
    items: list[Follow] = Field(description="What the caller follows")
