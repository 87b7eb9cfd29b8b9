"""Operational endpoints: liveness, readiness and Prometheus metrics (outside /v1)."""

import asyncio

from fastapi import APIRouter, Depends, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import JSONResponse, Response

from poche_api import jobs, metrics
from poche_api.auth.admin import require_admin
from poche_api.config import Environment, Settings
from poche_api.errors import problem_response

router = APIRouter(include_in_schema=False)
CHECK_TIMEOUT = 2.0


@router.get("/livez")
async def livez() -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def _check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    probes = {
        "postgresql": _check_database(request.state.engine),
        "redis": request.state.redis.ping(),
    }
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(probe, CHECK_TIMEOUT)
            checks[name] = "ok"
        except Exception:  # noqa: BLE001 - any failure means not ready
            checks[name] = "unavailable"
    if all(state == "ok" for state in checks.values()):
        return JSONResponse(
            {"status": "ok", "checks": checks}, headers={"Cache-Control": "no-store"}
        )
    return problem_response(503, detail="dependency unavailable", extensions={"checks": checks})


async def _metrics_access(request: Request) -> None:
    """In production the exposition is for the scraper only (operator token or staff admin)."""
    settings: Settings = request.state.settings
    if settings.env is Environment.production:
        async with request.state.sessionmaker() as session:
            await require_admin(request, session, None)


@router.get("/metrics", dependencies=[Depends(_metrics_access)])
async def prometheus_metrics(request: Request) -> Response:
    try:
        async with request.state.sessionmaker() as session:
            counts = await jobs.queue_counts(session)
        metrics.JOBS_DEAD_LETTERS.set(counts.get("failed", 0))
        metrics.JOBS_QUEUED.set(counts.get("queued", 0))
    except Exception:  # noqa: BLE001, S110 - metrics must answer even when the database is down
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
