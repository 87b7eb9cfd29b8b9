"""App access tokens: signature, claims, and key rotation without downtime."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from pydantic import SecretStr

from poche_api.config import Settings
from poche_api.identity.tokens import InvalidAccessToken, Keyring, keyring, new_signing_key_jwk

SUBJECT, SESSION = uuid.uuid4(), uuid.uuid4()


def _settings(settings: Settings, *keys: Mapping[str, object]) -> Settings:
    configured = SecretStr(json.dumps({"keys": [dict(k) for k in keys]})) if keys else None
    return settings.model_copy(update={"token_signing_keys": configured})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _issue(settings: Settings) -> str:
    token, _ = keyring(settings).issue_access(
        settings, kind="resident", subject_id=SUBJECT, session_id=SESSION
    )
    return token


def test_a_token_verifies_and_carries_its_kid(settings: Settings) -> None:
    token = _issue(settings)

    claims = keyring(settings).verify_access(settings, token)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))

    assert (claims.kind, claims.subject_id, claims.session_id) == ("resident", SUBJECT, SESSION)
    assert header["alg"] == "ES256"
    assert header["kid"] == keyring(settings).current.kid


def test_rotation_signs_with_the_first_key_and_accepts_the_previous_one(
    settings: Settings,
) -> None:
    old, new = new_signing_key_jwk(), new_signing_key_jwk()
    before = _settings(settings, old)
    during = _settings(settings, new, old)
    after = _settings(settings, new)
    issued_before = _issue(before)
    issued_during = _issue(during)

    assert keyring(during).verify_access(during, issued_before).subject_id == SUBJECT
    assert keyring(after).verify_access(after, issued_during).subject_id == SUBJECT
    with pytest.raises(InvalidAccessToken):
        keyring(after).verify_access(after, issued_before)


def test_the_dev_key_is_derived_from_the_secret(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-" + "x" * 32)})

    assert keyring(settings).current.kid == keyring(settings.model_copy()).current.kid
    assert keyring(settings).current.kid != keyring(other).current.kid


def test_public_keys_cannot_be_configured_as_signing_keys(settings: Settings) -> None:
    public = ECKey.import_key(new_signing_key_jwk()).as_dict(private=False)

    with pytest.raises(ValueError, match="private"):
        keyring(_settings(settings, public))


def _claims(settings: Settings, **override: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": settings.public_url,
        "aud": "poche-app",
        "sub": str(SUBJECT),
        "sid": str(SESSION),
        "kind": "resident",
        "iat": now,
        "exp": now + 60,
        **override,
    }


@pytest.mark.parametrize(
    "override",
    [{"exp": int(time.time()) - 60}, {"aud": "someone-else"}, {"iss": "https://evil.example"}],
)
def test_bad_claims_are_refused(settings: Settings, override: dict[str, object]) -> None:
    ring = keyring(settings)

    with pytest.raises(InvalidAccessToken):
        ring.verify_access(settings, ring.sign(_claims(settings, **override)))


def test_alg_none_and_hs256_with_the_public_key_are_refused(settings: Settings) -> None:
    ring: Keyring = keyring(settings)
    payload = _b64(json.dumps(_claims(settings)).encode())
    none = f"{_b64(json.dumps({'alg': 'none', 'kid': ring.current.kid}).encode())}.{payload}."
    public = json.dumps(ring.current.as_dict(private=False)).encode()
    hs_header = _b64(json.dumps({"alg": "HS256", "kid": ring.current.kid}).encode())
    signature = hmac.new(public, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    hs256 = f"{hs_header}.{payload}.{_b64(signature)}"
    stranger = ECKey.generate_key("P-256", parameters={"kid": str(ring.current.kid)})
    foreign = jwt.encode({"alg": "ES256", "kid": ring.current.kid}, _claims(settings), stranger)

    for token in (none, hs256, foreign):
        with pytest.raises(InvalidAccessToken):
            ring.verify_access(settings, token)
