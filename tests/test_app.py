import gc
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from tests.conftest import build_app, serve_in_process

APP_ORIGIN = "https://app.metropole-rouen-normandie.fr"


@pytest_asyncio.fixture
async def cors_client(
    settings: Settings, session: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings.model_copy(update={"cors_origins": [APP_ORIGIN]}), session)
    async with serve_in_process(app) as client:
        yield client


async def test_cors_allows_only_listed_origins(cors_client: httpx.AsyncClient) -> None:
    allowed = await cors_client.get("/v1/communes/76540", headers={"Origin": APP_ORIGIN})
    other = await cors_client.get("/v1/communes/76540", headers={"Origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "access-control-allow-origin" not in other.headers


async def test_cors_preflight_allows_the_idempotency_key(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(
        "/v1/communes/locate",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Idempotency-Key, Content-Type",
        },
    )

    assert response.status_code == 200
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()


async def test_no_cors_headers_without_an_allow_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/communes/76540", headers={"Origin": APP_ORIGIN})

    assert "access-control-allow-origin" not in response.headers


async def test_docs_serve_the_openapi_document(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    document = await client.get("/v1/openapi.json")

    assert docs.status_code == 200
    assert "/v1/openapi.json" in docs.text
    assert document.json()["info"]["title"] == "poche-api"


async def test_startup_objects_stay_out_of_full_collections_while_serving(
    settings: Settings, session: AsyncSession
) -> None:
    async with serve_in_process(build_app(settings, session)) as client:
        frozen = gc.get_freeze_count()
        assert (await client.get("/v1/communes/76540")).status_code == 200

    assert frozen > 10_000  # the app's modules, mappers and routes: not walked by gc passes
    assert gc.get_freeze_count() == 0  # given back at shutdown
