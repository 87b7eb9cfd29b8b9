"""Job handlers used by the job tests; importing this module registers them."""

import asyncio
from typing import Any

from sqlalchemy import text

from poche_api.jobs import JobContext, registry

RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS job_test_runs (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL,
    tag text NOT NULL,
    phase text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)
"""


async def _record(ctx: JobContext, tag: str, phase: str) -> int:
    async with ctx.session() as session:
        await session.execute(
            text("INSERT INTO job_test_runs (job_id, tag, phase) VALUES (:job, :tag, :phase)"),
            {"job": ctx.job_id, "tag": tag, "phase": phase},
        )
        count = (
            await session.execute(
                text("SELECT count(*) FROM job_test_runs WHERE tag = :tag AND phase = :phase"),
                {"tag": tag, "phase": phase},
            )
        ).scalar_one()
        await session.commit()
    return int(count)


@registry.job("test.record")
async def record(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _record(ctx, payload["tag"], "done")


@registry.job("test.flaky")
async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
    attempts = await _record(ctx, payload["tag"], "attempt")
    if attempts < payload["succeed_on"]:
        raise RuntimeError("partner unavailable")
    await _record(ctx, payload["tag"], "done")


@registry.job("test.always_fails", max_attempts=3)
async def always_fails(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _record(ctx, payload["tag"], "attempt")
    raise RuntimeError("this job never succeeds")


@registry.job("test.hangs_first_time")
async def hangs_first_time(ctx: JobContext, payload: dict[str, Any]) -> None:
    starts = await _record(ctx, payload["tag"], "started")
    if starts == 1:
        await asyncio.sleep(600)  # the test kills the worker here
    await _record(ctx, payload["tag"], "done")
