"""Transport on the Astuce network: stops, lines, departures, vehicles, alerts, follows."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from poche_api.auth.keys import PrincipalKey
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import problem_responses
from poche_api.kit.caching import cached_json, encode
from poche_api.kit.i18n import LanguageDep
from poche_api.transport import schemas
from poche_api.transport.realtime import RealtimeCache
from poche_api.transport.repository import TransportRepository
from poche_api.transport.service import TransportService

router = APIRouter(prefix="/transport", tags=["transport"])
REALTIME_MAX_AGE = 10
STATIC_MAX_AGE = 3600
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match)"}
}

StopId = Annotated[str, Path(max_length=200, description="GTFS stop_id", examples=["TCAR:TDA"])]
LineId = Annotated[str, Path(max_length=200, description="GTFS route_id", examples=["TCAR:90"])]


def _service(request: Request, session: ReadSessionDep) -> TransportService:
    cache: RealtimeCache = request.state.transport_cache
    return TransportService(
        TransportRepository.from_session(session),
        settings=request.state.settings,
        redis=request.state.redis,
        cache=cache,
    )


def _write_service(request: Request, session: SessionDep) -> TransportService:
    cache: RealtimeCache = request.state.transport_cache
    return TransportService(
        TransportRepository.from_session(session),
        settings=request.state.settings,
        redis=request.state.redis,
        cache=cache,
    )


ServiceDep = Annotated[TransportService, Depends(_service)]
WriteServiceDep = Annotated[TransportService, Depends(_write_service)]


# A resident, a staff member or an anonymous install (device credential), resolved by identity.
PrincipalDep = PrincipalKey


@router.get(
    "/stops",
    response_model=schemas.StopList,
    summary="Search stops by name prefix (accents and case ignored)",
    responses={**NOT_MODIFIED, **problem_responses(422, 503)},
)
async def search_stops(
    request: Request,
    service: ServiceDep,
    q: Annotated[
        str, Query(min_length=1, max_length=100, description="Start of a word of the name")
    ],
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many stops")] = 20,
) -> Response:
    result = await service.search_stops(q, limit)
    return cached_json(request, encode(result), max_age=STATIC_MAX_AGE)


@router.get(
    "/stops/nearby",
    response_model=schemas.NearbyStops,
    summary="Stops around a point, nearest first",
    responses={**NOT_MODIFIED, **problem_responses(422, 503)},
)
async def nearby_stops(
    request: Request,
    service: ServiceDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS 84)")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (WGS 84)")],
    radius: Annotated[int, Query(ge=10, le=2000, description="Radius in metres (≤ 2 km)")] = 500,
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many stops")] = 20,
) -> Response:
    result = await service.nearby(lat, lon, radius, limit)
    return cached_json(request, encode(result), max_age=STATIC_MAX_AGE)


@router.get(
    "/stops/{stop_id}",
    response_model=schemas.StopDetail,
    summary="A stop and the lines serving it",
    responses={**NOT_MODIFIED, **problem_responses(404, 503)},
)
async def stop_detail(request: Request, service: ServiceDep, stop_id: StopId) -> Response:
    result = await service.stop_detail(stop_id)
    return cached_json(request, encode(result), max_age=STATIC_MAX_AGE)


@router.get(
    "/stops/{stop_id}/departures",
    response_model=schemas.DepartureBoard,
    summary="Next departures at a stop, real-time when available",
    description=(
        "Each departure says where its time comes from: `realtime` (measured), `estimated` "
        "(delay propagated from an earlier stop, or a line whose real-time is not trusted), "
        "`scheduled` (timetable only, e.g. when the real-time feed is stale), `cancelled` or "
        "`skipped` (kept visible so riders are not left waiting)."
    ),
    responses={**NOT_MODIFIED, **problem_responses(404, 422, 503)},
)
async def departures(
    request: Request,
    service: ServiceDep,
    stop_id: StopId,
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many departures")] = 20,
    horizon: Annotated[int, Query(ge=5, le=720, description="Look this many minutes ahead")] = 90,
) -> Response:

    async def compute() -> bytes:
        return encode(await service.departures(stop_id, horizon_minutes=horizon, limit=limit))

    body = await service.cache.boards.get_or_compute((stop_id, limit, horizon), compute)
    return cached_json(request, body, max_age=REALTIME_MAX_AGE)


@router.get(
    "/stops/{stop_id}/alerts",
    response_model=schemas.AlertList,
    summary="Disruptions active now at a stop",
    responses={**NOT_MODIFIED, **problem_responses(404, 503)},
)
async def stop_alerts(
    request: Request, service: ServiceDep, lang: LanguageDep, stop_id: StopId
) -> Response:
    result = await service.alerts(lang, stop_id=stop_id)
    return cached_json(request, encode(result), max_age=REALTIME_MAX_AGE)


@router.get(
    "/lines",
    response_model=schemas.LineList,
    summary="Lines of the network",
    responses={**NOT_MODIFIED, **problem_responses(503)},
)
async def lines(request: Request, service: ServiceDep) -> Response:
    return cached_json(request, encode(await service.lines()), max_age=STATIC_MAX_AGE)


@router.get(
    "/lines/{line_id}",
    response_model=schemas.LineDetail,
    summary="A line: stops per direction and its shape for the map",
    responses={**NOT_MODIFIED, **problem_responses(404, 503)},
)
async def line_detail(request: Request, service: ServiceDep, line_id: LineId) -> Response:
    result = await service.line_detail(line_id)
    return cached_json(request, encode(result), max_age=STATIC_MAX_AGE)


@router.get(
    "/lines/{line_id}/vehicles",
    response_model=schemas.VehicleList,
    summary="Vehicles of a line (positions less than 3 minutes old)",
    responses={**NOT_MODIFIED, **problem_responses(404, 503)},
)
async def line_vehicles(request: Request, service: ServiceDep, line_id: LineId) -> Response:
    result = await service.vehicles(line_id)
    return cached_json(request, encode(result), max_age=REALTIME_MAX_AGE)


@router.get(
    "/lines/{line_id}/alerts",
    response_model=schemas.AlertList,
    summary="Disruptions active now on a line",
    responses={**NOT_MODIFIED, **problem_responses(404, 503)},
)
async def line_alerts(
    request: Request, service: ServiceDep, lang: LanguageDep, line_id: LineId
) -> Response:
    result = await service.alerts(lang, line_id=line_id)
    return cached_json(request, encode(result), max_age=REALTIME_MAX_AGE)


@router.get(
    "/alerts",
    response_model=schemas.AlertList,
    summary="Disruptions active now on the network",
    responses=NOT_MODIFIED,
)
async def all_alerts(request: Request, service: ServiceDep, lang: LanguageDep) -> Response:
    result = await service.alerts(lang)
    return cached_json(request, encode(result), max_age=REALTIME_MAX_AGE)


@router.get(
    "/health",
    response_model=schemas.TransportHealth,
    summary="Freshness of the timetable and of each real-time feed",
    description="Lets the app show « temps réel indisponible » when real-time is down.",
    responses=NOT_MODIFIED,
)
async def feed_health(request: Request, service: ServiceDep) -> Response:
    result = await service.health()
    return cached_json(request, encode(result), max_age=REALTIME_MAX_AGE)


@router.get(
    "/follows",
    response_model=schemas.FollowList,
    summary="Stops and lines the caller follows",
    responses=problem_responses(401),
)
async def list_follows(service: ServiceDep, principal: PrincipalDep) -> schemas.FollowList:
    return await service.follows(principal)


@router.post(
    "/follows",
    response_model=schemas.Follow,
    status_code=201,
    summary="Follow a stop or a line (idempotent: following twice keeps one follow)",
    responses=problem_responses(401, 404, 422, 503),
)
async def follow(
    service: WriteServiceDep, principal: PrincipalDep, body: schemas.FollowCreate
) -> schemas.Follow:
    return await service.follow(principal, body)


@router.delete(
    "/follows/{follow_id}",
    status_code=204,
    summary="Stop following",
    responses=problem_responses(401, 404),
)
async def unfollow(
    service: WriteServiceDep, principal: PrincipalDep, follow_id: uuid.UUID
) -> Response:
    await service.unfollow(principal, follow_id)
    return Response(status_code=204)
