"""Who is calling, resolved once per request from ``Authorization: Bearer``.

- an app access token (our ES256 JWT): a resident or a staff member (role and teams read from
  the database, so a change applies at once);
- a device credential (``pdc_…``): an anonymous install, limited to its own data;
- ``POCHE_ADMIN_TOKEN``: the break-glass operator, for /v1/admin and /metrics only.

The principal's id goes to ``request.state.principal_id`` so Idempotency-Keys are scoped to it.
"""

import hmac
import uuid
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.errors import Unauthorized
from poche_api.identity import service, tokens
from poche_api.identity.schemas import StaffRole
from poche_api.kit.ratelimit import client_ip

# ``partner``: a partner system acting on its own behalf (an Open311 client); never resolved from
# a bearer token, built by the domain that authenticates it (incidents.service.partner_caller).
PrincipalKind = Literal["resident", "staff", "device", "operator", "partner"]
_SCOPE_KEY = "poche.principal"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="poche-api"'}


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: uuid.UUID | None
    session_id: uuid.UUID | None = None
    role: StaffRole | None = None
    teams: frozenset[str] = field(default_factory=frozenset)

    @property
    def uid(self) -> uuid.UUID:
        """The account or device id (every principal but the operator has one)."""
        if self.id is None:
            raise invalid_token()
        return self.id

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id or 'operator'}"


def invalid_token() -> Unauthorized:
    return Unauthorized(
        ("Jeton invalide ou expiré.", "Invalid or expired token."),
        slug="invalid-token",
        headers={"WWW-Authenticate": 'Bearer realm="poche-api", error="invalid_token"'},
    )


def credential_or_ip(request: Request) -> str:
    """Rate-limit key for authenticated calls: the credential (hashed), else the client IP,
    so residents behind one carrier NAT do not share a quota."""
    token = bearer(request)
    return "cred:" + tokens.token_hash(token)[:32] if token else client_ip(request)


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def resolve(request: Request, session: AsyncSession) -> Principal | None:
    """The caller, or None without credentials; 401 for credentials that do not hold."""
    # Cached in the request's own scope: ``request.state`` may be shared with the lifespan state
    # under some servers and test transports, and must never carry one caller into the next.
    if _SCOPE_KEY in request.scope:
        cached: Principal | None = request.scope[_SCOPE_KEY]
        return cached
    request.state.principal_id = None
    token = bearer(request)
    if token is None:
        request.scope[_SCOPE_KEY] = None
        return None
    settings: Settings = request.state.settings
    principal: Principal | None
    if token.startswith(tokens.DEVICE_PREFIX):
        device = await service.device_for_credential(session, token)
        principal = Principal("device", device.id) if device else None
    elif _is_operator(settings, token):
        principal = Principal("operator", None)
    else:
        principal = await _from_access_token(request, session, settings, token)
    if principal is None:
        raise invalid_token()
    request.scope[_SCOPE_KEY] = principal
    request.state.principal_id = principal.key
    return principal


def _is_operator(settings: Settings, token: str) -> bool:
    expected = settings.admin_token.get_secret_value() if settings.admin_token else None
    return expected is not None and hmac.compare_digest(token.encode(), expected.encode())


async def _from_access_token(
    request: Request, session: AsyncSession, settings: Settings, token: str
) -> Principal | None:
    try:
        claims = tokens.keyring(settings).verify_access(settings, token)
    except tokens.InvalidAccessToken:
        return None
    if await service.is_revoked(request.state.redis, claims.session_id):
        return None
    if claims.kind == "resident":
        return Principal("resident", claims.subject_id, claims.session_id)
    found = await service.staff_role(session, claims.subject_id)
    if found is None:
        return None
    role, teams = found
    return Principal("staff", claims.subject_id, claims.session_id, role, frozenset(teams))
