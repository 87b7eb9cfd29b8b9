"""Supervisors' moderation: hide a report or a photo from the public, redact a description.

Every action needs a reason and leaves two traces: a row of the moderation audit log (who, what,
why, when) and an internal history event (never on the public timeline). A redaction replaces
the text for good: the original is not kept anywhere, since what is redacted is usually personal
data or abuse.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.errors import Conflict, NotFound
from poche_api.incidents.repository import IncidentRepository
from poche_api.incidents.schemas import DESCRIPTION_MAX
from poche_api.incidents.service import Caller
from poche_api.kit.timeutil import utcnow
from poche_api.models import IncidentEvent, IncidentModeration, IncidentPhoto, IncidentReport


class Action(StrEnum):
    hide_report = "hide_report"
    unhide_report = "unhide_report"
    redact_description = "redact_description"
    hide_photo = "hide_photo"
    unhide_photo = "unhide_photo"


PHOTO_ACTIONS = frozenset({Action.hide_photo, Action.unhide_photo})


class ModerationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Action
    reason: str = Field(
        min_length=3, max_length=1000, description="Why (kept in the audit log, staff only)"
    )
    photo_id: uuid.UUID | None = Field(None, description="The photo, for hide_photo/unhide_photo")
    redacted_text: str | None = Field(
        None,
        max_length=DESCRIPTION_MAX,
        description="redact_description: the text shown instead; empty or null clears it "
        "(the public then sees a 'hidden by moderation' notice)",
    )

    @model_validator(mode="after")
    def _fits_the_action(self) -> "ModerationIn":
        if (self.action in PHOTO_ACTIONS) != (self.photo_id is not None):
            raise ValueError("photo_id is required for photo actions, and only for them")
        if self.redacted_text is not None and self.action is not Action.redact_description:
            raise ValueError("redacted_text belongs to redact_description only")
        if self.redacted_text and "<" in self.redacted_text and ">" in self.redacted_text:
            raise ValueError("plain text only, no HTML")
        return self


class ModerationEntry(BaseModel):
    id: int
    action: Action
    photo_id: uuid.UUID | None
    actor: str = Field(description="Principal key of the supervisor")
    reason: str
    at: datetime


class ModerationLog(BaseModel):
    hidden: bool = Field(description="The report is hidden from the public")
    description_redacted: bool
    hidden_photos: list[uuid.UUID]
    items: list[ModerationEntry] = Field(description="Oldest first")


def entry_view(row: IncidentModeration) -> ModerationEntry:
    return ModerationEntry(
        id=row.id,
        action=Action(row.action),
        photo_id=row.photo_id,
        actor=row.actor,
        reason=row.reason,
        at=row.at,
    )


async def log(session: AsyncSession, report: IncidentReport) -> ModerationLog:
    repo = IncidentRepository.from_session(session)
    photos = await repo.photos([report.id])
    return ModerationLog(
        hidden=report.hidden,
        description_redacted=report.description_redacted,
        hidden_photos=[photo.id for photo in photos if photo.hidden],
        items=[entry_view(row) for row in await repo.moderations(report.id)],
    )


def _unchanged(fr: str, en: str) -> Conflict:
    return Conflict((fr, en), slug="moderation-unchanged")


async def _photo_of(
    session: AsyncSession, report: IncidentReport, photo_id: uuid.UUID
) -> IncidentPhoto:
    photo = await IncidentRepository.from_session(session).photo(photo_id)
    if photo is None or photo.report_id != report.id or photo.purged_at is not None:
        raise NotFound(("Photo introuvable.", "Photo not found."), slug="photo-not-found")
    return photo


def _set_report_hidden(report: IncidentReport, hidden: bool) -> None:
    if report.hidden == hidden:
        raise _unchanged(
            "Le signalement est déjà " + ("masqué." if hidden else "visible."),
            "The report is already " + ("hidden." if hidden else "visible."),
        )
    report.hidden = hidden


def _set_photo_hidden(photo: IncidentPhoto, hidden: bool) -> None:
    if photo.hidden == hidden:
        raise _unchanged(
            "La photo est déjà " + ("masquée." if hidden else "visible."),
            "The photo is already " + ("hidden." if hidden else "visible."),
        )
    photo.hidden = hidden


async def moderate(
    session: AsyncSession,
    report: IncidentReport,
    who: Caller,
    data: ModerationIn,
    *,
    now: datetime | None = None,
) -> IncidentModeration:
    """Apply one action to a report (the caller is a supervisor, checked by the route)."""
    now = now or utcnow()
    details: dict[str, Any] = {"moderation": str(data.action)}
    if data.action is Action.hide_report:
        _set_report_hidden(report, True)
    elif data.action is Action.unhide_report:
        _set_report_hidden(report, False)
    elif data.action is Action.redact_description:
        details["cleared"] = not data.redacted_text
        report.description = (data.redacted_text or "").strip()
        report.description_redacted = True
    else:
        if data.photo_id is None:  # pragma: no cover - the schema requires it
            raise ValueError("photo_id")
        photo = await _photo_of(session, report, data.photo_id)
        _set_photo_hidden(photo, data.action is Action.hide_photo)
        details["photo_id"] = str(photo.id)
    # A report row change bumps its version (the agents' ETag); a photo's alone must too.
    report.updated_at = now
    row = IncidentModeration(
        report_id=report.id,
        photo_id=data.photo_id,
        actor=who.key,
        action=str(data.action),
        reason=data.reason.strip(),
        at=now,
    )
    session.add(row)
    session.add(
        IncidentEvent(
            report_id=report.id,
            at=now,
            actor=who.key,
            actor_role=who.role_name(),
            action="moderated",
            internal_note=row.reason,
            data=details,
        )
    )
    await session.flush()
    return row
