"""Accept-Language negotiation: French by default, English on request."""

from typing import Annotated, Literal

from fastapi import Depends, Header

Language = Literal["fr", "en"]
SUPPORTED: tuple[Language, ...] = ("fr", "en")


def negotiate_language(header: str | None) -> Language:
    """Pick fr or en from an Accept-Language header, honouring q-values; fr when unsure."""
    if not header:
        return "fr"
    best: tuple[float, Language] = (0.0, "fr")
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Earlier entries win ties, as browsers list preferences in order.
        score = quality - position * 1e-6
        if primary in SUPPORTED and score > best[0]:
            best = (score, "en" if primary == "en" else "fr")
    return best[1]


async def _language(accept_language: Annotated[str | None, Header()] = None) -> Language:
    return negotiate_language(accept_language)


LanguageDep = Annotated[Language, Depends(_language)]
