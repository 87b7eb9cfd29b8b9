"""Staff provisioning through the admin API (operator token here) and the CLI."""

import asyncio
import os

import httpx
from sqlalchemy import text
from typer.testing import CliRunner

from poche_api.cli import cli
from poche_api.db import create_engine

NEW = {"email": "Voirie.Agent@metropole-rouen-normandie.fr", "role": "agent", "teams": ["voirie"]}


async def test_an_admin_provisions_lists_and_updates_staff(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post("/v1/admin/staff", json=NEW, headers=admin_headers)
    assert created.status_code == 201
    staff = created.json()
    assert staff["email"] == "voirie.agent@metropole-rouen-normandie.fr"
    assert staff["teams"] == ["voirie"]

    duplicate = await client.post("/v1/admin/staff", json=NEW, headers=admin_headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/staff-exists")

    patched = await client.patch(
        f"/v1/admin/staff/{staff['id']}",
        json={"role": "supervisor", "teams": ["voirie", "proprete"]},
        headers=admin_headers,
    )
    assert patched.json()["role"] == "supervisor"
    assert patched.json()["teams"] == ["proprete", "voirie"]

    listed = await client.get("/v1/admin/staff", headers=admin_headers)
    assert staff["email"] in [s["email"] for s in listed.json()["items"]]
    fetched = await client.get(f"/v1/admin/staff/{staff['id']}", headers=admin_headers)
    assert fetched.json()["role"] == "supervisor"


async def test_provisioning_validates_its_input(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for body in (
        {**NEW, "role": "mayor"},
        {**NEW, "email": "not-an-email"},
        {**NEW, "active": False},  # server-owned at creation
        {**NEW, "teams": ["Bad Slug"]},
    ):
        response = await client.post("/v1/admin/staff", json=body, headers=admin_headers)
        assert response.status_code == 422, body
    unknown = await client.get(
        "/v1/admin/staff/00000000-0000-0000-0000-000000000000", headers=admin_headers
    )
    assert unknown.status_code == 404


async def _staff_role(database_url: str, email: str, *, cleanup: bool = False) -> str | None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            role = await connection.scalar(
                text("SELECT role FROM staff_members WHERE email = :e"), {"e": email}
            )
            if cleanup:
                await connection.execute(text("TRUNCATE staff_teams, staff_members, teams CASCADE"))
        return str(role) if role else None
    finally:
        await engine.dispose()


def test_the_cli_provisions_staff(database_url: str) -> None:
    env = {**os.environ, "POCHE_DATABASE_URL": database_url, "POCHE_LOG_JSON": "false"}
    email = "cli.agent@metropole-rouen-normandie.fr"
    try:
        result = CliRunner().invoke(
            cli, ["staff", "add", email, "--role", "supervisor", "--team", "voirie"], env=env
        )
        again = CliRunner().invoke(cli, ["staff", "add", email], env=env)
        bad = CliRunner().invoke(cli, ["staff", "add", "x@y.fr", "--role", "mayor"], env=env)

        assert result.exit_code == 0, result.output
        assert "supervisor" in result.output
        assert again.exit_code == 1
        assert bad.exit_code == 2
        assert asyncio.run(_staff_role(database_url, email)) == "supervisor"
    finally:
        asyncio.run(_staff_role(database_url, email, cleanup=True))
