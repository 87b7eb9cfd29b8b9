from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.demo import seed_demo
from poche_api.simulators.oidc import STAFF_IDENTITIES
from tests.conftest import wipe_push_demo


async def test_the_demo_provisions_the_staff_simulator_identities(engine: AsyncEngine) -> None:
    try:
        await seed_demo(engine)
        await seed_demo(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT email, role FROM staff_members"))
            provisioned: dict[str, str] = dict(rows.tuples().all())
        for key in ("agent", "supervisor", "admin"):
            assert provisioned[STAFF_IDENTITIES[key]["email"]] == key
        assert STAFF_IDENTITIES["unknown"]["email"] not in provisioned
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE staff_teams, staff_members, teams CASCADE"))
        await wipe_push_demo(engine)
