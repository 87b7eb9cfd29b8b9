"""The cast with photos stored in a folder of the test's own, and no in-memory public cache
(which would serve an answer read just before a change for a few more seconds)."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from tests.conftest import build_app, serve_in_process
from tests.incidents.conftest import Cast, make_cast


def media_settings(settings: Settings, media_root: Path) -> Settings:
    return settings.model_copy(update={"media_local_root": media_root, "public_cache_seconds": 0})


@contextlib.asynccontextmanager
async def cast_with_media(
    settings: Settings, session: AsyncSession, media_root: Path
) -> AsyncIterator[Cast]:
    configured = media_settings(settings, media_root)
    async with serve_in_process(build_app(configured, session)) as http:
        yield await make_cast(configured, session, http)
