"""Moderation actions: what they change, the audit log and the internal history they leave."""

import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.errors import Conflict, NotFound
from poche_api.incidents import moderation
from poche_api.incidents.moderation import Action, ModerationIn
from poche_api.incidents.views import REDACTED, report_view
from poche_api.models import IncidentEvent, IncidentModeration
from tests.incidents import rows

ORIGINAL = "Le voisin du 12, M. Dupont, a encore garé sa voiture sur le trottoir"


def _action(action: Action, **fields: object) -> ModerationIn:
    return ModerationIn.model_validate({"action": action, "reason": "Insulte", **fields})


async def _events(session: AsyncSession, report_id: uuid.UUID) -> list[IncidentEvent]:
    found = await session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.report_id == report_id, IncidentEvent.action == "moderated")
        .order_by(IncidentEvent.id)
    )
    return list(found)


async def test_hiding_and_unhiding_a_report_is_audited(session: AsyncSession) -> None:
    report = await rows.report(session)
    who = rows.supervisor()

    await moderation.moderate(session, report, who, _action(Action.hide_report))
    hidden = report.hidden
    await moderation.moderate(
        session, report, who, _action(Action.unhide_report, reason="Vérifié, rien d'injurieux")
    )

    assert hidden is True
    assert report.hidden is False
    log = await moderation.log(session, report)
    assert [(e.action, e.actor, e.reason) for e in log.items] == [
        (Action.hide_report, who.key, "Insulte"),
        (Action.unhide_report, who.key, "Vérifié, rien d'injurieux"),
    ]
    events = await _events(session, report.id)
    assert [(e.actor_role, e.internal_note, e.public_note, e.to_status) for e in events] == [
        ("supervisor", "Insulte", None, None),
        ("supervisor", "Vérifié, rien d'injurieux", None, None),
    ]
    assert events[0].data == {"moderation": "hide_report"}


async def test_doing_the_same_thing_twice_is_a_conflict_and_logs_nothing(
    session: AsyncSession,
) -> None:
    report = await rows.report(session)
    photo = await rows.photo(session, report)
    who = rows.supervisor()
    await moderation.moderate(session, report, who, _action(Action.hide_report))

    with pytest.raises(Conflict):
        await moderation.moderate(session, report, who, _action(Action.hide_report))
    with pytest.raises(Conflict):
        await moderation.moderate(
            session, report, who, _action(Action.unhide_photo, photo_id=photo.id)
        )

    assert [e.action for e in (await moderation.log(session, report)).items] == [Action.hide_report]


async def test_a_redaction_replaces_the_text_for_good(session: AsyncSession) -> None:
    report = await rows.report(session, description=ORIGINAL)
    category = await rows.category(session)

    await moderation.moderate(
        session,
        report,
        rows.supervisor(),
        _action(
            Action.redact_description,
            reason="Nom d'un tiers",
            redacted_text="Voiture garée sur le trottoir",
        ),
    )

    assert report.description == "Voiture garée sur le trottoir"
    assert report.description_redacted
    public = report_view(
        report, category, lang="fr", viewer=None, photos=[], following=False, reopen_days=14
    )
    assert public.description == "Voiture garée sur le trottoir"
    traces = [str(vars(e)) for e in await _events(session, report.id)]
    traces += [str(vars(row)) for row in await session.scalars(select(IncidentModeration))]
    assert not any("Dupont" in trace for trace in traces)


async def test_a_cleared_description_shows_the_moderation_notice(session: AsyncSession) -> None:
    report = await rows.report(session, description=ORIGINAL)
    category = await rows.category(session)

    await moderation.moderate(
        session, report, rows.supervisor(), _action(Action.redact_description, redacted_text="")
    )

    assert report.description == ""
    for lang in ("fr", "en"):
        view = report_view(
            report, category, lang=lang, viewer=None, photos=[], following=False, reopen_days=14
        )
        assert view.description == REDACTED[lang]
    [event] = await _events(session, report.id)
    assert event.data == {"moderation": "redact_description", "cleared": True}


async def test_a_photo_is_hidden_and_shown_again(session: AsyncSession) -> None:
    report = await rows.report(session)
    photo = await rows.photo(session, report)
    version = report.version
    who = rows.supervisor()

    await moderation.moderate(session, report, who, _action(Action.hide_photo, photo_id=photo.id))
    hidden_then = photo.hidden
    log = await moderation.log(session, report)
    await moderation.moderate(session, report, who, _action(Action.unhide_photo, photo_id=photo.id))

    assert hidden_then is True
    assert log.hidden_photos == [photo.id]
    assert photo.hidden is False
    assert report.version > version  # agents holding the old ETag must reload
    assert [e.photo_id for e in (await moderation.log(session, report)).items] == [photo.id] * 2


async def test_a_photo_of_another_report_is_not_found(session: AsyncSession) -> None:
    report = await rows.report(session)
    other = await rows.report(session)
    photo = await rows.photo(session, other)

    with pytest.raises(NotFound):
        await moderation.moderate(
            session, report, rows.supervisor(), _action(Action.hide_photo, photo_id=photo.id)
        )
    with pytest.raises(NotFound):
        await moderation.moderate(
            session, report, rows.supervisor(), _action(Action.hide_photo, photo_id=uuid.uuid4())
        )


@pytest.mark.parametrize(
    "body",
    [
        {"action": "hide_report"},  # no reason
        {"action": "hide_report", "reason": "     "},
        {"action": "hide_photo", "reason": "Visage"},  # which photo?
        {"action": "hide_report", "reason": "Insulte", "photo_id": str(uuid.uuid4())},
        {"action": "hide_report", "reason": "Insulte", "redacted_text": "x"},
        {"action": "redact_description", "reason": "Insulte", "redacted_text": "<b>x</b>"},
        {"action": "delete_report", "reason": "Insulte"},
    ],
)
def test_an_incoherent_action_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ModerationIn.model_validate(body)
