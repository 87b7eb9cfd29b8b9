"""Alembic environment: async engine on the URL handed over by poche_api.migrate."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import poche_api.models  # noqa: F401 - registers every table on the metadata
from poche_api.db import Base, asyncpg_url

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: use `poche-api db upgrade`")
    engine = create_async_engine(asyncpg_url(url), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        # Two processes starting together must not migrate concurrently.
        await connection.exec_driver_sql("SELECT pg_advisory_lock(7370636865)")
        try:
            await connection.run_sync(_run)
            await connection.commit()
        finally:
            await connection.exec_driver_sql("SELECT pg_advisory_unlock(7370636865)")
    await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
asyncio.run(_run_async())
