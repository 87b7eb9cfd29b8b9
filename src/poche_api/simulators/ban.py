"""Base Adresse Nationale simulator: ``/search/`` and ``/reverse/`` as api-adresse.data.gouv.fr.

It answers from the Rouen-area address set of ``ban_data`` with addok's GeoJSON
``FeatureCollection`` (``attribution``, ``licence``, ``query``, ``filters``, ``center``,
``limit``; per feature ``label``, ``score``, ``housenumber``, ``id``, ``type``, ``name``,
``postcode``, ``citycode``, ``x``, ``y``, ``city``, ``context``, ``importance``, ``street`` and
``distance`` when a point is given) and with its errors (400 ``{"code", "message"}``, 429 past
50 requests per second and per IP).

Search is accent- and case-insensitive: with ``autocomplete`` (the default) the last word is a
prefix, the others whole words. A query starting with a number looks for house numbers, any
other for streets and communes. Reverse gives the nearest entries within 1 km.

``POST /_control`` injects failures (``down``, ``fail_next`` answers with ``status``,
``latency_seconds``, ``malformed`` bodies, the rate limit) and ``GET /_control`` counts requests.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from poche_api.config import Settings
from poche_api.kit.geo import haversine_m
from poche_api.kit.text import normalize
from poche_api.simulators import Simulator, register
from poche_api.simulators.ban_data import SimAddress, addresses

MAX_QUERY_CHARS = 200
REVERSE_RADIUS_M = 1000.0
KINDS = ("housenumber", "street", "locality", "municipality")
QUERY_MESSAGE = "q must contain between 3 and 200 chars and start with a number or a letter"


@dataclass
class BanState:
    requests: Counter[str] = field(default_factory=Counter)
    down: bool = False
    fail_next: int = 0
    status: int = 503
    latency_seconds: float = 0.0
    malformed: Literal["off", "shape", "json"] = "off"
    rate_limit_per_second: int = 50
    window: tuple[int, Counter[str]] = field(default_factory=lambda: (0, Counter()))


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reset: bool = Field(False, description="Back to a healthy simulator with zeroed counters")
    down: bool | None = Field(None, description="Answer `status` to every request until false")
    fail_next: int | None = Field(None, ge=0, description="Answer `status` to the next N requests")
    status: int | None = Field(None, ge=400, le=599, description="Failure status (503)")
    latency_seconds: float | None = Field(None, ge=0, description="Delay before every answer")
    malformed: Literal["off", "shape", "json"] | None = Field(
        None, description="`shape`: JSON that is not a FeatureCollection; `json`: not JSON"
    )
    rate_limit_per_second: int | None = Field(None, ge=1, description="429 beyond (BAN: 50)")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json; charset=utf-8")


def _error(status: int, message: str) -> Response:
    return _json({"code": status, "message": message}, status)


class BadParameter(ValueError):
    pass


def _limit(raw: str | None, default: int) -> int:
    if raw is None or raw == "" or raw == "0":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter("limit must be an integer") from None
    if not 1 <= value <= 100:
        raise BadParameter("limit must be between 1 and 100")
    return value


def _coordinate(raw: str | None, name: str, bound: float) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a float") from None
    if not -bound <= value <= bound:
        raise BadParameter(f"{name} must be between -{bound} and {bound}")
    return value


def _filters(request: Request) -> dict[str, str]:
    found = {}
    for name in ("type", "citycode", "postcode"):
        value = request.query_params.get(name)
        if value:
            if name == "type" and value not in KINDS:
                raise BadParameter(f"type must be one of {', '.join(KINDS)}")
            found[name] = value
    return found


def _passes(entry: SimAddress, filters: dict[str, str]) -> bool:
    return (
        filters.get("type", entry.kind) == entry.kind
        and filters.get("citycode", entry.citycode) == entry.citycode
        and filters.get("postcode", entry.postcode) == entry.postcode
    )


def _matches(entry: SimAddress, words: list[str], autocomplete: bool) -> float:
    """A score in (0, 1] when every word of the query is in the label, else 0."""
    if not words:
        return 0.0
    *whole, last = words
    tokens = entry.tokens
    if any(word not in tokens for word in whole):
        return 0.0
    if not (last in tokens or (autocomplete and any(t.startswith(last) for t in tokens))):
        return 0.0
    covered = sum(len(word) for word in words) / sum(len(token) for token in tokens)
    return round(0.4 + 0.5 * min(covered, 1.0) + 0.1 * entry.importance, 6)


def search(
    q: str,
    *,
    limit: int,
    autocomplete: bool,
    filters: dict[str, str],
    center: tuple[float, float] | None,
) -> list[tuple[SimAddress, float, float | None]]:
    """(entry, score, distance in metres) of the best matches, best first."""
    words = normalize(q).split()
    numbered = bool(words) and words[0].isdigit() and len(words[0]) <= 4
    wanted = {"housenumber"} if numbered else {"street", "municipality"}
    found = []
    for entry in addresses():
        if entry.kind not in wanted or not _passes(entry, filters):
            continue
        score = _matches(entry, words, autocomplete)
        if score <= 0:
            continue
        distance = haversine_m(center[0], center[1], entry.lat, entry.lon) if center else None
        found.append((entry, score, distance))
    found.sort(key=lambda item: (-item[1], item[2] or 0.0, item[0].label))
    return found[:limit]


def reverse(
    lat: float, lon: float, *, limit: int, filters: dict[str, str]
) -> list[tuple[SimAddress, float, float]]:
    """(entry, score, distance in metres) of the nearest house numbers or streets within 1 km."""
    found = []
    for entry in addresses():
        if entry.kind == "municipality" or not _passes(entry, filters):
            continue
        distance = haversine_m(lat, lon, entry.lat, entry.lon)
        if distance <= REVERSE_RADIUS_M:
            found.append((entry, round(1 - distance / REVERSE_RADIUS_M, 6), distance))
    found.sort(key=lambda item: (item[2], item[0].id))
    return found[:limit]


def _feature(entry: SimAddress, score: float, distance: float | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"score": score}
    if distance is not None:
        extra["distance"] = round(distance)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [entry.lon, entry.lat]},
        "properties": entry.properties(**extra),
    }


def _collection(
    features: list[dict[str, Any]],
    *,
    limit: int,
    query: str | None,
    filters: dict[str, str],
    center: tuple[float, float] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "version": "draft",
        "features": features,
        "attribution": "BAN",
        "licence": "ETALAB-2.0",
    }
    if query is not None:
        body["query"] = query
    if filters:
        body["filters"] = filters
    if center is not None:
        body["center"] = [center[1], center[0]]
    body["limit"] = limit
    return body


def build(settings: Settings) -> FastAPI:
    app = FastAPI(title="Base Adresse Nationale simulator", docs_url=None, openapi_url=None)
    state = BanState()

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def injected(request: Request, route: str) -> Response | None:
        state.requests[route] += 1
        if state.latency_seconds:
            await asyncio.sleep(state.latency_seconds)
        second = int(time.time())
        if state.window[0] != second:
            state.window = (second, Counter())
        state.window[1][client_of(request)] += 1
        if state.window[1][client_of(request)] > state.rate_limit_per_second:
            return _error(429, "Too Many Requests")
        if state.down or state.fail_next > 0:
            state.fail_next = max(state.fail_next - 1, 0)
            state.requests["failed"] += 1
            return _error(state.status, "Service Unavailable")
        return None

    def answer(body: dict[str, Any]) -> Response:
        if state.malformed == "json":
            return Response(b'{"type": "FeatureCollection", "features": [', 200)
        if state.malformed == "shape":
            return _json({"type": "FeatureCollection", "features": "temporarily unavailable"})
        return _json(body)

    async def search_route(request: Request) -> Response:
        failure = await injected(request, "search")
        if failure is not None:
            return failure
        params = request.query_params
        q = " ".join((params.get("q") or "").split())
        if not 3 <= len(q) <= MAX_QUERY_CHARS or not q[0].isalnum():
            return _error(400, QUERY_MESSAGE)
        try:
            limit = _limit(params.get("limit"), 5)
            filters = _filters(request)
            lat = _coordinate(params.get("lat"), "lat", 90)
            lon = _coordinate(params.get("lon"), "lon", 180)
        except BadParameter as problem:
            return _error(400, str(problem))
        center = (lat, lon) if lat is not None and lon is not None else None
        autocomplete = params.get("autocomplete", "1") not in ("0", "false", "no", "off")
        found = search(q, limit=limit, autocomplete=autocomplete, filters=filters, center=center)
        features = [_feature(entry, score, distance) for entry, score, distance in found]
        return answer(_collection(features, limit=limit, query=q, filters=filters, center=center))

    async def reverse_route(request: Request) -> Response:
        failure = await injected(request, "reverse")
        if failure is not None:
            return failure
        params = request.query_params
        try:
            lon = _coordinate(params.get("lon"), "lon", 180)
            lat = _coordinate(params.get("lat"), "lat", 90)
            if lon is None or lat is None:
                raise BadParameter("lon and lat are required")
            limit = _limit(params.get("limit"), 1)
            filters = _filters(request)
        except BadParameter as problem:
            return _error(400, str(problem))
        found = reverse(lat, lon, limit=limit, filters=filters)
        features = [_feature(entry, score, distance) for entry, score, distance in found]
        return answer(
            _collection(features, limit=limit, query=None, filters=filters, center=(lat, lon))
        )

    # BAN documents the routes with a trailing slash and answers both spellings.
    for path in ("/search/", "/search"):
        app.add_api_route(path, search_route, methods=["GET"], include_in_schema=False)
    for path in ("/reverse/", "/reverse"):
        app.add_api_route(path, reverse_route, methods=["GET"], include_in_schema=False)

    def stats() -> dict[str, Any]:
        return {
            "requests": dict(state.requests),
            "down": state.down,
            "fail_next": state.fail_next,
            "status": state.status,
            "latency_seconds": state.latency_seconds,
            "malformed": state.malformed,
            "rate_limit_per_second": state.rate_limit_per_second,
        }

    @app.get("/_control")
    async def read_control() -> dict[str, Any]:
        return stats()

    @app.post("/_control")
    async def control(body: Control) -> dict[str, Any]:
        if body.reset:
            fresh = BanState()
            for name in BanState.__dataclass_fields__:
                setattr(state, name, getattr(fresh, name))
        for name in (
            "down",
            "fail_next",
            "status",
            "latency_seconds",
            "malformed",
            "rate_limit_per_second",
        ):
            value = getattr(body, name)
            if value is not None:
                setattr(state, name, value)
        return stats()

    app.state.ban = state
    return app


register(
    Simulator(
        name="ban",
        build=build,
        description="Base Adresse Nationale /search/ and /reverse/ on a Rouen address set",
    )
)
