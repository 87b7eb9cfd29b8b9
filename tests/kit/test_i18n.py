import pytest

from poche_api.kit.i18n import negotiate_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "fr"),
        ("", "fr"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,en;q=0.5", "en"),
        ("de-DE", "fr"),
        ("en;q=0.2,fr;q=0.8", "fr"),
        ("fr;q=abc,en", "en"),
    ],
)
def test_language_negotiation(header: str | None, expected: str) -> None:
    assert negotiate_language(header) == expected
