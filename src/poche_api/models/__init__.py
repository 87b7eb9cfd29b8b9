"""ORM models, one module per aggregate, re-exported here so domains never import each other."""

from poche_api.models.auth_session import AuthSession, RefreshToken
from poche_api.models.commune import Commune
from poche_api.models.consent import Consent
from poche_api.models.device import Device
from poche_api.models.idempotency import IdempotencyKey
from poche_api.models.incident import (
    IncidentCategory,
    IncidentEvent,
    IncidentFeedback,
    IncidentFollow,
    IncidentGroup,
    IncidentModeration,
    IncidentPhoto,
    IncidentReport,
    IncidentSyncOperation,
    RoutingRule,
)
from poche_api.models.push import (
    PushCampaign,
    PushDelivery,
    PushInboxEntry,
    PushNotification,
    PushPreferences,
    PushRegistration,
    PushTopicSubscription,
)
from poche_api.models.resident import Resident
from poche_api.models.staff import StaffMember, StaffTeam, Team
from poche_api.models.transport import (
    Agency,
    Calendar,
    CalendarDate,
    FeedSource,
    FeedVersion,
    Frequency,
    PatternStop,
    Route,
    ShapePoint,
    Stop,
    TransportAlert,
    TransportAlertEvent,
    TransportFollow,
    Trip,
    TripTimes,
)

__all__ = [
    "Agency",
    "AuthSession",
    "Calendar",
    "CalendarDate",
    "Commune",
    "Consent",
    "Device",
    "FeedSource",
    "FeedVersion",
    "Frequency",
    "IdempotencyKey",
    "IncidentCategory",
    "IncidentEvent",
    "IncidentFeedback",
    "IncidentFollow",
    "IncidentGroup",
    "IncidentModeration",
    "IncidentPhoto",
    "IncidentReport",
    "IncidentSyncOperation",
    "PatternStop",
    "PushCampaign",
    "PushDelivery",
    "PushInboxEntry",
    "PushNotification",
    "PushPreferences",
    "PushRegistration",
    "PushTopicSubscription",
    "RefreshToken",
    "Resident",
    "Route",
    "RoutingRule",
    "ShapePoint",
    "StaffMember",
    "StaffTeam",
    "Stop",
    "Team",
    "TransportAlert",
    "TransportAlertEvent",
    "TransportFollow",
    "Trip",
    "TripTimes",
]
