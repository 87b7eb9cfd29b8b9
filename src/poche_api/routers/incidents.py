"""Incident reporting for residents and anonymous installs: categories, filing, follow-up."""

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from poche_api.auth import AnyPrincipal, OptionalPrincipal
from poche_api.auth.principal import credential_or_ip
from poche_api.config import Settings
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import NotFound, problem_responses
from poche_api.incidents import catalogue, photos, schemas, service, workflow
from poche_api.incidents.repository import IncidentRepository
from poche_api.incidents.uploads import read_with_files
from poche_api.incidents.views import etag, photos_by_report, report_view
from poche_api.kit.caching import cached_json, encode
from poche_api.kit.i18n import LanguageDep
from poche_api.kit.idempotency import IdempotentCall, idempotency
from poche_api.kit.pagination import PageParamsDep
from poche_api.kit.ratelimit import RateLimit
from poche_api.kit.timeutil import utcnow
from poche_api.territory.service import TerritoryService

router = APIRouter(prefix="/incidents", tags=["incidents"])
ReportId = Annotated[uuid.UUID, Path(description="Report id")]
CATALOGUE_MAX_AGE = 300

# Abusable flows are throttled per credential (or IP without one) and per IP.
_PER_DEVICE = {"key": credential_or_ip}
REPORT_LIMITS = [
    Depends(RateLimit("incident-report", quota=10, window=3600, **_PER_DEVICE)),
    Depends(RateLimit("incident-report-ip", quota=60, window=3600)),
]
FOLLOW_LIMITS = [
    Depends(RateLimit("incident-follow", quota=60, window=3600, **_PER_DEVICE)),
    Depends(RateLimit("incident-follow-ip", quota=300, window=3600)),
]
FEEDBACK_LIMITS = [
    Depends(RateLimit("incident-feedback", quota=20, window=3600, **_PER_DEVICE)),
    Depends(RateLimit("incident-feedback-ip", quota=100, window=3600)),
]

REPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ReportIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["report"],
                    "properties": {
                        "report": {"type": "string", "description": "ReportIn as JSON"},
                        "photos": {
                            "type": "array",
                            "maxItems": 3,
                            "items": {"type": "string", "format": "binary"},
                            "description": "JPEG, PNG, WebP or HEIC",
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


def _caller(principal: Any) -> service.Caller | None:
    return service.caller(principal) if principal is not None else None


async def _render(
    session: Any,
    request: Request,
    report: Any,
    category: Any,
    who: service.Caller | None,
    lang: str,
    *,
    with_timeline: bool = True,
) -> schemas.Report:
    repo = IncidentRepository.from_session(session)
    viewer = who.key if who else None
    duplicate = await repo.report(report.duplicate_of_id) if report.duplicate_of_id else None
    following = bool(viewer) and await repo.follow(report.id, viewer or "") is not None
    return report_view(
        report,
        category,
        lang=lang,
        viewer=viewer,
        photos=await repo.photos([report.id]),
        following=following,
        reopen_days=_settings(request).incident_reopen_days,
        duplicate_code=duplicate.tracking_code if duplicate else None,
        events=await repo.events(report.id) if with_timeline else None,
        privileged=who is not None and who.is_staff,
    )


@router.get(
    "/categories",
    response_model=schemas.Catalogue,
    summary="The category tree (groups, categories, their questions and notices)",
    responses=problem_responses(422),
)
async def categories(request: Request, session: ReadSessionDep, lang: LanguageDep) -> Response:
    result = await catalogue.catalogue(session, lang)
    return cached_json(request, encode(result), max_age=CATALOGUE_MAX_AGE)


@router.get(
    "/reports/nearby",
    response_model=schemas.NearbyReports,
    summary="Open reports nearby: check for a duplicate before filing",
    responses=problem_responses(404, 422, 429),
    dependencies=[Depends(RateLimit("incident-nearby", quota=120, window=60))],
)
async def nearby(
    request: Request,
    session: ReadSessionDep,
    lang: LanguageDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    category: Annotated[
        str | None, Query(max_length=64, description="Only this category, within its radius")
    ] = None,
    radius: Annotated[int | None, Query(ge=10, le=2000, description="Metres")] = None,
) -> Response:
    settings = _settings(request)
    repo = IncidentRepository.from_session(session)
    chosen = await catalogue.active_category(session, category) if category else None
    radius_m = radius or (chosen.duplicate_radius_m if chosen else 100)
    since = utcnow() - timedelta(days=settings.incident_duplicate_days)
    found = await repo.open_nearby(
        lat,
        lon,
        radius_m,
        category_id=chosen.id if chosen else None,
        since=since,
        public_only=True,
        limit=10,
    )
    photos_of = photos_by_report(await repo.photos([report.id for report, _ in found]))
    categories = await repo.categories_by_id([report.category_id for report, _ in found])
    items = []
    for report, distance in found:
        shown = [p for p in photos_of.get(report.id, []) if not p.hidden]
        items.append(
            schemas.NearbyReport(
                id=report.id,
                tracking_code=report.tracking_code,
                category=categories[report.category_id].code,
                status=report.status,
                status_label=workflow.label(report.status, lang),
                location=schemas.PointIn(lat=report.lat, lon=report.lon),
                distance_m=round(distance),
                description=None if report.hidden else (report.description or None),
                supporters=report.supporters,
                created_at=report.created_at,
                thumbnail_url=f"/v1/incidents/photos/{shown[0].id}/thumb.webp" if shown else None,
            )
        )
    body = encode(schemas.NearbyReports(items=items, radius_m=radius_m))
    return cached_json(request, body, max_age=30)


@router.post(
    "/reports",
    response_model=schemas.Report,
    status_code=201,
    summary="File a report (JSON, or multipart with up to 3 photos)",
    responses={
        200: {"description": "Same client id retried: the report already filed"},
        **problem_responses(400, 401, 403, 409, 413, 415, 422, 429),
    },
    dependencies=REPORT_LIMITS,
    openapi_extra=REPORT_BODY,
)
async def file_report(
    request: Request,
    principal: AnyPrincipal,
    session: SessionDep,
    lang: LanguageDep,
    call: Annotated[IdempotentCall, Depends(idempotency())],
) -> Response:
    if call.replay is not None:
        return call.replay
    settings = _settings(request)
    data, files = await read_with_files(
        request,
        schemas.ReportIn,
        field="report",
        files_field="photos",
        max_files=settings.incident_max_photos,
    )
    who = service.caller(principal)
    stored = await photos.accept(request, files)
    territory: TerritoryService = request.state.territory
    filed = await service.file_report(
        session, settings, territory, who, data, stored, geocoder=request.state.geocoder
    )
    if not filed.created:
        await photos.discard(request, stored)
    view = await _render(session, request, filed.report, filed.category, who, lang)
    return await call.respond(
        session,
        view,
        status_code=201 if filed.created else 200,
        headers={
            "Location": f"/v1/incidents/reports/{filed.report.id}",
            "ETag": etag(filed.report),
        },
    )


@router.get(
    "/reports/mine",
    response_model=schemas.ReportList,
    summary="Reports I filed, newest first",
    responses=problem_responses(401, 403),
)
async def my_reports(
    request: Request,
    principal: AnyPrincipal,
    session: ReadSessionDep,
    lang: LanguageDep,
    page: PageParamsDep,
    followed: Annotated[bool, Query(description="Reports I follow instead")] = False,
) -> schemas.ReportList:
    who = service.caller(principal)
    repo = IncidentRepository.from_session(session)
    after = None
    if page.after:
        after = (datetime.fromisoformat(page.after[0]), uuid.UUID(page.after[1]))
    fetch = repo.followed_by if followed else repo.reports_of
    rows = await fetch(who.key, after=after, limit=page.limit + 1)
    categories = await repo.categories_by_id([row.category_id for row in rows])
    photos_of = photos_by_report(await repo.photos([row.id for row in rows[: page.limit]]))
    followed_ids = await repo.followed_ids(who.key, [row.id for row in rows])
    items = [
        report_view(
            row,
            categories[row.category_id],
            lang=lang,
            viewer=who.key,
            photos=photos_of.get(row.id, []),
            following=row.id in followed_ids,
            reopen_days=_settings(request).incident_reopen_days,
        )
        for row in rows[: page.limit]
    ]
    return schemas.ReportList(
        items=items,
        next_cursor=page.next_cursor(rows, lambda r: [r.created_at.isoformat(), str(r.id)]),
    )


@router.get(
    "/reports/{report_id}",
    response_model=schemas.Report,
    summary="A report: public fields and timeline (and my answers when it is mine)",
    responses=problem_responses(401, 404),
)
async def report_detail(
    request: Request,
    report_id: ReportId,
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    lang: LanguageDep,
) -> Response:
    who = _caller(principal)
    report, category = await service.visible_report(session, report_id, who)
    view = await _render(session, request, report, category, who, lang)
    personal = who is not None
    return cached_json(request, encode(view), max_age=0 if personal else 30, public=not personal)


@router.get(
    "/track/{tracking_code}",
    response_model=schemas.Report,
    summary="A report by its public tracking code",
    responses=problem_responses(404, 422),
)
async def track(
    request: Request,
    tracking_code: Annotated[str, Path(pattern=r"^[A-Za-z]{3}-[A-Za-z0-9]{6}$")],
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    lang: LanguageDep,
) -> Response:
    found = await IncidentRepository.from_session(session).report_by_code(tracking_code)
    if found is None:
        raise NotFound(("Signalement introuvable.", "Report not found."), slug="report-not-found")
    return await report_detail(request, found.id, principal, session, lang)


@router.put(
    "/reports/{report_id}/follow",
    status_code=204,
    summary="Follow a report (pushed on every public status change)",
    responses=problem_responses(401, 404, 409, 429),
    dependencies=FOLLOW_LIMITS,
)
async def follow(report_id: ReportId, principal: AnyPrincipal, session: SessionDep) -> Response:
    who = service.caller(principal)
    report, _ = await service.visible_report(session, report_id, who)
    await service.follow(session, report, who, support=False)
    return Response(status_code=204)


@router.delete(
    "/reports/{report_id}/follow",
    status_code=204,
    summary="Stop following a report",
    responses=problem_responses(401, 404, 429),
    dependencies=FOLLOW_LIMITS,
)
async def unfollow(report_id: ReportId, principal: AnyPrincipal, session: SessionDep) -> Response:
    who = service.caller(principal)
    report = await service.followed_or_visible_report(session, report_id, who)
    await service.unfollow(session, report, who)
    return Response(status_code=204)


@router.post(
    "/reports/{report_id}/support",
    status_code=204,
    summary="'Me too': support an open report instead of filing a duplicate (and follow it)",
    responses=problem_responses(401, 404, 409, 429),
    dependencies=FOLLOW_LIMITS,
)
async def support(report_id: ReportId, principal: AnyPrincipal, session: SessionDep) -> Response:
    who = service.caller(principal)
    report, _ = await service.visible_report(session, report_id, who)
    await service.follow(session, report, who, support=True)
    return Response(status_code=204)


@router.post(
    "/reports/{report_id}/reopen",
    response_model=schemas.Report,
    summary="'Not fixed': ask to reopen a resolved report (reporter only, within the delay)",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
    dependencies=FEEDBACK_LIMITS,
)
async def reopen(
    request: Request,
    report_id: ReportId,
    data: schemas.ReopenIn,
    principal: AnyPrincipal,
    session: SessionDep,
    lang: LanguageDep,
) -> schemas.Report:
    who = service.caller(principal)
    report, category = await service.visible_report(session, report_id, who)
    report = await service.request_reopen(session, _settings(request), report, who, data.reason)
    return await _render(session, request, report, category, who, lang)


@router.put(
    "/reports/{report_id}/feedback",
    status_code=204,
    summary="Rate the resolution (1-5) with an optional comment; a second call replaces it",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
    dependencies=FEEDBACK_LIMITS,
)
async def feedback(
    report_id: ReportId, data: schemas.FeedbackIn, principal: AnyPrincipal, session: SessionDep
) -> Response:
    who = service.caller(principal)
    report, _ = await service.visible_report(session, report_id, who)
    await service.give_feedback(session, report, who, data.rating, data.comment)
    return Response(status_code=204)


@router.get(
    "/photos/{photo_id}/{variant}.webp",
    summary="A report photo (WebP), re-encoded without EXIF or GPS",
    responses={200: {"content": {"image/webp": {}}}, **problem_responses(404)},
    response_class=Response,
)
async def photo(
    request: Request,
    photo_id: uuid.UUID,
    variant: Annotated[str, Path(pattern=r"^(large|medium|thumb)$")],
    principal: OptionalPrincipal,
    session: ReadSessionDep,
) -> Response:
    return await photos.serve(request, session, photo_id, variant, _caller(principal))
