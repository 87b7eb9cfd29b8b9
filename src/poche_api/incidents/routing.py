"""Routing: the ordered rules decide which team gets a report; the first match wins.

A rule's empty condition matches anything. A report matching no rule stays ``submitted`` in the
triage queue of supervisors. The decision (rule, team) is recorded in the report's history.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from poche_api.kit.geo import in_multipolygon
from poche_api.kit.timeutil import PARIS
from poche_api.models import RoutingRule


@dataclass(frozen=True)
class ReportFacts:
    category_code: str
    commune_insee: str
    lat: float
    lon: float
    priority: int
    at: datetime


def _in_window(rule: RoutingRule, at: datetime) -> bool:
    local = at.astimezone(PARIS)
    if rule.weekdays and local.weekday() not in rule.weekdays:
        return False
    if rule.starts_at is None or rule.ends_at is None:
        return True
    now = local.time().replace(tzinfo=None)
    start, end = rule.starts_at, rule.ends_at
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # a night window such as 20:00 -> 06:00


def matches(rule: RoutingRule, facts: ReportFacts) -> bool:
    if not rule.active:
        return False
    if rule.category_codes and facts.category_code not in rule.category_codes:
        return False
    if rule.commune_insee and facts.commune_insee not in rule.commune_insee:
        return False
    if rule.min_priority is not None and facts.priority < rule.min_priority:
        return False
    if rule.sector and not in_multipolygon(facts.lon, facts.lat, rule.sector):
        return False
    return _in_window(rule, facts.at)


def first_match(rules: Sequence[RoutingRule], facts: ReportFacts) -> RoutingRule | None:
    """``rules`` ordered by position."""
    return next((rule for rule in rules if matches(rule, facts)), None)


def valid_window(starts_at: time | None, ends_at: time | None) -> bool:
    return (starts_at is None) == (ends_at is None)
