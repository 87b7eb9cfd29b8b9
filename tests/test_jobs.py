import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api import jobs
from poche_api.config import Settings
from poche_api.db import create_sessionmaker, plain_url
from tests import job_handlers

ROOT = Path(__file__).resolve().parents[1]


@pytest_asyncio.fixture
async def clean_queue(engine: AsyncEngine) -> AsyncIterator[None]:
    async def wipe() -> None:
        async with engine.begin() as connection:
            await connection.execute(text(job_handlers.RUNS_TABLE))
            await connection.execute(text("TRUNCATE job_test_runs, pgqueuer, pgqueuer_log"))

    await wipe()
    yield
    await wipe()


@pytest_asyncio.fixture
async def resources(
    settings: Settings, engine: AsyncEngine, database_url: str, redis: Redis
) -> AsyncIterator[jobs.WorkerResources]:
    async with httpx.AsyncClient() as http:
        yield jobs.WorkerResources(
            settings=settings,
            sessionmaker=create_sessionmaker(engine),
            redis=redis,
            http=http,
            database_url=plain_url(database_url),
        )


async def run_worker_until(
    resources: jobs.WorkerResources,
    done: Callable[[], Awaitable[bool]],
    *,
    within: float = 30,
) -> None:
    shutdown = asyncio.Event()
    worker = asyncio.create_task(
        jobs.run_worker(resources, shutdown=shutdown, dequeue_timeout=timedelta(seconds=0.2))
    )
    try:
        async with asyncio.timeout(within):
            while not await done():
                if worker.done():
                    worker.result()
                await asyncio.sleep(0.1)
    finally:
        shutdown.set()
        await asyncio.wait_for(worker, 15)


async def phases(engine: AsyncEngine, tag: str) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT phase FROM job_test_runs WHERE tag = :tag ORDER BY id"), {"tag": tag}
        )
        return [row.phase for row in rows]


async def job_status(engine: AsyncEngine, job_id: int) -> str | None:
    async with engine.connect() as connection:
        row = await connection.execute(
            text("SELECT status::text FROM pgqueuer WHERE id = :id"), {"id": job_id}
        )
        return row.scalar_one_or_none()


async def enqueue_committed(engine: AsyncEngine, name: str, payload: dict[str, object]) -> int:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        job_id = await jobs.enqueue(session, name, payload)
        await session.commit()
    return job_id


@pytest.mark.usefixtures("clean_queue")
class TestEnqueue:
    async def test_a_job_enqueued_in_a_committed_transaction_runs(
        self, engine: AsyncEngine, resources: jobs.WorkerResources
    ) -> None:
        tag = uuid.uuid4().hex
        await enqueue_committed(engine, "test.record", {"tag": tag})

        async def ran() -> bool:
            return await phases(engine, tag) == ["done"]

        await run_worker_until(resources, ran)

    async def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(
        self, engine: AsyncEngine, resources: jobs.WorkerResources
    ) -> None:
        rolled_back, committed = uuid.uuid4().hex, uuid.uuid4().hex
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            await jobs.enqueue(session, "test.record", {"tag": rolled_back})
            await session.rollback()
        await enqueue_committed(engine, "test.record", {"tag": committed})

        async def committed_ran() -> bool:
            return await phases(engine, committed) == ["done"]

        await run_worker_until(resources, committed_ran)
        assert await phases(engine, rolled_back) == []

    async def test_an_unknown_job_name_is_refused(self, engine: AsyncEngine) -> None:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            with pytest.raises(LookupError):
                await jobs.enqueue(session, "no.such.job", {})


@pytest.mark.usefixtures("clean_queue")
class TestRetries:
    async def test_a_failing_job_is_retried_until_it_succeeds(
        self, engine: AsyncEngine, resources: jobs.WorkerResources
    ) -> None:
        tag = uuid.uuid4().hex
        await enqueue_committed(engine, "test.flaky", {"tag": tag, "succeed_on": 3})

        async def succeeded() -> bool:
            return "done" in await phases(engine, tag)

        await run_worker_until(resources, succeeded)
        assert await phases(engine, tag) == ["attempt", "attempt", "attempt", "done"]

    async def test_a_job_failing_every_time_is_dead_lettered_visibly(
        self,
        engine: AsyncEngine,
        resources: jobs.WorkerResources,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
    ) -> None:
        tag = uuid.uuid4().hex
        job_id = await enqueue_committed(engine, "test.always_fails", {"tag": tag})

        async def dead() -> bool:
            return await job_status(engine, job_id) == "failed"

        await run_worker_until(resources, dead)
        assert await phases(engine, tag) == ["attempt"] * 3

        listed = await client.get("/v1/admin/jobs/dead-letters", headers=admin_headers)
        assert listed.status_code == 200
        [letter] = listed.json()["items"]
        assert letter["id"] == job_id
        assert letter["entrypoint"] == "test.always_fails"
        assert letter["payload"] == {"tag": tag}

        exposition = (await client.get("/metrics")).text
        assert "poche_jobs_dead_letters 1.0" in exposition
        assert 'poche_jobs_dead_lettered_total{entrypoint="test.always_fails"}' in exposition

        requeued = await client.post(
            f"/v1/admin/jobs/dead-letters/{job_id}/requeue", headers=admin_headers
        )
        assert requeued.status_code == 200
        assert requeued.json() == {"id": job_id, "status": "queued"}


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    delays = [jobs.backoff_delay(attempt, base=1, cap=60).total_seconds() for attempt in range(8)]

    for attempt, delay in enumerate(delays):
        step = min(60, 2**attempt)
        assert step / 2 <= delay <= step
    assert len({jobs.backoff_delay(3, base=1, cap=60) for _ in range(20)}) > 1


@pytest.mark.usefixtures("clean_queue")
class TestWorkerDeath:
    async def test_a_job_whose_worker_dies_mid_run_runs_again(
        self, engine: AsyncEngine, resources: jobs.WorkerResources, database_url: str
    ) -> None:
        tag = uuid.uuid4().hex
        await enqueue_committed(engine, "test.hangs_first_time", {"tag": tag})
        env = {
            **os.environ,
            "POCHE_DATABASE_URL": database_url,
            "POCHE_JOB_HEARTBEAT_SECONDS": "2",
            "POCHE_LOG_LEVEL": "WARNING",
        }
        env.pop("POCHE_REDIS_URL", None)
        worker = subprocess.Popen(  # noqa: ASYNC220 - killed below, never awaited
            [
                sys.executable,
                "-c",
                "import tests.job_handlers; from poche_api.cli import main; main()",
                "worker",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            async with asyncio.timeout(30):
                while await phases(engine, tag) != ["started"]:  # noqa: ASYNC110 - another process
                    await asyncio.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)

        async def finished() -> bool:
            return await phases(engine, tag) == ["started", "started", "done"]

        await run_worker_until(resources, finished, within=40)
