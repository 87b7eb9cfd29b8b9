"""Demo people for the embedded default.

* Staff: sign in at /v1/auth/staff/start with login_hint ``agent``, ``supervisor`` or ``admin``
  (the staff simulator's demo identities).
* The demo resident: the FranceConnect simulator's ``resident`` (Camille Martin). Her row is
  keyed on the subject the simulator gives her, so signing in as ``resident`` lands on it and
  finds what other domains seeded for her (her phone, her inbox).
"""

import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from poche_api.simulators.oidc import FRANCECONNECT_IDENTITIES, subject

DEMO_TEAM = ("voirie-rouen", "Voirie — Rouen")
DEMO_RESIDENT = "resident"
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


def demo_resident_sub() -> str:
    return subject("franceconnect", DEMO_RESIDENT)


async def ensure_demo_resident(connection: AsyncConnection) -> uuid.UUID:
    """The demo resident's id, creating her row (as FranceConnect describes her) if missing."""
    identity = FRANCECONNECT_IDENTITIES[DEMO_RESIDENT]
    sub = demo_resident_sub()
    await connection.execute(
        text(
            "INSERT INTO residents (id, fc_sub, given_name, family_name, birthdate, gender, "
            "birthplace, birthcountry, email) VALUES (gen_random_uuid(), :sub, :given_name, "
            ":family_name, :birthdate, :gender, :birthplace, :birthcountry, :email) "
            "ON CONFLICT (fc_sub) DO NOTHING"
        ),
        {
            "sub": sub,
            "given_name": identity["given_name"],
            "family_name": identity["family_name"],
            "birthdate": date.fromisoformat(identity["birthdate"]),
            "gender": identity["gender"],
            "birthplace": identity["birthplace"],
            "birthcountry": identity["birthcountry"],
            "email": identity["email"],
        },
    )
    found = await connection.execute(
        text("SELECT id FROM residents WHERE fc_sub = :sub"), {"sub": sub}
    )
    resident_id: uuid.UUID = found.scalar_one()
    return resident_id
