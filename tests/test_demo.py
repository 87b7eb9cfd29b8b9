from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.demo import seed_demo
from tests.conftest import wipe_push_demo


@pytest_asyncio.fixture(autouse=True)
async def _wiped(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await wipe_push_demo(engine)


async def test_seeding_twice_changes_nothing(engine: AsyncEngine) -> None:
    async def snapshot() -> list[tuple[str, str]]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT insee, updated_at::text FROM communes ORDER BY insee")
            )
            return [(row.insee, row.updated_at) for row in rows]

    await seed_demo(engine)
    before = await snapshot()
    await seed_demo(engine)

    assert await snapshot() == before
    assert len(before) == 71


async def test_the_demo_timetable_is_loaded_once(engine: AsyncEngine) -> None:
    await seed_demo(engine)
    async with engine.connect() as connection:
        first = await connection.scalar(text("SELECT id FROM transport_feed_versions WHERE active"))
    await seed_demo(engine)
    async with engine.connect() as connection:
        versions = (await connection.execute(text("SELECT id FROM transport_feed_versions"))).all()

    assert first is not None
    assert [row.id for row in versions] == [first]
