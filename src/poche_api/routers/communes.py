"""The Métropole's communes and the point → commune lookup."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from poche_api.errors import NotFound, problem_responses
from poche_api.kit.caching import cached_json, encode
from poche_api.kit.ratelimit import RateLimit
from poche_api.territory import schemas
from poche_api.territory.service import TerritoryService

router = APIRouter(prefix="/communes", tags=["territory"])
DAY = 86_400


async def _territory(request: Request) -> TerritoryService:
    service: TerritoryService = request.state.territory
    return service


TerritoryDep = Annotated[TerritoryService, Depends(_territory)]


@router.get(
    "",
    response_model=schemas.CommuneList,
    summary="List the 71 communes of the Métropole",
    responses={304: {"description": "Not modified (If-None-Match)"}},
)
async def list_communes(request: Request, territory: TerritoryDep) -> Response:
    body, etag = (await territory.snapshot()).list_bytes
    return cached_json(request, body, etag=etag, max_age=DAY)


@router.get(
    "/locate",
    response_model=schemas.LocatedPoint,
    summary="Which commune contains a point",
    description="`inside_metropole` is false (and `commune` null) for a point outside.",
    responses=problem_responses(422, 429),
    dependencies=[Depends(RateLimit("communes-locate", quota=120, window=60))],
)
async def locate(
    request: Request,
    territory: TerritoryDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS 84)")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (WGS 84)")],
) -> Response:
    commune = await territory.locate(lat, lon)
    located = schemas.LocatedPoint(inside_metropole=commune is not None, commune=commune)
    return cached_json(request, encode(located), max_age=DAY)


@router.post(
    "/locate",
    response_model=schemas.LocateResults,
    summary="Which commune contains each of several points",
    description="Resolves up to 100 points in one call (an offline queue, a route).",
    responses=problem_responses(400, 413, 415, 422, 429),
    dependencies=[Depends(RateLimit("communes-locate", quota=120, window=60))],
)
async def locate_many(
    territory: TerritoryDep, request_body: schemas.LocateRequest
) -> schemas.LocateResults:
    snapshot = await territory.snapshot()
    results = []
    for point in request_body.points:
        commune = snapshot.locate(point.lat, point.lon)
        results.append(schemas.LocatedPoint(inside_metropole=commune is not None, commune=commune))
    return schemas.LocateResults(results=results)


@router.get(
    "/{insee}",
    response_model=schemas.Commune,
    summary="One commune, by INSEE code",
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_commune(
    request: Request,
    territory: TerritoryDep,
    insee: Annotated[str, Path(pattern=r"^[0-9][0-9AB][0-9]{3}$", description="INSEE code")],
) -> Response:
    cached = (await territory.snapshot()).detail_bytes.get(insee)
    if cached is None:
        raise NotFound(
            (
                f"La commune {insee} ne fait pas partie de la Métropole.",
                f"Commune {insee} is not part of the Métropole.",
            ),
            slug="commune-not-found",
        )
    body, etag = cached
    return cached_json(request, body, etag=etag, max_age=DAY)
