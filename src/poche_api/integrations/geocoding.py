"""Geocoding through the Base Adresse Nationale (api-adresse.data.gouv.fr): reverse and search.

Every answer is kept in Redis: fresh for ``cache_ttl_seconds``, then kept up to
``stale_ttl_seconds`` to be served when BAN fails (stale-while-error). A call that cannot be
answered at all raises ``GeocoderUnavailable`` (a 503 problem if nobody catches it);
``reverse`` returns None instead unless ``strict``, so a report is accepted without an address.

BAN is called with a deadline per attempt, one retry (connection errors and 5xx only: the
GETs are idempotent), under a cluster-wide budget of calls per second (BAN allows 50 per
second and per IP), and its body is validated before use: a malformed one is a partner
failure, like a 503.
"""

import asyncio
import hashlib
import logging
import random
import time
from typing import Annotated, Any, Literal, Self

import httpx
import orjson
from fastapi import Depends, Request
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from poche_api.config import Settings
from poche_api.errors import ServiceUnavailable
from poche_api.kit.text import normalize
from poche_api.simulators import simulator_url

logger = logging.getLogger(__name__)

BAN_URL = "https://api-adresse.data.gouv.fr"
ATTRIBUTION = "Base Adresse Nationale (BAN), Licence Ouverte 2.0 (Etalab)"
CACHE_PREFIX = "poche:geocoding:v1:"
# 4 decimals: ~11 m of latitude and ~7 m of longitude at Rouen; BAN is asked for the rounded
# point, so a cached answer is exactly the answer for its key.
REVERSE_DECIMALS = 4
NEAR_DECIMALS = 2  # a search's bias point, ~1 km: enough to order nearby streets first
MAX_SEARCH_LIMIT = 20
MAX_QUERY_CHARS = 200
RETRY_PAUSE_SECONDS = (0.05, 0.25)

AddressKind = Literal["housenumber", "street", "locality", "municipality"]
Operation = Literal["reverse", "search"]

BAN_CALLS = Counter(
    "poche_geocoder_ban_calls_total",
    "HTTP calls to BAN by outcome (ok, http_5xx, http_4xx, http_3xx, rate_limited, timeout, "
    "transport, malformed, budget)",
    ["operation", "outcome"],
)
ANSWERS = Counter(
    "poche_geocoder_answers_total",
    "Geocoder answers by source (cache, ban, stale, unavailable)",
    ["operation", "source"],
)


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="BAN identifier (interoperability key)", examples=["76540_6279"])
    label: str = Field(
        description="The full address as BAN writes it",
        examples=["12 Rue Jeanne d'Arc 76000 Rouen"],
    )
    kind: AddressKind = Field(
        description="housenumber (a door), street (its middle), locality or municipality"
    )
    housenumber: str | None = Field(None, description="Number with its suffix (4bis)")
    street: str | None = Field(None, description="Street name")
    name: str = Field(description="Number and street, locality or commune name")
    postcode: str | None = Field(None, description="Postal code")
    citycode: str = Field(description="INSEE code of the commune", examples=["76540"])
    city: str = Field(description="Commune name", examples=["Rouen"])
    lat: float = Field(description="Latitude (WGS 84)")
    lon: float = Field(description="Longitude (WGS 84)")
    score: float = Field(description="BAN's relevance, 0 to 1")
    distance_m: int | None = Field(
        None, description="Metres from the point given (reverse, or a search near a point)"
    )


class GeocoderUnavailable(ServiceUnavailable):
    """BAN did not answer usefully and no earlier answer was kept: degrade, or retry later."""

    slug = "geocoder-unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(
            (
                "Le service d'adresses ne répond pas pour le moment ; réessayez plus tard.",
                "The address service is not answering at the moment; try again later.",
            ),
            headers={"Retry-After": "30"},
        )
        self.reason = reason


# BAN's answer, validated before use; fields we do not read (x, y, context…) are ignored.
class _Point(BaseModel):
    type: Literal["Point"]
    coordinates: tuple[float, float]


class _Properties(BaseModel):
    label: str
    score: float
    type: AddressKind
    id: str
    name: str
    citycode: str
    city: str
    postcode: str | None = None
    housenumber: str | None = None
    street: str | None = None
    distance: float | None = None


class _Feature(BaseModel):
    type: Literal["Feature"]
    geometry: _Point
    properties: _Properties

    def address(self) -> Address:
        props = self.properties
        lon, lat = self.geometry.coordinates
        return Address(
            id=props.id,
            label=props.label,
            kind=props.type,
            housenumber=props.housenumber,
            street=props.street or (props.name if props.type == "street" else None),
            name=props.name,
            postcode=props.postcode,
            citycode=props.citycode,
            city=props.city,
            lat=lat,
            lon=lon,
            score=props.score,
            distance_m=None if props.distance is None else round(props.distance),
        )


class _FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    # Checked one by one: a single odd feature is skipped, not the whole answer.
    features: list[dict[str, Any]]


def parse_collection(body: bytes) -> list[Address]:
    """The addresses of a BAN answer; raises ValidationError when it is not one."""
    collection = _FeatureCollection.model_validate_json(body)
    found = []
    for raw in collection.features:
        try:
            found.append(_Feature.model_validate(raw).address())
        except ValidationError:
            logger.warning("ban feature skipped: unexpected shape", extra={"id": raw.get("id")})
    return found


def clean_query(q: str) -> str:
    """What BAN accepts: 3 to 200 characters starting with a letter or a digit ('' if not)."""
    text = " ".join(q.split())
    start = next((i for i, char in enumerate(text) if char.isalnum()), len(text))
    text = text[start:MAX_QUERY_CHARS].strip()
    return text if len(text) >= 3 else ""


class CallBudget:
    """At most ``per_second`` BAN calls per second across every process (one Redis counter)."""

    def __init__(self, redis: Redis, per_second: int, key: str = CACHE_PREFIX + "budget:") -> None:
        self.redis = redis
        self.per_second = per_second
        self.key = key

    async def take(self) -> bool:
        second = int(time.time())
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(f"{self.key}{second}")
                pipe.expire(f"{self.key}{second}", 2)
                used, _ = await pipe.execute()
        except RedisError:
            return True  # without Redis we cannot count; BAN's own 429 still stops us
        return int(used) <= self.per_second


class _Cached(BaseModel):
    at: float
    items: list[Address]


class BanGeocoder:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        redis: Redis,
        *,
        timeout_seconds: float = 3.0,
        cache_ttl_seconds: int = 7 * 86_400,
        stale_ttl_seconds: int = 30 * 86_400,
        rate_per_second: int = 25,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.redis = redis
        self.timeout_seconds = timeout_seconds
        self.cache_ttl_seconds = cache_ttl_seconds
        self.stale_ttl_seconds = max(stale_ttl_seconds, cache_ttl_seconds)
        self.budget = CallBudget(redis, rate_per_second)

    @classmethod
    def from_settings(cls, settings: Settings, *, http: httpx.AsyncClient, redis: Redis) -> Self:
        return cls(
            http,
            ban_base_url(settings),
            redis,
            timeout_seconds=settings.ban_timeout_seconds,
            cache_ttl_seconds=settings.ban_cache_ttl_seconds,
            stale_ttl_seconds=settings.ban_stale_ttl_seconds,
            rate_per_second=settings.ban_rate_per_second,
        )

    async def reverse(self, lat: float, lon: float, *, strict: bool = False) -> Address | None:
        """The address nearest to a point (within ~10 m of rounding), or None.

        None also when BAN is unavailable and nothing was cached, unless ``strict``: then
        ``GeocoderUnavailable`` is raised (a caller that must tell "no address" from "ask again
        later", such as a retrying job).
        """
        lat, lon = round(lat, REVERSE_DECIMALS), round(lon, REVERSE_DECIMALS)
        key = f"{CACHE_PREFIX}reverse:{lat:.{REVERSE_DECIMALS}f}:{lon:.{REVERSE_DECIMALS}f}"
        params = {"lon": f"{lon:.{REVERSE_DECIMALS}f}", "lat": f"{lat:.{REVERSE_DECIMALS}f}"}
        try:
            found = await self._answer("reverse", key, "/reverse/", {**params, "limit": "1"})
        except GeocoderUnavailable:
            if strict:
                raise
            return None
        return found[0] if found else None

    async def search(
        self,
        q: str,
        *,
        citycode: str | None = None,
        near: tuple[float, float] | None = None,
        limit: int = 5,
        autocomplete: bool = True,
    ) -> list[Address]:
        """Addresses matching ``q`` (BAN's order), in one commune if ``citycode``, nearer
        ``near`` (lat, lon) first. Raises ``GeocoderUnavailable`` when BAN fails uncached."""
        text = clean_query(q)
        if not text:
            return []
        params = {
            "q": text,
            "limit": str(max(1, min(limit, MAX_SEARCH_LIMIT))),
            "autocomplete": "1" if autocomplete else "0",
        }
        if citycode:
            params["citycode"] = citycode
        if near is not None:
            params["lat"] = f"{near[0]:.{NEAR_DECIMALS}f}"
            params["lon"] = f"{near[1]:.{NEAR_DECIMALS}f}"
        identity = orjson.dumps({**params, "q": normalize(text)}, option=orjson.OPT_SORT_KEYS)
        key = f"{CACHE_PREFIX}search:{hashlib.sha256(identity).hexdigest()[:32]}"
        return await self._answer("search", key, "/search/", params)

    async def _answer(
        self, operation: Operation, key: str, path: str, params: dict[str, str]
    ) -> list[Address]:
        cached = await self._read(key)
        if cached is not None and time.time() - cached.at < self.cache_ttl_seconds:
            ANSWERS.labels(operation, "cache").inc()
            return cached.items
        try:
            found = await self._call(operation, path, params)
        except GeocoderUnavailable as failure:
            if cached is None:
                ANSWERS.labels(operation, "unavailable").inc()
                raise
            ANSWERS.labels(operation, "stale").inc()
            logger.warning(
                "ban unavailable: stale answer served",
                extra={"operation": operation, "reason": failure.reason},
            )
            return cached.items
        await self._write(key, found)
        ANSWERS.labels(operation, "ban").inc()
        return found

    async def _call(self, operation: Operation, path: str, params: dict[str, str]) -> list[Address]:
        for attempt in (1, 2):
            if not await self.budget.take():
                BAN_CALLS.labels(operation, "budget").inc()
                raise GeocoderUnavailable("call budget exhausted")
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    response = await self.http.get(
                        self.base_url + path, params=params, timeout=self.timeout_seconds
                    )
            except (TimeoutError, httpx.TimeoutException):
                BAN_CALLS.labels(operation, "timeout").inc()
                raise GeocoderUnavailable("timeout") from None
            except httpx.TransportError as error:  # refused, reset, DNS: worth one more try
                BAN_CALLS.labels(operation, "transport").inc()
                if attempt == 2:
                    raise GeocoderUnavailable(f"transport: {type(error).__name__}") from None
                await asyncio.sleep(random.uniform(*RETRY_PAUSE_SECONDS))  # noqa: S311
                continue
            status = response.status_code
            if status >= 500:
                BAN_CALLS.labels(operation, "http_5xx").inc()
                if attempt == 2:
                    raise GeocoderUnavailable(f"http {status}")
                await asyncio.sleep(random.uniform(*RETRY_PAUSE_SECONDS))  # noqa: S311
                continue
            if status == 429:
                BAN_CALLS.labels(operation, "rate_limited").inc()
                raise GeocoderUnavailable("rate limited by BAN")
            if status != 200:  # a 400 is our bug, a 3xx a moved service: both need a person
                BAN_CALLS.labels(operation, f"http_{status // 100}xx").inc()
                logger.error("ban refused a request", extra={"status": status, "path": path})
                raise GeocoderUnavailable(f"http {status}")
            try:
                found = parse_collection(response.content)
            except ValidationError:
                BAN_CALLS.labels(operation, "malformed").inc()
                raise GeocoderUnavailable("malformed answer") from None
            BAN_CALLS.labels(operation, "ok").inc()
            return found
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _read(self, key: str) -> _Cached | None:
        try:
            raw = await self.redis.get(key)
        except RedisError:
            logger.warning("geocoder cache unreadable", exc_info=True)
            return None
        if raw is None:
            return None
        try:
            return _Cached.model_validate_json(raw)
        except ValidationError:
            return None  # written by another version: a miss

    async def _write(self, key: str, items: list[Address]) -> None:
        if self.stale_ttl_seconds <= 0:
            return
        entry = _Cached(at=time.time(), items=items)
        try:
            await self.redis.set(key, entry.model_dump_json(), ex=self.stale_ttl_seconds)
        except RedisError:
            logger.warning("geocoder cache not written", exc_info=True)


def ban_base_url(settings: Settings) -> str:
    """The configured URL; else the simulator when simulators are on, else BAN itself."""
    if settings.ban_base_url:
        return settings.ban_base_url.rstrip("/")
    if settings.simulators_on:
        return simulator_url(settings, "ban")
    return BAN_URL


async def get_geocoder(request: Request) -> BanGeocoder:
    geocoder: BanGeocoder = request.state.geocoder
    return geocoder


GeocoderDep = Annotated[BanGeocoder, Depends(get_geocoder)]
