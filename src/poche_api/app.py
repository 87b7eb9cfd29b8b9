"""The application factory and its lifespan: every client is created here, none at import time."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from poche_api import __version__, jobs
from poche_api.config import Settings
from poche_api.db import create_engine, create_sessionmaker, plain_url
from poche_api.demo import seed_demo
from poche_api.embedded import start_embedded_postgres
from poche_api.errors import install_error_handlers
from poche_api.incidents import privacy as incidents_privacy
from poche_api.integrations.geocoding import BanGeocoder
from poche_api.kit.pagination import CursorCodec
from poche_api.media.images import PhotoProcessor
from poche_api.media.storage import ObjectStore, store_from_settings
from poche_api.middleware import (
    BodyGuardMiddleware,
    GzipWhenAccepted,
    RequestContextMiddleware,
)
from poche_api.migrate import upgrade_async
from poche_api.notifications import firebase
from poche_api.redis import create_redis
from poche_api.response_cache import PublicResponseCache
from poche_api.routers import (
    addresses,
    admin_jobs,
    admin_staff,
    auth,
    communes,
    devices,
    health,
    incidents,
    incidents_admin,
    incidents_fieldwork,
    incidents_moderation,
    incidents_public,
    incidents_staff,
    me,
    notifications,
    open311,
    transport,
)
from poche_api.simulators import SIMULATOR_PREFIX, mount_simulators
from poche_api.territory.service import TerritoryService
from poche_api.transport.realtime import RealtimeCache

logger = logging.getLogger(__name__)
API_PREFIX = "/v1"
# Capabilities holding residents' data register their part of /v1/me export and erasure.
PRIVACY_PARTS = (incidents_privacy,)
# Room for the form's JSON field next to the photos a report may carry.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


class State(TypedDict):
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_engine: AsyncEngine
    read_sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    territory: TerritoryService
    cursor_codec: CursorCodec
    transport_cache: RealtimeCache
    geocoder: BanGeocoder
    media_store: ObjectStore
    photo_processor: PhotoProcessor


async def resolve_database_url(settings: Settings) -> tuple[str, Any]:
    """The configured URL, or the embedded cluster's (started if needed) and its handle."""
    if settings.database_url is not None:
        return settings.database_url, None
    return await asyncio.to_thread(start_embedded_postgres, settings.data_dir)


@contextlib.asynccontextmanager
async def _worker_in_process(resources: jobs.WorkerResources) -> AsyncIterator[None]:
    shutdown = asyncio.Event()
    task = asyncio.create_task(jobs.run_worker(resources, shutdown=shutdown))
    try:
        yield
    finally:
        shutdown.set()
        try:
            await asyncio.wait_for(task, timeout=15)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except Exception:
            logger.exception("in-process worker stopped with an error")


# Young objects collected every 10,000 allocations instead of 700: a request allocates thousands
# that reference counting frees anyway, and the default collected several times per request, its
# full passes stalling ~1% of answers for 30-50 ms (benchmarks/incidents queue, see RESULTS.md).
YOUNG_GENERATION_THRESHOLD = 10_000


@contextlib.contextmanager
def _garbage_collector_tuned() -> Iterator[None]:
    """Keep what startup built (some 250,000 objects: modules, mappers, schemas, routes) out of
    the garbage collector's full passes, which walked them all and stalled every request in
    flight for 0.3-1 s (benchmarks/incidents), and collect young objects less often. Both given
    back at shutdown, so an app started again in the same process (the tests) leaves nothing
    uncollectable behind."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _lifespan(settings: Settings) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        database_url, embedded_handle = await resolve_database_url(settings)
        if settings.migrate_when_serving:
            await upgrade_async(database_url)
        engine = create_engine(database_url, pool_size=settings.db_pool_size)
        sessionmaker = create_sessionmaker(engine)
        read_engine = create_engine(database_url, pool_size=settings.db_pool_size, read_only=True)
        redis = create_redis(settings.redis_url)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.http_timeout_seconds, connect=5.0),
            headers={"User-Agent": f"poche-api/{__version__}"},
            follow_redirects=False,
        )
        state = State(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            read_engine=read_engine,
            read_sessionmaker=create_sessionmaker(read_engine),
            redis=redis,
            http=http,
            territory=TerritoryService(sessionmaker),
            cursor_codec=CursorCodec(settings.secret_key.get_secret_value().encode()),
            transport_cache=RealtimeCache(),
            geocoder=BanGeocoder.from_settings(settings, http=http, redis=redis),
            media_store=store_from_settings(settings),
            photo_processor=PhotoProcessor.from_settings(settings),
        )
        try:
            try:
                firebase.get_app(settings)
            except Exception:
                logger.exception("firebase app not created: push deliveries will fail")
            if settings.seed_demo:
                seeded = await seed_demo(engine)
                logger.info("demo data seeded", extra={"seeders": seeded})
            async with contextlib.AsyncExitStack() as stack:
                if settings.run_worker_in_process:
                    resources = jobs.WorkerResources(
                        settings=settings,
                        sessionmaker=sessionmaker,
                        redis=redis,
                        http=http,
                        database_url=plain_url(database_url),
                    )
                    await stack.enter_async_context(_worker_in_process(resources))
                stack.enter_context(_garbage_collector_tuned())
                yield state
        finally:
            await firebase.close_app(settings)
            await state["media_store"].aclose()
            await http.aclose()
            await redis.aclose()
            await read_engine.dispose()
            await engine.dispose()
            del embedded_handle  # the embedded cluster outlives us, kept in data_dir

    return lifespan


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="poche-api",
        version=__version__,
        summary="Backend of « Ma Métropole dans ma poche », Métropole Rouen Normandie",
        description=(
            "Transport, waste, water, incident reports, Wi-Fi hotspots and alerts for the "
            "citizen app of Métropole Rouen Normandie. Errors are RFC 9457 problem details; "
            "French by default, English with `Accept-Language: en`."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan(settings),
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(open311.router)  # /open311/v2: a standard's own path, outside /v1
    for router in (
        communes.router,
        admin_jobs.router,
        auth.router,
        me.router,
        devices.router,
        admin_staff.router,
        notifications.router,
        transport.router,
        incidents.router,
        incidents_fieldwork.router,  # before incidents_staff: /agent/reports/nearby is no id
        incidents_staff.router,
        incidents_admin.router,
        incidents_moderation.router,
        addresses.router,
        incidents_public.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    mounted = mount_simulators(app, settings)
    if mounted:
        logger.info("simulators mounted", extra={"simulators": mounted})

    # Outermost last: request context sees every answer, gzip compresses what leaves.
    app.add_middleware(
        BodyGuardMiddleware,
        max_json_bytes=settings.max_body_bytes,
        max_multipart_bytes=settings.media_max_upload_bytes * max(settings.incident_max_photos, 1)
        + MULTIPART_OVERHEAD_BYTES,
        exempt_prefixes=(SIMULATOR_PREFIX + "/",) if mounted else (),
        form_prefixes=(open311.PREFIX + "/",),
    )
    app.add_middleware(PublicResponseCache, ttl=settings.public_cache_seconds)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-None-Match",
                "If-Match",
                "Accept-Language",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "RateLimit",
                "RateLimit-Policy",
                "Retry-After",
                "X-Request-ID",
                "Idempotent-Replayed",
            ],
            max_age=600,
        )
    app.add_middleware(GzipWhenAccepted, minimum_size=1000, compresslevel=6)
    app.add_middleware(RequestContextMiddleware, api_prefix=API_PREFIX)
    return app
