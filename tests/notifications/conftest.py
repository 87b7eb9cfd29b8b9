"""Push fixtures: the FCM simulator under uvicorn, settings pointing at it, committed devices."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.app import create_app
from poche_api.config import Settings
from poche_api.db import create_sessionmaker, plain_url
from poche_api.notifications import firebase, service
from poche_api.notifications.schemas import Preferences, RegistrationIn
from poche_api.transport.tasks import POLL_JOB
from tests.conftest import build_app, principal_from_test_header, state_per_request
from tests.fcm_server import FcmControl, serve_fcm_simulator

PUSH_TABLES = (
    "push_inbox, push_deliveries, push_notifications, push_campaigns, "
    "push_topic_subscriptions, push_preferences, push_registrations"
)


@pytest.fixture(scope="session")
def fcm_url(settings: Settings) -> Iterator[str]:
    with serve_fcm_simulator(settings) as url:
        yield url


@pytest_asyncio.fixture
async def fcm(fcm_url: str) -> FcmControl:
    control = FcmControl(fcm_url)
    await control("reset")
    return control


@pytest.fixture
def push_settings(settings: Settings, fcm_url: str) -> Settings:
    return settings.model_copy(update={"fcm_base_url": fcm_url, "push_batch_size": 50})


@pytest_asyncio.fixture
async def push_client(
    push_settings: Settings, session: AsyncSession, redis: Redis, fcm: FcmControl
) -> AsyncIterator[httpx.AsyncClient]:
    """The API (per-test rolled-back session) with the test principal header."""
    app: FastAPI = build_app(push_settings, session)
    principal_from_test_header(app)
    async with LifespanManager(state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest_asyncio.fixture
async def committed_push_client(
    push_settings: Settings,
    committed: async_sessionmaker[AsyncSession],
    redis: Redis,
    fcm: FcmControl,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with sessions that really commit (what idempotent replays need)."""
    app = create_app(push_settings)
    principal_from_test_header(app)
    async with LifespanManager(state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest_asyncio.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit (jobs need it); push tables and the queue wiped around."""

    async def wipe() -> None:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {PUSH_TABLES}, pgqueuer, pgqueuer_log"))

    await wipe()
    yield create_sessionmaker(engine)
    await wipe()


@pytest_asyncio.fixture
async def push_resources(
    push_settings: Settings, engine: AsyncEngine, database_url: str, redis: Redis
) -> AsyncIterator[jobs.WorkerResources]:
    async with httpx.AsyncClient() as http:
        yield jobs.WorkerResources(
            settings=push_settings,
            sessionmaker=create_sessionmaker(engine),
            redis=redis,
            http=http,
            database_url=plain_url(database_url),
        )
    await firebase.close_app(push_settings)


def token_for(name: str) -> str:
    return f"{name}:APA91b" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex * 2


DeviceMaker = Callable[..., Any]


@pytest.fixture
def make_device(committed: async_sessionmaker[AsyncSession]) -> DeviceMaker:
    """Register an install (committed) with preferences; quiet hours off unless given."""

    async def make(
        principal: str, name: str, *, time_zone: str = "Europe/Paris", **prefs: Any
    ) -> tuple[str, str]:
        async with committed() as session:
            made = await _register(session, principal, name, time_zone, prefs)
            await session.commit()
        return made

    return make


@pytest.fixture
def make_devices(committed: async_sessionmaker[AsyncSession]) -> DeviceMaker:
    """Register many installs of one principal in one transaction; returns their tokens."""

    async def make(principal: str, count: int, **prefs: Any) -> list[str]:
        async with committed() as session:
            made = [
                await _register(session, principal, f"{principal}{i}", "Europe/Paris", prefs)
                for i in range(count)
            ]
            await session.commit()
        return [token for _, token in made]

    return make


async def _register(
    session: AsyncSession, principal: str, name: str, time_zone: str, prefs: dict[str, Any]
) -> tuple[str, str]:
    installation_id = f"inst-{name}"
    token = token_for(name)
    await service.register(
        session,
        principal,
        installation_id,
        RegistrationIn(token=token, platform="android", app_version="3.0.0", time_zone=time_zone),
    )
    await service.set_preferences(
        session, principal, installation_id, Preferences(**{"quiet_hours_enabled": False, **prefs})
    )
    return installation_id, token


async def queue_idle(engine: AsyncEngine) -> bool:
    # The GTFS-RT polling chain never drains by design: a minute's cron tick can start it
    # in the middle of any test, so it does not count as work left.
    async with engine.connect() as connection:
        busy = await connection.execute(
            text(
                "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked') "
                "AND execute_after <= now() + interval '60 seconds' "
                "AND entrypoint <> :perpetual"
            ),
            {"perpetual": POLL_JOB},
        )
        return int(busy.scalar_one()) == 0


async def run_jobs(
    resources: jobs.WorkerResources, engine: AsyncEngine, *, within: float = 30
) -> None:
    """Run a worker until no job is due within a minute (deferred ones stay queued)."""
    from tests.test_jobs import run_worker_until

    async def idle() -> bool:
        return await queue_idle(engine)

    await run_worker_until(resources, idle, within=within)


async def statuses(engine: AsyncEngine) -> dict[str, str]:
    """Token -> delivery status, for every delivery."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT r.token, d.status FROM push_deliveries d "
                "JOIN push_registrations r ON r.id = d.registration_id"
            )
        )
        return {row.token: row.status for row in rows}
