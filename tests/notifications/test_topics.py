"""FCM topics follow preference changes through firebase-admin's topic management."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.notifications import service
from poche_api.notifications.schemas import Preferences
from tests.fcm_server import FcmControl
from tests.notifications.conftest import DeviceMaker, run_jobs, token_for


async def topics_of(fcm: FcmControl, token: str) -> set[str]:
    topics: dict[str, list[str]] = (await fcm.stats())["topics"]
    return {name for name, members in topics.items() if token in members}


async def test_topics_follow_preference_changes(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    installation, token = await make_device(
        "kim",
        "kim",
        transport_lines=["T1", "F2"],
        waste_sector="RN-12",
        waste_streams=["glass"],
        commune_insee="76540",
        metropole_news=True,
    )
    await run_jobs(push_resources, engine)

    assert await topics_of(fcm, token) == {
        "line-T1.fr",
        "line-F2.fr",
        "sector-RN-12.fr",
        "waste-RN-12-glass.fr",
        "commune-76540.fr",
        "crisis.fr",
        "crisis-76540.fr",
    }

    async with committed() as session:
        await service.set_preferences(
            session,
            "kim",
            installation,
            Preferences(language="en", transport_lines=["T1"], crisis=True),
        )
        await session.commit()
    await run_jobs(push_resources, engine)

    assert await topics_of(fcm, token) == {"line-T1.en", "crisis.en"}


async def test_an_unregistered_install_leaves_its_topics(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    installation, token = await make_device("lea", "lea", transport_lines=["T4"])
    await run_jobs(push_resources, engine)
    assert await topics_of(fcm, token) == {"line-T4.fr", "crisis.fr"}

    async with committed() as session:
        await service.unregister(session, "lea", installation)
        await session.commit()
    await run_jobs(push_resources, engine)

    assert await topics_of(fcm, token) == set()


async def test_a_topic_storm_is_retried_until_subscribed(
    committed: async_sessionmaker[AsyncSession],
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    await fcm("storm", requests=3)

    _, token = await make_device("max", "max", transport_lines=["T2"], crisis=False)
    await run_jobs(push_resources, engine)

    assert await topics_of(fcm, token) == {"line-T2.fr"}


async def test_a_dead_token_found_while_subscribing_is_pruned(
    make_device: DeviceMaker,
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    await fcm("unregister", tokens=[token_for("ned")])

    await make_device("ned", "ned", transport_lines=["T3"])
    await run_jobs(push_resources, engine)

    async with engine.connect() as connection:
        row = await connection.execute(
            text("SELECT enabled, disabled_reason FROM push_registrations")
        )
        assert tuple(row.one()) == (False, "unregistered")
    assert (await fcm.stats())["topics"] == {}
