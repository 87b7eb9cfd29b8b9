"""Delivery through firebase-admin to the FCM simulator over HTTP, run by the real job worker."""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.config import Settings
from poche_api.models import PushNotification
from poche_api.notifications import service, tasks
from poche_api.notifications.service import Target
from tests.fcm_server import FcmControl
from tests.notifications.conftest import DeviceMaker, run_jobs, statuses

ROOT = Path(__file__).resolve().parents[2]
REPORT = {"reference": "R-42", "status": "resolved"}


async def notify(
    committed: async_sessionmaker[AsyncSession],
    target: Target,
    *,
    kind: str = "incident_update",
    template: str = "report_status",
    params: dict[str, str] | None = None,
) -> PushNotification:
    async with committed() as session:
        notification = await service.notify(
            session,
            kind=kind,
            template=template,
            params=params or REPORT,
            target=target,
            deep_link="poche://reports/R-42",
        )
        await session.commit()
    return notification


async def drop_topic_syncs(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM pgqueuer WHERE entrypoint = 'notifications.sync_topics'")
        )


async def one(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def test_a_notification_reaches_each_device_of_a_principal_once(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    tokens = [(await make_device("alice", f"phone{i}"))[1] for i in range(3)]
    await make_device("bob", "bobs")
    await run_jobs(push_resources, engine)  # topic syncs

    notification = await notify(committed, Target(principal="alice"))
    await run_jobs(push_resources, engine)

    stats = await fcm.stats()
    assert stats["delivered"] == dict.fromkeys(tokens, 1)
    assert await statuses(engine) == dict.fromkeys(tokens, "sent")
    sent = stats["last_messages"][-1]
    assert sent["notification"]["title"] == "Votre signalement R-42"
    assert sent["data"] == {
        "kind": "incident_update",
        "notification_id": str(notification.id),
        "link": "poche://reports/R-42",
    }
    assert "ttl" not in sent["android"]  # a report update does not expire
    assert (
        await one(
            engine, "SELECT sent_count FROM push_notifications WHERE id = :id", id=notification.id
        )
        == 3
    )
    assert (
        await one(engine, "SELECT count(*) FROM push_deliveries WHERE fcm_message_id IS NOT NULL")
        == 3
    )


async def test_a_departure_alert_carries_its_expiry_and_english_text(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    installation, _ = await make_device("carol", "carol", language="en", transport_stops=["S1"])
    params = {
        "line": "T1",
        "minutes": "4",
        "stop": "S1",
        "stop_name": "Théâtre des Arts",
        "headsign": "Mont-Riboudet",
    }

    await notify(
        committed,
        Target(installation_id=installation),
        kind="transport_departure",
        template="departure_soon",
        params=params,
    )
    await run_jobs(push_resources, engine)

    sent = (await fcm.stats())["last_messages"][-1]
    assert sent["notification"]["title"] == "Line T1: leaves in 4 min"
    assert sent["android"]["priority"] == "high"
    assert sent["android"]["collapse_key"] == "departure-S1"
    assert 590 <= float(sent["android"]["ttl"].rstrip("s")) <= 600


async def test_unregistered_tokens_are_pruned_and_not_tried_again(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    _, good = await make_device("dan", "dan-new")
    _, stale = await make_device("dan", "dan-old")
    await run_jobs(push_resources, engine)
    await fcm("unregister", tokens=[stale])

    await notify(committed, Target(principal="dan"))
    await run_jobs(push_resources, engine)
    await notify(committed, Target(principal="dan"))
    await run_jobs(push_resources, engine)

    assert (await fcm.stats())["delivered"] == {good: 2}
    assert (await fcm.stats())["errors"]["UNREGISTERED"] == 1  # tried once, then pruned
    reason = await one(
        engine, "SELECT disabled_reason FROM push_registrations WHERE token = :t", t=stale
    )
    assert reason == "unregistered"


async def test_a_503_storm_is_ridden_out_without_loss_or_duplicate(
    committed: async_sessionmaker[AsyncSession],
    make_devices: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    tokens = await make_devices("erin", 120, crisis=False)
    await drop_topic_syncs(engine)  # these devices follow no topic: the syncs would be no-ops
    await fcm("storm", requests=130)

    await notify(committed, Target(principal="erin"))
    await run_jobs(push_resources, engine, within=60)

    stats = await fcm.stats()
    assert stats["errors"]["UNAVAILABLE"] == 130
    assert stats["delivered"] == dict.fromkeys(tokens, 1)
    assert stats["duplicates"] == []
    assert set((await statuses(engine)).values()) == {"sent"}


async def test_quota_exceeded_waits_for_retry_after(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    _, token = await make_device("fay", "fay")
    await run_jobs(push_resources, engine)
    await fcm("quota", requests=1, retry_after=2)

    asked = datetime.now(UTC)
    await notify(committed, Target(principal="fay"))
    await run_jobs(push_resources, engine)

    sent_at = await one(engine, "SELECT sent_at FROM push_deliveries")
    assert isinstance(sent_at, datetime)
    assert sent_at - asked >= timedelta(seconds=2)
    assert (await fcm.stats())["delivered"] == {token: 1}


async def test_third_party_auth_errors_fail_without_retry_and_raise_an_alert(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    _, token = await make_device("gus", "gus-iphone")
    await run_jobs(push_resources, engine)
    await fcm("third-party-auth", tokens=[token])
    before = tasks.THIRD_PARTY_AUTH._value.get()

    await notify(committed, Target(principal="gus"))
    await run_jobs(push_resources, engine)

    assert (await fcm.stats())["errors"] == {"THIRD_PARTY_AUTH_ERROR": 1}
    assert await statuses(engine) == {token: "failed"}
    assert tasks.THIRD_PARTY_AUTH._value.get() == before + 1
    assert await one(engine, "SELECT enabled FROM push_registrations") is True


async def test_quiet_hours_defer_all_but_crisis_alerts(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    zone = "America/Cayenne"  # the device's zone decides, not Paris
    local = datetime.now(ZoneInfo(zone))
    start = (local - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    installation, token = await make_device(
        "hal", "hal", time_zone=zone, quiet_hours_enabled=True, quiet_start=start, quiet_end=end
    )
    await run_jobs(push_resources, engine)

    await notify(committed, Target(installation_id=installation))
    crisis = await notify(
        committed,
        Target(installation_id=installation),
        kind="crisis",
        template="free_text",
        params={"title_fr": "Alerte", "body_fr": "Crue", "title_en": "Alert", "body_en": "Flood"},
    )
    await run_jobs(push_resources, engine)

    assert (await fcm.stats())["delivered"] == {token: 1}
    assert (await fcm.stats())["last_messages"][-1]["data"]["notification_id"] == str(crisis.id)
    deferred_until = await one(
        engine, "SELECT deliver_after FROM push_deliveries WHERE status = 'deferred'"
    )
    assert isinstance(deferred_until, datetime)
    expected = datetime.combine(
        (local + timedelta(hours=1)).date(), end, tzinfo=ZoneInfo(zone)
    ).astimezone(UTC)
    assert deferred_until == expected
    later = await one(
        engine,
        "SELECT execute_after FROM pgqueuer WHERE entrypoint = 'notifications.deliver' "
        "AND status = 'queued'",
    )
    assert isinstance(later, datetime)
    assert abs((later - expected).total_seconds()) < 5


async def test_the_daily_cap_holds_but_crisis_alerts_pass(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    installation, token = await make_device("ivy", "ivy", daily_cap=2)
    await run_jobs(push_resources, engine)

    for _ in range(3):
        await notify(committed, Target(installation_id=installation))
        await run_jobs(push_resources, engine)
    await notify(
        committed,
        Target(installation_id=installation),
        kind="crisis",
        template="free_text",
        params={"title_fr": "Alerte", "body_fr": "Crue", "title_en": "Alert", "body_en": "Flood"},
    )
    await run_jobs(push_resources, engine)

    assert (await fcm.stats())["delivered"] == {token: 3}
    capped = await one(
        engine, "SELECT count(*) FROM push_deliveries WHERE error_code = 'daily_cap'"
    )
    assert capped == 1
    assert await one(engine, "SELECT count(*) FROM push_inbox WHERE owner = 'ivy'") == 4


async def test_a_killed_worker_loses_nothing_and_resends_nothing_recorded(
    committed: async_sessionmaker[AsyncSession],
    make_devices: DeviceMaker,
    push_resources: jobs.WorkerResources,
    push_settings: Settings,
    engine: AsyncEngine,
    fcm: FcmControl,
    database_url: str,
) -> None:
    tokens = await make_devices("jo", 300, crisis=False)
    await drop_topic_syncs(engine)  # these devices follow no topic: the syncs would be no-ops
    await fcm("latency", seconds=0.25)
    await notify(committed, Target(principal="jo"))
    env = {
        **os.environ,
        "POCHE_ENV": "test",
        "POCHE_DATABASE_URL": database_url,
        "POCHE_FCM_BASE_URL": str(push_settings.fcm_base_url),
        "POCHE_PUSH_BATCH_SIZE": "50",
        "POCHE_JOB_HEARTBEAT_SECONDS": "2",
        "POCHE_LOG_LEVEL": "WARNING",
    }
    env.pop("POCHE_REDIS_URL", None)
    worker = subprocess.Popen(  # noqa: ASYNC220 - killed below, never awaited
        [sys.executable, "-c", "from poche_api.cli import main; main()", "worker"],
        cwd=ROOT,
        env=env,
    )
    try:
        async with asyncio.timeout(40):
            while True:
                sent = await one(engine, "SELECT count(*) FROM push_deliveries WHERE status='sent'")
                assert isinstance(sent, int)
                if sent >= 100:
                    break
                await asyncio.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    recorded = {token for token, status in (await statuses(engine)).items() if status == "sent"}
    assert 100 <= len(recorded) < 300
    await fcm("latency", seconds=0)

    await run_jobs(push_resources, engine, within=60)

    stats = await fcm.stats()
    assert set(stats["delivered"]) == set(tokens)  # nothing lost
    assert set((await statuses(engine)).values()) == {"sent"}
    assert all(stats["delivered"][token] == 1 for token in recorded)  # nothing recorded resent
    assert len(stats["duplicates"]) <= 50  # at most the one batch in flight at the kill


async def test_a_dead_runs_lease_delays_the_next_run_but_loses_nothing(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    _, token = await make_device("kai", "kai")
    await run_jobs(push_resources, engine)
    notification = await notify(committed, Target(principal="kai"))
    # What a worker killed mid-send leaves behind in a shared Redis.
    await push_resources.redis.set(f"push:lease:{notification.id}", "dead-worker", ex=3)

    await run_jobs(push_resources, engine)

    assert (await fcm.stats())["delivered"] == {token: 1}
    assert await statuses(engine) == {token: "sent"}
    waited = await one(
        engine,
        "SELECT d.sent_at - n.created_at FROM push_deliveries d "
        "JOIN push_notifications n ON n.id = d.notification_id",
    )
    assert isinstance(waited, timedelta)
    assert waited >= timedelta(seconds=2)  # it did not send while the lease was held
