"""Every transport query: the active GTFS version, stops, lines, departures, alerts, follows."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, delete, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.kit.geo import BBox
from poche_api.models import (
    FeedSource,
    FeedVersion,
    Route,
    ShapePoint,
    Stop,
    TransportAlert,
    TransportAlertEvent,
    TransportFollow,
)

# A stop's departures: the patterns calling there, then their trips' times at that position.
_DEPARTURE_COLUMNS = (
    "tt.trip_id, tt.stop_sequences[ps.position] AS stop_sequence, ps.stop_id, "
    "tt.departure_seconds[ps.position] AS departure_seconds, "
    "tt.stop_headsigns[ps.position] AS stop_headsign, "
    "t.route_id, t.headsign, t.direction_id, t.wheelchair_accessible, "
    # A trip's start: its first stop's departure (GTFS requires times there).
    "tt.departure_seconds[1] AS start_seconds, "
    "r.short_name, r.long_name, r.color, r.text_color, r.route_type"
)
_DEPARTURE_JOINS = (
    "FROM transport_pattern_stops ps "
    "JOIN transport_trip_times tt ON tt.feed_version = ps.feed_version "
    "AND tt.pattern_id = ps.pattern_id "
    "JOIN transport_trips t ON t.feed_version = tt.feed_version AND t.trip_id = tt.trip_id "
    "JOIN transport_routes r ON r.feed_version = t.feed_version AND r.route_id = t.route_id "
)
_DEPARTURE_WHERE = (
    "WHERE ps.feed_version = :v AND ps.stop_id = ANY(:stops) AND t.service_id = ANY(:services) "
    "AND coalesce(tt.pickup_types[ps.position], 0) <> 1 "
    # A trip's last stop is an arrival, not a departure.
    "AND NOT ps.last "
)
_HAS_FREQUENCIES = (
    "EXISTS (SELECT 1 FROM transport_frequencies f WHERE f.feed_version = tt.feed_version "
    "AND f.trip_id = tt.trip_id)"
)


class TransportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> "TransportRepository":
        return cls(session)

    # --- GTFS ---------------------------------------------------------------------------------

    async def active_version(self) -> FeedVersion | None:
        return await self.session.scalar(select(FeedVersion).where(FeedVersion.active))

    async def search_stops(self, version: int, prefix: str, limit: int) -> Sequence[Stop]:
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = (
            select(Stop)
            .where(
                Stop.feed_version == version,
                Stop.parent_station.is_(None),
                Stop.name_normalized.like(like, escape="\\")
                | Stop.name_normalized.like("% " + like, escape="\\"),
            )
            .order_by(Stop.name_normalized.like(like, escape="\\").desc(), Stop.name, Stop.stop_id)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def stops_in_bbox(self, version: int, box: BBox) -> Sequence[Stop]:
        statement = select(Stop).where(
            Stop.feed_version == version,
            Stop.location_type.in_((0, 1)),
            Stop.lat.between(box.min_lat, box.max_lat),
            Stop.lon.between(box.min_lon, box.max_lon),
        )
        return (await self.session.scalars(statement)).all()

    async def stop(self, version: int, stop_id: str) -> Stop | None:
        return await self.session.get(Stop, (version, stop_id))

    async def child_stop_ids(self, version: int, stop_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(Stop.stop_id).where(Stop.feed_version == version, Stop.parent_station == stop_id)
        )
        return list(rows)

    async def routes_at_stops(self, version: int, stop_ids: list[str]) -> Sequence[Route]:
        statement = select(Route).where(
            Route.feed_version == version,
            Route.route_id.in_(
                text(
                    "SELECT DISTINCT t.route_id FROM transport_pattern_stops ps "
                    "JOIN transport_trip_times tt ON tt.feed_version = ps.feed_version "
                    "AND tt.pattern_id = ps.pattern_id "
                    "JOIN transport_trips t ON t.feed_version = tt.feed_version "
                    "AND t.trip_id = tt.trip_id WHERE ps.feed_version = :v "
                    "AND ps.stop_id = ANY(:stops)"
                ).bindparams(v=version, stops=stop_ids)
            ),
        )
        return (
            await self.session.scalars(statement.order_by(Route.sort_order, Route.route_id))
        ).all()

    async def routes(self, version: int) -> Sequence[Route]:
        statement = (
            select(Route)
            .where(Route.feed_version == version)
            .order_by(Route.sort_order, Route.short_name, Route.route_id)
        )
        return (await self.session.scalars(statement)).all()

    async def routes_by_id(self, version: int, route_ids: list[str]) -> dict[str, Route]:
        statement = select(Route).where(
            Route.feed_version == version, Route.route_id.in_(route_ids)
        )
        return {route.route_id: route for route in await self.session.scalars(statement)}

    async def stops_by_id(self, version: int, stop_ids: list[str]) -> dict[str, Stop]:
        statement = select(Stop).where(Stop.feed_version == version, Stop.stop_id.in_(stop_ids))
        return {stop.stop_id: stop for stop in await self.session.scalars(statement)}

    async def route(self, version: int, route_id: str) -> Route | None:
        return await self.session.get(Route, (version, route_id))

    async def route_patterns(self, version: int, route_id: str) -> list[Row[Any]]:
        """Per direction, the trip with the most stops: its stops in order and its shape."""
        rows = await self.session.execute(
            text(
                "WITH longest AS (SELECT DISTINCT ON (t.direction_id) t.trip_id, t.direction_id,"
                " t.shape_id, t.headsign, tt.pattern_id, tt.stop_sequences"
                " FROM transport_trips t JOIN transport_trip_times tt"
                " ON tt.feed_version = t.feed_version AND tt.trip_id = t.trip_id"
                " WHERE t.feed_version = :v AND t.route_id = :r"
                " ORDER BY t.direction_id, cardinality(tt.stop_sequences) DESC, t.trip_id)"
                " SELECT l.direction_id, l.shape_id, l.headsign,"
                " l.stop_sequences[ps.position] AS stop_sequence, s.stop_id,"
                " s.name, s.lat, s.lon FROM longest l"
                " JOIN transport_pattern_stops ps ON ps.feed_version = :v"
                " AND ps.pattern_id = l.pattern_id"
                " JOIN transport_stops s ON s.feed_version = :v AND s.stop_id = ps.stop_id"
                " ORDER BY l.direction_id, ps.position"
            ),
            {"v": version, "r": route_id},
        )
        return list(rows.all())

    async def shape(self, version: int, shape_id: str) -> list[tuple[float, float]]:
        rows = await self.session.execute(
            select(ShapePoint.lat, ShapePoint.lon)
            .where(ShapePoint.feed_version == version, ShapePoint.shape_id == shape_id)
            .order_by(ShapePoint.sequence)
        )
        return [(lat, lon) for lat, lon in rows.all()]

    async def services_on(self, version: int, day: date) -> list[str]:
        rows = await self.session.scalars(
            text(
                "SELECT service_id FROM transport_calendars WHERE feed_version = :v"
                " AND start_date <= :d AND end_date >= :d AND substr(weekdays, :dow, 1) = '1'"
                " UNION SELECT service_id FROM transport_calendar_dates"
                " WHERE feed_version = :v AND date = :d AND exception_type = 1"
                " EXCEPT SELECT service_id FROM transport_calendar_dates"
                " WHERE feed_version = :v AND date = :d AND exception_type = 2"
            ),
            {"v": version, "d": day, "dow": day.weekday() + 1},
        )
        return list(rows)

    async def departures(
        self,
        version: int,
        stop_ids: list[str],
        services: list[str],
        low: int,
        high: int,
        limit: int,
    ) -> list[Row[Any]]:
        rows = await self.session.execute(
            text(
                f"SELECT {_DEPARTURE_COLUMNS} {_DEPARTURE_JOINS} {_DEPARTURE_WHERE}"
                "AND tt.departure_seconds[ps.position] BETWEEN :lo AND :hi "
                f"AND NOT {_HAS_FREQUENCIES} "
                "ORDER BY tt.departure_seconds[ps.position], tt.trip_id LIMIT :limit"
            ),
            {
                "v": version,
                "stops": stop_ids,
                "services": services,
                "lo": low,
                "hi": high,
                "limit": limit,
            },
        )
        return list(rows.all())

    async def frequency_departures(
        self, version: int, stop_ids: list[str], services: list[str]
    ) -> list[Row[Any]]:
        """Stop times of frequency-based trips with their windows (expanded by the service)."""
        rows = await self.session.execute(
            text(
                f"SELECT {_DEPARTURE_COLUMNS}, f.start_seconds AS window_start,"
                f" f.end_seconds AS window_end, f.headway_seconds {_DEPARTURE_JOINS}"
                "JOIN transport_frequencies f ON f.feed_version = tt.feed_version"
                f" AND f.trip_id = tt.trip_id {_DEPARTURE_WHERE}"
            ),
            {"v": version, "stops": stop_ids, "services": services},
        )
        return list(rows.all())

    async def known_trip_ids(self, version: int, trip_ids: list[str]) -> set[str]:
        rows = await self.session.scalars(
            text(
                "SELECT trip_id FROM transport_trips WHERE feed_version = :v"
                " AND trip_id = ANY(:ids)"
            ),
            {"v": version, "ids": trip_ids},
        )
        return set(rows)

    async def trip_routes(self, version: int, trip_ids: list[str]) -> dict[str, str]:
        rows = await self.session.execute(
            text(
                "SELECT trip_id, route_id FROM transport_trips WHERE feed_version = :v"
                " AND trip_id = ANY(:ids)"
            ),
            {"v": version, "ids": trip_ids},
        )
        return {trip_id: route_id for trip_id, route_id in rows.all()}

    async def feed_source(self, url: str) -> FeedSource | None:
        return await self.session.get(FeedSource, url)

    async def save_feed_source(
        self, url: str, etag: str | None, last_modified: str | None, *, changed: bool, now: datetime
    ) -> None:
        values: dict[str, Any] = {
            "url": url,
            "etag": etag,
            "last_modified": last_modified,
            "checked_at": now,
        }
        if changed:
            values["changed_at"] = now
        statement = insert(FeedSource).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[FeedSource.url],
            set_={key: statement.excluded[key] for key in values if key != "url"},
        )
        await self.session.execute(statement)

    # --- Alerts -------------------------------------------------------------------------------

    async def alerts_of_feed(self, feed: str) -> dict[str, TransportAlert]:
        rows = await self.session.scalars(
            select(TransportAlert).where(TransportAlert.feed == feed).with_for_update()
        )
        return {alert.alert_id: alert for alert in rows}

    def add(self, entity: object) -> None:
        self.session.add(entity)

    async def insert_event(self, event: dict[str, Any]) -> uuid.UUID | None:
        """Record an alert event once; None when that revision was already recorded."""
        statement = (
            insert(TransportAlertEvent)
            .values(**event)
            .on_conflict_do_nothing(
                index_elements=[
                    TransportAlertEvent.feed,
                    TransportAlertEvent.alert_id,
                    TransportAlertEvent.revision,
                ]
            )
            .returning(TransportAlertEvent.id)
        )
        return await self.session.scalar(statement)

    async def event(self, event_id: uuid.UUID) -> TransportAlertEvent | None:
        return await self.session.get(TransportAlertEvent, event_id, with_for_update=True)

    async def alert(self, feed: str, alert_id: str) -> TransportAlert | None:
        return await self.session.get(TransportAlert, (feed, alert_id))

    async def followers(self, *, route_ids: list[str], stop_ids: list[str]) -> list[str]:
        """Principals following one of these lines or stops."""
        statement = (
            select(TransportFollow.principal_id)
            .where(
                or_(
                    (TransportFollow.kind == "line") & TransportFollow.target_id.in_(route_ids),
                    (TransportFollow.kind == "stop") & TransportFollow.target_id.in_(stop_ids),
                )
            )
            .distinct()
        )
        return list((await self.session.scalars(statement)).all())

    async def open_alerts(
        self, *, route_id: str | None = None, stop_ids: list[str] | None = None
    ) -> Sequence[TransportAlert]:
        statement = select(TransportAlert).where(TransportAlert.resolved_at.is_(None))
        if route_id is not None:
            statement = statement.where(TransportAlert.route_ids.contains([route_id]))
        if stop_ids is not None:
            statement = statement.where(TransportAlert.stop_ids.overlap(stop_ids))
        statement = statement.order_by(TransportAlert.updated_at.desc(), TransportAlert.alert_id)
        return (await self.session.scalars(statement)).all()

    # --- Follows ------------------------------------------------------------------------------

    async def follows(self, principal_id: str) -> Sequence[TransportFollow]:
        statement = (
            select(TransportFollow)
            .where(TransportFollow.principal_id == principal_id)
            .order_by(TransportFollow.created_at, TransportFollow.id)
        )
        return (await self.session.scalars(statement)).all()

    async def follow(self, principal_id: str, kind: str, target_id: str) -> TransportFollow:
        statement = (
            insert(TransportFollow)
            .values(id=uuid.uuid4(), principal_id=principal_id, kind=kind, target_id=target_id)
            .on_conflict_do_nothing(
                index_elements=[
                    TransportFollow.principal_id,
                    TransportFollow.kind,
                    TransportFollow.target_id,
                ]
            )
        )
        await self.session.execute(statement)
        found = await self.session.scalar(
            select(TransportFollow).where(
                TransportFollow.principal_id == principal_id,
                TransportFollow.kind == kind,
                TransportFollow.target_id == target_id,
            )
        )
        if found is None:  # pragma: no cover - inserted or already there just above
            raise RuntimeError("follow vanished")
        return found

    async def unfollow(self, principal_id: str, follow_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            delete(TransportFollow)
            .where(TransportFollow.id == follow_id, TransportFollow.principal_id == principal_id)
            .returning(TransportFollow.id)
        )
        return result.first() is not None
