"""Rouen demo data for the embedded default, seeded idempotently.

Each domain registers a seeder; every seeder must be safe to run on every start (upserts keyed on
natural ids). An advisory lock keeps two processes starting together from seeding twice.
"""

from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from poche_api.territory.loader import import_communes

Seeder = Callable[[AsyncConnection], Awaitable[None]]
SEEDERS: dict[str, Seeder] = {}
_LOCK_KEY = 0x706F636865  # "poche"


def seeder(name: str) -> Callable[[Seeder], Seeder]:
    def register(function: Seeder) -> Seeder:
        SEEDERS[name] = function
        return function

    return register


@seeder("territory")
async def _seed_communes(connection: AsyncConnection) -> None:
    await import_communes(connection)


async def seed_demo(engine: AsyncEngine) -> list[str]:
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        for seed in SEEDERS.values():
            await seed(connection)
    return list(SEEDERS)


@seeder("identity")
async def _seed_staff(connection: AsyncConnection) -> None:
    """Demo staff matching the staff simulator's identities (`unknown` stays unprovisioned)."""
    from poche_api.identity.demo import seed_demo_staff

    await seed_demo_staff(connection)


# Domain seeders register themselves on import.
from poche_api.incidents import demo as _incidents_demo  # noqa: F401 - registers the seeder
from poche_api.notifications import demo as _push_demo  # noqa: F401 - registers the seeder
from poche_api.transport import demo as _transport_demo  # noqa: F401 - registers the seeder
