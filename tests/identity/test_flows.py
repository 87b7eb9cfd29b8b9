"""Sign-in over real HTTP against the OIDC simulators, and every rejection the issue lists."""

import base64
import json

import pytest
from joserfc.jwk import ECKey, KeySet

from tests.identity.conftest import APP_REDIRECT, Live, bearer, query

PROBLEM = "application/problem+json"


async def assert_nothing_left(live: Live) -> None:
    for table in ("residents", "auth_sessions", "refresh_tokens", "devices"):
        assert await live.count(table) == 0, table
    assert [key async for key in live.redis.scan_iter(match="auth:code:*")] == []


def problem_slug(response_json: dict[str, str]) -> str:
    return response_json["type"].rsplit("/", 1)[-1]


class TestResidentFlow:
    async def test_a_resident_signs_in_refreshes_and_logs_out(self, live: Live) -> None:
        login = await live.start("franceconnect", "resident")
        authorize = query(login.authorize_url)
        assert authorize["acr_values"] == "eidas1"
        assert len(authorize["state"]) >= 32
        assert len(authorize["nonce"]) >= 32
        assert "openid" in authorize["scope"].split()
        assert "code_challenge" not in authorize  # PKCE is between the app and us

        back = await live.callback(await live.authorize(login))
        assert back.status_code == 302
        code = query(back.headers["location"])["code"]
        tokens = (await live.redeem(code, login.verifier)).json()

        me = await live.http.get("/v1/me", headers=bearer(tokens))
        assert me.status_code == 200
        assert me.json()["kind"] == "resident"
        assert me.json()["resident"]["family_name"] == "Martin"
        assert me.json()["resident"]["birthdate"] == "1988-04-12"

        rotated = await live.http.post(
            "/v1/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert rotated.status_code == 200
        assert rotated.json()["refresh_token"] != tokens["refresh_token"]

        out = await live.http.post("/v1/auth/logout", headers=bearer(rotated.json()))
        assert out.status_code == 200
        end_session = out.json()["end_session_url"]
        assert query(end_session)["id_token_hint"]
        assert query(end_session)["post_logout_redirect_uri"] == APP_REDIRECT
        provider = await live.http.get(end_session)
        assert provider.status_code == 302
        assert provider.headers["location"].startswith(APP_REDIRECT + "?state=")

        after = await live.http.get("/v1/me", headers=bearer(rotated.json()))
        assert after.status_code == 401
        again = await live.http.post(
            "/v1/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
        )
        assert again.status_code == 401
        assert await live.count("auth_sessions", "id_token_hint IS NOT NULL") == 0

    async def test_signing_in_twice_keeps_one_account(self, live: Live) -> None:
        first = await live.sign_in()
        second = await live.sign_in()

        ids = {
            (await live.http.get("/v1/me", headers=bearer(t))).json()["id"] for t in (first, second)
        }
        assert len(ids) == 1
        assert await live.count("residents") == 1

    async def test_a_provider_error_is_handed_to_the_app(self, live: Live) -> None:
        login = await live.start()
        back = await live.callback(await live.authorize(login, sim_error="access_denied"))

        assert back.status_code == 302
        assert back.headers["location"].startswith(APP_REDIRECT)
        assert query(back.headers["location"])["error"] == "access_denied"
        await assert_nothing_left(live)


class TestStaffFlow:
    async def test_a_provisioned_agent_signs_in_with_role_and_teams(self, live: Live) -> None:
        await live.provision("demo.agent@metropole-rouen-normandie.fr", "agent", ["voirie"])

        tokens = await live.sign_in("staff", "agent")
        me = (await live.http.get("/v1/me", headers=bearer(tokens))).json()

        assert tokens["subject_kind"] == "staff"
        assert me["staff"]["role"] == "agent"
        assert me["staff"]["teams"] == ["voirie"]

    async def test_an_unprovisioned_staff_member_is_refused(self, live: Live) -> None:
        login = await live.start("staff", "unknown")
        back = await live.callback(await live.authorize(login))

        assert back.status_code == 403
        assert back.headers["content-type"] == PROBLEM
        assert problem_slug(back.json()) == "staff-not-provisioned"
        assert "demo.inconnu@" in back.json()["detail"]
        await assert_nothing_left(live)

    async def test_a_staff_admin_reaches_the_admin_api(self, live: Live) -> None:
        await live.provision("demo.admin@metropole-rouen-normandie.fr", "admin", [])
        await live.provision("demo.agent@metropole-rouen-normandie.fr", "agent", [])
        admin = await live.sign_in("staff", "admin")
        agent = await live.sign_in("staff", "agent")

        assert (await live.http.get("/v1/admin/staff", headers=bearer(admin))).status_code == 200
        refused = await live.http.get("/v1/admin/staff", headers=bearer(agent))
        assert refused.status_code == 403

    async def test_deactivating_a_member_ends_their_access(self, live: Live) -> None:
        await live.provision("demo.admin@metropole-rouen-normandie.fr", "admin", [])
        await live.provision("demo.agent@metropole-rouen-normandie.fr", "agent", [])
        admin = await live.sign_in("staff", "admin")
        agent = await live.sign_in("staff", "agent")
        me = (await live.http.get("/v1/me", headers=bearer(agent))).json()

        patched = await live.http.patch(
            f"/v1/admin/staff/{me['id']}", json={"active": False}, headers=bearer(admin)
        )

        assert patched.status_code == 200
        assert (await live.http.get("/v1/me", headers=bearer(agent))).status_code == 401
        refresh = await live.http.post(
            "/v1/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": agent["refresh_token"]},
        )
        assert refresh.status_code == 401


@pytest.mark.parametrize(
    ("misbehave", "reason"),
    [
        ("alg_none", "algorithm-not-allowed"),
        ("hs256_public_key", "algorithm-not-allowed"),
        ("wrong_iss", "claim-iss"),
        ("wrong_aud", "claim-aud"),
        ("expired", "claim-exp"),
        ("wrong_nonce", "claim-nonce"),
        ("acr_low", "claim-acr"),
        ("future_iat", "claim-iat"),
        ("unknown_kid", "unknown-kid"),
        ("tamper_userinfo", "bad-signature"),
    ],
)
async def test_bad_provider_tokens_are_refused_and_leave_nothing(
    live: Live, misbehave: str, reason: str
) -> None:
    login = await live.start()
    back = await live.callback(await live.authorize(login, sim_misbehave=misbehave))

    assert back.status_code == 400, back.text
    assert back.headers["content-type"] == PROBLEM
    assert problem_slug(back.json()) == "identity-token-rejected"
    assert back.json()["reason"] == reason
    await assert_nothing_left(live)


async def test_an_unknown_kid_is_refused_only_after_one_jwks_refetch(live: Live) -> None:
    jwks_uri = f"{live.settings.public_url}/_sim/franceconnect/api/v2/jwks"
    retired = ECKey.generate_key("P-256", parameters={"kid": "retired", "alg": "ES256"})
    stale = KeySet([retired]).as_dict(private=False)
    await live.redis.set(f"oidc:jwks:{jwks_uri}", json.dumps(stale))

    # The provider rotated its key since we cached its JWKS: one refetch finds the new one.
    tokens = await live.sign_in()

    assert tokens["subject_kind"] == "resident"
    cached = json.loads(await live.redis.get(f"oidc:jwks:{jwks_uri}") or b"{}")
    assert [key["kid"] for key in cached["keys"]] != ["retired"]


class TestStateAndCodes:
    async def test_a_forged_state_is_refused(self, live: Live) -> None:
        login = await live.start()
        callback = await live.authorize(login)
        params = query(callback)
        forged = callback.replace(params["state"], "x" * 43)

        response = await live.callback(forged)

        assert response.status_code == 400
        assert problem_slug(response.json()) == "login-state-invalid"
        await assert_nothing_left(live)

    async def test_a_replayed_callback_is_refused(self, live: Live) -> None:
        login = await live.start()
        callback = await live.authorize(login)
        assert (await live.callback(callback)).status_code == 302

        replay = await live.callback(callback)

        assert replay.status_code == 400
        assert problem_slug(replay.json()) == "login-state-invalid"

    async def test_a_wrong_pkce_verifier_is_refused_and_burns_the_code(self, live: Live) -> None:
        code, verifier = await live.one_time_code()

        wrong = await live.redeem(code, "w" * 64)
        right_too_late = await live.redeem(code, verifier)

        assert wrong.status_code == 400
        assert problem_slug(wrong.json()) == "pkce-mismatch"
        assert right_too_late.status_code == 400
        await assert_nothing_left(live)

    async def test_a_one_time_code_works_once(self, live: Live) -> None:
        code, verifier = await live.one_time_code()

        first = await live.redeem(code, verifier)
        second = await live.redeem(code, verifier)

        assert first.status_code == 200
        assert second.status_code == 400
        assert second.headers["content-type"] == PROBLEM
        assert problem_slug(second.json()) == "one-time-code-invalid"
        assert await live.count("auth_sessions") == 1

    async def test_a_reused_refresh_token_revokes_the_whole_family(self, live: Live) -> None:
        tokens = await live.sign_in()
        grant = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        rotated = (await live.http.post("/v1/auth/token", json=grant)).json()

        reuse = await live.http.post("/v1/auth/token", json=grant)

        assert reuse.status_code == 401
        assert problem_slug(reuse.json()) == "refresh-token-reused"
        latest = await live.http.post(
            "/v1/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        )
        assert latest.status_code == 401
        assert (await live.http.get("/v1/me", headers=bearer(rotated))).status_code == 401
        assert await live.count("auth_sessions", "revoked_reason = 'refresh-reuse'") == 1

    @pytest.mark.parametrize(
        "params",
        [
            {"redirect_uri": "https://evil.example/cb", "code_challenge": "a" * 43},
            {
                "redirect_uri": APP_REDIRECT,
                "code_challenge": "a" * 43,
                "code_challenge_method": "plain",
            },
            {"redirect_uri": APP_REDIRECT, "code_challenge": "short"},
        ],
    )
    async def test_start_refuses_foreign_redirects_and_weak_pkce(
        self, live: Live, params: dict[str, str]
    ) -> None:
        response = await live.http.get("/v1/auth/franceconnect/start", params=params)

        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM


async def test_access_tokens_refuse_tampering_and_alg_none(live: Live) -> None:
    tokens = await live.sign_in()
    header, payload, signature = tokens["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "00000000-0000-0000-0000-000000000000"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()

    for forged in (f"{header}.{forged_payload}.{signature}", f"{none_header}.{payload}."):
        response = await live.http.get("/v1/me", headers=bearer(forged))
        assert response.status_code == 401
        assert problem_slug(response.json()) == "invalid-token"


async def test_sign_in_is_rate_limited(live: Live) -> None:
    params = {"redirect_uri": APP_REDIRECT, "code_challenge": "a" * 43}
    statuses = [
        (await live.http.get("/v1/auth/franceconnect/start", params=params)).status_code
        for _ in range(21)
    ]

    assert statuses[:20] == [302] * 20
    assert statuses[20] == 429


async def test_the_token_endpoint_validates_grants(live: Live) -> None:
    for body in (
        {"grant_type": "password", "username": "x", "password": "y"},
        {"grant_type": "authorization_code", "code": "c" * 43},
        {"grant_type": "refresh_token", "refresh_token": "r" * 43, "scope": "admin"},
    ):
        response = await live.http.post("/v1/auth/token", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
    unknown = await live.http.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": "prt_" + "r" * 43}
    )
    assert unknown.status_code == 401
    assert problem_slug(unknown.json()) == "refresh-token-invalid"


async def test_a_device_has_no_session_to_log_out(live: Live) -> None:
    device = (await live.http.post("/v1/devices", json={"platform": "web"})).json()

    response = await live.http.post("/v1/auth/logout", headers=bearer(device["device_token"]))

    assert response.status_code == 403
    assert (
        await live.http.get("/v1/me", headers=bearer(device["device_token"]))
    ).status_code == 403
