"""ServiceAlerts: mapped to lines and stops, FR/EN, diffed between polls, events recorded once."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api.config import Settings
from poche_api.jobs import JobContext
from poche_api.transport.tasks import alert_changed, poll_all
from tests.transport.conftest import SimControl

pytestmark = pytest.mark.usefixtures("timetable", "clean_alerts")


async def _poll(
    settings: Settings, redis: Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> list[uuid.UUID]:
    async with httpx.AsyncClient() as http:
        _, events = await poll_all(settings, http, redis, sessionmaker)
    return events


async def _events(engine: AsyncEngine) -> list[tuple[str, int, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT kind, revision, status FROM transport_alert_events ORDER BY revision")
        )
        return [(row.kind, row.revision, row.status) for row in rows]


async def test_new_changed_and_resolved_alerts_are_recorded_once_each(
    sim: SimControl,
    sim_settings: Settings,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    await sim.set(now=datetime.now(UTC).replace(microsecond=0))

    first = await _poll(sim_settings, redis, sessionmaker)
    again = await _poll(sim_settings, redis, sessionmaker)
    await sim.set(alert_variant=1)
    changed = await _poll(sim_settings, redis, sessionmaker)
    await sim.set(alert_variant=2)
    resolved = await _poll(sim_settings, redis, sessionmaker)
    after = await _poll(sim_settings, redis, sessionmaker)

    assert (len(first), len(again), len(changed), len(resolved), len(after)) == (1, 0, 1, 1, 0)
    assert await _events(engine) == [
        ("new", 1, "pending"),
        ("changed", 2, "pending"),
        ("resolved", 3, "pending"),
    ]
    async with engine.connect() as connection:
        queued = await connection.scalar(
            text("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'transport.alert_changed'")
        )
    assert queued == 3


async def test_a_disruption_is_pushed_once_to_its_line_and_stop_followers(
    sim: SimControl,
    sim_settings: Settings,
    settings: Settings,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    await sim.set(now=datetime.now(UTC).replace(microsecond=0))
    [event_id] = await _poll(sim_settings, redis, sessionmaker)
    async with engine.begin() as connection:
        event = (
            await connection.execute(
                text("SELECT route_ids, stop_ids FROM transport_alert_events WHERE id = :id"),
                {"id": event_id},
            )
        ).one()
        target = event.stop_ids[0] if event.stop_ids else event.route_ids[0]
        await connection.execute(
            text(
                "INSERT INTO transport_follows (id, principal_id, kind, target_id, created_at) "
                "VALUES (:id, 'device:rider', :kind, :target, now())"
            ),
            {"id": uuid.uuid4(), "kind": "stop" if event.stop_ids else "line", "target": target},
        )
    async with httpx.AsyncClient() as http:
        context = JobContext(
            job_id=1,
            attempt=1,
            settings=settings,
            sessionmaker=sessionmaker,
            redis=redis,
            http=http,
        )
        await alert_changed(context, {"event_id": str(event_id)})
        await alert_changed(context, {"event_id": str(event_id)})  # never repeated

    assert await _events(engine) == [("new", 1, "notified")]
    async with engine.connect() as connection:
        pushed = (
            await connection.execute(
                text("SELECT kind, target_type, target, params FROM push_notifications")
            )
        ).all()
        deliveries = await connection.scalar(
            text("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'notifications.deliver'")
        )
    by_target = {(row.target_type, row.target): row for row in pushed}
    assert {("topic", f"line-{r.replace(':', '_')}") for r in event.route_ids} | {
        ("principal", "device:rider")
    } == set(by_target)
    rider = by_target[("principal", "device:rider")]
    assert rider.kind == "transport_disruption"
    assert rider.params["title_fr"].startswith("Ligne ")
    assert rider.params["title_en"].startswith("Line ")
    assert deliveries == len(pushed)


async def test_alerts_are_served_per_line_and_stop_in_french_or_english(
    sim: SimControl,
    sim_settings: Settings,
    app_redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    transport_client: httpx.AsyncClient,
) -> None:
    await sim.set(now=datetime.now(UTC).replace(microsecond=0))
    await _poll(sim_settings, app_redis, sessionmaker)

    french = (await transport_client.get("/v1/transport/alerts")).json()["items"]
    english = (
        await transport_client.get(
            "/v1/transport/lines/TCAR:91/alerts", headers={"Accept-Language": "en"}
        )
    ).json()["items"]
    at_stop = (await transport_client.get("/v1/transport/stops/TCAR:HDV/alerts")).json()
    elsewhere = (await transport_client.get("/v1/transport/stops/TCAR:JJA/alerts")).json()
    other_line = (await transport_client.get("/v1/transport/lines/TCAR:90/alerts")).json()

    assert [a["header"] for a in french] == [
        "Travaux : l'arrêt Hôtel de Ville n'est pas desservi par le T1"
    ]
    assert english[0]["header"] == "Roadworks: the T1 does not serve the Hôtel de Ville stop"
    assert english[0]["effect"] == "DETOUR"
    assert english[0]["line_ids"] == ["TCAR:91"]
    assert len(at_stop["items"]) == 1
    assert elsewhere["items"] == other_line["items"] == []


async def test_an_alert_outside_its_active_period_is_not_shown(
    sim: SimControl,
    sim_settings: Settings,
    app_redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    transport_client: httpx.AsyncClient,
) -> None:
    await sim.set(now=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))  # its period ended weeks ago
    await _poll(sim_settings, app_redis, sessionmaker)

    listed = (await transport_client.get("/v1/transport/alerts")).json()

    assert listed["items"] == []
