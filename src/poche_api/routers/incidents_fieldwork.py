"""Field agents on the move: reports near me, notes, offline sync, and a day's visiting order.

Included before ``incidents_staff`` so ``/agent/reports/nearby`` is not read as a report id.
"""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from poche_api.auth import FieldAgent
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import problem_responses
from poche_api.incidents import fieldwork, schemas, service
from poche_api.kit.i18n import LanguageDep
from poche_api.kit.timeutil import paris_now
from poche_api.routers.incidents_staff import IfMatch, ReportId, render, render_entries

router = APIRouter(prefix="/agent", tags=["incidents: field agents"])
Latitude = Annotated[float, Query(ge=-90, le=90, description="Where the agent is")]
Longitude = Annotated[float, Query(ge=-180, le=180)]


@router.get(
    "/reports/nearby",
    response_model=schemas.FieldReportList,
    summary="Open reports of my teams around me, nearest first",
    responses=problem_responses(401, 403, 422),
)
async def nearby(
    request: Request,
    principal: FieldAgent,
    session: ReadSessionDep,
    lang: LanguageDep,
    lat: Latitude,
    lon: Longitude,
    radius: Annotated[
        int, Query(ge=10, le=fieldwork.NEARBY_MAX_RADIUS_M, description="Metres")
    ] = 500,
    limit: Annotated[int, Query(ge=1, le=fieldwork.NEARBY_MAX_RESULTS)] = 50,
) -> schemas.FieldReportList:
    who = service.caller(principal)
    entries = await fieldwork.nearby(session, who, lat, lon, radius, limit=limit)
    views = await render_entries(session, request, entries, who, lang)
    items = [
        schemas.FieldReport(**view.model_dump(), distance_m=round(entry.distance_m or 0.0))
        for view, entry in zip(views, entries, strict=True)
    ]
    return schemas.FieldReportList(items=items, radius_m=radius)


@router.post(
    "/reports/{report_id}/notes",
    response_model=schemas.StaffReport,
    summary="Add a public and/or internal note without changing the status",
    description="A public note is shown in the resident's timeline and pushed to followers; "
    "an internal note stays with staff.",
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def add_note(
    request: Request,
    report_id: ReportId,
    data: schemas.NoteIn,
    principal: FieldAgent,
    session: SessionDep,
    lang: LanguageDep,
    if_match: IfMatch = None,
) -> Response:
    who = service.caller(principal)
    report = await service.staff_report(session, report_id, who, lock=True)
    service.check_version(report, if_match)
    report = await fieldwork.add_note(session, request.state.settings, report, who, data)
    [view] = await render(session, request, [report], who, lang, with_history=True)
    return Response(
        view.model_dump_json().encode(),
        media_type="application/json",
        headers={"ETag": f'"r{report.version}"', "Cache-Control": "private, no-cache"},
    )


@router.post(
    "/sync",
    response_model=schemas.SyncOut,
    summary="Replay work done offline: claims, transitions and notes, each on its own",
    description="Operations are applied in order, each in its own savepoint: one refused "
    "operation leaves the others applied. Each answer is what the single call would have "
    "answered (200 with the report's new version, or 403, 404, 409, 412, 422 with a problem). "
    "An operation id already seen returns its first answer (`replayed`) without applying it "
    "again; to retry after a refusal, send a new id. `base_version` older than the report "
    "answers 412 unless the only changes since were this agent's own synced operations, or "
    "the report already is as the operation wants (`already_current`); notes never conflict.",
    responses=problem_responses(401, 403, 422),
)
async def sync(
    request: Request,
    data: schemas.SyncIn,
    principal: FieldAgent,
    session: SessionDep,
    lang: LanguageDep,
) -> schemas.SyncOut:
    who = service.caller(principal)
    results = await fieldwork.sync(session, request.state.settings, who, data.operations, lang=lang)
    return schemas.SyncOut(results=results)


@router.get(
    "/route",
    response_model=schemas.DayRoute,
    summary="A suggested visiting order for my day's list",
    description="My reports in hand (assigned, in progress, reopened) and those scheduled on "
    "`date` (mine, or unassigned in my teams), at most "
    f"{fieldwork.ROUTE_MAX_STOPS} stops, ordered from my position by straight-line distance: "
    "the exact shortest order for a few stops, a nearest-neighbour tour improved by 2-opt "
    "beyond.",
    responses=problem_responses(401, 403, 422),
)
async def day_route(
    request: Request,
    principal: FieldAgent,
    session: ReadSessionDep,
    lang: LanguageDep,
    lat: Latitude,
    lon: Longitude,
    date: Annotated[dt.date | None, Query(description="Default: today (Europe/Paris)")] = None,
) -> schemas.DayRoute:
    who = service.caller(principal)
    day = date or paris_now().date()
    planned = await fieldwork.day_route(session, who, day, (lat, lon))
    views = await render(session, request, planned.reports, who, lang)
    stops = []
    cumulative = 0.0
    for position, (view, leg) in enumerate(zip(views, planned.tour.legs_m, strict=True), 1):
        cumulative += leg
        stops.append(
            schemas.RouteStop(
                order=position, leg_m=round(leg), cumulative_m=round(cumulative), report=view
            )
        )
    return schemas.DayRoute(
        date=day,
        start=schemas.PointIn(lat=lat, lon=lon),
        total_m=round(planned.tour.total_m),
        nearest_neighbour_m=round(planned.nearest_neighbour.total_m),
        stops=stops,
        truncated=planned.truncated,
    )
