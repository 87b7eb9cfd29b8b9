"""Retention jobs of the foundation: expired idempotency keys and old job history."""

from typing import Any

from sqlalchemy import text

from poche_api.jobs import JobContext, registry

JOB_LOG_RETENTION_DAYS = 30


@registry.schedule("maintenance.purge_idempotency_keys", "17 * * * *")
async def purge_idempotency_keys(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.session() as session:
        await session.execute(text("DELETE FROM idempotency_keys WHERE expires_at < now()"))
        await session.commit()


@registry.schedule("maintenance.purge_job_history", "43 3 * * *")
async def purge_job_history(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.session() as session:
        await session.execute(
            text("DELETE FROM pgqueuer_log WHERE created < now() - make_interval(days => :days)"),
            {"days": JOB_LOG_RETENTION_DAYS},
        )
        await session.commit()
