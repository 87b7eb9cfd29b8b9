"""The signed-in account: profile, devices, consents, export and erasure."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from poche_api.auth import AnyPrincipal, CurrentResident
from poche_api.auth.principal import credential_or_ip
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import Forbidden, problem_responses
from poche_api.identity import service
from poche_api.identity.repository import IdentityRepository
from poche_api.identity.schemas import (
    ConsentIn,
    ConsentKind,
    ConsentOut,
    DeviceLink,
    DeviceOut,
    Me,
    PersonalDataExport,
    ResidentProfile,
    StaffProfile,
)
from poche_api.kit.ratelimit import RateLimit

router = APIRouter(prefix="/me", tags=["me"])
NO_STORE = {"Cache-Control": "no-store"}


def _flow(request: Request) -> service.Flow:
    return service.Flow(request.state.settings, request.state.redis, request.state.http)


@router.get(
    "",
    response_model=Me,
    summary="Who I am",
    responses=problem_responses(401, 403),
)
async def me(principal: AnyPrincipal, session: ReadSessionDep, response: Response) -> Me:
    response.headers.update(NO_STORE)
    if principal.kind == "resident" and principal.id is not None:
        resident = await service.get_resident(session, principal.uid)
        return Me(
            id=resident.id, kind="resident", resident=ResidentProfile.model_validate(resident)
        )
    if principal.kind == "staff" and principal.id is not None:
        out = await service.staff_out(
            IdentityRepository.from_session(session),
            await service.get_staff(session, principal.uid),
        )
        return Me(id=out.id, kind="staff", staff=StaffProfile.model_validate(out))
    raise Forbidden(
        ("Aucun compte : cet appareil est anonyme.", "No account: this device is anonymous."),
        slug="no-account",
    )


@router.get(
    "/export",
    response_model=PersonalDataExport,
    summary="Every personal data held about me (GDPR access and portability)",
    responses=problem_responses(401, 403, 429),
    dependencies=[Depends(RateLimit("me-export", quota=10, window=3600, key=credential_or_ip))],
)
async def export(
    principal: CurrentResident, session: ReadSessionDep, response: Response
) -> PersonalDataExport:
    response.headers.update({**NO_STORE, "Content-Disposition": "attachment; filename=poche.json"})
    return await service.export_personal_data(session, principal.uid)


@router.delete(
    "",
    status_code=204,
    summary="Erase my account (devices, sessions, consents deleted; kept records anonymised)",
    responses=problem_responses(401, 403, 429),
    dependencies=[Depends(RateLimit("me-erase", quota=5, window=3600, key=credential_or_ip))],
)
async def erase(principal: CurrentResident, session: SessionDep, request: Request) -> Response:
    await service.erase_resident(_flow(request), session, principal.uid)
    return Response(status_code=204)


@router.get(
    "/consents",
    response_model=list[ConsentOut],
    summary="My consents in force",
    responses=problem_responses(401, 403),
)
async def consents(
    principal: CurrentResident, session: ReadSessionDep, response: Response
) -> list[ConsentOut]:
    response.headers.update(NO_STORE)
    return await service.current_consents(session, principal.uid)


@router.put(
    "/consents/{kind}",
    response_model=ConsentOut,
    summary="Record a consent decision (kept with its time and text version)",
    responses=problem_responses(401, 403, 422),
)
async def put_consent(
    principal: CurrentResident,
    session: SessionDep,
    kind: Annotated[ConsentKind, Path(description="geolocation or notifications")],
    body: ConsentIn,
) -> ConsentOut:
    return await service.record_consent(session, principal.uid, kind, body.granted, body.version)


@router.get(
    "/devices",
    response_model=list[DeviceOut],
    summary="My linked devices",
    responses=problem_responses(401, 403),
)
async def devices(
    principal: CurrentResident, session: ReadSessionDep, response: Response
) -> list[DeviceOut]:
    response.headers.update(NO_STORE)
    return await service.my_devices(session, principal.uid)


@router.post(
    "/devices/link",
    response_model=DeviceOut,
    summary="Link an anonymous install (and its history) to my account",
    responses=problem_responses(401, 403, 404, 409, 429),
    dependencies=[Depends(RateLimit("me-device-link", quota=10, window=60, key=credential_or_ip))],
)
async def link(principal: CurrentResident, session: SessionDep, body: DeviceLink) -> DeviceOut:
    return DeviceOut.model_validate(
        await service.link_device(session, principal.uid, body.device_token)
    )


@router.delete(
    "/devices/{device_id}",
    status_code=204,
    summary="Forget one of my devices (its credential stops working)",
    responses=problem_responses(401, 403, 404),
)
async def delete_device(
    principal: CurrentResident, session: SessionDep, device_id: uuid.UUID
) -> Response:
    await service.delete_my_device(session, principal.uid, device_id)
    return Response(status_code=204)
