"""Identity rules: sign-in flows, app tokens, devices, staff provisioning, consents, privacy.

Sign-in state lives in Redis with short TTLs and is taken with GETDEL, so a ``state`` or a
one-time code works once. Nothing is written to PostgreSQL before the app redeems its code with
the right PKCE verifier: a rejected sign-in leaves nothing behind.
"""

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from poche_api.identity import tokens
from poche_api.identity.oidc import OidcClient
from poche_api.identity.privacy import ERASURE_STEPS, EXPORT_SECTIONS
from poche_api.identity.providers import ProviderName, provider_config
from poche_api.identity.repository import IdentityRepository
from poche_api.identity.schemas import (
    ConsentKind,
    ConsentOut,
    DeviceOut,
    PersonalDataExport,
    ResidentProfile,
    SessionOut,
    StaffCreate,
    StaffOut,
    StaffRole,
    StaffUpdate,
    TokenPair,
)
from poche_api.models import AuthSession, Consent, Device, RefreshToken, Resident, StaffMember, Team

LOGIN_KEY = "auth:login:"
CODE_KEY = "auth:code:"
REVOKED_KEY = "auth:revoked-session:"
_PKCE_CHALLENGE_LENGTH = 43
RESIDENT_FIELDS = (
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "preferred_username",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _invalid_grant(fr: str, en: str, slug: str) -> BadRequest:
    return BadRequest((fr, en), slug=slug)


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _with_query(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


def check_app_redirect(settings: Settings, redirect_uri: str) -> str:
    if redirect_uri not in settings.auth_redirect_uris:
        raise BadRequest(
            (
                "Cette adresse de retour n'est pas autorisée.",
                "This redirect URI is not allowed.",
            ),
            slug="redirect-uri-not-allowed",
        )
    return redirect_uri


@dataclass(frozen=True)
class Flow:
    """What a sign-in needs from the request: settings, Redis and the partners' HTTP client."""

    settings: Settings
    redis: Redis
    http: httpx.AsyncClient

    def client(self, provider: ProviderName) -> OidcClient:
        return OidcClient(provider_config(self.settings, provider), self.http, self.redis)


async def start_login(
    flow: Flow,
    provider: ProviderName,
    *,
    redirect_uri: str,
    code_challenge: str,
    code_challenge_method: str,
    login_hint: str | None,
) -> str:
    check_app_redirect(flow.settings, redirect_uri)
    if code_challenge_method != "S256" or len(code_challenge) != _PKCE_CHALLENGE_LENGTH:
        raise BadRequest(
            (
                "PKCE S256 requis (code_challenge de 43 caractères).",
                "PKCE S256 is required (43-character code_challenge).",
            ),
            slug="pkce-required",
        )
    client = flow.client(provider)
    metadata = await client.metadata()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    login = {
        "provider": provider,
        "nonce": nonce,
        "redirect_uri": redirect_uri,
        "code_challenge": code_challenge,
    }
    await flow.redis.set(LOGIN_KEY + state, orjson.dumps(login), ex=flow.settings.login_ttl_seconds)
    return client.authorize_url(metadata, state=state, nonce=nonce, login_hint=login_hint)


async def complete_login(
    flow: Flow,
    session: AsyncSession,
    provider: ProviderName,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    error_description: str | None,
) -> str:
    """Verify the provider's answer and return where to send the browser (the app)."""
    raw = await flow.redis.getdel(LOGIN_KEY + state) if state else None
    login = orjson.loads(raw) if raw else None
    if login is None or login["provider"] != provider:
        raise BadRequest(
            (
                "Connexion inconnue, expirée ou déjà terminée (state).",
                "Unknown, expired or already completed sign-in (state).",
            ),
            slug="login-state-invalid",
        )
    redirect_uri: str = login["redirect_uri"]
    if error:
        return _with_query(
            redirect_uri,
            {"error": error[:64], "error_description": (error_description or "")[:200]},
        )
    if not code:
        raise BadRequest(("Code manquant.", "Missing code."), slug="login-code-missing")
    client = flow.client(provider)
    metadata = await client.metadata()
    provider_tokens = await client.exchange_code(metadata, code)
    claims = await client.verify_id_token(metadata, provider_tokens.id_token, login["nonce"])
    userinfo = await client.userinfo(metadata, provider_tokens.access_token, str(claims["sub"]))
    grant: dict[str, Any] = {
        "provider": provider,
        "code_challenge": login["code_challenge"],
        "redirect_uri": redirect_uri,
        "sub": str(claims["sub"]),
        "id_token": provider_tokens.id_token,
    }
    if provider == "franceconnect":
        grant["identity"] = {k: userinfo.get(k) for k in RESIDENT_FIELDS}
    else:
        email = str(userinfo.get("email") or claims.get("email") or "")
        staff = await IdentityRepository.from_session(session).staff_by_email(email)
        if staff is None or not staff.active:
            raise Forbidden(
                (
                    (
                        f"{email or 'Ce compte'} n'est pas habilité : demandez à un administrateur "
                        "de vous enregistrer."
                    ),
                    (
                        f"{email or 'This account'} is not provisioned: ask an administrator to "
                        "add you."
                    ),
                ),
                slug="staff-not-provisioned",
            )
        grant["staff_id"] = str(staff.id)
    one_time_code = secrets.token_urlsafe(32)
    await flow.redis.set(
        CODE_KEY + tokens.token_hash(one_time_code),
        orjson.dumps(grant),
        ex=flow.settings.one_time_code_ttl_seconds,
    )
    return _with_query(redirect_uri, {"code": one_time_code})


def _parse_birthdate(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def _upsert_resident(
    repo: IdentityRepository, sub: str, identity: dict[str, Any]
) -> Resident:
    resident = await repo.resident_by_sub(sub)
    if resident is None:
        resident = Resident(id=uuid.uuid4(), fc_sub=sub)
        repo.session.add(resident)
    for name in RESIDENT_FIELDS:
        value = identity.get(name) or None
        if name == "birthdate":
            value = _parse_birthdate(value)
        setattr(resident, name, value)
    resident.last_login_at = _now()
    await repo.session.flush()
    return resident


async def _issue(
    repo: IdentityRepository,
    settings: Settings,
    *,
    family: AuthSession,
) -> TokenPair:
    refresh = tokens.opaque_token(tokens.REFRESH_PREFIX)
    await repo.add(RefreshToken(token_hash=tokens.token_hash(refresh), family_id=family.id))
    kind: tokens.SubjectKind = "resident" if family.subject_kind == "resident" else "staff"
    access, ttl = tokens.keyring(settings).issue_access(
        settings, kind=kind, subject_id=family.subject_id, session_id=family.id
    )
    return TokenPair(access_token=access, expires_in=ttl, refresh_token=refresh, subject_kind=kind)


async def redeem_code(
    flow: Flow,
    session: AsyncSession,
    *,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    device_token: str | None,
) -> TokenPair:
    raw = await flow.redis.getdel(CODE_KEY + tokens.token_hash(code))
    if raw is None:
        raise _invalid_grant(
            "Code inconnu, expiré ou déjà utilisé.",
            "Unknown, expired or already used code.",
            "one-time-code-invalid",
        )
    grant = orjson.loads(raw)
    if not hmac.compare_digest(_s256(code_verifier), grant["code_challenge"]):
        raise _invalid_grant(
            "code_verifier ne correspond pas (PKCE).",
            "code_verifier does not match (PKCE).",
            "pkce-mismatch",
        )
    if redirect_uri != grant["redirect_uri"]:
        raise _invalid_grant(
            "redirect_uri différente.", "redirect_uri mismatch.", "redirect-uri-mismatch"
        )
    repo = IdentityRepository.from_session(session)
    now = _now()
    device_id = None
    kind: tokens.SubjectKind
    if grant["provider"] == "franceconnect":
        resident = await _upsert_resident(repo, grant["sub"], grant["identity"])
        kind, subject_id = "resident", resident.id
        if device_token:
            device_id = (await link_device(session, resident.id, device_token)).id
    else:
        staff = await repo.staff(uuid.UUID(grant["staff_id"]))
        if staff is None or not staff.active:
            raise Forbidden(
                ("Compte agent désactivé.", "Staff account disabled."), slug="staff-not-provisioned"
            )
        staff.idp_sub, staff.last_login_at = grant["sub"], now
        kind, subject_id = "staff", staff.id
    family = AuthSession(
        id=uuid.uuid4(),
        subject_kind=kind,
        subject_id=subject_id,
        provider=grant["provider"],
        id_token_hint=grant["id_token"],
        device_id=device_id,
        expires_at=now + timedelta(days=flow.settings.refresh_token_ttl_days),
    )
    await repo.add(family)
    return await _issue(repo, flow.settings, family=family)


class RefreshTokenReused(Unauthorized):
    """A refresh token was presented twice: its family is revoked (to commit before answering)."""

    slug = "refresh-token-reused"

    def __init__(self, family_id: uuid.UUID) -> None:
        super().__init__(
            (
                "Ce jeton de rafraîchissement a déjà servi : la session est révoquée.",
                "This refresh token was already used: the session is revoked.",
            )
        )
        self.family_id = family_id


async def mark_revoked(redis: Redis, settings: Settings, session_ids: list[uuid.UUID]) -> None:
    """Access tokens of these sessions stop working now (they would expire within the TTL)."""
    for session_id in session_ids:
        await redis.set(REVOKED_KEY + str(session_id), b"1", ex=settings.access_token_ttl_seconds)


async def is_revoked(redis: Redis, session_id: uuid.UUID) -> bool:
    return bool(await redis.exists(REVOKED_KEY + str(session_id)))


async def refresh(flow: Flow, session: AsyncSession, refresh_token: str) -> TokenPair:
    repo = IdentityRepository.from_session(session)
    invalid = Unauthorized(
        ("Jeton de rafraîchissement invalide.", "Invalid refresh token."),
        slug="refresh-token-invalid",
    )
    row = await repo.refresh_token_for_update(tokens.token_hash(refresh_token))
    if row is None:
        raise invalid
    family = await repo.auth_session(row.family_id)
    now = _now()
    if family is None or family.revoked_at is not None or family.expires_at < now:
        raise invalid
    if row.used_at is not None:
        await repo.revoke_session(family.id, now, "refresh-reuse")
        await mark_revoked(flow.redis, flow.settings, [family.id])
        raise RefreshTokenReused(family.id)
    if family.subject_kind == "staff":
        staff = await repo.staff(family.subject_id)
        if staff is None or not staff.active:
            await repo.revoke_session(family.id, now, "staff-disabled")
            raise invalid
    row.used_at = now
    return await _issue(repo, flow.settings, family=family)


async def logout(
    flow: Flow, session: AsyncSession, session_id: uuid.UUID, post_logout_redirect_uri: str | None
) -> str | None:
    repo = IdentityRepository.from_session(session)
    family = await repo.auth_session(session_id)
    if family is None:
        return None
    hint, provider = family.id_token_hint, family.provider
    await repo.revoke_session(family.id, _now(), "logout")
    await mark_revoked(flow.redis, flow.settings, [family.id])
    if hint is None or provider not in ("franceconnect", "staff"):
        return None
    target = check_app_redirect(
        flow.settings, post_logout_redirect_uri or flow.settings.auth_redirect_uris[0]
    )
    client = flow.client("franceconnect" if provider == "franceconnect" else "staff")
    return client.end_session_url(
        await client.metadata(),
        id_token_hint=hint,
        state=secrets.token_urlsafe(32),
        post_logout_redirect_uri=target,
    )


# --- devices ---
async def register_device(
    session: AsyncSession, *, platform: str, app_version: str | None
) -> tuple[Device, str]:
    credential = tokens.opaque_token(tokens.DEVICE_PREFIX)
    device = Device(
        id=uuid.uuid4(),
        credential_hash=tokens.token_hash(credential),
        platform=platform,
        app_version=app_version,
        created_at=_now(),
    )
    await IdentityRepository.from_session(session).add(device)
    return device, credential


async def device_for_credential(session: AsyncSession, credential: str) -> Device | None:
    return await IdentityRepository.from_session(session).device_by_credential(
        tokens.token_hash(credential)
    )


async def link_device(session: AsyncSession, resident_id: uuid.UUID, credential: str) -> Device:
    device = await device_for_credential(session, credential)
    if device is None:
        raise NotFound(("Appareil inconnu.", "Unknown device."), slug="device-not-found")
    if device.resident_id not in (None, resident_id):
        raise Conflict(
            (
                "Cet appareil est lié à un autre compte.",
                "This device is linked to another account.",
            ),
            slug="device-linked-elsewhere",
        )
    if device.resident_id is None:
        device.resident_id, device.linked_at = resident_id, _now()
        await session.flush()
    return device


async def my_devices(session: AsyncSession, resident_id: uuid.UUID) -> list[DeviceOut]:
    rows = await IdentityRepository.from_session(session).devices_of(resident_id)
    return [DeviceOut.model_validate(row) for row in rows]


async def delete_my_device(
    session: AsyncSession, resident_id: uuid.UUID, device_id: uuid.UUID
) -> None:
    repo = IdentityRepository.from_session(session)
    device = await repo.device(device_id)
    if device is None or device.resident_id != resident_id:
        raise NotFound(("Appareil introuvable.", "Device not found."), slug="device-not-found")
    await repo.delete_device(device_id)


# --- staff ---
async def _teams(repo: IdentityRepository, slugs: list[str]) -> list[Team]:
    existing = await repo.teams_by_slug(slugs)
    for slug in dict.fromkeys(slugs):
        if slug not in existing:
            existing[slug] = Team(id=uuid.uuid4(), slug=slug, name=slug)
            repo.session.add(existing[slug])
    await repo.session.flush()
    return [existing[slug] for slug in dict.fromkeys(slugs)]


async def staff_out(repo: IdentityRepository, staff: StaffMember) -> StaffOut:
    teams = (await repo.team_slugs([staff.id]))[staff.id]
    return StaffOut.model_validate({**_columns(staff), "teams": teams})


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


async def provision_staff(session: AsyncSession, data: StaffCreate) -> StaffOut:
    repo = IdentityRepository.from_session(session)
    email = data.email.strip().lower()
    if await repo.staff_by_email(email) is not None:
        raise Conflict(
            (f"{email} est déjà enregistré.", f"{email} is already provisioned."),
            slug="staff-exists",
        )
    staff = StaffMember(
        id=uuid.uuid4(), email=email, display_name=data.display_name, role=data.role, active=True
    )
    await repo.add(staff)
    await repo.set_teams(staff.id, [team.id for team in await _teams(repo, data.teams)])
    return await staff_out(repo, staff)


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> StaffMember:
    staff = await IdentityRepository.from_session(session).staff(staff_id)
    if staff is None:
        raise NotFound(("Agent introuvable.", "Staff member not found."), slug="staff-not-found")
    return staff


async def update_staff(
    flow: Flow, session: AsyncSession, staff_id: uuid.UUID, data: StaffUpdate
) -> StaffOut:
    repo = IdentityRepository.from_session(session)
    staff = await get_staff(session, staff_id)
    if data.role is not None:
        staff.role = data.role
    if "display_name" in data.model_fields_set:
        staff.display_name = data.display_name
    if data.teams is not None:
        await repo.set_teams(staff.id, [team.id for team in await _teams(repo, data.teams)])
    if data.active is False and staff.active:
        now = _now()
        sessions = await repo.sessions_of("staff", staff.id)
        for family in sessions:
            await repo.revoke_session(family.id, now, "staff-disabled")
        await mark_revoked(flow.redis, flow.settings, [family.id for family in sessions])
    if data.active is not None:
        staff.active = data.active
    staff.updated_at = _now()
    await session.flush()
    return await staff_out(repo, staff)


async def staff_role(
    session: AsyncSession, staff_id: uuid.UUID
) -> tuple[StaffRole, list[str]] | None:
    found = await IdentityRepository.from_session(session).staff_access(staff_id)
    if found is None or not found[1]:
        return None
    role, _, teams = found
    return StaffRole(role), teams


# --- consents ---
async def record_consent(
    session: AsyncSession, resident_id: uuid.UUID, kind: ConsentKind, granted: bool, version: str
) -> ConsentOut:
    consent = Consent(
        id=uuid.uuid4(),
        resident_id=resident_id,
        kind=kind,
        granted=granted,
        version=version,
        recorded_at=_now(),
    )
    await IdentityRepository.from_session(session).add(consent)
    return ConsentOut.model_validate(consent)


async def current_consents(session: AsyncSession, resident_id: uuid.UUID) -> list[ConsentOut]:
    latest: dict[str, Consent] = {}
    for consent in await IdentityRepository.from_session(session).consents_of(resident_id):
        latest[consent.kind] = consent
    return [ConsentOut.model_validate(latest[kind]) for kind in sorted(latest)]


# --- residents: me, export, erasure ---
async def get_resident(session: AsyncSession, resident_id: uuid.UUID) -> Resident:
    resident = await IdentityRepository.from_session(session).resident(resident_id)
    if resident is None or resident.erased_at is not None:
        raise Unauthorized(("Compte supprimé.", "Account erased."), slug="account-erased")
    return resident


async def export_personal_data(session: AsyncSession, resident_id: uuid.UUID) -> PersonalDataExport:
    repo = IdentityRepository.from_session(session)
    resident = await get_resident(session, resident_id)
    other = {name: await section(session, resident_id) for name, section in EXPORT_SECTIONS.items()}
    return PersonalDataExport(
        generated_at=_now(),
        account_id=resident.id,
        profile=ResidentProfile.model_validate(resident),
        created_at=resident.created_at,
        last_login_at=resident.last_login_at,
        consents=[ConsentOut.model_validate(c) for c in await repo.consents_of(resident_id)],
        devices=[DeviceOut.model_validate(d) for d in await repo.devices_of(resident_id)],
        sessions=[
            SessionOut.model_validate(s) for s in await repo.sessions_of("resident", resident_id)
        ],
        other=other,
    )


async def erase_resident(flow: Flow, session: AsyncSession, resident_id: uuid.UUID) -> None:
    """Blank every personal field; delete devices, sessions, tokens and consents; let each
    capability erase or anonymise its part. The bare row stays so kept records stay linked."""
    repo = IdentityRepository.from_session(session)
    resident = await get_resident(session, resident_id)
    for step in ERASURE_STEPS.values():
        await step(session, resident_id)
    sessions = await repo.delete_sessions_of("resident", resident_id)
    await repo.delete_devices_of(resident_id)
    await repo.delete_consents_of(resident_id)
    resident.fc_sub = None
    for name in RESIDENT_FIELDS:
        setattr(resident, name, None)
    resident.last_login_at = None
    resident.erased_at = _now()
    await session.flush()
    await mark_revoked(flow.redis, flow.settings, sessions)
