"""A supervisor's crisis campaign goes out once per language topic, and its statistics show it."""

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.config import Settings
from poche_api.kit.timeutil import utcnow
from poche_api.notifications import service
from poche_api.notifications.schemas import CampaignIn
from poche_api.notifications.service import Target
from tests.fcm_server import FcmControl
from tests.notifications.conftest import run_jobs

FLOOD = CampaignIn(
    target_type="crisis",
    target_value="76540",
    crisis=True,
    title_fr="Alerte crue",
    body_fr="Quais bas fermés",
    title_en="Flood alert",
    body_en="Lower quays closed",
    deep_link="poche://crisis/flood",
)


async def test_a_crisis_campaign_reaches_both_language_topics_once(
    committed: async_sessionmaker[AsyncSession],
    push_resources: jobs.WorkerResources,
    push_settings: Settings,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    async with committed() as session:
        campaign = await service.create_campaign(session, push_settings, "operator", FLOOD)
        await service.send_campaign(session, campaign.id)
        await session.commit()

    await run_jobs(push_resources, engine)
    await run_jobs(push_resources, engine)

    stats = await fcm.stats()
    assert stats["delivered"] == {"/topics/crisis-76540.fr": 1, "/topics/crisis-76540.en": 1}
    by_topic = {m["topic"]: m["notification"]["title"] for m in stats["last_messages"]}
    assert by_topic == {"crisis-76540.fr": "Alerte crue", "crisis-76540.en": "Flood alert"}
    async with committed() as session:
        view = await service.campaign_view(session, campaign.id)
    assert (view.status, view.messages_sent, view.messages_failed) == ("sent", 2, 0)


async def test_old_notifications_and_their_logs_are_purged(
    committed: async_sessionmaker[AsyncSession],
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
) -> None:
    async with committed() as session:
        old = await service.notify(
            session,
            kind="incident_update",
            template="report_status",
            params={"reference": "R-1", "status": "ok"},
            target=Target(principal="nobody"),
        )
        recent = await service.notify(
            session,
            kind="incident_update",
            template="report_status",
            params={"reference": "R-2", "status": "ok"},
            target=Target(principal="nobody"),
        )
        old.created_at = utcnow() - timedelta(days=91)
        await session.commit()
    await run_jobs(push_resources, engine)
    async with committed() as session:
        await session.execute(text("TRUNCATE pgqueuer"))
        await jobs.enqueue(session, "notifications.purge_logs", {})
        await session.commit()

    await run_jobs(push_resources, engine)

    async with engine.connect() as connection:
        left = await connection.execute(text("SELECT id FROM push_notifications"))
        inbox = await connection.execute(text("SELECT count(*) FROM push_inbox"))
        assert [row.id for row in left] == [recent.id]
        assert inbox.scalar_one() == 1
