"""The /v1/transport endpoints over the simulator's timetable."""

import httpx
import pytest

from tests.transport.conftest import PRINCIPAL_HEADER

pytestmark = pytest.mark.usefixtures("timetable")


class TestStops:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("theatre", "Théâtre des Arts"),
            ("THÉÂ", "Théâtre des Arts"),
            ("eglise d", "Église d'Elbeuf"),
            ("arts", "Théâtre des Arts"),  # a word of the name, not only its start
            ("hotel de v", "Hôtel de Ville"),
        ],
    )
    async def test_search_ignores_accents_and_case(
        self, transport_client: httpx.AsyncClient, query: str, expected: str
    ) -> None:
        response = await transport_client.get("/v1/transport/stops", params={"q": query})

        assert response.status_code == 200
        assert [stop["name"] for stop in response.json()["items"]] == [expected]

    async def test_nearby_stops_are_within_the_radius_nearest_first(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        # 100 m south of Théâtre des Arts.
        response = await transport_client.get(
            "/v1/transport/stops/nearby", params={"lat": 49.4391, "lon": 1.0880, "radius": 800}
        )

        items = response.json()["items"]
        assert items[0]["id"] == "TCAR:TDA"
        assert 90 <= items[0]["distance_m"] <= 110
        assert all(item["distance_m"] <= 800 for item in items)
        assert [i["distance_m"] for i in items] == sorted(i["distance_m"] for i in items)

    async def test_the_radius_is_bounded(self, transport_client: httpx.AsyncClient) -> None:
        response = await transport_client.get(
            "/v1/transport/stops/nearby", params={"lat": 49.44, "lon": 1.09, "radius": 50_000}
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["parameter"] == "radius"

    async def test_a_stop_lists_the_lines_serving_it(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        response = await transport_client.get("/v1/transport/stops/TCAR:TDA")

        body = response.json()
        assert body["name"] == "Théâtre des Arts"
        assert {line["short_name"] for line in body["lines"]} == {"M", "T1", "N"}

    async def test_an_unknown_stop_is_a_404_problem(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        response = await transport_client.get("/v1/transport/stops/TCAR:NOPE/departures")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/stop-not-found")


class TestDepartures:
    async def test_the_board_is_cached_briefly_and_revalidated(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        first = await transport_client.get("/v1/transport/stops/TCAR:TDA/departures")
        again = await transport_client.get(
            "/v1/transport/stops/TCAR:TDA/departures",
            headers={"If-None-Match": first.headers["etag"]},
        )

        assert first.status_code == 200
        assert first.headers["cache-control"] == "public, max-age=10"
        assert first.json()["stop"]["id"] == "TCAR:TDA"
        assert again.status_code == 304  # the same board, served from the 5-second cache


class TestLines:
    async def test_lines_have_their_colours_and_modes(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        response = await transport_client.get("/v1/transport/lines")

        lines = {line["id"]: line for line in response.json()["items"]}
        assert lines["TCAR:90"]["mode"] == "tram"
        assert lines["TCAR:91"]["color"] == "0096D7"
        assert response.headers["cache-control"] == "public, max-age=3600"

    async def test_a_line_has_its_stops_and_shape_per_direction(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        response = await transport_client.get("/v1/transport/lines/TCAR:91")

        body = response.json()
        assert [d["headsign"] for d in body["directions"]] == [
            "Campus",
            "Mont-Riboudet - Kindarena",
        ]
        outbound = body["directions"][0]
        assert [stop["id"] for stop in outbound["stops"]][:2] == ["TCAR:MRK", "TCAR:TDA"]
        assert outbound["shape"][0] == [1.07, 49.448]  # [lon, lat]

    async def test_an_unknown_line_is_a_404(self, transport_client: httpx.AsyncClient) -> None:
        response = await transport_client.get("/v1/transport/lines/TCAR:0/vehicles")

        assert response.status_code == 404
        assert response.json()["type"].endswith("/line-not-found")


class TestFollows:
    async def test_following_needs_a_principal(self, transport_client: httpx.AsyncClient) -> None:
        response = await transport_client.post(
            "/v1/transport/follows", json={"kind": "stop", "id": "TCAR:TDA"}
        )

        assert response.status_code == 401
        assert response.json()["type"].endswith("/principal-required")

    async def test_a_principal_follows_and_unfollows_stops_and_lines(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        alice = {PRINCIPAL_HEADER: "resident:alice"}
        stop = await transport_client.post(
            "/v1/transport/follows", json={"kind": "stop", "id": "TCAR:TDA"}, headers=alice
        )
        twice = await transport_client.post(
            "/v1/transport/follows", json={"kind": "stop", "id": "TCAR:TDA"}, headers=alice
        )
        line = await transport_client.post(
            "/v1/transport/follows", json={"kind": "line", "id": "TCAR:91"}, headers=alice
        )
        bob_sees = await transport_client.get(
            "/v1/transport/follows", headers={PRINCIPAL_HEADER: "device:bob"}
        )
        bob_deletes = await transport_client.delete(
            f"/v1/transport/follows/{stop.json()['id']}", headers={PRINCIPAL_HEADER: "device:bob"}
        )
        deleted = await transport_client.delete(
            f"/v1/transport/follows/{stop.json()['id']}", headers=alice
        )
        listed = await transport_client.get("/v1/transport/follows", headers=alice)

        assert stop.status_code == twice.status_code == line.status_code == 201
        assert twice.json()["id"] == stop.json()["id"]
        assert bob_sees.json()["items"] == []
        assert bob_deletes.status_code == 404
        assert deleted.status_code == 204
        assert [(f["kind"], f["target_id"]) for f in listed.json()["items"]] == [
            ("line", "TCAR:91")
        ]

    async def test_following_an_unknown_stop_is_a_404_and_extra_fields_are_refused(
        self, transport_client: httpx.AsyncClient
    ) -> None:
        headers = {PRINCIPAL_HEADER: "resident:alice"}
        unknown = await transport_client.post(
            "/v1/transport/follows", json={"kind": "stop", "id": "TCAR:NOPE"}, headers=headers
        )
        extra = await transport_client.post(
            "/v1/transport/follows",
            json={"kind": "stop", "id": "TCAR:TDA", "principal_id": "someone-else"},
            headers=headers,
        )

        assert unknown.status_code == 404
        assert extra.status_code == 422


async def test_follows_belong_to_identity_s_principals(client: httpx.AsyncClient) -> None:
    """Through identity's real device credentials, not the test principal header."""
    device = (await client.post("/v1/devices", json={"platform": "android"})).json()
    mine = {"Authorization": f"Bearer {device['device_token']}"}

    anonymous = await client.get("/v1/transport/follows")
    forged = await client.get(
        "/v1/transport/follows", headers={"Authorization": "Bearer pdc_forged"}
    )
    listed = await client.get("/v1/transport/follows", headers=mine)

    assert anonymous.status_code == 401
    assert forged.status_code == 401
    assert listed.status_code == 200
