"""Message kinds (channel, TTL, priority, collapse key) and the FR/EN templates they render.

A departure alert is worthless ten minutes late, so it expires; a report update stays useful, so
it has no TTL (FCM keeps it up to 28 days). Crisis alerts ignore quiet hours and the daily cap.
"""

import string
from dataclasses import dataclass
from typing import Any, Literal

Channel = Literal["transport", "waste", "incident", "water", "news", "crisis"]
Priority = Literal["normal", "high"]


@dataclass(frozen=True)
class KindPolicy:
    channel: Channel
    ttl_seconds: int | None
    priority: Priority
    collapse_key: str | None  # formatted with the params, e.g. "line-{line}"
    crisis: bool = False


KINDS: dict[str, KindPolicy] = {
    "transport_departure": KindPolicy("transport", 600, "high", "departure-{stop}"),
    "transport_disruption": KindPolicy("transport", 3 * 3600, "high", "line-{line}"),
    "waste_reminder": KindPolicy("waste", 12 * 3600, "normal", "waste-{stream}"),
    "waste_shift": KindPolicy("waste", 36 * 3600, "normal", "waste-shift-{stream}"),
    "incident_update": KindPolicy("incident", None, "normal", None),
    "water_alert": KindPolicy("water", 7 * 86400, "high", "water"),
    "metropole_news": KindPolicy("news", 2 * 86400, "normal", None),
    "crisis": KindPolicy("crisis", 6 * 3600, "high", "crisis", crisis=True),
}

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "departure_soon": {
        "fr": (
            "Ligne {line} : départ dans {minutes} min",
            "Arrêt {stop_name}, direction {headsign}.",
        ),
        "en": ("Line {line}: leaves in {minutes} min", "Stop {stop_name}, towards {headsign}."),
    },
    "line_disrupted": {
        "fr": ("Ligne {line} perturbée", "{reason}"),
        "en": ("Line {line} disrupted", "{reason}"),
    },
    "collection_tomorrow": {
        "fr": ("Collecte demain : {stream_label}", "Sortez votre bac ce soir."),
        "en": ("Collection tomorrow: {stream_label}", "Put your bin out tonight."),
    },
    "collection_moved": {
        "fr": ("Collecte déplacée : {stream_label}", "Exceptionnellement le {date}."),
        "en": ("Collection moved: {stream_label}", "Exceptionally on {date}."),
    },
    "report_status": {
        "fr": ("Votre signalement {reference}", "Nouveau statut : {status}."),
        "en": ("Your report {reference}", "New status: {status}."),
    },
    "report_update": {
        "fr": ("Signalement {reference} : {status_fr}", "{category_fr}. {note}"),
        "en": ("Report {reference}: {status_en}", "{category_en}. {note}"),
    },
    "water_leak_suspected": {
        "fr": ("Consommation d'eau inhabituelle", "{litres} L hier, plus du double d'habitude."),
        "en": ("Unusual water use", "{litres} L yesterday, over twice the usual."),
    },
    "free_text": {
        "fr": ("{title_fr}", "{body_fr}"),
        "en": ("{title_en}", "{body_en}"),
    },
    # To the supervisors of a report's team when it passes its SLA deadline (incidents.escalation).
    "report_overdue": {
        "fr": ("Signalement {reference} en retard", "{category_fr} : échéance du {due} dépassée."),
        "en": ("Report {reference} overdue", "{category_en}: past its {due} deadline."),
    },
}


def placeholders(template: str) -> set[str]:
    names: set[str] = set()
    for language in TEMPLATES[template].values():
        for text in language:
            names |= {field for _, field, _, _ in string.Formatter().parse(text) if field}
    return names


def check(kind: str, template: str, params: dict[str, Any]) -> None:
    """Refuse an unknown kind or template, or params that leave a placeholder empty."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    missing = placeholders(template) - params.keys()
    if missing:
        raise ValueError(f"template {template!r} needs {sorted(missing)}")
    policy = KINDS[kind]
    if policy.collapse_key:
        collapse_key(kind, params)


def render(template: str, language: str, params: dict[str, Any]) -> tuple[str, str]:
    title, body = TEMPLATES[template]["en" if language == "en" else "fr"]
    values = {key: str(value) for key, value in params.items()}
    return title.format_map(values), body.format_map(values)


def collapse_key(kind: str, params: dict[str, Any]) -> str | None:
    pattern = KINDS[kind].collapse_key
    if pattern is None:
        return None
    try:
        return pattern.format_map({key: str(value) for key, value in params.items()})[:64]
    except KeyError as exc:
        raise ValueError(f"kind {kind!r} needs {exc.args[0]!r} for its collapse key") from exc
