"""Residents and anonymous installs file and follow reports over HTTP."""

import uuid

from tests.incidents.conftest import LE_HAVRE, MONT_SAINT_AIGNAN, SOTTEVILLE, Cast


async def test_the_catalogue_lists_groups_categories_and_their_questions(cast: Cast) -> None:
    french = (await cast.call("nobody", "GET", "/v1/incidents/categories")).json()
    english = (
        await cast.call(
            "nobody", "GET", "/v1/incidents/categories", headers={"Accept-Language": "en"}
        )
    ).json()

    roads = next(g for g in french["groups"] if g["code"] == "voirie")
    pothole = next(c for c in roads["categories"] if c["code"] == "nid-de-poule")
    assert pothole["name"] == "Nid-de-poule"
    assert pothole["attributes"][0]["datatype"] == "singlevaluelist"
    assert [v["key"] for v in pothole["attributes"][0]["values"]] == ["faible", "moyen", "fort"]
    gas = next(c for g in english["groups"] for c in g["categories"] if c["code"] == "odeur-gaz")
    assert "0 800 47 33 33" in gas["emergency_notice"]


async def test_a_resident_files_a_report_routed_to_the_rouen_roads_team(cast: Cast) -> None:
    response = await cast.file("resident_a")

    assert response.status_code == 201, response.text
    report = response.json()
    assert report["tracking_code"].startswith("RMN-")
    assert report["status"] == "triaged"
    assert report["status_label"] == "pris en compte"
    assert report["commune_insee"] == "76540"
    assert report["mine"]
    assert report["following"]
    assert report["expected_by"] is not None
    assert response.headers["Location"] == f"/v1/incidents/reports/{report['id']}"
    queue = (await cast.call("agent", "GET", "/v1/agent/reports")).json()["items"]
    assert [item["id"] for item in queue] == [report["id"]]
    assert queue[0]["team"] == "voirie-rouen"
    assert queue[0]["routing_rule"] == "Voirie de Rouen"


async def test_routing_follows_the_commune(cast: Cast) -> None:
    left_bank = (await cast.file("resident_a", location=SOTTEVILLE)).json()
    unrouted = (await cast.file("resident_a", location=MONT_SAINT_AIGNAN)).json()

    assert left_bank["commune_insee"] == "76681"
    other = (await cast.call("agent_other_team", "GET", "/v1/agent/reports")).json()["items"]
    assert [item["id"] for item in other] == [left_bank["id"]]
    assert unrouted["status"] == "submitted"
    triage = (
        await cast.call("supervisor", "GET", "/v1/agent/reports", params={"scope": "triage"})
    ).json()["items"]
    assert [item["id"] for item in triage] == [unrouted["id"]]


async def test_an_anonymous_install_can_report_and_find_it_in_its_list(cast: Cast) -> None:
    filed = (await cast.file("device")).json()

    mine = (await cast.call("device", "GET", "/v1/incidents/reports/mine")).json()["items"]

    assert [item["tracking_code"] for item in mine] == [filed["tracking_code"]]


async def test_retrying_with_the_same_client_id_returns_the_same_report(cast: Cast) -> None:
    report_id = str(uuid.uuid4())

    first = await cast.file("resident_a", id=report_id)
    again = await cast.file("resident_a", id=report_id)
    stolen = await cast.file("resident_b", id=report_id)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["tracking_code"] == first.json()["tracking_code"]
    assert stolen.status_code == 409
    mine = (await cast.call("resident_a", "GET", "/v1/incidents/reports/mine")).json()
    assert len(mine["items"]) == 1


async def test_bad_reports_are_refused_with_what_is_wrong(cast: Cast) -> None:
    outside = await cast.file("resident_a", location=LE_HAVRE)
    missing_answer = await cast.file("resident_a", attributes={})
    wrong_answer = await cast.file("resident_a", attributes={"danger": "apocalyptique"})
    unknown_category = await cast.file("resident_a", category="licorne-egaree")
    html = await cast.file("resident_a", description="<script>alert(1)</script>")
    server_owned = await cast.file("resident_a", status="resolved")
    photo_needed = await cast.file("resident_a", category="depot-sauvage", attributes={})

    assert outside.status_code == 422
    assert outside.json()["type"].endswith("outside-metropole")
    assert missing_answer.json()["errors"] == [
        {"pointer": "/attributes/danger", "detail": "required"}
    ]
    assert wrong_answer.status_code == 422
    assert unknown_category.status_code == 422
    assert html.status_code == 422
    assert server_owned.status_code == 422
    assert photo_needed.json()["type"].endswith("photo-required")


async def test_an_emergency_category_blocks_submission_with_its_notice(cast: Cast) -> None:
    gas = await cast.file("resident_a", category="odeur-gaz", attributes={})
    orange = await cast.file("resident_a", category="poteau-telecom", attributes={})

    assert gas.status_code == 422
    assert "0 800 47 33 33" in gas.json()["detail"]
    assert orange.json()["type"].endswith("outside-body")
    assert orange.json()["body"] == "Orange"


async def test_the_public_sees_a_report_without_personal_fields(cast: Cast) -> None:
    filed = (await cast.file("resident_a")).json()

    public = (await cast.call("nobody", "GET", f"/v1/incidents/reports/{filed['id']}")).json()
    by_code = await cast.call("nobody", "GET", f"/v1/incidents/track/{filed['tracking_code']}")

    assert public["attributes"] is None
    assert public["mine"] is False
    assert public["timeline"][0]["status"] == "submitted"
    assert by_code.json()["id"] == filed["id"]


async def test_a_private_category_is_seen_only_by_its_reporter_and_staff(cast: Cast) -> None:
    filed = (await cast.file("resident_a", category="graffiti-injurieux", attributes={})).json()
    path = f"/v1/incidents/reports/{filed['id']}"

    assert (await cast.call("resident_a", "GET", path)).status_code == 200
    assert (await cast.call("supervisor", "GET", path)).status_code == 200
    assert (await cast.call("resident_b", "GET", path)).status_code == 404
    assert (await cast.call("nobody", "GET", path)).status_code == 404


async def test_nearby_offers_the_open_report_and_me_too_counts_and_follows(cast: Cast) -> None:
    filed = (await cast.file("resident_a")).json()

    nearby = await cast.call(
        "resident_b",
        "GET",
        "/v1/incidents/reports/nearby",
        params={"lat": 49.44325, "lon": 1.09935, "category": "nid-de-poule"},
    )
    support = await cast.call("resident_b", "POST", f"/v1/incidents/reports/{filed['id']}/support")
    again = await cast.call("resident_b", "POST", f"/v1/incidents/reports/{filed['id']}/support")

    assert [item["id"] for item in nearby.json()["items"]] == [filed["id"]]
    assert nearby.json()["radius_m"] == 30
    assert "reporter" not in nearby.text
    assert (support.status_code, again.status_code) == (204, 204)
    seen = (await cast.call("resident_b", "GET", f"/v1/incidents/reports/{filed['id']}")).json()
    assert seen["supporters"] == 1
    assert seen["following"] is True
    followed = await cast.call(
        "resident_b", "GET", "/v1/incidents/reports/mine", params={"followed": "true"}
    )
    assert [item["id"] for item in followed.json()["items"]] == [filed["id"]]


async def test_far_or_other_category_reports_are_not_offered_as_duplicates(cast: Cast) -> None:
    await cast.file("resident_a")

    far = await cast.call(
        "resident_b",
        "GET",
        "/v1/incidents/reports/nearby",
        params={"lat": 49.4460, "lon": 1.0993, "category": "nid-de-poule"},
    )
    other = await cast.call(
        "resident_b",
        "GET",
        "/v1/incidents/reports/nearby",
        params={"lat": 49.4432, "lon": 1.0993, "category": "lampadaire-eteint"},
    )

    assert far.json()["items"] == other.json()["items"] == []


async def test_unfollow_stops_following(cast: Cast) -> None:
    filed = (await cast.file("resident_a")).json()
    path = f"/v1/incidents/reports/{filed['id']}/follow"

    assert (await cast.call("resident_b", "PUT", path)).status_code == 204
    assert (await cast.call("resident_b", "DELETE", path)).status_code == 204
    seen = (await cast.call("resident_b", "GET", f"/v1/incidents/reports/{filed['id']}")).json()
    assert seen["following"] is False


async def test_a_report_body_that_is_neither_json_nor_multipart_is_415(cast: Cast) -> None:
    response = await cast.call(
        "resident_a",
        "POST",
        "/v1/incidents/reports",
        content=b"category=nid-de-poule",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 415
