"""Every error is RFC 9457 problem+json with the right status; nothing is a bare 500."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from tests.conftest import build_app

PROBLEM = "application/problem+json"
POINT = {"points": [{"lat": 49.44, "lon": 1.09}]}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("https://")
    assert body["title"]
    return body


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/nothing-here"), 404)
    assert body["instance"] == "/v1/nothing-here"


async def test_a_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/communes")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_a_malformed_json_body_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/communes/locate",
        content=b'{"points": [{"lat": 49.4',
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert str(body["type"]).endswith("/malformed-json")


async def test_a_wrong_content_type_is_a_415_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/communes/locate", content=b"lat=49.4&lon=1.09", headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 415)


async def test_a_10_mb_body_is_a_413_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/communes/locate",
        content=b"[" + b" " * (10 * 1024 * 1024) + b"]",
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 413)
    assert body["max_bytes"] == 1_048_576


async def test_a_chunked_body_past_the_cap_is_a_413_problem(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield b" " * (1024 * 1024)

    response = await client.post(
        "/v1/communes/locate", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


async def test_invalid_fields_are_a_422_with_json_pointers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/communes/locate",
        json={"points": [{"lat": 49.44, "lon": 1.09}, {"lat": 123, "lon": 1.0}], "extra": 1},
    )
    body = assert_problem(response, 422)
    pointers = {error["pointer"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert pointers == {"/points/1/lat", "/extra"}


async def test_problems_speak_english_on_request(client: httpx.AsyncClient) -> None:
    french = (await client.get("/v1/communes/99999")).json()
    english = (await client.get("/v1/communes/99999", headers={"Accept-Language": "en"})).json()

    assert french["title"] == "Ressource introuvable"
    assert english["title"] == "Not found"
    assert "Métropole" in english["detail"]
    assert english["detail"] != french["detail"]


async def test_an_unexpected_error_is_a_generic_500_problem_without_details(
    settings: Settings, session: AsyncSession
) -> None:
    app: FastAPI = build_app(settings, session)
    router = APIRouter()

    @router.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret connection string postgresql://user:pw@db")

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/v1/boom")

    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert set(body) == {"type", "title", "status", "instance"}
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize("path", ["/v1/communes", "/v1/communes/76540", "/livez"])
async def test_the_request_id_is_echoed_or_generated(client: httpx.AsyncClient, path: str) -> None:
    echoed = await client.get(path, headers={"X-Request-ID": "app-1234.abc"})
    generated = await client.get(path)
    refused = await client.get(path, headers={"X-Request-ID": "bad id\twith spaces"})

    assert echoed.headers["x-request-id"] == "app-1234.abc"
    assert len(generated.headers["x-request-id"]) == 32
    assert refused.headers["x-request-id"] != "bad id\twith spaces"
