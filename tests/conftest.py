"""Shared fixtures: a migrated PostgreSQL database, Redis, and the app on an httpx client.

PostgreSQL is the server at POCHE_TEST_DATABASE_URL (CI) or the embedded pgserver cluster in
``var/test``; each test runs inside a transaction rolled back at the end. Redis is the server at
POCHE_TEST_REDIS_URL, or fakeredis with a warning in the report header. With
POCHE_TEST_REQUIRE_SERVICES=1 a missing real service fails the run instead.
"""

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy import TextClause, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from starlette.types import ASGIApp, Receive, Scope, Send

from poche_api.app import create_app
from poche_api.auth.keys import current_principal
from poche_api.config import Settings
from poche_api.db import create_engine, get_read_session, get_session, plain_url
from poche_api.errors import Unauthorized
from poche_api.identity.demo import demo_resident_sub
from poche_api.migrate import upgrade
from poche_api.redis import create_redis

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_SERVICES = os.environ.get("POCHE_TEST_REQUIRE_SERVICES") == "1"
ADMIN_TOKEN = "test-admin-token-0123456789abcdefghijkl"


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [
        "postgresql: "
        + ("POCHE_TEST_DATABASE_URL" if "POCHE_TEST_DATABASE_URL" in os.environ else "embedded")
    ]
    if "POCHE_TEST_REDIS_URL" in os.environ:
        lines.append("redis: POCHE_TEST_REDIS_URL")
    else:
        lines.append("WARNING: no POCHE_TEST_REDIS_URL, Redis is the in-process fakeredis")
    return lines


def _admin_url() -> str:
    url = os.environ.get("POCHE_TEST_DATABASE_URL")
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail("POCHE_TEST_REQUIRE_SERVICES=1 but POCHE_TEST_DATABASE_URL is not set")
    from poche_api.embedded import start_embedded_postgres

    uri, _handle = start_embedded_postgres(ROOT / "var" / "test")
    return uri


async def _recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    connection = await asyncpg.connect(plain_url(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    admin_url = _admin_url()
    name = f"poche_test_{uuid.uuid4().hex[:8]}"
    asyncio.run(_recreate_database(admin_url, name))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(_recreate_database(admin_url, name, drop_only=True))


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    url = os.environ.get("POCHE_TEST_REDIS_URL")
    if url is None and REQUIRE_SERVICES:
        pytest.fail("POCHE_TEST_REQUIRE_SERVICES=1 but POCHE_TEST_REDIS_URL is not set")
    return url


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        media_local_root=tmp_path_factory.mktemp("media"),
        migrate_on_start=False,
        demo_seed=False,
        embedded_worker=False,
        admin_token=ADMIN_TOKEN,
        job_retry_base_seconds=0.05,
        job_retry_max_seconds=0.2,
        job_heartbeat_seconds=2,
        log_json=False,
    )


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


async def wipe_push_demo(engine: AsyncEngine) -> None:
    """Undo what ``seed_demo`` commits for push (the demo resident, her phone, its messages and
    their jobs), so no later test's worker or inbox finds it."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "TRUNCATE push_inbox, push_deliveries, push_notifications, "
                "push_topic_subscriptions, push_preferences, push_registrations"
            )
        )
        await connection.execute(
            text("DELETE FROM pgqueuer WHERE entrypoint LIKE 'notifications.%'")
        )
        await connection.execute(
            text("DELETE FROM residents WHERE fc_sub = :sub"), {"sub": demo_resident_sub()}
        )


@pytest_asyncio.fixture
async def redis(redis_url: str | None) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


def build_app(settings: Settings, session: AsyncSession) -> FastAPI:
    app = create_app(settings)

    async def test_session() -> AsyncIterator[AsyncSession]:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()

    async def test_read_session() -> AsyncIterator[AsyncSession]:
        # Its own session on the test's connection, as production reads have their own pool:
        # objects do not cross from a read into a write, and a write through it fails the test.
        # No savepoint of its own: it would nest with the write session's in either order.
        reads = AsyncSession(
            bind=session.bind, expire_on_commit=False, join_transaction_mode="rollback_only"
        )
        event.listen(reads.sync_session, "before_flush", _refuse_flush)
        event.listen(reads.sync_session, "do_orm_execute", _refuse_writes)
        try:
            yield reads
        finally:
            await reads.close()

    app.dependency_overrides[get_session] = test_session
    app.dependency_overrides[get_read_session] = test_read_session
    return app


def _refuse_flush(read_session: Session, *_: Any) -> None:
    changed = read_session.new or read_session.dirty or read_session.deleted
    assert not changed, f"a read session flushes {changed!r}: PostgreSQL refuses it in production"


def _refuse_writes(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        refused = not statement.text.lstrip().upper().startswith(("SELECT", "WITH"))
    else:
        refused = not state.is_select or getattr(statement, "_for_update_arg", None) is not None
    assert not refused, f"a read session runs {statement}: PostgreSQL refuses it in production"


@pytest.fixture
def app(settings: Settings, session: AsyncSession, redis: Redis) -> FastAPI:
    return build_app(settings, session)


def principal_from_test_header(app: FastAPI) -> None:
    """Test seam for domains that key data on a principal (push, transport follows).

    ``X-Test-Principal: alice`` names the caller instead of minting identity credentials in every
    test; identity's own tests (and one per domain) cover the real resolution from tokens.
    """

    async def from_header(request: Request) -> str:
        principal = request.headers.get("x-test-principal")
        if not principal:
            raise Unauthorized(
                ("Identification requise.", "A principal is required."), slug="principal-required"
            )
        return principal

    app.dependency_overrides[current_principal] = from_header


def state_per_request(app: ASGIApp) -> ASGIApp:
    """Give each request its own copy of the lifespan state, as uvicorn does.

    asgi-lifespan hands every request the same dict, so ``request.state`` set by one request
    (the resolved principal, say) would leak into the next.
    """

    async def copying(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "state" in scope:
            scope = {**scope, "state": dict(scope["state"])}
        await app(scope, receive, send)

    return copying


@contextlib.asynccontextmanager
async def serve_in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an httpx client (no network)."""
    async with LifespanManager(state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(app) as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
