"""Demo staff for the embedded default: sign in at /v1/auth/staff/start with login_hint
``agent``, ``supervisor`` or ``admin`` (the staff simulator's demo identities)."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

DEMO_TEAM = ("voirie-rouen", "Voirie — Rouen")
DEMO_STAFF = (
    ("demo.agent@metropole-rouen-normandie.fr", "Alex Agent", "agent"),
    ("demo.superviseur@metropole-rouen-normandie.fr", "Sacha Superviseur", "supervisor"),
    ("demo.admin@metropole-rouen-normandie.fr", "Dominique Admin", "admin"),
)


async def seed_demo_staff(connection: AsyncConnection) -> None:
    await connection.execute(
        text(
            "INSERT INTO teams (id, slug, name) VALUES (gen_random_uuid(), :slug, :name) "
            "ON CONFLICT (slug) DO NOTHING"
        ),
        {"slug": DEMO_TEAM[0], "name": DEMO_TEAM[1]},
    )
    for email, name, role in DEMO_STAFF:
        await connection.execute(
            text(
                "INSERT INTO staff_members (id, email, display_name, role, active) "
                "VALUES (gen_random_uuid(), :email, :name, :role, true) "
                "ON CONFLICT (email) DO UPDATE SET role = EXCLUDED.role, active = true"
            ),
            {"email": email, "name": name, "role": role},
        )
        await connection.execute(
            text(
                "INSERT INTO staff_teams (staff_id, team_id) SELECT s.id, t.id "
                "FROM staff_members s, teams t WHERE s.email = :email AND t.slug = :slug "
                "ON CONFLICT DO NOTHING"
            ),
            {"email": email, "slug": DEMO_TEAM[0]},
        )
