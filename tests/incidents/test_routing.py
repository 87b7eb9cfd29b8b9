import uuid
from datetime import UTC, datetime, time

from poche_api.incidents.routing import ReportFacts, first_match
from poche_api.models import RoutingRule

SQUARE = [[[[1.0, 49.0], [1.2, 49.0], [1.2, 49.2], [1.0, 49.2], [1.0, 49.0]]]]


def _rule(name: str, position: int, **conditions: object) -> RoutingRule:
    values: dict[str, object] = {"active": True, **conditions}
    return RoutingRule(
        id=uuid.uuid4(), name=name, position=position, team_id=uuid.uuid4(), **values
    )


def _facts(**overrides: object) -> ReportFacts:
    values: dict[str, object] = {
        "category_code": "nid-de-poule",
        "commune_insee": "76540",
        "lat": 49.1,
        "lon": 1.1,
        "priority": 2,
        "at": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),  # a Wednesday, 11:00 in Paris
    }
    values.update(overrides)
    return ReportFacts(**values)  # type: ignore[arg-type]


def test_the_first_matching_rule_wins() -> None:
    rules = [
        _rule("elsewhere", 1, commune_insee=["76681"]),
        _rule("rouen roads", 2, category_codes=["nid-de-poule"], commune_insee=["76540"]),
        _rule("catch-all", 3),
    ]

    assert first_match(rules, _facts()).name == "rouen roads"  # type: ignore[union-attr]


def test_no_match_leaves_the_report_to_triage() -> None:
    rules = [_rule("lights", 1, category_codes=["lampadaire-eteint"])]

    assert first_match(rules, _facts()) is None


def test_a_sector_polygon_decides_by_the_point() -> None:
    rules = [_rule("sector", 1, sector=SQUARE)]

    assert first_match(rules, _facts(lat=49.1, lon=1.1)) is not None
    assert first_match(rules, _facts(lat=49.3, lon=1.1)) is None


def test_a_night_window_spans_midnight_in_paris_time() -> None:
    night = _rule("night", 1, starts_at=time(20, 0), ends_at=time(6, 0))

    assert first_match([night], _facts(at=datetime(2026, 11, 25, 22, 30, tzinfo=UTC)))
    assert first_match([night], _facts(at=datetime(2026, 11, 26, 4, 0, tzinfo=UTC)))
    assert first_match([night], _facts(at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))) is None


def test_weekdays_and_minimum_priority_narrow_a_rule() -> None:
    weekend_urgent = _rule("weekend", 1, weekdays=[5, 6], min_priority=4)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

    assert first_match([weekend_urgent], _facts(at=saturday, priority=4)) is not None
    assert first_match([weekend_urgent], _facts(at=saturday, priority=3)) is None
    assert first_match([weekend_urgent], _facts(priority=4)) is None  # a Wednesday


def test_an_inactive_rule_is_skipped() -> None:
    rules = [_rule("off", 1, active=False), _rule("on", 2)]

    assert first_match(rules, _facts()).name == "on"  # type: ignore[union-attr]
