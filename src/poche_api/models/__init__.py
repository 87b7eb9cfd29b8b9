"""ORM models, one module per aggregate, re-exported here so domains never import each other."""

from poche_api.models.commune import Commune
from poche_api.models.idempotency import IdempotencyKey
from poche_api.models.transport import (
    Agency,
    Calendar,
    CalendarDate,
    FeedSource,
    FeedVersion,
    Frequency,
    Route,
    ShapePoint,
    Stop,
    StopTime,
    TransportAlert,
    TransportAlertEvent,
    TransportFollow,
    Trip,
)

__all__ = [
    "Agency",
    "Calendar",
    "CalendarDate",
    "Commune",
    "FeedSource",
    "FeedVersion",
    "Frequency",
    "IdempotencyKey",
    "Route",
    "ShapePoint",
    "Stop",
    "StopTime",
    "TransportAlert",
    "TransportAlertEvent",
    "TransportFollow",
    "Trip",
]
