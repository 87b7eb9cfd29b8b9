"""Field agents and supervisors: queues, report detail, claim, transitions, reassignment."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from starlette.responses import Response

from poche_api.auth import FieldAgent, Supervisor
from poche_api.config import Settings
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import BadRequest, Forbidden, problem_responses
from poche_api.incidents import photos, schemas, service
from poche_api.incidents.repository import (
    IncidentRepository,
    QueueEntry,
    QueueFilter,
    StaffFacts,
)
from poche_api.incidents.uploads import read_with_files
from poche_api.incidents.views import etag, staff_view
from poche_api.incidents.workflow import Status
from poche_api.kit.i18n import LanguageDep
from poche_api.kit.pagination import PageParamsDep
from poche_api.kit.timeutil import utcnow
from poche_api.models import IncidentReport
from poche_api.territory.service import TerritoryService

router = APIRouter(prefix="/agent", tags=["incidents: field agents"])
ReportId = Annotated[uuid.UUID, Path(description="Report id")]
IfMatch = Annotated[
    str | None,
    Header(description="The report's ETag as last read: a stale one gets 412"),
]
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
TRANSITION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/TransitionIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["transition"],
                    "properties": {
                        "transition": {"type": "string", "description": "TransitionIn as JSON"},
                        "photo": {
                            "type": "string",
                            "format": "binary",
                            "description": "After-fix photo",
                        },
                    },
                }
            },
        },
    }
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def render(
    session: Any,
    request: Request,
    reports: list[IncidentReport],
    who: service.Caller,
    lang: str,
    *,
    with_history: bool = False,
    facts: Mapping[uuid.UUID, StaffFacts] | None = None,
) -> list[schemas.StaffReport]:
    """Staff views of ``reports``; their ``facts`` are read in one statement unless given."""
    repo = IncidentRepository.from_session(session)
    if facts is None:
        facts = await repo.staff_facts(reports)
    now = utcnow()
    reopen_days = _settings(request).incident_reopen_days
    views = []
    for report in reports:
        shown = facts[report.id]
        views.append(
            staff_view(
                report,
                shown.category,
                lang=lang,
                viewer=who.key,
                photos=shown.photos,
                team_slug=shown.team_slug,
                rule_name=shown.rule_name,
                now=now,
                reopen_days=reopen_days,
                duplicate_code=shown.duplicate_code,
                events=await repo.events(report.id) if with_history else None,
            )
        )
    return views


async def render_entries(
    session: Any, request: Request, entries: Sequence[QueueEntry], who: service.Caller, lang: str
) -> list[schemas.StaffReport]:
    """Staff views of a queue's entries, with the facts their own statement read."""
    return await render(
        session,
        request,
        [entry.report for entry in entries],
        who,
        lang,
        facts={entry.report.id: entry.facts for entry in entries},
    )


async def _report_answer(
    session: Any, request: Request, report: IncidentReport, who: service.Caller, lang: str
) -> Response:
    """One report with its history, its version as the ETag to send back in If-Match."""
    [view] = await render(session, request, [report], who, lang, with_history=True)
    return Response(
        view.model_dump_json().encode(),
        media_type="application/json",
        headers={"ETag": etag(report), "Cache-Control": "private, no-cache"},
    )


async def _locked_at_version(
    session: Any, report_id: uuid.UUID, who: service.Caller, if_match: str | None
) -> IncidentReport:
    """The report to change, locked, or 412 if the caller's ETag is no longer its version."""
    report = await service.staff_report(session, report_id, who, lock=True)
    service.check_version(report, if_match)
    return report


@router.get(
    "/reports",
    response_model=schemas.StaffReportList,
    summary="My queue, my teams' queue, or the triage queue (supervisors)",
    responses=problem_responses(400, 401, 403, 422),
)
async def queue(
    request: Request,
    principal: FieldAgent,
    session: ReadSessionDep,
    lang: LanguageDep,
    page: PageParamsDep,
    scope: Annotated[Literal["mine", "teams", "triage"], Query()] = "teams",
    status: Annotated[list[Status] | None, Query(description="Default: every open status")] = None,
    category: Annotated[list[str] | None, Query(max_length=20)] = None,
    commune: Annotated[str | None, Query(pattern=r"^[0-9AB]{5}$")] = None,
    overdue: Annotated[bool, Query(description="Only reports past their SLA")] = False,
    escalated: Annotated[
        bool | None, Query(description="true: only escalated to a supervisor; false: only not")
    ] = None,
    sort: Annotated[Literal["deadline", "distance"], Query()] = "deadline",
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> Response:
    who = service.caller(principal)
    repo = IncidentRepository.from_session(session)
    if scope == "triage" and not who.is_supervisor:
        raise Forbidden(
            ("La file de tri est réservée aux superviseurs.", "Triage is for supervisors."),
            slug="insufficient-role",
        )
    where = QueueFilter(
        team_slugs=sorted(principal.teams) if scope == "teams" else None,
        assignee_id=principal.id if scope == "mine" else None,
        statuses=[str(s) for s in status] if status else None,
        category_codes=category,
        commune_insee=commune,
        overdue_at=utcnow() if overdue else None,
        triage=scope == "triage",
        escalated=escalated,
    )
    if sort == "distance":
        if lat is None or lon is None:
            raise BadRequest(
                ("Le tri par distance demande lat et lon.", "Sorting by distance needs lat, lon."),
                slug="position-required",
            )
        offset = int(page.after[0]) if page.after else 0
        entries = await repo.queue_by_distance(where, lat, lon, offset=offset, limit=page.limit + 1)
        next_cursor = (
            page.codec.encode([offset + page.limit]) if len(entries) > page.limit else None
        )
    else:
        after = None
        if page.after:
            after = (datetime.fromisoformat(page.after[0]), uuid.UUID(page.after[1]))
        entries = await repo.queue_by_deadline(where, after=after, limit=page.limit + 1)
        next_cursor = page.next_cursor(
            entries,
            lambda e: [(e.report.sla_due_at or FAR_FUTURE).isoformat(), str(e.report.id)],
        )
    items = await render_entries(session, request, entries[: page.limit], who, lang)
    # Built and checked once above: serialise without FastAPI validating the page again.
    return Response(
        schemas.StaffReportList(items=items, next_cursor=next_cursor).model_dump_json().encode(),
        media_type="application/json",
        headers={"Cache-Control": "private, no-cache"},
    )


@router.get(
    "/reports/{report_id}",
    response_model=schemas.StaffReport,
    summary="A report with its full history; the ETag is its version (send it in If-Match)",
    responses=problem_responses(401, 403, 404),
)
async def detail(
    request: Request,
    report_id: ReportId,
    principal: FieldAgent,
    session: ReadSessionDep,
    lang: LanguageDep,
) -> Response:
    who = service.caller(principal)
    report = await service.staff_report(session, report_id, who)
    return await _report_answer(session, request, report, who, lang)


@router.post(
    "/reports/{report_id}/claim",
    response_model=schemas.StaffReport,
    summary="Take a report of my team's queue",
    responses=problem_responses(401, 403, 404, 409, 412),
)
async def claim(
    request: Request,
    report_id: ReportId,
    principal: FieldAgent,
    session: SessionDep,
    lang: LanguageDep,
    if_match: IfMatch = None,
) -> Response:
    who = service.caller(principal)
    report = await _locked_at_version(session, report_id, who, if_match)
    report = await service.claim(session, _settings(request), report, who)
    return await _report_answer(session, request, report, who, lang)


@router.post(
    "/reports/{report_id}/transitions",
    response_model=schemas.StaffReport,
    summary="Change a report's status with notes (multipart to add an after-fix photo)",
    responses=problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422),
    openapi_extra=TRANSITION_BODY,
)
async def transition(
    request: Request,
    report_id: ReportId,
    principal: FieldAgent,
    session: SessionDep,
    lang: LanguageDep,
    if_match: IfMatch = None,
) -> Response:
    who = service.caller(principal)
    change, files = await read_with_files(
        request, schemas.TransitionIn, field="transition", files_field="photo", max_files=1
    )
    report = await _locked_at_version(session, report_id, who, if_match)
    stored = await photos.accept(request, files)
    report = await service.transition(
        session,
        _settings(request),
        report,
        who,
        change,
        after_fix_photo=stored[0] if stored else None,
    )
    return await _report_answer(session, request, report, who, lang)


@router.post(
    "/reports/{report_id}/reassign",
    response_model=schemas.StaffReport,
    summary="Supervisors: move a report to another team and/or agent",
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def reassign(
    request: Request,
    report_id: ReportId,
    data: schemas.ReassignIn,
    principal: Supervisor,
    session: SessionDep,
    lang: LanguageDep,
    if_match: IfMatch = None,
) -> Response:
    who = service.caller(principal)
    report = await _locked_at_version(session, report_id, who, if_match)
    report = await service.reassign(
        session, report, who, team_slug=data.team, assignee_id=data.assignee_id, note=data.note
    )
    return await _report_answer(session, request, report, who, lang)


@router.patch(
    "/reports/{report_id}",
    response_model=schemas.StaffReport,
    summary="Correct the category, location or priority; the report is routed again",
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def requalify(
    request: Request,
    report_id: ReportId,
    data: schemas.RequalifyIn,
    principal: FieldAgent,
    session: SessionDep,
    lang: LanguageDep,
    if_match: IfMatch = None,
) -> Response:
    who = service.caller(principal)
    report = await _locked_at_version(session, report_id, who, if_match)
    territory: TerritoryService = request.state.territory
    report = await service.requalify(
        session,
        territory,
        report,
        who,
        category_code=data.category,
        lat=data.location.lat if data.location else None,
        lon=data.location.lon if data.location else None,
        priority=data.priority,
        note=data.internal_note,
    )
    return await _report_answer(session, request, report, who, lang)
