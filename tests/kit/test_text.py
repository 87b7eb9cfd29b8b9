from poche_api.kit.text import normalize


def test_accents_case_and_separators_are_folded() -> None:
    assert normalize("Saint-Étienne-du-Rouvray") == "saint etienne du rouvray"
    assert normalize("  Déville-lès-Rouen ") == "deville les rouen"
    assert normalize("Neuville-Chant-d’Oisel") == "neuville chant d oisel"
