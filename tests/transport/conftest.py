"""Transport fixtures: the transit simulator on a real port, the simulator's GTFS imported once."""

import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api.config import Settings
from poche_api.db import create_sessionmaker
from poche_api.simulators import transit
from poche_api.transport.importer import import_path
from poche_api.transport.realtime import RealtimeCache
from poche_api.transport.repository import TransportRepository
from poche_api.transport.service import TransportService
from tests.conftest import build_app, principal_from_test_header, state_per_request
from tests.fcm_server import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
SHARED_TRANSIT = ROOT / ".." / "shared" / "data" / "transit"
PRINCIPAL_HEADER = "X-Test-Principal"


@pytest.fixture(scope="session")
def sim_url(settings: Settings) -> Iterator[str]:
    """The transit simulator served by uvicorn on a free 127.0.0.1 port."""
    with serve_in_thread(transit.build(settings), "/scenario", lifespan="off") as base:
        yield base


@pytest.fixture(scope="session")
def sim_settings(settings: Settings, sim_url: str) -> Settings:
    return settings.model_copy(
        update={
            "transport_gtfs_url": f"{sim_url}/gtfs.zip",
            "transport_trip_updates_urls": {"TCAR": f"{sim_url}/trip-updates.pb"},
            "transport_vehicle_positions_urls": {"TCAR": f"{sim_url}/vehicle-positions.pb"},
            "transport_alerts_url": f"{sim_url}/alerts.pb",
        }
    )


@pytest_asyncio.fixture(scope="session")
async def timetable(engine: AsyncEngine) -> int:
    """The simulator's GTFS, imported (committed) once for the session."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "astuce.zip"
        path.write_bytes(transit.gtfs_zip())
        result = await import_path(engine, path, source="simulator")
    return result.feed_version


@pytest_asyncio.fixture
async def sim(sim_url: str) -> AsyncIterator["SimControl"]:
    async with httpx.AsyncClient(base_url=sim_url) as http:
        control = SimControl(http)
        await control.set(reset=True)
        yield control
        await control.set(reset=True)


class SimControl:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def set(self, **changes: Any) -> None:
        body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()}
        response = await self.http.post("/control", json=body)
        response.raise_for_status()

    async def scenario(self) -> dict[str, Any]:
        response = await self.http.get("/scenario")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest_asyncio.fixture
async def clean_alerts(engine: AsyncEngine) -> AsyncIterator[None]:
    async def wipe() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM transport_alert_events"))
            await connection.execute(text("DELETE FROM transport_alerts"))
            await connection.execute(text("DELETE FROM transport_follows"))
            await connection.execute(
                text("TRUNCATE push_inbox, push_deliveries, push_notifications")
            )
            await connection.execute(
                text(
                    "DELETE FROM pgqueuer WHERE entrypoint LIKE 'transport.%' "
                    "OR entrypoint LIKE 'notifications.%'"
                )
            )

    await wipe()
    yield
    await wipe()


@pytest.fixture
def service_factory(session: AsyncSession, redis: Redis, sim_settings: Settings) -> Any:
    def make(settings: Settings | None = None) -> TransportService:
        return TransportService(
            TransportRepository.from_session(session),
            settings=settings or sim_settings,
            redis=redis,
            cache=RealtimeCache(),
        )

    return make


@pytest_asyncio.fixture
async def transport_app(
    sim_settings: Settings, session: AsyncSession, redis: Redis, timetable: int
) -> AsyncIterator[tuple[FastAPI, LifespanManager]]:
    # ``redis`` flushes the database first: a feed's ETag left by an earlier test would turn
    # this test's first poll into a 304 and leave its freshly wiped tables empty.
    app = build_app(sim_settings, session)
    principal_from_test_header(app)
    async with LifespanManager(state_per_request(app)) as manager:
        yield app, manager


@pytest_asyncio.fixture
async def transport_client(
    transport_app: tuple[FastAPI, LifespanManager],
) -> AsyncIterator[httpx.AsyncClient]:
    _, manager = transport_app
    transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def app_redis(transport_app: tuple[FastAPI, LifespanManager]) -> Redis:
    """The app's own Redis client (its lifespan state), so a test can poll into it."""
    _, manager = transport_app
    client: Redis = manager._state["redis"]  # asgi-lifespan keeps the lifespan state here
    return client
