"""Departures from the timetable: DST days, the service-day boundary, calendar_dates."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from poche_api.transport.service import TransportService

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
