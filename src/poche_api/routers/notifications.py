"""Push: install registrations, preferences, my devices, my inbox, supervisors' campaigns."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from poche_api.auth.keys import PrincipalKey as Principal
from poche_api.auth.keys import SupervisorKey as Supervisor
from poche_api.config import Settings
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import problem_responses
from poche_api.kit.i18n import LanguageDep
from poche_api.kit.idempotency import IdempotentCall, idempotency
from poche_api.kit.pagination import Page, PageParamsDep
from poche_api.kit.ratelimit import RateLimit
from poche_api.notifications import service
from poche_api.notifications.schemas import (
    ID_PATTERN,
    Campaign,
    CampaignIn,
    InboxItem,
    Preferences,
    Registration,
    RegistrationIn,
)

router = APIRouter(tags=["notifications"])

InstallationId = Annotated[
    str, Path(pattern=ID_PATTERN, description="Id the app generated for this install (UUID)")
]


@router.put(
    "/push/installations/{installation_id}",
    response_model=Registration,
    status_code=200,
    summary="Register this install for push, or refresh its FCM token",
    responses={
        201: {"description": "Registered", "model": Registration},
        **problem_responses(401, 403, 422, 429),
    },
    dependencies=[Depends(RateLimit("push-register", quota=30, window=60))],
)
async def register_installation(
    installation_id: InstallationId,
    data: RegistrationIn,
    principal: Principal,
    session: SessionDep,
    response: Response,
) -> Registration:
    registration, created = await service.register(session, principal, installation_id, data)
    if created:
        response.status_code = 201
    return Registration.model_validate(registration)


@router.delete(
    "/push/installations/{installation_id}",
    status_code=204,
    summary="Stop push to this install (its topics are left)",
    responses=problem_responses(401, 404),
)
async def unregister_installation(
    installation_id: InstallationId, principal: Principal, session: SessionDep
) -> Response:
    await service.unregister(session, principal, installation_id)
    return Response(status_code=204)


@router.get(
    "/push/installations/{installation_id}/preferences",
    response_model=Preferences,
    summary="This install's notification preferences",
    responses=problem_responses(401, 404),
)
async def get_preferences(
    installation_id: InstallationId, principal: Principal, session: ReadSessionDep
) -> Preferences:
    return await service.preferences(session, principal, installation_id)


@router.put(
    "/push/installations/{installation_id}/preferences",
    response_model=Preferences,
    summary="Replace this install's preferences (its FCM topics follow)",
    responses=problem_responses(401, 404, 422),
)
async def put_preferences(
    installation_id: InstallationId, data: Preferences, principal: Principal, session: SessionDep
) -> Preferences:
    return await service.set_preferences(session, principal, installation_id, data)


@router.get(
    "/me/push-registrations",
    response_model=list[Registration],
    summary="My devices registered for push",
    responses=problem_responses(401),
)
async def my_devices(principal: Principal, session: ReadSessionDep) -> list[Registration]:
    return [Registration.model_validate(r) for r in await service.devices(session, principal)]


@router.delete(
    "/me/push-registrations/{registration_id}",
    status_code=204,
    summary="Revoke one of my devices: it gets no more push",
    responses=problem_responses(401, 404),
)
async def revoke_device(
    registration_id: uuid.UUID, principal: Principal, session: SessionDep
) -> Response:
    await service.revoke(session, principal, registration_id)
    return Response(status_code=204)


@router.get(
    "/me/notifications",
    response_model=Page[InboxItem],
    summary="My inbox: what was pushed to me, newest first",
    responses=problem_responses(400, 401),
)
async def my_notifications(
    principal: Principal,
    session: ReadSessionDep,
    page: PageParamsDep,
    language: LanguageDep,
    unread: Annotated[bool, Query(description="Only the unread ones")] = False,
) -> Page[InboxItem]:
    rows = await service.inbox(
        session,
        principal,
        language=language,
        unread_only=unread,
        limit=page.limit + 1,
        after=page.after,
    )
    return Page[InboxItem](
        items=[item for item, _ in rows[: page.limit]],
        next_cursor=page.next_cursor(rows, lambda row: row[1]),
    )


@router.post(
    "/me/notifications/{entry_id}/read",
    status_code=204,
    summary="Mark one of my notifications read",
    responses=problem_responses(401, 404),
)
async def mark_read(entry_id: uuid.UUID, principal: Principal, session: SessionDep) -> Response:
    await service.mark_read(session, principal, entry_id)
    return Response(status_code=204)


@router.post(
    "/admin/push/campaigns",
    response_model=Campaign,
    status_code=201,
    summary="Create a campaign; FCM validates it at once (dry run, nothing is sent)",
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_campaign(
    data: CampaignIn,
    author: Supervisor,
    request: Request,
    session: SessionDep,
    call: Annotated[IdempotentCall, Depends(idempotency())],
) -> Response:
    if call.replay is not None:
        return call.replay
    settings: Settings = request.state.settings
    campaign = await service.create_campaign(session, settings, author, data)
    view = await service.campaign_view(session, campaign.id)
    return await call.respond(session, view, status_code=201)


@router.post(
    "/admin/push/campaigns/{campaign_id}/send",
    response_model=Campaign,
    summary="Send a validated campaign to its topic",
    responses=problem_responses(401, 403, 404, 409),
)
async def send_campaign(campaign_id: uuid.UUID, _: Supervisor, session: SessionDep) -> Campaign:
    await service.send_campaign(session, campaign_id)
    return await service.campaign_view(session, campaign_id)


@router.get(
    "/admin/push/campaigns/{campaign_id}",
    response_model=Campaign,
    summary="A campaign and its statistics",
    responses=problem_responses(401, 403, 404),
)
async def get_campaign(campaign_id: uuid.UUID, _: Supervisor, session: ReadSessionDep) -> Campaign:
    return await service.campaign_view(session, campaign_id)
