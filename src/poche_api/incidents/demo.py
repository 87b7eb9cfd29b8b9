"""Rouen demo catalogue, teams and routing rules, seeded idempotently (upserts on codes).

Roads in Rouen go to ``voirie-rouen`` (the demo agent's team), roads on the left bank to
``voirie-rive-gauche``, cleanliness anywhere to ``proprete-metropole``, lighting to
``eclairage-metropole`` (urgent ones at night to the on-call team); anything else, such as a
pothole in Mont-Saint-Aignan, waits in the supervisors' triage queue.
"""

from datetime import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from poche_api.demo import seeder
from poche_api.incidents import catalogue, schemas
from poche_api.incidents.repository import IncidentRepository
from poche_api.models import RoutingRule, Team

ROUEN, SOTTEVILLE, PETIT_QUEVILLY, GRAND_QUEVILLY = "76540", "76681", "76498", "76322"

TEAMS = (
    ("voirie-rouen", "Voirie — Rouen"),
    ("voirie-rive-gauche", "Voirie — rive gauche"),
    ("proprete-metropole", "Propreté — Métropole"),
    ("eclairage-metropole", "Éclairage public — Métropole"),
    ("astreinte-eclairage", "Astreinte éclairage (nuit)"),
)

GROUPS = (
    schemas.GroupIn(code="voirie", name_fr="Voirie", name_en="Roads and pavements", position=1),
    schemas.GroupIn(code="proprete", name_fr="Propreté", name_en="Cleanliness", position=2),
    schemas.GroupIn(
        code="eclairage", name_fr="Éclairage public", name_en="Street lighting", position=3
    ),
    schemas.GroupIn(
        code="reseaux",
        name_fr="Réseaux et urgences",
        name_en="Networks and emergencies",
        position=4,
    ),
)


def _values(*pairs: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"key": key, "name_fr": fr, "name_en": en} for key, fr, en in pairs]


CATEGORIES: tuple[dict[str, Any], ...] = (
    {
        "code": "nid-de-poule",
        "group_code": "voirie",
        "name_fr": "Nid-de-poule",
        "name_en": "Pothole",
        "keywords": ["chaussée", "trou"],
        "sla_working_days": 10,
        "duplicate_radius_m": 30,
        "attributes": [
            {
                "code": "danger",
                "datatype": "singlevaluelist",
                "required": True,
                "description_fr": "Le trou est-il dangereux ?",
                "description_en": "Is the hole dangerous?",
                "values": _values(
                    ("faible", "Peu", "Slightly"),
                    ("moyen", "Assez", "Fairly"),
                    ("fort", "Très (risque de chute)", "Very (risk of a fall)"),
                ),
            }
        ],
    },
    {
        "code": "trottoir-degrade",
        "group_code": "voirie",
        "name_fr": "Trottoir dégradé",
        "name_en": "Damaged pavement",
        "sla_working_days": 15,
    },
    {
        "code": "depot-sauvage",
        "group_code": "proprete",
        "name_fr": "Dépôt sauvage",
        "name_en": "Fly-tipping",
        "sla_working_days": 3,
        "photo_required": True,
        "photo_retention_days": 90,
        "attributes": [
            {
                "code": "volume",
                "datatype": "singlevaluelist",
                "required": False,
                "description_fr": "Quel volume ?",
                "description_en": "How much?",
                "values": _values(
                    ("sac", "Quelques sacs", "A few bags"),
                    ("coffre", "Un coffre de voiture", "A car boot"),
                    ("camion", "Un camion", "A van load"),
                ),
            }
        ],
    },
    {
        "code": "graffiti-injurieux",
        "group_code": "proprete",
        "name_fr": "Tag injurieux",
        "name_en": "Offensive graffiti",
        "private": True,
        "sla_working_days": 2,
        "default_priority": 3,
    },
    {
        "code": "lampadaire-eteint",
        "group_code": "eclairage",
        "name_fr": "Lampadaire éteint",
        "name_en": "Street light out",
        "sla_working_days": 5,
        "attributes": [
            {
                "code": "numero",
                "datatype": "string",
                "required": False,
                "description_fr": "Numéro inscrit sur le mât",
                "description_en": "Number written on the post",
            }
        ],
    },
    {
        "code": "odeur-gaz",
        "group_code": "reseaux",
        "name_fr": "Odeur de gaz",
        "name_en": "Smell of gas",
        "default_priority": 4,
        "emergency_notice_fr": "Odeur de gaz : éloignez-vous et appelez Urgence Sécurité Gaz "
        "au 0 800 47 33 33 (gratuit, 24 h/24).",
        "emergency_notice_en": "Smell of gas: move away and call the gas emergency line "
        "0 800 47 33 33 (free, 24/7).",
    },
    {
        "code": "poteau-telecom",
        "group_code": "reseaux",
        "name_fr": "Poteau ou câble téléphonique",
        "name_en": "Telephone pole or cable",
        "competence": "external",
        "external_body": "Orange",
        "external_notice_fr": "Les poteaux et câbles téléphoniques relèvent d'Orange : "
        "signalez-les sur dommages-reseaux.orange.fr.",
        "external_notice_en": "Telephone poles and cables belong to Orange: report them at "
        "dommages-reseaux.orange.fr.",
    },
)

RULES: tuple[dict[str, Any], ...] = (
    {
        "position": 10,
        "name": "Éclairage urgent la nuit",
        "team": "astreinte-eclairage",
        "category_codes": ["lampadaire-eteint"],
        "min_priority": 4,
        "starts_at": time(20, 0),
        "ends_at": time(6, 0),
    },
    {
        "position": 20,
        "name": "Voirie de Rouen",
        "team": "voirie-rouen",
        "category_codes": ["nid-de-poule", "trottoir-degrade"],
        "commune_insee": [ROUEN],
    },
    {
        "position": 30,
        "name": "Voirie rive gauche",
        "team": "voirie-rive-gauche",
        "category_codes": ["nid-de-poule", "trottoir-degrade"],
        "commune_insee": [SOTTEVILLE, PETIT_QUEVILLY, GRAND_QUEVILLY],
    },
    {
        "position": 40,
        "name": "Propreté",
        "team": "proprete-metropole",
        "category_codes": ["depot-sauvage", "graffiti-injurieux"],
    },
    {
        "position": 50,
        "name": "Éclairage public",
        "team": "eclairage-metropole",
        "category_codes": ["lampadaire-eteint"],
    },
)


async def seed_catalogue(session: AsyncSession) -> None:
    """Teams, groups, categories and rules; safe to run again (rules are keyed on name)."""
    repo = IncidentRepository.from_session(session)
    for slug, name in TEAMS:
        if await repo.team_by_slug(slug) is None:
            session.add(Team(slug=slug, name=name))
    await session.flush()
    for group in GROUPS:
        await catalogue.upsert_group(session, group)
    for raw in CATEGORIES:
        data = schemas.CategoryIn.model_validate(raw)
        await catalogue.upsert_category(session, data.code, data)
    existing = {rule.name: rule for rule in await repo.rules()}
    for raw in RULES:
        wanted = schemas.RoutingRuleIn.model_validate(raw)
        team = await repo.team_by_slug(wanted.team)
        if team is None:  # pragma: no cover - TEAMS lists every team the rules name
            raise LookupError(wanted.team)
        rule = existing.get(wanted.name) or RoutingRule()
        for name, value in wanted.model_dump(exclude={"team"}).items():
            setattr(rule, name, value)
        rule.team_id = team.id
        session.add(rule)
    await session.flush()


@seeder("incidents")
async def _seed(connection: AsyncConnection) -> None:
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    try:
        await seed_catalogue(session)
        # Releases the savepoint into the seeding transaction; closing alone rolls it back.
        await session.commit()
    finally:
        await session.close()
