from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.demo import seed_demo


async def test_the_demo_catalogue_is_seeded_once(engine: AsyncEngine) -> None:
    async def counts() -> tuple[int, int, int]:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT (SELECT count(*) FROM incident_categories "
                        "        WHERE code IN ('nid-de-poule', 'depot-sauvage')),"
                        "       (SELECT count(*) FROM incident_routing_rules "
                        "        WHERE name = 'Voirie de Rouen'),"
                        "       (SELECT count(*) FROM teams WHERE slug = 'proprete-metropole')"
                    )
                )
            ).one()
            return row[0], row[1], row[2]

    await seed_demo(engine)
    assert await counts() == (2, 1, 1)
    await seed_demo(engine)
    assert await counts() == (2, 1, 1)
