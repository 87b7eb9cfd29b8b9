from datetime import UTC, date, datetime

from poche_api.incidents.sla import add_working_days, due_at, is_working_day
from poche_api.kit.timeutil import PARIS


def test_weekends_and_french_public_holidays_are_not_working_days() -> None:
    assert is_working_day(date(2026, 11, 27))  # a Friday
    assert not is_working_day(date(2026, 11, 28))  # Saturday
    assert not is_working_day(date(2026, 11, 11))  # Armistice, a Wednesday
    assert not is_working_day(date(2026, 4, 6))  # Easter Monday


def test_a_friday_report_with_two_days_is_due_on_tuesday_same_time() -> None:
    friday = datetime(2026, 11, 27, 18, 30, tzinfo=PARIS)

    assert add_working_days(friday, 2) == datetime(2026, 12, 1, 18, 30, tzinfo=PARIS)


def test_christmas_week_skips_the_holiday_and_the_weekend() -> None:
    wednesday = datetime(2026, 12, 23, 9, 0, tzinfo=PARIS)

    # 24 (Thu) counts, 25 is Christmas, 26-27 weekend, 28 (Mon) counts.
    assert add_working_days(wednesday, 2) == datetime(2026, 12, 28, 9, 0, tzinfo=PARIS)


def test_the_deadline_keeps_the_paris_wall_clock_across_the_dst_change() -> None:
    before_dst = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)  # 09:00 in Paris (UTC+1)

    due = add_working_days(before_dst, 1)

    assert due.astimezone(PARIS).hour == 9
    assert due.astimezone(UTC).hour == 7  # Monday 30 March is UTC+2


def test_a_category_without_sla_has_no_deadline() -> None:
    assert due_at(datetime(2026, 11, 27, tzinfo=UTC), None) is None
