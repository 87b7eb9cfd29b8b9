import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from poche_api.app import create_app
from poche_api.config import Settings
from poche_api.db import SessionDep
from poche_api.errors import Conflict
from poche_api.kit.idempotency import IdempotentCall, idempotency
from tests.conftest import serve_in_process


class Order(BaseModel):
    item: str
    fail: bool = False


@pytest_asyncio.fixture
async def orders_client(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """An app with one unsafe route that records each execution in a table.

    Its sessions commit for real: a stored answer must outlive the request's transaction.
    """
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE IF EXISTS orders"))
        await connection.execute(text("CREATE TABLE orders (item text NOT NULL)"))
    app = create_app(settings)
    router = APIRouter()

    @router.post("/v1/orders", status_code=201)
    async def create_order(
        order: Order,
        session: SessionDep,
        call: Annotated[IdempotentCall, Depends(idempotency(required=True))],
    ) -> Response:
        if call.replay is not None:
            return call.replay
        await session.execute(text("INSERT INTO orders VALUES (:item)"), {"item": order.item})
        if order.fail:
            raise Conflict("stock exhausted")
        count = (await session.execute(text("SELECT count(*) FROM orders"))).scalar_one()
        return await call.respond(
            session, {"item": order.item, "executions": count}, status_code=201
        )

    app.include_router(router)
    async with serve_in_process(app) as client:
        yield client
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE orders"))


def key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


async def test_a_replay_returns_the_stored_answer_without_running_again(
    orders_client: httpx.AsyncClient,
) -> None:
    headers = key()
    first = await orders_client.post("/v1/orders", json={"item": "bac"}, headers=headers)
    replay = await orders_client.post("/v1/orders", json={"item": "bac"}, headers=headers)

    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json() == {"item": "bac", "executions": 1}
    assert replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_the_same_key_with_another_body_is_a_422(orders_client: httpx.AsyncClient) -> None:
    headers = key()
    await orders_client.post("/v1/orders", json={"item": "bac"}, headers=headers)
    reused = await orders_client.post("/v1/orders", json={"item": "composteur"}, headers=headers)

    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")


async def test_a_key_still_in_progress_is_a_409(
    orders_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = key()
    async with engine.begin() as connection:  # another replica holds the key right now
        await connection.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, method, path, fingerprint, status, "
                "locked_until, expires_at) VALUES ('anonymous', :key, 'POST', '/v1/orders', "
                "encode(sha256(convert_to(:body, 'UTF8')), 'hex'), 'in_progress', "
                "now() + interval '30 seconds', now() + interval '1 day')"
            ),
            {"key": headers["Idempotency-Key"].strip('"'), "body": '{"item":"bac"}'},
        )

    concurrent = await orders_client.post(
        "/v1/orders",
        content=b'{"item":"bac"}',
        headers={**headers, "Content-Type": "application/json"},
    )

    assert concurrent.status_code == 409
    assert concurrent.headers["retry-after"] == "1"


async def test_a_failed_call_releases_the_key_so_a_retry_runs(
    orders_client: httpx.AsyncClient,
) -> None:
    headers = key()
    failed = await orders_client.post(
        "/v1/orders", json={"item": "bac", "fail": True}, headers=headers
    )
    assert failed.status_code == 409

    other_body = await orders_client.post("/v1/orders", json={"item": "bac"}, headers=headers)
    assert other_body.status_code == 201


@pytest.mark.parametrize(
    ("headers", "slug"),
    [
        ({}, "idempotency-key-missing"),
        ({"Idempotency-Key": "has spaces in it"}, "idempotency-key-invalid"),
    ],
)
async def test_a_missing_or_malformed_key_is_a_400(
    orders_client: httpx.AsyncClient, headers: dict[str, str], slug: str
) -> None:
    response = await orders_client.post("/v1/orders", json={"item": "bac"}, headers=headers)

    assert response.status_code == 400
    assert response.json()["type"].endswith(slug)
