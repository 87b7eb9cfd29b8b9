"""Incidents: categories, routing rules, reports, photos, history, follows, feedback, moderation.

Revision ID: 0005_incidents
Revises: 0004_transport
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_incidents"
down_revision: str | None = "0004_transport"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "incident_sync_operations",
    "incident_moderations",
    "incident_feedback",
    "incident_follows",
    "incident_events",
    "incident_photos",
    "incident_reports",
    "incident_routing_rules",
    "incident_categories",
    "incident_groups",
)


def upgrade() -> None:
    op.create_table(
        "incident_groups",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_fr", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_groups")),
        sa.UniqueConstraint("code", name=op.f("uq_incident_groups_code")),
    )
    op.create_table(
        "incident_categories",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("name_fr", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_fr", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("keywords", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("competence", sa.String(length=16), nullable=False),
        sa.Column("external_body", sa.String(length=200), nullable=True),
        sa.Column("external_notice_fr", sa.Text(), nullable=True),
        sa.Column("external_notice_en", sa.Text(), nullable=True),
        sa.Column("emergency_notice_fr", sa.Text(), nullable=True),
        sa.Column("emergency_notice_en", sa.Text(), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("photo_required", sa.Boolean(), nullable=False),
        sa.Column("sla_working_days", sa.SmallInteger(), nullable=True),
        sa.Column("default_priority", sa.SmallInteger(), nullable=False),
        sa.Column("duplicate_radius_m", sa.Integer(), nullable=False),
        sa.Column("photo_retention_days", sa.Integer(), nullable=False),
        sa.Column("contact_retention_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "competence IN ('metropole', 'commune', 'external')",
            name=op.f("ck_incident_categories_competence"),
        ),
        sa.CheckConstraint(
            "default_priority BETWEEN 1 AND 4", name=op.f("ck_incident_categories_priority")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["incident_groups.id"],
            name=op.f("fk_incident_categories_group_id_incident_groups"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_incident_categories_code")),
    )
    op.create_index(
        op.f("ix_incident_categories_group_id"), "incident_categories", ["group_id"], unique=False
    )
    op.create_table(
        "incident_routing_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category_codes", postgresql.ARRAY(sa.String(length=64)), nullable=True),
        sa.Column("commune_insee", postgresql.ARRAY(sa.String(length=5)), nullable=True),
        sa.Column("sector", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("weekdays", postgresql.ARRAY(sa.SmallInteger()), nullable=True),
        sa.Column("starts_at", sa.Time(), nullable=True),
        sa.Column("ends_at", sa.Time(), nullable=True),
        sa.Column("min_priority", sa.SmallInteger(), nullable=True),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_incident_routing_rules_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_routing_rules")),
    )
    op.create_index(
        op.f("ix_incident_routing_rules_position"),
        "incident_routing_rules",
        ["position"],
        unique=False,
    )
    op.create_index(
        op.f("ix_incident_routing_rules_team_id"),
        "incident_routing_rules",
        ["team_id"],
        unique=False,
    )
    op.create_table(
        "incident_reports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tracking_code", sa.String(length=16), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("commune_insee", sa.String(length=5), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("description_redacted", sa.Boolean(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reporter", sa.String(length=64), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column("routing_rule_id", sa.UUID(), nullable=True),
        sa.Column("assignee_id", sa.UUID(), nullable=True),
        sa.Column("scheduled_for", sa.Date(), nullable=True),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.Column("duplicate_of_id", sa.UUID(), nullable=True),
        sa.Column("supporters", sa.Integer(), nullable=False),
        sa.Column("sla_due_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("escalated_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("resolved_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("closed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("contact_purged_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["staff_members.id"],
            name=op.f("fk_incident_reports_assignee_id_staff_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["incident_categories.id"],
            name=op.f("fk_incident_reports_category_id_incident_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_reports_duplicate_of_id_incident_reports"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["routing_rule_id"],
            ["incident_routing_rules.id"],
            name=op.f("fk_incident_reports_routing_rule_id_incident_routing_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_incident_reports_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_reports")),
        sa.UniqueConstraint("tracking_code", name=op.f("uq_incident_reports_tracking_code")),
    )
    op.create_index(
        "ix_incident_reports_assignee", "incident_reports", ["assignee_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_incident_reports_commune_insee"),
        "incident_reports",
        ["commune_insee"],
        unique=False,
    )
    op.create_index("ix_incident_reports_lat_lon", "incident_reports", ["lat", "lon"], unique=False)
    op.create_index(
        "ix_incident_reports_open_category",
        "incident_reports",
        ["category_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index(
        "ix_incident_reports_reporter", "incident_reports", ["reporter", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_incident_reports_status"), "incident_reports", ["status"], unique=False
    )
    op.create_index(
        "ix_incident_reports_team_queue",
        "incident_reports",
        ["team_id", "status", "sla_due_at"],
        unique=False,
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column(
            "at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("public_note", sa.Text(), nullable=True),
        sa.Column("internal_note", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_events_report_id_incident_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(
        op.f("ix_incident_events_report_id"), "incident_events", ["report_id"], unique=False
    )
    op.create_table(
        "incident_feedback",
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_incident_feedback_rating")),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_feedback_report_id_incident_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "principal", name=op.f("pk_incident_feedback")),
    )
    op.create_table(
        "incident_follows",
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("supporter", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_follows_report_id_incident_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "principal", name=op.f("pk_incident_follows")),
    )
    op.create_index(
        op.f("ix_incident_follows_principal"), "incident_follows", ["principal"], unique=False
    )
    op.create_table(
        "incident_moderations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("photo_id", sa.UUID(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_moderations_report_id_incident_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_moderations")),
    )
    op.create_index(
        op.f("ix_incident_moderations_report_id"),
        "incident_moderations",
        ["report_id"],
        unique=False,
    )
    op.create_table(
        "incident_photos",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("variants", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=True),
        sa.Column("purged_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_photos_report_id_incident_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_photos")),
    )
    op.create_index(
        op.f("ix_incident_photos_report_id"), "incident_photos", ["report_id"], unique=False
    )

    op.create_table(
        "incident_sync_operations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "applied_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["incident_reports.id"],
            name=op.f("fk_incident_sync_operations_report_id_incident_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_incident_sync_operations_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_sync_operations")),
    )
    op.create_index(
        op.f("ix_incident_sync_operations_staff_id"),
        "incident_sync_operations",
        ["staff_id"],
        unique=False,
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
