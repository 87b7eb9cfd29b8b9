"""Who may touch which resident-owned resource: resident A, resident B, an anonymous device,
an agent, a supervisor, and nobody. Later domains add their resources to this matrix."""

from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from tests.identity.conftest import Live, bearer

STAFF = "@metropole-rouen-normandie.fr"


@dataclass
class Cast:
    live: Live
    headers: dict[str, dict[str, str]]
    device_a: dict[str, Any]

    async def status(self, who: str, method: str, path: str, **kwargs: Any) -> int:
        response = await self.live.http.request(method, path, headers=self.headers[who], **kwargs)
        return response.status_code

    async def statuses(self, method: str, path: str, **kwargs: Any) -> dict[str, int]:
        return {who: await self.status(who, method, path, **kwargs) for who in self.headers}


@pytest_asyncio.fixture
async def cast(live: Live) -> Cast:
    await live.provision(f"demo.agent{STAFF}", "agent", ["voirie"])
    await live.provision(f"demo.superviseur{STAFF}", "supervisor", ["voirie"])
    device_a = (await live.http.post("/v1/devices", json={"platform": "android"})).json()
    anonymous = (await live.http.post("/v1/devices", json={"platform": "ios"})).json()
    a = await live.sign_in("franceconnect", "resident", device_token=device_a["device_token"])
    b = await live.sign_in("franceconnect", "resident2")
    consent = {"granted": True, "version": "2026-11"}
    assert (
        await live.http.put("/v1/me/consents/geolocation", json=consent, headers=bearer(a))
    ).status_code == 200
    headers = {
        "resident_a": bearer(a),
        "resident_b": bearer(b),
        "device": bearer(anonymous["device_token"]),
        "agent": bearer(await live.sign_in("staff", "agent")),
        "supervisor": bearer(await live.sign_in("staff", "supervisor")),
        "nobody": {},
    }
    return Cast(live, headers, device_a)


async def test_me(cast: Cast) -> None:
    assert await cast.statuses("GET", "/v1/me") == {
        "resident_a": 200,
        "resident_b": 200,
        "device": 403,
        "agent": 200,
        "supervisor": 200,
        "nobody": 401,
    }
    b = (await cast.live.http.get("/v1/me", headers=cast.headers["resident_b"])).json()
    assert b["resident"]["family_name"] == "Durand"


async def test_export_is_resident_only_and_holds_only_their_data(cast: Cast) -> None:
    assert await cast.statuses("GET", "/v1/me/export") == {
        "resident_a": 200,
        "resident_b": 200,
        "device": 403,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }
    b = (await cast.live.http.get("/v1/me/export", headers=cast.headers["resident_b"])).text
    assert "Martin" not in b
    assert cast.device_a["id"] not in b


async def test_consents(cast: Cast) -> None:
    put = {"json": {"granted": False, "version": "2026-11"}}
    assert await cast.statuses("GET", "/v1/me/consents") == {
        "resident_a": 200,
        "resident_b": 200,
        "device": 403,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }
    seen_by_b = await cast.live.http.get("/v1/me/consents", headers=cast.headers["resident_b"])
    assert seen_by_b.json() == []
    assert await cast.statuses("PUT", "/v1/me/consents/notifications", **put) == {
        "resident_a": 200,
        "resident_b": 200,
        "device": 403,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }


async def test_devices(cast: Cast) -> None:
    device_id = cast.device_a["id"]
    listed_by_b = await cast.live.http.get("/v1/me/devices", headers=cast.headers["resident_b"])
    assert listed_by_b.json() == []
    listed_by_a = await cast.live.http.get("/v1/me/devices", headers=cast.headers["resident_a"])
    assert [d["id"] for d in listed_by_a.json()] == [device_id]

    link = {"json": {"device_token": cast.device_a["device_token"]}}
    linked = await cast.statuses("POST", "/v1/me/devices/link", **link)
    assert linked == {
        "resident_a": 200,
        "resident_b": 409,
        "device": 403,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }

    path = f"/v1/me/devices/{device_id}"
    everyone_but_a = {
        who: await cast.status(who, "DELETE", path) for who in cast.headers if who != "resident_a"
    }
    assert everyone_but_a == {
        "resident_b": 404,
        "device": 403,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }
    mine = await cast.live.http.delete(path, headers=cast.headers["resident_a"])
    assert mine.status_code == 204, mine.text


async def test_a_device_credential_sees_only_its_own_device(cast: Cast) -> None:
    assert await cast.statuses("GET", "/v1/devices/current") == {
        "resident_a": 403,
        "resident_b": 403,
        "device": 200,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }


async def test_erasure_is_resident_only(cast: Cast) -> None:
    others = {
        who: await cast.status(who, "DELETE", "/v1/me")
        for who in cast.headers
        if not who.startswith("resident")
    }

    assert others == {"device": 403, "agent": 403, "supervisor": 403, "nobody": 401}


async def test_staff_administration_is_admin_only(cast: Cast) -> None:
    statuses = await cast.statuses("GET", "/v1/admin/staff")

    assert statuses == {
        "resident_a": 403,
        "resident_b": 403,
        "device": 403,
        "agent": 403,
        "supervisor": 403,
        "nobody": 401,
    }
