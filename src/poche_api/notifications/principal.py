"""Who is calling: the one place the push routes look up identities (swapped at merge time).

Until the identity capability lands, the principal is ``request.state.principal_id`` (set by
whatever authenticates the app: an anonymous device credential or a resident's account) and
supervisors are the operator token's holders (``Admin``).
"""

from typing import Annotated

from fastapi import Depends, Request

from poche_api.auth.admin import Admin
from poche_api.errors import Unauthorized

SUPERVISOR_PRINCIPAL = "operator"


def current_principal(request: Request) -> str:
    principal = getattr(request.state, "principal_id", None)
    if not isinstance(principal, str) or not principal:
        raise Unauthorized(
            (
                "Identification de l'appareil ou du compte requise.",
                "A device or account is required.",
            ),
            slug="principal-required",
            headers={"WWW-Authenticate": 'Bearer realm="poche-api"'},
        )
    return principal


Principal = Annotated[str, Depends(current_principal)]
Supervisor = Admin
