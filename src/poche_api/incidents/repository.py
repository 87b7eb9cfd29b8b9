"""Incident queries. Services call these and only flush; the request or job commits."""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from poche_api.incidents.workflow import OPEN
from poche_api.kit.geo import EARTH_RADIUS_M
from poche_api.models import (
    IncidentCategory,
    IncidentEvent,
    IncidentFeedback,
    IncidentFollow,
    IncidentGroup,
    IncidentModeration,
    IncidentPhoto,
    IncidentReport,
    IncidentSyncOperation,
    RoutingRule,
    StaffMember,
    StaffTeam,
    Team,
)

OPEN_STATUSES = sorted(str(status) for status in OPEN)
# What an agent has in hand: claimed and not yet closed or waiting on a date or a reporter.
IN_HAND_STATUSES = ("assigned", "in_progress", "reopened")


@dataclass(frozen=True)
class CategoryNames:
    code: str
    name_fr: str
    name_en: str


@dataclass(frozen=True)
class PhotoFacts:
    """What a report's views show of a photo (the files stay in the media store)."""

    id: uuid.UUID
    kind: str
    hidden: bool
    variants: dict[str, Any]


@dataclass(frozen=True)
class StaffFacts:
    """What a report's staff view names and shows besides the report row itself."""

    category: CategoryNames
    team_slug: str | None
    rule_name: str | None
    duplicate_code: str | None
    photos: list[PhotoFacts]


@dataclass(frozen=True)
class QueueEntry:
    """A queue's report with its staff facts, read in the queue's own statement."""

    report: IncidentReport
    facts: StaffFacts
    distance_m: float | None = None


_IDS = ARRAY(Uuid())


def _facts(
    code: str,
    name_fr: str,
    name_en: str,
    team_slug: str | None,
    rule_name: str | None,
    duplicate_code: str | None,
    photos: list[dict[str, Any]],
) -> StaffFacts:
    return StaffFacts(
        category=CategoryNames(code, name_fr, name_en),
        team_slug=team_slug,
        rule_name=rule_name,
        duplicate_code=duplicate_code,
        photos=[
            PhotoFacts(uuid.UUID(p["id"]), p["kind"], p["hidden"], p["variants"]) for p in photos
        ],
    )


# Aliases, made once (each costs column proxies), so that the subqueries below never correlate
# with a table a queue's own filters select from.
_CATEGORY, _TEAM, _RULE = aliased(IncidentCategory), aliased(Team), aliased(RoutingRule)
_DUPLICATE, _PHOTO = aliased(IncidentReport), aliased(IncidentPhoto)
_PHOTOS = (
    select(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_object(
                        "id",
                        _PHOTO.id,
                        "kind",
                        _PHOTO.kind,
                        "hidden",
                        _PHOTO.hidden,
                        "variants",
                        _PHOTO.variants,
                    ),
                    _PHOTO.created_at,
                    _PHOTO.id,
                )
            ),
            literal_column("'[]'::json"),
        )
    )
    .where(_PHOTO.report_id == IncidentReport.id, _PHOTO.purged_at.is_(None))
    .scalar_subquery()
)


def _named(column: Any, row_id: Any, key: Any) -> Any:
    """``column`` of the row whose id is ``key``: a correlated scalar subquery, run for the
    page's rows only after the limit (joins cost the planner 3 to 5 ms a query here)."""
    return select(column).where(row_id == key).scalar_subquery()


# Built once: a page's statement only adds them (building them cost more than running them).
_STAFF_FACTS = (
    _named(_CATEGORY.code, _CATEGORY.id, IncidentReport.category_id),
    _named(_CATEGORY.name_fr, _CATEGORY.id, IncidentReport.category_id),
    _named(_CATEGORY.name_en, _CATEGORY.id, IncidentReport.category_id),
    _named(_TEAM.slug, _TEAM.id, IncidentReport.team_id),
    _named(_RULE.name, _RULE.id, IncidentReport.routing_rule_id),
    _named(_DUPLICATE.tracking_code, _DUPLICATE.id, IncidentReport.duplicate_of_id),
    _PHOTOS,
)


def _with_staff_facts(query: Select[Any]) -> Select[Any]:
    """A report query that also reads each report's ``StaffFacts``."""
    return query.add_columns(*_STAFF_FACTS)


def degrees_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) around a point: an index-friendly prefilter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def distance_m(lat: float, lon: float) -> ColumnElement[float]:
    """Haversine distance in SQL from (lat, lon) to a report, in metres."""
    rlat, rlon = math.radians(lat), math.radians(lon)
    dlat = func.radians(IncidentReport.lat) - rlat
    dlon = func.radians(IncidentReport.lon) - rlon
    a = func.power(func.sin(dlat / 2), 2) + math.cos(rlat) * func.cos(
        func.radians(IncidentReport.lat)
    ) * func.power(func.sin(dlon / 2), 2)
    distance: ColumnElement[float] = 2 * EARTH_RADIUS_M * func.asin(func.sqrt(func.least(1.0, a)))
    return distance


def _within(lat: float, lon: float, radius_m: float) -> list[ColumnElement[bool]]:
    min_lat, max_lat, min_lon, max_lon = degrees_box(lat, lon, radius_m)
    return [
        IncidentReport.lat.between(min_lat, max_lat),
        IncidentReport.lon.between(min_lon, max_lon),
        distance_m(lat, lon) <= radius_m,
    ]


@dataclass(frozen=True)
class QueueFilter:
    team_ids: Sequence[uuid.UUID] | None = None
    team_slugs: Sequence[str] | None = None  # resolved by the query itself
    assignee_id: uuid.UUID | None = None
    statuses: Sequence[str] | None = None
    category_ids: Sequence[uuid.UUID] | None = None
    category_codes: Sequence[str] | None = None  # resolved by the query itself
    commune_insee: str | None = None
    overdue_at: datetime | None = None  # only reports past their SLA at this instant
    triage: bool = False  # the unrouted queue
    escalated: bool | None = None  # True: only escalated to a supervisor; False: only not yet
    near: tuple[float, float, float] | None = None  # (lat, lon, radius_m): only reports within


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> "IncidentRepository":
        return cls(session)

    async def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # --- catalogue ---

    async def groups(self) -> list[IncidentGroup]:
        rows = await self.session.scalars(
            select(IncidentGroup).order_by(IncidentGroup.position, IncidentGroup.code)
        )
        return list(rows)

    async def group_by_code(self, code: str) -> IncidentGroup | None:
        found: IncidentGroup | None = await self.session.scalar(
            select(IncidentGroup).where(IncidentGroup.code == code)
        )
        return found

    async def categories(self, *, active_only: bool) -> list[IncidentCategory]:
        query = select(IncidentCategory).order_by(IncidentCategory.position, IncidentCategory.code)
        if active_only:
            query = query.where(IncidentCategory.active)
        return list(await self.session.scalars(query))

    async def category_by_code(self, code: str) -> IncidentCategory | None:
        found: IncidentCategory | None = await self.session.scalar(
            select(IncidentCategory).where(IncidentCategory.code == code)
        )
        return found

    async def category(self, category_id: uuid.UUID) -> IncidentCategory:
        found = await self.session.get(IncidentCategory, category_id)
        if found is None:  # a report's category is never deleted (RESTRICT)
            raise LookupError(f"category {category_id} vanished")
        return found

    async def categories_by_id(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, IncidentCategory]:
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(IncidentCategory).where(IncidentCategory.id.in_(set(ids)))
        )
        return {row.id: row for row in rows}

    # --- teams and rules ---

    async def team_by_slug(self, slug: str) -> Team | None:
        found: Team | None = await self.session.scalar(select(Team).where(Team.slug == slug))
        return found

    async def teams_by_id(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Team]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(Team).where(Team.id.in_(set(ids))))
        return {row.id: row for row in rows}

    async def team_ids_by_slug(self, slugs: Sequence[str]) -> list[uuid.UUID]:
        if not slugs:
            return []
        return list(await self.session.scalars(select(Team.id).where(Team.slug.in_(slugs))))

    async def rules(self) -> list[RoutingRule]:
        rows = await self.session.scalars(
            select(RoutingRule).order_by(RoutingRule.position, RoutingRule.name)
        )
        return list(rows)

    async def rule(self, rule_id: uuid.UUID) -> RoutingRule | None:
        return await self.session.get(RoutingRule, rule_id)

    async def delete_rule(self, rule: RoutingRule) -> None:
        await self.session.delete(rule)
        await self.session.flush()

    async def staff_in_team(self, staff_id: uuid.UUID, team_id: uuid.UUID) -> StaffMember | None:
        found: StaffMember | None = await self.session.scalar(
            select(StaffMember)
            .join(StaffTeam, StaffTeam.staff_id == StaffMember.id)
            .where(StaffMember.id == staff_id, StaffMember.active, StaffTeam.team_id == team_id)
        )
        return found

    async def supervisor_ids_of_team(self, team_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(StaffMember.id)
            .join(StaffTeam, StaffTeam.staff_id == StaffMember.id)
            .where(
                StaffTeam.team_id == team_id,
                StaffMember.active,
                StaffMember.role.in_(("supervisor", "admin")),
            )
        )
        return list(rows)

    # --- reports ---

    async def report(self, report_id: uuid.UUID, *, lock: bool = False) -> IncidentReport | None:
        query = select(IncidentReport).where(IncidentReport.id == report_id)
        if lock:
            query = query.with_for_update()
        found: IncidentReport | None = await self.session.scalar(query)
        return found

    async def staff_facts(self, reports: Sequence[IncidentReport]) -> dict[uuid.UUID, StaffFacts]:
        """Names and photos of each report's staff view, in one statement (as flushed)."""
        if not reports:
            return {}
        ids = bindparam("ids", [report.id for report in reports], type_=_IDS)
        query = _with_staff_facts(select(IncidentReport.id).where(IncidentReport.id == any_(ids)))
        rows = await self.session.execute(query)
        return {report_id: _facts(*facts) for report_id, *facts in rows}

    async def report_by_code(self, code: str) -> IncidentReport | None:
        found: IncidentReport | None = await self.session.scalar(
            select(IncidentReport).where(IncidentReport.tracking_code == code.upper())
        )
        return found

    async def code_taken(self, code: str) -> bool:
        found = await self.session.scalar(
            select(IncidentReport.id).where(IncidentReport.tracking_code == code)
        )
        return found is not None

    async def reports_of(
        self, reporter: str, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[IncidentReport]:
        query = select(IncidentReport).where(IncidentReport.reporter == reporter)
        if after is not None:
            query = query.where(
                (IncidentReport.created_at, IncidentReport.id) < (after[0], after[1])  # type: ignore[operator]
            )
        query = query.order_by(IncidentReport.created_at.desc(), IncidentReport.id.desc())
        return list(await self.session.scalars(query.limit(limit)))

    async def followed_by(
        self, principal: str, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[IncidentReport]:
        query = (
            select(IncidentReport)
            .join(IncidentFollow, IncidentFollow.report_id == IncidentReport.id)
            .where(IncidentFollow.principal == principal)
            # A report hidden by moderation stays listed for its reporter only.
            .where(~IncidentReport.hidden | (IncidentReport.reporter == principal))
        )
        if after is not None:
            query = query.where(
                (IncidentReport.created_at, IncidentReport.id) < (after[0], after[1])  # type: ignore[operator]
            )
        query = query.order_by(IncidentReport.created_at.desc(), IncidentReport.id.desc())
        return list(await self.session.scalars(query.limit(limit)))

    async def open_nearby(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        *,
        category_id: uuid.UUID | None = None,
        since: datetime | None = None,
        public_only: bool = False,
        limit: int = 20,
    ) -> list[tuple[IncidentReport, float]]:
        min_lat, max_lat, min_lon, max_lon = degrees_box(lat, lon, radius_m)
        distance = distance_m(lat, lon)
        query = (
            select(IncidentReport, distance.label("distance"))
            .where(
                IncidentReport.closed_at.is_(None),
                IncidentReport.lat.between(min_lat, max_lat),
                IncidentReport.lon.between(min_lon, max_lon),
                IncidentReport.duplicate_of_id.is_(None),
                distance <= radius_m,
            )
            .order_by(distance)
            .limit(limit)
        )
        if category_id is not None:
            query = query.where(IncidentReport.category_id == category_id)
        if since is not None:
            query = query.where(IncidentReport.created_at >= since)
        if public_only:
            query = query.join(
                IncidentCategory, IncidentCategory.id == IncidentReport.category_id
            ).where(~IncidentCategory.private, ~IncidentReport.hidden)
        rows = await self.session.execute(query)
        return [(row[0], float(row[1])) for row in rows]

    def queue_query(self, where: QueueFilter) -> Select[Any]:
        query = select(IncidentReport)
        conditions: list[ColumnElement[bool]] = []
        if where.triage:
            conditions.append(IncidentReport.team_id.is_(None))
        elif where.team_ids is not None:
            conditions.append(IncidentReport.team_id.in_(where.team_ids))
        elif where.team_slugs is not None:
            teams = select(Team.id).where(Team.slug.in_(where.team_slugs))
            conditions.append(IncidentReport.team_id.in_(teams.scalar_subquery()))
        if where.assignee_id is not None:
            conditions.append(IncidentReport.assignee_id == where.assignee_id)
        conditions.append(IncidentReport.status.in_(where.statuses or OPEN_STATUSES))
        if where.category_ids is not None:
            conditions.append(IncidentReport.category_id.in_(where.category_ids))
        if where.category_codes is not None:
            codes = select(IncidentCategory.id).where(
                IncidentCategory.code.in_(where.category_codes)
            )
            conditions.append(IncidentReport.category_id.in_(codes.scalar_subquery()))
        if where.commune_insee is not None:
            conditions.append(IncidentReport.commune_insee == where.commune_insee)
        if where.overdue_at is not None:
            conditions.append(IncidentReport.sla_due_at < where.overdue_at)
        if where.escalated is not None:
            escalated = IncidentReport.escalated_at.is_not(None)
            conditions.append(escalated if where.escalated else ~escalated)
        if where.near is not None:
            conditions.extend(_within(*where.near))
        return query.where(and_(*conditions))

    async def queue_by_deadline(
        self,
        where: QueueFilter,
        *,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[QueueEntry]:
        # NULL deadlines last: coalesce to a far date keeps one index-friendly sort key.
        far = datetime(9999, 1, 1).astimezone()
        deadline = func.coalesce(IncidentReport.sla_due_at, far)
        query = self.queue_query(where)
        if after is not None:
            query = query.where(
                or_(
                    deadline > after[0],
                    and_(deadline == after[0], IncidentReport.id > after[1]),
                )
            )
        query = _with_staff_facts(query.order_by(deadline, IncidentReport.id).limit(limit))
        rows = await self.session.execute(query)
        return [QueueEntry(report, _facts(*facts)) for report, *facts in rows]

    async def queue_by_distance(
        self, where: QueueFilter, lat: float, lon: float, *, offset: int, limit: int
    ) -> list[QueueEntry]:
        distance = distance_m(lat, lon)
        query = _with_staff_facts(
            self.queue_query(where)
            .add_columns(distance.label("distance"))
            .order_by(distance, IncidentReport.id)
            .offset(offset)
            .limit(limit)
        )
        rows = await self.session.execute(query)
        return [
            QueueEntry(report, _facts(*facts), float(meters)) for report, meters, *facts in rows
        ]

    async def overdue_unescalated(self, now: datetime, limit: int) -> list[IncidentReport]:
        query = (
            select(IncidentReport)
            .where(
                IncidentReport.status.in_(OPEN_STATUSES),
                IncidentReport.sla_due_at < now,
                IncidentReport.escalated_at.is_(None),
            )
            .order_by(IncidentReport.sla_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.scalars(query))

    # --- history, follows, photos, feedback ---

    async def events(self, report_id: uuid.UUID) -> list[IncidentEvent]:
        rows = await self.session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.report_id == report_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
        return list(rows)

    async def photos(self, report_ids: Sequence[uuid.UUID]) -> list[IncidentPhoto]:
        if not report_ids:
            return []
        rows = await self.session.scalars(
            select(IncidentPhoto)
            .where(
                IncidentPhoto.report_id.in_(set(report_ids)),
                IncidentPhoto.purged_at.is_(None),  # retention deleted the files
            )
            .order_by(IncidentPhoto.created_at, IncidentPhoto.id)
        )
        return list(rows)

    async def photo(self, photo_id: uuid.UUID) -> IncidentPhoto | None:
        return await self.session.get(IncidentPhoto, photo_id)

    async def follow(self, report_id: uuid.UUID, principal: str) -> IncidentFollow | None:
        return await self.session.get(IncidentFollow, (report_id, principal))

    async def followed_ids(self, principal: str, report_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not report_ids:
            return set()
        rows = await self.session.scalars(
            select(IncidentFollow.report_id).where(
                IncidentFollow.principal == principal,
                IncidentFollow.report_id.in_(set(report_ids)),
            )
        )
        return set(rows)

    async def followers(self, report_id: uuid.UUID) -> list[str]:
        rows = await self.session.scalars(
            select(IncidentFollow.principal).where(IncidentFollow.report_id == report_id)
        )
        return list(rows)

    async def unfollow(self, report_id: uuid.UUID, principal: str) -> bool:
        result = await self.session.execute(
            delete(IncidentFollow).where(
                IncidentFollow.report_id == report_id, IncidentFollow.principal == principal
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def move_follows(self, source: uuid.UUID, target: uuid.UUID) -> int:
        """Followers of a duplicate follow the original (once); returns how many moved."""
        existing = set(await self.followers(target))
        moved = 0
        for follow in await self.session.scalars(
            select(IncidentFollow).where(IncidentFollow.report_id == source)
        ):
            if follow.principal not in existing:
                self.session.add(
                    IncidentFollow(report_id=target, principal=follow.principal, supporter=True)
                )
                moved += 1
        await self.session.execute(delete(IncidentFollow).where(IncidentFollow.report_id == source))
        await self.session.flush()
        return moved

    async def feedback(self, report_id: uuid.UUID, principal: str) -> IncidentFeedback | None:
        return await self.session.get(IncidentFeedback, (report_id, principal))

    async def moderations(self, report_id: uuid.UUID) -> list[IncidentModeration]:
        rows = await self.session.scalars(
            select(IncidentModeration)
            .where(IncidentModeration.report_id == report_id)
            .order_by(IncidentModeration.at, IncidentModeration.id)
        )
        return list(rows)

    async def bump_supporters(self, report_id: uuid.UUID, delta: int) -> None:
        await self.session.execute(
            update(IncidentReport)
            .where(IncidentReport.id == report_id)
            .values(supporters=IncidentReport.supporters + delta)
            .execution_options(synchronize_session="fetch")
        )

    # --- field work: a day's list, offline sync operations ---

    async def day_list(
        self,
        staff_id: uuid.UUID,
        team_ids: Sequence[uuid.UUID],
        day: date,
        *,
        limit: int,
    ) -> list[IncidentReport]:
        """An agent's reports in hand plus those scheduled on ``day`` (theirs or unassigned in
        their teams), most pressing first: scheduled that day, then priority, then deadline."""
        in_hand = and_(
            IncidentReport.assignee_id == staff_id,
            IncidentReport.status.in_(IN_HAND_STATUSES),
        )
        scheduled = and_(
            IncidentReport.status == "scheduled",
            IncidentReport.scheduled_for == day,
            or_(
                IncidentReport.assignee_id == staff_id,
                and_(IncidentReport.assignee_id.is_(None), IncidentReport.team_id.in_(team_ids)),
            ),
        )
        far = datetime(9999, 1, 1).astimezone()
        query = (
            select(IncidentReport)
            .where(or_(in_hand, scheduled))
            .order_by(
                (IncidentReport.status == "scheduled").desc(),
                IncidentReport.priority.desc(),
                func.coalesce(IncidentReport.sla_due_at, far),
                IncidentReport.id,
            )
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def claim_sync_operation(self, operation_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
        """Insert the operation's row; False when it exists (waits for a concurrent insert)."""
        inserted = await self.session.scalar(
            insert(IncidentSyncOperation)
            .values(id=operation_id, staff_id=staff_id, status_code=0, result={})
            .on_conflict_do_nothing(index_elements=[IncidentSyncOperation.id])
            .returning(IncidentSyncOperation.id)
        )
        return inserted is not None

    async def sync_operation(self, operation_id: uuid.UUID) -> IncidentSyncOperation | None:
        found: IncidentSyncOperation | None = await self.session.scalar(
            select(IncidentSyncOperation)
            .where(IncidentSyncOperation.id == operation_id)
            .execution_options(populate_existing=True)
        )
        return found

    async def record_sync_result(
        self,
        operation_id: uuid.UUID,
        *,
        report_id: uuid.UUID | None,
        status_code: int,
        result: dict[str, Any],
    ) -> None:
        await self.session.execute(
            update(IncidentSyncOperation)
            .where(IncidentSyncOperation.id == operation_id)
            .values(report_id=report_id, status_code=status_code, result=result)
            .execution_options(synchronize_session=False)
        )

    async def own_sync_changes(self, staff_id: uuid.UUID, report_id: uuid.UUID) -> dict[int, int]:
        """Versions this agent's applied sync operations produced on a report -> the version
        each started from."""
        rows = await self.session.execute(
            select(IncidentSyncOperation.result).where(
                IncidentSyncOperation.staff_id == staff_id,
                IncidentSyncOperation.report_id == report_id,
                IncidentSyncOperation.status_code == 200,
            )
        )
        changes: dict[int, int] = {}
        for (result,) in rows:
            before, after = result.get("from_version"), result.get("version")
            if isinstance(before, int) and isinstance(after, int) and after != before:
                changes[after] = before
        return changes
