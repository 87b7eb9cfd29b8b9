"""Push jobs: deliver a notification, keep a device's FCM topics in sync, purge old logs.

Delivery guarantees (``notifications.deliver``):

* Every device send is recorded (``sent`` + FCM message id) in a commit right after its batch of
  at most ``POCHE_PUSH_BATCH_SIZE`` (≤ 500) returns. A job that runs again (retry, or another
  worker after this one died) only picks deliveries still ``queued`` (or ``deferred`` and due),
  so it never resends to a device recorded as sent.
* The only duplicate window is the one batch in flight when a worker dies: FCM accepted those
  messages but the commit recording them never happened, so the next run sends that batch again.
  At most one batch per notification can be duplicated, once.
* UNREGISTERED, SENDER_ID_MISMATCH and invalid-token answers prune the device (its registration is
  disabled); UNAVAILABLE, INTERNAL and QUOTA_EXCEEDED leave it queued and the job retries with
  backoff and jitter, no sooner than FCM's Retry-After; THIRD_PARTY_AUTH_ERROR fails the device,
  logs an error and counts ``poche_push_third_party_auth_errors_total``, without retry.
* Quiet hours defer non-crisis messages to their end in the device's time zone (a new job is
  enqueued for then); the daily cap (Europe/Paris day) drops non-crisis messages beyond it: they
  stay in the inbox.
* Only one run per notification at a time (a Redis lease), so a deferred run and a retry never
  send the same rows concurrently.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Self

from firebase_admin import messaging
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api import jobs
from poche_api.jobs import JobContext, RetryLater, registry
from poche_api.kit.timeutil import PARIS, utcnow
from poche_api.models import PushNotification
from poche_api.notifications import firebase, policy, sender, topics
from poche_api.notifications.repository import Pending, PushRepository

logger = logging.getLogger(__name__)

DELIVER = "notifications.deliver"
SYNC_TOPICS = "notifications.sync_topics"
TOPIC_RETRYABLE = {
    "UNAVAILABLE",
    "INTERNAL",
    "QUOTA_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "UNKNOWN_ERROR",
    "DEADLINE_EXCEEDED",
}
TOPIC_GONE = {"UNREGISTERED", "NOT_FOUND", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"}
GONE_REASONS = {"INVALID_ARGUMENT": "invalid_token", "SENDER_ID_MISMATCH": "sender_id_mismatch"}

PUSH_SENDS = Counter("poche_push_sends_total", "FCM sends by outcome", ["outcome"])
THIRD_PARTY_AUTH = Counter(
    "poche_push_third_party_auth_errors_total",
    "FCM THIRD_PARTY_AUTH_ERROR answers: APNs or web push credentials need fixing",
)


class Lease:
    """A per-notification Redis lease so two runs never send the same rows at once.

    It lives twice the job heartbeat and is renewed before each batch, so the lease of a worker
    that died expires about when pgqueuer hands its job to another worker; a run that finds it
    taken retries when it expires.
    """

    def __init__(self, ctx: JobContext, notification_id: uuid.UUID) -> None:
        self.redis = ctx.redis
        self.key = f"push:lease:{notification_id}"
        self.holder = f"{ctx.job_id}:{uuid.uuid4().hex}"
        self.seconds = max(int(2 * ctx.settings.job_heartbeat_seconds), 4)

    async def __aenter__(self) -> Self:
        if not await self.redis.set(self.key, self.holder, nx=True, ex=self.seconds):
            left = await self.redis.ttl(self.key)
            raise RetryLater(
                timedelta(seconds=max(int(left), 0) + 1), "another run holds this notification"
            )
        return self

    async def renew(self) -> None:
        await self.redis.expire(self.key, self.seconds)

    async def __aexit__(self, *exc_info: object) -> None:
        holder = await self.redis.get(self.key)
        if (
            holder is not None
            and (holder.decode() if isinstance(holder, bytes) else holder) == self.holder
        ):
            await self.redis.delete(self.key)


def _retry_delay(ctx: JobContext, retry_after: float | None) -> timedelta:
    backoff = jobs.backoff_delay(
        ctx.attempt - 1,
        base=ctx.settings.job_retry_base_seconds,
        cap=ctx.settings.job_retry_max_seconds,
    )
    if retry_after is not None:
        return max(backoff, timedelta(seconds=retry_after))
    return backoff


@registry.job(DELIVER, max_attempts=12)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    notification_id = uuid.UUID(payload["notification_id"])
    app = firebase.get_app(ctx.settings)
    async with Lease(ctx, notification_id) as lease, ctx.session() as session:
        repo = PushRepository.from_session(session)
        notification = await repo.notification(notification_id)
        if notification is None:
            return  # purged
        if notification.target_type == "topic":
            await _deliver_topic(ctx, session, repo, notification, app)
        else:
            await _deliver_devices(ctx, session, repo, notification, app, lease)


async def _triage(
    repo: PushRepository, notification: PushNotification, pending: list[Pending], now: datetime
) -> tuple[list[Pending], bool]:
    """Settle what must not be sent now; return what to send and whether any was deferred."""
    sendable: list[Pending] = []
    deferred = False
    ttl = sender.remaining_ttl(notification, now)
    sent_today = await repo.sent_since(
        [item.registration.id for item in pending], policy.paris_day_start(now)
    )
    for item in pending:
        delivery, registration, prefs = item.delivery, item.registration, item.preferences
        if ttl is not None and ttl <= 0:
            await repo.record(delivery.id, status="failed", error_code="expired")
            continue
        if not registration.enabled:
            await repo.record(delivery.id, status="pruned", error_code="registration_disabled")
            continue
        if not notification.crisis:
            start = prefs.quiet_start if prefs else policy.DEFAULT_QUIET_START
            end = prefs.quiet_end if prefs else policy.DEFAULT_QUIET_END
            enabled = prefs.quiet_hours_enabled if prefs else True
            until = (
                policy.quiet_until(now, policy.zone(registration.time_zone), start, end)
                if enabled
                else None
            )
            if until is not None:
                await repo.record(delivery.id, status="deferred", deliver_after=until)
                deferred = True
                continue
            cap = prefs.daily_cap if prefs else policy.DEFAULT_DAILY_CAP
            if sent_today.get(registration.id, 0) >= cap:
                await repo.record(delivery.id, status="failed", error_code="daily_cap")
                continue
        sendable.append(item)
    return sendable, deferred


async def _deliver_devices(
    ctx: JobContext,
    session: AsyncSession,
    repo: PushRepository,
    notification: PushNotification,
    app: Any,
    lease: Lease,
) -> None:
    now = utcnow()
    pending = await repo.due_deliveries(notification.id, now)
    sendable, deferred = await _triage(repo, notification, pending, now)
    await repo.refresh_counts(notification.id)
    if deferred:
        await _schedule_deferred(session, repo, notification.id, now)
    await session.commit()

    budget = sender.SendBudget(ctx.redis, ctx.settings.push_rate_per_minute)
    size = ctx.settings.push_batch_size
    for start in range(0, len(sendable), size):
        batch = sendable[start : start + size]
        wait = await budget.take(len(batch))
        if wait is not None:
            raise RetryLater(timedelta(seconds=wait), "push send budget exhausted this minute")
        await lease.renew()
        sent_at = utcnow()
        messages = [
            sender.build_message(
                notification,
                language=item.preferences.language if item.preferences else "fr",
                now=sent_at,
                token=item.registration.token,
            )
            for item in batch
        ]
        responses = await sender.send_batch(messages, app)
        retry_after = await _record_batch(repo, batch, responses, sent_at)
        await repo.refresh_counts(notification.id)
        await session.commit()  # the batch is on record: a rerun will not resend it
        if retry_after is not None:
            raise RetryLater(_retry_delay(ctx, retry_after or None), "FCM asked to retry")


async def _record_batch(
    repo: PushRepository,
    batch: list[Pending],
    responses: list[Any],
    sent_at: datetime,
) -> float | None:
    """Record each answer; return the Retry-After to honour (0 = none given) if any must retry."""
    retry: float | None = None
    prune: dict[str, list[uuid.UUID]] = {}
    for item, response in zip(batch, responses, strict=True):
        outcome = sender.classify(response)
        PUSH_SENDS.labels(outcome.action).inc()
        delivery_id = item.delivery.id
        attempts = item.delivery.attempts + 1
        if outcome.action == "sent":
            await repo.record(
                delivery_id,
                status="sent",
                fcm_message_id=outcome.message_id,
                sent_at=sent_at,
                attempts=attempts,
                error_code=None,
            )
        elif outcome.action == "prune":
            await repo.record(
                delivery_id, status="pruned", error_code=outcome.code, attempts=attempts
            )
            prune.setdefault(outcome.code or "pruned", []).append(item.registration.id)
        elif outcome.action == "retry":
            await repo.record(
                delivery_id, status="queued", error_code=outcome.code, attempts=attempts
            )
            retry = max(retry or 0.0, outcome.retry_after or 0.0)
        else:
            if outcome.action == "alert":
                THIRD_PARTY_AUTH.inc()
                logger.error(
                    "FCM THIRD_PARTY_AUTH_ERROR: APNs or web push credentials are refused",
                    extra={"registration_id": str(item.registration.id)},
                )
            await repo.record(
                delivery_id, status="failed", error_code=outcome.code, attempts=attempts
            )
    for reason, ids in prune.items():
        await repo.disable(ids, reason)
    return retry


async def _schedule_deferred(
    session: AsyncSession, repo: PushRepository, notification_id: uuid.UUID, now: datetime
) -> None:
    when = await repo.next_deferred(notification_id)
    if when is not None:
        await jobs.enqueue(
            session,
            DELIVER,
            {"notification_id": str(notification_id)},
            delay=max(when - now, timedelta(0)),
        )


async def _deliver_topic(
    ctx: JobContext,
    session: AsyncSession,
    repo: PushRepository,
    notification: PushNotification,
    app: Any,
) -> None:
    """One message per language topic; a language already sent is never sent again."""
    now = utcnow()
    campaign = await repo.campaign_by_notification(notification.id)
    if not notification.crisis:
        until = policy.quiet_until(now, PARIS, policy.DEFAULT_QUIET_START, policy.DEFAULT_QUIET_END)
        if until is not None:
            if campaign is not None:
                campaign.status = "deferred"
            await jobs.enqueue(
                session, DELIVER, {"notification_id": str(notification.id)}, delay=until - now
            )
            await session.commit()
            return
    done = dict(
        part.split("=", 1) for part in (notification.fcm_message_id or "").split(",") if part
    )
    languages = [language for language in topics.LANGUAGES if language not in done]
    messages = [
        sender.build_message(
            notification,
            language=language,
            now=now,
            topic=topics.localized(notification.target, language),
        )
        for language in languages
    ]
    retry: float | None = None
    for language, response in zip(languages, await sender.send_batch(messages, app), strict=True):
        outcome = sender.classify(response)
        PUSH_SENDS.labels(outcome.action).inc()
        if outcome.action == "sent" and outcome.message_id:
            done[language] = outcome.message_id.rsplit("/", 1)[-1]
            notification.sent_count += 1
        elif outcome.action == "retry":
            retry = max(retry or 0.0, outcome.retry_after or 0.0)
        else:
            notification.failed_count += 1
            logger.error("topic message refused", extra={"code": outcome.code})
    notification.fcm_message_id = ",".join(f"{k}={v}" for k, v in done.items())[:256] or None
    if campaign is not None and retry is None:
        campaign.status = "sent"
        campaign.sent_at = now
    await session.commit()
    if retry is not None:
        raise RetryLater(_retry_delay(ctx, retry or None), "FCM asked to retry")


@registry.job(SYNC_TOPICS, max_attempts=8)
async def sync_topics(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Make FCM's topic subscriptions of one installation match its preferences."""
    app = firebase.get_app(ctx.settings)
    async with ctx.session() as session:
        repo = PushRepository.from_session(session)
        registration = await repo.registration_by_installation(payload["installation_id"])
        if registration is None:
            return
        prefs = await repo.preferences(registration.installation_id)
        wanted = topics.desired(prefs) if registration.enabled and prefs else set()
        current = await repo.subscriptions(registration.id)
        subscribed = {topic for topic, row in current.items() if row.state == "subscribed"}
        retry = False
        for topic in sorted(wanted - subscribed):
            answer = await messaging.subscribe_to_topic_async([registration.token], topic, app=app)
            reason = answer.errors[0].reason if answer.failure_count else None
            if reason is None:
                await repo.set_subscription(registration.id, topic, "subscribed", None)
            elif reason in TOPIC_RETRYABLE:
                retry = True
            elif reason in TOPIC_GONE and registration.enabled:
                await repo.disable([registration.id], GONE_REASONS.get(reason, "unregistered"))
                await repo.forget_subscriptions(registration.id)
                break
            else:
                await repo.set_subscription(registration.id, topic, "failed", reason[:64])
        for topic in sorted(set(current) - wanted):
            answer = await messaging.unsubscribe_from_topic_async(
                [registration.token], topic, app=app
            )
            reason = answer.errors[0].reason if answer.failure_count else None
            if reason in TOPIC_RETRYABLE:
                retry = True
            else:  # done, or the token is gone and so is the subscription
                await repo.drop_subscription(registration.id, topic)
        await session.commit()
    if retry:
        raise RetryLater(_retry_delay(ctx, None), "FCM topic management asked to retry")


@registry.schedule("notifications.purge_logs", "29 4 * * *")
async def purge_logs(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Drop notifications (with their deliveries and inbox entries) past the retention."""
    cutoff = utcnow() - timedelta(days=ctx.settings.push_log_retention_days)
    async with ctx.session() as session:
        purged = await PushRepository.from_session(session).purge_notifications_before(cutoff)
        await session.commit()
    logger.info("push logs purged", extra={"notifications": purged})
