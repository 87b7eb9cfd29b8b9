"""Incident reports: categories, routing rules, reports, their photos, history, follows, feedback.

A report's ``reporter`` and a follow's ``principal`` are identity's principal keys
(``resident:<uuid>`` or ``device:<uuid>``), so signing in later links a device's reports to the
account the same way push registrations are linked. ``version`` is bumped on every change and is
the report's ETag for optimistic concurrency (If-Match).
"""

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from poche_api.db import Base

TIMESTAMPTZ = TIMESTAMP(timezone=True)


class IncidentGroup(Base):
    """The first level of the category tree (e.g. "Voirie", "Propreté")."""

    __tablename__ = "incident_groups"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class IncidentCategory(Base):
    """A reportable category: an Open311 service with its attributes and handling rules."""

    __tablename__ = "incident_categories"
    __table_args__ = (
        CheckConstraint("competence IN ('metropole', 'commune', 'external')", name="competence"),
        CheckConstraint("default_priority BETWEEN 1 AND 4", name="priority"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the Open311 service_code
    group_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_groups.id", ondelete="RESTRICT"), index=True
    )
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_fr: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    # Open311 service definition attributes, validated by incidents.schemas.AttributeDefinition.
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    competence: Mapped[str] = mapped_column(String(16), default="metropole")
    # For an outside body (gas network, water company...): its name and the notice replacing the form.
    external_body: Mapped[str | None] = mapped_column(String(200))
    external_notice_fr: Mapped[str | None] = mapped_column(Text)
    external_notice_en: Mapped[str | None] = mapped_column(Text)
    # An emergency ("smell of gas: call 0 800 47 33 33") blocks submission outright.
    emergency_notice_fr: Mapped[str | None] = mapped_column(Text)
    emergency_notice_en: Mapped[str | None] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    photo_required: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_working_days: Mapped[int | None] = mapped_column(SmallInteger)
    default_priority: Mapped[int] = mapped_column(SmallInteger, default=2)  # 1 low .. 4 urgent
    duplicate_radius_m: Mapped[int] = mapped_column(Integer, default=50)
    photo_retention_days: Mapped[int] = mapped_column(Integer, default=365)
    contact_retention_days: Mapped[int] = mapped_column(Integer, default=365)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())


class RoutingRule(Base):
    """One ordered routing rule; every condition left empty matches anything. First match wins."""

    __tablename__ = "incident_routing_rules"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    category_codes: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    commune_insee: Mapped[list[str] | None] = mapped_column(ARRAY(String(5)))
    # A sector drawn by the Métropole: a GeoJSON MultiPolygon of [lon, lat] rings.
    sector: Mapped[list[Any] | None] = mapped_column(JSONB)
    weekdays: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))  # 0 = Monday
    starts_at: Mapped[time | None] = mapped_column(Time)  # Europe/Paris wall clock
    ends_at: Mapped[time | None] = mapped_column(Time)
    min_priority: Mapped[int | None] = mapped_column(SmallInteger)
    team_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())


class IncidentReport(Base):
    __tablename__ = "incident_reports"
    __table_args__ = (
        Index("ix_incident_reports_team_queue", "team_id", "status", "sla_due_at"),
        Index("ix_incident_reports_assignee", "assignee_id", "status"),
        Index("ix_incident_reports_lat_lon", "lat", "lon"),
        Index(
            "ix_incident_reports_open_category",
            "category_id",
            "created_at",
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_incident_reports_reporter", "reporter", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    category_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_categories.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(24), index=True)
    priority: Mapped[int] = mapped_column(SmallInteger)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    commune_insee: Mapped[str] = mapped_column(String(5), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    description_redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    reporter: Mapped[str | None] = mapped_column(String(64))  # principal key, erased on retention
    contact_email: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16), default="app")  # app | open311 | staff
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="SET NULL")
    )
    routing_rule_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_routing_rules.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    scheduled_for: Mapped[date | None] = mapped_column(Date)
    resolution_reason: Mapped[str | None] = mapped_column(Text)  # rejection reason, outside body
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="SET NULL")
    )
    supporters: Mapped[int] = mapped_column(Integer, default=0)
    sla_due_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ)
    escalated_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ)
    resolved_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ)
    closed_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_purged_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ)  # retention job
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class IncidentPhoto(Base):
    """A re-encoded photo (WebP variants); ``kind`` is the resident's or the agent's after-fix."""

    __tablename__ = "incident_photos"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    report_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="report")  # report | after_fix
    # variant name -> {"key": storage key, "width": w, "height": h, "bytes": n}
    variants: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ)  # retention removed the files
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())


class IncidentEvent(Base):
    """Append-only history: who did what, with public and internal notes."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())
    actor: Mapped[str] = mapped_column(String(64))  # principal key, or "system"
    actor_role: Mapped[str] = mapped_column(
        String(16)
    )  # reporter | resident | agent | ... | system
    action: Mapped[str] = mapped_column(String(24))  # created | transition | routed | note | ...
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    public_note: Mapped[str | None] = mapped_column(Text)
    internal_note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class IncidentFollow(Base):
    __tablename__ = "incident_follows"

    report_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    supporter: Mapped[bool] = mapped_column(Boolean, default=False)  # "me too", counted
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())


class IncidentFeedback(Base):
    __tablename__ = "incident_feedback"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),)

    report_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())


class IncidentModeration(Base):
    """Audit log of supervisors' moderation (hide, redact, restore)."""

    __tablename__ = "incident_moderations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="CASCADE"), index=True
    )
    photo_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(
        String(24)
    )  # hide_report | redact_description | hide_photo ...
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())


class IncidentSyncOperation(Base):
    """An offline operation an agent's app replayed through the sync endpoint, applied once."""

    __tablename__ = "incident_sync_operations"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # client-made
    staff_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    report_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id", ondelete="CASCADE")
    )
    status_code: Mapped[int] = mapped_column(SmallInteger)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    applied_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())
