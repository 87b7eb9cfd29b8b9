"""Push business rules: registrations, preferences, notify (the one way to push), inbox, campaigns.

Services only flush; the request (or job) commits once. ``notify`` enqueues the durable delivery
job in the caller's transaction: if the business change rolls back, nothing is sent.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from poche_api import jobs
from poche_api.config import Settings
from poche_api.errors import Conflict, Forbidden, NotFound, Unprocessable
from poche_api.kit.timeutil import utcnow
from poche_api.models import (
    PushCampaign,
    PushNotification,
    PushPreferences,
    PushRegistration,
)
from poche_api.notifications import firebase, sender, templates, topics
from poche_api.notifications import tasks as push_tasks
from poche_api.notifications.repository import PushRepository
from poche_api.notifications.schemas import (
    Campaign,
    CampaignIn,
    InboxItem,
    Preferences,
    RegistrationIn,
)

_NOT_YOURS = (
    "Cette installation appartient à un autre compte.",
    "This install belongs to another account.",
)


def _not_found(installation_id: str) -> NotFound:
    return NotFound(
        (f"Installation {installation_id} inconnue.", f"Unknown install {installation_id}."),
        slug="installation-not-found",
    )


async def _owned(repo: PushRepository, principal: str, installation_id: str) -> PushRegistration:
    registration = await repo.registration_by_installation(installation_id)
    if registration is None or registration.owner != principal:
        raise _not_found(installation_id)
    return registration


async def _sync_topics(session: AsyncSession, installation_id: str) -> None:
    await jobs.enqueue(session, push_tasks.SYNC_TOPICS, {"installation_id": installation_id})


# --- registrations ---


async def register(
    session: AsyncSession, principal: str, installation_id: str, data: RegistrationIn
) -> tuple[PushRegistration, bool]:
    """Create or refresh an install's registration; True when it was created.

    Another principal may take an install over only by presenting its current FCM token (the
    app signed in or out on that device); otherwise it is refused.
    """
    repo = PushRepository.from_session(session)
    registration = await repo.registration_by_installation(installation_id, lock=True)
    if (
        registration is not None
        and registration.owner != principal
        and registration.token != data.token
    ):
        raise Forbidden(_NOT_YOURS, slug="installation-owned-elsewhere")
    await repo.delete_other_holders_of_token(data.token, installation_id)
    created = registration is None
    if registration is None:
        registration = PushRegistration(
            id=uuid.uuid4(), installation_id=installation_id, owner=principal, enabled=True
        )
        session.add(registration)
    elif registration.token != data.token:
        await repo.forget_subscriptions(registration.id)  # the new token starts with none
    registration.owner = principal
    registration.token = data.token
    registration.platform = data.platform
    registration.app_version = data.app_version
    registration.locale = data.locale
    registration.time_zone = data.time_zone
    registration.enabled = True
    registration.disabled_reason = None
    registration.disabled_at = None
    if await repo.preferences(installation_id) is None:
        language = "en" if data.locale.lower().startswith("en") else "fr"
        session.add(_preferences_row(installation_id, Preferences(language=language)))
    await session.flush()
    await _sync_topics(session, installation_id)
    await session.refresh(registration)
    return registration, created


async def unregister(session: AsyncSession, principal: str, installation_id: str) -> None:
    repo = PushRepository.from_session(session)
    registration = await _owned(repo, principal, installation_id)
    await repo.disable([registration.id], "unregistered_by_app")
    await _sync_topics(session, installation_id)


async def devices(session: AsyncSession, principal: str) -> list[PushRegistration]:
    return list(await PushRepository.from_session(session).registrations_of(principal))


async def revoke(session: AsyncSession, principal: str, registration_id: uuid.UUID) -> None:
    repo = PushRepository.from_session(session)
    registration = await repo.registration(registration_id)
    if registration is None or registration.owner != principal:
        raise NotFound(("Appareil inconnu.", "Unknown device."), slug="device-not-found")
    await repo.disable([registration.id], "revoked")
    await _sync_topics(session, registration.installation_id)


# --- preferences ---


def _preferences_row(installation_id: str, data: Preferences) -> PushPreferences:
    return PushPreferences(installation_id=installation_id, **data.model_dump())


async def preferences(session: AsyncSession, principal: str, installation_id: str) -> Preferences:
    repo = PushRepository.from_session(session)
    await _owned(repo, principal, installation_id)
    row = await repo.preferences(installation_id)
    return Preferences.model_validate(row) if row is not None else Preferences()


async def set_preferences(
    session: AsyncSession, principal: str, installation_id: str, data: Preferences
) -> Preferences:
    repo = PushRepository.from_session(session)
    await _owned(repo, principal, installation_id)
    row = await repo.preferences(installation_id)
    if row is None:
        session.add(_preferences_row(installation_id, data))
    else:
        for name, value in data.model_dump().items():
            setattr(row, name, value)
    await session.flush()
    await _sync_topics(session, installation_id)
    return data


# --- notify ---


@dataclass(frozen=True)
class Target:
    """Exactly one of: an installation, a principal's devices, or an FCM topic base name."""

    installation_id: str | None = None
    principal: str | None = None
    topic: str | None = None

    def kind(self) -> tuple[str, str]:
        given = [
            (name, value)
            for name, value in (
                ("device", self.installation_id),
                ("principal", self.principal),
                ("topic", self.topic),
            )
            if value
        ]
        if len(given) != 1:
            raise ValueError("a notification has exactly one target")
        return given[0]


def _wants(
    prefs: PushPreferences | None, policy: templates.KindPolicy, params: dict[str, Any]
) -> bool:
    if prefs is None:
        return True
    if policy.channel == "transport":
        line, stop = params.get("line"), params.get("stop")
        if line is None and stop is None:
            return True
        return line in prefs.transport_lines or stop in prefs.transport_stops
    if policy.channel == "waste":
        stream = params.get("stream")
        return stream is None or stream in prefs.waste_streams
    return {
        "incident": prefs.incident_updates,
        "water": prefs.water_alerts,
        "news": prefs.metropole_news,
        "crisis": prefs.crisis,
    }[policy.channel]


async def notify(
    session: AsyncSession,
    *,
    kind: str,
    template: str,
    params: dict[str, Any],
    target: Target,
    deep_link: str | None = None,
    campaign_id: uuid.UUID | None = None,
) -> PushNotification:
    """Record a notification and enqueue its delivery in the caller's transaction."""
    templates.check(kind, template, params)
    target_type, target_value = target.kind()
    if target_type == "topic" and not topics.TOPIC_RE.match(target_value):
        raise ValueError(f"malformed topic {target_value!r}")
    if deep_link is not None and not deep_link.startswith("poche://"):
        raise ValueError("deep links use the poche:// scheme")
    policy = templates.KINDS[kind]
    now = utcnow()
    notification = PushNotification(
        id=uuid.uuid4(),
        kind=kind,
        template=template,
        params=params,
        target_type=target_type,
        target=target_value,
        collapse_key=templates.collapse_key(kind, params),
        ttl_seconds=policy.ttl_seconds,
        priority=policy.priority,
        deep_link=deep_link,
        crisis=policy.crisis,
        campaign_id=campaign_id,
        sent_count=0,
        failed_count=0,
        pruned_count=0,
        deferred_count=0,
        expires_at=now + timedelta(seconds=policy.ttl_seconds) if policy.ttl_seconds else None,
    )
    session.add(notification)
    await session.flush()
    repo = PushRepository.from_session(session)
    registrations: list[PushRegistration] = []
    if target_type == "device":
        registration = await repo.registration_by_installation(target_value)
        if registration is not None and registration.enabled:
            registrations = [registration]
        if registration is not None:
            await repo.add_inbox(notification.id, [registration.owner])
    elif target_type == "principal":
        registrations = list(await repo.enabled_registrations_of(target_value))
        await repo.add_inbox(notification.id, [target_value])
    prefs = await repo.preferences_of(r.installation_id for r in registrations)
    wanted = [r.id for r in registrations if _wants(prefs.get(r.installation_id), policy, params)]
    await repo.add_deliveries(notification.id, wanted)
    await jobs.enqueue(session, push_tasks.DELIVER, {"notification_id": str(notification.id)})
    return notification


# --- inbox ---


async def inbox(
    session: AsyncSession,
    principal: str,
    *,
    language: str,
    unread_only: bool,
    limit: int,
    after: list[Any] | None,
) -> list[tuple[InboxItem, list[Any]]]:
    rows = await PushRepository.from_session(session).inbox(
        principal, unread_only=unread_only, limit=limit, after=after
    )
    items = []
    for entry, notification in rows:
        title, body = templates.render(notification.template, language, notification.params)
        item = InboxItem(
            id=entry.id,
            notification_id=notification.id,
            kind=notification.kind,
            title=title,
            body=body,
            deep_link=notification.deep_link,
            created_at=entry.created_at,
            read=entry.read_at is not None,
        )
        items.append((item, [entry.created_at.isoformat(), str(entry.id)]))
    return items


async def mark_read(session: AsyncSession, principal: str, entry_id: uuid.UUID) -> None:
    if not await PushRepository.from_session(session).mark_read(principal, entry_id):
        raise NotFound(("Notification inconnue.", "Unknown notification."), slug="inbox-not-found")


# --- campaigns ---


def _campaign_topic(data: CampaignIn) -> str:
    value = data.target_value.strip()
    if data.target_type == "crisis":
        return topics.crisis(value or None)
    if not value:
        raise Unprocessable(
            ("Cible manquante.", "A target value is required."), slug="campaign-target-missing"
        )
    if data.target_type == "commune":
        return topics.crisis(value) if data.crisis else topics.commune(value)
    if data.target_type == "sector":
        return topics.sector(value)
    if not topics.TOPIC_RE.match(value) or "." in value:
        raise Unprocessable(
            ("Nom de sujet invalide.", "Invalid topic name."), slug="campaign-topic-invalid"
        )
    return value


def _campaign_params(data: CampaignIn) -> dict[str, str]:
    return {
        "title_fr": data.title_fr,
        "body_fr": data.body_fr,
        "title_en": data.title_en,
        "body_en": data.body_en,
    }


async def create_campaign(
    session: AsyncSession, settings: Settings, supervisor: str, data: CampaignIn
) -> PushCampaign:
    """Record a campaign after an FCM dry run (``validate_only``) of each language's message."""
    topic = _campaign_topic(data)
    crisis = data.crisis or data.target_type == "crisis"
    preview = PushNotification(
        id=uuid.uuid4(),
        kind="crisis" if crisis else "metropole_news",
        template="free_text",
        params=_campaign_params(data),
        target_type="topic",
        target=topic,
        priority="high" if crisis else "normal",
        deep_link=data.deep_link,
        crisis=crisis,
    )
    now = utcnow()
    messages = [
        sender.build_message(
            preview, language=language, now=now, topic=topics.localized(topic, language)
        )
        for language in topics.LANGUAGES
    ]
    responses = await sender.send_batch(messages, firebase.get_app(settings), dry_run=True)
    refused = [str(r.exception) for r in responses if not r.success]
    campaign = PushCampaign(
        id=uuid.uuid4(),
        target_type=data.target_type,
        target_value=data.target_value,
        topic=topic,
        title={"fr": data.title_fr, "en": data.title_en},
        body={"fr": data.body_fr, "en": data.body_en},
        deep_link=data.deep_link,
        status="invalid" if refused else "validated",
        validation_error=refused[0][:512] if refused else None,
        created_by=supervisor,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def send_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> PushCampaign:
    repo = PushRepository.from_session(session)
    campaign = await repo.campaign(campaign_id)
    if campaign is None:
        raise NotFound(("Campagne inconnue.", "Unknown campaign."), slug="campaign-not-found")
    if campaign.status != "validated":
        raise Conflict(
            (
                "Seule une campagne validée par l'essai FCM peut partir.",
                "Only a campaign the FCM dry run validated can be sent.",
            ),
            slug="campaign-not-validated",
        )
    crisis = campaign.topic.startswith("crisis")
    notification = await notify(
        session,
        kind="crisis" if crisis else "metropole_news",
        template="free_text",
        params={
            "title_fr": campaign.title["fr"],
            "body_fr": campaign.body["fr"],
            "title_en": campaign.title["en"],
            "body_en": campaign.body["en"],
        },
        target=Target(topic=campaign.topic),
        deep_link=campaign.deep_link,
        campaign_id=campaign.id,
    )
    campaign.notification_id = notification.id
    campaign.status = "queued"
    await session.flush()
    return campaign


async def campaign_view(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    repo = PushRepository.from_session(session)
    campaign = await repo.campaign(campaign_id)
    if campaign is None:
        raise NotFound(("Campagne inconnue.", "Unknown campaign."), slug="campaign-not-found")
    notification = (
        await repo.notification(campaign.notification_id) if campaign.notification_id else None
    )
    return Campaign(
        id=campaign.id,
        target_type=campaign.target_type,  # stored from CampaignTarget
        target_value=campaign.target_value,
        topic=campaign.topic,
        status=campaign.status,  # written only by this module
        validation_error=campaign.validation_error,
        created_at=campaign.created_at,
        sent_at=campaign.sent_at,
        messages_sent=notification.sent_count if notification else 0,
        messages_failed=notification.failed_count if notification else 0,
        fcm_message_id=notification.fcm_message_id if notification else None,
    )
