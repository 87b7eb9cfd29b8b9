from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.demo import seed_demo
from poche_api.identity.demo import demo_resident_sub
from poche_api.notifications import policy, service
from poche_api.notifications.demo import DEMO_INSTALLATION, DEMO_REGISTRATION
from poche_api.notifications.schemas import Preferences
from tests.conftest import wipe_push_demo
from tests.fcm_server import FcmControl
from tests.notifications.conftest import run_jobs, statuses


@pytest_asyncio.fixture
async def camille(
    engine: AsyncEngine, committed: async_sessionmaker[AsyncSession]
) -> AsyncIterator[dict[str, str]]:
    """The demo seeded (and committed); the demo resident's principal header. Wiped after."""
    await seed_demo(engine)
    async with engine.connect() as connection:
        resident_id = await connection.scalar(
            text("SELECT id FROM residents WHERE fc_sub = :sub"), {"sub": demo_resident_sub()}
        )
    yield {"X-Test-Principal": f"resident:{resident_id}"}
    await wipe_push_demo(engine)


async def _count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


async def test_the_demo_resident_finds_her_phone_its_preferences_and_a_welcome(
    camille: dict[str, str], committed_push_client: httpx.AsyncClient
) -> None:
    client = committed_push_client

    devices = (await client.get("/v1/me/push-registrations", headers=camille)).json()
    preferences = await client.get(
        f"/v1/push/installations/{DEMO_INSTALLATION}/preferences", headers=camille
    )
    inbox = (await client.get("/v1/me/notifications", headers=camille)).json()["items"]

    assert [(d["installation_id"], d["platform"], d["enabled"]) for d in devices] == [
        (DEMO_INSTALLATION, "android", True)
    ]
    assert preferences.status_code == 200
    assert preferences.json()["transport_lines"] == ["TCAR:91"]
    assert preferences.json()["commune_insee"] == "76540"
    assert [(item["title"], item["read"]) for item in inbox] == [
        ("Bienvenue dans Ma Métropole dans ma poche", False)
    ]


async def test_seeding_again_adds_nothing_and_keeps_her_changes(
    camille: dict[str, str],
    committed: async_sessionmaker[AsyncSession],
    committed_push_client: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    owner = camille["X-Test-Principal"]
    async with committed() as session:
        await service.set_preferences(
            session, owner, DEMO_INSTALLATION, Preferences(language="en", metropole_news=False)
        )
        await session.commit()
    inbox = (await committed_push_client.get("/v1/me/notifications", headers=camille)).json()
    await committed_push_client.post(
        f"/v1/me/notifications/{inbox['items'][0]['id']}/read", headers=camille
    )
    jobs_before = await _count(engine, "SELECT count(*) FROM pgqueuer")

    await seed_demo(engine)

    preferences = await committed_push_client.get(
        f"/v1/push/installations/{DEMO_INSTALLATION}/preferences", headers=camille
    )
    again = (await committed_push_client.get("/v1/me/notifications", headers=camille)).json()
    assert preferences.json()["language"] == "en"
    assert preferences.json()["metropole_news"] is False
    assert [(item["id"], item["read"]) for item in again["items"]] == [
        (inbox["items"][0]["id"], True)
    ]
    assert await _count(engine, "SELECT count(*) FROM push_registrations") == 1
    assert await _count(engine, "SELECT count(*) FROM push_notifications") == 1
    assert await _count(engine, "SELECT count(*) FROM pgqueuer") == jobs_before


async def test_a_purged_welcome_comes_back_on_the_next_seeding(
    camille: dict[str, str], committed_push_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM push_notifications"))  # the log retention

    await seed_demo(engine)

    inbox = (await committed_push_client.get("/v1/me/notifications", headers=camille)).json()
    assert len(inbox["items"]) == 1


async def test_the_worker_subscribes_her_phone_and_delivers_the_welcome(
    camille: dict[str, str],
    push_resources: jobs.WorkerResources,
    engine: AsyncEngine,
    fcm: FcmControl,
) -> None:
    await run_jobs(push_resources, engine)

    topics = (await fcm.stats())["topics"]
    token = DEMO_REGISTRATION.token
    assert {name for name, members in topics.items() if token in members} == {
        "line-TCAR_91.fr",
        "commune-76540.fr",
        "crisis.fr",
        "crisis-76540.fr",
    }
    # Her phone keeps the default quiet hours (22:00-07:00, Paris): at night the welcome waits.
    quiet = policy.quiet_until(
        datetime.now(UTC),
        policy.zone("Europe/Paris"),
        policy.DEFAULT_QUIET_START,
        policy.DEFAULT_QUIET_END,
    )
    assert await statuses(engine) == {token: "deferred" if quiet else "sent"}
