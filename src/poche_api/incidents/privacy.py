"""A resident's incident data in their export, and what their erasure does to it.

A resident's reports, follows and feedback are keyed on ``resident:<id>``, or on ``device:<id>``
for what an install did before signing in: both count (the erasure runs before identity deletes
the devices). Erasure keeps each report for the public record but unlinks it from the person:
reporter and contact e-mail erased, the resident's keys in the history and on photos replaced,
follows deleted (the "me too" count they added stays), feedback comments deleted (the rating
stays, under a random key). What they wrote may hold contact data: e-mail addresses and phone
numbers are scrubbed from their reports' descriptions, their answers to the category's questions
and the notes they left on the public timeline ("not fixed" reasons).
"""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.identity.privacy import erasure_step, export_section
from poche_api.incidents.repository import IncidentRepository
from poche_api.incidents.retention import RetentionRepository
from poche_api.incidents.views import photo_view
from poche_api.kit import contacts
from poche_api.kit.timeutil import utcnow
from poche_api.models import (
    Device,
    IncidentEvent,
    IncidentFeedback,
    IncidentFollow,
    IncidentReport,
)


async def principal_keys(session: AsyncSession, resident_id: uuid.UUID) -> list[str]:
    devices = await session.scalars(select(Device.id).where(Device.resident_id == resident_id))
    return [f"resident:{resident_id}", *(f"device:{device_id}" for device_id in devices)]


@export_section("incidents")
async def export(session: AsyncSession, resident_id: uuid.UUID) -> dict[str, Any]:
    keys = await principal_keys(session, resident_id)
    repo = IncidentRepository.from_session(session)
    reports = await RetentionRepository(session).reports_of(keys)
    categories = await repo.categories_by_id([report.category_id for report in reports])
    photos = await repo.photos([report.id for report in reports])
    follows = list(
        await session.execute(
            select(IncidentFollow, IncidentReport.tracking_code)
            .join(IncidentReport, IncidentReport.id == IncidentFollow.report_id)
            .where(IncidentFollow.principal.in_(keys))
            .order_by(IncidentFollow.created_at)
        )
    )
    feedback = list(
        await session.execute(
            select(IncidentFeedback, IncidentReport.tracking_code)
            .join(IncidentReport, IncidentReport.id == IncidentFeedback.report_id)
            .where(IncidentFeedback.principal.in_(keys))
            .order_by(IncidentFeedback.created_at)
        )
    )
    return {
        "reports": [
            {
                "tracking_code": report.tracking_code,
                "category": categories[report.category_id].code,
                "status": report.status,
                "description": report.description,
                "contact_email": report.contact_email,
                "location": {"lat": report.lat, "lon": report.lon},
                "commune_insee": report.commune_insee,
                "address": report.address,
                "attributes": dict(report.attributes),
                "created_at": report.created_at.isoformat(),
                "updated_at": report.updated_at.isoformat(),
                "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
                "closed_at": report.closed_at.isoformat() if report.closed_at else None,
                "photos": [
                    photo_view(photo).url for photo in photos if photo.report_id == report.id
                ],
            }
            for report in reports
        ],
        "follows": [
            {
                "tracking_code": code,
                "supporter": follow.supporter,
                "since": follow.created_at.isoformat(),
            }
            for follow, code in follows
        ],
        "feedback": [
            {
                "tracking_code": code,
                "rating": given.rating,
                "comment": given.comment,
                "given_at": given.created_at.isoformat(),
            }
            for given, code in feedback
        ],
    }


@erasure_step("incidents")
async def erase(session: AsyncSession, resident_id: uuid.UUID) -> None:
    keys = await principal_keys(session, resident_id)
    repo = RetentionRepository(session)
    now = utcnow()
    for report in await repo.reports_of(keys):
        report.reporter = None
        report.contact_email = None
        report.contact_purged_at = now
        report.description = contacts.scrub(report.description)
        report.attributes = contacts.scrub_values(dict(report.attributes))
    # Before anonymise_traces replaces the keys these notes are found by.
    notes = await session.scalars(
        select(IncidentEvent).where(
            IncidentEvent.actor.in_(keys), IncidentEvent.public_note.is_not(None)
        )
    )
    for event in notes:
        event.public_note = contacts.scrub(event.public_note or "")
    await repo.delete_follows(keys=keys)
    await repo.anonymise_traces(keys=keys)
    await session.flush()
