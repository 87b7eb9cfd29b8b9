"""Sign-in as backend-for-frontend: FranceConnect (residents) and the staff provider.

The app opens ``/start`` in the system browser with its PKCE challenge; we redirect to the
provider, verify its answer on ``/callback`` and send the browser back to the app with a one-time
code, which the app redeems with its PKCE verifier at ``POST /auth/token``.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import RedirectResponse

from poche_api.auth import AnyPrincipal
from poche_api.auth.principal import credential_or_ip
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import Forbidden, problem_responses
from poche_api.identity import service
from poche_api.identity.providers import PROVIDERS, ProviderName
from poche_api.identity.schemas import (
    AuthorizationCodeGrant,
    LogoutRequest,
    LogoutResult,
    TokenPair,
    TokenRequest,
)
from poche_api.kit.ratelimit import RateLimit

router = APIRouter(prefix="/auth", tags=["auth"])
PROVIDER_DOC = {"franceconnect": "FranceConnect v2 (residents)", "staff": "staff provider"}


def _flow(request: Request) -> service.Flow:
    return service.Flow(request.state.settings, request.state.redis, request.state.http)


FlowDep = Annotated[service.Flow, Depends(_flow)]


def _add_provider_routes(provider: ProviderName) -> None:
    @router.get(
        f"/{provider}/start",
        status_code=302,
        response_class=RedirectResponse,
        summary=f"Start signing in with the {PROVIDER_DOC[provider]} (system browser)",
        responses=problem_responses(400, 422, 429, 503),
        dependencies=[Depends(RateLimit(f"auth-{provider}-start", quota=20, window=60))],
        name=f"{provider}_start",
    )
    async def start(
        flow: FlowDep,
        redirect_uri: Annotated[
            str, Query(max_length=512, description="The app's redirect URI (allow-listed)")
        ],
        code_challenge: Annotated[
            str, Query(max_length=128, description="PKCE challenge: BASE64URL(SHA256(verifier))")
        ],
        code_challenge_method: Annotated[str, Query(description="Must be `S256`")] = "S256",
        login_hint: Annotated[
            str | None, Query(max_length=320, description="Passed to the provider")
        ] = None,
    ) -> RedirectResponse:
        url = await service.start_login(
            flow,
            provider,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            login_hint=login_hint,
        )
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})

    @router.get(
        f"/{provider}/callback",
        status_code=302,
        response_class=RedirectResponse,
        summary=f"Where the {PROVIDER_DOC[provider]} sends the browser back",
        responses=problem_responses(400, 403, 429, 503),
        dependencies=[Depends(RateLimit(f"auth-{provider}-callback", quota=20, window=60))],
        name=f"{provider}_callback",
    )
    async def callback(
        flow: FlowDep,
        session: ReadSessionDep,
        state: Annotated[str | None, Query(max_length=128)] = None,
        code: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=128)] = None,
        error_description: Annotated[str | None, Query(max_length=512)] = None,
    ) -> RedirectResponse:
        url = await service.complete_login(
            flow,
            session,
            provider,
            state=state,
            code=code,
            error=error,
            error_description=error_description,
        )
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


for _provider in PROVIDERS:
    _add_provider_routes(_provider)


@router.post(
    "/token",
    response_model=TokenPair,
    summary="Redeem a one-time code (PKCE) or rotate a refresh token",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429),
    dependencies=[Depends(RateLimit("auth-token", quota=30, window=60))],
)
async def token(
    flow: FlowDep, session: SessionDep, grant: Annotated[TokenRequest, Body()]
) -> TokenPair:
    if isinstance(grant, AuthorizationCodeGrant):
        pair = await service.redeem_code(
            flow,
            session,
            code=grant.code,
            code_verifier=grant.code_verifier,
            redirect_uri=grant.redirect_uri,
            device_token=grant.device_token,
        )
    else:
        try:
            pair = await service.refresh(flow, session, grant.refresh_token)
        except service.RefreshTokenReused:
            # The family's revocation must outlive this error answer.
            await session.commit()
            raise
    return pair


@router.post(
    "/logout",
    response_model=LogoutResult,
    summary="Revoke this sign-in; returns the provider's end-session URL to open",
    responses=problem_responses(400, 401, 403, 429),
    dependencies=[Depends(RateLimit("auth-logout", quota=30, window=60, key=credential_or_ip))],
)
async def logout(
    principal: AnyPrincipal,
    flow: FlowDep,
    session: SessionDep,
    body: Annotated[LogoutRequest | None, Body()] = None,
) -> LogoutResult:
    if principal.session_id is None:
        raise Forbidden(
            ("Aucune session à fermer.", "No sign-in session to end."), slug="no-session"
        )
    url = await service.logout(
        flow, session, principal.session_id, body.post_logout_redirect_uri if body else None
    )
    return LogoutResult(end_session_url=url)
