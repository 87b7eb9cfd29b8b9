"""Export and erasure end to end: after DELETE /v1/me nothing personal remains, anywhere."""

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.incidents.demo import seed_catalogue
from tests.identity.conftest import Live, bearer
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE
from tests.media.photos import photo

# "Martin" alone is also in commune names (Saint-Martin-…): the e-mail carries it.
PERSONAL = ("Camille", "camille.martin@example.fr", "1988-04-12")


async def _tables(live: Live) -> list[str]:
    async with live.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        )
        return [row[0] for row in rows]


async def _rows_containing(live: Live, needles: list[str]) -> list[str]:
    found = []
    async with live.engine.connect() as connection:
        for table in await _tables(live):
            rows = await connection.execute(text(f"SELECT t::text FROM {table} t"))  # noqa: S608 - names from the catalog
            for (row,) in rows:
                found += [f"{table}: {needle}" for needle in needles if needle in row]
    return found


@pytest.fixture
def live_settings(settings: Settings, tmp_path: Path) -> Settings:
    # No in-memory public cache: a report read before the erasure is read again after it.
    return settings.model_copy(
        update={"media_local_root": tmp_path / "media", "public_cache_seconds": 0}
    )


@pytest_asyncio.fixture
async def catalogue(live: Live) -> AsyncIterator[None]:
    """The incident catalogue, committed; the identity teardown empties teams and reports."""
    async with AsyncSession(live.engine) as session:
        await seed_catalogue(session)
        await session.commit()
    yield
    async with live.engine.begin() as connection:
        await connection.execute(text("TRUNCATE incident_groups, incident_categories CASCADE"))


@dataclass
class IncidentTrail:
    before_sign_in: str  # filed by the install before it was linked, with a contact e-mail
    with_photo: str  # filed signed in, with a photo; resolved, then rated with a comment
    followed: str  # someone else's report the resident follows


async def _file(live: Live, credential: str, *, with_photo: bool = False, **fields: Any) -> str:
    body = {
        "category": "nid-de-poule",
        "location": ROUEN_HOTEL_DE_VILLE,
        "description": "Trou profond devant l'arrêt de bus",
        "attributes": {"danger": "fort"},
        **fields,
    }
    if with_photo:
        filed = await live.http.post(
            "/v1/incidents/reports",
            data={"report": json.dumps(body)},
            files=[("photos", ("IMG_0001.jpg", photo("JPEG"), "image/jpeg"))],
            headers=bearer(credential),
        )
    else:
        filed = await live.http.post("/v1/incidents/reports", json=body, headers=bearer(credential))
    assert filed.status_code == 201, filed.text
    code: str = filed.json()["tracking_code"]
    return code


async def _before_sign_in(live: Live, device_token: str) -> IncidentTrail:
    code = await _file(live, device_token, contact_email="camille.martin@example.fr")
    return IncidentTrail(before_sign_in=code, with_photo="", followed="")


async def _after_sign_in(live: Live, trail: IncidentTrail, access_token: str) -> None:
    trail.with_photo = await _file(live, access_token, with_photo=True)
    other = (await live.http.post("/v1/devices", json={"platform": "ios"})).json()
    trail.followed = await _file(live, other["device_token"])
    followed_id = await _report_id(live, trail.followed)
    follow = await live.http.put(
        f"/v1/incidents/reports/{followed_id}/follow", headers=bearer(access_token)
    )
    assert follow.status_code == 204
    rated_id = await _report_id(live, trail.with_photo)
    await _resolve(live, rated_id)
    rated = await live.http.put(
        f"/v1/incidents/reports/{rated_id}/feedback",
        json={"rating": 5, "comment": "Merci, signé Camille"},
        headers=bearer(access_token),
    )
    assert rated.status_code == 204, rated.text


async def _resolve(live: Live, report_id: str) -> None:
    """What an agent's resolution leaves, written directly: these tests are about the resident."""
    async with live.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE incident_reports SET status = 'resolved', resolved_at = now(), "
                "closed_at = now() WHERE id = :id"
            ),
            {"id": report_id},
        )


async def _report_id(live: Live, code: str) -> str:
    found = await live.http.get(f"/v1/incidents/track/{code}")
    assert found.status_code == 200, found.text
    report_id: str = found.json()["id"]
    return report_id


async def test_export_holds_profile_consents_devices_and_sessions(live: Live) -> None:
    device = (await live.http.post("/v1/devices", json={"platform": "android"})).json()
    tokens = await live.sign_in(device_token=device["device_token"])
    for granted in (True, False):
        await live.http.put(
            "/v1/me/consents/geolocation",
            json={"granted": granted, "version": "2026-11"},
            headers=bearer(tokens),
        )

    export = await live.http.get("/v1/me/export", headers=bearer(tokens))

    assert export.status_code == 200
    body = export.json()
    assert body["profile"]["given_name"] == "Camille"
    assert [c["granted"] for c in body["consents"]] == [True, False]
    assert all(c["version"] == "2026-11" and c["recorded_at"] for c in body["consents"])
    current = (await live.http.get("/v1/me/consents", headers=bearer(tokens))).json()
    assert [(c["kind"], c["granted"]) for c in current] == [("geolocation", False)]
    assert [d["id"] for d in body["devices"]] == [device["id"]]
    assert len(body["sessions"]) == 1
    assert tokens["refresh_token"] not in export.text
    assert export.headers["cache-control"] == "no-store"


async def test_export_holds_my_reports_follows_and_feedback(live: Live, catalogue: None) -> None:
    device = (await live.http.post("/v1/devices", json={"platform": "android"})).json()
    trail = await _before_sign_in(live, device["device_token"])
    tokens = await live.sign_in(device_token=device["device_token"])
    await _after_sign_in(live, trail, tokens["access_token"])

    export = await live.http.get("/v1/me/export", headers=bearer(tokens))

    assert export.status_code == 200
    incidents = export.json()["other"]["incidents"]
    reports = {report["tracking_code"]: report for report in incidents["reports"]}
    assert sorted(reports) == sorted([trail.before_sign_in, trail.with_photo])
    early, rated = reports[trail.before_sign_in], reports[trail.with_photo]
    assert early["contact_email"] == "camille.martin@example.fr"
    assert (early["category"], early["status"]) == ("nid-de-poule", "triaged")
    assert early["description"] == "Trou profond devant l'arrêt de bus"
    assert early["created_at"]
    assert early["photos"] == []
    assert rated["status"] == "resolved"
    assert rated["closed_at"]
    [url] = rated["photos"]
    assert (await live.http.get(url, headers=bearer(tokens))).status_code == 200
    # Filing follows one's own report; the third is someone else's.
    followed = {follow["tracking_code"]: follow for follow in incidents["follows"]}
    assert sorted(followed) == sorted([trail.before_sign_in, trail.with_photo, trail.followed])
    assert [(f["tracking_code"], f["rating"], f["comment"]) for f in incidents["feedback"]] == [
        (trail.with_photo, 5, "Merci, signé Camille")
    ]


async def test_after_erasure_no_personal_field_remains(live: Live, catalogue: None) -> None:
    device = (await live.http.post("/v1/devices", json={"platform": "android"})).json()
    trail = await _before_sign_in(live, device["device_token"])
    tokens = await live.sign_in(device_token=device["device_token"])
    await _after_sign_in(live, trail, tokens["access_token"])
    await live.http.put(
        "/v1/me/consents/notifications",
        json={"granted": True, "version": "2026-11"},
        headers=bearer(tokens),
    )
    account_id = (await live.http.get("/v1/me", headers=bearer(tokens))).json()["id"]
    async with live.engine.connect() as connection:
        id_token = await connection.scalar(text("SELECT id_token_hint FROM auth_sessions"))
    fc_sub = hashlib.sha256(b"franceconnect:resident").hexdigest()
    needles = [
        *PERSONAL,
        fc_sub,
        str(id_token),
        hashlib.sha256(device["device_token"].encode()).hexdigest(),
        # The keys incident rows carry (the account row itself keeps its bare id).
        f"resident:{account_id}",
        f"device:{device['id']}",
    ]
    found = {hit.split(":")[0] for hit in await _rows_containing(live, needles)}
    incident_tables = {
        f"public.incident_{name}" for name in ("reports", "photos", "events", "follows", "feedback")
    }
    assert incident_tables <= found  # the scan does find them before

    erased = await live.http.delete("/v1/me", headers=bearer(tokens))

    assert erased.status_code == 204
    assert await _rows_containing(live, needles) == []
    assert await live.count("devices", "resident_id IS NOT NULL") == 0
    assert await live.count("devices", f"id = '{device['id']}'") == 0
    assert await live.count("auth_sessions") == 0
    assert await live.count("consents") == 0
    assert await live.count("residents", f"id = '{account_id}' AND erased_at IS NOT NULL") == 1
    # The reports stay for the public record, unlinked; the rating stays, its comment went.
    assert await live.count("incident_reports", "reporter IS NULL AND contact_email IS NULL") == 2
    assert await live.count("incident_follows") == 1  # the other install's own follow
    assert await live.count("incident_feedback", "rating = 5 AND comment IS NULL") == 1
    public = await live.http.get(f"/v1/incidents/track/{trail.with_photo}")
    assert public.status_code == 200
    assert len(public.json()["photos"]) == 1
    for path in ("/v1/me", "/v1/me/export", "/v1/me/consents", "/v1/me/devices"):
        assert (await live.http.get(path, headers=bearer(tokens))).status_code == 401
    assert (
        await live.http.get("/v1/devices/current", headers=bearer(device["device_token"]))
    ).status_code == 401
    refresh = await live.http.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refresh.status_code == 401

    again = await live.sign_in()
    me = (await live.http.get("/v1/me", headers=bearer(again))).json()
    assert me["id"] != account_id


async def test_a_device_signs_in_and_is_linked_with_its_credential(live: Live) -> None:
    device = await live.http.post("/v1/devices", json={"platform": "ios", "app_version": "1.0"})
    assert device.status_code == 201
    token = device.json()["device_token"]
    seen = await live.http.get("/v1/devices/current", headers=bearer(token))
    assert seen.json()["linked_at"] is None

    tokens = await live.sign_in(device_token=token)

    linked = await live.http.get("/v1/devices/current", headers=bearer(token))
    assert linked.json()["linked_at"] is not None
    mine = (await live.http.get("/v1/me/devices", headers=bearer(tokens))).json()
    assert [d["id"] for d in mine] == [device.json()["id"]]


async def test_erasure_scrubs_contact_data_from_the_reports_kept(
    live: Live, catalogue: None
) -> None:
    tokens = await live.sign_in()
    pothole = await _file(
        live,
        tokens["access_token"],
        description="Trou énorme. Rappelez-moi au 06 12 34 56 78 ou +33 7 98 76 54 32 "
        "(camille.martin@example.fr)",
    )
    light = await _file(
        live,
        tokens["access_token"],
        category="lampadaire-eteint",
        description="Éteint depuis lundi",
        attributes={"numero": "EP-118, voisin au 0611223344"},
    )
    pothole_id = await _report_id(live, pothole)
    await _resolve(live, pothole_id)
    reopened = await live.http.post(
        f"/v1/incidents/reports/{pothole_id}/reopen",
        json={"reason": "Toujours là, joignable au 02.35.52.68.10"},
        headers=bearer(tokens),
    )
    assert reopened.status_code == 200, reopened.text

    erased = await live.http.delete("/v1/me", headers=bearer(tokens))

    assert erased.status_code == 204
    public = (await live.http.get(f"/v1/incidents/track/{pothole}")).json()
    marker = "[coordonnées supprimées]"
    assert public["description"] == f"Trou énorme. Rappelez-moi au {marker} ou {marker} ({marker})"
    assert f"Toujours là, joignable au {marker}" in [e["note"] for e in public["timeline"]]
    assert (await live.http.get(f"/v1/incidents/track/{light}")).json()["description"] == (
        "Éteint depuis lundi"
    )
    leftovers = await _rows_containing(
        live, ["06 12 34 56 78", "98 76 54 32", "camille.martin", "0611223344", "02.35.52.68.10"]
    )
    assert leftovers == []
    async with live.engine.connect() as connection:
        answers = await connection.scalar(
            text("SELECT attributes FROM incident_reports WHERE tracking_code = :code"),
            {"code": light},
        )
    assert answers == {"numero": f"EP-118, voisin au {marker}"}
