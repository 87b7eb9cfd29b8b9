"""FCM topic names: one per line, waste sector (and stream), commune, and crisis, per language.

Topic messages carry one payload, so every topic exists once per language (``line-T1.fr``,
``line-T1.en``): a campaign sends one message per language and each device gets its own.
"""

import re

from poche_api.models import PushPreferences

TOPIC_RE = re.compile(r"^[a-zA-Z0-9\-_.~%]{1,100}$")
_UNSAFE = re.compile(r"[^a-zA-Z0-9\-_~]")
LANGUAGES = ("fr", "en")


def slug(value: str) -> str:
    return _UNSAFE.sub("_", value)[:40]


def line(line_id: str) -> str:
    return f"line-{slug(line_id)}"


def waste(sector: str, stream: str) -> str:
    return f"waste-{slug(sector)}-{slug(stream)}"


def sector(sector_id: str) -> str:
    return f"sector-{slug(sector_id)}"


def commune(insee: str) -> str:
    return f"commune-{slug(insee)}"


def crisis(insee: str | None = None) -> str:
    return f"crisis-{slug(insee)}" if insee else "crisis"


def localized(base: str, language: str) -> str:
    return f"{base}.{language}"


def desired(preferences: PushPreferences) -> set[str]:
    """Every topic an installation with these preferences should be subscribed to."""
    bases: set[str] = {line(line_id) for line_id in preferences.transport_lines}
    if preferences.waste_sector:
        bases.add(sector(preferences.waste_sector))
        bases |= {waste(preferences.waste_sector, s) for s in preferences.waste_streams}
    if preferences.commune_insee and preferences.metropole_news:
        bases.add(commune(preferences.commune_insee))
    if preferences.crisis:
        bases.add(crisis())
        if preferences.commune_insee:
            bases.add(crisis(preferences.commune_insee))
    return {localized(base, preferences.language) for base in bases}
