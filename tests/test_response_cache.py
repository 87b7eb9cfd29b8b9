import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from poche_api.config import Settings
from poche_api.kit.caching import cached_json
from tests.conftest import build_app, serve_in_process


@pytest_asyncio.fixture
async def counting_client(
    settings: Settings, session: AsyncSession
) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """Routes that record each time they really run."""
    calls: list[str] = []
    app = build_app(settings.model_copy(update={"public_cache_seconds": 60}), session)
    router = APIRouter()

    @router.get("/v1/public")
    async def public(request: Request) -> Response:
        calls.append("public")
        return cached_json(request, b'{"n": %d}' % len(calls), max_age=30)

    @router.get("/v1/private")
    async def private(request: Request) -> Response:
        calls.append("private")
        return cached_json(request, b'{"n": %d}' % len(calls), max_age=30, public=False)

    app.include_router(router)
    async with serve_in_process(app) as client:
        yield client, calls


async def test_a_public_answer_is_served_from_memory_until_it_expires(
    counting_client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    client, calls = counting_client

    first = await client.get("/v1/public")
    second = await client.get("/v1/public")
    revalidated = await client.get("/v1/public", headers={"If-None-Match": first.headers["etag"]})

    assert first.json() == second.json() == {"n": 1}
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == first.headers["etag"]
    assert calls == ["public"]
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


async def test_languages_and_queries_are_cached_apart(
    counting_client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    client, calls = counting_client

    await client.get("/v1/public")
    await client.get("/v1/public", headers={"Accept-Language": "en"})
    await client.get("/v1/public", params={"page": 2})

    assert calls == ["public"] * 3


async def test_private_answers_and_credentialed_calls_always_reach_the_route(
    counting_client: tuple[httpx.AsyncClient, list[str]],
) -> None:
    client, calls = counting_client

    await client.get("/v1/private")
    await client.get("/v1/private")
    await client.get("/v1/public")
    await client.get("/v1/public", headers={"Authorization": "Bearer x"})

    assert calls == ["private", "private", "public", "public"]


async def test_revalidations_after_expiry_refill_the_cache(
    settings: Settings, session: AsyncSession
) -> None:
    calls: list[str] = []
    app = build_app(settings.model_copy(update={"public_cache_seconds": 0.2}), session)
    router = APIRouter()

    @router.get("/v1/public")
    async def public(request: Request) -> Response:
        calls.append("public")
        return cached_json(request, b'{"same": true}', max_age=30)

    app.include_router(router)
    async with serve_in_process(app) as client:
        etag = (await client.get("/v1/public")).headers["etag"]
        await asyncio.sleep(0.3)
        conditional = {"If-None-Match": etag}
        after_expiry = await client.get("/v1/public", headers=conditional)
        from_cache = await client.get("/v1/public", headers=conditional)

    assert after_expiry.status_code == from_cache.status_code == 304
    assert calls == ["public", "public"]


async def test_while_one_request_refreshes_the_others_get_the_stale_answer(
    settings: Settings, session: AsyncSession
) -> None:
    calls: list[int] = []
    release = asyncio.Event()
    app = build_app(settings.model_copy(update={"public_cache_seconds": 0.2}), session)
    router = APIRouter()

    @router.get("/v1/slow")
    async def slow(request: Request) -> Response:
        calls.append(len(calls) + 1)
        if len(calls) > 1:
            await release.wait()  # the refresh takes a while
        return cached_json(request, b'{"version": %d}' % len(calls), max_age=30)

    app.include_router(router)
    async with serve_in_process(app) as client:
        await client.get("/v1/slow")
        await asyncio.sleep(0.3)
        refreshing = asyncio.create_task(client.get("/v1/slow"))
        await asyncio.sleep(0.05)
        meanwhile = await client.get("/v1/slow")
        release.set()
        refreshed = await refreshing

    assert meanwhile.json() == {"version": 1}
    assert refreshed.json() == {"version": 2}
    assert calls == [1, 2]
