from datetime import UTC, datetime, time

import pytest

from poche_api.notifications import policy, templates, topics
from poche_api.notifications.policy import zone

PARIS = zone("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-11-28T23:30:00+01:00", "2026-11-29T07:00:00+01:00"),  # before midnight
        ("2026-11-29T03:00:00+01:00", "2026-11-29T07:00:00+01:00"),  # after midnight
        ("2026-03-29T01:30:00+01:00", "2026-03-29T07:00:00+02:00"),  # across the DST change
        ("2026-11-28T07:00:00+01:00", None),  # the end is not quiet
        ("2026-11-28T21:59:00+01:00", None),
    ],
)
def test_quiet_hours_wrap_midnight_in_the_device_zone(now: str, until: str | None) -> None:
    answer = policy.quiet_until(at(now), PARIS, time(22, 0), time(7, 0))

    assert answer == (at(until) if until else None)


def test_the_daily_cap_counts_from_paris_midnight() -> None:
    assert policy.paris_day_start(at("2026-07-01T00:30:00+02:00")) == at(
        "2026-07-01T00:00:00+02:00"
    )


def test_templates_render_both_languages_and_refuse_missing_params() -> None:
    params = {"reference": "R-7", "status": "pris en charge"}

    assert templates.render("report_status", "fr", params) == (
        "Votre signalement R-7",
        "Nouveau statut : pris en charge.",
    )
    assert templates.render("report_status", "en", params)[0] == "Your report R-7"
    with pytest.raises(ValueError, match="reference"):
        templates.check("incident_update", "report_status", {"status": "x"})
    with pytest.raises(ValueError, match="stop"):
        templates.check(
            "transport_departure",
            "line_disrupted",
            {"line": "T1", "reason": "x"},
        )


def test_kinds_choose_ttl_priority_and_collapse() -> None:
    assert templates.KINDS["transport_departure"].ttl_seconds == 600
    assert templates.KINDS["incident_update"].ttl_seconds is None
    assert templates.KINDS["crisis"].crisis
    assert templates.collapse_key("transport_disruption", {"line": "T1"}) == "line-T1"


def test_topic_names_are_valid_fcm_topics() -> None:
    assert topics.line("T1 bis/é") == "line-T1_bis__"
    assert topics.TOPIC_RE.match(topics.localized(topics.waste("RN 12", "glass"), "fr"))
