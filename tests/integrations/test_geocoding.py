"""The BAN client against the BAN simulator over HTTP: cache, stale-while-error, failures."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError
from redis.asyncio import Redis

from poche_api.config import Settings
from poche_api.integrations.geocoding import (
    BAN_URL,
    BanGeocoder,
    GeocoderUnavailable,
    ban_base_url,
    clean_query,
    parse_collection,
)
from poche_api.simulators import ban
from poche_api.simulators.ban_data import SimAddress, addresses
from tests.conftest import serve_in_process
from tests.test_config import PRODUCTION

SIM = "http://testserver"


def named(label: str) -> SimAddress:
    return next(entry for entry in addresses() if entry.label == label)


DOOR = named("12 Rue Jeanne d'Arc 76000 Rouen")


class Sim:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def set(self, **changes: Any) -> None:
        (await self.http.post("/_control", json=changes)).raise_for_status()

    async def requests(self) -> dict[str, int]:
        counts: dict[str, int] = (await self.http.get("/_control")).json()["requests"]
        return counts


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(ban.build(Settings(env="test"))) as client:
        yield client


@pytest.fixture
def sim(http: httpx.AsyncClient) -> Sim:
    return Sim(http)


@pytest.fixture
def make_geocoder(http: httpx.AsyncClient, redis: Redis) -> Any:
    def make(**options: Any) -> BanGeocoder:
        return BanGeocoder(http, SIM, redis, **{"timeout_seconds": 2.0, **options})

    return make


@pytest.fixture
def geocoder(make_geocoder: Any) -> BanGeocoder:
    built: BanGeocoder = make_geocoder()
    return built


class TestReverse:
    async def test_the_address_at_a_door(self, geocoder: BanGeocoder) -> None:
        address = await geocoder.reverse(DOOR.lat, DOOR.lon)

        assert address is not None
        assert address.label == "12 Rue Jeanne d'Arc 76000 Rouen"
        assert (address.kind, address.housenumber, address.street) == (
            "housenumber",
            "12",
            "Rue Jeanne d'Arc",
        )
        assert (address.citycode, address.city, address.postcode) == ("76540", "Rouen", "76000")
        assert address.distance_m is not None
        assert address.distance_m <= 10

    async def test_none_where_ban_knows_no_address(self, geocoder: BanGeocoder) -> None:
        assert await geocoder.reverse(49.43, 0.83) is None  # Jumièges: no address nearby

    async def test_a_second_ask_nearby_is_served_from_the_cache(
        self, geocoder: BanGeocoder, sim: Sim
    ) -> None:
        first = await geocoder.reverse(DOOR.lat, DOOR.lon)
        again = await geocoder.reverse(DOOR.lat + 0.00001, DOOR.lon - 0.00001)  # ~1.3 m away

        assert again == first
        assert (await sim.requests()) == {"reverse": 1}

    async def test_ban_is_asked_for_the_rounded_point(
        self, geocoder: BanGeocoder, http: httpx.AsyncClient
    ) -> None:
        seen: list[httpx.URL] = []

        async def record(request: httpx.Request) -> None:
            seen.append(request.url)

        http.event_hooks["request"].append(record)
        await geocoder.reverse(49.443312345, 1.099887654)

        assert seen[0].params["lat"] == "49.4433"
        assert seen[0].params["lon"] == "1.0999"


class TestSearch:
    async def test_finds_addresses_in_ban_order(self, geocoder: BanGeocoder) -> None:
        found = await geocoder.search("12 rue jeanne d arc", limit=3)

        assert found[0].label == "12 Rue Jeanne d'Arc 76000 Rouen"
        assert len(found) <= 3

    async def test_citycode_and_near_are_passed_on(self, geocoder: BanGeocoder) -> None:
        found = await geocoder.search("rue de paris", citycode="76681", near=(49.41, 1.09))

        assert [address.city for address in found] == ["Sotteville-lès-Rouen"]
        assert found[0].kind == "street"
        assert found[0].street == "Rue de Paris"
        assert found[0].distance_m is not None

    async def test_the_same_query_typed_differently_is_one_call(
        self, geocoder: BanGeocoder, sim: Sim
    ) -> None:
        first = await geocoder.search("Rue Léon Salva")
        again = await geocoder.search("  rue   leon   SALVA ")

        assert again == first
        assert (await sim.requests()) == {"search": 1}

    async def test_a_query_ban_would_refuse_is_not_sent(
        self, geocoder: BanGeocoder, sim: Sim
    ) -> None:
        assert await geocoder.search(" -- a ") == []
        assert (await sim.requests()) == {}


class TestWhenBanFails:
    async def test_a_single_503_is_retried_once(self, geocoder: BanGeocoder, sim: Sim) -> None:
        await sim.set(fail_next=1)

        address = await geocoder.reverse(DOOR.lat, DOOR.lon)

        assert address is not None
        assert (await sim.requests()) == {"reverse": 2, "failed": 1}

    async def test_a_503_storm_serves_the_stale_answer(self, make_geocoder: Any, sim: Sim) -> None:
        geocoder = make_geocoder(cache_ttl_seconds=0, stale_ttl_seconds=3600)  # always revalidate
        fresh = await geocoder.reverse(DOOR.lat, DOOR.lon)
        searched = await geocoder.search("rue verte")
        await sim.set(down=True)

        assert await geocoder.reverse(DOOR.lat, DOOR.lon, strict=True) == fresh
        assert await geocoder.search("rue verte") == searched
        assert (await sim.requests())["failed"] == 4  # each call tried twice

    async def test_nothing_cached_reverse_degrades_to_none(
        self, geocoder: BanGeocoder, sim: Sim
    ) -> None:
        await sim.set(down=True)

        assert await geocoder.reverse(DOOR.lat, DOOR.lon) is None
        with pytest.raises(GeocoderUnavailable) as raised:
            await geocoder.reverse(DOOR.lat, DOOR.lon, strict=True)
        assert raised.value.status_code == 503
        assert raised.value.reason == "http 503"

    async def test_nothing_cached_search_raises(self, geocoder: BanGeocoder, sim: Sim) -> None:
        await sim.set(down=True)

        with pytest.raises(GeocoderUnavailable):
            await geocoder.search("rue verte")

    @pytest.mark.parametrize("mode", ["shape", "json"])
    async def test_a_malformed_body_is_a_partner_failure(
        self, geocoder: BanGeocoder, sim: Sim, mode: str
    ) -> None:
        await sim.set(malformed=mode)

        with pytest.raises(GeocoderUnavailable) as raised:
            await geocoder.search("rue verte")

        assert raised.value.reason == "malformed answer"
        assert (await sim.requests()) == {"search": 1}  # not retried

    async def test_a_malformed_body_serves_the_stale_answer(
        self, make_geocoder: Any, sim: Sim
    ) -> None:
        geocoder = make_geocoder(cache_ttl_seconds=0)
        fresh = await geocoder.reverse(DOOR.lat, DOOR.lon)
        await sim.set(malformed="shape")

        assert await geocoder.reverse(DOOR.lat, DOOR.lon, strict=True) == fresh

    async def test_a_slow_ban_times_out(self, make_geocoder: Any, sim: Sim) -> None:
        geocoder = make_geocoder(timeout_seconds=0.2)
        await sim.set(latency_seconds=2)

        assert await geocoder.reverse(DOOR.lat, DOOR.lon) is None
        with pytest.raises(GeocoderUnavailable) as raised:
            await geocoder.search("rue verte")
        assert raised.value.reason == "timeout"

    async def test_bans_429_is_not_retried(self, geocoder: BanGeocoder, sim: Sim) -> None:
        await sim.set(fail_next=5, status=429)

        with pytest.raises(GeocoderUnavailable) as raised:
            await geocoder.search("rue verte")

        assert raised.value.reason == "rate limited by BAN"
        assert (await sim.requests()) == {"search": 1, "failed": 1}

    async def test_an_exhausted_budget_does_not_call_ban(
        self, make_geocoder: Any, sim: Sim
    ) -> None:
        geocoder = make_geocoder(rate_per_second=0)

        assert await geocoder.reverse(DOOR.lat, DOOR.lon) is None
        assert (await sim.requests()) == {}

    async def test_an_unreachable_ban(self, redis: Redis) -> None:
        async with httpx.AsyncClient() as http:
            geocoder = BanGeocoder(http, "http://127.0.0.1:9", redis, timeout_seconds=2)

            with pytest.raises(GeocoderUnavailable) as raised:
                await geocoder.search("rue verte")

        assert raised.value.reason.startswith("transport")


class TestParsing:
    def test_an_odd_feature_is_skipped_not_the_answer(self) -> None:
        good = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [1.0998, 49.4432]},
            "properties": {
                "label": "Rouen",
                "score": 0.9,
                "type": "municipality",
                "id": "76540",
                "name": "Rouen",
                "citycode": "76540",
                "city": "Rouen",
            },
        }
        odd = {**good, "geometry": {"type": "Point", "coordinates": "here"}}
        body = httpx.Response(200, json={"type": "FeatureCollection", "features": [odd, good]})

        found = parse_collection(body.content)

        assert [address.label for address in found] == ["Rouen"]
        assert found[0].postcode is None

    def test_an_answer_that_is_not_a_collection_raises(self) -> None:
        with pytest.raises(ValidationError):
            parse_collection(b'{"type": "Feature"}')

    @pytest.mark.parametrize(
        ("typed", "sent"),
        [
            ("  12  rue verte ", "12 rue verte"),
            ("-- rue", "rue"),
            ("ab", ""),
            ("é" * 300, "é" * 200),
        ],
    )
    def test_queries_are_cleaned_as_ban_wants_them(self, typed: str, sent: str) -> None:
        assert clean_query(typed) == sent


class TestConfiguration:
    def test_production_calls_the_real_ban(self) -> None:
        assert ban_base_url(Settings(**PRODUCTION)) == BAN_URL  # type: ignore[arg-type]

    def test_outside_production_the_simulator_answers(self) -> None:
        settings = Settings(env="development", public_url="http://127.0.0.1:8000")

        assert ban_base_url(settings) == "http://127.0.0.1:8000/_sim/ban"

    def test_production_refuses_the_simulator(self) -> None:
        with pytest.raises(ValidationError, match="POCHE_BAN_BASE_URL"):
            Settings(**PRODUCTION, ban_base_url="http://127.0.0.1:8000/_sim/ban")  # type: ignore[arg-type]
