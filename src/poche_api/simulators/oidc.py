"""OpenID Connect provider simulators: FranceConnect v2-shaped and staff (ProConnect)-shaped.

Both serve the ``/api/v2`` shape: discovery, JWKS (keys generated at start: ES256 for
FranceConnect, RS256 for staff), authorize with auto-consent, token (client secret, single-use
code), userinfo as a signed JWT (``application/jwt``) and a browser end-session redirect.

The identity is picked with ``login_hint`` among the demo identities (refused when
``POCHE_DEMO_IDENTITIES_ENABLED`` is off). Tests make the provider misbehave with
``sim_misbehave=<switch>[,<switch>]`` on authorize (bad tokens bound to that code) and
``sim_error=<code>`` (the provider answers the callback with an error). None of this exists in
production: simulators are never mounted there.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from poche_api.config import Settings
from poche_api.identity.providers import (
    DEMO_CLIENT_IDS,
    DEMO_CLIENT_SECRETS,
    ProviderName,
    provider_config,
)
from poche_api.simulators import Simulator, register, simulator_url

CODE_TTL_SECONDS = 60
TOKEN_TTL_SECONDS = 60
MISBEHAVIOURS = frozenset(
    {
        "alg_none",
        "hs256_public_key",
        "wrong_iss",
        "wrong_aud",
        "expired",
        "wrong_nonce",
        "acr_low",
        "future_iat",
        "unknown_kid",
        "tamper_userinfo",
    }
)

FRANCECONNECT_IDENTITIES: dict[str, dict[str, str]] = {
    "resident": {
        "given_name": "Camille",
        "family_name": "Martin",
        "birthdate": "1988-04-12",
        "gender": "female",
        "birthplace": "76540",
        "birthcountry": "99100",
        "email": "camille.martin@example.fr",
        "preferred_username": "",
    },
    "resident2": {
        "given_name": "Lucas",
        "family_name": "Durand",
        "birthdate": "1975-11-03",
        "gender": "male",
        "birthplace": "76681",
        "birthcountry": "99100",
        "email": "lucas.durand@example.fr",
        "preferred_username": "",
    },
}
STAFF_DOMAIN = "metropole-rouen-normandie.fr"
STAFF_IDENTITIES: dict[str, dict[str, str]] = {
    key: {"email": f"{local}@{STAFF_DOMAIN}", "given_name": given, "usual_name": usual}
    for key, local, given, usual in (
        ("agent", "demo.agent", "Alex", "Agent"),
        ("supervisor", "demo.superviseur", "Sacha", "Superviseur"),
        ("admin", "demo.admin", "Dominique", "Admin"),
        ("unknown", "demo.inconnu", "Noa", "Inconnu"),
    )
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class _Grant:
    identity: str
    redirect_uri: str
    nonce: str
    acr: str | None
    misbehave: frozenset[str]
    expires: float


def subject(provider: ProviderName, identity: str) -> str:
    """The stable ``sub`` a simulated provider gives one of its demo identities."""
    return hashlib.sha256(f"{provider}:{identity}".encode()).hexdigest()


@dataclass
class _Provider:
    name: ProviderName
    settings: Settings
    key: ECKey | RSAKey
    rogue_key: ECKey | RSAKey
    alg: str
    identities: dict[str, dict[str, str]]
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, _Grant] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return simulator_url(self.settings, self.name) + "/api/v2"

    @property
    def issuer(self) -> str:
        return self.base

    def subject(self, identity: str) -> str:
        return subject(self.name, identity)

    def sign(self, claims: dict[str, Any], misbehave: frozenset[str]) -> str:
        if "alg_none" in misbehave:
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if "hs256_public_key" in misbehave:
            # The classic key-confusion attack: HMAC keyed with the published public key.
            public = json.dumps(self.key.as_dict(private=False)).encode()
            hs_header = {"alg": "HS256", "typ": "JWT", "kid": self.key.kid}
            signing_input = (
                f"{_b64(json.dumps(hs_header).encode())}.{_b64(json.dumps(claims).encode())}"
            )
            signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64(signature)}"
        key = self.rogue_key if "unknown_kid" in misbehave else self.key
        return jwt.encode({"alg": self.alg, "kid": key.kid, "typ": "JWT"}, claims, key)


def _identity_claims(provider: _Provider, identity: str) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": provider.subject(identity)}
    claims.update({k: v for k, v in provider.identities[identity].items() if v})
    return claims


def _discovery(provider: _Provider) -> dict[str, Any]:
    base = provider.base
    return {
        "issuer": provider.issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "end_session_endpoint": f"{base}/session/end",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
        "scopes_supported": [
            "openid",
            *sorted({k for i in provider.identities.values() for k in i}),
        ],
        "id_token_signing_alg_values_supported": [provider.alg],
        "userinfo_signing_alg_values_supported": [provider.alg],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


_KEYS: dict[str, tuple[ECKey | RSAKey, ECKey | RSAKey]] = {}


def _keys(name: ProviderName) -> tuple[ECKey | RSAKey, ECKey | RSAKey]:
    """The signing key and a rogue key (never published), generated once per process."""
    if name not in _KEYS:
        pair: list[ECKey | RSAKey] = []
        for _ in range(2):
            key: ECKey | RSAKey
            if name == "franceconnect":
                key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"})
            else:
                key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"})
            key.ensure_kid()
            pair.append(key)
        _KEYS[name] = (pair[0], pair[1])
    return _KEYS[name]


def _build(settings: Settings, name: ProviderName) -> Starlette:
    key, rogue = _keys(name)
    alg, identities = (
        ("ES256", FRANCECONNECT_IDENTITIES)
        if name == "franceconnect"
        else ("RS256", STAFF_IDENTITIES)
    )
    provider = _Provider(name, settings, key, rogue, alg, identities)
    config = provider_config(settings, name)
    client_id = config.client_id if config.client_id else DEMO_CLIENT_IDS[name]
    client_secret = config.client_secret or DEMO_CLIENT_SECRETS[name]

    async def discovery(request: Request) -> Response:
        return JSONResponse(_discovery(provider))

    async def jwks(request: Request) -> Response:
        return JSONResponse(KeySet([provider.key]).as_dict(private=False))

    async def authorize(request: Request) -> Response:
        q = request.query_params
        if not settings.demo_identities_on:
            return PlainTextResponse("demo identities are disabled", status_code=403)
        if q.get("client_id") != client_id:
            return PlainTextResponse("unknown client_id", status_code=400)
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri != config.callback_url:
            return PlainTextResponse("redirect_uri not registered", status_code=400)
        state = q.get("state", "")
        params: dict[str, str] = {"state": state}
        problems = []
        if q.get("response_type") != "code":
            problems.append("response_type must be code")
        if "openid" not in q.get("scope", "").split():
            problems.append("scope must include openid")
        if len(state) < 32 or len(q.get("nonce", "")) < 32:
            problems.append("state and nonce must have at least 32 characters")
        if name == "franceconnect" and not q.get("acr_values"):
            problems.append("acr_values is required")
        hint = q.get("login_hint") or next(iter(identities))
        identity = next((k for k, v in identities.items() if hint in (k, v.get("email"))), None)
        if identity is None:
            problems.append(f"unknown demo identity {hint!r}; known: {', '.join(identities)}")
        if q.get("sim_error"):
            params.update(error=q["sim_error"], error_description="simulated provider error")
        elif problems or identity is None:
            params.update(error="invalid_request", error_description="; ".join(problems))
        else:
            code = secrets.token_urlsafe(32)
            provider.codes[code] = _Grant(
                identity=identity,
                redirect_uri=redirect_uri,
                nonce=q["nonce"],
                acr=(q.get("acr_values") or "").split(" ")[0] or None,
                misbehave=frozenset(q.get("sim_misbehave", "").split(",")) & MISBEHAVIOURS,
                expires=time.time() + CODE_TTL_SECONDS,
            )
            params["code"] = code
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    def _client_authenticated(request: Request, form: dict[str, str]) -> bool:
        given_id, given_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic" and value:
            decoded = base64.b64decode(value).decode()
            given_id, _, given_secret = decoded.partition(":")
        return given_id == client_id and hmac.compare_digest(
            given_secret.encode(), client_secret.encode()
        )

    async def token(request: Request) -> Response:
        raw = parse_qs((await request.body()).decode(), keep_blank_values=True)
        form = {k: v[0] for k, v in raw.items()}
        if not _client_authenticated(request, form):
            return _oauth_error("invalid_client", "client authentication failed", 401)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code")
        grant = provider.codes.pop(form.get("code", ""), None)  # single use
        if grant is None or grant.expires < time.time():
            return _oauth_error("invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri mismatch")
        now = int(time.time())
        claims = _identity_claims(provider, grant.identity)
        id_claims: dict[str, Any] = {
            "sub": claims["sub"],
            "iss": provider.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + TOKEN_TTL_SECONDS,
            "nonce": grant.nonce,
            "acr": grant.acr or "eidas1",
            "amr": ["pwd"],
        }
        if name == "staff":
            id_claims["email"] = claims["email"]
        mis = grant.misbehave
        if "wrong_iss" in mis:
            id_claims["iss"] = "https://attacker.example/api/v2"
        if "wrong_aud" in mis:
            id_claims["aud"] = "someone-else"
        if "expired" in mis:
            id_claims.update(iat=now - 600, exp=now - 300)
        if "wrong_nonce" in mis:
            id_claims["nonce"] = secrets.token_urlsafe(32)
        if "future_iat" in mis:
            id_claims["iat"] = now + 600
        if "acr_low" in mis:
            id_claims["acr"] = "eidas0"
        access_token = secrets.token_urlsafe(32)
        provider.tokens[access_token] = grant
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL_SECONDS,
                "id_token": provider.sign(id_claims, mis),
                "scope": "openid",
            },
            headers={"Cache-Control": "no-store"},
        )

    async def userinfo(request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        grant = provider.tokens.get(value) if scheme.lower() == "bearer" else None
        if grant is None or grant.expires + TOKEN_TTL_SECONDS < time.time():
            return _oauth_error("invalid_token", "unknown access token", 401)
        now = int(time.time())
        claims = {
            **_identity_claims(provider, grant.identity),
            "iss": provider.issuer,
            "aud": client_id,
            "iat": now,
        }
        signed = provider.sign(claims, grant.misbehave & {"unknown_kid"})
        if "tamper_userinfo" in grant.misbehave:
            header, _, rest = signed.partition(".")
            _, _, signature = rest.partition(".")
            forged = {**claims, "family_name": "Usurpateur"}
            signed = f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
        return Response(signed, media_type="application/jwt")

    async def end_session(request: Request) -> Response:
        q = request.query_params
        missing = [
            p for p in ("id_token_hint", "state", "post_logout_redirect_uri") if not q.get(p)
        ]
        if missing:
            return PlainTextResponse(f"missing {', '.join(missing)}", status_code=400)
        try:
            jwt.decode(q["id_token_hint"], provider.key, algorithms=[provider.alg])
        except (JoseError, ValueError):
            return PlainTextResponse("id_token_hint is not ours", status_code=400)
        target = f"{q['post_logout_redirect_uri']}?{urlencode({'state': q['state']})}"
        return RedirectResponse(target, status_code=302)

    return Starlette(
        routes=[
            Route("/api/v2/.well-known/openid-configuration", discovery),
            Route("/api/v2/jwks", jwks),
            Route("/api/v2/authorize", authorize),
            Route("/api/v2/token", token, methods=["POST"]),
            Route("/api/v2/userinfo", userinfo),
            Route("/api/v2/session/end", end_session),
        ]
    )


register(
    Simulator(
        name="franceconnect",
        build=lambda settings: _build(settings, "franceconnect"),
        description="FranceConnect v2 (ES256): demo residents `resident`, `resident2`",
    )
)
register(
    Simulator(
        name="staff",
        build=lambda settings: _build(settings, "staff"),
        description="Staff OIDC provider (RS256): `agent`, `supervisor`, `admin`, `unknown`",
    )
)
