"""Quiet hours and the daily cap, in the device's time zone and the Paris day."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from poche_api.kit.timeutil import PARIS

DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(7, 0)
DEFAULT_DAILY_CAP = 5


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else PARIS
    except (ZoneInfoNotFoundError, ValueError):
        return PARIS


def quiet_until(now: datetime, tz: ZoneInfo, start: time, end: time) -> datetime | None:
    """When quiet hours end (UTC) if ``now`` falls inside them, else None.

    The window [start, end) may wrap midnight (22:00–07:00); start == end means no window.
    """
    if start == end:
        return None
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    end_day = local.date()
    if start > end and clock >= start:
        end_day += timedelta(days=1)
    naive_end = datetime.combine(end_day, end)
    # fold=0 picks the first occurrence on a DST change, which is the earlier, safer end.
    return naive_end.replace(tzinfo=tz).astimezone(UTC)


def paris_day_start(now: datetime) -> datetime:
    """Midnight of the current Europe/Paris day, in UTC (the daily cap's window)."""
    local = now.astimezone(PARIS)
    return datetime.combine(local.date(), time(0, 0), tzinfo=PARIS).astimezone(UTC)
