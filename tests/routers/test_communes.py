import asyncio
import time

import httpx
import pytest


class TestListCommunes:
    async def test_lists_the_71_communes_with_attribution(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/communes")

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 71
        assert len(body["items"]) == 71
        assert {"insee": "76540", "name": "Rouen"}.items() <= next(
            c for c in body["items"] if c["insee"] == "76540"
        ).items()
        assert "Licence Ouverte" in body["attribution"]

    async def test_revalidation_with_the_etag_answers_304(self, client: httpx.AsyncClient) -> None:
        first = await client.get("/v1/communes")
        etag = first.headers["etag"]

        again = await client.get("/v1/communes", headers={"If-None-Match": etag})

        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert "max-age" in first.headers["cache-control"]

    async def test_is_gzipped_when_the_client_accepts_it(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/communes", headers={"Accept-Encoding": "gzip"})

        assert response.headers["content-encoding"] == "gzip"
        assert response.json()["count"] == 71


class TestGetCommune:
    async def test_76540_is_rouen(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/communes/76540")

        assert response.status_code == 200
        rouen = response.json()
        assert rouen["name"] == "Rouen"
        assert rouen["postal_codes"] == ["76000", "76100"]
        assert rouen["town_hall"]["location"] == {"lat": 49.443269, "lon": 1.099821}
        min_lon, min_lat, max_lon, max_lat = rouen["bbox"]
        assert min_lat < rouen["centroid"]["lat"] < max_lat
        assert min_lon < rouen["centroid"]["lon"] < max_lon

    async def test_a_commune_outside_the_metropole_is_a_404_problem(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/v1/communes/75056")  # Paris

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/commune-not-found")

    async def test_a_malformed_insee_code_is_a_422_with_the_parameter(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/v1/communes/rouen")

        assert response.status_code == 422
        assert response.json()["errors"][0]["parameter"] == "insee"


class TestLocate:
    @pytest.mark.parametrize(
        ("lat", "lon", "insee"),
        [
            (49.4432, 1.0999, "76540"),  # Rouen town hall
            (49.3810, 1.0896, "76575"),  # Saint-Étienne-du-Rouvray
            (49.2764, 0.9974, "76231"),  # Elbeuf
        ],
    )
    async def test_a_point_resolves_to_its_commune(
        self, client: httpx.AsyncClient, lat: float, lon: float, insee: str
    ) -> None:
        response = await client.get("/v1/communes/locate", params={"lat": lat, "lon": lon})

        assert response.status_code == 200
        assert response.json()["inside_metropole"] is True
        assert response.json()["commune"]["insee"] == insee

    @pytest.mark.parametrize(
        ("lat", "lon"),
        [(48.8566, 2.3522), (49.49, 0.1), (49.60, 1.10)],  # Paris, Le Havre, north of Rouen
    )
    async def test_a_point_outside_the_metropole_is_recognised(
        self, client: httpx.AsyncClient, lat: float, lon: float
    ) -> None:
        response = await client.get("/v1/communes/locate", params={"lat": lat, "lon": lon})

        assert response.status_code == 200
        assert response.json() == {"inside_metropole": False, "commune": None}

    async def test_out_of_range_coordinates_are_a_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/communes/locate", params={"lat": 91, "lon": 1})

        assert response.status_code == 422
        assert response.json()["errors"][0] == {
            "parameter": "lat",
            "in": "query",
            "detail": "Input should be less than or equal to 90",
        }

    async def test_announces_and_enforces_its_rate_limit(self, client: httpx.AsyncClient) -> None:
        # The limit is a fixed one-minute window: start well inside one, so the 121 calls
        # below cannot straddle two on a loaded machine.
        if (left := 60 - time.time() % 60) < 20:
            await asyncio.sleep(left + 0.5)
        params = {"lat": 49.44, "lon": 1.09}
        first = await client.get("/v1/communes/locate", params=params)
        assert first.headers["ratelimit-policy"] == '"communes-locate";q=120;w=60'
        assert first.headers["ratelimit"].startswith('"communes-locate";r=119;')

        for _ in range(119):
            await client.get("/v1/communes/locate", params=params)
        refused = await client.get("/v1/communes/locate", params=params)

        assert refused.status_code == 429
        assert refused.json()["type"].endswith("/quota-exceeded")
        assert int(refused.headers["retry-after"]) <= 60
        assert '"communes-locate";r=0;' in refused.headers["ratelimit"]
