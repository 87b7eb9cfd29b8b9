"""What each audience sees of a report: the public, the reporter, the team.

The public never sees who reported, the answers to the category's questions, internal notes, or
anything hidden by moderation; a private category's reports are visible only to their reporter,
followers and staff, a report hidden by moderation only to its reporter (without its hidden
photos) and staff.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from poche_api.incidents import schemas
from poche_api.incidents.catalogue import NamedCategory, category_name
from poche_api.incidents.workflow import OPEN, Status, label
from poche_api.models import IncidentCategory, IncidentEvent, IncidentPhoto, IncidentReport

PHOTO_PREFIX = "/v1/incidents/photos"
REDACTED = {"fr": "[description masquée par la modération]", "en": "[description hidden]"}


class ShownPhoto(Protocol):
    """What a view needs of a photo: a stored ``IncidentPhoto`` or a page's ``PhotoFacts``."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def hidden(self) -> bool: ...
    @property
    def variants(self) -> dict[str, Any]: ...


def photo_view(photo: ShownPhoto) -> schemas.Photo:
    large = photo.variants.get("large", {})
    return schemas.Photo(
        id=photo.id,
        kind=photo.kind,
        url=f"{PHOTO_PREFIX}/{photo.id}/large.webp",
        thumbnail_url=f"{PHOTO_PREFIX}/{photo.id}/thumb.webp",
        width=int(large.get("width", 0)),
        height=int(large.get("height", 0)),
    )


def _description(report: IncidentReport, lang: str, *, own: bool) -> str | None:
    # A hidden report's text is for its reporter (their own words) and staff; a redaction
    # replaced the text itself, so the reporter reads the redaction too.
    if report.hidden and not own:
        return None
    if report.description_redacted and not report.description:
        return REDACTED["en" if lang == "en" else "fr"]
    return report.description or None


def _is_reporter(report: IncidentReport, viewer: str | None) -> bool:
    return viewer is not None and report.reporter == viewer


def can_reopen_until(report: IncidentReport, reopen_days: int) -> datetime | None:
    if report.status != Status.resolved or report.resolved_at is None:
        return None
    return report.resolved_at + timedelta(days=reopen_days)


def timeline(
    events: Sequence[IncidentEvent], viewer: str | None, lang: str
) -> list[schemas.TimelineEntry]:
    """The public history: status changes and public notes, never internal notes or actors."""
    entries = []
    for event in events:
        if event.to_status is None and not event.public_note:
            continue
        by: Literal["you", "metropole", "system"]
        if viewer is not None and event.actor == viewer:
            by = "you"
        elif event.actor_role in ("agent", "supervisor", "admin"):
            by = "metropole"
        else:
            by = "system"
        entries.append(
            schemas.TimelineEntry(
                at=event.at,
                status=Status(event.to_status) if event.to_status else None,
                label=label(event.to_status, lang) if event.to_status else None,
                note=event.public_note,
                by=by,
            )
        )
    return entries


def _shared_fields(
    report: IncidentReport,
    category: NamedCategory,
    *,
    lang: str,
    viewer: str | None,
    photos: Sequence[ShownPhoto],
    reopen_days: int,
    duplicate_code: str | None,
    events: Sequence[IncidentEvent] | None,
    privileged: bool,
) -> dict[str, Any]:
    """The fields every audience's view has, each built once (staff pages render 20 at a time)."""
    mine = viewer is not None and report.reporter == viewer
    return {
        "id": report.id,
        "tracking_code": report.tracking_code,
        "category": category.code,
        "category_name": category_name(category, lang),
        "status": Status(report.status),
        "status_label": label(report.status, lang),
        "location": schemas.PointIn(lat=report.lat, lon=report.lon),
        "commune_insee": report.commune_insee,
        "address": report.address,
        "attributes": dict(report.attributes) if (mine or privileged) else None,
        "photos": [photo_view(p) for p in photos if privileged or not p.hidden],
        "supporters": report.supporters,
        "mine": mine,
        "expected_by": report.sla_due_at,
        "scheduled_for": report.scheduled_for,
        "resolution": report.resolution_reason,
        "duplicate_of": duplicate_code,
        "can_reopen_until": can_reopen_until(report, reopen_days) if mine else None,
        "created_at": report.created_at,
        "updated_at": report.updated_at,
        "timeline": timeline(events, viewer, lang) if events is not None else None,
    }


def report_view(
    report: IncidentReport,
    category: IncidentCategory,
    *,
    lang: str,
    viewer: str | None,
    photos: Sequence[IncidentPhoto],
    following: bool,
    reopen_days: int,
    duplicate_code: str | None = None,
    events: Sequence[IncidentEvent] | None = None,
    privileged: bool = False,
) -> schemas.Report:
    return schemas.Report(
        **_shared_fields(
            report,
            category,
            lang=lang,
            viewer=viewer,
            photos=photos,
            reopen_days=reopen_days,
            duplicate_code=duplicate_code,
            events=events,
            privileged=privileged,
        ),
        description=_description(report, lang, own=privileged or _is_reporter(report, viewer)),
        following=following,
    )


def staff_view(
    report: IncidentReport,
    category: NamedCategory,
    *,
    lang: str,
    viewer: str,
    photos: Sequence[ShownPhoto],
    team_slug: str | None,
    rule_name: str | None,
    now: datetime,
    reopen_days: int,
    duplicate_code: str | None = None,
    events: Sequence[IncidentEvent] | None = None,
) -> schemas.StaffReport:
    return schemas.StaffReport(
        **_shared_fields(
            report,
            category,
            lang=lang,
            viewer=viewer,
            photos=photos,
            reopen_days=reopen_days,
            duplicate_code=duplicate_code,
            events=events,
            privileged=True,
        ),
        # Staff read the text even when moderation hid it from the public.
        description=report.description or None,
        following=False,
        priority=report.priority,
        team=team_slug,
        assignee_id=report.assignee_id,
        routing_rule=rule_name,
        overdue=is_overdue(report, now),
        escalated=report.escalated_at is not None,
        version=report.version,
        reporter_contact=report.contact_email,
        history=[
            schemas.StaffEvent(
                at=event.at,
                actor=event.actor,
                actor_role=event.actor_role,
                action=event.action,
                from_status=Status(event.from_status) if event.from_status else None,
                to_status=Status(event.to_status) if event.to_status else None,
                public_note=event.public_note,
                internal_note=event.internal_note,
                data=dict(event.data),
            )
            for event in events
        ]
        if events is not None
        else None,
    )


def is_overdue(report: IncidentReport, now: datetime) -> bool:
    return report.sla_due_at is not None and report.sla_due_at < now and report.status in OPEN


def etag(report: IncidentReport) -> str:
    return f'"r{report.version}"'


def photos_by_report(photos: Sequence[IncidentPhoto]) -> dict[uuid.UUID, list[IncidentPhoto]]:
    grouped: dict[uuid.UUID, list[IncidentPhoto]] = {}
    for photo in photos:
        grouped.setdefault(photo.report_id, []).append(photo)
    return grouped
