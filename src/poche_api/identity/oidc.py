"""OpenID Connect relying party: discovery, JWKS, code exchange, id_token and userinfo checks.

The id_token and a JWT userinfo are accepted only when signed with ES256 or RS256 by a key of the
provider's JWKS; an unknown ``kid`` triggers exactly one JWKS refetch (the provider may have
rotated) before the token is refused. Discovery and JWKS are cached in Redis for an hour.
"""

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from redis.asyncio import Redis

from poche_api.errors import BadRequest, ServiceUnavailable
from poche_api.identity.providers import ProviderConfig

ALLOWED_ALGS = ("ES256", "RS256")
ACR_RANK = {"eidas1": 1, "eidas2": 2, "eidas3": 3}
CACHE_SECONDS = 3600
LEEWAY_SECONDS = 30
MAX_IAT_AGE_SECONDS = 600


class TokenRejected(BadRequest):
    """A provider token failed verification; nothing is kept from it."""

    slug = "identity-token-rejected"


def _rejected(fr: str, en: str, reason: str) -> TokenRejected:
    return TokenRejected((fr, en), reason=reason)


def _unavailable(name: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        (
            f"Le fournisseur d'identité {name} ne répond pas correctement.",
            f"The {name} identity provider is not answering correctly.",
        ),
        slug="identity-provider-unavailable",
    )


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class ProviderTokens:
    access_token: str
    id_token: str


class OidcClient:
    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient, redis: Redis) -> None:
        self.config = config
        self.http = http
        self.redis = redis

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, timeout=10.0)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _unavailable(self.config.name) from exc
        if not isinstance(data, dict):
            raise _unavailable(self.config.name)
        return data

    async def metadata(self) -> Metadata:
        cache_key = f"oidc:discovery:{self.config.discovery_url}"
        cached = await self.redis.get(cache_key)
        data = orjson.loads(cached) if cached else await self._get_json(self.config.discovery_url)
        try:
            metadata = Metadata(
                issuer=str(data["issuer"]),
                authorization_endpoint=str(data["authorization_endpoint"]),
                token_endpoint=str(data["token_endpoint"]),
                userinfo_endpoint=str(data["userinfo_endpoint"]),
                jwks_uri=str(data["jwks_uri"]),
                end_session_endpoint=data.get("end_session_endpoint"),
            )
        except KeyError as exc:
            raise _unavailable(self.config.name) from exc
        if not cached:
            await self.redis.set(cache_key, orjson.dumps(data), ex=CACHE_SECONDS)
        return metadata

    async def _jwks(self, metadata: Metadata, *, refresh: bool) -> KeySet:
        cache_key = f"oidc:jwks:{metadata.jwks_uri}"
        cached = None if refresh else await self.redis.get(cache_key)
        data = orjson.loads(cached) if cached else await self._get_json(metadata.jwks_uri)
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]  # shape checked by joserfc
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise _unavailable(self.config.name) from exc
        if not cached:
            await self.redis.set(cache_key, orjson.dumps(data), ex=CACHE_SECONDS)
        return keys

    def authorize_url(
        self, metadata: Metadata, *, state: str, nonce: str, login_hint: str | None
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.callback_url,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
        }
        if self.config.acr_values:
            params["acr_values"] = self.config.acr_values
        if login_hint:
            params["login_hint"] = login_hint
        return f"{metadata.authorization_endpoint}?{urlencode(params)}"

    def end_session_url(
        self, metadata: Metadata, *, id_token_hint: str, state: str, post_logout_redirect_uri: str
    ) -> str | None:
        if metadata.end_session_endpoint is None:
            return None
        params = {
            "id_token_hint": id_token_hint,
            "state": state,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        return f"{metadata.end_session_endpoint}?{urlencode(params)}"

    async def exchange_code(self, metadata: Metadata, code: str) -> ProviderTokens:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.callback_url,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        try:
            response = await self.http.post(metadata.token_endpoint, data=form, timeout=10.0)
        except httpx.HTTPError as exc:
            raise _unavailable(self.config.name) from exc
        if response.status_code in (400, 401):
            raise BadRequest(
                (
                    "Le fournisseur d'identité a refusé le code d'autorisation.",
                    "The identity provider refused the authorization code.",
                ),
                slug="identity-code-refused",
            )
        try:
            response.raise_for_status()
            data = response.json()
            return ProviderTokens(
                access_token=str(data["access_token"]), id_token=str(data["id_token"])
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise _unavailable(self.config.name) from exc

    async def verify_jwt(self, metadata: Metadata, token: str, what: str) -> dict[str, Any]:
        """Signature only: alg allow-list, key by ``kid`` with one JWKS refetch."""
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise _rejected(f"{what} illisible.", f"Unreadable {what}.", "malformed") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGS:
            raise _rejected(
                f"Algorithme {alg!r} refusé pour {what}.",
                f"Algorithm {alg!r} refused for the {what}.",
                "algorithm-not-allowed",
            )
        kid = header.get("kid")
        key = None
        for refresh in (False, True):
            keys = await self._jwks(metadata, refresh=refresh)
            key = next((k for k in keys.keys if kid is not None and k.kid == kid), None)
            if key is not None:
                break
        if key is None:
            raise _rejected(
                f"Clé inconnue pour {what}.", f"Unknown signing key for the {what}.", "unknown-kid"
            )
        try:
            return dict(jwt.decode(token, key, algorithms=[str(alg)]).claims)
        except (JoseError, ValueError) as exc:
            raise _rejected(
                f"Signature invalide pour {what}.",
                f"Invalid signature on the {what}.",
                "bad-signature",
            ) from exc

    async def verify_id_token(
        self, metadata: Metadata, id_token: str, nonce: str
    ) -> dict[str, Any]:
        claims = await self.verify_jwt(metadata, id_token, "id_token")
        try:
            JWTClaimsRegistry(
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": metadata.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
            ).validate(claims)
        except JoseError as exc:
            raise _rejected(
                "Jeton d'identité invalide.",
                f"Invalid id_token ({exc.error}: {exc.description}).",
                f"claim-{getattr(exc, 'claim', 'invalid')}",
            ) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise _rejected("Destinataire invalide.", "Invalid azp.", "claim-azp")
        if int(claims["iat"]) > time.time() + LEEWAY_SECONDS:
            raise _rejected("Jeton daté du futur.", "id_token issued in the future.", "claim-iat")
        if int(claims["iat"]) < time.time() - MAX_IAT_AGE_SECONDS:
            raise _rejected("Jeton trop ancien.", "id_token issued too long ago.", "claim-iat")
        if claims.get("nonce") != nonce:
            raise _rejected("nonce incorrect.", "nonce mismatch.", "claim-nonce")
        required = self.config.acr_values
        if required is not None:
            acr = claims.get("acr")
            if ACR_RANK.get(str(acr), 0) < ACR_RANK.get(required, 1):
                raise _rejected(
                    f"Niveau d'authentification {acr!r} insuffisant ({required} requis).",
                    f"Authentication level {acr!r} below {required}.",
                    "claim-acr",
                )
        return claims

    async def userinfo(self, metadata: Metadata, access_token: str, sub: str) -> dict[str, Any]:
        try:
            response = await self.http.get(
                metadata.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=10.0,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise _unavailable(self.config.name) from exc
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type == "application/jwt":
            claims = await self.verify_jwt(metadata, response.text.strip(), "userinfo")
            if claims.get("iss", metadata.issuer) != metadata.issuer:
                raise _rejected("userinfo: émetteur.", "userinfo: wrong issuer.", "claim-iss")
            audience = claims.get("aud", self.config.client_id)
            if self.config.client_id not in (
                audience if isinstance(audience, list) else [audience]
            ):
                raise _rejected("userinfo: destinataire.", "userinfo: wrong audience.", "claim-aud")
        elif media_type == "application/json" and not self.config.userinfo_jwt_required:
            try:
                claims = dict(response.json())
            except ValueError as exc:
                raise _unavailable(self.config.name) from exc
        else:
            raise _rejected(
                "userinfo doit être un JWT signé.",
                "userinfo must be a signed JWT.",
                "userinfo-not-signed",
            )
        if claims.get("sub") != sub:
            raise _rejected(
                "userinfo: sujet différent.", "userinfo: subject mismatch.", "claim-sub"
            )
        return claims
