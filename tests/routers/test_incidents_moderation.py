"""Supervisors moderate reports over HTTP; the public, residents and staff see the effect."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.incidents.views import REDACTED
from poche_api.models import PushNotification
from tests.incidents.casting import cast_with_media
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, Cast
from tests.media.photos import photo


@pytest_asyncio.fixture
async def cast(
    settings: Settings, session: AsyncSession, redis: Redis, tmp_path: Path
) -> AsyncIterator[Cast]:
    async with cast_with_media(settings, session, tmp_path / "media") as cast:
        yield cast


async def _filed(cast: Cast, *, with_photo: bool = False, **fields: Any) -> dict[str, Any]:
    body = {
        "category": "nid-de-poule",
        "location": ROUEN_HOTEL_DE_VILLE,
        "description": "Trou profond devant l'arrêt de bus",
        "attributes": {"danger": "fort"},
        **fields,
    }
    if with_photo:
        response = await cast.call(
            "resident_a",
            "POST",
            "/v1/incidents/reports",
            data={"report": json.dumps(body)},
            files=[("photos", ("IMG_0001.jpg", photo("JPEG"), "image/jpeg"))],
        )
    else:
        response = await cast.call("resident_a", "POST", "/v1/incidents/reports", json=body)
    assert response.status_code == 201, response.text
    filed: dict[str, Any] = response.json()
    return filed


async def _moderate(cast: Cast, who: str, report_id: str, **body: Any) -> Any:
    return await cast.call(who, "POST", f"/v1/agent/reports/{report_id}/moderation", json=body)


async def _status(cast: Cast, who: str, path: str) -> int:
    return (await cast.call(who, "GET", path)).status_code


async def test_only_supervisors_moderate_and_read_the_log(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    hide = {"action": "hide_report", "reason": "Propos injurieux"}

    refused = {who: (await _moderate(cast, who, rid, **hide)).status_code for who in cast.headers}
    log = {
        who: await _status(cast, who, f"/v1/agent/reports/{rid}/moderation") for who in cast.headers
    }

    assert refused == {
        "nobody": 401,
        "resident_a": 403,
        "resident_b": 403,
        "device": 403,
        "agent": 403,
        "agent_other_team": 403,
        "supervisor": 201,
    }
    assert log == {**refused, "supervisor": 200}


async def test_a_hidden_report_is_gone_for_the_public_but_not_for_its_reporter_or_staff(
    cast: Cast,
) -> None:
    filed = await _filed(cast)
    rid, code = filed["id"], filed["tracking_code"]
    detail, track = f"/v1/incidents/reports/{rid}", f"/v1/incidents/track/{code}"
    nearby = {"lat": ROUEN_HOTEL_DE_VILLE["lat"], "lon": ROUEN_HOTEL_DE_VILLE["lon"]}

    hidden = await _moderate(cast, "supervisor", rid, action="hide_report", reason="Insulte")

    assert hidden.status_code == 201, hidden.text
    assert hidden.json()["action"] == "hide_report"
    assert hidden.json()["actor"] == cast.keys["supervisor"]
    for who in ("nobody", "resident_b", "device"):
        assert await _status(cast, who, detail) == 404, who
        assert await _status(cast, who, track) == 404, who
    near = await cast.call("nobody", "GET", "/v1/incidents/reports/nearby", params=nearby)
    assert rid not in near.text
    mine = (await cast.call("resident_a", "GET", detail)).json()
    assert mine["mine"]
    assert mine["description"] == "Trou profond devant l'arrêt de bus"  # their own words
    assert await _status(cast, "agent", f"/v1/agent/reports/{rid}") == 200
    assert await _status(cast, "supervisor", detail) == 200
    staff = (await cast.call("agent", "GET", f"/v1/agent/reports/{rid}")).json()
    assert staff["description"] == "Trou profond devant l'arrêt de bus"
    moderated = [e for e in staff["history"] if e["action"] == "moderated"]
    assert [e["internal_note"] for e in moderated] == ["Insulte"]
    timeline = (await cast.call("resident_a", "GET", detail)).json()["timeline"]
    assert "Insulte" not in json.dumps(timeline)

    shown = await _moderate(cast, "supervisor", rid, action="unhide_report", reason="Erreur")

    assert shown.status_code == 201
    assert await _status(cast, "nobody", detail) == 200
    again = await _moderate(cast, "supervisor", rid, action="unhide_report", reason="Erreur")
    assert again.status_code == 409


async def test_a_redacted_description_is_what_everyone_reads(cast: Cast) -> None:
    rid = (await _filed(cast, description="Le voisin M. Dupont bloque le trottoir"))["id"]

    redacted = await _moderate(
        cast,
        "supervisor",
        rid,
        action="redact_description",
        reason="Nom d'un tiers",
        redacted_text="Un véhicule bloque le trottoir",
    )

    assert redacted.status_code == 201
    for who, path in (
        ("nobody", f"/v1/incidents/reports/{rid}"),
        ("resident_a", f"/v1/incidents/reports/{rid}"),
        ("agent", f"/v1/agent/reports/{rid}"),
    ):
        body = (await cast.call(who, "GET", path)).text
        assert "Un véhicule bloque le trottoir" in body
        assert "Dupont" not in body

    await _moderate(cast, "supervisor", rid, action="redact_description", reason="Tout retirer")

    french = (await cast.call("nobody", "GET", f"/v1/incidents/reports/{rid}")).json()
    english = await cast.call(
        "nobody", "GET", f"/v1/incidents/reports/{rid}", headers={"Accept-Language": "en"}
    )
    assert french["description"] == REDACTED["fr"]
    assert english.json()["description"] == REDACTED["en"]


async def test_a_hidden_photo_is_404_for_the_public_and_its_reporter_but_served_to_staff(
    cast: Cast,
) -> None:
    filed = await _filed(cast, with_photo=True)
    rid, [shot] = filed["id"], filed["photos"]
    assert await _status(cast, "nobody", shot["url"]) == 200

    hidden = await _moderate(
        cast, "supervisor", rid, action="hide_photo", photo_id=shot["id"], reason="Visage"
    )

    assert hidden.status_code == 201, hidden.text
    for who in ("nobody", "resident_b", "resident_a"):
        assert await _status(cast, who, shot["url"]) == 404, who
        assert await _status(cast, who, shot["thumbnail_url"]) == 404, who
    for who in ("nobody", "resident_a"):
        seen = (await cast.call(who, "GET", f"/v1/incidents/reports/{rid}")).json()
        assert seen["photos"] == [], who
    for who in ("agent", "supervisor"):
        served = await cast.call(who, "GET", shot["url"])
        assert served.status_code == 200, who
        assert served.headers["cache-control"].startswith("private")
    staff = (await cast.call("agent", "GET", f"/v1/agent/reports/{rid}")).json()
    assert [p["id"] for p in staff["photos"]] == [shot["id"]]
    log = (await cast.call("supervisor", "GET", f"/v1/agent/reports/{rid}/moderation")).json()
    assert log["hidden_photos"] == [shot["id"]]
    assert [(e["action"], e["photo_id"], e["reason"]) for e in log["items"]] == [
        ("hide_photo", shot["id"], "Visage")
    ]

    await _moderate(
        cast, "supervisor", rid, action="unhide_photo", photo_id=shot["id"], reason="Flouté"
    )

    assert await _status(cast, "nobody", shot["url"]) == 200


async def test_moderation_checks_the_version_and_the_body(cast: Cast) -> None:
    rid = (await _filed(cast))["id"]
    read = await cast.call("supervisor", "GET", f"/v1/agent/reports/{rid}/moderation")
    hide = {"action": "hide_report", "reason": "Insulte"}
    await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")  # a new version

    stale = await cast.call(
        "supervisor",
        "POST",
        f"/v1/agent/reports/{rid}/moderation",
        json=hide,
        headers={"If-Match": read.headers["etag"]},
    )
    no_reason = await _moderate(cast, "supervisor", rid, action="hide_report")
    no_photo = await _moderate(cast, "supervisor", rid, action="hide_photo", reason="Visage")
    unknown = await _moderate(cast, "supervisor", "00000000-0000-4000-8000-000000000000", **hide)

    assert stale.status_code == 412
    assert (no_reason.status_code, no_photo.status_code) == (422, 422)
    assert unknown.status_code == 404
    log = (await cast.call("supervisor", "GET", f"/v1/agent/reports/{rid}/moderation")).json()
    assert log == {"hidden": False, "description_redacted": False, "hidden_photos": [], "items": []}


async def test_followers_lose_a_hidden_report_its_reporter_keeps_it(
    cast: Cast, session: AsyncSession
) -> None:
    filed = await _filed(cast, with_photo=True)
    rid, code, [shot] = filed["id"], filed["tracking_code"], filed["photos"]
    detail, track = f"/v1/incidents/reports/{rid}", f"/v1/incidents/track/{code}"
    assert (await cast.call("resident_b", "PUT", f"{detail}/follow")).status_code == 204
    assert (await cast.call("device", "POST", f"{detail}/support")).status_code == 204

    await _moderate(cast, "supervisor", rid, action="hide_report", reason="Propos injurieux")
    await cast.call("agent", "POST", f"/v1/agent/reports/{rid}/claim")
    started = await cast.call(  # a public change: pushed to followers
        "agent",
        "POST",
        f"/v1/agent/reports/{rid}/transitions",
        json={"status": "in_progress", "public_note": "Équipe en route"},
    )
    assert started.status_code == 200, started.text

    for who in ("resident_b", "device"):
        assert await _status(cast, who, detail) == 404, who
        assert await _status(cast, who, track) == 404, who
        assert await _status(cast, who, shot["url"]) == 404, who
        followed = await cast.call(who, "GET", "/v1/incidents/reports/mine?followed=true")
        assert followed.json()["items"] == [], who
        assert (await cast.call(who, "POST", f"{detail}/support")).status_code == 404, who
    pushed = await session.scalars(
        select(PushNotification.target).where(PushNotification.params["report_id"].astext == rid)
    )
    assert set(pushed) == {cast.keys["resident_a"]}  # the reporter only
    # A follower can still stop following what they no longer see.
    assert (await cast.call("resident_b", "DELETE", f"{detail}/follow")).status_code == 204
    mine = (await cast.call("resident_a", "GET", detail)).json()
    assert mine["description"] == "Trou profond devant l'arrêt de bus"  # their own text
    assert [p["id"] for p in mine["photos"]] == [shot["id"]]
    assert await _status(cast, "resident_a", shot["url"]) == 200

    await _moderate(cast, "supervisor", rid, action="unhide_report", reason="Erreur")

    assert await _status(cast, "device", detail) == 200
    followed = await cast.call("device", "GET", "/v1/incidents/reports/mine?followed=true")
    assert [item["id"] for item in followed.json()["items"]] == [rid]


def _max_age(cache_control: str) -> int:
    [value] = [part.split("=")[1] for part in cache_control.split(", ") if "max-age" in part]
    return int(value)


async def test_shared_caches_must_ask_again_so_a_hidden_photo_leaves_them(cast: Cast) -> None:
    filed = await _filed(cast, with_photo=True)
    rid, [shot] = filed["id"], filed["photos"]
    public = await cast.call("nobody", "GET", shot["url"])
    cache = public.headers["cache-control"]
    assert cache.startswith("public")
    assert "must-revalidate" in cache
    assert _max_age(cache) <= 60  # a hidden photo stays in a shared cache a minute at most

    hidden = await _moderate(
        cast, "supervisor", rid, action="hide_photo", photo_id=shot["id"], reason="Plaque"
    )
    assert hidden.status_code == 201, hidden.text

    again = await cast.call(
        "nobody", "GET", shot["url"], headers={"If-None-Match": public.headers["etag"]}
    )
    assert again.status_code == 404  # the cache's revalidation drops it
    staff = await cast.call("agent", "GET", shot["url"])
    assert staff.status_code == 200
    assert staff.headers["cache-control"].startswith("private")


async def test_a_photo_of_a_private_category_is_never_in_a_shared_cache(cast: Cast) -> None:
    response = await cast.call(
        "resident_a",
        "POST",
        "/v1/incidents/reports",
        data={
            "report": json.dumps(
                {
                    "category": "graffiti-injurieux",
                    "location": ROUEN_HOTEL_DE_VILLE,
                    "description": "Tag injurieux sur la porte",
                    "attributes": {},
                }
            )
        },
        files=[("photos", ("IMG_0002.jpg", photo("JPEG"), "image/jpeg"))],
    )
    assert response.status_code == 201, response.text
    [shot] = response.json()["photos"]

    own = await cast.call("resident_a", "GET", shot["url"])

    assert own.status_code == 200
    assert own.headers["cache-control"].startswith("private")
    assert await _status(cast, "nobody", shot["url"]) == 404
