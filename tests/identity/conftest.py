"""The app under uvicorn on a free 127.0.0.1 port (in a thread), simulators mounted on the same
server, so the backend reaches its OIDC simulators over real HTTP. Its writes are real commits:
the identity tables are emptied after each test."""

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakeredis
import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api import app as app_module
from poche_api.app import create_app
from poche_api.config import Settings
from poche_api.redis import create_redis
from tests.fcm_server import free_port, serve_in_thread

APP_REDIRECT = "fr.metropole-rouen-normandie.poche:/auth/callback"
IDENTITY_TABLES = (
    "consents",
    "refresh_tokens",
    "auth_sessions",
    "devices",
    "residents",
    "staff_teams",
    "staff_members",
    "teams",
)


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Login:
    verifier: str
    authorize_url: str


@dataclass
class Live:
    http: httpx.AsyncClient
    settings: Settings
    engine: AsyncEngine
    redis: Redis

    async def start(self, provider: str = "franceconnect", hint: str = "resident") -> Login:
        verifier = secrets.token_urlsafe(48)
        response = await self.http.get(
            f"/v1/auth/{provider}/start",
            params={
                "redirect_uri": APP_REDIRECT,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
                "login_hint": hint,
            },
        )
        assert response.status_code == 302, response.text
        return Login(verifier, response.headers["location"])

    async def authorize(self, login: Login, **extra: str) -> str:
        """Follow the provider's authorize redirect; returns our callback URL."""
        url = login.authorize_url
        if extra:
            url += "&" + "&".join(f"{k}={v}" for k, v in extra.items())
        response = await self.http.get(url)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(f"{self.settings.public_url}/v1/auth/")
        return location

    async def callback(self, url: str) -> httpx.Response:
        return await self.http.get(url)

    async def redeem(
        self, code: str, verifier: str, device_token: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": APP_REDIRECT,
        }
        if device_token:
            body["device_token"] = device_token
        return await self.http.post("/v1/auth/token", json=body)

    async def one_time_code(
        self, provider: str = "franceconnect", hint: str = "resident", **extra: str
    ) -> tuple[str, str]:
        login = await self.start(provider, hint)
        back = await self.callback(await self.authorize(login, **extra))
        assert back.status_code == 302, back.text
        location = back.headers["location"]
        assert location.startswith(APP_REDIRECT + "?")
        return query(location)["code"], login.verifier

    async def sign_in(
        self,
        provider: str = "franceconnect",
        hint: str = "resident",
        device_token: str | None = None,
    ) -> dict[str, Any]:
        code, verifier = await self.one_time_code(provider, hint)
        response = await self.redeem(code, verifier, device_token)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def count(self, table: str, where: str = "true") -> int:
        async with self.engine.connect() as connection:
            value = await connection.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"))  # noqa: S608 - test constants
        return int(value or 0)

    async def provision(self, email: str, role: str, teams: list[str]) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        from poche_api.identity.schemas import StaffCreate
        from poche_api.identity.service import provision_staff

        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            await provision_staff(session, StaffCreate(email=email, role=role, teams=teams))
            await session.commit()


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    value = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {value}"}


async def _empty_identity_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(IDENTITY_TABLES)} CASCADE"))
        await connection.execute(
            text("DELETE FROM idempotency_keys WHERE scope LIKE 'principal:%'")
        )


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return settings


@pytest_asyncio.fixture
async def live(
    live_settings: Settings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Live]:
    port = free_port()
    configured = live_settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "auth_redirect_uris": [APP_REDIRECT],
            "simulators_enabled": True,
            "demo_identities_enabled": True,
        }
    )
    # One Redis the test can look into: the server's own when CI gives one, else a fakeredis
    # server shared between the app and the test.
    server = fakeredis.FakeServer()
    shared: Redis = (
        create_redis(configured.redis_url)
        if configured.redis_url
        else fakeredis.FakeAsyncRedis(server=server)
    )
    if configured.redis_url is None:
        monkeypatch.setattr(
            app_module, "create_redis", lambda url: fakeredis.FakeAsyncRedis(server=server)
        )
    await shared.flushdb()
    await _empty_identity_tables(engine)
    try:
        with serve_in_thread(
            create_app(configured), "/livez", port=port, log_config=None, lifespan="on"
        ):
            async with httpx.AsyncClient(
                base_url=configured.public_url, follow_redirects=False, timeout=20
            ) as http:
                yield Live(http, configured, engine, shared)
    finally:
        await shared.flushdb()
        await shared.aclose()
        await _empty_identity_tables(engine)
