"""Push notification API schemas."""

import uuid
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

Platform = Literal["android", "ios", "web"]
LanguageCode = Literal["fr", "en"]
CampaignTarget = Literal["commune", "sector", "topic", "crisis"]

ID_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"
TOKEN_PATTERN = r"^[A-Za-z0-9_\-:.]{32,512}$"  # noqa: S105 - a regex, not a secret
LINK_PATTERN = r"^poche://[A-Za-z0-9_\-./?=&%]*$"


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(pattern=TOKEN_PATTERN, description="FCM registration token of the install")
    platform: Platform = Field(description="android, ios or web")
    app_version: str = Field(max_length=32, description="App version, e.g. `3.2.0`")
    locale: str = Field(
        "fr-FR", max_length=16, pattern=r"^[a-zA-Z]{2}(-[a-zA-Z0-9]{2,8})?$", description="Locale"
    )
    time_zone: str = Field(
        "Europe/Paris", max_length=64, description="IANA time zone of the device (quiet hours)"
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone") from exc
        return value


class Registration(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Registration id (used to revoke a device)")
    installation_id: str = Field(description="Id the app generated for this install")
    platform: Platform = Field(description="android, ios or web")
    app_version: str = Field(description="App version")
    locale: str = Field(description="Device locale")
    time_zone: str = Field(description="IANA time zone")
    enabled: bool = Field(description="False once FCM refused the token or it was revoked")
    disabled_reason: str | None = Field(
        None,
        description="unregistered, sender_id_mismatch, invalid_token, revoked or "
        "unregistered_by_app",
    )
    created_at: datetime = Field(description="First registration")
    updated_at: datetime = Field(description="Last change (e.g. refreshed token)")


class Preferences(BaseModel):
    """What an installation receives. PUT replaces them all."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    language: LanguageCode = Field("fr", description="Language of the messages")
    transport_lines: list[str] = Field(
        default_factory=list,
        max_length=30,
        description="Followed lines: route ids as `/v1/transport/lines` gives them (e.g. `TCAR:91`)",
    )
    transport_stops: list[str] = Field(
        default_factory=list, max_length=30, description="Followed stops (departure alerts)"
    )
    waste_sector: str | None = Field(
        None, max_length=32, description="Waste collection sector of the home address"
    )
    waste_streams: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Streams to be reminded of (householdtrash, recyclable, glass, organic, ...)",
    )
    commune_insee: str | None = Field(
        None, pattern=r"^\d[0-9AB]\d{3}$", description="INSEE code of the home commune"
    )
    incident_updates: bool = Field(True, description="Updates on my reports")
    water_alerts: bool = Field(True, description="Water account alerts (leak, overuse)")
    metropole_news: bool = Field(False, description="News of the Métropole and my commune")
    crisis: bool = Field(True, description="Crisis alerts (they ignore quiet hours and the cap)")
    quiet_hours_enabled: bool = Field(True, description="Hold non-crisis messages at night")
    quiet_start: time = Field(time(22, 0), description="Start of quiet hours, device local time")
    quiet_end: time = Field(time(7, 0), description="End of quiet hours, device local time")
    daily_cap: int = Field(
        5, ge=1, le=20, description="Most non-crisis messages per device per day (RGESN 4.13)"
    )

    @field_validator("transport_lines", "transport_stops", "waste_streams")
    @classmethod
    def _short_ids(cls, values: list[str]) -> list[str]:
        if any(not 0 < len(value) <= 32 for value in values):
            raise ValueError("each id has 1 to 32 characters")
        return sorted(set(values))


class InboxItem(BaseModel):
    id: uuid.UUID = Field(description="Inbox entry id (mark it read with this)")
    notification_id: uuid.UUID = Field(description="The notification")
    kind: str = Field(description="Kind, e.g. `incident_update`")
    title: str = Field(description="Title in the requested language")
    body: str = Field(description="Text in the requested language")
    deep_link: str | None = Field(None, description="Where the app opens (`poche://...`)")
    created_at: datetime = Field(description="When it was sent")
    read: bool = Field(description="Whether it was marked read")


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: CampaignTarget = Field(description="commune, sector, topic or crisis")
    target_value: str = Field(
        "",
        max_length=64,
        description="INSEE code, sector id or topic base name; empty for a Métropole-wide crisis",
    )
    crisis: bool = Field(False, description="A crisis alert (ignores quiet hours)")
    title_fr: str = Field(min_length=1, max_length=120, description="Title in French")
    body_fr: str = Field(min_length=1, max_length=1000, description="Text in French")
    title_en: str = Field(min_length=1, max_length=120, description="Title in English")
    body_en: str = Field(min_length=1, max_length=1000, description="Text in English")
    deep_link: str | None = Field(
        None, max_length=512, pattern=LINK_PATTERN, description="App link (`poche://...`)"
    )


class Campaign(BaseModel):
    id: uuid.UUID = Field(description="Campaign id")
    target_type: CampaignTarget = Field(description="commune, sector, topic or crisis")
    target_value: str = Field(description="What was targeted")
    topic: str = Field(description="FCM topic base (one topic per language: `<base>.fr|en`)")
    status: Literal["validated", "invalid", "queued", "sent", "deferred"] = Field(
        description="validated by the FCM dry run, invalid, queued, deferred or sent"
    )
    validation_error: str | None = Field(None, description="What FCM refused in the dry run")
    created_at: datetime = Field(description="Creation (and dry run) time")
    sent_at: datetime | None = Field(None, description="When the messages left")
    messages_sent: int = Field(description="Topic messages FCM accepted (one per language)")
    messages_failed: int = Field(description="Topic messages FCM refused")
    fcm_message_id: str | None = Field(None, description="FCM message id of the last send")
