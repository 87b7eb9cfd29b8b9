"""Push notifications: registrations, preferences, topic state, notifications, deliveries, inbox.

Owners are principal ids (an anonymous device credential or a resident account, decided by the
identity capability); an installation is the app install that generated ``installation_id``.
"""

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from poche_api.db import Base


class PushRegistration(Base):
    """One app installation's FCM registration token, owned by a principal."""

    __tablename__ = "push_registrations"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    installation_id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    token: Mapped[str] = mapped_column(String(512), unique=True)
    platform: Mapped[str] = mapped_column(String(8))  # android | ios | web
    app_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    time_zone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # unregistered | sender_id_mismatch | invalid_token | revoked | unregistered_by_app
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PushPreferences(Base):
    """What an installation wants to receive, when, and in which language."""

    __tablename__ = "push_preferences"

    installation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    transport_lines: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    transport_stops: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    waste_sector: Mapped[str | None] = mapped_column(String(32))
    waste_streams: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    commune_insee: Mapped[str | None] = mapped_column(String(5))
    incident_updates: Mapped[bool] = mapped_column(Boolean, default=True)
    water_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    metropole_news: Mapped[bool] = mapped_column(Boolean, default=False)
    crisis: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_hours_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[time] = mapped_column(Time, default=time(22, 0))
    quiet_end: Mapped[time] = mapped_column(Time, default=time(7, 0))
    daily_cap: Mapped[int] = mapped_column(Integer, default=5)
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PushTopicSubscription(Base):
    """A registration's FCM topic, as last confirmed by FCM (``subscribed``) or still to do."""

    __tablename__ = "push_topic_subscriptions"

    registration_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("push_registrations.id", ondelete="CASCADE"),
        primary_key=True,
    )
    topic: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(24))  # subscribed | failed
    error: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PushCampaign(Base):
    """A supervisor's message to a commune, sector, topic or everyone (crisis)."""

    __tablename__ = "push_campaigns"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    target_type: Mapped[str] = mapped_column(String(16))  # commune | sector | topic | crisis
    target_value: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(128))
    title: Mapped[dict[str, str]] = mapped_column(JSONB)  # {"fr": ..., "en": ...}
    body: Mapped[dict[str, str]] = mapped_column(JSONB)
    deep_link: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))  # validated | invalid | queued | sent
    validation_error: Mapped[str | None] = mapped_column(String(512))
    created_by: Mapped[str] = mapped_column(String(128))
    notification_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class PushNotification(Base):
    """One message to send (rendered per device language) and its delivery counts."""

    __tablename__ = "push_notifications"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    target_type: Mapped[str] = mapped_column(String(16))  # device | principal | topic
    target: Mapped[str] = mapped_column(String(128))
    collapse_key: Mapped[str | None] = mapped_column(String(64))
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(8))  # normal | high
    deep_link: Mapped[str | None] = mapped_column(String(512))
    crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    fcm_message_id: Mapped[str | None] = mapped_column(String(256))  # topic sends
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    pruned_count: Mapped[int] = mapped_column(Integer, default=0)
    deferred_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), index=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class PushDelivery(Base):
    """One notification to one registration: recorded right after its batch returns."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "registration_id"),
        Index("ix_push_deliveries_registration_id_sent_at", "registration_id", "sent_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("push_notifications.id", ondelete="CASCADE")
    )
    registration_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("push_registrations.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(10))  # queued|sent|failed|pruned|deferred
    fcm_message_id: Mapped[str | None] = mapped_column(String(256))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    deliver_after: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PushInboxEntry(Base):
    """A notification as the principal's inbox shows it, read or not."""

    __tablename__ = "push_inbox"
    __table_args__ = (
        UniqueConstraint("owner", "notification_id"),
        Index("ix_push_inbox_owner_created_at", "owner", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(128))
    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("push_notifications.id", ondelete="CASCADE")
    )
    read_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
