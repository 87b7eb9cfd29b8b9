import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poche_api.cli import cli, generate_openapi
from tests.test_config import PRODUCTION

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_openapi_document_matches_the_app() -> None:
    committed = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")

    assert committed == generate_openapi(), "run `poche-api openapi export` and commit the result"


def test_every_public_path_is_under_v1() -> None:
    paths = json.loads(generate_openapi())["paths"]

    assert paths
    # Open311 GeoReport v2 keeps the standard's own path, outside our versioning.
    assert all(path.startswith(("/v1/", "/open311/v2/")) for path in paths)


def test_export_check_fails_on_a_stale_document(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}", encoding="utf-8")

    result = CliRunner().invoke(cli, ["openapi", "export", "--output", str(stale), "--check"])

    assert result.exit_code == 1
    written = CliRunner().invoke(cli, ["openapi", "export", "--output", str(stale)])
    assert written.exit_code == 0
    assert stale.read_text(encoding="utf-8") == generate_openapi()


def test_demo_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    # A complete production configuration whose database nobody listens on: the refusal must
    # come before any connection, with a message saying why.
    for name, value in {
        **PRODUCTION,
        "database_url": "postgresql://poche@127.0.0.1:9/poche",
    }.items():
        monkeypatch.setenv(f"POCHE_{name.upper()}", str(value))

    result = CliRunner().invoke(cli, ["demo"])

    assert result.exit_code == 1
    assert "refused in production" in result.output
    assert "seeded" not in result.output
