"""Real-time merge, polled from the transit simulator over HTTP."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from poche_api.config import Settings
from poche_api.simulators import transit
from poche_api.transport import realtime
from poche_api.transport.schemas import Departure, DepartureBoard
from poche_api.transport.service import TransportService
from poche_api.transport.tasks import poll_all
from tests.transport.conftest import SimControl

pytestmark = pytest.mark.usefixtures("timetable", "clean_alerts")
ServiceFactory = Callable[..., TransportService]
# Wednesday 25 November 2026, 08:00 in Rouen: weekday service, every line running.
T = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


async def _poll(
    sim_settings: Settings,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, realtime.PollOutcome]:
    async with httpx.AsyncClient() as http:
        outcomes, _ = await poll_all(sim_settings, http, redis, sessionmaker)
    return outcomes


def _of(board: DepartureBoard, trip_id: str) -> Departure:
    [departure] = [d for d in board.departures if d.trip_id == trip_id]
    return departure


def _stop(trip_id: str, index: int) -> str:
    return transit.network().by_id()[trip_id].times[index][0]


class TestMerge:
    async def test_delays_cancellation_skipped_and_no_data_stops_and_added_trips(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        service_factory: ServiceFactory,
    ) -> None:
        await sim.set(now=T)
        outcomes = await _poll(sim_settings, redis, sessionmaker)
        assert outcomes["trip_updates:TCAR"].status is realtime.PollStatus.updated
        plan = await sim.scenario()
        service = service_factory()

        cancelled = plan["cancelled"]
        board = await service.departures(_stop(cancelled, 0), now=T, limit=50)
        gone = _of(board, cancelled)
        assert (gone.status, gone.expected_at, gone.scheduled_at is not None) == (
            "cancelled",
            None,
            True,
        )

        skipped_trip, skipped_stop = plan["skipped"]
        skipped = _of(await service.departures(skipped_stop, now=T, limit=50), skipped_trip)
        assert (skipped.status, skipped.expected_at) == ("skipped", None)
        delay = plan["delays"][skipped_trip]
        # The stop before it has no update of its own: the first stop's delay is propagated.
        before = _of(
            await service.departures(_stop(skipped_trip, 1), now=T, limit=50), skipped_trip
        )
        assert (before.status, before.delay_seconds) == ("estimated", delay)
        after = _of(await service.departures(_stop(skipped_trip, 3), now=T, limit=50), skipped_trip)
        assert (after.status, after.delay_seconds) == ("realtime", delay)
        assert after.scheduled_at is not None
        assert after.expected_at == after.scheduled_at + timedelta(seconds=delay)
        assert after.realtime_age_seconds == 0

        no_data_trip, no_data_stop = plan["no_data"]
        no_data = _of(await service.departures(no_data_stop, now=T, limit=50), no_data_trip)
        assert (no_data.status, no_data.expected_at) == ("scheduled", no_data.scheduled_at)

        added = _of(await service.departures("TCAR:TDA", now=T, limit=50), plan["added_trip"])
        assert added.status == "realtime"
        assert added.scheduled_at is None
        assert added.line.short_name == "T1"
        assert added.headsign == "Campus"

    async def test_trips_absent_from_the_timetable_are_counted(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        service_factory: ServiceFactory,
    ) -> None:
        await sim.set(now=T)
        await _poll(sim_settings, redis, sessionmaker)

        health = await service_factory().health()

        [trip_updates] = [f for f in health.feeds if f.name == "trip_updates:TCAR"]
        assert trip_updates.unmatched_trips == 1  # TCAR:999999
        gauge = REGISTRY.get_sample_value(
            "poche_transport_rt_unmatched_trips", {"feed": "trip_updates:TCAR"}
        )
        assert gauge == 1

    async def test_a_line_outside_the_trusted_list_is_only_estimated(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        service_factory: ServiceFactory,
    ) -> None:
        await sim.set(now=T)
        await _poll(sim_settings, redis, sessionmaker)
        plan = await sim.scenario()
        skipped_trip, _ = plan["skipped"]
        untrusting = sim_settings.model_copy(update={"transport_trusted_lines": ["TCAR:91"]})

        board = await service_factory(untrusting).departures(
            _stop(skipped_trip, 3), now=T, limit=50
        )

        assert _of(board, skipped_trip).status == "estimated"  # the metro is not trusted


class TestFailures:
    async def test_a_feed_that_goes_down_keeps_its_snapshot_then_falls_back_to_scheduled(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        service_factory: ServiceFactory,
    ) -> None:
        await sim.set(now=T)
        await _poll(sim_settings, redis, sessionmaker)
        cancelled = (await sim.scenario())["cancelled"]
        await sim.set(down=True)

        outcomes = await _poll(sim_settings, redis, sessionmaker)

        assert outcomes["trip_updates:TCAR"].status is realtime.PollStatus.failed
        service = service_factory()
        [health] = [f for f in (await service.health()).feeds if f.name == "trip_updates:TCAR"]
        assert health.consecutive_errors == 1
        assert health.last_error == "http: 503"
        assert health.entity_count is not None
        assert health.entity_count > 10
        assert health.age_seconds is not None
        assert health.age_seconds > 0
        stop = _stop(cancelled, 0)
        soon = await service.departures(stop, now=T + timedelta(seconds=60), limit=50)
        assert soon.realtime_available
        assert soon.realtime_age_seconds == 60
        assert _of(soon, cancelled).status == "cancelled"
        stale_at = T + timedelta(seconds=sim_settings.transport_stale_seconds + 1)
        stale = await service.departures(stop, now=stale_at, limit=50)
        assert not stale.realtime_available
        assert stale.realtime_age_seconds == sim_settings.transport_stale_seconds + 1
        assert {d.status for d in stale.departures} == {"scheduled"}

    async def test_a_malformed_protobuf_marks_the_feed_unhealthy_and_the_api_answers(
        self,
        sim: SimControl,
        sim_settings: Settings,
        app_redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        transport_client: httpx.AsyncClient,
    ) -> None:
        await sim.set(now=datetime.now(UTC).replace(microsecond=0))
        await _poll(sim_settings, app_redis, sessionmaker)
        await sim.set(malformed=True)

        outcomes = await _poll(sim_settings, app_redis, sessionmaker)

        assert outcomes["trip_updates:TCAR"].error == "malformed"
        health = await transport_client.get("/v1/transport/health")
        assert health.status_code == 200
        feeds = {feed["name"]: feed for feed in health.json()["feeds"]}
        assert feeds["trip_updates:TCAR"]["healthy"] is False
        assert feeds["trip_updates:TCAR"]["last_error"].startswith("malformed")
        assert feeds["trip_updates:TCAR"]["entity_count"] is not None  # last good snapshot
        departures = await transport_client.get("/v1/transport/stops/TCAR:TDA/departures")
        assert departures.status_code == 200
        assert departures.json()["realtime_available"] is True  # the last good snapshot serves


class TestVehicles:
    async def test_moving_vehicles_are_shown_and_old_positions_hidden(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        service_factory: ServiceFactory,
    ) -> None:
        await sim.set(now=T)
        await _poll(sim_settings, redis, sessionmaker)
        service = service_factory()

        now = await service.vehicles("TCAR:90", now=T)
        later = await service.vehicles("TCAR:90", now=T + timedelta(minutes=4))

        assert len(now.items) >= 4
        assert transit.STALE_VEHICLE_ID not in {v.id for v in now.items}
        assert all(v.age_seconds == 0 for v in now.items)
        assert all(49.3 < v.lat < 49.5 and 1.0 < v.lon < 1.2 for v in now.items)
        assert later.items == []


class TestPolling:
    async def test_an_unchanged_feed_is_not_downloaded_again(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        await sim.set(now=T)

        first = await _poll(sim_settings, redis, sessionmaker)
        second = await _poll(sim_settings, redis, sessionmaker)

        assert first["trip_updates:TCAR"].status is realtime.PollStatus.updated
        assert second["trip_updates:TCAR"].status is realtime.PollStatus.not_modified  # ETag

    async def test_a_message_older_than_the_snapshot_is_refused(
        self,
        sim: SimControl,
        sim_settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        service_factory: ServiceFactory,
    ) -> None:
        await sim.set(now=T)
        await _poll(sim_settings, redis, sessionmaker)
        await sim.set(now=T - timedelta(minutes=5))  # a lagging server behind a load balancer

        outcomes = await _poll(sim_settings, redis, sessionmaker)

        assert outcomes["trip_updates:TCAR"].error == "older"
        [health] = [
            f for f in (await service_factory().health()).feeds if f.name == "trip_updates:TCAR"
        ]
        assert health.last_error == "header timestamp older than the snapshot"
