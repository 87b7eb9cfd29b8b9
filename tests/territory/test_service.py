from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.db import create_sessionmaker
from poche_api.territory.service import TerritoryService


async def test_the_snapshot_follows_changes_to_the_table(engine: AsyncEngine) -> None:
    service = TerritoryService(create_sessionmaker(engine), refresh_seconds=0)
    before = await service.snapshot()
    assert before.details["76540"].population == 116331

    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE communes SET population = 116332, updated_at = now() WHERE insee = '76540'"
                )
            )
        after = await service.snapshot()
        assert after.details["76540"].population == 116332
        assert after.detail_bytes["76540"][1] != before.detail_bytes["76540"][1]
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE communes SET population = 116331, updated_at = now() WHERE insee = '76540'"
                )
            )


async def test_an_unchanged_table_keeps_the_same_snapshot(engine: AsyncEngine) -> None:
    service = TerritoryService(create_sessionmaker(engine), refresh_seconds=0)

    assert await service.snapshot() is await service.snapshot()
