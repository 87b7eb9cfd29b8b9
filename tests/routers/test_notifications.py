"""Push routes: registrations, devices, preferences, inbox and campaigns."""

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.notifications import service
from poche_api.notifications.service import Target
from tests.fcm_server import FcmControl
from tests.notifications.conftest import token_for

ALICE = {"X-Test-Principal": "alice"}
BOB = {"X-Test-Principal": "bob"}
INSTALL = "/v1/push/installations/0b9f3c1e-inst-alice"


def registration(token: str = token_for("alice"), **extra: str) -> dict[str, str]:
    return {"token": token, "platform": "android", "app_version": "3.1.0", **extra}


async def test_an_install_registers_then_refreshes_its_token(
    push_client: httpx.AsyncClient,
) -> None:
    created = await push_client.put(INSTALL, json=registration(), headers=ALICE)
    refreshed = await push_client.put(
        INSTALL, json=registration(token_for("alice-2"), locale="en-GB"), headers=ALICE
    )

    assert created.status_code == 201
    assert refreshed.status_code == 200
    assert refreshed.json()["id"] == created.json()["id"]
    assert refreshed.json()["locale"] == "en-GB"
    assert "token" not in refreshed.json()
    devices = (await push_client.get("/v1/me/push-registrations", headers=ALICE)).json()
    assert [d["installation_id"] for d in devices] == ["0b9f3c1e-inst-alice"]


async def test_without_a_principal_the_answer_is_a_401_problem(
    push_client: httpx.AsyncClient,
) -> None:
    answer = await push_client.put(INSTALL, json=registration())

    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/principal-required")


async def test_another_principal_cannot_take_an_install_without_its_token(
    push_client: httpx.AsyncClient,
) -> None:
    await push_client.put(INSTALL, json=registration(), headers=ALICE)

    stolen = await push_client.put(INSTALL, json=registration(token_for("bob")), headers=BOB)
    signed_in = await push_client.put(INSTALL, json=registration(), headers=BOB)

    assert stolen.status_code == 403
    assert signed_in.status_code == 200
    assert (await push_client.get("/v1/me/push-registrations", headers=ALICE)).json() == []


async def test_input_that_fcm_or_we_cannot_use_is_refused(push_client: httpx.AsyncClient) -> None:
    short = await push_client.put(INSTALL, json=registration("abc"), headers=ALICE)
    zone = await push_client.put(INSTALL, json=registration(time_zone="Mars/Base"), headers=ALICE)
    owned = await push_client.put(INSTALL, json={**registration(), "enabled": False}, headers=ALICE)

    assert [short.status_code, zone.status_code, owned.status_code] == [422, 422, 422]


async def test_unregister_and_revoke_disable_the_device(push_client: httpx.AsyncClient) -> None:
    first = (await push_client.put(INSTALL, json=registration(), headers=ALICE)).json()
    other = "/v1/push/installations/0b9f3c1e-inst-alice-2"
    second = (
        await push_client.put(other, json=registration(token_for("tablet")), headers=ALICE)
    ).json()

    assert (await push_client.delete(INSTALL, headers=ALICE)).status_code == 204
    revoked = await push_client.delete(f"/v1/me/push-registrations/{second['id']}", headers=ALICE)
    not_mine = await push_client.delete(f"/v1/me/push-registrations/{first['id']}", headers=BOB)

    assert revoked.status_code == 204
    assert not_mine.status_code == 404
    devices = (await push_client.get("/v1/me/push-registrations", headers=ALICE)).json()
    assert {d["id"]: d["disabled_reason"] for d in devices} == {
        first["id"]: "unregistered_by_app",
        second["id"]: "revoked",
    }


async def test_preferences_have_defaults_and_are_replaced(push_client: httpx.AsyncClient) -> None:
    await push_client.put(INSTALL, json=registration(locale="en-US"), headers=ALICE)
    prefs = f"{INSTALL}/preferences"

    defaults = (await push_client.get(prefs, headers=ALICE)).json()
    changed = await push_client.put(
        prefs,
        json={**defaults, "transport_lines": ["T1", "T1", "F2"], "daily_cap": 3},
        headers=ALICE,
    )
    others = await push_client.get(prefs, headers=BOB)

    assert defaults["language"] == "en"
    assert (defaults["quiet_start"], defaults["quiet_end"]) == ("22:00:00", "07:00:00")
    assert defaults["daily_cap"] == 5
    assert defaults["crisis"] is True
    assert changed.json()["transport_lines"] == ["F2", "T1"]
    assert (await push_client.get(prefs, headers=ALICE)).json()["daily_cap"] == 3
    assert others.status_code == 404


async def test_the_inbox_lists_my_notifications_and_marks_them_read(
    push_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await push_client.put(INSTALL, json=registration(), headers=ALICE)
    for reference in ("R-1", "R-2", "R-3"):
        await service.notify(
            session,
            kind="incident_update",
            template="report_status",
            params={"reference": reference, "status": "résolu"},
            target=Target(principal="alice"),
        )
    await service.notify(
        session,
        kind="incident_update",
        template="report_status",
        params={"reference": "R-9", "status": "x"},
        target=Target(principal="bob"),
    )

    first = (await push_client.get("/v1/me/notifications?limit=2", headers=ALICE)).json()
    rest = (
        await push_client.get(
            f"/v1/me/notifications?limit=2&cursor={first['next_cursor']}",
            headers={**ALICE, "Accept-Language": "en"},
        )
    ).json()
    entry = first["items"][0]["id"]
    marked = await push_client.post(f"/v1/me/notifications/{entry}/read", headers=ALICE)
    stolen = await push_client.post(f"/v1/me/notifications/{entry}/read", headers=BOB)
    unread = (await push_client.get("/v1/me/notifications?unread=true", headers=ALICE)).json()

    assert len(first["items"]) == 2
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert rest["items"][0]["title"].startswith("Your report")
    assert first["items"][0]["title"].startswith("Votre signalement")
    assert (marked.status_code, stolen.status_code) == (204, 404)
    assert len(unread["items"]) == 2
    assert entry not in {item["id"] for item in unread["items"]}


def campaign(**extra: object) -> dict[str, object]:
    return {
        "target_type": "commune",
        "target_value": "76540",
        "title_fr": "Travaux",
        "body_fr": "Rue Jeanne d'Arc fermée",
        "title_en": "Roadworks",
        "body_en": "Rue Jeanne d'Arc closed",
        "deep_link": "poche://news/42",
        **extra,
    }


async def test_a_campaign_is_dry_run_by_fcm_before_it_can_be_sent(
    push_client: httpx.AsyncClient, admin_headers: dict[str, str], fcm: FcmControl
) -> None:
    valid = await push_client.post(
        "/v1/admin/push/campaigns", json=campaign(), headers=admin_headers
    )
    too_big = await push_client.post(
        "/v1/admin/push/campaigns", json=campaign(body_fr="é" * 1000), headers=admin_headers
    )
    refused = await push_client.post(
        f"/v1/admin/push/campaigns/{too_big.json()['id']}/send", headers=admin_headers
    )
    sent = await push_client.post(
        f"/v1/admin/push/campaigns/{valid.json()['id']}/send", headers=admin_headers
    )

    assert valid.status_code == 201
    assert valid.json()["status"] == "validated"
    assert valid.json()["topic"] == "commune-76540"
    assert too_big.json()["status"] == "invalid"
    assert "too big" in too_big.json()["validation_error"]
    assert refused.status_code == 409
    assert sent.json()["status"] == "queued"
    stats = await fcm.stats()
    assert stats["validated"] >= 2
    assert stats["delivered_total"] == 0  # a dry run sends nothing


async def test_a_retried_campaign_creation_is_replayed_not_dry_run_again(
    committed_push_client: httpx.AsyncClient, admin_headers: dict[str, str], fcm: FcmControl
) -> None:
    headers = {**admin_headers, "Idempotency-Key": str(uuid.uuid4())}
    client = committed_push_client

    first = await client.post("/v1/admin/push/campaigns", json=campaign(), headers=headers)
    again = await client.post("/v1/admin/push/campaigns", json=campaign(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert (await fcm.stats())["validated"] == 2  # one dry run (fr + en), not two


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-but-long-enough"}])
async def test_campaigns_are_for_supervisors_only(
    push_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    answer = await push_client.post("/v1/admin/push/campaigns", json=campaign(), headers=headers)

    assert answer.status_code in (401, 403)


async def test_a_device_credential_owns_its_push_registration(client: httpx.AsyncClient) -> None:
    """Through identity's real device credentials, not the test principal header."""
    first = (await client.post("/v1/devices", json={"platform": "android"})).json()
    second = (await client.post("/v1/devices", json={"platform": "ios"})).json()
    mine = {"Authorization": f"Bearer {first['device_token']}"}
    theirs = {"Authorization": f"Bearer {second['device_token']}"}
    install = f"/v1/push/installations/{first['id']}"

    anonymous = await client.put(install, json=registration())
    created = await client.put(install, json=registration(), headers=mine)
    hijack = await client.put(install, json=registration(token_for("mallory")), headers=theirs)

    assert anonymous.status_code == 401
    assert created.status_code == 201
    assert hijack.status_code in (403, 404)
    assert [
        r["installation_id"]
        for r in (await client.get("/v1/me/push-registrations", headers=mine)).json()
    ] == [first["id"]]
    assert (await client.get("/v1/me/push-registrations", headers=theirs)).json() == []
