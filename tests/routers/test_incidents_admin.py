"""Admins shape the catalogue and the routing through the API."""

from typing import Any

from tests.incidents.conftest import MONT_SAINT_AIGNAN, Cast

SIGNS: dict[str, Any] = {
    "code": "panneau-tombe",
    "group_code": "voirie",
    "name_fr": "Panneau tombé",
    "name_en": "Fallen sign",
    "sla_working_days": 2,
    "default_priority": 3,
    "attributes": [
        {
            "code": "type",
            "datatype": "multivaluelist",
            "required": True,
            "description_fr": "Quel panneau ?",
            "description_en": "Which sign?",
            "values": [
                {"key": "stop", "name_fr": "Stop", "name_en": "Stop"},
                {"key": "cedez", "name_fr": "Cédez le passage", "name_en": "Give way"},
            ],
        },
        {
            "code": "depuis",
            "datatype": "datetime",
            "description_fr": "Depuis quand ?",
            "description_en": "Since when?",
        },
    ],
}


async def test_an_admin_adds_a_category_residents_can_use_at_once(
    cast: Cast, admin_headers: dict[str, str]
) -> None:
    created = await cast.http.put(
        "/v1/admin/incidents/categories/panneau-tombe", json=SIGNS, headers=admin_headers
    )
    updated = await cast.http.put(
        "/v1/admin/incidents/categories/panneau-tombe",
        json={**SIGNS, "name_en": "Sign down"},
        headers=admin_headers,
    )

    assert (created.status_code, updated.status_code) == (201, 200)
    english = await cast.call(
        "nobody", "GET", "/v1/incidents/categories", headers={"Accept-Language": "en"}
    )
    names = [c["name"] for g in english.json()["groups"] for c in g["categories"]]
    assert "Sign down" in names
    good = await cast.file(
        "resident_a",
        category="panneau-tombe",
        attributes={"type": ["stop"], "depuis": "2026-11-27T08:00:00+01:00"},
    )
    naive_date = await cast.file(
        "resident_a", category="panneau-tombe", attributes={"type": ["stop"], "depuis": "hier"}
    )
    assert good.status_code == 201
    assert good.json()["expected_by"] is not None
    assert naive_date.json()["errors"][0]["pointer"] == "/attributes/depuis"


async def test_incoherent_categories_are_refused(cast: Cast, admin_headers: dict[str, str]) -> None:
    async def put(body: dict[str, Any]) -> int:
        url = f"/v1/admin/incidents/categories/{body['code']}"
        return (await cast.http.put(url, json=body, headers=admin_headers)).status_code

    list_without_values = {
        **SIGNS,
        "attributes": [{**SIGNS["attributes"][0], "values": []}],
    }
    outside_without_notice = {**SIGNS, "competence": "external", "external_body": "Enedis"}
    unknown_group = {**SIGNS, "group_code": "jardins"}
    other_code = {**SIGNS, "code": "autre"}

    assert await put(list_without_values) == 422
    assert await put(outside_without_notice) == 422
    assert await put(unknown_group) == 422
    assert (
        await cast.http.put(
            "/v1/admin/incidents/categories/panneau-tombe", json=other_code, headers=admin_headers
        )
    ).status_code == 422


async def test_a_new_rule_routes_what_used_to_wait_in_triage(
    cast: Cast, admin_headers: dict[str, str]
) -> None:
    before = (await cast.file("resident_a", location=MONT_SAINT_AIGNAN)).json()
    rule = {
        "position": 25,
        "name": "Voirie plateau nord",
        "team": "voirie-rouen",
        "category_codes": ["nid-de-poule"],
        "commune_insee": ["76451"],
    }

    created = await cast.http.post(
        "/v1/admin/incidents/routing-rules", json=rule, headers=admin_headers
    )
    after = (await cast.file("resident_a", location=MONT_SAINT_AIGNAN)).json()
    listed = await cast.http.get("/v1/admin/incidents/routing-rules", headers=admin_headers)
    deleted = await cast.http.delete(
        f"/v1/admin/incidents/routing-rules/{created.json()['id']}", headers=admin_headers
    )

    assert before["status"] == "submitted"
    assert created.status_code == 201
    assert after["status"] == "triaged"
    names = [r["name"] for r in listed.json()["items"]]
    assert names.index("Voirie plateau nord") == names.index("Voirie de Rouen") + 1
    assert deleted.status_code == 204


async def test_rules_with_bad_conditions_are_refused(
    cast: Cast, admin_headers: dict[str, str]
) -> None:
    base = {"position": 1, "name": "x", "team": "voirie-rouen"}
    bad = [
        {**base, "team": "inconnue"},
        {**base, "commune_insee": ["7654"]},
        {**base, "weekdays": [7]},
        {**base, "starts_at": "20:00:00"},
        {**base, "sector": [[[[1.0, 49.0], [1.1, 49.0]]]]},
    ]

    for body in bad:
        response = await cast.http.post(
            "/v1/admin/incidents/routing-rules", json=body, headers=admin_headers
        )
        assert response.status_code == 422, body
