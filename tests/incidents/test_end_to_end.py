"""The whole story over HTTP with committed data, the worker, and the FCM and BAN simulators.

A resident reports a pothole with a photo (offline-queue retry included) → it is routed to the
Rouen roads team → an agent claims, works and resolves it with an after-fix photo → the resident
receives each public change as a push through firebase-admin → gives feedback; then says "not
fixed" and the team reopens it, which is pushed too.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api import jobs
from poche_api.app import create_app
from poche_api.config import Settings
from poche_api.db import create_sessionmaker, plain_url
from poche_api.notifications import firebase
from tests.ban_server import serve_ban_simulator
from tests.conftest import state_per_request
from tests.fcm_server import FcmControl
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, Cast, make_cast
from tests.media.photos import photo
from tests.notifications.conftest import PUSH_TABLES, run_jobs

INCIDENT_TABLES = (
    "incident_sync_operations, incident_moderations, incident_feedback, incident_follows, "
    "incident_events, incident_photos, incident_reports, incident_routing_rules, "
    "incident_categories, incident_groups"
)


@pytest.fixture(scope="module")
def ban_url(settings: Settings) -> Iterator[str]:
    with serve_ban_simulator(settings) as url:
        yield url


@pytest.fixture
def e2e_settings(push_settings: Settings, ban_url: str) -> Settings:
    return push_settings.model_copy(update={"ban_base_url": ban_url})


async def _wipe(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(f"TRUNCATE {INCIDENT_TABLES}, {PUSH_TABLES}, pgqueuer, pgqueuer_log")
        )
        await connection.execute(
            text("DELETE FROM staff_members WHERE email LIKE '%@metropole.test'")
        )
        await connection.execute(text("DELETE FROM teams"))
        await connection.execute(text("DELETE FROM idempotency_keys"))


@pytest_asyncio.fixture
async def live(
    e2e_settings: Settings, engine: AsyncEngine, database_url: str, fcm: FcmControl, redis: Any
) -> AsyncIterator[tuple[Cast, jobs.WorkerResources]]:
    await _wipe(engine)
    app = create_app(e2e_settings)
    sessionmaker = create_sessionmaker(engine)
    async with LifespanManager(state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
            httpx.AsyncClient() as worker_http,
        ):
            async with sessionmaker() as session:
                cast = await make_cast(e2e_settings, session, http)
            resources = jobs.WorkerResources(
                settings=e2e_settings,
                sessionmaker=sessionmaker,
                redis=redis,
                http=worker_http,
                database_url=plain_url(database_url),
            )
            yield cast, resources
    await firebase.close_app(e2e_settings)
    await _wipe(engine)


def _token(name: str) -> str:
    return f"{name}:APA91b" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex * 2


async def _register_push(cast: Cast, who: str) -> str:
    token = _token(who)
    installation = f"inst-{who}-{uuid.uuid4().hex[:8]}"
    registered = await cast.call(
        who,
        "PUT",
        f"/v1/push/installations/{installation}",
        json={"token": token, "platform": "android", "app_version": "3.0.0"},
    )
    assert registered.status_code == 201, registered.text
    prefs = await cast.call(who, "GET", f"/v1/push/installations/{installation}/preferences")
    body = {**prefs.json(), "quiet_hours_enabled": False}
    updated = await cast.call(
        who, "PUT", f"/v1/push/installations/{installation}/preferences", json=body
    )
    assert updated.status_code == 200, updated.text
    return token


async def _pushes_to(fcm: FcmControl, token: str) -> list[dict[str, Any]]:
    messages = (await fcm.stats())["last_messages"]
    return [m for m in messages if m.get("token") == token]


async def _move(cast: Cast, report_id: str, **change: Any) -> httpx.Response:
    response = await cast.call(
        "agent", "POST", f"/v1/agent/reports/{report_id}/transitions", json=change
    )
    assert response.status_code == 200, response.text
    return response


async def test_report_route_work_resolve_push_feedback_and_reopen(
    live: tuple[Cast, jobs.WorkerResources], engine: AsyncEngine, fcm: FcmControl
) -> None:
    cast, resources = live
    token = await _register_push(cast, "resident_a")
    form = {
        "report": orjson.dumps(
            {
                "id": str(uuid.uuid4()),
                "category": "nid-de-poule",
                "location": ROUEN_HOTEL_DE_VILLE,
                "description": "Trou profond devant la mairie",
                "attributes": {"danger": "fort"},
            }
        ).decode()
    }
    retry_key = {"Idempotency-Key": str(uuid.uuid4())}
    image = ("trou.jpg", photo("JPEG", (1200, 900)), "image/jpeg")

    filed = await cast.call(
        "resident_a",
        "POST",
        "/v1/incidents/reports",
        data=form,
        files=[("photos", image)],
        headers=retry_key,
    )
    replayed = await cast.call(
        "resident_a",
        "POST",
        "/v1/incidents/reports",
        data=form,
        files=[("photos", image)],
        headers=retry_key,
    )

    assert filed.status_code == 201, filed.text
    assert replayed.status_code == 201
    assert replayed.json()["id"] == filed.json()["id"]
    report = filed.json()
    rid = report["id"]
    assert report["address"] is not None  # reverse-geocoded through the BAN simulator
    assert "Rouen" in report["address"]

    queue = (await cast.call("agent", "GET", "/v1/agent/reports")).json()["items"]
    assert [item["id"] for item in queue] == [rid]
    assert queue[0]["team"] == "voirie-rouen"
    assert (await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")).status_code == 200
    await _move(cast, rid, status="in_progress", public_note="Équipe en route")
    resolved = await cast.call(
        "agent",
        "POST",
        f"/v1/agent/reports/{rid}/transitions",
        data={
            "transition": orjson.dumps({"status": "resolved", "public_note": "Rebouché"}).decode()
        },
        files=[("photo", ("apres.jpg", photo(color=(30, 30, 30)), "image/jpeg"))],
    )
    assert resolved.status_code == 200, resolved.text
    await run_jobs(resources, engine, within=90)

    # Two jobs, delivered concurrently: the order of arrival is not the order of the changes.
    pushes = {m["notification"]["title"]: m for m in await _pushes_to(fcm, token)}
    code = report["tracking_code"]
    assert set(pushes) == {
        f"Signalement {code} : en cours de traitement",
        f"Signalement {code} : résolu",
    }
    fixed = pushes[f"Signalement {code} : résolu"]
    assert fixed["notification"]["image"].endswith("/large.webp")  # the after-fix photo
    assert fixed["notification"]["body"] == "Nid-de-poule. Rebouché"
    assert fixed["data"]["link"] == f"poche://reports/{rid}"

    rated = await cast.call(
        "resident_a", "PUT", f"/v1/incidents/reports/{rid}/feedback", json={"rating": 4}
    )
    assert rated.status_code == 204
    asked = await cast.call(
        "resident_a",
        "POST",
        f"/v1/incidents/reports/{rid}/reopen",
        json={"reason": "Le trou est revenu"},
    )
    assert asked.json()["status"] == "reopen_requested"
    await _move(cast, rid, status="reopened", public_note="On repasse demain")
    await run_jobs(resources, engine, within=90)

    titles = [m["notification"]["title"] for m in await _pushes_to(fcm, token)]
    assert titles[-1] == f"Signalement {code} : rouvert"
    assert len(titles) == 3  # nothing resent
    inbox = (await cast.call("resident_a", "GET", "/v1/me/notifications")).json()
    assert len(inbox["items"]) == 3
