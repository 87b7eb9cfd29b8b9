"""Jobs: the polling chain runs once cluster-wide; the daily GTFS refresh is conditional."""

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.config import Settings
from poche_api.db import plain_url
from poche_api.simulators import transit
from poche_api.transport import realtime
from poche_api.transport.importer import refresh_from_url
from poche_api.transport.tasks import POLL_JOB, start_polling_chain
from tests.transport.conftest import ROOT

pytestmark = pytest.mark.usefixtures("timetable", "clean_alerts")


async def _queued_links(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM pgqueuer WHERE entrypoint = :name"), {"name": POLL_JOB}
        )
    return int(count or 0)


async def test_only_one_polling_chain_starts_cluster_wide(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    async with sessionmaker() as first, sessionmaker() as second:
        started = await start_polling_chain(first)
        await first.commit()
        again = await start_polling_chain(second)
        await second.commit()

    assert (started, again) == (True, False)
    assert await _queued_links(engine) == 1


async def test_the_chain_polls_and_hands_over_to_the_next_link(
    sim_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    redis: Redis,
    database_url: str,
) -> None:
    fast = sim_settings.model_copy(update={"transport_poll_seconds": 0.3})
    async with sessionmaker() as session:
        await start_polling_chain(session)
        await session.commit()
    feed = realtime.realtime_feeds(fast)[0]
    async with httpx.AsyncClient() as http:
        resources = jobs.WorkerResources(
            settings=fast,
            sessionmaker=sessionmaker,
            redis=redis,
            http=http,
            database_url=plain_url(database_url),
        )
        shutdown = asyncio.Event()
        worker = asyncio.create_task(
            jobs.run_worker(resources, shutdown=shutdown, dequeue_timeout=timedelta(seconds=0.1))
        )
        attempts: set[str] = set()
        try:
            async with asyncio.timeout(20):
                while len(attempts) < 2:
                    attempt = await redis.hget(
                        realtime.HEALTH_KEY.format(feed.name), "last_attempt_at"
                    )
                    if attempt:
                        attempts.add(str(attempt))
                    await asyncio.sleep(0.05)
        finally:
            shutdown.set()
            await asyncio.wait_for(worker, 15)

    # Two polls happened and exactly one link is still queued (or running) for the chain.
    assert len(attempts) >= 2
    async with engine.connect() as connection:
        live = await connection.scalar(
            text(
                "SELECT count(*) FROM pgqueuer WHERE entrypoint = :name AND dedupe_key IS NOT NULL"
            ),
            {"name": POLL_JOB},
        )
    assert live == 1


async def test_the_gtfs_refresh_downloads_only_when_the_feed_changed(
    sim_settings: Settings, engine: AsyncEngine
) -> None:
    url = realtime.gtfs_url(sim_settings)
    async with httpx.AsyncClient() as http:
        first = await refresh_from_url(engine, http, url, force=True)
        second = await refresh_from_url(engine, http, url)

    assert first.changed
    assert first.result is not None
    assert first.result.counts["trips"] == len(transit.network().trips)
    assert not second.changed  # 304 on the stored ETag
    async with engine.connect() as connection:
        etag = await connection.scalar(
            text("SELECT etag FROM transport_feed_sources WHERE url = :url"), {"url": url}
        )
    assert etag


def test_the_cli_imports_a_gtfs_file_with_progress(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "astuce.zip"
    path.write_bytes(transit.gtfs_zip())
    env = {**os.environ, "POCHE_DATABASE_URL": database_url, "POCHE_LOG_LEVEL": "WARNING"}

    done = subprocess.run(
        [sys.executable, "-m", "poche_api", "import", "gtfs", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    refused = subprocess.run(
        [sys.executable, "-m", "poche_api", "import", "gtfs", str(broken)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "active" in done.stdout
    assert "stop_times" in done.stdout
    assert refused.returncode == 1
    assert "not a zip archive" in refused.stderr
