"""Engine, sessions and the one-commit-per-request unit of work."""

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def asyncpg_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the SQLAlchemy asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("only PostgreSQL URLs are supported")


def plain_url(url: str) -> str:
    """The libpq form of a URL, as asyncpg.connect() wants it."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    read_only: bool = False,
    ping_after_idle_seconds: float = 30.0,
) -> AsyncEngine:
    """The pool for the unit of work, or (``read_only``) the one read endpoints use.

    A connection is pinged at checkout only after ``ping_after_idle_seconds`` unused (a restart
    or a firewall's idle timeout may have dropped it); a busy pool pays no round trip for it.
    One found dead mid-request anyway is invalidated with the rest of the pool, and the request
    answers 503 (``errors``). Read-only connections run each statement in its own implicit
    transaction (no BEGIN and ROLLBACK round trips; READ COMMITTED takes a snapshot per
    statement anyway), and PostgreSQL refuses any write made through them.
    """
    server_settings = {"timezone": "UTC", "application_name": "poche-api"}
    if read_only:
        server_settings["default_transaction_read_only"] = "on"
        # Reads answer in a few milliseconds: starting a parallel worker costs about 5 ms, more
        # than it saves (a stop's departures at Rouen's scale: 7 ms with one, 1.2 ms without).
        server_settings["max_parallel_workers_per_gather"] = "0"
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": server_settings},
    )
    _ping_after_idle(engine, ping_after_idle_seconds)
    return engine.execution_options(isolation_level="AUTOCOMMIT") if read_only else engine


def _ping_after_idle(engine: AsyncEngine, seconds: float) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _alive(connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            connection.ping()
        except Exception as exc:  # the pool retries the checkout with a new connection
            raise DisconnectionError("connection dropped while idle") from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: services flush, this commits once, before the answer leaves."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for reads, on the read-only pool: nothing to commit, nothing it can write."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.read_sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
