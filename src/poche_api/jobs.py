"""Durable jobs and cluster-wide schedules on PostgreSQL, with pgqueuer.

* ``enqueue(session, ...)`` writes the job through the session's own connection, so it commits
  or rolls back with the business change that caused it (transactional outbox).
* Handlers are registered with ``@registry.job("domain.action")`` and take ``(ctx, payload)``;
  they open their own unit of work with ``ctx.session()`` and must be idempotent.
* A failure is retried with exponential backoff and full jitter; after ``max_attempts`` the job
  is held with status ``failed``: a dead letter, counted in metrics and listed by the admin API.
* A worker that dies mid-job stops heart-beating; after ``heartbeat_timeout`` another worker
  picks the job up again.
* ``@registry.schedule(name, cron)`` runs once per tick cluster-wide (pgqueuer's schedule table
  is the lock) and enqueues a job, so scheduled work gets the same retries.
"""

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from pgqueuer import PgQueuer, Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import RetryRequested
from pgqueuer.executors import DatabaseRetryEntrypointExecutor
from pgqueuer.models import Job, Schedule
from pgqueuer.types import QueueExecutionMode
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from poche_api import metrics
from poche_api.config import Settings

logger = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raise from a handler to retry after a delay the partner asked for (Retry-After)."""

    def __init__(self, delay: timedelta, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay = delay


@dataclasses.dataclass(frozen=True)
class JobContext:
    job_id: int
    attempt: int
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient

    def session(self) -> AsyncSession:
        return self.sessionmaker()


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    name: str
    handler: JobHandler
    max_attempts: int | None


@dataclasses.dataclass(frozen=True)
class ScheduleDefinition:
    name: str
    cron: str


class JobRegistry:
    def __init__(self) -> None:
        self.jobs: dict[str, JobDefinition] = {}
        self.schedules: dict[str, ScheduleDefinition] = {}

    def job(
        self, name: str, *, max_attempts: int | None = None
    ) -> Callable[[JobHandler], JobHandler]:
        def register(handler: JobHandler) -> JobHandler:
            if name in self.jobs:
                raise RuntimeError(f"job {name!r} registered twice")
            self.jobs[name] = JobDefinition(name, handler, max_attempts)
            return handler

        return register

    def schedule(self, name: str, cron: str) -> Callable[[JobHandler], JobHandler]:
        """Register a handler that runs once per cron tick across the cluster."""

        def register(handler: JobHandler) -> JobHandler:
            self.job(name)(handler)
            self.schedules[name] = ScheduleDefinition(name, cron)
            return handler

        return register


registry = JobRegistry()


async def _asyncpg_connection(session: AsyncSession) -> asyncpg.Connection:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver_connection: asyncpg.Connection = raw.driver_connection
    if not driver_connection.is_in_transaction():
        # SQLAlchemy begins lazily; make sure the enqueue lands inside the transaction.
        await session.execute(text("SELECT 1"))
    return driver_connection


async def enqueue(
    session: AsyncSession,
    name: str,
    payload: Mapping[str, Any],
    *,
    delay: timedelta | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Enqueue ``name`` in the session's transaction; it runs only if that transaction commits."""
    if name not in registry.jobs:
        raise LookupError(f"no job named {name!r}")
    queries = Queries(AsyncpgDriver(await _asyncpg_connection(session)))
    ids = await queries.enqueue(
        name, orjson.dumps(payload), execute_after=delay, dedupe_key=dedupe_key
    )
    return int(ids[0])


def backoff_delay(attempt: int, *, base: float, cap: float) -> timedelta:
    """Exponential backoff with full jitter (AWS architecture blog), never below half the step."""
    step = min(cap, base * (2**attempt))
    return timedelta(seconds=random.uniform(step / 2, step))  # noqa: S311 - not crypto


@dataclasses.dataclass
class JitteredRetryExecutor(DatabaseRetryEntrypointExecutor):
    """pgqueuer's database retry with jitter, RetryLater support and dead-letter accounting."""

    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 600.0

    async def execute(self, job: Job, context: Any) -> None:
        try:
            await self.parameters.func(job)  # type: ignore[call-arg]
        except RetryRequested:
            raise
        except RetryLater as exc:
            if job.attempts + 1 >= self.max_attempts:
                self._dead_letter(job, exc)
                raise
            raise RetryRequested(delay=exc.delay, reason=str(exc)) from exc
        except Exception as exc:
            if job.attempts + 1 >= self.max_attempts:
                self._dead_letter(job, exc)
                raise
            delay = backoff_delay(
                job.attempts, base=self.retry_base_seconds, cap=self.retry_cap_seconds
            )
            logger.warning(
                "job failed, will retry",
                extra={"job": job.entrypoint, "job_id": job.id, "attempt": job.attempts + 1},
            )
            raise RetryRequested(delay=delay, reason=type(exc).__name__) from exc

    def _dead_letter(self, job: Job, exc: Exception) -> None:
        metrics.JOBS_DEAD_LETTERED.labels(job.entrypoint).inc()
        metrics.JOBS_FINISHED.labels(job.entrypoint, "dead_letter").inc()
        logger.error(
            "job dead-lettered",
            extra={"job": job.entrypoint, "job_id": job.id, "error": type(exc).__name__},
        )


@dataclasses.dataclass
class WorkerResources:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    database_url: str


def _bind(
    definition: JobDefinition, resources: WorkerResources
) -> Callable[[Job], Awaitable[None]]:
    async def run(job: Job) -> None:
        payload = orjson.loads(job.payload) if job.payload else {}
        context = JobContext(
            job_id=int(job.id),
            attempt=job.attempts + 1,
            settings=resources.settings,
            sessionmaker=resources.sessionmaker,
            redis=resources.redis,
            http=resources.http,
        )
        await definition.handler(context, payload)
        metrics.JOBS_FINISHED.labels(definition.name, "success").inc()

    return run


def _schedule_enqueuer(
    definition: ScheduleDefinition, resources: WorkerResources
) -> Callable[[Schedule], Awaitable[None]]:
    async def tick(schedule: Schedule) -> None:
        async with resources.sessionmaker() as session:
            await enqueue(session, definition.name, {"scheduled": True})
            await session.commit()

    return tick


def build_pgqueuer(connection: asyncpg.Connection, resources: WorkerResources) -> PgQueuer:
    settings = resources.settings
    pgq = PgQueuer(AsyncpgDriver(connection))
    for definition in registry.jobs.values():
        max_attempts = definition.max_attempts or settings.job_max_attempts

        def factory(params: Any, max_attempts: int = max_attempts) -> JitteredRetryExecutor:
            return JitteredRetryExecutor(
                parameters=params,
                max_attempts=max_attempts,
                retry_base_seconds=settings.job_retry_base_seconds,
                retry_cap_seconds=settings.job_retry_max_seconds,
            )

        pgq.entrypoint(definition.name, on_failure="hold", executor_factory=factory)(
            _bind(definition, resources)
        )
    for schedule in registry.schedules.values():
        pgq.schedule(f"{schedule.name}.tick", schedule.cron, clean_old=True)(
            _schedule_enqueuer(schedule, resources)
        )
    return pgq


async def run_worker(
    resources: WorkerResources,
    *,
    shutdown: asyncio.Event | None = None,
    drain: bool = False,
    dequeue_timeout: timedelta = timedelta(seconds=5),
) -> None:
    """Run jobs until ``shutdown`` is set (or, with ``drain``, until the queue is empty)."""
    import poche_api.tasks  # noqa: F401 - registers every domain's handlers

    connection = await asyncpg.connect(resources.database_url)
    try:
        pgq = build_pgqueuer(connection, resources)
        if shutdown is not None:
            stopper = asyncio.create_task(_propagate(shutdown, pgq.shutdown))
        heartbeat = timedelta(seconds=resources.settings.job_heartbeat_seconds)
        mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
        if drain:
            await pgq.qm.run(
                dequeue_timeout=dequeue_timeout,
                mode=mode,
                heartbeat_timeout=heartbeat,
                log_aggregation_interval=timedelta(0),
            )
        else:
            await pgq.run(dequeue_timeout=dequeue_timeout, mode=mode, heartbeat_timeout=heartbeat)
        if shutdown is not None:
            stopper.cancel()
    finally:
        await connection.close()


async def _propagate(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    id: int
    entrypoint: str
    attempts: int
    created: Any
    updated: Any
    payload: dict[str, Any]


async def dead_letters(
    session: AsyncSession, *, limit: int, after_id: int | None
) -> list[DeadLetter]:
    rows = await session.execute(
        text(
            "SELECT id, entrypoint, attempts, created, updated, payload FROM pgqueuer "
            "WHERE status = 'failed' AND (CAST(:after AS bigint) IS NULL OR id < :after) "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"after": after_id, "limit": limit},
    )
    return [
        DeadLetter(
            id=row.id,
            entrypoint=row.entrypoint,
            attempts=row.attempts,
            created=row.created,
            updated=row.updated,
            payload=orjson.loads(row.payload) if row.payload else {},
        )
        for row in rows
    ]


async def requeue_dead_letter(session: AsyncSession, job_id: int) -> bool:
    result = await session.execute(
        text(
            "UPDATE pgqueuer SET status = 'queued', attempts = 0, execute_after = NOW(), "
            "updated = NOW() WHERE id = :id AND status = 'failed' RETURNING id"
        ),
        {"id": job_id},
    )
    return result.first() is not None


async def queue_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(text("SELECT status::text, count(*) FROM pgqueuer GROUP BY 1"))
    return {status: int(count) for status, count in rows.all()}
