"""Text normalisation for accent- and case-insensitive search without a database extension."""

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s'’\-_.,/]+")


def normalize(text: str) -> str:
    """« Saint-Étienne-du-Rouvray » → « saint etienne du rouvray »."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", stripped.casefold()).strip()
