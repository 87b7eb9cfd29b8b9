"""Who is calling: dependency aliases every router uses, and object-level checks.

``CurrentResident``, ``OptionalResident``, ``CurrentDevice``, ``AnyPrincipal``, ``FieldAgent``,
``Supervisor``, ``Admin`` (break-glass operator token or a staff admin). Object-level checks:
``ensure_owner`` (a resident's own object, else 404 so ids leak nothing) and ``ensure_team``.
"""

import uuid
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from poche_api.auth.principal import CHALLENGE, Principal, resolve
from poche_api.db import ReadSessionDep
from poche_api.errors import Forbidden, NotFound, Unauthorized
from poche_api.identity.schemas import ROLE_RANK, StaffRole

_bearer = HTTPBearer(
    auto_error=False,
    description="App access token, device credential (`pdc_…`) or operator token",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _required() -> Unauthorized:
    return Unauthorized(
        ("Authentification requise.", "Authentication required."),
        slug="authentication-required",
        headers=CHALLENGE,
    )


def _forbidden(fr: str, en: str) -> Forbidden:
    return Forbidden((fr, en), slug="insufficient-role")


async def optional_principal(
    request: Request, session: ReadSessionDep, _: Credentials
) -> Principal | None:
    return await resolve(request, session)


async def any_principal(request: Request, session: ReadSessionDep, _: Credentials) -> Principal:
    principal = await resolve(request, session)
    if principal is None or principal.kind == "operator":
        raise _required()
    return principal


AnyPrincipal = Annotated[Principal, Depends(any_principal)]


async def current_resident(principal: AnyPrincipal) -> Principal:
    if principal.kind != "resident":
        raise _forbidden(
            "Réservé aux habitants connectés avec FranceConnect.",
            "Residents signed in with FranceConnect only.",
        )
    return principal


async def optional_resident(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal | None:
    return principal if principal is not None and principal.kind == "resident" else None


async def current_device(principal: AnyPrincipal) -> Principal:
    if principal.kind != "device":
        raise _forbidden("Réservé au jeton d'appareil.", "Device credential only.")
    return principal


def _staff_at_least(role: StaffRole) -> object:
    async def dependency(principal: AnyPrincipal) -> Principal:
        if (
            principal.kind != "staff"
            or ROLE_RANK[principal.role or StaffRole.agent] < ROLE_RANK[role]
        ):
            raise _forbidden(f"Rôle {role} requis.", f"Role {role} required.")
        return principal

    return dependency


async def admin_principal(request: Request, session: ReadSessionDep, _: Credentials) -> Principal:
    principal = await resolve(request, session)
    if principal is None:
        raise _required()
    if principal.kind == "operator" or (
        principal.kind == "staff" and principal.role is StaffRole.admin
    ):
        return principal
    raise _forbidden("Rôle admin requis.", "Role admin required.")


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentResident = Annotated[Principal, Depends(current_resident)]
OptionalResident = Annotated[Principal | None, Depends(optional_resident)]
CurrentDevice = Annotated[Principal, Depends(current_device)]
FieldAgent = Annotated[Principal, Depends(_staff_at_least(StaffRole.agent))]
Supervisor = Annotated[Principal, Depends(_staff_at_least(StaffRole.supervisor))]
Admin = Annotated[Principal, Depends(admin_principal)]


def ensure_owner(principal: Principal, owner_id: uuid.UUID | None, *, what: str) -> None:
    """A resident (or device) acts only on its own objects; anything else looks absent."""
    if owner_id is None or principal.id != owner_id:
        raise NotFound((f"{what} introuvable.", f"{what} not found."), slug="not-found")


def ensure_team(principal: Principal, teams: Iterable[str]) -> None:
    """Staff act on objects of their teams; admins on all."""
    if principal.kind == "operator" or principal.role is StaffRole.admin:
        return
    if principal.kind != "staff" or principal.teams.isdisjoint(teams):
        raise Forbidden(
            ("Hors du périmètre de vos équipes.", "Outside your teams' scope."), slug="out-of-scope"
        )


__all__ = [
    "Admin",
    "AnyPrincipal",
    "CurrentDevice",
    "CurrentResident",
    "FieldAgent",
    "OptionalPrincipal",
    "OptionalResident",
    "Principal",
    "Supervisor",
    "ensure_owner",
    "ensure_team",
]
