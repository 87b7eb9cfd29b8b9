"""Contact data in free text (e-mail addresses, phone numbers), found and replaced by a marker.

Used when a person's text must outlive their link to it (an erased resident's reports stay for
the public record). Regular expressions, so it errs on the side of the formats people type:
French numbers with or without separators (06 12 34 56 78, 06.12.34.56.78, +33 6 12 34 56 78,
+33 (0)6…, 0033 6…) and other international ones (+44 20 7946 0958). A person's name is not
contact data this can find; moderation redacts those.
"""

import re
from typing import Any

MARKER = "[coordonnées supprimées]"

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_SEP = r"[ .\-\u00a0\u202f]?"
_FRENCH_PHONE = re.compile(
    rf"(?<![\w+])(?:(?:\+|00){_SEP}33{_SEP}(?:\(0\){_SEP})?|0)[1-9](?:{_SEP}\d{{2}}){{4}}(?!\d)"
)
_INTERNATIONAL_PHONE = re.compile(rf"(?<![\w+])(?:\+|00)(?:\d{_SEP}){{7,14}}\d(?!\d)")


def scrub(text: str) -> str:
    """``text`` with every e-mail address and phone number replaced by ``MARKER``."""
    for pattern in (_EMAIL, _FRENCH_PHONE, _INTERNATIONAL_PHONE):
        text = pattern.sub(MARKER, text)
    return text


def scrub_values(values: dict[str, Any]) -> dict[str, Any]:
    """The same answers with contact data scrubbed from every text (and list of texts)."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return {key: clean(value) for key, value in values.items()}
