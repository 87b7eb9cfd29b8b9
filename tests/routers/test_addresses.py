"""Address autocomplete and reverse geocoding, with the BAN simulator behind real HTTP."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.simulators.ban_data import SimAddress, addresses
from tests.ban_server import serve_ban_simulator
from tests.conftest import build_app, serve_in_process


def named(label: str) -> SimAddress:
    return next(entry for entry in addresses() if entry.label == label)


DOOR = named("3 Rue Beauvoisine 76000 Rouen")


@pytest.fixture(scope="module")
def ban_url(settings: Settings) -> Iterator[str]:
    with serve_ban_simulator(settings) as url:
        yield url


@pytest_asyncio.fixture
async def ban(ban_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's control, reset around each test."""
    async with httpx.AsyncClient(base_url=ban_url) as control:
        (await control.post("/_control", json={"reset": True})).raise_for_status()
        yield control


@pytest_asyncio.fixture
async def api(
    settings: Settings,
    session: AsyncSession,
    redis: Redis,
    ban_url: str,
    ban: httpx.AsyncClient,
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings.model_copy(update={"ban_base_url": ban_url}), session)
    async with serve_in_process(app) as client:
        yield client


class TestSearchAddresses:
    async def test_autocompletes_an_address(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/addresses", params={"q": "12 rue jeanne d'ar"})

        assert response.status_code == 200
        body = response.json()
        first = body["items"][0]
        assert first["label"] == "12 Rue Jeanne d'Arc 76000 Rouen"
        assert (first["kind"], first["citycode"], first["housenumber"]) == (
            "housenumber",
            "76540",
            "12",
        )
        assert body["count"] == len(body["items"])
        assert "Base Adresse Nationale" in body["attribution"]
        assert response.headers["ratelimit-policy"] == '"addresses-search";q=120;w=60'

    async def test_carries_validators_and_answers_304(self, api: httpx.AsyncClient) -> None:
        first = await api.get("/v1/addresses", params={"q": "rue verte"})

        again = await api.get(
            "/v1/addresses",
            params={"q": "rue verte"},
            headers={"If-None-Match": first.headers["etag"]},
        )

        assert first.headers["cache-control"] == "public, max-age=3600"
        assert again.status_code == 304

    async def test_keeps_only_the_metropoles_communes(
        self, api: httpx.AsyncClient, ban: httpx.AsyncClient
    ) -> None:
        upstream = (await ban.get("/search/", params={"q": "rue de la republique"})).json()
        assert "Barentin" in {f["properties"]["city"] for f in upstream["features"]}

        body = (await api.get("/v1/addresses", params={"q": "rue de la republique"})).json()

        assert {item["city"] for item in body["items"]} == {
            "Rouen",
            "Elbeuf",
            "Le Grand-Quevilly",
        }

    async def test_limits_the_answer(self, api: httpx.AsyncClient) -> None:
        body = (await api.get("/v1/addresses", params={"q": "rue", "limit": 2})).json()

        assert body["count"] == 2

    async def test_one_commune(self, api: httpx.AsyncClient) -> None:
        body = (
            await api.get("/v1/addresses", params={"q": "rue de paris", "citycode": "76681"})
        ).json()

        assert [item["label"] for item in body["items"]] == [
            "Rue de Paris 76300 Sotteville-lès-Rouen"
        ]

    @pytest.mark.parametrize(
        ("params", "parameter"),
        [
            ({"q": "rue de paris", "citycode": "75056"}, "citycode"),  # Paris
            ({"q": "rue de paris", "lat": 49.44}, "lon"),
            ({"q": "ru"}, "q"),
            ({"q": "rue", "limit": 11}, "limit"),
        ],
    )
    async def test_refuses_bad_parameters(
        self, api: httpx.AsyncClient, params: dict[str, object], parameter: str
    ) -> None:
        response = await api.get("/v1/addresses", params=params)  # type: ignore[arg-type]

        assert response.status_code == 422
        assert response.json()["errors"][0]["parameter"] == parameter

    async def test_ban_down_and_never_asked_is_a_503(
        self, api: httpx.AsyncClient, ban: httpx.AsyncClient
    ) -> None:
        await ban.post("/_control", json={"down": True})

        response = await api.get("/v1/addresses", params={"q": "rue verte"})

        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/geocoder-unavailable")
        assert response.headers["retry-after"] == "30"


class TestReverseAddress:
    async def test_the_address_and_commune_at_a_point(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/addresses/reverse", params={"lat": DOOR.lat, "lon": DOOR.lon})

        assert response.status_code == 200
        body = response.json()
        assert body["commune"]["insee"] == "76540"
        assert body["address"]["label"] == "3 Rue Beauvoisine 76000 Rouen"
        assert body["address"]["distance_m"] <= 10
        assert "etag" in response.headers

    async def test_a_point_without_an_address_nearby(self, api: httpx.AsyncClient) -> None:
        body = (await api.get("/v1/addresses/reverse", params={"lat": 49.43, "lon": 0.83})).json()

        assert body["commune"]["name"] == "Jumièges"
        assert body["address"] is None

    @pytest.mark.parametrize(
        ("lat", "lon"), [(48.8566, 2.3522), (49.5452, 0.9525)]
    )  # Paris; Barentin, which BAN knows but the Métropole does not serve
    async def test_refuses_a_point_outside_the_metropole(
        self, api: httpx.AsyncClient, lat: float, lon: float
    ) -> None:
        response = await api.get("/v1/addresses/reverse", params={"lat": lat, "lon": lon})

        assert response.status_code == 422
        assert response.json()["type"].endswith("/outside-metropole")

    async def test_an_answer_kept_from_before_survives_ban_going_down(
        self, api: httpx.AsyncClient, ban: httpx.AsyncClient
    ) -> None:
        params = {"lat": DOOR.lat, "lon": DOOR.lon}
        before = (await api.get("/v1/addresses/reverse", params=params)).json()
        await ban.post("/_control", json={"down": True})

        after = await api.get("/v1/addresses/reverse", params=params)

        assert after.status_code == 200
        assert after.json() == before

    async def test_ban_down_and_never_asked_is_a_503(
        self, api: httpx.AsyncClient, ban: httpx.AsyncClient
    ) -> None:
        await ban.post("/_control", json={"down": True})

        response = await api.get("/v1/addresses/reverse", params={"lat": DOOR.lat, "lon": DOOR.lon})

        assert response.status_code == 503
        assert response.json()["type"].endswith("/geocoder-unavailable")
