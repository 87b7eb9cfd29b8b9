"""The BAN simulator, over HTTP: BAN's routes, GeoJSON shape, errors and failure injection."""

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from poche_api.config import Settings
from poche_api.kit.geo import in_multipolygon
from poche_api.simulators import ban
from poche_api.simulators.ban_data import SimAddress, addresses, lambert93
from poche_api.territory.loader import bundled_geojson
from tests.conftest import serve_in_process


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(ban.build(Settings(env="test"))) as client:
        yield client


def named(label: str) -> SimAddress:
    return next(entry for entry in addresses() if entry.label == label)


def labels(body: dict[str, Any]) -> list[str]:
    return [feature["properties"]["label"] for feature in body["features"]]


class TestAddressSet:
    def test_a_few_hundred_addresses_across_the_metropole(self) -> None:
        entries = addresses()
        per_commune = Counter(entry.citycode for entry in entries if entry.kind == "housenumber")

        assert 300 <= sum(per_commune.values()) <= 1500
        assert {"76540", "76681", "76498", "76451", "76322"} <= set(per_commune)
        assert len({entry.id for entry in entries}) == len(entries)

    def test_every_address_lies_in_its_commune(self) -> None:
        boundaries = {}
        for feature in orjson.loads(bundled_geojson())["features"]:
            geometry = feature["geometry"]
            coordinates = geometry["coordinates"]
            boundaries[feature["properties"]["insee"]] = (
                [coordinates] if geometry["type"] == "Polygon" else coordinates
            )

        misplaced = [
            entry.label
            for entry in addresses()
            if entry.kind == "housenumber"
            and entry.citycode in boundaries
            and not in_multipolygon(entry.lon, entry.lat, boundaries[entry.citycode])
        ]

        assert misplaced == []

    def test_lambert93_matches_ban_for_a_known_address(self) -> None:
        # 8 Rue de la Paix, Paris, as api-adresse.data.gouv.fr returns it.
        assert lambert93(48.868831, 2.330992) == (650924.49, 6863408.22)

    def test_rouen_postcode_follows_the_bank_of_the_seine(self) -> None:
        assert named("Rue Beauvoisine 76000 Rouen").postcode == "76000"
        assert named("Avenue de Bretagne 76100 Rouen").postcode == "76100"


class TestSearch:
    async def test_answers_a_ban_feature_collection(self, sim: httpx.AsyncClient) -> None:
        response = await sim.get("/search/", params={"q": "12 rue jeanne d'arc", "limit": 1})

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert {k: body[k] for k in ("type", "attribution", "licence", "query", "limit")} == {
            "type": "FeatureCollection",
            "attribution": "BAN",
            "licence": "ETALAB-2.0",
            "query": "12 rue jeanne d'arc",
            "limit": 1,
        }
        feature = body["features"][0]
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        props = feature["properties"]
        assert props["label"] == "12 Rue Jeanne d'Arc 76000 Rouen"
        assert props["type"] == "housenumber"
        assert props["housenumber"] == "12"
        assert props["street"] == "Rue Jeanne d'Arc"
        assert props["name"] == "12 Rue Jeanne d'Arc"
        assert (props["citycode"], props["city"], props["postcode"]) == ("76540", "Rouen", "76000")
        assert props["id"].startswith("76540_")
        assert props["id"].endswith("_00012")
        assert props["context"] == "76, Seine-Maritime, Normandie"
        assert 0 < props["score"] <= 1
        assert {"x", "y", "importance"} <= set(props)

    async def test_ignores_accents_and_case(self, sim: httpx.AsyncClient) -> None:
        body = (await sim.get("/search/", params={"q": "RUE LEON SALVA"})).json()

        assert labels(body) == ["Rue Léon Salva 76300 Sotteville-lès-Rouen"]

    async def test_the_last_word_is_a_prefix_while_typing(self, sim: httpx.AsyncClient) -> None:
        typing = await sim.get("/search/", params={"q": "saint etienne du rouv"})
        complete = await sim.get(
            "/search/", params={"q": "saint etienne du rouv", "autocomplete": "0"}
        )

        assert labels(typing.json())[0] == "Saint-Étienne-du-Rouvray"
        assert typing.json()["features"][0]["properties"]["type"] == "municipality"
        assert complete.json()["features"] == []

    async def test_a_citycode_filter_keeps_one_commune(self, sim: httpx.AsyncClient) -> None:
        everywhere = (await sim.get("/search/", params={"q": "rue de paris"})).json()
        sotteville = (
            await sim.get("/search/", params={"q": "rue de paris", "citycode": "76681"})
        ).json()

        assert {f["properties"]["citycode"] for f in everywhere["features"]} == {"76681", "76575"}
        assert labels(sotteville) == ["Rue de Paris 76300 Sotteville-lès-Rouen"]
        assert sotteville["filters"] == {"citycode": "76681"}

    async def test_a_point_adds_distances_and_the_center(self, sim: httpx.AsyncClient) -> None:
        body = (
            await sim.get("/search/", params={"q": "rue de paris", "lat": 49.41, "lon": 1.09})
        ).json()

        assert body["center"] == [1.09, 49.41]
        assert all(isinstance(f["properties"]["distance"], int) for f in body["features"])

    @pytest.mark.parametrize("q", ["", "ab", "-- rue", "x" * 201])
    async def test_refuses_a_query_ban_refuses(self, sim: httpx.AsyncClient, q: str) -> None:
        response = await sim.get("/search/", params={"q": q})

        assert response.status_code == 400
        assert response.json() == {"code": 400, "message": ban.QUERY_MESSAGE}

    async def test_refuses_a_bad_limit(self, sim: httpx.AsyncClient) -> None:
        response = await sim.get("/search/", params={"q": "rue verte", "limit": "many"})

        assert response.status_code == 400


class TestReverse:
    async def test_gives_the_nearest_address_with_its_distance(
        self, sim: httpx.AsyncClient
    ) -> None:
        door = named("7 Rue Garibaldi 76300 Sotteville-lès-Rouen")

        body = (
            await sim.get("/reverse/", params={"lat": door.lat + 0.00002, "lon": door.lon})
        ).json()

        assert labels(body) == [door.label]
        props = body["features"][0]["properties"]
        assert props["distance"] == 2
        assert body["limit"] == 1
        assert body["center"] == [door.lon, door.lat + 0.00002]

    async def test_nothing_far_from_every_address(self, sim: httpx.AsyncClient) -> None:
        body = (await sim.get("/reverse/", params={"lat": 49.43, "lon": 0.83})).json()  # Jumièges

        assert body["features"] == []

    async def test_needs_both_coordinates(self, sim: httpx.AsyncClient) -> None:
        response = await sim.get("/reverse/", params={"lat": 49.44})

        assert response.status_code == 400
        assert response.json()["code"] == 400

    async def test_answers_without_the_trailing_slash_too(self, sim: httpx.AsyncClient) -> None:
        response = await sim.get("/reverse", params={"lat": 49.4432, "lon": 1.0998})

        assert response.status_code == 200


class TestControl:
    async def test_fails_the_next_answers_then_recovers(self, sim: httpx.AsyncClient) -> None:
        await sim.post("/_control", json={"fail_next": 2, "status": 502})
        params = {"q": "rue verte"}

        statuses = [(await sim.get("/search/", params=params)).status_code for _ in range(3)]

        assert statuses == [502, 502, 200]
        assert (await sim.get("/_control")).json()["requests"] == {"search": 3, "failed": 2}

    async def test_down_until_switched_off(self, sim: httpx.AsyncClient) -> None:
        await sim.post("/_control", json={"down": True})
        assert (await sim.get("/search/", params={"q": "rue verte"})).status_code == 503

        await sim.post("/_control", json={"down": False})
        assert (await sim.get("/search/", params={"q": "rue verte"})).status_code == 200

    @pytest.mark.parametrize("mode", ["shape", "json"])
    async def test_malformed_bodies(self, sim: httpx.AsyncClient, mode: str) -> None:
        await sim.post("/_control", json={"malformed": mode})

        response = await sim.get("/reverse/", params={"lat": 49.4432, "lon": 1.0998})

        assert response.status_code == 200
        if mode == "json":
            with pytest.raises(ValueError, match="Expecting"):
                response.json()
        else:
            assert not isinstance(response.json()["features"], list)

    async def test_rate_limit_per_ip(self, sim: httpx.AsyncClient) -> None:
        await sim.post("/_control", json={"rate_limit_per_second": 1, "latency_seconds": 0})
        params = {"lat": 49.4432, "lon": 1.0998}

        answers = [await sim.get("/reverse/", params=params) for _ in range(3)]

        assert 429 in [answer.status_code for answer in answers]  # two share a second at least
        assert next(a for a in answers if a.status_code == 429).json()["code"] == 429

    async def test_reset_restores_a_healthy_simulator(self, sim: httpx.AsyncClient) -> None:
        await sim.post("/_control", json={"down": True, "malformed": "json"})

        state = (await sim.post("/_control", json={"reset": True})).json()

        assert state["down"] is False
        assert state["malformed"] == "off"
        assert state["requests"] == {}
