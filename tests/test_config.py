import pytest
from pydantic import ValidationError

from poche_api.config import Settings

PRODUCTION = {
    "env": "production",
    "database_url": "postgresql://poche@db/poche",
    "redis_url": "redis://redis:6379/0",
    "secret_key": "s" * 48,
    "franceconnect_discovery_url": "https://oidc.franceconnect.gouv.fr/api/v2/.well-known/openid-configuration",
    "franceconnect_client_id": "poche-fc",
    "franceconnect_client_secret": "f" * 48,
    "staff_oidc_discovery_url": "https://proconnect.gouv.fr/api/v2/.well-known/openid-configuration",
    "staff_oidc_client_id": "poche-staff",
    "staff_oidc_client_secret": "p" * 48,
    "token_signing_keys": '{"keys": []}',
}


def test_a_complete_production_configuration_starts() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]

    assert not settings.simulators_on
    assert not settings.seed_demo
    assert not settings.run_worker_in_process


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"secret_key": "demo-secret-change-me"}, "POCHE_SECRET_KEY"),
        ({"secret_key": "short"}, "POCHE_SECRET_KEY"),
        ({"simulators_enabled": True}, "simulators"),
        ({"demo_identities_enabled": True}, "demo identities"),
        ({"demo_seed": True}, "demo data"),
        ({"database_url": None}, "POCHE_DATABASE_URL"),
        ({"redis_url": None}, "POCHE_REDIS_URL"),
        ({"admin_token": "tiny"}, "POCHE_ADMIN_TOKEN"),
        ({"franceconnect_discovery_url": None}, "POCHE_FRANCECONNECT_DISCOVERY_URL"),
        (
            {"franceconnect_discovery_url": "https://x.fr/_sim/franceconnect/api/v2/x"},
            "POCHE_FRANCECONNECT_DISCOVERY_URL",
        ),
        ({"franceconnect_client_secret": None}, "POCHE_FRANCECONNECT_CLIENT_SECRET"),
        ({"franceconnect_client_id": "demo-poche-franceconnect"}, "POCHE_FRANCECONNECT_CLIENT_ID"),
        ({"staff_oidc_discovery_url": "http://idp.local/x"}, "POCHE_STAFF_OIDC_DISCOVERY_URL"),
        ({"staff_oidc_client_secret": None}, "POCHE_STAFF_OIDC_CLIENT_SECRET"),
        ({"token_signing_keys": None}, "POCHE_TOKEN_SIGNING_KEYS"),
        (
            {"auth_redirect_uris": ["http://localhost:8000/_sim/cb"]},
            "POCHE_AUTH_REDIRECT_URIS",
        ),
        ({"fcm_base_url": "http://127.0.0.1:8000/_sim/fcm"}, "POCHE_FCM_BASE_URL"),
        ({"fcm_project_id": "demo-poche"}, "POCHE_FCM_PROJECT_ID"),
    ],
)
def test_production_refuses_demo_parts(override: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{**PRODUCTION, **override})  # type: ignore[arg-type]


def test_the_embedded_default_needs_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POCHE_DATABASE_URL", "POCHE_REDIS_URL", "POCHE_ENV"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert settings.embedded_database
    assert settings.embedded_redis
    assert settings.run_worker_in_process
    assert settings.seed_demo
    assert settings.migrate_when_serving
    assert settings.simulators_on


def test_settings_come_from_poche_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCHE_DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("POCHE_CORS_ORIGINS", '["https://app.metropole-rouen-normandie.fr"]')

    settings = Settings()

    assert settings.database_url == "postgresql://x@y/z"
    assert not settings.run_worker_in_process
    assert settings.cors_origins == ["https://app.metropole-rouen-normandie.fr"]


def test_s3_photo_storage_without_a_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match="POCHE_MEDIA_S3_BUCKET"):
        Settings(media_storage="s3")


@pytest.mark.parametrize("pixels", [0, 100_000_000])
def test_the_photo_pixel_cap_stays_under_pillows_own_guard(pixels: int) -> None:
    with pytest.raises(ValidationError, match="media_max_pixels"):
        Settings(media_max_pixels=pixels)
