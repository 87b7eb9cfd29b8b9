"""Push notifications: registrations, preferences, topic state, campaigns, notifications,
per-device deliveries and the inbox.

Revision ID: 0003_push
Revises: 0002_identity
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_push"
down_revision: str | None = "0002_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = postgresql.TIMESTAMP(timezone=True)
UUID = postgresql.UUID(as_uuid=True)


def _stamps(*names: str) -> list[sa.Column[object]]:
    return [
        sa.Column(name, TIMESTAMPTZ, server_default=sa.func.now(), nullable=False) for name in names
    ]


def upgrade() -> None:
    op.create_table(
        "push_registrations",
        sa.Column("id", UUID, nullable=False),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("token", sa.String(512), nullable=False),
        sa.Column("platform", sa.String(8), nullable=False),
        sa.Column("app_version", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(32), nullable=True),
        sa.Column("disabled_at", TIMESTAMPTZ, nullable=True),
        *_stamps("created_at", "updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_registrations")),
        sa.UniqueConstraint("installation_id", name=op.f("uq_push_registrations_installation_id")),
        sa.UniqueConstraint("token", name=op.f("uq_push_registrations_token")),
    )
    op.create_index(op.f("ix_push_registrations_owner"), "push_registrations", ["owner"])
    op.create_table(
        "push_preferences",
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("transport_lines", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("transport_stops", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("waste_sector", sa.String(32), nullable=True),
        sa.Column("waste_streams", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("commune_insee", sa.String(5), nullable=True),
        sa.Column("incident_updates", sa.Boolean(), nullable=False),
        sa.Column("water_alerts", sa.Boolean(), nullable=False),
        sa.Column("metropole_news", sa.Boolean(), nullable=False),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("quiet_hours_enabled", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=False),
        sa.Column("quiet_end", sa.Time(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        *_stamps("updated_at"),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_push_preferences")),
    )
    op.create_table(
        "push_topic_subscriptions",
        sa.Column("registration_id", UUID, nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("error", sa.String(64), nullable=True),
        *_stamps("updated_at"),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["push_registrations.id"],
            name=op.f("fk_push_topic_subscriptions_registration_id_push_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "registration_id", "topic", name=op.f("pk_push_topic_subscriptions")
        ),
    )
    op.create_table(
        "push_campaigns",
        sa.Column("id", UUID, nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_value", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("title", postgresql.JSONB(), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("deep_link", sa.String(512), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("validation_error", sa.String(512), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("notification_id", UUID, nullable=True),
        *_stamps("created_at"),
        sa.Column("sent_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_campaigns")),
    )
    op.create_table(
        "push_notifications",
        sa.Column("id", UUID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("collapse_key", sa.String(64), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("deep_link", sa.String(512), nullable=True),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", UUID, nullable=True),
        sa.Column("fcm_message_id", sa.String(256), nullable=True),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("pruned_count", sa.Integer(), nullable=False),
        sa.Column("deferred_count", sa.Integer(), nullable=False),
        *_stamps("created_at"),
        sa.Column("expires_at", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_notifications")),
    )
    op.create_index(op.f("ix_push_notifications_created_at"), "push_notifications", ["created_at"])
    op.create_table(
        "push_deliveries",
        sa.Column("id", UUID, nullable=False),
        sa.Column("notification_id", UUID, nullable=False),
        sa.Column("registration_id", UUID, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("fcm_message_id", sa.String(256), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("deliver_after", TIMESTAMPTZ, nullable=True),
        sa.Column("sent_at", TIMESTAMPTZ, nullable=True),
        *_stamps("created_at", "updated_at"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["push_notifications.id"],
            name=op.f("fk_push_deliveries_notification_id_push_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["push_registrations.id"],
            name=op.f("fk_push_deliveries_registration_id_push_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint(
            "notification_id", "registration_id", name=op.f("uq_push_deliveries_notification_id")
        ),
    )
    op.create_index(
        "ix_push_deliveries_registration_id_sent_at",
        "push_deliveries",
        ["registration_id", "sent_at"],
    )
    op.create_table(
        "push_inbox",
        sa.Column("id", UUID, nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("notification_id", UUID, nullable=False),
        sa.Column("read_at", TIMESTAMPTZ, nullable=True),
        *_stamps("created_at"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["push_notifications.id"],
            name=op.f("fk_push_inbox_notification_id_push_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_inbox")),
        sa.UniqueConstraint("owner", "notification_id", name=op.f("uq_push_inbox_owner")),
    )
    op.create_index("ix_push_inbox_owner_created_at", "push_inbox", ["owner", "created_at"])


def downgrade() -> None:
    op.drop_table("push_inbox")
    op.drop_table("push_deliveries")
    op.drop_table("push_notifications")
    op.drop_table("push_campaigns")
    op.drop_table("push_topic_subscriptions")
    op.drop_table("push_preferences")
    op.drop_table("push_registrations")
