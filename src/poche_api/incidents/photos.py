"""Report photos: re-encoded by the media layer, stored, and served back under authorisation.

A photo is served to whoever may see its report, except a photo hidden by moderation (staff
only). Public ones are cached briefly and revalidated, so hiding one takes effect in shared caches
within a minute; the others are for private caches only.

Photos are processed and stored before the report's transaction commits; if it rolls back, the
objects are orphans that the retention job sweeps (their keys are random, nothing links to them).
"""

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from poche_api.errors import NotFound
from poche_api.incidents.repository import IncidentRepository
from poche_api.incidents.service import Caller, visible_report
from poche_api.kit.caching import etag_matches
from poche_api.media.images import PhotoProcessor
from poche_api.media.storage import ObjectStore

CONTENT_TYPE = "image/webp"
# Any public photo may be hidden by moderation later: shared caches keep it a minute, then ask
# again with its ETag (a cheap 304 while it is public, a 404 once hidden).
PUBLIC_CACHE = "public, max-age=60, must-revalidate"
PRIVATE_CACHE = "private, max-age=300"


def _store(request: Request) -> ObjectStore:
    store: ObjectStore = request.state.media_store
    return store


async def _read_bounded(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    return data


async def accept(request: Request, files: Sequence[UploadFile]) -> list[dict[str, Any]]:
    """Re-encode and store each upload; the variants map of each photo, in order."""
    if not files:
        return []
    processor: PhotoProcessor = request.state.photo_processor
    store = _store(request)
    stored: list[dict[str, Any]] = []
    for upload in files:
        data = await _read_bounded(upload, processor.limits.max_bytes)
        processed = await processor.process(data, upload.content_type or "")
        prefix = f"incidents/{uuid.uuid4().hex}"
        variants: dict[str, Any] = {}
        for variant in processed.variants:
            key = f"{prefix}/{variant.name}.webp"
            await store.put(key, variant.data, CONTENT_TYPE)
            variants[variant.name] = {
                "key": key,
                "width": variant.width,
                "height": variant.height,
                "bytes": len(variant.data),
            }
        stored.append(variants)
    return stored


async def discard(request: Request, stored: Sequence[dict[str, Any]]) -> None:
    if not stored:
        return
    store = _store(request)
    for variants in stored:
        for variant in variants.values():
            await store.delete(variant["key"])


async def serve(
    request: Request,
    session: AsyncSession,
    photo_id: uuid.UUID,
    variant: str,
    who: Caller | None,
) -> Response:
    repo = IncidentRepository.from_session(session)
    photo = await repo.photo(photo_id)
    missing = NotFound(("Photo introuvable.", "Photo not found."), slug="photo-not-found")
    if photo is None or photo.purged_at is not None or variant not in photo.variants:
        raise missing
    try:  # whoever may see the report, as its page decides
        report, category = await visible_report(session, photo.report_id, who)
    except NotFound:
        raise missing from None
    if photo.hidden and not (who is not None and who.is_staff):
        raise missing  # hidden by moderation: staff only, its reporter included
    restricted = photo.hidden or report.hidden or category.private
    tag = f'"{photo.id.hex}-{variant}"'
    cache = PRIVATE_CACHE if restricted else PUBLIC_CACHE
    if etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers={"ETag": tag, "Cache-Control": cache})
    data = await _store(request).get(photo.variants[variant]["key"])
    if data is None:
        raise missing
    return Response(data, media_type=CONTENT_TYPE, headers={"ETag": tag, "Cache-Control": cache})
