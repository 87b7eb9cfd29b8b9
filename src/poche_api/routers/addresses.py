"""Addresses in the Métropole through the BAN: autocomplete and the address at a point."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from poche_api.errors import Unprocessable, problem_responses
from poche_api.integrations.geocoding import ATTRIBUTION, Address, GeocoderDep
from poche_api.kit.caching import cached_json, encode
from poche_api.kit.ratelimit import RateLimit
from poche_api.routers.communes import TerritoryDep
from poche_api.territory.schemas import CommuneSummary

router = APIRouter(prefix="/addresses", tags=["addresses"])
MAX_AGE = 3600
# BAN is always asked for this many: one cache entry per query whatever the caller's limit,
# and room to drop the answers from outside the Métropole.
UPSTREAM_LIMIT = 20
# Searches without a point lean towards the Métropole (BAN weighs the distance to it).
METROPOLE_CENTRE = (49.4432, 1.0998)
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match)"}
}


class AddressList(BaseModel):
    items: list[Address] = Field(description="Matching addresses in the Métropole, best first")
    count: int = Field(description="How many items")
    attribution: str = Field(description="Data source and licence")


class AddressAtPoint(BaseModel):
    commune: CommuneSummary = Field(description="The commune containing the point")
    address: Address | None = Field(description="The nearest address; null when BAN has none near")
    attribution: str = Field(description="Data source and licence")


def _invalid(parameter: str, fr: str, en: str) -> Unprocessable:
    return Unprocessable((fr, en), errors=[{"parameter": parameter, "in": "query", "detail": en}])


@router.get(
    "",
    response_model=AddressList,
    summary="Address autocomplete in the Métropole",
    description="Accents and case are ignored; the last word may be incomplete. Only addresses "
    "of the Métropole's communes are returned. 503 when the address service is down and the "
    "query was never answered before.",
    responses={**NOT_MODIFIED, **problem_responses(422, 429, 503)},
    dependencies=[Depends(RateLimit("addresses-search", quota=120, window=60))],
)
async def search_addresses(
    request: Request,
    geocoder: GeocoderDep,
    territory: TerritoryDep,
    q: Annotated[
        str,
        Query(min_length=3, max_length=200, description="What the resident typed so far"),
    ],
    limit: Annotated[int, Query(ge=1, le=10, description="At most this many addresses")] = 5,
    citycode: Annotated[
        str | None,
        Query(pattern=r"^[0-9][0-9AB][0-9]{3}$", description="Only this commune (INSEE code)"),
    ] = None,
    lat: Annotated[
        float | None, Query(ge=-90, le=90, description="Prefer addresses near this point")
    ] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="With `lat`")] = None,
) -> Response:
    communes = (await territory.snapshot()).summaries
    if citycode is not None and citycode not in communes:
        raise _invalid(
            "citycode",
            f"La commune {citycode} ne fait pas partie de la Métropole.",
            f"Commune {citycode} is not part of the Métropole.",
        )
    if (lat is None) != (lon is None):
        raise _invalid(
            "lat" if lat is None else "lon",
            "lat et lon vont ensemble.",
            "lat and lon go together.",
        )
    near = (lat, lon) if lat is not None and lon is not None else METROPOLE_CENTRE
    found = await geocoder.search(q, citycode=citycode, near=near, limit=UPSTREAM_LIMIT)
    items = [address for address in found if address.citycode in communes][:limit]
    answer = AddressList(items=items, count=len(items), attribution=ATTRIBUTION)
    return cached_json(request, encode(answer), max_age=MAX_AGE)


@router.get(
    "/reverse",
    response_model=AddressAtPoint,
    summary="The address at a point of the Métropole",
    description="The commune comes from the Métropole's own boundaries, the address from the "
    "BAN (the nearest one, within ~10 m of rounding). A point outside the Métropole is a 422; "
    "503 when the address service is down and the point was never asked before.",
    responses={**NOT_MODIFIED, **problem_responses(422, 429, 503)},
    dependencies=[Depends(RateLimit("addresses-reverse", quota=120, window=60))],
)
async def reverse_address(
    request: Request,
    geocoder: GeocoderDep,
    territory: TerritoryDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS 84)")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (WGS 84)")],
) -> Response:
    commune = await territory.locate(lat, lon)
    if commune is None:
        raise Unprocessable(
            ("Ce point est hors de la Métropole.", "This point is outside the Métropole."),
            slug="outside-metropole",
        )
    address = await geocoder.reverse(lat, lon, strict=True)
    answer = AddressAtPoint(commune=commune, address=address, attribution=ATTRIBUTION)
    return cached_json(request, encode(answer), max_age=MAX_AGE)
