"""Transport jobs: the GTFS-RT polling chain, the daily GTFS refresh, alert change events.

Polling every 30 s with a once-a-minute cron: the cron tick (``transport.realtime_watchdog``)
starts a chain of ``transport.poll_realtime`` jobs under one dedupe key, so a second chain
cannot start while one is queued or running; each link polls every feed, hands its dedupe key
over and enqueues the next link ``transport_poll_seconds`` later. A chain that dies is
restarted by the next tick.
"""

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pgqueuer.errors import DuplicateJobError
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import jobs
from poche_api.config import Settings
from poche_api.jobs import JobContext, registry
from poche_api.transport import realtime
from poche_api.transport.disruptions import push_disruption
from poche_api.transport.importer import refresh_from_url
from poche_api.transport.repository import TransportRepository
from poche_api.transport.service import TransportService

logger = logging.getLogger(__name__)

POLL_JOB = "transport.poll_realtime"
POLL_DEDUPE_KEY = "transport.poll_realtime.chain"


async def start_polling_chain(session: AsyncSession) -> bool:
    """Enqueue the first link unless a chain is already queued or running; True if started."""
    try:
        async with session.begin_nested():
            await jobs.enqueue(session, POLL_JOB, {"chain": True}, dedupe_key=POLL_DEDUPE_KEY)
    except DuplicateJobError:
        return False
    return True


@registry.schedule("transport.realtime_watchdog", "* * * * *")
async def realtime_watchdog(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.session() as session:
        if await start_polling_chain(session):
            logger.info("gtfs-rt polling chain started")
        await session.commit()


async def poll_all(
    settings: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[dict[str, realtime.PollOutcome], list[uuid.UUID]]:
    """Poll every feed once; count unmatched trips; diff alerts. Returns outcomes and events."""
    feeds = realtime.realtime_feeds(settings)
    outcomes = await asyncio.gather(
        *(
            realtime.poll_feed(
                http, redis, feed, timeout_seconds=settings.transport_feed_timeout_seconds
            )
            for feed in feeds
        )
    )
    events: list[uuid.UUID] = []
    async with sessionmaker() as session:
        repository = TransportRepository.from_session(session)
        version = await repository.active_version()
        for feed, outcome in zip(feeds, outcomes, strict=True):
            if outcome.status is not realtime.PollStatus.updated or outcome.message is None:
                continue
            if feed.kind == "trip_updates" and version is not None and outcome.body is not None:
                index = realtime.TripUpdatesIndex.build([outcome.body])
                ids = sorted(index.trip_ids())
                known = await repository.known_trip_ids(version.id, ids)
                await realtime.record_unmatched(redis, feed, len(set(ids) - known))
            if feed.kind == "alerts":
                service = TransportService(
                    repository, settings=settings, redis=redis, cache=realtime.RealtimeCache()
                )
                recorded = await service.record_alerts(
                    feed.name, realtime.alerts(outcome.message), now=datetime.now(UTC)
                )
                for event_id in recorded:
                    await jobs.enqueue(
                        session, "transport.alert_changed", {"event_id": str(event_id)}
                    )
                events += recorded
        await session.commit()
    return {feed.name: outcome for feed, outcome in zip(feeds, outcomes, strict=True)}, events


@registry.job(POLL_JOB, max_attempts=2)
async def poll_realtime(ctx: JobContext, payload: dict[str, Any]) -> None:
    if not payload.get("chain"):
        await poll_all(ctx.settings, ctx.http, ctx.redis, ctx.sessionmaker)
        return
    try:
        await poll_all(ctx.settings, ctx.http, ctx.redis, ctx.sessionmaker)
    except Exception:
        # A chain link never fails: a retry would run beside the next link.
        logger.exception("gtfs-rt poll failed; the chain goes on")
    finally:
        await _enqueue_next_link(ctx)


async def _enqueue_next_link(ctx: JobContext) -> None:
    async with ctx.session() as session:
        # Hand the dedupe key over to the next link in the same transaction.
        await session.execute(
            text("UPDATE pgqueuer SET dedupe_key = NULL WHERE id = :id"), {"id": ctx.job_id}
        )
        try:
            async with session.begin_nested():
                await jobs.enqueue(
                    session,
                    POLL_JOB,
                    {"chain": True},
                    delay=timedelta(seconds=ctx.settings.transport_poll_seconds),
                    dedupe_key=POLL_DEDUPE_KEY,
                )
        except DuplicateJobError:
            logger.info("another gtfs-rt polling chain is running; this one stops")
        await session.commit()


def _engine(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):  # pragma: no cover - create_sessionmaker binds one
        raise TypeError("the sessionmaker is not bound to an engine")
    return bind


@registry.schedule("transport.refresh_gtfs", "17 3 * * *")
async def refresh_gtfs(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Daily: download the network GTFS if it changed (conditional request) and switch to it."""
    url = realtime.gtfs_url(ctx.settings)
    outcome = await refresh_from_url(_engine(ctx.sessionmaker), ctx.http, url)
    logger.info("gtfs refresh", extra={"url": url, "changed": outcome.changed})


@registry.job("transport.alert_changed")
async def alert_changed(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Push the change to the line's and stops' followers, once: the event row is locked and
    marked in the same transaction that enqueues the notifications."""
    async with ctx.session() as session:
        event = await TransportRepository.from_session(session).event(
            uuid.UUID(payload["event_id"])
        )
        if event is not None and event.status == "pending":
            if event.route_ids or event.stop_ids:
                await push_disruption(session, event)
            event.status = "notified"
            event.ready_at = datetime.now(UTC)
        await session.commit()
