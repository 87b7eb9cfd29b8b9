import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StaffRole(StrEnum):
    agent = "agent"
    supervisor = "supervisor"
    admin = "admin"


ROLE_RANK = {StaffRole.agent: 1, StaffRole.supervisor: 2, StaffRole.admin: 3}


class ConsentKind(StrEnum):
    geolocation = "geolocation"
    notifications = "notifications"


Platform = Literal["android", "ios", "web"]
TeamSlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


# --- tokens ---
class AuthorizationCodeGrant(Input):
    grant_type: Literal["authorization_code"] = Field(description="`authorization_code`")
    code: str = Field(min_length=16, max_length=128, description="One-time code from the callback")
    code_verifier: str = Field(
        min_length=43, max_length=128, description="PKCE verifier (RFC 7636) of the start call"
    )
    redirect_uri: str = Field(max_length=512, description="The redirect URI given at start")
    device_token: str | None = Field(
        None, max_length=128, description="This install's device credential, linked on sign-in"
    )


class RefreshTokenGrant(Input):
    grant_type: Literal["refresh_token"] = Field(description="`refresh_token`")
    refresh_token: str = Field(min_length=16, max_length=128, description="The last refresh token")


TokenRequest = Annotated[
    AuthorizationCodeGrant | RefreshTokenGrant, Field(discriminator="grant_type")
]


class TokenPair(BaseModel):
    access_token: str = Field(description="Bearer access token (JWT, ES256, short-lived)")
    token_type: Literal["Bearer"] = Field("Bearer", description="Always `Bearer`")
    expires_in: int = Field(description="Access token lifetime in seconds")
    refresh_token: str = Field(description="Single-use refresh token; each use returns a new one")
    subject_kind: Literal["resident", "staff"] = Field(description="Who signed in")


class LogoutRequest(Input):
    post_logout_redirect_uri: str | None = Field(
        None, max_length=512, description="Where the provider sends the browser (allow-listed)"
    )


class LogoutResult(BaseModel):
    end_session_url: str | None = Field(
        description="Open in the system browser to end the provider session (id_token_hint set)"
    )


# --- me ---
class ResidentProfile(Output):
    given_name: str | None = Field(description="Given names (FranceConnect identity pivot)")
    family_name: str | None = Field(description="Family name")
    birthdate: date | None = Field(description="Birth date")
    gender: str | None = Field(description="`female` or `male`")
    birthplace: str | None = Field(description="INSEE code of the birthplace")
    birthcountry: str | None = Field(description="INSEE code of the birth country")
    email: str | None = Field(description="E-mail address given by FranceConnect")


class StaffProfile(Output):
    email: str = Field(description="Work e-mail address")
    display_name: str | None = Field(description="Name shown to colleagues")
    role: StaffRole = Field(description="agent, supervisor or admin")
    teams: list[str] = Field(description="Team slugs")


class Me(BaseModel):
    id: uuid.UUID = Field(description="Account id")
    kind: Literal["resident", "staff"] = Field(description="Account kind")
    resident: ResidentProfile | None = Field(None, description="Resident profile")
    staff: StaffProfile | None = Field(None, description="Staff profile")


# --- devices ---
class DeviceCreate(Input):
    platform: Platform = Field(description="android, ios or web")
    app_version: str | None = Field(None, max_length=32, description="App version, e.g. `1.4.0`")


class DeviceOut(Output):
    id: uuid.UUID = Field(description="Device id")
    platform: str = Field(description="android, ios or web")
    app_version: str | None = Field(description="App version")
    created_at: datetime = Field(description="When the install registered")
    linked_at: datetime | None = Field(description="When it was linked to the account")
    last_seen_at: datetime | None = Field(description="Last call made with its credential")


class DeviceRegistered(DeviceOut):
    device_token: str = Field(
        description="The device credential (shown once): `Authorization: Bearer <token>` for "
        "anonymous features, and `device_token` at sign-in to link the install"
    )


class DeviceLink(Input):
    device_token: str = Field(min_length=16, max_length=128, description="The device credential")


# --- consents ---
class ConsentIn(Input):
    granted: bool = Field(description="Whether the resident agrees")
    version: str = Field(
        min_length=1, max_length=32, description="Version of the text shown, e.g. `2026-11`"
    )


class ConsentOut(Output):
    kind: ConsentKind = Field(description="geolocation or notifications")
    granted: bool = Field(description="The decision")
    version: str = Field(description="Version of the text the decision was made on")
    recorded_at: datetime = Field(description="When it was recorded")


# --- staff administration ---
class StaffCreate(Input):
    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=320,
        description="Work e-mail, as the staff provider asserts it",
    )
    role: StaffRole = Field(description="agent, supervisor or admin")
    display_name: str | None = Field(None, max_length=200, description="Name shown to colleagues")
    teams: list[TeamSlug] = Field(
        default_factory=list, max_length=20, description="Team slugs (created when new)"
    )


class StaffUpdate(Input):
    role: StaffRole | None = Field(None, description="New role")
    display_name: str | None = Field(None, max_length=200, description="New display name")
    teams: list[TeamSlug] | None = Field(
        None, max_length=20, description="Replaces the memberships"
    )
    active: bool | None = Field(None, description="false revokes access and every session")


class StaffOut(Output):
    id: uuid.UUID = Field(description="Staff id")
    email: str = Field(description="Work e-mail")
    display_name: str | None = Field(description="Display name")
    role: StaffRole = Field(description="Role")
    active: bool = Field(description="Whether sign-in is allowed")
    teams: list[str] = Field(description="Team slugs")
    created_at: datetime = Field(description="When provisioned")
    last_login_at: datetime | None = Field(description="Last sign-in")


# --- export ---
class SessionOut(Output):
    id: uuid.UUID = Field(description="Sign-in session id")
    provider: str = Field(description="franceconnect")
    created_at: datetime = Field(description="Sign-in time")
    expires_at: datetime = Field(description="When its refresh tokens stop working")
    revoked_at: datetime | None = Field(description="When it was revoked")


class PersonalDataExport(BaseModel):
    generated_at: datetime = Field(description="When this export was made")
    account_id: uuid.UUID = Field(description="Account id")
    profile: ResidentProfile = Field(description="Identity received from FranceConnect")
    created_at: datetime = Field(description="Account creation")
    last_login_at: datetime | None = Field(description="Last sign-in")
    consents: list[ConsentOut] = Field(description="Every consent decision, oldest first")
    devices: list[DeviceOut] = Field(description="Linked installs")
    sessions: list[SessionOut] = Field(description="Sign-in sessions (no token values)")
    other: dict[str, Any] = Field(
        default_factory=dict, description="Data held by other capabilities, by capability"
    )
