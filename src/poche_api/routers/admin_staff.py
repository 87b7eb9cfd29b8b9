"""Staff provisioning: who may sign in with the staff provider, with which role and teams."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from poche_api.auth import Admin
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import problem_responses
from poche_api.identity import service
from poche_api.identity.repository import IdentityRepository
from poche_api.identity.schemas import StaffCreate, StaffOut, StaffUpdate
from poche_api.kit.idempotency import IdempotentCall, idempotency
from poche_api.kit.pagination import Page, PageParamsDep

router = APIRouter(prefix="/admin/staff", tags=["admin"])


@router.post(
    "",
    status_code=201,
    response_model=StaffOut,
    summary="Provision a staff member",
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create(
    _: Admin,
    session: SessionDep,
    call: Annotated[IdempotentCall, Depends(idempotency())],
    body: StaffCreate,
) -> Response:
    if call.replay is not None:
        return call.replay
    staff = await service.provision_staff(session, body)
    return await call.respond(session, staff, status_code=201)


@router.get(
    "",
    response_model=Page[StaffOut],
    summary="List staff members by e-mail",
    responses=problem_responses(400, 401, 403),
)
async def list_staff(_: Admin, session: ReadSessionDep, page: PageParamsDep) -> Page[StaffOut]:
    repo = IdentityRepository.from_session(session)
    after = str(page.after[0]) if page.after else None
    rows = await repo.staff_page(limit=page.limit + 1, after_email=after)
    items = [await service.staff_out(repo, row) for row in rows]
    return Page[StaffOut](
        items=items[: page.limit], next_cursor=page.next_cursor(items, lambda s: [s.email])
    )


@router.get(
    "/{staff_id}",
    response_model=StaffOut,
    summary="One staff member",
    responses=problem_responses(401, 403, 404),
)
async def get(_: Admin, session: ReadSessionDep, staff_id: uuid.UUID) -> StaffOut:
    return await service.staff_out(
        IdentityRepository.from_session(session), await service.get_staff(session, staff_id)
    )


@router.patch(
    "/{staff_id}",
    response_model=StaffOut,
    summary="Change role, teams or access (deactivation revokes every session)",
    responses=problem_responses(401, 403, 404, 422),
)
async def update(
    _: Admin, session: SessionDep, request: Request, staff_id: uuid.UUID, body: StaffUpdate
) -> StaffOut:
    flow = service.Flow(request.state.settings, request.state.redis, request.state.http)
    return await service.update_staff(flow, session, staff_id, body)
