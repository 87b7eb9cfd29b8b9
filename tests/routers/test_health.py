from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Environment, Settings
from tests.conftest import build_app, serve_in_process


async def test_livez_answers_without_touching_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_postgresql_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


@pytest_asyncio.fixture
async def client_with_dead_redis(
    settings: Settings, session: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = build_app(broken, session)
    async with serve_in_process(app) as client:
        yield client


async def test_readyz_is_a_503_problem_when_redis_is_down(
    client_with_dead_redis: httpx.AsyncClient,
) -> None:
    response = await client_with_dead_redis.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"postgresql": "ok", "redis": "unavailable"}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/communes/76540")
    await client.get("/v1/communes/76451")

    exposition = (await client.get("/metrics")).text

    assert "poche_http_requests_total{" in exposition
    assert 'method="GET",route="/v1/communes/{insee}",status="200"' in exposition
    assert "poche_http_request_duration_seconds_bucket" in exposition


@pytest_asyncio.fixture
async def production_client(
    settings: Settings, session: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    production = settings.model_copy(update={"env": Environment.production})
    app = build_app(production, session)
    async with serve_in_process(app) as client:
        yield client


async def test_metrics_need_the_operator_token_in_production(
    production_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    anonymous = await production_client.get("/metrics")
    scraper = await production_client.get("/metrics", headers=admin_headers)

    assert anonymous.status_code == 401
    assert scraper.status_code == 200
