"""Settings: one class, read from ``POCHE_*`` environment variables."""

from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "demo-secret-change-me"  # noqa: S105 - the marker production refuses


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class InsecureProductionConfig(ValueError):
    """A production process was configured with a demo-only part."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="POCHE_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    env: Environment = Field(Environment.development, description="development, test or production")
    database_url: str | None = Field(
        None, description="PostgreSQL URL; empty starts the embedded cluster in data_dir"
    )
    redis_url: str | None = Field(None, description="Redis URL; empty uses in-process fakeredis")
    data_dir: Path = Field(Path("var"), description="Embedded PostgreSQL data and local files")
    secret_key: SecretStr = Field(
        SecretStr(DEMO_SECRET), description="Signs cursors and tokens; must be set in production"
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for /v1/admin until staff sign-in lands; unset disables"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL seen by clients")
    cors_origins: list[str] = Field(default_factory=list, description="CORS allow-list")
    max_body_bytes: int = Field(1_048_576, description="Largest JSON request body accepted")
    db_pool_size: int = 10
    embedded_worker: bool | None = Field(
        None, description="Run jobs inside `serve`; defaults to true only on the embedded database"
    )
    job_max_attempts: int = Field(5, description="Attempts before a job is dead-lettered")
    job_retry_base_seconds: float = 2.0
    job_retry_max_seconds: float = 600.0
    job_heartbeat_seconds: float = Field(
        30.0, description="A job whose worker stops beating for this long runs again"
    )
    idempotency_ttl_hours: int = 24
    simulators_enabled: bool | None = Field(
        None,
        description="Serve partner simulators under /_sim; defaults to true outside production",
    )
    demo_seed: bool | None = Field(
        None, description="Seed Rouen demo data on start; defaults to true on the embedded database"
    )
    demo_identities_enabled: bool | None = Field(
        None,
        description="Allow demo identities at the identity simulators; defaults to simulators_on",
    )
    migrate_on_start: bool | None = Field(
        None, description="Apply migrations when serving; defaults to true on the embedded database"
    )
    # asyncio's loop keeps p99 latency an order of magnitude lower than uvloop's at saturation
    # for the same throughput (benchmarks/http_baseline).
    event_loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "asyncio", description="uvicorn event loop for `serve`"
    )
    public_cache_seconds: float = Field(
        5.0, description="How long public GET answers are served from memory (0 disables)"
    )
    http_timeout_seconds: float = Field(10.0, description="Default timeout for partner calls")
    # --- notifications (FCM push) ---
    fcm_project_id: str | None = Field(
        None,
        description="Firebase project id; empty: the service account's in production, "
        "`demo-poche` elsewhere",
    )
    fcm_base_url: str | None = Field(
        None,
        description="Send FCM calls to this base URL (the simulator); empty: the simulator when "
        "simulators are on, Google otherwise. Refused in production",
    )
    fcm_service_account_json: SecretStr | None = Field(
        None, description="Service account key (JSON text) for FCM in production"
    )
    fcm_service_account_file: Path | None = Field(
        None, description="Path of the service account key file for FCM in production"
    )
    push_rate_per_minute: int = Field(
        60_000, description="Cluster-wide FCM send budget per minute (project quota: 600k)"
    )
    push_batch_size: int = Field(
        500, ge=1, le=500, description="Messages per send_each_async call (FCM allows ≤ 500)"
    )
    push_log_retention_days: int = Field(
        90, description="Days notifications and delivery logs are kept"
    )
    log_level: str = "INFO"
    log_json: bool = True

    # --- identity ---
    franceconnect_discovery_url: str | None = Field(
        None, description="FranceConnect v2 discovery URL; empty uses the simulator (not in prod)"
    )
    franceconnect_client_id: str | None = Field(None, description="FranceConnect client id")
    franceconnect_client_secret: SecretStr | None = Field(
        None, description="FranceConnect client secret (environment only)"
    )
    franceconnect_scopes: list[str] = Field(
        default_factory=lambda: [
            "openid",
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "birthplace",
            "birthcountry",
            "email",
        ],
        description="Scopes asked from FranceConnect",
    )
    franceconnect_acr_values: str = Field("eidas1", description="acr_values sent to FranceConnect")
    staff_oidc_discovery_url: str | None = Field(
        None, description="Staff identity provider discovery URL; empty uses the simulator"
    )
    staff_oidc_client_id: str | None = Field(None, description="Staff provider client id")
    staff_oidc_client_secret: SecretStr | None = Field(
        None, description="Staff provider client secret (environment only)"
    )
    staff_oidc_scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "given_name", "usual_name"],
        description="Scopes asked from the staff provider",
    )
    staff_oidc_acr_values: str | None = Field(
        "eidas1", description="acr_values sent to the staff provider (empty: none)"
    )
    auth_redirect_uris: list[str] = Field(
        default_factory=lambda: ["fr.metropole-rouen-normandie.poche:/auth/callback"],
        description="App redirect URIs allowed to receive one-time codes (exact match)",
    )
    token_signing_keys: SecretStr | None = Field(
        None,
        description="JWK set (JSON) of private EC P-256 keys with kid; the first signs, all verify",
    )
    access_token_ttl_seconds: int = Field(600, description="Lifetime of app access tokens")
    refresh_token_ttl_days: int = Field(30, description="Lifetime of a refresh token family")
    login_ttl_seconds: int = Field(600, description="How long a sign-in (state, nonce) may take")
    one_time_code_ttl_seconds: int = Field(
        120, description="How long the app has to redeem its one-time code"
    )
    # --- transport ---
    transport_gtfs_url: str | None = Field(
        None,
        description="Network GTFS zip; default: the transit simulator outside production, "
        "the Astuce open-data URL in production",
    )
    transport_trip_updates_urls: dict[str, str] | None = Field(
        None, description="GTFS-RT TripUpdates per operator {name: url}; same defaults"
    )
    transport_vehicle_positions_urls: dict[str, str] | None = Field(
        None, description="GTFS-RT VehiclePositions per operator {name: url}; same defaults"
    )
    transport_alerts_url: str | None = Field(
        None, description="GTFS-RT ServiceAlerts of the network; same defaults"
    )
    transport_poll_seconds: float = Field(30.0, description="Delay between GTFS-RT polls")
    transport_feed_timeout_seconds: float = Field(8.0, description="Timeout of one GTFS-RT poll")
    transport_stale_seconds: int = Field(
        180, description="A real-time snapshot older than this is ignored (scheduled times)"
    )
    transport_vehicle_max_age_seconds: int = Field(
        180, description="Vehicle positions older than this are hidden"
    )
    transport_trusted_lines: list[str] | None = Field(
        None,
        description="Route ids whose real-time is measured; others are labelled 'estimated'. "
        "Unset: every line is trusted",
    )
    # --- incidents ---
    incident_reopen_days: int = Field(
        14, ge=1, description="Days after resolution during which the reporter may say 'not fixed'"
    )
    incident_duplicate_days: int = Field(
        30, ge=1, description="Open reports younger than this are offered as possible duplicates"
    )
    incident_max_photos: int = Field(3, ge=0, le=10, description="Photos per report")
    incident_escalation_minutes: int = Field(
        15, ge=1, description="How often overdue reports are looked for and escalated"
    )
    # --- media ---
    media_storage: Literal["local", "s3"] = Field(
        "local",
        description="Where photos are stored: `local` (a folder; production only on a volume "
        "every replica shares) or `s3` (S3-compatible object storage)",
    )
    media_local_root: Path | None = Field(
        None, description="Folder of the local photo store; empty: data_dir/media"
    )
    media_s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint URL; empty: AWS S3"
    )
    media_s3_bucket: str | None = Field(None, description="Bucket of photos; required for s3")
    media_s3_region: str | None = Field(None, description="Region signed into S3 requests")
    media_s3_access_key_id: str | None = Field(
        None, description="S3 access key id; empty: botocore's default credential chain"
    )
    media_s3_secret_access_key: SecretStr | None = Field(
        None, description="S3 secret access key (environment only)"
    )
    media_s3_addressing_style: Literal["path", "virtual", "auto"] = Field(
        "path", description="Bucket in the URL path (most S3-compatible stores) or host name"
    )
    media_max_upload_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest photo file accepted (413 beyond)"
    )
    # Pillow warns past 89,478,485 pixels and refuses past twice that: stay under its guard.
    media_max_pixels: int = Field(
        50_000_000,
        ge=1,
        le=89_478_485,
        description="Largest photo accepted in pixels, read from the header before decoding",
    )
    media_concurrency: int = Field(
        2, ge=1, description="Photos decoded and re-encoded at once per process"
    )

    # --- geocoding ---
    ban_base_url: str | None = Field(
        None,
        description="Base Adresse Nationale API; empty: the BAN simulator when simulators are "
        "on, https://api-adresse.data.gouv.fr otherwise. A simulator URL is refused in production",
    )
    ban_timeout_seconds: float = Field(
        3.0, gt=0, description="Deadline of one BAN call (one retry on connection errors and 5xx)"
    )
    ban_cache_ttl_seconds: int = Field(
        7 * 86_400, ge=0, description="How long a BAN answer is reused without asking again"
    )
    ban_stale_ttl_seconds: int = Field(
        30 * 86_400, ge=0, description="How long a BAN answer is kept to be served while BAN fails"
    )
    ban_rate_per_second: int = Field(
        25,
        ge=1,
        description="Cluster-wide BAN calls per second (one-second windows: at most twice this "
        "in any sliding second, under BAN's 50 per second and per IP)",
    )
    # --- incident retention ---
    incident_retention_batch_size: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Rows per transaction of the nightly incident retention job (50 batches a run "
        "at most per step; a backlog drains over several nights)",
    )
    incident_orphan_photo_grace_hours: int = Field(
        24,
        ge=1,
        description="A stored photo no report names is swept once older than this (uploads of "
        "reports whose transaction rolled back)",
    )
    # --- open311 ---
    open311_api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated API keys of the Open311 clients allowed to create requests "
        "(environment only); empty: POST /open311/v2/requests is refused",
    )

    @property
    def media_root(self) -> Path:
        return self.media_local_root or self.data_dir / "media"

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def run_worker_in_process(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.embedded_database

    @property
    def simulators_on(self) -> bool:
        if self.simulators_enabled is not None:
            return self.simulators_enabled
        return self.env is not Environment.production

    @property
    def migrate_when_serving(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.embedded_database

    @property
    def seed_demo(self) -> bool:
        if self.demo_seed is not None:
            return self.demo_seed
        return self.embedded_database

    @property
    def demo_identities_on(self) -> bool:
        if self.demo_identities_enabled is not None:
            return self.demo_identities_enabled
        return self.simulators_on

    @model_validator(mode="after")
    def _refuse_demo_parts_in_production(self) -> Self:
        if self.env is not Environment.production:
            return self
        problems = []
        secret = self.secret_key.get_secret_value()
        if secret == DEMO_SECRET or len(secret) < 32:
            problems.append("POCHE_SECRET_KEY must be a real secret of at least 32 characters")
        admin = self.admin_token.get_secret_value() if self.admin_token else None
        if admin is not None and len(admin) < 32:
            problems.append("POCHE_ADMIN_TOKEN must be at least 32 characters")
        if self.simulators_enabled:
            problems.append("simulators cannot be enabled in production")
        if self.demo_identities_enabled:
            problems.append("demo identities cannot be enabled in production")
        if self.demo_seed:
            problems.append("demo data cannot be seeded in production")
        if self.database_url is None:
            problems.append("POCHE_DATABASE_URL is required in production")
        problems.extend(self._identity_problems_in_production())
        if self.fcm_base_url is not None:
            problems.append("POCHE_FCM_BASE_URL (the FCM simulator) cannot be used in production")
        if self.fcm_project_id is not None and self.fcm_project_id.startswith("demo-"):
            problems.append("POCHE_FCM_PROJECT_ID must be the real Firebase project in production")
        if self.redis_url is None:
            problems.append("POCHE_REDIS_URL is required in production")
        transport_urls = [
            self.transport_gtfs_url,
            self.transport_alerts_url,
            *(self.transport_trip_updates_urls or {}).values(),
            *(self.transport_vehicle_positions_urls or {}).values(),
        ]
        if any(url and "/_sim/" in url for url in transport_urls):
            problems.append("transport feeds cannot point at the simulator in production")
        if self.ban_base_url and "/_sim/" in self.ban_base_url:
            problems.append("POCHE_BAN_BASE_URL cannot point at the simulator in production")
        if any(len(key) < 32 for key in self.open311_keys()):
            problems.append("POCHE_OPEN311_API_KEYS must each be at least 32 characters")
        if problems:
            raise InsecureProductionConfig("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _require_a_bucket_for_s3(self) -> Self:
        if self.media_storage == "s3" and not self.media_s3_bucket:
            raise ValueError("POCHE_MEDIA_S3_BUCKET is required when POCHE_MEDIA_STORAGE=s3")
        return self

    def open311_keys(self) -> list[str]:
        raw = self.open311_api_keys.get_secret_value() if self.open311_api_keys else ""
        return [key.strip() for key in raw.split(",") if key.strip()]

    def _identity_problems_in_production(self) -> list[str]:
        problems = []
        providers = (
            ("FRANCECONNECT", self.franceconnect_discovery_url, self.franceconnect_client_id,
             self.franceconnect_client_secret),
            ("STAFF_OIDC", self.staff_oidc_discovery_url, self.staff_oidc_client_id,
             self.staff_oidc_client_secret),
        )  # fmt: skip
        for name, url, client_id, secret in providers:
            if url is None or not url.startswith("https://") or "/_sim/" in url:
                problems.append(f"POCHE_{name}_DISCOVERY_URL must be a real https URL")
            if not client_id or client_id.startswith("demo-"):
                problems.append(f"POCHE_{name}_CLIENT_ID is required in production")
            if secret is None or secret.get_secret_value().startswith("demo-"):
                problems.append(f"POCHE_{name}_CLIENT_SECRET is required in production")
        if self.token_signing_keys is None:
            problems.append("POCHE_TOKEN_SIGNING_KEYS is required in production")
        if any("/_sim/" in uri or "localhost" in uri for uri in self.auth_redirect_uris):
            problems.append("POCHE_AUTH_REDIRECT_URIS cannot point at a simulator or localhost")
        return problems
