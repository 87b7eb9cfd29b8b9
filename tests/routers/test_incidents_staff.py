"""Field agents and supervisors work reports over HTTP: claim, transitions, concurrency."""

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tests.incidents.conftest import MONT_SAINT_AIGNAN, ROUEN_HOTEL_DE_VILLE, SOTTEVILLE, Cast
from tests.media.photos import photo


async def _filed(cast: Cast, **fields: Any) -> dict[str, Any]:
    response = await cast.file("resident_a", **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _move(cast: Cast, who: str, report_id: str, **change: Any) -> Any:
    return await cast.call(who, "POST", f"/v1/agent/reports/{report_id}/transitions", json=change)


async def test_an_agent_claims_works_and_resolves_a_report(cast: Cast) -> None:
    report = await _filed(cast)
    rid = report["id"]

    claimed = await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")
    started = await _move(cast, "agent", rid, status="in_progress", public_note="Équipe en route")
    resolved = await _move(
        cast, "agent", rid, status="resolved", public_note="Rebouché", internal_note="2 sacs"
    )

    assert claimed.json()["status"] == "assigned"
    assert claimed.json()["assignee_id"] == str(cast.staff_ids["agent"])
    assert started.json()["status"] == "in_progress"
    assert resolved.status_code == 200
    mine = (await cast.call("agent", "GET", "/v1/agent/reports", params={"scope": "mine"})).json()
    assert mine["items"] == []  # resolved reports leave the open queue
    public = (await cast.call("resident_a", "GET", f"/v1/incidents/reports/{rid}")).json()
    assert [e["status"] for e in public["timeline"] if e["status"]] == [
        "submitted",
        "triaged",
        "assigned",
        "in_progress",
        "resolved",
    ]
    assert "2 sacs" not in str(public)
    assert public["can_reopen_until"] is not None
    history = resolved.json()["history"]
    assert history[-1]["internal_note"] == "2 sacs"


async def test_an_illegal_transition_is_409_with_what_is_allowed(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    await _move(cast, "agent", rid, status="resolved")

    refused = await _move(cast, "agent", rid, status="in_progress")

    assert refused.status_code == 409
    assert refused.json()["type"].endswith("illegal-transition")


async def test_a_transition_missing_its_details_is_422(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]

    no_date = await _move(cast, "agent", rid, status="scheduled")
    no_reason = await _move(cast, "agent", rid, status="rejected")

    assert no_date.status_code == no_reason.status_code == 422


async def test_the_second_of_two_agents_with_the_same_etag_gets_412(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    read = await cast.call("agent", "GET", f"/v1/agent/reports/{rid}")
    etag = read.headers["ETag"]

    first = await cast.call(
        "agent",
        "POST",
        f"/v1/agent/reports/{rid}/transitions",
        json={"status": "in_progress"},
        headers={"If-Match": etag},
    )
    second = await cast.call(
        "supervisor",
        "POST",
        f"/v1/agent/reports/{rid}/transitions",
        json={"status": "scheduled", "scheduled_for": "2026-12-02"},
        headers={"If-Match": etag},
    )

    assert first.status_code == 200
    assert first.headers["ETag"] != etag
    assert second.status_code == 412
    assert second.json()["current_version"] == first.json()["version"]


async def test_a_scheduled_date_is_shown_to_the_resident(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]

    await _move(cast, "agent", rid, status="scheduled", scheduled_for="2026-12-03")

    public = (await cast.call("resident_a", "GET", f"/v1/incidents/reports/{rid}")).json()
    assert (public["status"], public["scheduled_for"]) == ("scheduled", "2026-12-03")


async def test_not_fixed_reopens_into_the_same_team_with_a_new_deadline(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")
    await _move(cast, "agent", rid, status="resolved")

    stranger = await cast.call(
        "resident_b", "POST", f"/v1/incidents/reports/{rid}/reopen", json={"reason": "Toujours là"}
    )
    asked = await cast.call(
        "resident_a", "POST", f"/v1/incidents/reports/{rid}/reopen", json={"reason": "Toujours là"}
    )
    queue = (await cast.call("agent", "GET", "/v1/agent/reports")).json()["items"]
    accepted = await _move(cast, "agent", rid, status="reopened", public_note="On y retourne")

    assert stranger.status_code == 403
    assert asked.json()["status"] == "reopen_requested"
    assert [item["id"] for item in queue] == [rid]
    assert accepted.json()["status"] == "reopened"
    assert accepted.json()["team"] == "voirie-rouen"
    assert accepted.json()["expected_by"] is not None


async def test_feedback_is_given_once_resolved_and_can_be_replaced(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    path = f"/v1/incidents/reports/{rid}/feedback"

    too_early = await cast.call("resident_a", "PUT", path, json={"rating": 5})
    await _move(cast, "agent", rid, status="resolved")
    given = await cast.call("resident_a", "PUT", path, json={"rating": 4, "comment": "Rapide"})
    replaced = await cast.call("resident_a", "PUT", path, json={"rating": 5})
    out_of_range = await cast.call("resident_a", "PUT", path, json={"rating": 9})
    stranger = await cast.call("resident_b", "PUT", path, json={"rating": 1})

    assert too_early.status_code == 409
    assert (given.status_code, replaced.status_code) == (204, 204)
    assert out_of_range.status_code == 422
    assert stranger.status_code == 403


async def test_merging_a_duplicate_moves_its_followers_to_the_original(cast: Cast) -> None:
    original = await _filed(cast)
    copy = (await cast.file("resident_b")).json()

    merged = await _move(
        cast, "agent", copy["id"], status="duplicate", duplicate_of=original["tracking_code"]
    )

    assert merged.json()["duplicate_of"] == original["tracking_code"]
    seen = (await cast.call("resident_b", "GET", f"/v1/incidents/reports/{original['id']}")).json()
    assert seen["following"] is True
    assert seen["supporters"] == 1


async def test_a_supervisor_routes_a_triage_report_to_a_team_and_agent(cast: Cast) -> None:
    rid = (await _filed(cast, location=MONT_SAINT_AIGNAN))["id"]

    by_agent = await cast.call(
        "agent", "POST", f"/v1/agent/reports/{rid}/reassign", json={"team": "voirie-rouen"}
    )
    routed = await cast.call(
        "supervisor",
        "POST",
        f"/v1/agent/reports/{rid}/reassign",
        json={"team": "voirie-rouen", "assignee_id": str(cast.staff_ids["agent"])},
    )

    assert by_agent.status_code == 403
    assert routed.json()["status"] == "assigned"
    assert routed.json()["team"] == "voirie-rouen"
    mine = (await cast.call("agent", "GET", "/v1/agent/reports", params={"scope": "mine"})).json()
    assert [item["id"] for item in mine["items"]] == [rid]


async def test_moving_a_report_across_the_river_routes_it_again(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")

    moved = await cast.call(
        "agent", "PATCH", f"/v1/agent/reports/{rid}", json={"location": SOTTEVILLE}
    )

    assert moved.json()["team"] == "voirie-rive-gauche"
    assert moved.json()["status"] == "triaged"
    assert moved.json()["assignee_id"] is None
    assert moved.json()["history"][-1]["data"]["rule"] == "Voirie rive gauche"
    theirs = (await cast.call("agent_other_team", "GET", "/v1/agent/reports")).json()["items"]
    assert [item["id"] for item in theirs] == [rid]


async def test_an_agent_of_another_team_can_neither_read_nor_move_it(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]

    read = await cast.call("agent_other_team", "GET", f"/v1/agent/reports/{rid}")
    moved = await _move(cast, "agent_other_team", rid, status="in_progress")
    claimed = await cast.call("agent_other_team", "POST", f"/v1/agent/reports/{rid}/claim")

    assert (read.status_code, moved.status_code, claimed.status_code) == (403, 403, 403)


async def test_the_queue_filters_overdue_and_sorts_by_distance(cast: Cast) -> None:
    near = (await _filed(cast, location={"lat": 49.4432, "lon": 1.0993}))["id"]
    far = (await _filed(cast, location={"lat": 49.4480, "lon": 1.0750}))["id"]

    by_distance = await cast.call(
        "agent",
        "GET",
        "/v1/agent/reports",
        params={"sort": "distance", "lat": 49.4481, "lon": 1.0751},
    )
    overdue = await cast.call("agent", "GET", "/v1/agent/reports", params={"overdue": "true"})
    no_position = await cast.call("agent", "GET", "/v1/agent/reports", params={"sort": "distance"})

    assert [item["id"] for item in by_distance.json()["items"]] == [far, near]
    assert overdue.json()["items"] == []
    assert no_position.status_code == 400


async def test_a_queue_page_costs_the_same_queries_however_many_duplicates_it_shows(
    cast: Cast, session: AsyncSession
) -> None:
    original = await _filed(cast)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def duplicates_page() -> tuple[list[dict[str, Any]], int]:
        copy = (await cast.file("resident_b")).json()
        merged = await _move(
            cast, "agent", copy["id"], status="duplicate", duplicate_of=original["tracking_code"]
        )
        assert merged.status_code == 200, merged.text
        statements.clear()
        page = await cast.call("agent", "GET", "/v1/agent/reports", params={"status": "duplicate"})
        return page.json()["items"], len(statements)

    connection = (await session.connection()).sync_connection
    assert connection is not None
    event.listen(connection, "before_cursor_execute", count)
    try:
        one, queries_for_one = await duplicates_page()
        await duplicates_page()
        three, queries_for_three = await duplicates_page()
    finally:
        event.remove(connection, "before_cursor_execute", count)

    assert len(one) == 1
    assert len(three) == 3
    assert {item["duplicate_of"] for item in three} == {original["tracking_code"]}
    assert {item["routing_rule"] for item in three} == {"Voirie de Rouen"}
    assert {item["team"] for item in three} == {"voirie-rouen"}
    assert queries_for_three == queries_for_one


async def test_queues_show_each_report_exactly_as_its_detail_does(cast: Cast) -> None:
    original = await _filed(cast)
    with_photo = await cast.call(
        "resident_b",
        "POST",
        "/v1/incidents/reports",
        data={
            "report": orjson.dumps(
                {
                    "category": "nid-de-poule",
                    "location": ROUEN_HOTEL_DE_VILLE,
                    "attributes": {"danger": "fort"},
                }
            ).decode()
        },
        files=[("photos", ("trou.jpg", photo(), "image/jpeg"))],
    )
    assert with_photo.status_code == 201, with_photo.text
    copy = await _filed(cast)
    merged = await _move(
        cast, "agent", copy["id"], status="duplicate", duplicate_of=original["tracking_code"]
    )
    assert merged.status_code == 200, merged.text
    statuses = ["triaged", "assigned", "duplicate"]
    near = {"lat": 49.44, "lon": 1.09}

    pages = [
        await cast.call("agent", "GET", "/v1/agent/reports", params={"status": statuses}),
        await cast.call(
            "agent",
            "GET",
            "/v1/agent/reports",
            params={"status": statuses, "sort": "distance", **near},
        ),
        await cast.call(
            "agent", "GET", "/v1/agent/reports/nearby", params={**near, "radius": 2000}
        ),
    ]

    for page in pages:
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert with_photo.json()["id"] in {item["id"] for item in items}
        for item in items:
            detail = (await cast.call("agent", "GET", f"/v1/agent/reports/{item['id']}")).json()
            listed = {key: value for key, value in item.items() if key != "distance_m"}
            assert listed == {**detail, "history": None, "timeline": None}
    shown = {item["id"]: item for item in pages[0].json()["items"]}  # nearby: open ones only
    assert len(shown[with_photo.json()["id"]]["photos"]) == 1
    assert shown[copy["id"]]["duplicate_of"] == original["tracking_code"]
