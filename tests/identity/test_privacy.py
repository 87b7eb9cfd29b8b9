"""Export and erasure end to end: after DELETE /v1/me nothing personal remains, anywhere."""

import hashlib

from sqlalchemy import text

from tests.identity.conftest import Live, bearer

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


async def test_after_erasure_no_personal_field_remains(live: Live) -> None:
    device = (await live.http.post("/v1/devices", json={"platform": "android"})).json()
    tokens = await live.sign_in(device_token=device["device_token"])
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
    ]
    assert await _rows_containing(live, needles)  # the scan does find them before

    erased = await live.http.delete("/v1/me", headers=bearer(tokens))

    assert erased.status_code == 204
    assert await _rows_containing(live, needles) == []
    assert await live.count("devices") == 0
    assert await live.count("auth_sessions") == 0
    assert await live.count("consents") == 0
    assert await live.count("residents", f"id = '{account_id}' AND erased_at IS NOT NULL") == 1
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
