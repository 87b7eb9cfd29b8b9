"""Supervisors moderate a report: hide it or a photo from the public, redact its description."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path
from starlette.responses import Response

from poche_api.auth import Supervisor
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import problem_responses
from poche_api.incidents import moderation, service
from poche_api.incidents.views import etag

router = APIRouter(prefix="/agent/reports", tags=["incidents: moderation"])
ReportId = Annotated[uuid.UUID, Path(description="Report id")]
IfMatch = Annotated[
    str | None,
    Header(description="The report's ETag as last read: a stale one gets 412"),
]


@router.get(
    "/{report_id}/moderation",
    response_model=moderation.ModerationLog,
    summary="Supervisors: what is hidden or redacted, and the audit log of who did it and why",
    responses=problem_responses(401, 403, 404),
)
async def moderation_log(
    report_id: ReportId, principal: Supervisor, session: ReadSessionDep
) -> Response:
    report = await service.staff_report(session, report_id, service.caller(principal))
    body = await moderation.log(session, report)
    return Response(
        body.model_dump_json().encode(),
        media_type="application/json",
        headers={"ETag": etag(report), "Cache-Control": "private, no-cache"},
    )


@router.post(
    "/{report_id}/moderation",
    response_model=moderation.ModerationEntry,
    status_code=201,
    summary="Supervisors: hide or unhide the report or one of its photos, redact the description",
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def moderate(
    report_id: ReportId,
    data: moderation.ModerationIn,
    principal: Supervisor,
    session: SessionDep,
    if_match: IfMatch = None,
) -> Response:
    who = service.caller(principal)
    report = await service.staff_report(session, report_id, who, lock=True)
    service.check_version(report, if_match)
    row = await moderation.moderate(session, report, who, data)
    return Response(
        moderation.entry_view(row).model_dump_json().encode(),
        status_code=201,
        media_type="application/json",
        headers={"ETag": etag(report), "Cache-Control": "no-store"},
    )
