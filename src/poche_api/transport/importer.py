"""Import a GTFS from a file or a URL (conditional download), for the CLI and the daily job."""

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from poche_api.transport.gtfs import ImportResult, Progress, download, import_gtfs
from poche_api.transport.repository import TransportRepository


@dataclasses.dataclass(frozen=True)
class RefreshResult:
    url: str
    changed: bool
    result: ImportResult | None


async def import_path(
    engine: AsyncEngine, path: Path, *, source: str, progress: Progress | None = None
) -> ImportResult:
    """Load a zip through a pooled connection's asyncpg driver (COPY needs the raw driver)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        return await import_gtfs(driver, path, source=source, progress=progress)


async def refresh_from_url(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    url: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> RefreshResult:
    """Download ``url`` unless it is unchanged since the last import (ETag/Last-Modified)."""
    async with AsyncSession(engine) as session:
        source = await TransportRepository.from_session(session).feed_source(url)
        etag = source.etag if source and not force else None
        last_modified = source.last_modified if source and not force else None
    fetched = await download(http, url, etag=etag, last_modified=last_modified)
    result = None
    if fetched.path is not None:
        try:
            result = await import_path(engine, fetched.path, source=url, progress=progress)
        finally:
            fetched.path.unlink(missing_ok=True)
    async with AsyncSession(engine) as session:
        await TransportRepository.from_session(session).save_feed_source(
            url,
            fetched.etag,
            fetched.last_modified,
            changed=result is not None,
            now=datetime.now(UTC),
        )
        await session.commit()
    return RefreshResult(url, result is not None, result)
