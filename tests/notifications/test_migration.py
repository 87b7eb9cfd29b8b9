"""The 0003_push migration and the push models describe the same tables."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from poche_api.db import Base
from poche_api.models import push


def _push_diffs(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    tables = {
        model.__tablename__
        for model in vars(push).values()
        if isinstance(model, type) and issubclass(model, Base) and model is not Base
    }

    def mine(diff: object) -> bool:
        text = repr(diff)
        return any(f"'{table}'" in text or f"Table('{table}'" in text for table in tables)

    flat: list[object] = []
    for diff in compare_metadata(context, Base.metadata):
        flat.extend(diff if isinstance(diff, list) else [diff])
    return [diff for diff in flat if mine(diff)]


async def test_models_and_migration_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diffs = await connection.run_sync(_push_diffs)

    assert diffs == []
