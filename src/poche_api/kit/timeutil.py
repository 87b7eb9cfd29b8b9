"""Time: store UTC, reason about days in Europe/Paris."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def utcnow() -> datetime:
    return datetime.now(UTC)


def paris_now() -> datetime:
    return datetime.now(PARIS)
