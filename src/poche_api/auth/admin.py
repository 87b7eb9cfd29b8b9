"""Admin access.

Until staff sign-in (OIDC, roles) lands, operators authenticate with one bearer token from
``POCHE_ADMIN_TOKEN``; without it every admin route answers 401.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from poche_api.config import Settings
from poche_api.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Operator token (POCHE_ADMIN_TOKEN)")


def require_admin(request: Request) -> None:
    settings: Settings = request.state.settings
    challenge = {"WWW-Authenticate": 'Bearer realm="poche-api"'}
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(("Jeton requis.", "A bearer token is required."), headers=challenge)
    expected = settings.admin_token.get_secret_value() if settings.admin_token else None
    if expected is None or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Forbidden(("Jeton refusé.", "Token refused."))


async def _admin(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    require_admin(request)


Admin = Annotated[None, Depends(_admin)]
