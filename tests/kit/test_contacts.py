import pytest

from poche_api.kit.contacts import MARKER, scrub, scrub_values


@pytest.mark.parametrize(
    "contact",
    [
        "camille.martin@example.fr",
        "c.martin+poche@mail.rouen-metropole.fr",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "02 35 52 68 10",
        "+33 6 12 34 56 78",
        "+33612345678",
        "+33 (0)6 12 34 56 78",
        "0033 6 12 34 56 78",
        "06\u00a012\u00a034\u00a056\u00a078",
        "+44 20 7946 0958",
    ],
)
def test_contact_data_is_replaced(contact: str) -> None:
    assert scrub(f"Appelez-moi au {contact}, merci.") == f"Appelez-moi au {MARKER}, merci."


@pytest.mark.parametrize(
    "text",
    [
        "Trou profond devant le 12 rue Jeanne d'Arc, 76000 Rouen",
        "Lampadaire n° EP-0612 éteint depuis le 03/11/2026",
        "Urgence gaz : 0 800 47 33 33",  # a public number, spaced as printed
        "Environ 2 000 000 litres",
    ],
)
def test_other_text_is_kept(text: str) -> None:
    assert scrub(text) == text


def test_answers_are_scrubbed_value_by_value() -> None:
    answers = {"numero": "tel 0612345678", "danger": "fort", "tags": ["a@b.fr", "x"], "n": 3}

    assert scrub_values(answers) == {
        "numero": f"tel {MARKER}",
        "danger": "fort",
        "tags": [MARKER, "x"],
        "n": 3,
    }
