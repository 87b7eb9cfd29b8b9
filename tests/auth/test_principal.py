from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from poche_api.auth import Principal, ensure_owner, ensure_team
from poche_api.auth.principal import resolve
from poche_api.config import Settings
from poche_api.errors import Forbidden, NotFound, Unauthorized
from poche_api.identity.schemas import StaffRole
from poche_api.kit.idempotency import default_scope
from tests.conftest import ADMIN_TOKEN


def _request(settings: Settings, token: str | None) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "state": {"settings": settings},
    }
    return Request(scope)


async def test_the_principal_scopes_idempotency_keys(
    settings: Settings, session: AsyncSession
) -> None:
    request = _request(settings, ADMIN_TOKEN)

    principal = await resolve(request, session)

    assert principal is not None
    assert principal.kind == "operator"
    assert default_scope(request) == "principal:operator:operator"


async def test_no_credentials_is_anonymous_and_a_bad_one_is_refused(
    settings: Settings, session: AsyncSession
) -> None:
    anonymous = _request(settings, None)

    assert await resolve(anonymous, session) is None
    assert default_scope(anonymous) == "anonymous"
    with pytest.raises(Unauthorized):
        await resolve(_request(settings, "pdc_unknown-device-credential"), session)


def test_object_level_checks() -> None:
    import uuid

    owner, other = uuid.uuid4(), uuid.uuid4()
    resident = Principal("resident", owner)
    agent = Principal("staff", other, role=StaffRole.agent, teams=frozenset({"voirie"}))

    ensure_owner(resident, owner, what="Signalement")
    with pytest.raises(NotFound):
        ensure_owner(resident, other, what="Signalement")
    ensure_team(agent, ["voirie"])
    with pytest.raises(Forbidden):
        ensure_team(agent, ["proprete"])
    ensure_team(Principal("staff", other, role=StaffRole.admin), ["proprete"])
    with pytest.raises(Forbidden):
        ensure_team(resident, ["voirie"])
