import re
from pathlib import Path

from poche_api.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"`(POCHE_[A-Z0-9_]+)`", README))
    settings = {f"POCHE_{name.upper()}" for name in Settings.model_fields}

    assert settings <= documented, f"undocumented: {sorted(settings - documented)}"
