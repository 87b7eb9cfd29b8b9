"""Anonymous installs: register without an account, get a limited device credential."""

from fastapi import APIRouter, Depends
from starlette.responses import Response

from poche_api.auth import CurrentDevice, ensure_owner
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import NotFound, problem_responses
from poche_api.identity import service
from poche_api.identity.repository import IdentityRepository
from poche_api.identity.schemas import DeviceCreate, DeviceOut, DeviceRegistered
from poche_api.kit.ratelimit import RateLimit

router = APIRouter(prefix="/devices", tags=["devices"])


@router.post(
    "",
    status_code=201,
    response_model=DeviceRegistered,
    summary="Register this install (no account needed)",
    responses=problem_responses(400, 415, 422, 429),
    dependencies=[Depends(RateLimit("devices-register", quota=30, window=3600))],
)
async def register(body: DeviceCreate, session: SessionDep, response: Response) -> DeviceRegistered:
    device, credential = await service.register_device(
        session, platform=body.platform, app_version=body.app_version
    )
    response.headers["Cache-Control"] = "no-store"
    return DeviceRegistered.model_validate(
        {**DeviceOut.model_validate(device).model_dump(), "device_token": credential}
    )


@router.get(
    "/current",
    response_model=DeviceOut,
    summary="This install, as its device credential sees it",
    responses=problem_responses(401, 403, 404),
)
async def current(principal: CurrentDevice, session: ReadSessionDep) -> DeviceOut:
    device = (
        await IdentityRepository.from_session(session).device(principal.id)
        if principal.id
        else None
    )
    if device is None:
        raise NotFound(("Appareil introuvable.", "Device not found."), slug="device-not-found")
    ensure_owner(principal, device.id, what="Appareil")
    return DeviceOut.model_validate(device)
