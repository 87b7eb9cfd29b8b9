"""ORM models, one module per aggregate, re-exported here so domains never import each other."""

from poche_api.models.commune import Commune
from poche_api.models.idempotency import IdempotencyKey
from poche_api.models.push import (
    PushCampaign,
    PushDelivery,
    PushInboxEntry,
    PushNotification,
    PushPreferences,
    PushRegistration,
    PushTopicSubscription,
)

__all__ = [
    "Commune",
    "IdempotencyKey",
    "PushCampaign",
    "PushDelivery",
    "PushInboxEntry",
    "PushNotification",
    "PushPreferences",
    "PushRegistration",
    "PushTopicSubscription",
]
