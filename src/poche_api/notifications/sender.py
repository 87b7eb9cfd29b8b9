"""FCM through firebase-admin: building messages, sending batches, reading the answers.

The sender never retries by itself: it tells the delivery job what each answer means
(``Outcome``), and the job records it and retries durably.
"""

import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from firebase_admin import exceptions, messaging
from redis.asyncio import Redis

from poche_api.models import PushNotification
from poche_api.notifications import templates

# firebase-admin 7.5+ prefers `fid`, but FCM registration tokens are what the apps hold and the
# `token` wire field is what FCM documents for them; the deprecation is about naming only.
warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)

Action = Literal["sent", "prune", "retry", "fail", "alert"]
RETRYABLE = (
    messaging.QuotaExceededError,
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.DeadlineExceededError,
    exceptions.ResourceExhaustedError,
)


@dataclass(frozen=True)
class Outcome:
    action: Action
    message_id: str | None = None
    code: str | None = None
    retry_after: float | None = None


def _violates_token_field(exc: exceptions.FirebaseError) -> bool:
    response = exc.http_response
    if response is None:
        return "registration token" in str(exc)
    try:
        details = response.json().get("error", {}).get("details", [])
    except ValueError:
        return False
    for detail in details:
        for violation in detail.get("fieldViolations", []) or []:
            if str(violation.get("field", "")).startswith(("message.token", "message.fid")):
                return True
    return False


def _retry_after(exc: exceptions.FirebaseError) -> float | None:
    response = exc.http_response
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if value is None or not value.strip().isdigit():
        return None
    return float(value)


def classify(response: messaging.SendResponse) -> Outcome:
    """What one FCM answer means for the device and the job."""
    if response.success:
        return Outcome("sent", message_id=response.message_id)
    exc = response.exception
    if isinstance(exc, messaging.UnregisteredError):
        return Outcome("prune", code="unregistered")
    if isinstance(exc, messaging.SenderIdMismatchError):
        return Outcome("prune", code="sender_id_mismatch")
    if isinstance(exc, messaging.ThirdPartyAuthError):
        return Outcome("alert", code="THIRD_PARTY_AUTH_ERROR")
    if isinstance(exc, exceptions.InvalidArgumentError):
        if _violates_token_field(exc):
            return Outcome("prune", code="invalid_token")
        return Outcome("fail", code="INVALID_ARGUMENT")
    if isinstance(exc, RETRYABLE):
        return Outcome("retry", code=str(exc.code), retry_after=_retry_after(exc))
    code = exc.code if isinstance(exc, exceptions.FirebaseError) else type(exc).__name__
    return Outcome("fail", code=str(code))


def remaining_ttl(notification: PushNotification, now: datetime) -> int | None:
    """Seconds left before the message is worthless (None: FCM's maximum)."""
    if notification.expires_at is None:
        return None
    return int((notification.expires_at - now).total_seconds())


# A notify() param carrying an absolute URL of a picture shown in the push (e.g. the after-fix photo).
IMAGE_PARAM = "image_url"


def build_message(
    notification: PushNotification,
    *,
    language: str,
    now: datetime,
    token: str | None = None,
    topic: str | None = None,
) -> messaging.Message:
    title, body = templates.render(notification.template, language, notification.params)
    data = {"kind": notification.kind, "notification_id": str(notification.id)}
    if notification.deep_link:
        data["link"] = notification.deep_link
    image = notification.params.get(IMAGE_PARAM)
    if isinstance(image, str) and image.startswith(("https://", "http://")):
        data["image"] = image
    else:
        image = None
    ttl = remaining_ttl(notification, now)
    high = notification.priority == "high"
    apns_headers = {"apns-priority": "10" if high else "5"}
    if ttl is not None:
        apns_headers["apns-expiration"] = str(int(now.timestamp()) + max(ttl, 0))
    if notification.collapse_key:
        apns_headers["apns-collapse-id"] = notification.collapse_key
    return messaging.Message(
        token=token,
        topic=topic,
        data=data,
        notification=messaging.Notification(title=title, body=body, image=image),
        android=messaging.AndroidConfig(
            collapse_key=notification.collapse_key,
            priority="high" if high else "normal",
            ttl=timedelta(seconds=max(ttl, 0)) if ttl is not None else None,
        ),
        apns=messaging.APNSConfig(headers=apns_headers),
        webpush=messaging.WebpushConfig(
            headers={"TTL": str(max(ttl, 0))} if ttl is not None else None
        ),
    )


async def send_batch(
    messages: list[messaging.Message], app: Any, *, dry_run: bool = False
) -> list[messaging.SendResponse]:
    if not messages:
        return []
    answer = await messaging.send_each_async(messages, dry_run=dry_run, app=app)
    responses: list[messaging.SendResponse] = answer.responses
    return responses


class SendBudget:
    """A cluster-wide per-minute send budget in Redis, well under FCM's 600k/min quota."""

    def __init__(self, redis: Redis, per_minute: int) -> None:
        self.redis = redis
        self.per_minute = per_minute

    async def take(self, count: int) -> float | None:
        """Reserve ``count`` sends; None when granted, else seconds until the next window."""
        now = time.time()
        window = int(now // 60)
        key = f"push:budget:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, count)
            pipe.expire(key, 120)
            used, _ = await pipe.execute()
        if int(used) <= self.per_minute:
            return None
        await self.redis.decrby(key, count)
        return (window + 1) * 60 - now


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
