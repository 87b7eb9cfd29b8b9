"""A Métropole-sized history of incident reports, written straight into PostgreSQL with COPY.

The API is bypassed, but every row is what the API would have written: points drawn inside the
communes' own boundaries (communes weighted by population), the demo categories with their
required answers, the team chosen by the demo routing rules (``routing.first_match``), the SLA
deadline from ``sla.due_at`` (working days), and a lifecycle drawn per report — most reports
were closed long ago, the recent and the forgotten ones are still open. Each report also gets
its history (created, routed, status changes), its reporter's follow, and a photo row for most.

Deterministic for a given seed and ``now``.
"""

import itertools
import json
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.incidents import routing, sla
from poche_api.incidents.service import CODE_ALPHABET, CODE_PREFIX
from poche_api.incidents.workflow import Status
from poche_api.kit.geo import BBox, in_multipolygon
from poche_api.kit.timeutil import PARIS
from poche_api.models import IncidentCategory, RoutingRule, StaffMember, StaffTeam, Team
from poche_api.territory.loader import bundled_geojson

HISTORY_DAYS = 3 * 365
# Category mix of a city's reports (fly-tipping and roads lead, as on FixMyStreet and DansMaRue).
CATEGORY_WEIGHTS = {
    "depot-sauvage": 34,
    "nid-de-poule": 24,
    "lampadaire-eteint": 18,
    "trottoir-degrade": 14,
    "graffiti-injurieux": 10,
}
ATTRIBUTES: dict[str, list[dict[str, str]]] = {
    "nid-de-poule": [{"danger": "faible"}, {"danger": "moyen"}, {"danger": "fort"}],
    "depot-sauvage": [{}, {"volume": "sac"}, {"volume": "coffre"}, {"volume": "camion"}],
    "lampadaire-eteint": [{}, {"numero": "A-1127"}],
}
DESCRIPTIONS = (
    "Trou profond au milieu de la chaussée, les voitures font un écart.",
    "Sacs et cartons déposés au pied du conteneur depuis plusieurs jours.",
    "Le lampadaire devant le numéro 12 ne s'allume plus la nuit.",
    "Dalles du trottoir soulevées par les racines, risque de chute.",
    "Tag insultant sur le mur de l'école.",
    "Matelas et meubles abandonnés sur le trottoir.",
    "",
)
# How long a report stays open: most are handled within days, a few drag on, some are forgotten.
MEDIAN_HANDLING_DAYS = 6.0
HANDLING_SIGMA = 1.1
FORGOTTEN_SHARE = 0.012
CLOSED_MIX = ((Status.resolved, 80), (Status.rejected, 9), (Status.duplicate, 9))
CLOSED_MIX_EXTRA = ((Status.forwarded, 2),)
PHOTO_SHARE = 0.65
HOURS = range(24)
HOUR_CUM = list(itertools.accumulate([1] * 7 + [6] * 12 + [3] * 4 + [1]))
REPORTERS = 30_000
VARIANT_SIZES = {"large": (1600, 1200), "medium": (800, 600), "thumb": (320, 240)}

REPORT_COLUMNS = (
    "id",
    "tracking_code",
    "category_id",
    "status",
    "priority",
    "lat",
    "lon",
    "commune_insee",
    "address",
    "description",
    "description_redacted",
    "attributes",
    "reporter",
    "contact_email",
    "channel",
    "team_id",
    "routing_rule_id",
    "assignee_id",
    "scheduled_for",
    "resolution_reason",
    "duplicate_of_id",
    "supporters",
    "sla_due_at",
    "escalated_at",
    "resolved_at",
    "closed_at",
    "hidden",
    "contact_purged_at",
    "version",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = (
    "report_id",
    "at",
    "actor",
    "actor_role",
    "action",
    "from_status",
    "to_status",
    "public_note",
    "internal_note",
    "data",
)
PHOTO_COLUMNS = ("id", "report_id", "kind", "variants", "hidden", "uploaded_by", "created_at")
FOLLOW_COLUMNS = ("report_id", "principal", "supporter", "created_at")


@dataclass(frozen=True)
class Commune:
    insee: str
    population: int
    bbox: BBox
    boundary: list[Any]


@dataclass(frozen=True)
class Catalogue:
    """What the seed needs of the database: ids of categories, teams and rules, the agent."""

    category_ids: dict[str, uuid.UUID]
    sla_days: dict[str, int | None]
    priorities: dict[str, int]
    rules: Sequence[Any]  # RoutingRule rows, ordered by position
    team_slugs: dict[uuid.UUID, str]
    agent_id: uuid.UUID
    agent_team_id: uuid.UUID

    @property
    def agent_key(self) -> str:
        return f"staff:{self.agent_id}"


@dataclass
class Seeded:
    reports: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    photos: list[tuple[Any, ...]] = field(default_factory=list)
    follows: list[tuple[Any, ...]] = field(default_factory=list)
    open_in_team: dict[str, int] = field(default_factory=dict)
    open_total: int = 0
    overdue_in_agent_team: int = 0


def communes() -> list[Commune]:
    found = []
    for feature in json.loads(bundled_geojson())["features"]:
        boundary = feature["geometry"]["coordinates"]
        found.append(
            Commune(
                insee=feature["properties"]["insee"],
                population=int(feature["properties"]["population"]),
                bbox=BBox.of_multipolygon(boundary),
                boundary=boundary,
            )
        )
    return found


def point_in(commune: Commune, rnd: random.Random) -> tuple[float, float]:
    """(lat, lon) uniformly inside the commune (rejection sampling in its bounding box)."""
    box = commune.bbox
    while True:
        lon = rnd.uniform(box.min_lon, box.max_lon)
        lat = rnd.uniform(box.min_lat, box.max_lat)
        if in_multipolygon(lon, lat, commune.boundary):
            return round(lat, 6), round(lon, 6)


def points(places: list[Commune], count: int, rnd: random.Random) -> list[tuple[str, float, float]]:
    """``count`` (insee, lat, lon), communes weighted by population; a pool of distinct spots
    per commune is reused, as the same corners get reported again and again."""
    weights = [max(c.population, 500) for c in places]
    chosen = rnd.choices(places, weights=weights, k=count)
    per_commune: dict[str, int] = {}
    for commune in chosen:
        per_commune[commune.insee] = per_commune.get(commune.insee, 0) + 1
    spots = {
        c.insee: [point_in(c, rnd) for _ in range(max(1, math.ceil(per_commune[c.insee] / 3)))]
        for c in places
        if c.insee in per_commune
    }
    return [(c.insee, *rnd.choice(spots[c.insee])) for c in chosen]


def _code(rnd: random.Random, taken: set[str]) -> str:
    while True:
        code = CODE_PREFIX + "".join(rnd.choice(CODE_ALPHABET) for _ in range(6))
        if code not in taken:
            taken.add(code)
            return code


def _created_at(now: datetime, rnd: random.Random) -> datetime:
    # Uniform over the history, at a daytime hour (Paris) mostly.
    day = (now - timedelta(days=rnd.uniform(0, HISTORY_DAYS))).astimezone(PARIS)
    hour = rnd.choices(HOURS, cum_weights=HOUR_CUM)[0]
    at = day.replace(hour=hour, minute=rnd.randrange(60), second=rnd.randrange(60))
    return at if at < now else at - timedelta(days=1)  # never in the future


def _variants(rnd: random.Random) -> str:
    prefix = f"incidents/{uuid.UUID(int=rnd.getrandbits(128)).hex}"
    return json.dumps(
        {
            name: {
                "key": f"{prefix}/{name}.webp",
                "width": width,
                "height": height,
                "bytes": width * height // 8,
            }
            for name, (width, height) in VARIANT_SIZES.items()
        }
    )


def _open_status(elapsed: timedelta, rnd: random.Random) -> Status:
    if elapsed < timedelta(hours=6):
        return Status.triaged
    return rnd.choices(
        (Status.triaged, Status.assigned, Status.in_progress, Status.scheduled, Status.reopened),
        weights=(35, 25, 20, 15, 5),
    )[0]


def generate(catalogue: Catalogue, count: int, now: datetime, seed: int = 2026) -> Seeded:
    rnd = random.Random(seed)
    places = communes()
    located = points(places, count, rnd)
    codes: set[str] = set()
    reporters = [
        f"{'device' if rnd.random() < 0.6 else 'resident'}:{uuid.UUID(int=rnd.getrandbits(128))}"
        for _ in range(REPORTERS)
    ]
    category_codes = list(CATEGORY_WEIGHTS)
    category_cum = list(itertools.accumulate(CATEGORY_WEIGHTS.values()))
    closed_statuses = [status for status, _ in (*CLOSED_MIX, *CLOSED_MIX_EXTRA)]
    closed_cum = list(itertools.accumulate(w for _, w in (*CLOSED_MIX, *CLOSED_MIX_EXTRA)))
    answers = {code: [json.dumps(a) for a in options] for code, options in ATTRIBUTES.items()}
    out = Seeded()
    recent_by_category: dict[str, list[uuid.UUID]] = {}
    rows_by_created = sorted(
        ((_created_at(now, rnd), insee, lat, lon) for insee, lat, lon in located),
        key=lambda row: row[0],
    )
    for created, insee, lat, lon in rows_by_created:
        report_id = uuid.UUID(int=rnd.getrandbits(128), version=4)
        code = rnd.choices(category_codes, cum_weights=category_cum)[0]
        priority = catalogue.priorities[code]
        if rnd.random() < 0.05:
            priority = min(4, priority + 1)
        rule = routing.first_match(
            catalogue.rules,
            routing.ReportFacts(
                category_code=code,
                commune_insee=insee,
                lat=lat,
                lon=lon,
                priority=priority,
                at=created,
            ),
        )
        team_id = rule.team_id if rule else None
        due = sla.due_at(created, catalogue.sla_days[code])
        forgotten = rnd.random() < FORGOTTEN_SHARE
        handling = timedelta(
            days=rnd.lognormvariate(math.log(MEDIAN_HANDLING_DAYS), HANDLING_SIGMA)
        )
        closes_at = None if forgotten else created + handling
        reporter = rnd.choice(reporters)
        events: list[tuple[Any, ...]] = [
            (report_id, created, reporter, "reporter", "created", None, "submitted", None, None),
            (
                report_id,
                created,
                "system",
                "system",
                "routed",
                "submitted",
                "triaged" if rule else None,
                None,
                None,
            ),
        ]
        assignee = None
        duplicate_of = None
        resolution = None
        escalated = None
        if closes_at is not None and closes_at <= now:
            status = rnd.choices(closed_statuses, cum_weights=closed_cum)[0]
            closed_at: datetime | None = closes_at
            if status == Status.rejected:
                resolution = "Hors du domaine public : propriété privée."
            elif status == Status.forwarded:
                resolution = "Transmis au gestionnaire du réseau."
            elif status == Status.duplicate:
                earlier = recent_by_category.get(code) or []
                duplicate_of = rnd.choice(earlier[-200:]) if earlier else None
                if duplicate_of is None:
                    status = Status.resolved
            start = "triaged" if rule else "submitted"
            events.append(
                (
                    report_id,
                    closes_at,
                    "system" if team_id is None else catalogue.agent_key,
                    "supervisor" if team_id is None else "agent",
                    "transition",
                    start,
                    str(status),
                    "Intervention réalisée." if status == Status.resolved else resolution,
                    None,
                )
            )
            if due is not None and closes_at > due:
                escalated = due + timedelta(minutes=15)
        else:
            closed_at = None
            status = _open_status(now - created, rnd) if rule else Status.submitted
            if status != Status.triaged and status != Status.submitted:
                if team_id == catalogue.agent_team_id and rnd.random() < 0.5:
                    assignee = catalogue.agent_id
                events.append(
                    (
                        report_id,
                        created + (now - created) / 3,
                        catalogue.agent_key,
                        "agent",
                        "transition",
                        "triaged",
                        str(status),
                        None,
                        "Pris en charge.",
                    )
                )
            if due is not None and due < now:
                escalated = due + timedelta(minutes=15)  # the escalation job ran long ago
            out.open_total += 1
            slug = catalogue.team_slugs.get(team_id, "triage") if team_id else "triage"
            out.open_in_team[slug] = out.open_in_team.get(slug, 0) + 1
            if team_id == catalogue.agent_team_id and due is not None and due < now:
                out.overdue_in_agent_team += 1
        recent_by_category.setdefault(code, []).append(report_id)
        updated = max(row[1] for row in events)
        out.reports.append(
            (
                report_id,
                _code(rnd, codes),
                catalogue.category_ids[code],
                str(status),
                priority,
                lat,
                lon,
                insee,
                None,
                rnd.choice(DESCRIPTIONS),
                False,
                rnd.choice(answers.get(code, ["{}"])),
                reporter,
                None,
                "app",
                team_id,
                rule.id if rule else None,
                assignee,
                (now + timedelta(days=rnd.randrange(1, 15))).date()
                if status == Status.scheduled
                else None,
                resolution,
                duplicate_of,
                0,
                due,
                escalated,
                closed_at if status == Status.resolved else None,
                closed_at,
                False,
                None,
                len(events),
                created,
                updated,
            )
        )
        out.events.extend((*event, "{}") for event in events)
        out.follows.append((report_id, reporter, False, created))
        if code == "depot-sauvage" or rnd.random() < PHOTO_SHARE:
            photo_id = uuid.UUID(int=rnd.getrandbits(128), version=4)
            out.photos.append(
                (photo_id, report_id, "report", _variants(rnd), False, reporter, created)
            )
    return out


async def load_catalogue(session: AsyncSession, agent_email: str) -> Catalogue:
    """The demo catalogue as seeded by ``poche_api.incidents.demo`` and the demo staff."""
    categories = list(await session.scalars(select(IncidentCategory)))
    rules = list(
        await session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.name))
    )
    teams = {team.id: team.slug for team in await session.scalars(select(Team))}
    agent = await session.scalar(select(StaffMember).where(StaffMember.email == agent_email))
    if agent is None:
        raise LookupError(f"demo agent {agent_email} not seeded")
    team_id = await session.scalar(select(StaffTeam.team_id).where(StaffTeam.staff_id == agent.id))
    if team_id is None:
        raise LookupError(f"demo agent {agent_email} is in no team")
    return Catalogue(
        category_ids={c.code: c.id for c in categories},
        sla_days={c.code: c.sla_working_days for c in categories},
        priorities={c.code: c.default_priority for c in categories},
        rules=rules,
        team_slugs=teams,
        agent_id=agent.id,
        agent_team_id=team_id,
    )


async def write(connection: Any, seeded: Seeded) -> None:
    """COPY every row in one transaction, then ANALYZE so the planner knows the new sizes."""
    async with connection.transaction():
        # The rows reference each other correctly by construction; checking every foreign key
        # row by row would triple the load time. Needs a superuser (the embedded cluster's).
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.copy_records_to_table(
            "incident_reports", records=seeded.reports, columns=REPORT_COLUMNS
        )
        await connection.copy_records_to_table(
            "incident_events", records=seeded.events, columns=EVENT_COLUMNS
        )
        await connection.copy_records_to_table(
            "incident_photos", records=seeded.photos, columns=PHOTO_COLUMNS
        )
        await connection.copy_records_to_table(
            "incident_follows", records=seeded.follows, columns=FOLLOW_COLUMNS
        )
    for table in ("incident_reports", "incident_events", "incident_photos", "incident_follows"):
        await connection.execute(f"ANALYZE {table}")
