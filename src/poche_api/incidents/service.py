"""Incident business rules: filing, routing, the workflow, follows and feedback.

Services only flush; the request (or job) commits once. Every change of a report appends to its
history and bumps its version (the ETag agents send back in If-Match). Pushes to followers go
through ``notifications.service.notify`` in the same transaction, so a rolled-back change sends
nothing.
"""

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from poche_api import jobs
from poche_api.auth import Principal
from poche_api.config import Settings
from poche_api.errors import Conflict, Forbidden, NotFound, PreconditionFailed, Unprocessable
from poche_api.identity.schemas import StaffRole
from poche_api.incidents import catalogue, routing, sla, workflow
from poche_api.incidents import tasks as incident_tasks
from poche_api.incidents.repository import IncidentRepository
from poche_api.incidents.schemas import ReportIn, TransitionIn
from poche_api.incidents.workflow import OPEN, Actor, Status
from poche_api.integrations.geocoding import BanGeocoder
from poche_api.kit.timeutil import utcnow
from poche_api.models import (
    IncidentCategory,
    IncidentEvent,
    IncidentFeedback,
    IncidentFollow,
    IncidentPhoto,
    IncidentReport,
)
from poche_api.notifications.service import Target, notify
from poche_api.territory.service import TerritoryService

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read over the phone
CODE_PREFIX = "RMN-"


def _not_found(what: str = "Signalement") -> NotFound:
    return NotFound((f"{what} introuvable.", "Report not found."), slug="report-not-found")


@dataclass(frozen=True)
class Caller:
    """Who acts on a report, as the workflow table names them."""

    key: str
    principal: Principal

    @property
    def is_staff(self) -> bool:
        return self.principal.kind == "staff" or self.principal.kind == "operator"

    @property
    def is_supervisor(self) -> bool:
        return self.principal.kind == "operator" or (
            self.principal.kind == "staff"
            and self.principal.role in (StaffRole.supervisor, StaffRole.admin)
        )

    @property
    def is_admin(self) -> bool:
        return self.principal.kind == "operator" or self.principal.role is StaffRole.admin

    def role_name(self) -> str:
        if self.principal.kind == "staff":
            return str(self.principal.role or StaffRole.agent)
        return self.principal.kind


def caller(principal: Principal) -> Caller:
    return Caller(key=principal.key, principal=principal)


def partner_caller(key: str) -> Caller:
    """A partner system filing on its own behalf (``open311:<key digest>``): no account, no role."""
    return Caller(key=key, principal=Principal("partner", None))


async def new_tracking_code(repo: IncidentRepository) -> str:
    while True:
        code = CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not await repo.code_taken(code):
            return code


def _event(
    report: IncidentReport,
    who: Caller | None,
    action: str,
    *,
    at: datetime,
    role: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    public_note: str | None = None,
    internal_note: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    return IncidentEvent(
        report_id=report.id,
        at=at,
        actor=who.key if who else "system",
        actor_role=role or (who.role_name() if who else "system"),
        action=action,
        from_status=from_status,
        to_status=to_status,
        public_note=public_note,
        internal_note=internal_note,
        data=data or {},
    )


# --- filing ---


@dataclass(frozen=True)
class Filed:
    report: IncidentReport
    category: IncidentCategory
    created: bool


def _emergency(category: IncidentCategory) -> Unprocessable | None:
    if category.emergency_notice_fr:
        return Unprocessable(
            (category.emergency_notice_fr, category.emergency_notice_en or ""),
            slug="emergency-category",
            notice_fr=category.emergency_notice_fr,
            notice_en=category.emergency_notice_en,
        )
    if category.competence == "external":
        return Unprocessable(
            (category.external_notice_fr or "", category.external_notice_en or ""),
            slug="outside-body",
            body=category.external_body,
        )
    return None


async def file_report(
    session: AsyncSession,
    settings: Settings,
    territory: TerritoryService,
    who: Caller,
    data: ReportIn,
    photos: Sequence[dict[str, Any]] = (),
    *,
    geocoder: BanGeocoder | None = None,
    now: datetime | None = None,
    channel: str = "app",
) -> Filed:
    """File a report (or return the same one when its client-generated id is retried)."""
    now = now or utcnow()
    repo = IncidentRepository.from_session(session)
    if data.id is not None:
        existing = await repo.report(data.id)
        if existing is not None:
            if existing.reporter != who.key:
                raise Conflict(
                    ("Cet identifiant est déjà pris.", "This report id is already taken."),
                    slug="report-id-taken",
                )
            return Filed(existing, await repo.category(existing.category_id), created=False)
    category = await catalogue.active_category(session, data.category)
    refused = _emergency(category)
    if refused is not None:
        raise refused
    answers = catalogue.check_attributes(category, data.attributes)
    if category.photo_required and not photos:
        raise Unprocessable(
            ("Une photo est requise pour cette catégorie.", "This category needs a photo."),
            slug="photo-required",
            errors=[{"pointer": "/photos", "detail": "at least one photo is required"}],
        )
    commune = await territory.locate(data.location.lat, data.location.lon)
    if commune is None:
        raise Unprocessable(
            (
                "Ce point est hors du territoire de la Métropole.",
                "This point lies outside the Métropole.",
            ),
            slug="outside-metropole",
            errors=[{"pointer": "/location", "detail": "outside the Métropole"}],
        )
    report = IncidentReport(
        id=data.id or uuid.uuid4(),
        tracking_code=await new_tracking_code(repo),
        category_id=category.id,
        status=Status.submitted,
        priority=category.default_priority,
        lat=data.location.lat,
        lon=data.location.lon,
        commune_insee=commune.insee,
        description=data.description,
        attributes=answers,
        reporter=who.key,
        contact_email=data.contact_email,
        channel=channel,
        supporters=0,
        hidden=False,
        description_redacted=False,
        sla_due_at=sla.due_at(now, category.sla_working_days),
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    session.add(_event(report, who, "created", at=now, role="reporter", to_status=Status.submitted))
    session.add(IncidentFollow(report_id=report.id, principal=who.key, supporter=False))
    for position, variants in enumerate(photos):
        # The order the resident chose; now() is the same for every row of one transaction.
        session.add(
            IncidentPhoto(
                report_id=report.id,
                kind="report",
                variants=variants,
                uploaded_by=who.key,
                created_at=now + timedelta(microseconds=position),
            )
        )
    await route(session, report, category, now=now)
    await _locate_address(session, report, geocoder)
    return Filed(report, category, created=True)


async def _locate_address(
    session: AsyncSession, report: IncidentReport, geocoder: BanGeocoder | None
) -> None:
    """The BAN address now if it answers (cached answers are instant), else from a job."""
    found = await geocoder.reverse(report.lat, report.lon) if geocoder is not None else None
    if found is not None:
        report.address = found.label
        await session.flush()
        return
    await jobs.enqueue(session, incident_tasks.GEOCODE, {"report_id": str(report.id)})


async def route(
    session: AsyncSession,
    report: IncidentReport,
    category: IncidentCategory,
    *,
    now: datetime,
    who: Caller | None = None,
) -> None:
    """Apply the first matching rule; no match sends the report back to triage."""
    repo = IncidentRepository.from_session(session)
    facts = routing.ReportFacts(
        category_code=category.code,
        commune_insee=report.commune_insee,
        lat=report.lat,
        lon=report.lon,
        priority=report.priority,
        at=now,
    )
    rule = routing.first_match(await repo.rules(), facts)
    previous_team = report.team_id
    report.routing_rule_id = rule.id if rule else None
    report.team_id = rule.team_id if rule else None
    if report.team_id != previous_team:
        report.assignee_id = None
    before = report.status
    moved = report.team_id != previous_team
    if rule is not None and report.status == Status.submitted:
        report.status = Status.triaged
    elif moved and report.status in workflow.OPEN and report.status != Status.reopen_requested:
        # The new team (or triage) starts from its queue; the old assignee lets it go.
        report.status = Status.triaged if rule is not None else Status.submitted
    report.updated_at = now
    session.add(
        _event(
            report,
            who,
            "routed",
            at=now,
            from_status=before if before != report.status else None,
            to_status=report.status if before != report.status else None,
            data={
                "rule_id": str(rule.id) if rule else None,
                "rule": rule.name if rule else None,
                "team_id": str(rule.team_id) if rule else None,
            },
        )
    )
    await session.flush()


# --- reading with authorisation ---


async def visible_report(
    session: AsyncSession, report_id: uuid.UUID, who: Caller | None
) -> tuple[IncidentReport, IncidentCategory]:
    """A report the caller may see: public ones; private ones to their reporter, followers and
    teams; hidden ones (moderation) to their reporter and teams only."""
    repo = IncidentRepository.from_session(session)
    report = await repo.report(report_id)
    if report is None:
        raise _not_found()
    category = await repo.category(report.category_id)
    if not (category.private or report.hidden):
        return report, category
    if who is not None and report.reporter == who.key:
        return report, category
    if who is not None and who.is_staff:
        team_ids = await repo.team_ids_by_slug(sorted(who.principal.teams))
        if who.is_supervisor or report.team_id in team_ids:
            return report, category
    if who is not None and not report.hidden and await repo.follow(report.id, who.key) is not None:
        return report, category
    raise _not_found()


async def followed_or_visible_report(
    session: AsyncSession, report_id: uuid.UUID, who: Caller
) -> IncidentReport:
    """What the caller may stop following: a report they follow even if hidden since, or any
    report they may see."""
    repo = IncidentRepository.from_session(session)
    report = await repo.report(report_id)
    if report is not None and await repo.follow(report.id, who.key) is not None:
        return report
    return (await visible_report(session, report_id, who))[0]


def ensure_handles(who: Caller, report: IncidentReport, team_ids: Sequence[uuid.UUID]) -> None:
    """Staff may act on their teams' reports; supervisors on any (triage included)."""
    if who.is_supervisor:
        return
    if who.principal.kind != "staff" or report.team_id is None or report.team_id not in team_ids:
        raise Forbidden(
            ("Ce signalement n'est pas dans vos équipes.", "This report is outside your teams."),
            slug="out-of-scope",
        )


async def staff_report(
    session: AsyncSession, report_id: uuid.UUID, who: Caller, *, lock: bool = False
) -> IncidentReport:
    repo = IncidentRepository.from_session(session)
    report = await repo.report(report_id, lock=lock)
    if report is None:
        raise _not_found()
    ensure_handles(who, report, await repo.team_ids_by_slug(sorted(who.principal.teams)))
    return report


def check_version(report: IncidentReport, if_match: str | None) -> None:
    """Optimistic concurrency: the client's If-Match must name the current version."""
    if if_match is None:
        return
    wanted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in wanted or f'"r{report.version}"' in wanted:
        return
    raise PreconditionFailed(
        (
            "Le signalement a changé depuis votre lecture : rechargez-le.",
            "The report changed since you read it: reload it.",
        ),
        slug="version-mismatch",
        current_version=report.version,
    )


# --- workflow ---


def _actor_for(who: Caller, report: IncidentReport) -> Actor:
    if who.is_supervisor:
        return "supervisor"
    if who.is_staff:
        return "agent"
    return "reporter"


async def transition(
    session: AsyncSession,
    settings: Settings,
    report: IncidentReport,
    who: Caller,
    change: TransitionIn,
    *,
    now: datetime | None = None,
    after_fix_photo: dict[str, Any] | None = None,
) -> IncidentReport:
    now = now or utcnow()
    repo = IncidentRepository.from_session(session)
    actor = _actor_for(who, report)
    target = Status(change.status)
    workflow.check(report.status, target, actor)
    before = report.status
    data: dict[str, Any] = {}
    if target == Status.duplicate:
        original = await _original_for(repo, report, change.duplicate_of or "")
        report.duplicate_of_id = original.id
        moved = await repo.move_follows(report.id, original.id)
        await repo.bump_supporters(original.id, moved)
        data["duplicate_of"] = original.tracking_code
        session.add(
            _event(
                original,
                who,
                "merged",
                at=now,
                public_note=None,
                data={"duplicate": report.tracking_code, "followers_moved": moved},
            )
        )
    if target == Status.scheduled:
        report.scheduled_for = change.scheduled_for
        data["scheduled_for"] = str(change.scheduled_for)
    if target in (Status.rejected, Status.forwarded):
        report.resolution_reason = change.reason
    if target in (Status.assigned,) and who.principal.kind == "staff" and actor == "agent":
        report.assignee_id = who.principal.id
    if target == Status.triaged:
        report.assignee_id = None
    if target == Status.resolved:
        report.resolved_at = now
    if target == Status.reopened:
        report.resolved_at = None
        report.escalated_at = None
        category = await repo.category(report.category_id)
        report.sla_due_at = sla.due_at(now, category.sla_working_days)
        report.resolution_reason = None
    report.status = target
    report.closed_at = now if target in workflow.CLOSED else None
    report.updated_at = now
    session.add(
        _event(
            report,
            who,
            "transition",
            at=now,
            role=actor if actor != "reporter" else "reporter",
            from_status=before,
            to_status=target,
            public_note=change.public_note or change.reason,
            internal_note=change.internal_note,
            data=data,
        )
    )
    photo: IncidentPhoto | None = None
    if after_fix_photo is not None:
        photo = IncidentPhoto(
            report_id=report.id,
            kind="after_fix",
            variants=after_fix_photo,
            uploaded_by=who.key,
            created_at=now,
        )
        session.add(photo)
    await session.flush()
    if target in workflow.PUBLIC_CHANGES:
        await notify_followers(session, settings, report, note=change.public_note, photo=photo)
    return report


async def _original_for(
    repo: IncidentRepository, report: IncidentReport, code: str
) -> IncidentReport:
    original = await repo.report_by_code(code)
    if original is None or original.id == report.id:
        raise Unprocessable(
            ("Signalement d'origine introuvable.", "Original report not found."),
            slug="original-not-found",
            errors=[{"pointer": "/duplicate_of", "detail": "unknown tracking code"}],
        )
    if original.duplicate_of_id is not None or original.status not in workflow.OPEN:
        raise Unprocessable(
            (
                "Le signalement d'origine doit être ouvert.",
                "The original report must be open and not itself a duplicate.",
            ),
            slug="original-not-open",
        )
    return original


async def notify_followers(
    session: AsyncSession,
    settings: Settings,
    report: IncidentReport,
    *,
    note: str | None,
    photo: IncidentPhoto | None,
) -> int:
    """One push per follower's devices for a public status change; returns how many."""
    repo = IncidentRepository.from_session(session)
    category = await repo.category(report.category_id)
    params: dict[str, Any] = {
        "reference": report.tracking_code,
        "status_fr": workflow.label(report.status, "fr"),
        "status_en": workflow.label(report.status, "en"),
        "category_fr": category.name_fr,
        "category_en": category.name_en,
        "note": (note or "")[:180],
        "report_id": str(report.id),
    }
    if photo is not None:
        params["image_url"] = (
            f"{settings.public_url.rstrip('/')}/v1/incidents/photos/{photo.id}/large.webp"
        )
    followers = await repo.followers(report.id)
    if report.hidden:  # moderation hid it: only its reporter still follows it
        followers = [principal for principal in followers if principal == report.reporter]
    for principal in followers:
        await notify(
            session,
            kind="incident_update",
            template="report_update",
            params=params,
            target=Target(principal=principal),
            deep_link=f"poche://reports/{report.id}",
        )
    return len(followers)


async def claim(
    session: AsyncSession, settings: Settings, report: IncidentReport, who: Caller
) -> IncidentReport:
    """An agent takes a report of their team's queue."""
    if who.principal.kind != "staff":
        raise Forbidden(("Réservé aux agents.", "Field agents only."), slug="insufficient-role")
    if report.assignee_id == who.principal.id and report.status == Status.assigned:
        return report
    if report.assignee_id is not None and report.assignee_id != who.principal.id:
        raise Conflict(
            ("Ce signalement est déjà pris par un autre agent.", "Another agent has it."),
            slug="already-claimed",
        )
    now = utcnow()
    if report.status in (Status.triaged, Status.reopened):
        workflow.check(report.status, Status.assigned, "agent")
        before = report.status
        report.status = Status.assigned
        session.add(
            _event(report, who, "transition", at=now, from_status=before, to_status=Status.assigned)
        )
    elif report.status not in (Status.in_progress, Status.scheduled, Status.reopen_requested):
        raise Conflict(
            ("Ce signalement ne peut pas être pris.", "This report cannot be claimed now."),
            slug="not-claimable",
        )
    report.assignee_id = who.principal.id
    report.updated_at = now
    session.add(_event(report, who, "claimed", at=now, data={"assignee": str(who.principal.id)}))
    await session.flush()
    return report


async def reassign(
    session: AsyncSession,
    report: IncidentReport,
    who: Caller,
    *,
    team_slug: str | None,
    assignee_id: uuid.UUID | None,
    note: str | None,
) -> IncidentReport:
    """A supervisor moves a report to another team and/or agent."""
    repo = IncidentRepository.from_session(session)
    now = utcnow()
    data: dict[str, Any] = {}
    if team_slug is not None:
        team = await repo.team_by_slug(team_slug)
        if team is None:
            raise Unprocessable(
                (f"Équipe {team_slug} inconnue.", f"Unknown team {team_slug}."),
                slug="team-not-found",
            )
        if team.id != report.team_id:
            report.team_id = team.id
            report.routing_rule_id = None
            report.assignee_id = None
            data["team"] = team.slug
    if assignee_id is not None:
        if report.team_id is None or await repo.staff_in_team(assignee_id, report.team_id) is None:
            raise Unprocessable(
                ("Cet agent n'est pas dans l'équipe.", "This agent is not in the team."),
                slug="agent-not-in-team",
            )
        report.assignee_id = assignee_id
        data["assignee"] = str(assignee_id)
    before = report.status
    if report.team_id is not None and report.status == Status.submitted:
        report.status = Status.triaged
    if report.assignee_id is not None and report.status in (Status.triaged, Status.reopened):
        report.status = Status.assigned
    if report.assignee_id is None and report.status == Status.assigned:
        report.status = Status.triaged
    report.updated_at = now
    session.add(
        _event(
            report,
            who,
            "reassigned",
            at=now,
            from_status=before if before != report.status else None,
            to_status=report.status if before != report.status else None,
            internal_note=note,
            data=data,
        )
    )
    await session.flush()
    return report


# --- residents ---


async def request_reopen(
    session: AsyncSession,
    settings: Settings,
    report: IncidentReport,
    who: Caller,
    reason: str,
    *,
    now: datetime | None = None,
) -> IncidentReport:
    """'Not fixed': only the reporter, only within the configured delay after resolution."""
    now = now or utcnow()
    if report.reporter != who.key:
        raise Forbidden(
            ("Seul l'auteur du signalement peut le rouvrir.", "Only the reporter may reopen it."),
            slug="not-the-reporter",
        )
    workflow.check(report.status, Status.reopen_requested, "reporter")
    deadline = (report.resolved_at or now) + timedelta(days=settings.incident_reopen_days)
    if now > deadline:
        raise Conflict(
            (
                "Le délai pour signaler que ce n'est pas réparé est dépassé.",
                "The delay to say it is not fixed has passed.",
            ),
            slug="reopen-delay-passed",
        )
    before = report.status
    report.status = Status.reopen_requested
    report.closed_at = None
    report.updated_at = now
    session.add(
        _event(
            report,
            who,
            "transition",
            at=now,
            role="reporter",
            from_status=before,
            to_status=Status.reopen_requested,
            public_note=reason,
        )
    )
    await session.flush()
    return report


async def follow(
    session: AsyncSession, report: IncidentReport, who: Caller, *, support: bool
) -> bool:
    """Follow (and with ``support``, count as 'me too'); True when it changed something."""
    repo = IncidentRepository.from_session(session)
    existing = await repo.follow(report.id, who.key)
    if support and report.status not in workflow.OPEN:
        raise Conflict(("Ce signalement est clos.", "This report is closed."), slug="report-closed")
    if existing is None:
        session.add(IncidentFollow(report_id=report.id, principal=who.key, supporter=support))
        if support and report.reporter != who.key:
            await repo.bump_supporters(report.id, 1)
            session.add(_event(report, who, "supported", at=utcnow(), role="resident"))
        await session.flush()
        return True
    if support and not existing.supporter and report.reporter != who.key:
        existing.supporter = True
        await repo.bump_supporters(report.id, 1)
        session.add(_event(report, who, "supported", at=utcnow(), role="resident"))
        await session.flush()
        return True
    return False


async def unfollow(session: AsyncSession, report: IncidentReport, who: Caller) -> None:
    repo = IncidentRepository.from_session(session)
    existing = await repo.follow(report.id, who.key)
    if existing is None:
        return
    if existing.supporter:
        await repo.bump_supporters(report.id, -1)
    await repo.unfollow(report.id, who.key)


async def give_feedback(
    session: AsyncSession, report: IncidentReport, who: Caller, rating: int, comment: str | None
) -> tuple[IncidentFeedback, bool]:
    if (
        report.reporter != who.key
        and (await IncidentRepository.from_session(session).follow(report.id, who.key)) is None
    ):
        raise Forbidden(
            ("Réservé à l'auteur et aux abonnés.", "Only the reporter and followers."),
            slug="not-a-follower",
        )
    if report.status != Status.resolved:
        raise Conflict(
            ("L'avis se donne une fois le signalement résolu.", "Feedback comes after resolution."),
            slug="not-resolved",
        )
    repo = IncidentRepository.from_session(session)
    existing = await repo.feedback(report.id, who.key)
    if existing is not None:
        existing.rating, existing.comment = rating, comment
        await session.flush()
        return existing, False
    feedback = IncidentFeedback(
        report_id=report.id, principal=who.key, rating=rating, comment=comment
    )
    session.add(feedback)
    session.add(
        _event(report, who, "feedback", at=utcnow(), role="reporter", data={"rating": rating})
    )
    await session.flush()
    return feedback, True


async def requalify(
    session: AsyncSession,
    territory: TerritoryService,
    report: IncidentReport,
    who: Caller,
    *,
    category_code: str | None,
    lat: float | None,
    lon: float | None,
    priority: int | None,
    note: str | None,
) -> IncidentReport:
    """Change category, location or priority of an open report; a new category or place is
    routed again."""
    if report.status not in OPEN:
        raise Conflict(
            ("Un signalement clos ne se requalifie pas.", "A closed report cannot be changed."),
            slug="report-closed",
        )
    repo = IncidentRepository.from_session(session)
    now = utcnow()
    data: dict[str, Any] = {}
    reroute = False
    category = await repo.category(report.category_id)
    if category_code is not None and category_code != category.code:
        previous = category.code
        category = await catalogue.active_category(session, category_code)
        data["category"] = {"from": previous, "to": category.code}
        report.category_id = category.id
        report.sla_due_at = sla.due_at(report.created_at, category.sla_working_days)
        reroute = True
    if lat is not None and lon is not None and (lat, lon) != (report.lat, report.lon):
        commune = await territory.locate(lat, lon)
        if commune is None:
            raise Unprocessable(
                ("Ce point est hors de la Métropole.", "This point lies outside the Métropole."),
                slug="outside-metropole",
                errors=[{"pointer": "/location", "detail": "outside the Métropole"}],
            )
        data["location"] = {"from": [report.lat, report.lon], "to": [lat, lon]}
        report.lat, report.lon, report.commune_insee = lat, lon, commune.insee
        report.address = None
        reroute = True
    if priority is not None and priority != report.priority:
        data["priority"] = {"from": report.priority, "to": priority}
        report.priority = priority
        reroute = True
    report.updated_at = now
    session.add(_event(report, who, "requalified", at=now, internal_note=note, data=data))
    await session.flush()
    if reroute and report.status in workflow.OPEN:
        await route(session, report, category, now=now, who=who)
    return report
