"""The dependency aliases on a route of their own, with tokens issued for staff of each role."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.auth import FieldAgent, OptionalResident, Supervisor
from poche_api.config import Settings
from poche_api.identity.schemas import StaffCreate, StaffRole
from poche_api.identity.service import provision_staff
from poche_api.identity.tokens import keyring
from tests.conftest import build_app


@pytest_asyncio.fixture
async def guarded(
    settings: Settings, session: AsyncSession, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = build_app(settings, session)

    @app.get("/probe/agent")
    async def agent_only(principal: FieldAgent) -> dict[str, str]:
        return {"role": str(principal.role)}

    @app.get("/probe/supervisor")
    async def supervisor_only(principal: Supervisor) -> dict[str, str]:
        return {"role": str(principal.role)}

    @app.get("/probe/optional")
    async def optional(principal: OptionalResident) -> dict[str, str | None]:
        return {"resident": str(principal.id) if principal else None}

    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def _token(settings: Settings, session: AsyncSession, role: StaffRole) -> dict[str, str]:
    staff = await provision_staff(
        session, StaffCreate(email=f"{role}.{uuid.uuid4().hex[:6]}@x.fr", role=role)
    )
    token, _ = keyring(settings).issue_access(
        settings, kind="staff", subject_id=staff.id, session_id=uuid.uuid4()
    )
    return {"Authorization": f"Bearer {token}"}


async def test_roles_rank_agent_supervisor_admin(
    guarded: httpx.AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    headers = {role: await _token(settings, session, role) for role in StaffRole}

    agent_route = {
        r: (await guarded.get("/probe/agent", headers=h)).status_code for r, h in headers.items()
    }
    supervisor_route = {
        r: (await guarded.get("/probe/supervisor", headers=h)).status_code
        for r, h in headers.items()
    }

    assert agent_route == {"agent": 200, "supervisor": 200, "admin": 200}
    assert supervisor_route == {"agent": 403, "supervisor": 200, "admin": 200}


async def test_optional_resident_is_none_for_anyone_else(
    guarded: httpx.AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    resident_id = uuid.uuid4()
    token, _ = keyring(settings).issue_access(
        settings, kind="resident", subject_id=resident_id, session_id=uuid.uuid4()
    )

    anonymous = await guarded.get("/probe/optional")
    agent = await guarded.get(
        "/probe/optional", headers=await _token(settings, session, StaffRole.agent)
    )
    resident = await guarded.get("/probe/optional", headers={"Authorization": f"Bearer {token}"})
    broken = await guarded.get("/probe/optional", headers={"Authorization": "Bearer nonsense"})

    assert anonymous.json() == agent.json() == {"resident": None}
    assert resident.json() == {"resident": str(resident_id)}
    assert broken.status_code == 401
