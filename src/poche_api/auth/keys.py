"""Identity's principals reduced to the string key that domains store as an owner.

A push registration or a followed stop belongs to ``request.state.principal_id``, which identity's resolver sets from
the ``Authorization: Bearer`` credential: a resident's or staff member's access token, or an
anonymous install's device credential. Campaigns are for supervisors (staff with role supervisor
or admin) and for the break-glass operator token.
"""

from typing import Annotated

from fastapi import Depends, Request

from poche_api.auth import Credentials, OptionalPrincipal
from poche_api.auth.principal import resolve
from poche_api.db import ReadSessionDep
from poche_api.errors import Forbidden, Unauthorized
from poche_api.identity.schemas import ROLE_RANK, StaffRole

SUPERVISOR_PRINCIPAL = "operator"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="poche-api"'}


def _required() -> Unauthorized:
    return Unauthorized(
        ("Identification de l'appareil ou du compte requise.", "A device or account is required."),
        slug="principal-required",
        headers=_CHALLENGE,
    )


async def current_principal(request: Request, _resolved: OptionalPrincipal) -> str:
    principal = getattr(request.state, "principal_id", None)
    if not isinstance(principal, str) or not principal or principal.startswith("operator:"):
        raise _required()
    return principal


async def supervisor(request: Request, session: ReadSessionDep, _: Credentials) -> str:
    principal = await resolve(request, session)
    if principal is None:
        raise _required()
    if principal.kind == "operator":
        return SUPERVISOR_PRINCIPAL
    if (
        principal.kind == "staff"
        and ROLE_RANK[principal.role or StaffRole.agent] >= ROLE_RANK[StaffRole.supervisor]
    ):
        return principal.key
    raise Forbidden(
        ("Rôle superviseur requis.", "Role supervisor required."), slug="insufficient-role"
    )


PrincipalKey = Annotated[str, Depends(current_principal)]
SupervisorKey = Annotated[str, Depends(supervisor)]
