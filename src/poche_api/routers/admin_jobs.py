"""Dead letters: jobs that exhausted their retries, for an operator to inspect and requeue."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from starlette.responses import Response

from poche_api import jobs
from poche_api.auth.admin import Admin
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import NotFound, problem_responses
from poche_api.kit.idempotency import IdempotentCall, idempotency
from poche_api.kit.pagination import Page, PageParamsDep

router = APIRouter(prefix="/admin/jobs", tags=["admin"])


class DeadLetter(BaseModel):
    id: int = Field(description="Job id")
    entrypoint: str = Field(description="Job name, e.g. `notifications.send`")
    attempts: int = Field(description="Attempts made before giving up")
    created: datetime = Field(description="When the job was enqueued")
    updated: datetime = Field(description="When it last failed")
    payload: dict[str, Any] = Field(description="The job's arguments (ids, never objects)")


class Requeued(BaseModel):
    id: int = Field(description="Job id, queued again with its attempts reset")
    status: str = Field(description="Always `queued`")


@router.get(
    "/dead-letters",
    response_model=Page[DeadLetter],
    summary="List dead-lettered jobs, newest first",
    responses=problem_responses(400, 401, 403),
)
async def list_dead_letters(
    _: Admin, session: ReadSessionDep, page: PageParamsDep
) -> Page[DeadLetter]:
    after = int(page.after[0]) if page.after else None
    rows = await jobs.dead_letters(session, limit=page.limit + 1, after_id=after)
    items = [DeadLetter.model_validate(row, from_attributes=True) for row in rows]
    return Page[DeadLetter](
        items=items[: page.limit], next_cursor=page.next_cursor(items, lambda d: [d.id])
    )


@router.post(
    "/dead-letters/{job_id}/requeue",
    response_model=Requeued,
    summary="Queue a dead-lettered job again",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def requeue_dead_letter(
    _: Admin,
    session: SessionDep,
    call: Annotated[IdempotentCall, Depends(idempotency())],
    job_id: Annotated[int, Path(ge=1)],
) -> Response:
    if call.replay is not None:
        return call.replay
    if not await jobs.requeue_dead_letter(session, job_id):
        raise NotFound(
            (f"Aucune lettre morte {job_id}.", f"No dead letter {job_id}."), slug="job-not-found"
        )
    return await call.respond(session, Requeued(id=job_id, status="queued"))
