"""Every push query."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.models import (
    PushCampaign,
    PushDelivery,
    PushInboxEntry,
    PushNotification,
    PushPreferences,
    PushRegistration,
    PushTopicSubscription,
)


@dataclass(frozen=True)
class Pending:
    """A delivery due now, with what the sender needs about its device."""

    delivery: PushDelivery
    registration: PushRegistration
    preferences: PushPreferences | None


@dataclass
class PushRepository:
    session: AsyncSession

    @classmethod
    def from_session(cls, session: AsyncSession) -> "PushRepository":
        return cls(session)

    # --- registrations ---

    async def registration_by_installation(
        self, installation_id: str, *, lock: bool = False
    ) -> PushRegistration | None:
        query = select(PushRegistration).where(PushRegistration.installation_id == installation_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def registration(self, registration_id: uuid.UUID) -> PushRegistration | None:
        return await self.session.get(PushRegistration, registration_id)

    async def delete_other_holders_of_token(self, token: str, installation_id: str) -> None:
        await self.session.execute(
            delete(PushRegistration).where(
                PushRegistration.token == token,
                PushRegistration.installation_id != installation_id,
            )
        )

    async def registrations_of(self, owner: str) -> Sequence[PushRegistration]:
        query = (
            select(PushRegistration)
            .where(PushRegistration.owner == owner)
            .order_by(PushRegistration.created_at, PushRegistration.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def enabled_registrations_of(self, owner: str) -> Sequence[PushRegistration]:
        query = select(PushRegistration).where(
            PushRegistration.owner == owner, PushRegistration.enabled.is_(True)
        )
        return (await self.session.execute(query)).scalars().all()

    async def disable(self, registration_ids: Iterable[uuid.UUID], reason: str) -> None:
        ids = list(registration_ids)
        if not ids:
            return
        await self.session.execute(
            update(PushRegistration)
            .where(PushRegistration.id.in_(ids), PushRegistration.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, disabled_at=func.now())
        )

    # --- preferences ---

    async def preferences(self, installation_id: str) -> PushPreferences | None:
        return await self.session.get(PushPreferences, installation_id)

    async def preferences_of(self, installation_ids: Iterable[str]) -> dict[str, PushPreferences]:
        ids = list(installation_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(PushPreferences).where(PushPreferences.installation_id.in_(ids))
        )
        return {row.installation_id: row for row in rows.scalars()}

    # --- topic subscriptions ---

    async def subscriptions(self, registration_id: uuid.UUID) -> dict[str, PushTopicSubscription]:
        rows = await self.session.execute(
            select(PushTopicSubscription).where(
                PushTopicSubscription.registration_id == registration_id
            )
        )
        return {row.topic: row for row in rows.scalars()}

    async def owners_subscribed_to(self, topics: Iterable[str]) -> set[str]:
        """Owners of an enabled install subscribed to one of these (localized) topics."""
        statement = (
            select(PushRegistration.owner)
            .join(
                PushTopicSubscription,
                PushTopicSubscription.registration_id == PushRegistration.id,
            )
            .where(
                PushTopicSubscription.topic.in_(list(topics)),
                PushTopicSubscription.state == "subscribed",
                PushRegistration.enabled.is_(True),
            )
            .distinct()
        )
        return set((await self.session.scalars(statement)).all())

    async def forget_subscriptions(self, registration_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(PushTopicSubscription).where(
                PushTopicSubscription.registration_id == registration_id
            )
        )

    async def set_subscription(
        self, registration_id: uuid.UUID, topic: str, state: str, error: str | None
    ) -> None:
        statement = insert(PushTopicSubscription).values(
            registration_id=registration_id, topic=topic, state=state, error=error
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["registration_id", "topic"],
                set_={"state": state, "error": error, "updated_at": func.now()},
            )
        )

    async def drop_subscription(self, registration_id: uuid.UUID, topic: str) -> None:
        await self.session.execute(
            delete(PushTopicSubscription).where(
                PushTopicSubscription.registration_id == registration_id,
                PushTopicSubscription.topic == topic,
            )
        )

    # --- notifications, deliveries, inbox ---

    async def notification(self, notification_id: uuid.UUID) -> PushNotification | None:
        return await self.session.get(PushNotification, notification_id)

    async def add_deliveries(
        self, notification_id: uuid.UUID, registration_ids: Iterable[uuid.UUID]
    ) -> int:
        rows = [
            {
                "id": uuid.uuid4(),
                "notification_id": notification_id,
                "registration_id": rid,
                "status": "queued",
                "attempts": 0,
            }
            for rid in registration_ids
        ]
        if rows:
            await self.session.execute(insert(PushDelivery).values(rows).on_conflict_do_nothing())
        return len(rows)

    async def add_inbox(self, notification_id: uuid.UUID, owners: Iterable[str]) -> None:
        rows = [
            {"id": uuid.uuid4(), "owner": owner, "notification_id": notification_id}
            for owner in set(owners)
        ]
        if rows:
            await self.session.execute(insert(PushInboxEntry).values(rows).on_conflict_do_nothing())

    async def due_deliveries(self, notification_id: uuid.UUID, now: datetime) -> list[Pending]:
        """Queued deliveries, and deferred ones whose time has come, locked for this job."""
        query = (
            select(PushDelivery, PushRegistration, PushPreferences)
            .join(PushRegistration, PushRegistration.id == PushDelivery.registration_id)
            .outerjoin(
                PushPreferences,
                PushPreferences.installation_id == PushRegistration.installation_id,
            )
            .where(
                PushDelivery.notification_id == notification_id,
                or_(
                    PushDelivery.status == "queued",
                    (PushDelivery.status == "deferred") & (PushDelivery.deliver_after <= now),
                ),
            )
            .order_by(PushDelivery.id)
            .with_for_update(of=PushDelivery, skip_locked=True)
        )
        rows = await self.session.execute(query)
        return [Pending(delivery, registration, prefs) for delivery, registration, prefs in rows]

    async def next_deferred(self, notification_id: uuid.UUID) -> datetime | None:
        query = select(func.min(PushDelivery.deliver_after)).where(
            PushDelivery.notification_id == notification_id, PushDelivery.status == "deferred"
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def sent_since(
        self, registration_ids: Iterable[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, int]:
        ids = list(registration_ids)
        if not ids:
            return {}
        query = (
            select(PushDelivery.registration_id, func.count())
            .where(
                PushDelivery.registration_id.in_(ids),
                PushDelivery.status == "sent",
                PushDelivery.sent_at >= since,
            )
            .group_by(PushDelivery.registration_id)
        )
        return {rid: int(count) for rid, count in (await self.session.execute(query)).all()}

    async def record(self, delivery_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(PushDelivery).where(PushDelivery.id == delivery_id).values(**values)
        )

    async def refresh_counts(self, notification_id: uuid.UUID) -> None:
        def count(status: str) -> Any:
            return (
                select(func.count())
                .where(PushDelivery.notification_id == notification_id)
                .where(PushDelivery.status == status)
                .scalar_subquery()
            )

        await self.session.execute(
            update(PushNotification)
            .where(PushNotification.id == notification_id)
            .values(
                sent_count=count("sent"),
                failed_count=count("failed"),
                pruned_count=count("pruned"),
                deferred_count=count("deferred"),
            )
        )

    async def inbox(
        self, owner: str, *, unread_only: bool, limit: int, after: list[Any] | None
    ) -> Sequence[tuple[PushInboxEntry, PushNotification]]:
        query = (
            select(PushInboxEntry, PushNotification)
            .join(PushNotification, PushNotification.id == PushInboxEntry.notification_id)
            .where(PushInboxEntry.owner == owner)
            .order_by(PushInboxEntry.created_at.desc(), PushInboxEntry.id.desc())
            .limit(limit)
        )
        if unread_only:
            query = query.where(PushInboxEntry.read_at.is_(None))
        if after:
            created, entry_id = datetime.fromisoformat(after[0]), uuid.UUID(after[1])
            query = query.where(
                or_(
                    PushInboxEntry.created_at < created,
                    (PushInboxEntry.created_at == created) & (PushInboxEntry.id < entry_id),
                )
            )
        return [(entry, notification) for entry, notification in await self.session.execute(query)]

    async def inbox_has(self, owner: str, params: dict[str, str]) -> bool:
        """Whether the owner's inbox holds a notification whose params include ``params``."""
        query = (
            select(PushInboxEntry.id)
            .join(PushNotification, PushNotification.id == PushInboxEntry.notification_id)
            .where(PushInboxEntry.owner == owner, PushNotification.params.contains(params))
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None

    async def mark_read(self, owner: str, entry_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            update(PushInboxEntry)
            .where(PushInboxEntry.id == entry_id, PushInboxEntry.owner == owner)
            .values(read_at=func.coalesce(PushInboxEntry.read_at, func.now()))
            .returning(PushInboxEntry.id)
        )
        return result.first() is not None

    async def purge_notifications_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            delete(PushNotification)
            .where(PushNotification.created_at < cutoff)
            .returning(PushNotification.id)
        )
        return len(result.all())

    # --- campaigns ---

    async def campaign(self, campaign_id: uuid.UUID) -> PushCampaign | None:
        return await self.session.get(PushCampaign, campaign_id)

    async def campaign_by_notification(self, notification_id: uuid.UUID) -> PushCampaign | None:
        query = select(PushCampaign).where(PushCampaign.notification_id == notification_id)
        return (await self.session.execute(query)).scalar_one_or_none()
