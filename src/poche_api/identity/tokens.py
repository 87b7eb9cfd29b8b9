"""App access tokens: short-lived ES256 JWTs signed with our own key, carrying its ``kid``.

``POCHE_TOKEN_SIGNING_KEYS`` is a JWK set of private EC P-256 keys: the first signs, all verify,
so a new key is rolled out by putting it first while the old one stays listed for one access-token
lifetime. Outside production, without it, one key is derived from ``POCHE_SECRET_KEY`` with
HKDF-SHA256 (stable across restarts and replicas, never used in production: settings refuse it).
Refresh tokens and device credentials are opaque random strings stored as SHA-256 hashes.
"""

import functools
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

from poche_api.config import Settings

ACCESS_AUDIENCE = "poche-app"
ACCESS_ALG = "ES256"
REFRESH_PREFIX = "prt_"
DEVICE_PREFIX = "pdc_"
SubjectKind = Literal["resident", "staff"]
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


class InvalidAccessToken(Exception):
    """The bearer token is not one of our valid access tokens."""


@dataclass(frozen=True)
class AccessClaims:
    kind: SubjectKind
    subject_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: int


def opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _derived_dev_key(secret: str) -> ECKey:
    material = HKDF(
        algorithm=SHA256(), length=48, salt=b"poche-api", info=b"app-token-signing-key/v1"
    ).derive(secret.encode())
    scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    key = ECKey.import_key(private, parameters={"alg": ACCESS_ALG, "use": "sig"})
    key.ensure_kid()
    return key


class Keyring:
    def __init__(self, keys: list[ECKey]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self.current = keys[0]
        self.by_kid = {str(key.kid): key for key in keys}

    @property
    def public_jwks(self) -> dict[str, Any]:
        return dict(KeySet(list(self.by_kid.values())).as_dict(private=False))

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ACCESS_ALG, "kid": self.current.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, self.current)

    def issue_access(
        self, settings: Settings, *, kind: SubjectKind, subject_id: uuid.UUID, session_id: uuid.UUID
    ) -> tuple[str, int]:
        now = int(time.time())
        ttl = settings.access_token_ttl_seconds
        claims = {
            "iss": settings.public_url,
            "aud": ACCESS_AUDIENCE,
            "sub": str(subject_id),
            "kind": kind,
            "sid": str(session_id),
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return self.sign(claims), ttl

    def verify_access(self, settings: Settings, token: str) -> AccessClaims:
        try:
            header = jws.extract_compact(token.encode()).headers()
            key = self.by_kid.get(str(header.get("kid")))
            if header.get("alg") != ACCESS_ALG or key is None:
                raise InvalidAccessToken("unknown key or algorithm")
            claims = jwt.decode(token, key, algorithms=[ACCESS_ALG]).claims
            JWTClaimsRegistry(
                leeway=5,
                iss={"essential": True, "value": settings.public_url},
                aud={"essential": True, "value": ACCESS_AUDIENCE},
                exp={"essential": True},
                sub={"essential": True},
                sid={"essential": True},
            ).validate(claims)
            kind = claims.get("kind")
            if kind not in ("resident", "staff"):
                raise InvalidAccessToken("unknown subject kind")
            return AccessClaims(
                kind=kind,
                subject_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=int(claims["exp"]),
            )
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidAccessToken(str(exc)) from exc


@functools.lru_cache(maxsize=8)
def _keyring(configured: str | None, secret: str) -> Keyring:
    if configured is None:
        return Keyring([_derived_dev_key(secret)])
    keys = []
    for entry in json.loads(configured)["keys"]:
        key = ECKey.import_key(entry)
        if key.kid is None or not key.is_private or key.as_dict().get("crv") != "P-256":
            raise ValueError("POCHE_TOKEN_SIGNING_KEYS: private P-256 keys with a kid only")
        keys.append(key)
    return Keyring(keys)


def keyring(settings: Settings) -> Keyring:
    configured = settings.token_signing_keys
    return _keyring(
        configured.get_secret_value() if configured else None,
        settings.secret_key.get_secret_value(),
    )


def new_signing_key_jwk() -> dict[str, Any]:
    """A fresh private key for POCHE_TOKEN_SIGNING_KEYS (``poche-api keys generate``)."""
    key = ECKey.generate_key("P-256", parameters={"alg": ACCESS_ALG, "use": "sig"})
    key.ensure_kid()
    return key.as_dict(private=True)
