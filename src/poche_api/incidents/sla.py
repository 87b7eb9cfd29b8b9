"""Service-level deadlines in working days: weekends and French public holidays excluded.

A report filed on Friday evening with a 2-day SLA is due on Tuesday at the same wall-clock time
(Monday and Tuesday are the working days). Days are counted in Europe/Paris, DST included.
"""

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from poche_api.kit.timeutil import PARIS


@lru_cache(maxsize=32)
def _french_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FR", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _french_holidays(day.year)


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` moved ``days`` working days later at the same Paris wall-clock time."""
    local = start.astimezone(PARIS)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    due = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=PARIS)
    return due.astimezone(start.tzinfo)


def due_at(created: datetime, sla_working_days: int | None) -> datetime | None:
    return None if sla_working_days is None else add_working_days(created, sla_working_days)
