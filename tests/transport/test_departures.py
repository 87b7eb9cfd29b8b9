"""Departures from the timetable: DST days, the service-day boundary, calendar_dates."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.transport.gtfs import import_gtfs
from poche_api.transport.service import TransportService
from tests.transport.conftest import SHARED_TRANSIT

pytestmark = pytest.mark.usefixtures("timetable")
ServiceFactory = Callable[[], TransportService]


async def test_first_metro_on_the_spring_dst_sunday_leaves_at_6_local(
    service_factory: ServiceFactory,
) -> None:
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST. Sunday service starts at 06:00.
    board = await service_factory().departures(
        "TCAR:BOUL", now=datetime(2026, 3, 29, 3, 50, tzinfo=UTC), limit=3
    )

    first = board.departures[0]
    assert first.scheduled_at == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)  # 06:00 CEST
    assert first.service_date.isoformat() == "2026-03-29"
    assert first.status == "scheduled"
    assert first.line.short_name == "M"
    assert first.line.color == "E2001A"


async def test_first_metro_on_the_autumn_dst_sunday_leaves_at_6_local(
    service_factory: ServiceFactory,
) -> None:
    # 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET; the day has 25 hours.
    board = await service_factory().departures(
        "TCAR:BOUL", now=datetime(2026, 10, 25, 4, 30, tzinfo=UTC), limit=1
    )

    assert board.departures[0].scheduled_at == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)


async def test_a_trip_past_midnight_belongs_to_the_previous_service_day(
    service_factory: ServiceFactory,
) -> None:
    # Saturday 2026-03-28, 00:25 on Sunday local: the 24:30 Saturday metro is still to come,
    # even though Sunday is the calendar day and the DST switch happens that night.
    board = await service_factory().departures(
        "TCAR:BOUL", now=datetime(2026, 3, 28, 23, 25, tzinfo=UTC), limit=2, horizon_minutes=400
    )

    first = board.departures[0]
    assert first.service_date.isoformat() == "2026-03-28"
    assert first.scheduled_at == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # "24:30:00"
    # Then nothing until Sunday's first metro at 06:00 CEST.
    assert board.departures[1].scheduled_at == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)


async def test_a_public_holiday_runs_the_sunday_service(service_factory: ServiceFactory) -> None:
    service = service_factory()
    christmas = await service.departures(
        "TCAR:HDV", now=datetime(2026, 12, 25, 9, 0, tzinfo=UTC), limit=50, horizon_minutes=120
    )
    day_before = await service.departures(
        "TCAR:HDV", now=datetime(2026, 12, 24, 9, 0, tzinfo=UTC), limit=50, horizon_minutes=120
    )

    assert "F1" not in {d.line.short_name for d in christmas.departures}  # weekday-only line
    assert "F1" in {d.line.short_name for d in day_before.departures}
    # The T1 runs its Sunday headway (20 min) instead of the weekday one (12 min).
    t1_christmas = [d for d in christmas.departures if d.line.short_name == "T1"]
    t1_before = [d for d in day_before.departures if d.line.short_name == "T1"]
    assert 0 < len(t1_christmas) < len(t1_before)


async def test_the_terminus_is_not_a_departure(service_factory: ServiceFactory) -> None:
    board = await service_factory().departures(
        "TCAR:TEC", now=datetime(2026, 11, 25, 9, 0, tzinfo=UTC), limit=10
    )

    assert board.departures
    assert {d.headsign for d in board.departures} == {"Boulingrin"}


@pytest.mark.skipif(
    not (SHARED_TRANSIT / "bullrunner-gtfs.zip").exists(),
    reason="../shared/data/transit/bullrunner-gtfs.zip is not there (real feed samples)",
)
async def test_frequency_based_trips_are_expanded_by_their_headway(
    session: AsyncSession, service_factory: ServiceFactory
) -> None:
    # Inside the test's transaction (rolled back): the real Bull Runner feed, Tampa time.
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    await import_gtfs(driver, SHARED_TRANSIT / "bullrunner-gtfs.zip", source="bullrunner")

    # Monday 4 March 2019, 08:00 in Tampa (EST): route A runs every 600 s from 07:00.
    board = await service_factory().departures(
        "230", now=datetime(2019, 3, 4, 13, 0, tzinfo=UTC), limit=50, horizon_minutes=30
    )

    route_a = [d.scheduled_at for d in board.departures if d.line.id == "A"]
    assert route_a[:3] == [
        datetime(2019, 3, 4, 13, 1, 4, tzinfo=UTC),  # 08:01:04: the 08:00 run + 64 s
        datetime(2019, 3, 4, 13, 11, 4, tzinfo=UTC),
        datetime(2019, 3, 4, 13, 21, 4, tzinfo=UTC),
    ]
