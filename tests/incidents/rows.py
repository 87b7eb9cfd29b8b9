"""Incident rows written straight to the database, for tests of the domain modules."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.auth.principal import Principal
from poche_api.identity.schemas import StaffRole
from poche_api.incidents.demo import seed_catalogue
from poche_api.incidents.service import Caller
from poche_api.kit.timeutil import utcnow
from poche_api.models import IncidentCategory, IncidentEvent, IncidentPhoto, IncidentReport


def supervisor() -> Caller:
    principal = Principal(
        kind="staff",
        id=uuid.uuid4(),
        role=StaffRole.supervisor,
        teams=frozenset({"voirie-rouen"}),
    )
    return Caller(key=principal.key, principal=principal)


async def category(session: AsyncSession, code: str = "nid-de-poule") -> IncidentCategory:
    await seed_catalogue(session)
    found = await session.scalar(select(IncidentCategory).where(IncidentCategory.code == code))
    assert found is not None
    return found


async def report(
    session: AsyncSession,
    *,
    category_code: str = "nid-de-poule",
    reporter: str | None = None,
    closed_days_ago: float | None = None,
    **fields: Any,
) -> IncidentReport:
    """A report of Rouen; ``closed_days_ago`` makes it resolved and closed that long ago."""
    now = utcnow()
    closed_at = now - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tracking_code": "RMN-" + uuid.uuid4().hex[:6].upper(),
        "category_id": (await category(session, category_code)).id,
        "status": "resolved" if closed_at else "triaged",
        "priority": 2,
        "lat": 49.4432,
        "lon": 1.0993,
        "commune_insee": "76540",
        "description": "Trou profond devant l'arrêt de bus",
        "attributes": {},
        "reporter": reporter or f"resident:{uuid.uuid4()}",
        "contact_email": None,
        "supporters": 0,
        "hidden": False,
        "description_redacted": False,
        "resolved_at": closed_at,
        "closed_at": closed_at,
        "created_at": now - timedelta(days=(closed_days_ago or 0) + 3),
        "updated_at": now,
    }
    row = IncidentReport(**{**values, **fields})
    session.add(row)
    await session.flush()
    session.add(
        IncidentEvent(
            report_id=row.id,
            at=row.created_at,
            actor=row.reporter or "system",
            actor_role="reporter",
            action="created",
            to_status="submitted",
            data={},
        )
    )
    await session.flush()
    return row


async def photo(
    session: AsyncSession,
    of: IncidentReport,
    variants: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> IncidentPhoto:
    prefix = f"incidents/{uuid.uuid4().hex}"
    row = IncidentPhoto(
        report_id=of.id,
        kind="report",
        variants=variants
        or {
            name: {"key": f"{prefix}/{name}.webp", "width": 10, "height": 10, "bytes": 4}
            for name in ("large", "medium", "thumb")
        },
        uploaded_by=of.reporter,
        created_at=at or utcnow(),
    )
    session.add(row)
    await session.flush()
    return row
