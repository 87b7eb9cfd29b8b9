"""Incident fixtures: the Rouen demo catalogue, and a cast of real callers with real credentials.

Credentials are the ones identity issues (ES256 access tokens, device credentials), resolved by
the real dependency: the authorisation matrix is tested end to end, without a test seam.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.identity import service as identity
from poche_api.identity import tokens
from poche_api.incidents.demo import seed_catalogue
from poche_api.models import StaffMember, StaffTeam, Team
from tests.conftest import build_app, serve_in_process

# Points inside the communes the demo rules name.
ROUEN_HOTEL_DE_VILLE = {"lat": 49.4432, "lon": 1.0993}
SOTTEVILLE = {"lat": 49.4105, "lon": 1.0905}
MONT_SAINT_AIGNAN = {"lat": 49.4650, "lon": 1.0860}
LE_HAVRE = {"lat": 49.4944, "lon": 0.1079}  # outside the Métropole


@dataclass
class Cast:
    """Who calls: name -> Authorization header (``nobody`` sends none)."""

    http: httpx.AsyncClient
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    staff_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers[who], **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def file(self, who: str, **fields: Any) -> httpx.Response:
        body = {
            "category": "nid-de-poule",
            "location": ROUEN_HOTEL_DE_VILLE,
            "description": "Trou profond devant l'arrêt de bus",
            "attributes": {"danger": "fort"},
            **fields,
        }
        return await self.call(who, "POST", "/v1/incidents/reports", json=body)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_cast(settings: Settings, session: AsyncSession, http: httpx.AsyncClient) -> Cast:
    await seed_catalogue(session)
    cast = Cast(http)
    keyring = tokens.keyring(settings)
    for name in ("resident_a", "resident_b"):
        resident_id = uuid.uuid4()
        token, _ = keyring.issue_access(
            settings, kind="resident", subject_id=resident_id, session_id=uuid.uuid4()
        )
        cast.headers[name] = _bearer(token)
        cast.keys[name] = f"resident:{resident_id}"
    device, credential = await identity.register_device(
        session, platform="android", app_version="3.0.0"
    )
    cast.headers["device"] = _bearer(credential)
    cast.keys["device"] = f"device:{device.id}"
    teams = {team.slug: team for team in await session.scalars(select(Team))}
    staff = {
        "agent": ("agent", "voirie-rouen"),
        "agent_other_team": ("agent", "voirie-rive-gauche"),
        "supervisor": ("supervisor", "voirie-rouen"),
    }
    for name, (role, team_slug) in staff.items():
        member = StaffMember(
            id=uuid.uuid4(), email=f"{name}.{uuid.uuid4().hex[:6]}@metropole.test", role=role
        )
        session.add(member)
        await session.flush()
        session.add(StaffTeam(staff_id=member.id, team_id=teams[team_slug].id))
        token, _ = keyring.issue_access(
            settings, kind="staff", subject_id=member.id, session_id=uuid.uuid4()
        )
        cast.headers[name] = _bearer(token)
        cast.keys[name] = f"staff:{member.id}"
        cast.staff_ids[name] = member.id
    # In the test's outer transaction (rolled back at the end), but past the savepoint a failed
    # request rolls back to, as committed data would be.
    await session.commit()
    cast.headers["nobody"] = {}
    return cast


@pytest_asyncio.fixture
async def cast(settings: Settings, session: AsyncSession, redis: Redis) -> AsyncIterator[Cast]:
    app = build_app(settings, session)
    async with serve_in_process(app) as http:
        yield await make_cast(settings, session, http)


# The push fixtures (FCM simulator, push settings) for the end-to-end story.
from tests.notifications.conftest import fcm, fcm_url, push_settings

__all__ = ["Cast", "cast", "fcm", "fcm_url", "make_cast", "push_settings"]
