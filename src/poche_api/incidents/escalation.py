"""SLA escalation: overdue open reports are flagged once and pushed to their team's supervisors.

A schedule ticks every minute (pgqueuer's cron has no per-deployment period); a Redis mark set
after each complete run makes the work happen every ``POCHE_INCIDENT_ESCALATION_MINUTES``.
Reports are taken in batches with ``FOR UPDATE SKIP LOCKED`` and each batch commits on its own,
so two runs never escalate the same report and a failure keeps what was done. A report in triage
(no team yet) is flagged and kept in the history but pushes to nobody: the supervisors' triage
queue is where it shows (``escalated=true``). Reopening a report clears its flag.
"""

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.auth import Principal
from poche_api.incidents.repository import IncidentRepository
from poche_api.jobs import JobContext, registry
from poche_api.kit.timeutil import PARIS, utcnow
from poche_api.models import IncidentEvent, IncidentReport
from poche_api.notifications.service import Target, notify

logger = logging.getLogger(__name__)

ESCALATE = "incidents.escalate_overdue"
BATCH_SIZE = 100
LAST_RUN_KEY = "incidents:escalation:last-run"
TICK_SLACK_SECONDS = 30  # ticks land on the minute; a mark slightly shorter than the period


async def escalate_overdue(
    session: AsyncSession, *, now: datetime, limit: int = BATCH_SIZE
) -> list[IncidentReport]:
    """Flag up to ``limit`` overdue, not yet escalated open reports and notify supervisors."""
    repo = IncidentRepository.from_session(session)
    reports = await repo.overdue_unescalated(now, limit)
    for report in reports:
        supervisors = await repo.supervisor_ids_of_team(report.team_id) if report.team_id else []
        report.escalated_at = now
        session.add(
            IncidentEvent(
                report_id=report.id,
                at=now,
                actor="system",
                actor_role="system",
                action="escalated",
                data={
                    "sla_due_at": report.sla_due_at.isoformat() if report.sla_due_at else None,
                    "supervisors": [str(staff_id) for staff_id in supervisors],
                },
            )
        )
        await session.flush()
        if supervisors:
            await _notify_supervisors(session, repo, report, supervisors)
    return reports


async def _notify_supervisors(
    session: AsyncSession,
    repo: IncidentRepository,
    report: IncidentReport,
    supervisors: list[uuid.UUID],
) -> None:
    category = await repo.category(report.category_id)
    due = (report.sla_due_at or utcnow()).astimezone(PARIS)
    params = {
        "reference": report.tracking_code,
        "category_fr": category.name_fr,
        "category_en": category.name_en,
        "due": due.strftime("%d/%m %H:%M"),
        "report_id": str(report.id),
    }
    for staff_id in supervisors:
        await notify(
            session,
            kind="incident_update",
            template="report_overdue",
            params=params,
            target=Target(principal=Principal(kind="staff", id=staff_id).key),
            deep_link=f"poche://agent/reports/{report.id}",
        )


@registry.schedule(ESCALATE, "* * * * *")
async def escalate(ctx: JobContext, payload: dict[str, Any]) -> None:
    if await ctx.redis.exists(LAST_RUN_KEY):
        return  # the last complete run is more recent than the period
    total = 0
    while True:
        async with ctx.session() as session:
            batch = await escalate_overdue(session, now=utcnow(), limit=BATCH_SIZE)
            await session.commit()
        total += len(batch)
        if len(batch) < BATCH_SIZE:
            break
    period = ctx.settings.incident_escalation_minutes * 60
    await ctx.redis.set(LAST_RUN_KEY, "1", ex=max(period - TICK_SLACK_SECONDS, 1))
    if total:
        logger.info("overdue reports escalated", extra={"count": total})
