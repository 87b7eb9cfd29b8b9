"""Who may do what to a report: resident A (its reporter), resident B, an anonymous install,
an agent of the report's team, an agent of another team, a supervisor, and nobody."""

from typing import Any

from tests.incidents.conftest import Cast

EVERYONE = (
    "resident_a",
    "resident_b",
    "device",
    "agent",
    "agent_other_team",
    "supervisor",
    "nobody",
)


async def _statuses(cast: Cast, method: str, path: str, **kwargs: Any) -> dict[str, int]:
    return {who: (await cast.call(who, method, path, **kwargs)).status_code for who in EVERYONE}


async def _report(cast: Cast, **fields: Any) -> str:
    response = await cast.file("resident_a", **fields)
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def test_filing_needs_a_principal(cast: Cast) -> None:
    statuses = {who: (await cast.file(who)).status_code for who in EVERYONE}

    assert statuses == {
        "resident_a": 201,
        "resident_b": 201,
        "device": 201,
        "agent": 201,
        "agent_other_team": 201,
        "supervisor": 201,
        "nobody": 401,
    }


async def test_a_public_report_is_public_and_a_private_one_is_not(cast: Cast) -> None:
    public = await _report(cast)
    private = await _report(cast, category="graffiti-injurieux", attributes={})

    assert set((await _statuses(cast, "GET", f"/v1/incidents/reports/{public}")).values()) == {200}
    assert await _statuses(cast, "GET", f"/v1/incidents/reports/{private}") == {
        "resident_a": 200,
        "resident_b": 404,
        "device": 404,
        "agent": 404,  # routed to the cleanliness team, not the roads team
        "agent_other_team": 404,
        "supervisor": 200,
        "nobody": 404,
    }


async def test_only_the_reports_team_and_supervisors_reach_the_agent_routes(cast: Cast) -> None:
    rid = await _report(cast)
    expected = {
        "resident_a": 403,
        "resident_b": 403,
        "device": 403,
        "agent": 200,
        "agent_other_team": 403,
        "supervisor": 200,
        "nobody": 401,
    }

    assert await _statuses(cast, "GET", f"/v1/agent/reports/{rid}") == expected
    assert (
        await _statuses(cast, "PATCH", f"/v1/agent/reports/{rid}", json={"priority": 3}) == expected
    )
    moved = await _statuses(
        cast, "POST", f"/v1/agent/reports/{rid}/transitions", json={"status": "in_progress"}
    )
    assert moved == {**expected, "supervisor": 409}  # the agent moved it first: now illegal


async def test_reassignment_is_for_supervisors(cast: Cast) -> None:
    rid = await _report(cast)

    statuses = await _statuses(
        cast, "POST", f"/v1/agent/reports/{rid}/reassign", json={"team": "voirie-rouen"}
    )

    assert statuses == {
        "resident_a": 403,
        "resident_b": 403,
        "device": 403,
        "agent": 403,
        "agent_other_team": 403,
        "supervisor": 200,
        "nobody": 401,
    }


async def test_reopen_and_feedback_belong_to_the_reporter(cast: Cast) -> None:
    rid = await _report(cast)
    await cast.call(
        "agent", "POST", f"/v1/agent/reports/{rid}/transitions", json={"status": "resolved"}
    )

    feedback = await _statuses(
        cast, "PUT", f"/v1/incidents/reports/{rid}/feedback", json={"rating": 5}
    )
    reopen = await _statuses(
        cast, "POST", f"/v1/incidents/reports/{rid}/reopen", json={"reason": "Pas réparé"}
    )

    assert feedback == {
        "resident_a": 204,
        "resident_b": 403,
        "device": 403,
        "agent": 403,
        "agent_other_team": 403,
        "supervisor": 403,
        "nobody": 401,
    }
    assert reopen == {**feedback, "resident_a": 200}


async def test_following_needs_a_principal_and_a_visible_report(cast: Cast) -> None:
    rid = await _report(cast)

    statuses = await _statuses(cast, "PUT", f"/v1/incidents/reports/{rid}/follow")

    assert statuses == {who: 204 for who in EVERYONE} | {"nobody": 401}


async def test_lists_of_mine_never_show_someone_elses_reports(cast: Cast) -> None:
    await _report(cast)

    for who in ("resident_b", "device", "agent"):
        mine = await cast.call(who, "GET", "/v1/incidents/reports/mine")
        assert mine.json()["items"] == []
    assert (await cast.call("nobody", "GET", "/v1/incidents/reports/mine")).status_code == 401


async def test_the_catalogue_and_rules_are_managed_by_admins_only(
    cast: Cast, admin_headers: dict[str, str]
) -> None:
    rule = {"position": 5, "name": "Test", "team": "voirie-rouen"}

    statuses = await _statuses(cast, "POST", "/v1/admin/incidents/routing-rules", json=rule)
    as_admin = await cast.http.post(
        "/v1/admin/incidents/routing-rules", json=rule, headers=admin_headers
    )

    assert set(statuses.values()) <= {401, 403}
    assert statuses["nobody"] == 401
    assert as_admin.status_code == 201
