"""The two pools: reads cannot write, and a lost database connection is a 503, then recovered."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.app import create_app
from poche_api.config import Settings
from poche_api.db import ReadSessionDep, create_engine, plain_url
from tests.conftest import build_app, serve_in_process

READ_ENDPOINT = "/v1/incidents/categories"  # no credentials, answered from the read pool


async def test_postgresql_refuses_a_write_made_through_the_read_pool(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, read_only=True)
    try:
        async with AsyncSession(engine) as session:
            assert await session.scalar(text("SELECT count(*) FROM teams")) is not None
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await session.execute(text("UPDATE teams SET slug = slug"))
    finally:
        await engine.dispose()


async def test_reads_start_no_parallel_worker_the_write_pool_may(database_url: str) -> None:
    read, write = (
        create_engine(database_url, pool_size=1, read_only=flag) for flag in (True, False)
    )
    try:
        shown = []
        for engine in (read, write):
            async with AsyncSession(engine) as session:
                shown.append(await session.scalar(text("SHOW max_parallel_workers_per_gather")))
    finally:
        await read.dispose()
        await write.dispose()

    assert shown[0] == "0"
    assert shown[1] != "0"


_CLIENTS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


async def _client_pids(admin: asyncpg.Connection) -> set[int]:
    return {row["pid"] for row in await admin.fetch(_CLIENTS)}


async def _terminate(admin: asyncpg.Connection, pids: set[int]) -> None:
    await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(pids))
    for _ in range(100):  # the backends exit asynchronously
        if not pids & await _client_pids(admin):
            return
        await asyncio.sleep(0.05)


async def test_a_lost_database_connection_is_a_503_to_retry_and_the_retry_succeeds(
    settings: Settings, database_url: str
) -> None:
    admin = await asyncpg.connect(plain_url(database_url))
    others = await _client_pids(admin)  # other tests' pools: left alone
    app = create_app(settings.model_copy(update={"public_cache_seconds": 0.0}))
    try:
        async with serve_in_process(app) as client:
            assert (await client.get(READ_ENDPOINT)).status_code == 200
            app_pids = await _client_pids(admin) - others
            assert app_pids, "the app should hold a pooled connection"
            await _terminate(admin, app_pids)

            lost = await client.get(READ_ENDPOINT, headers={"Accept-Language": "en"})
            assert lost.status_code == 503
            assert lost.headers["content-type"] == "application/problem+json"
            assert lost.headers["retry-after"] == "1"
            assert "try again" in lost.json()["detail"]

            assert (await client.get(READ_ENDPOINT)).status_code == 200
    finally:
        await admin.close()


async def test_a_connection_dropped_while_idle_is_replaced_before_use(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, read_only=True, ping_after_idle_seconds=0)
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        others = await _client_pids(admin)
        async with AsyncSession(engine) as session:
            await session.scalar(text("SELECT 1"))
        await _terminate(admin, await _client_pids(admin) - others)

        async with AsyncSession(engine) as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await admin.close()
        await engine.dispose()


async def test_under_test_too_a_write_through_the_read_session_fails(
    settings: Settings, session: AsyncSession
) -> None:
    app = build_app(settings, session)

    @app.post("/_test/write-through-read")
    async def write_through_read(reads: ReadSessionDep) -> None:
        await reads.execute(text("UPDATE teams SET slug = slug"))

    async with serve_in_process(app) as client:
        refused = await client.post("/_test/write-through-read")

    assert refused.status_code == 500  # the test session's guard, as PostgreSQL in production
