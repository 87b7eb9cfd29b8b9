"""Field agents over HTTP: reports near me, notes, offline sync, and a day's route."""

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.models import IncidentEvent, PushNotification
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, SOTTEVILLE, Cast

# Points in Rouen (voirie-rouen's area), at growing distance from the Hôtel de Ville.
VIEUX_MARCHE = {"lat": 49.4427, "lon": 1.0880}  # ~820 m
GARE_RIVE_DROITE = {"lat": 49.4490, "lon": 1.0940}  # ~760 m
SAINT_SEVER_QUAY = {"lat": 49.4370, "lon": 1.0800}  # ~1.6 km
JARDIN_DES_PLANTES = {"lat": 49.4245, "lon": 1.0760}  # ~2.7 km (Rouen, left bank)


async def _filed(cast: Cast, location: dict[str, float] = ROUEN_HOTEL_DE_VILLE) -> str:
    response = await cast.file("resident_a", location=location)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _version(cast: Cast, report_id: str) -> int:
    detail = await cast.call("agent", "GET", f"/v1/agent/reports/{report_id}")
    return int(detail.json()["version"])


async def _sync(cast: Cast, who: str, *operations: dict[str, Any]) -> list[dict[str, Any]]:
    response = await cast.call(who, "POST", "/v1/agent/sync", json={"operations": list(operations)})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _op(report_id: str, base_version: int, action: str, **body: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "report_id": report_id,
        "base_version": base_version,
        "action": action,
        **body,
    }


async def _events(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(IncidentEvent)) or 0)


class TestNearby:
    async def test_my_teams_open_reports_nearest_first_within_the_radius(self, cast: Cast) -> None:
        here = await _filed(cast, ROUEN_HOTEL_DE_VILLE)
        station = await _filed(cast, GARE_RIVE_DROITE)
        market = await _filed(cast, VIEUX_MARCHE)
        await _filed(cast, JARDIN_DES_PLANTES)  # beyond the radius
        other_team = await _filed(cast, SOTTEVILLE)
        done = await _filed(cast, ROUEN_HOTEL_DE_VILLE)
        await cast.call(
            "agent", "POST", f"/v1/agent/reports/{done}/transitions", json={"status": "resolved"}
        )

        response = await cast.call(
            "agent",
            "GET",
            "/v1/agent/reports/nearby",
            params={**ROUEN_HOTEL_DE_VILLE, "radius": 1000},
        )
        theirs = await cast.call(
            "agent_other_team",
            "GET",
            "/v1/agent/reports/nearby",
            params={**SOTTEVILLE, "radius": 2000},
        )

        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [item["id"] for item in items] == [here, station, market]
        assert items[0]["distance_m"] == 0
        assert 600 < items[1]["distance_m"] < items[2]["distance_m"] < 1000
        assert items[0]["team"] == "voirie-rouen"
        assert [item["id"] for item in theirs.json()["items"]] == [other_team]

    async def test_the_radius_is_bounded_and_residents_are_refused(self, cast: Cast) -> None:
        too_wide = await cast.call(
            "agent",
            "GET",
            "/v1/agent/reports/nearby",
            params={**ROUEN_HOTEL_DE_VILLE, "radius": 5000},
        )
        resident = await cast.call(
            "resident_a", "GET", "/v1/agent/reports/nearby", params=ROUEN_HOTEL_DE_VILLE
        )

        assert too_wide.status_code == 422
        assert resident.status_code == 403


class TestNotes:
    async def test_a_public_note_reaches_the_timeline_and_the_followers(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        rid = await _filed(cast)
        before = await _version(cast, rid)

        noted = await cast.call(
            "agent",
            "POST",
            f"/v1/agent/reports/{rid}/notes",
            json={"public_note": "Passage prévu jeudi", "internal_note": "Prévoir la nacelle"},
            headers={"If-Match": f'"r{before}"'},
        )

        assert noted.status_code == 200, noted.text
        assert noted.json()["status"] == "triaged"  # no status change
        assert noted.json()["version"] > before
        assert noted.headers["ETag"] == f'"r{noted.json()["version"]}"'
        assert noted.json()["history"][-1]["internal_note"] == "Prévoir la nacelle"
        public = (await cast.call("resident_a", "GET", f"/v1/incidents/reports/{rid}")).json()
        assert public["timeline"][-1]["note"] == "Passage prévu jeudi"
        assert "nacelle" not in str(public)
        pushed = await session.scalars(
            select(PushNotification).where(PushNotification.template == "report_update")
        )
        assert [(p.target, p.params["note"]) for p in pushed] == [
            (cast.keys["resident_a"], "Passage prévu jeudi")
        ]

    async def test_an_internal_note_pushes_nothing(self, cast: Cast, session: AsyncSession) -> None:
        rid = await _filed(cast)

        noted = await cast.call(
            "agent", "POST", f"/v1/agent/reports/{rid}/notes", json={"internal_note": "RAS"}
        )

        assert noted.status_code == 200
        count = await session.scalar(select(func.count()).select_from(PushNotification))
        assert count == 0

    async def test_stale_empty_and_out_of_team_notes_are_refused(self, cast: Cast) -> None:
        rid = await _filed(cast)
        path = f"/v1/agent/reports/{rid}/notes"

        stale = await cast.call(
            "agent", "POST", path, json={"internal_note": "x"}, headers={"If-Match": '"r0"'}
        )
        empty = await cast.call("agent", "POST", path, json={})
        other_team = await cast.call("agent_other_team", "POST", path, json={"internal_note": "x"})
        resident = await cast.call("resident_a", "POST", path, json={"public_note": "x"})

        assert stale.status_code == 412
        assert empty.status_code == 422
        assert (other_team.status_code, resident.status_code) == (403, 403)


class TestSync:
    async def test_each_operation_gets_its_own_answer(self, cast: Cast) -> None:
        mine, theirs, taken = await _filed(cast), await _filed(cast), await _filed(cast)
        seen = {rid: await _version(cast, rid) for rid in (mine, theirs, taken)}
        # While the agent is offline, the supervisor works two of the reports.
        await cast.call(
            "supervisor",
            "POST",
            f"/v1/agent/reports/{theirs}/transitions",
            json={"status": "in_progress"},
        )
        await cast.call("supervisor", "POST", f"/v1/agent/reports/{taken}/claim")
        other_team = await cast.file("resident_a", location=SOTTEVILLE)

        results = await _sync(
            cast,
            "agent",
            _op(mine, seen[mine], "claim"),
            # The app cannot know the version its own claim produced: it sends what it saw.
            _op(mine, seen[mine], "transition", transition={"status": "in_progress"}),
            _op(
                theirs,
                seen[theirs],
                "transition",
                transition={"status": "scheduled", "scheduled_for": "2026-12-03"},
            ),
            _op(taken, await _version(cast, taken), "claim"),
            _op(mine, seen[mine], "transition", transition={"status": "submitted"}),
            _op(other_team.json()["id"], 1, "claim"),
            _op(str(uuid.uuid4()), 1, "claim"),
            _op(theirs, seen[theirs], "note", note={"internal_note": "Vu en passant"}),
            _op(
                mine,
                seen[mine],
                "transition",
                transition={"status": "duplicate", "duplicate_of": "RMN-ZZZZZZ"},
            ),
        )

        assert [r["status"] for r in results] == [200, 200, 412, 409, 409, 403, 404, 200, 422]
        assert results[1]["report_status"] == "in_progress"
        assert results[1]["version"] > results[0]["version"]
        assert results[2]["problem"]["type"].endswith("/version-mismatch")
        assert results[2]["problem"]["current_version"] == await _version(cast, theirs) - 1
        assert results[3]["problem"]["type"].endswith("/already-claimed")
        assert results[4]["problem"]["type"].endswith("/illegal-transition")
        assert results[5]["problem"]["type"].endswith("/out-of-scope")
        assert results[6]["problem"]["status"] == 404
        assert results[8]["problem"]["type"].endswith("/original-not-found")
        detail = (await cast.call("agent", "GET", f"/v1/agent/reports/{mine}")).json()
        assert (detail["status"], detail["assignee_id"]) == (
            "in_progress",
            str(cast.staff_ids["agent"]),
        )
        assert (await cast.call("agent", "GET", f"/v1/agent/reports/{theirs}")).json()[
            "status"
        ] == "in_progress"

    async def test_a_replayed_batch_answers_the_same_without_applying_again(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        rid = await _filed(cast)
        seen = await _version(cast, rid)
        batch = [
            _op(rid, seen, "claim"),
            _op(rid, seen, "transition", transition={"status": "resolved", "public_note": "Fait"}),
            _op(rid, seen, "transition", transition={"status": "in_progress"}),
        ]
        first = await _sync(cast, "agent", *batch)
        events = await _events(session)

        again = await _sync(cast, "agent", *batch)
        stolen = await _sync(cast, "agent_other_team", batch[0])

        assert [r["status"] for r in first] == [200, 200, 409]
        assert [{**r, "replayed": False} for r in again] == first
        assert all(r["replayed"] for r in again)
        assert await _events(session) == events
        assert stolen[0]["status"] == 409
        assert stolen[0]["problem"]["type"].endswith("/sync-operation-id-taken")

    async def test_work_already_done_by_someone_else_is_not_a_conflict(self, cast: Cast) -> None:
        rid = await _filed(cast)
        seen = await _version(cast, rid)
        await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")
        await cast.call(
            "supervisor",
            "POST",
            f"/v1/agent/reports/{rid}/transitions",
            json={"status": "resolved", "public_note": "Réparé"},
        )

        results = await _sync(
            cast,
            "agent",
            _op(rid, seen, "claim"),
            _op(
                rid,
                seen,
                "transition",
                transition={"status": "resolved", "internal_note": "2 sacs d'enrobé"},
            ),
        )

        assert [(r["status"], r["already_current"]) for r in results] == [
            (412, False),  # the supervisor's change came after what the agent saw
            (200, True),  # but the report already is resolved: the agent's notes are kept
        ]
        history = (await cast.call("agent", "GET", f"/v1/agent/reports/{rid}")).json()["history"]
        assert history[-1]["action"] == "note"
        assert history[-1]["internal_note"] == "2 sacs d'enrobé"
        assert [e["to_status"] for e in history].count("resolved") == 1

    async def test_the_batch_is_bounded(self, cast: Cast) -> None:
        rid = await _filed(cast)
        too_many = [_op(rid, 1, "claim") for _ in range(51)]

        response = await cast.call("agent", "POST", "/v1/agent/sync", json={"operations": too_many})

        assert response.status_code == 422


class TestRoute:
    async def test_my_day_in_a_short_order_from_where_i_stand(self, cast: Cast) -> None:
        stops = {
            name: await _filed(cast, point)
            for name, point in {
                "station": GARE_RIVE_DROITE,
                "quay": SAINT_SEVER_QUAY,
                "market": VIEUX_MARCHE,
                "garden": JARDIN_DES_PLANTES,
            }.items()
        }
        for name in ("station", "quay", "market"):
            await cast.call("agent", "POST", f"/v1/agent/reports/{stops[name]}/claim")
        await cast.call(
            "agent",
            "POST",
            f"/v1/agent/reports/{stops['garden']}/transitions",
            json={"status": "scheduled", "scheduled_for": "2026-12-03"},
        )
        elsewhere = await _filed(cast)  # claimed by someone else
        await cast.call("supervisor", "POST", f"/v1/agent/reports/{elsewhere}/claim")

        planned = await cast.call(
            "agent",
            "GET",
            "/v1/agent/route",
            params={"date": "2026-12-03", **ROUEN_HOTEL_DE_VILLE},
        )
        another_day = await cast.call(
            "agent",
            "GET",
            "/v1/agent/route",
            params={"date": "2026-12-04", **ROUEN_HOTEL_DE_VILLE},
        )

        assert planned.status_code == 200, planned.text
        body = planned.json()
        order = [stop["report"]["id"] for stop in body["stops"]]
        assert order == [stops[n] for n in ("station", "market", "quay", "garden")]
        assert body["total_m"] <= body["nearest_neighbour_m"]
        assert body["stops"][-1]["cumulative_m"] == body["total_m"]
        assert [stop["order"] for stop in body["stops"]] == [1, 2, 3, 4]
        assert body["truncated"] is False
        assert stops["garden"] not in [s["report"]["id"] for s in another_day.json()["stops"]]

    async def test_a_position_is_required(self, cast: Cast) -> None:
        response = await cast.call("agent", "GET", "/v1/agent/route")

        assert response.status_code == 422


EVERYONE = (
    "resident_a",
    "resident_b",
    "device",
    "agent",
    "agent_other_team",
    "supervisor",
    "nobody",
)
STAFF_ONLY = {
    "resident_a": 403,
    "resident_b": 403,
    "device": 403,
    "agent": 200,
    "agent_other_team": 200,
    "supervisor": 200,
    "nobody": 401,
}


async def _statuses(cast: Cast, method: str, path: str, **kwargs: Any) -> dict[str, int]:
    return {who: (await cast.call(who, method, path, **kwargs)).status_code for who in EVERYONE}


class TestWhoMayCall:
    async def test_notes_belong_to_the_reports_team_and_supervisors(self, cast: Cast) -> None:
        rid = await _filed(cast)

        statuses = await _statuses(
            cast, "POST", f"/v1/agent/reports/{rid}/notes", json={"internal_note": "vu"}
        )

        assert statuses == {**STAFF_ONLY, "agent_other_team": 403}

    async def test_nearby_route_and_sync_are_for_staff(self, cast: Cast) -> None:
        rid = await _filed(cast)

        nearby = await _statuses(
            cast, "GET", "/v1/agent/reports/nearby", params=ROUEN_HOTEL_DE_VILLE
        )
        route = await _statuses(cast, "GET", "/v1/agent/route", params=ROUEN_HOTEL_DE_VILLE)
        synced = {}
        for who in EVERYONE:  # a fresh operation id each, so none replays another's
            note = _op(rid, 1, "note", note={"internal_note": "vu"})
            response = await cast.call(who, "POST", "/v1/agent/sync", json={"operations": [note]})
            synced[who] = response.status_code

        # The batch is for any staff; an operation on another team's report is refused inside it.
        assert nearby == route == synced == STAFF_ONLY
