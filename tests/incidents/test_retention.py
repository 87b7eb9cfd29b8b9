"""The retention job against a real local store (and S3 through moto) and the database."""

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from poche_api.cli import cli
from poche_api.config import Settings
from poche_api.incidents import retention
from poche_api.incidents.retention import RetentionOutcome, run_retention, sweep_orphans
from poche_api.jobs import registry
from poche_api.kit.timeutil import utcnow
from poche_api.media.storage import LocalStore, S3Store
from poche_api.models import (
    IncidentEvent,
    IncidentFeedback,
    IncidentFollow,
    IncidentPhoto,
    IncidentReport,
)
from tests.incidents import rows
from tests.incidents.casting import cast_with_media, media_settings
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, Cast
from tests.media.conftest import s3_bucket, s3_endpoint, s3_store
from tests.media.photos import photo as jpeg

__all__ = ["s3_bucket", "s3_endpoint", "s3_store"]  # fixtures for the S3 sweep
WEBP = "image/webp"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "media")


@pytest.fixture
def retention_settings(settings: Settings, store: LocalStore) -> Settings:
    return media_settings(settings, store.root)


async def _stored_photo(
    session: AsyncSession, store: LocalStore | S3Store, report: IncidentReport
) -> IncidentPhoto:
    row = await rows.photo(session, report)
    for variant in row.variants.values():
        await store.put(variant["key"], b"webp bytes", WEBP)
    return row


async def _files_of(store: LocalStore | S3Store, row: IncidentPhoto) -> list[bool]:
    return [await store.exists(variant["key"]) for variant in row.variants.values()]


def _metric(kind: str) -> float:
    return REGISTRY.get_sample_value("poche_incident_retention_total", {"kind": kind}) or 0.0


async def test_photos_of_reports_closed_past_their_category_retention_are_deleted(
    session: AsyncSession, store: LocalStore, retention_settings: Settings
) -> None:
    expired = await _stored_photo(session, store, await rows.report(session, closed_days_ago=400))
    short_category = await _stored_photo(
        session,
        store,
        await rows.report(session, category_code="depot-sauvage", closed_days_ago=40),
    )
    recent = await _stored_photo(session, store, await rows.report(session, closed_days_ago=40))
    still_open = await _stored_photo(session, store, await rows.report(session))
    dumping = await rows.category(session, "depot-sauvage")
    dumping.photo_retention_days = 30
    await session.flush()
    before = _metric("photos_purged")

    outcome = await run_retention(session, retention_settings, store)

    assert outcome.photos_purged == 2
    assert _metric("photos_purged") - before == 2
    for gone in (expired, short_category):
        assert await _files_of(store, gone) == [False, False, False]
        assert gone.purged_at is not None
        assert not (store.root / next(iter(gone.variants.values()))["key"]).parent.exists()
    for kept in (recent, still_open):
        assert await _files_of(store, kept) == [True, True, True]
        assert kept.purged_at is None
    again = await run_retention(session, retention_settings, store)
    assert again == RetentionOutcome()


async def test_contact_data_and_follows_go_after_the_contact_retention(
    session: AsyncSession, store: LocalStore, retention_settings: Settings
) -> None:
    reporter, neighbour = f"resident:{uuid.uuid4()}", f"device:{uuid.uuid4()}"
    old = await rows.report(
        session, reporter=reporter, closed_days_ago=400, contact_email="camille@example.fr"
    )
    recent = await rows.report(
        session, reporter=reporter, closed_days_ago=10, contact_email="camille@example.fr"
    )
    old_photo = await rows.photo(session, old)
    for report in (old, recent):
        session.add_all(
            [
                IncidentFollow(report_id=report.id, principal=reporter, supporter=False),
                IncidentFollow(report_id=report.id, principal=neighbour, supporter=True),
                IncidentFeedback(
                    report_id=report.id, principal=reporter, rating=4, comment="Merci"
                ),
            ]
        )
    await session.flush()

    outcome = await run_retention(session, retention_settings, store)

    assert (outcome.contacts_erased, outcome.follows_removed) == (1, 2)
    assert (old.reporter, old.contact_email) == (None, None)
    assert old.contact_purged_at is not None
    assert (recent.reporter, recent.contact_email) == (reporter, "camille@example.fr")
    follows = await session.scalars(select(IncidentFollow.report_id))
    assert sorted(follows) == [recent.id, recent.id]
    actors = await session.scalars(
        select(IncidentEvent.actor).where(IncidentEvent.report_id == old.id)
    )
    assert list(actors) == ["anonymous"]
    await session.refresh(old_photo)
    assert old_photo.uploaded_by is None
    feedback = (
        await session.execute(
            select(
                IncidentFeedback.principal, IncidentFeedback.rating, IncidentFeedback.comment
            ).where(IncidentFeedback.report_id == old.id)
        )
    ).one()
    assert feedback.principal.startswith("anonymous:")
    assert (feedback.rating, feedback.comment) == (4, "Merci")
    assert (await run_retention(session, retention_settings, store)) == RetentionOutcome()
    session.add(IncidentFollow(report_id=old.id, principal=neighbour, supporter=False))
    await session.flush()
    late = await run_retention(session, retention_settings, store)
    assert (late.contacts_erased, late.follows_removed) == (0, 1)


async def test_contact_data_in_the_text_goes_after_the_contact_retention(
    session: AsyncSession, store: LocalStore, retention_settings: Settings
) -> None:
    reporter = f"resident:{uuid.uuid4()}"
    text = "Trou profond, rappelez-moi au 06 12 34 56 78 ou camille@example.fr"
    answers = {"danger": "fort", "note": "tel +33612345678"}
    old = await rows.report(
        session, reporter=reporter, closed_days_ago=400, description=text, attributes=answers
    )
    recent = await rows.report(
        session, reporter=reporter, closed_days_ago=10, description=text, attributes=answers
    )
    for report in (old, recent):
        session.add(
            IncidentEvent(
                report_id=report.id,
                at=utcnow(),
                actor=reporter,
                actor_role="reporter",
                action="transition",
                public_note="Toujours là : 07 11 22 33 44",
                data={},
            )
        )
    await session.flush()

    await run_retention(session, retention_settings, store)

    marker = "[coordonnées supprimées]"
    assert old.description == f"Trou profond, rappelez-moi au {marker} ou {marker}"
    assert old.attributes == {"danger": "fort", "note": f"tel {marker}"}
    assert (recent.description, recent.attributes) == (text, answers)
    query = select(IncidentEvent.report_id, IncidentEvent.public_note).where(
        IncidentEvent.public_note.is_not(None)
    )
    notes = {row[0]: row[1] for row in await session.execute(query)}
    assert notes == {old.id: f"Toujours là : {marker}", recent.id: "Toujours là : 07 11 22 33 44"}


async def test_a_backlog_drains_in_bounded_batches_over_several_runs(
    session: AsyncSession,
    store: LocalStore,
    retention_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)
    small = retention_settings.model_copy(update={"incident_retention_batch_size": 2})
    for _ in range(5):
        await _stored_photo(session, store, await rows.report(session, closed_days_ago=400))

    first = await run_retention(session, small, store)
    second = await run_retention(session, small, store)

    assert (first.photos_purged, first.contacts_erased) == (4, 4)
    assert (second.photos_purged, second.contacts_erased) == (1, 1)


def _age(store: LocalStore, prefix: str, hours: float) -> None:
    then = time.time() - hours * 3600
    folder = store.root / prefix
    for path in (*folder.iterdir(), folder):
        os.utime(path, (then, then))


async def test_orphan_uploads_are_swept_from_a_local_store_after_the_grace_period(
    session: AsyncSession, store: LocalStore, retention_settings: Settings
) -> None:
    report = await rows.report(session)
    kept = await _stored_photo(session, store, report)
    kept_prefix = next(iter(kept.variants.values()))["key"].rsplit("/", 1)[0]
    orphan, fresh = f"incidents/{uuid.uuid4().hex}", f"incidents/{uuid.uuid4().hex}"
    for prefix in (orphan, fresh):
        for name in ("large", "thumb"):
            await store.put(f"{prefix}/{name}.webp", b"rolled back", WEBP)
    (store.root / orphan / ".tmp.part").write_bytes(b"half a write")
    _age(store, orphan, hours=30)
    _age(store, kept_prefix, hours=30)

    outcome = await run_retention(session, retention_settings, store)

    assert outcome.orphan_photos_swept == 1
    assert not await store.exists(f"{orphan}/large.webp")
    assert await store.exists(f"{fresh}/large.webp")
    assert await _files_of(store, kept) == [True, True, True]


async def test_orphan_uploads_are_swept_from_s3(session: AsyncSession, s3_store: S3Store) -> None:
    report = await rows.report(session)
    kept = await _stored_photo(session, s3_store, report)
    orphan = f"incidents/{uuid.uuid4().hex}"
    for name in ("large", "medium", "thumb"):
        await s3_store.put(f"{orphan}/{name}.webp", b"rolled back", WEBP)
    later = utcnow() + timedelta(days=2)  # moto stamps objects now: look from two days on

    swept = await sweep_orphans(session, s3_store, later, timedelta(days=1), limit=100)
    fresh = await sweep_orphans(session, s3_store, utcnow(), timedelta(days=1), limit=100)

    assert swept >= 1  # the bucket is shared with other tests' leftovers
    assert fresh == 0
    assert not await s3_store.exists(f"{orphan}/medium.webp")
    assert await _files_of(s3_store, kept) == [True, True, True]


async def test_the_job_is_a_nightly_schedule() -> None:
    assert registry.schedules["incidents.retention"].cron == "41 2 * * *"


@pytest_asyncio.fixture
async def cast(
    settings: Settings, session: AsyncSession, redis: Redis, store: LocalStore
) -> AsyncIterator[Cast]:
    async with cast_with_media(settings, session, store.root) as cast:
        yield cast


async def test_a_purged_photo_is_no_longer_listed_or_served(
    cast: Cast, session: AsyncSession, store: LocalStore, retention_settings: Settings
) -> None:
    filed = await cast.call(
        "resident_a",
        "POST",
        "/v1/incidents/reports",
        data={
            "report": json.dumps(
                {
                    "category": "nid-de-poule",
                    "location": ROUEN_HOTEL_DE_VILLE,
                    "attributes": {"danger": "fort"},
                }
            )
        },
        files=[("photos", ("IMG_0001.jpg", jpeg("JPEG"), "image/jpeg"))],
    )
    rid, [shot] = filed.json()["id"], filed.json()["photos"]
    resolved = await cast.call(
        "agent", "POST", f"/v1/agent/reports/{rid}/transitions", json={"status": "resolved"}
    )
    assert resolved.status_code == 200, resolved.text
    await session.execute(
        update(IncidentReport)
        .where(IncidentReport.id == uuid.UUID(rid))
        .values(closed_at=utcnow() - timedelta(days=400))
    )
    await session.commit()

    outcome = await run_retention(session, retention_settings, store)

    assert outcome.photos_purged == 1
    for who in ("nobody", "resident_a", "agent", "supervisor"):
        assert (await cast.call(who, "GET", shot["url"])).status_code == 404, who
    assert (await cast.call("nobody", "GET", f"/v1/incidents/reports/{rid}")).json()["photos"] == []
    staff = (await cast.call("agent", "GET", f"/v1/agent/reports/{rid}")).json()
    assert (staff["photos"], staff["reporter_contact"]) == ([], None)
    assert not any((store.root / "incidents").iterdir())


def test_the_cli_runs_the_job_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POCHE_DATABASE_URL", database_url)
    monkeypatch.setenv("POCHE_MEDIA_LOCAL_ROOT", str(tmp_path))
    monkeypatch.setenv("POCHE_LOG_JSON", "false")

    result = CliRunner().invoke(cli, ["retention"])

    assert result.exit_code == 0, result.output
    assert "photos_purged: 0" in result.output
    assert "orphan_photos_swept: 0" in result.output
