"""Retention of incident data, per category, enforced nightly by a job (and `poche-api retention`).

* Photos of reports closed more than the category's ``photo_retention_days`` ago: their files are
  deleted from the object store and the row is marked ``purged_at`` (views skip it).
* Contact data of reports closed more than ``contact_retention_days`` ago: the reporter's key and
  e-mail are erased (``contact_purged_at``), e-mail addresses and phone numbers scrubbed from the
  description, the answers and residents' public notes, and the resident or device keys left in
  the history, on photos and on feedback replaced, so nothing links the report to a person; its
  follows are removed too (also those added after the erasure). The "me too" count stays.
* Orphan photo files (stored by an upload whose report transaction rolled back) are swept once
  older than a grace period: the store is listed (a local folder is walked, S3 is listed with
  ListObjectsV2) and every photo folder no ``incident_photos`` row names is deleted.

Work goes in bounded batches, each its own transaction; files are deleted before the row is
marked, so a crash between the two only makes the next run delete them again (deleting a missing
object is not an error). Everything is idempotent.
"""

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Interval,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from poche_api import metrics
from poche_api.config import Settings
from poche_api.jobs import JobContext, registry
from poche_api.kit import contacts
from poche_api.kit.timeutil import utcnow
from poche_api.media.storage import LocalStore, ObjectStore, S3Store, store_from_settings
from poche_api.models import (
    IncidentCategory,
    IncidentEvent,
    IncidentFeedback,
    IncidentFollow,
    IncidentPhoto,
    IncidentReport,
)

logger = logging.getLogger(__name__)

PHOTO_PREFIX = "incidents"  # photos.accept stores under incidents/<hex>/<variant>.webp
ANONYMOUS = "anonymous"
PERSONAL_KEY_PREFIXES = ("resident:", "device:")
# At most this many batches per step and run: a backlog drains over several nights.
MAX_BATCHES = 50
LISTING_CHUNK = 500


@dataclass
class RetentionOutcome:
    photos_purged: int = 0
    contacts_erased: int = 0
    follows_removed: int = 0
    orphan_photos_swept: int = 0

    def count(self) -> None:
        for field in fields(self):
            metrics.INCIDENT_RETENTION.labels(field.name).inc(getattr(self, field.name))


def _closed_before(now: datetime, days: QueryableAttribute[int]) -> ColumnElement[bool]:
    """The report closed more than ``days`` (a category column) before ``now``."""
    cutoff = literal(now, TIMESTAMP(timezone=True)) - func.make_interval(
        0, 0, 0, days, type_=Interval()
    )
    return IncidentReport.closed_at < cutoff


def _personal(column: Any) -> ColumnElement[bool]:
    return or_(*(column.startswith(prefix) for prefix in PERSONAL_KEY_PREFIXES))


class RetentionRepository:
    """Queries of the retention job and of the residents' erasure."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def photos_due(self, now: datetime, limit: int) -> list[IncidentPhoto]:
        query = (
            select(IncidentPhoto)
            .join(IncidentReport, IncidentReport.id == IncidentPhoto.report_id)
            .join(IncidentCategory, IncidentCategory.id == IncidentReport.category_id)
            .where(
                IncidentPhoto.purged_at.is_(None),
                _closed_before(now, IncidentCategory.photo_retention_days),
            )
            .order_by(IncidentReport.closed_at, IncidentPhoto.id)
            .limit(limit)
            .with_for_update(of=IncidentPhoto, skip_locked=True)
        )
        return list(await self.session.scalars(query))

    async def contacts_due(self, now: datetime, limit: int) -> list[IncidentReport]:
        query = (
            select(IncidentReport)
            .join(IncidentCategory, IncidentCategory.id == IncidentReport.category_id)
            .where(
                IncidentReport.contact_purged_at.is_(None),
                _closed_before(now, IncidentCategory.contact_retention_days),
            )
            .order_by(IncidentReport.closed_at, IncidentReport.id)
            .limit(limit)
            .with_for_update(of=IncidentReport, skip_locked=True)
        )
        return list(await self.session.scalars(query))

    async def photo_prefixes(self) -> set[str]:
        """Every folder an ``incident_photos`` row names (``incidents/<hex>``)."""
        variant = func.jsonb_each(IncidentPhoto.variants).table_valued("value").lateral()
        key = variant.c.value.op("->>")("key")
        rows = await self.session.scalars(
            select(func.regexp_replace(key, "/[^/]*$", ""))
            .select_from(IncidentPhoto)
            .join(variant, true())
        )
        return set(rows)

    async def reports_of(self, keys: Sequence[str]) -> list[IncidentReport]:
        rows = await self.session.scalars(
            select(IncidentReport)
            .where(IncidentReport.reporter.in_(keys))
            .order_by(IncidentReport.created_at)
        )
        return list(rows)

    async def follows_due(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, str]]:
        """Follows of reports closed past their contact retention (late follows included)."""
        query = (
            select(IncidentFollow.report_id, IncidentFollow.principal)
            .join(IncidentReport, IncidentReport.id == IncidentFollow.report_id)
            .join(IncidentCategory, IncidentCategory.id == IncidentReport.category_id)
            .where(_closed_before(now, IncidentCategory.contact_retention_days))
            .limit(limit)
            .with_for_update(of=IncidentFollow, skip_locked=True)
        )
        return [(row[0], row[1]) for row in await self.session.execute(query)]

    async def delete_follows(
        self, *, pairs: Sequence[tuple[uuid.UUID, str]] = (), keys: Sequence[str] = ()
    ) -> int:
        """Delete these (report, principal) follows, or every follow of these keys."""
        if not pairs and not keys:
            return 0
        where = (
            tuple_(IncidentFollow.report_id, IncidentFollow.principal).in_(pairs)
            if pairs
            else IncidentFollow.principal.in_(keys)
        )
        result = await self.session.execute(delete(IncidentFollow).where(where))
        return int(getattr(result, "rowcount", 0) or 0)

    async def scrub_resident_notes(self, report_ids: Sequence[uuid.UUID]) -> None:
        """Contact data out of the public notes residents and devices left on these reports."""
        events = await self.session.scalars(
            select(IncidentEvent).where(
                IncidentEvent.report_id.in_(report_ids),
                _personal(IncidentEvent.actor),
                IncidentEvent.public_note.is_not(None),
            )
        )
        for event in events:
            event.public_note = contacts.scrub(event.public_note or "")

    async def anonymise_traces(
        self, *, report_ids: Sequence[uuid.UUID] = (), keys: Sequence[str] = ()
    ) -> None:
        """Replace residents' and devices' keys in history, photos and feedback: of these
        reports (retention), or these keys wherever they are (erasure). A feedback keeps its
        rating under a random key; on erasure its comment goes too."""
        events: ColumnElement[bool]
        photos: ColumnElement[bool]
        feedback: ColumnElement[bool]
        if report_ids:
            events = IncidentEvent.report_id.in_(report_ids) & _personal(IncidentEvent.actor)
            photos = IncidentPhoto.report_id.in_(report_ids) & _personal(IncidentPhoto.uploaded_by)
            feedback = IncidentFeedback.report_id.in_(report_ids) & _personal(
                IncidentFeedback.principal
            )
        else:
            events = IncidentEvent.actor.in_(keys)
            photos = IncidentPhoto.uploaded_by.in_(keys)
            feedback = IncidentFeedback.principal.in_(keys)
        await self.session.execute(update(IncidentEvent).where(events).values(actor=ANONYMOUS))
        await self.session.execute(update(IncidentPhoto).where(photos).values(uploaded_by=None))
        values: dict[str, Any] = {
            "principal": literal(f"{ANONYMOUS}:")
            + func.gen_random_uuid().cast(IncidentFeedback.principal.type)
        }
        if keys:
            values["comment"] = None
        await self.session.execute(
            update(IncidentFeedback)
            .where(feedback)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


# --- the steps ---


async def _tidy_folder(store: ObjectStore, prefix: str) -> None:
    """A local store keeps one folder per photo: remove it once empty."""
    if isinstance(store, LocalStore):
        with contextlib.suppress(OSError):
            await asyncio.to_thread(os.rmdir, store.root / prefix)


async def purge_photos(session: AsyncSession, store: ObjectStore, now: datetime, limit: int) -> int:
    photos = await RetentionRepository(session).photos_due(now, limit)
    for photo in photos:
        prefixes = set()
        for variant in photo.variants.values():
            await store.delete(variant["key"])
            prefixes.add(variant["key"].rsplit("/", 1)[0])
        for prefix in prefixes:
            await _tidy_folder(store, prefix)
        photo.purged_at = now
    await session.flush()
    return len(photos)


async def erase_contacts(session: AsyncSession, now: datetime, limit: int) -> int:
    repo = RetentionRepository(session)
    reports = await repo.contacts_due(now, limit)
    for report in reports:
        report.reporter = None
        report.contact_email = None
        report.contact_purged_at = now
        report.description = contacts.scrub(report.description)
        report.attributes = contacts.scrub_values(dict(report.attributes))
    if reports:
        report_ids = [report.id for report in reports]
        await repo.scrub_resident_notes(report_ids)
        await repo.anonymise_traces(report_ids=report_ids)
    await session.flush()
    return len(reports)


async def remove_follows(session: AsyncSession, now: datetime, limit: int) -> int:
    repo = RetentionRepository(session)
    return await repo.delete_follows(pairs=await repo.follows_due(now, limit))


@dataclass(frozen=True)
class StoredPhoto:
    """The objects of one upload: every variant under one ``incidents/<hex>`` prefix."""

    prefix: str
    keys: tuple[str, ...]
    modified: datetime


def _walk_local(root: Path) -> Iterator[list[StoredPhoto]]:
    folder = root / PHOTO_PREFIX
    if not folder.is_dir():
        return
    chunk: list[StoredPhoto] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            with os.scandir(entry.path) as inside:
                files = [f for f in inside if f.is_file(follow_symlinks=False)]
            newest = max([entry.stat().st_mtime, *(f.stat().st_mtime for f in files)])
            chunk.append(
                StoredPhoto(
                    prefix=f"{PHOTO_PREFIX}/{entry.name}",
                    # Temporary files of a write in progress start with a dot: never a key.
                    keys=tuple(
                        f"{PHOTO_PREFIX}/{entry.name}/{f.name}"
                        for f in files
                        if not f.name.startswith(".")
                    ),
                    modified=datetime.fromtimestamp(newest, UTC),
                )
            )
            if len(chunk) >= LISTING_CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def _local_listing(store: LocalStore) -> AsyncIterator[StoredPhoto]:
    chunks = _walk_local(store.root)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        for item in chunk:
            yield item


async def _s3_listing(store: S3Store) -> AsyncIterator[StoredPhoto]:
    # The store's own client (ObjectStore has no listing: only this job needs one).
    s3 = await store._s3()
    paginator = s3.get_paginator("list_objects_v2")
    prefix, newest = "", datetime.min.replace(tzinfo=UTC)
    keys: list[str] = []
    # Keys come in lexicographic order, so one upload's variants are listed together.
    async for page in paginator.paginate(Bucket=store.bucket, Prefix=f"{PHOTO_PREFIX}/"):
        for item in page.get("Contents", []):
            key, modified = item["Key"], item["LastModified"]
            folder = key.rsplit("/", 1)[0]
            if folder != prefix:
                if keys:
                    yield StoredPhoto(prefix, tuple(keys), newest)
                prefix, keys, newest = folder, [], modified
            keys.append(key)
            newest = max(newest, modified)
    if keys:
        yield StoredPhoto(prefix, tuple(keys), newest)


def listing(store: ObjectStore) -> AsyncIterator[StoredPhoto] | None:
    """The store's photo uploads, or None when this kind of store cannot be listed."""
    if isinstance(store, LocalStore):
        return _local_listing(store)
    if isinstance(store, S3Store):
        return _s3_listing(store)
    return None


async def sweep_orphans(
    session: AsyncSession, store: ObjectStore, now: datetime, grace: timedelta, limit: int
) -> int:
    """Delete up to ``limit`` uploads older than ``grace`` that no photo row names."""
    found = listing(store)
    if found is None:
        logger.info(
            "incidents.retention.orphans_not_listable", extra={"store": type(store).__name__}
        )
        return 0
    # An upload younger than the grace period is never touched: a report committing while we
    # list is safe even though its row is not in this snapshot.
    known = await RetentionRepository(session).photo_prefixes()
    swept = 0
    async for upload in found:
        if upload.prefix in known or upload.modified > now - grace:
            continue
        for key in upload.keys:
            await store.delete(key)
        await _tidy_folder(store, upload.prefix)
        swept += 1
        if swept >= limit:
            break
    return swept


async def run_retention(
    session: AsyncSession, settings: Settings, store: ObjectStore, *, now: datetime | None = None
) -> RetentionOutcome:
    """Every step in bounded batches, committing after each batch."""
    now = now or utcnow()
    size = settings.incident_retention_batch_size
    outcome = RetentionOutcome()
    steps: tuple[tuple[str, Callable[[], Awaitable[int]]], ...] = (
        ("photos_purged", lambda: purge_photos(session, store, now, size)),
        ("contacts_erased", lambda: erase_contacts(session, now, size)),
        ("follows_removed", lambda: remove_follows(session, now, size)),
    )
    for name, step in steps:
        for _ in range(MAX_BATCHES):
            done = await step()
            await session.commit()
            setattr(outcome, name, getattr(outcome, name) + done)
            if done < size:
                break
    grace = timedelta(hours=settings.incident_orphan_photo_grace_hours)
    outcome.orphan_photos_swept = await sweep_orphans(
        session, store, now, grace, size * MAX_BATCHES
    )
    await session.commit()
    outcome.count()
    return outcome


async def run_with_own_store(session: AsyncSession, settings: Settings) -> RetentionOutcome:
    store = store_from_settings(settings)
    try:
        return await run_retention(session, settings, store)
    finally:
        await store.aclose()


@registry.schedule("incidents.retention", "41 2 * * *")
async def retention(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.session() as session:
        outcome = await run_with_own_store(session, ctx.settings)
    logger.info("incidents.retention.done", extra=vars(outcome))
