"""Field agents' tools: reports near me, notes, offline sync, and a day's visiting order.

Offline sync applies each operation in its own savepoint, so one refusal leaves the others
applied. An operation is idempotent by its client-made id: the first answer (success or
refusal) is stored in ``incident_sync_operations`` and a replay returns it without applying
anything. ``base_version`` is the report version the agent last saw from the server; a report
changed since by *someone else* answers 412, but versions produced by the same agent's earlier
sync operations do not count as changes (the app cannot know the versions its own queued work
will produce). Two exceptions, because nothing can be lost:

* an operation whose effect is already the report's state (claimed by me; already in the target
  status) answers 200 ``already_current`` without a change; notes it carried are still recorded;
* a note never conflicts: history is append-only, so a note is added whatever the version.

Visiting order: straight-line (haversine) distances, an exact optimum for a few stops
(Held-Karp), otherwise the nearest-neighbour tour improved by 2-opt, which never lengthens it.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.errors import Conflict, PocheError, problem_response
from poche_api.incidents import service, workflow
from poche_api.incidents.repository import IncidentRepository, QueueEntry, QueueFilter
from poche_api.incidents.schemas import (
    NoteIn,
    SyncClaim,
    SyncNote,
    SyncOperation,
    SyncResult,
    SyncTransition,
    TransitionIn,
)
from poche_api.incidents.service import Caller
from poche_api.incidents.workflow import Status
from poche_api.kit.geo import haversine_m
from poche_api.kit.timeutil import utcnow
from poche_api.models import IncidentEvent, IncidentReport

NEARBY_MAX_RADIUS_M = 2000
NEARBY_MAX_RESULTS = 100
ROUTE_MAX_STOPS = 60
EXACT_TOUR_MAX_STOPS = (
    8  # Held-Karp: 8 stops is ~16k steps, 9+ grows past what a request should pay
)
TWO_OPT_MAX_PASSES = 100

Point = tuple[float, float]  # (lat, lon)


# --- reports near me ---


async def nearby(
    session: AsyncSession, who: Caller, lat: float, lon: float, radius_m: int, *, limit: int
) -> list[QueueEntry]:
    """Open reports of the caller's teams within ``radius_m``, nearest first."""
    repo = IncidentRepository.from_session(session)
    where = QueueFilter(
        team_slugs=sorted(who.principal.teams),
        near=(lat, lon, float(radius_m)),
    )
    return await repo.queue_by_distance(where, lat, lon, offset=0, limit=limit)


# --- notes ---


async def add_note(
    session: AsyncSession,
    settings: Settings,
    report: IncidentReport,
    who: Caller,
    note: NoteIn,
    *,
    now: datetime | None = None,
) -> IncidentReport:
    """Append a note without changing the status; a public one is pushed to followers."""
    now = now or utcnow()
    report.updated_at = now  # the history changed: a new version (ETag)
    session.add(
        IncidentEvent(
            report_id=report.id,
            at=now,
            actor=who.key,
            actor_role=who.role_name(),
            action="note",
            public_note=note.public_note,
            internal_note=note.internal_note,
            data={},
        )
    )
    await session.flush()
    if note.public_note:
        await service.notify_followers(session, settings, report, note=note.public_note, photo=None)
    return report


# --- offline sync ---


async def sync(
    session: AsyncSession,
    settings: Settings,
    who: Caller,
    operations: Sequence[SyncOperation],
    *,
    lang: str,
) -> list[SyncResult]:
    return [await _sync_one(session, settings, who, op, lang=lang) for op in operations]


async def _sync_one(
    session: AsyncSession, settings: Settings, who: Caller, op: SyncOperation, *, lang: str
) -> SyncResult:
    repo = IncidentRepository.from_session(session)
    staff_id = who.principal.uid
    if not await repo.claim_sync_operation(op.id, staff_id):
        stored = await repo.sync_operation(op.id)
        if stored is None or stored.staff_id != staff_id or stored.status_code == 0:
            taken = Conflict(
                ("Cet identifiant d'opération est déjà pris.", "This operation id is taken."),
                slug="sync-operation-id-taken",
            )
            return _refused(op, taken, lang)
        return SyncResult.model_validate({**stored.result, "replayed": True})
    from_version: int | None = None
    try:
        async with session.begin_nested():
            result, from_version = await _apply(session, settings, who, op)
    except PocheError as exc:
        result = _refused(op, exc, lang)
    await repo.record_sync_result(
        op.id,
        report_id=op.report_id if result.status != 404 else None,
        status_code=result.status,
        result={**result.model_dump(mode="json"), "from_version": from_version},
    )
    return result


async def _apply(
    session: AsyncSession, settings: Settings, who: Caller, op: SyncOperation
) -> tuple[SyncResult, int]:
    report = await service.staff_report(session, op.report_id, who, lock=True)
    before = report.version
    if isinstance(op, SyncNote):
        await add_note(session, settings, report, who, op.note)
        return _applied(op, report), before
    if await _already_current(session, report, who, op):
        if isinstance(op, SyncTransition) and (
            op.transition.public_note or op.transition.internal_note
        ):
            note = NoteIn(
                public_note=op.transition.public_note, internal_note=op.transition.internal_note
            )
            await add_note(session, settings, report, who, note)
        return _applied(op, report, already_current=True), before
    await _ensure_fresh(session, who, report, op.base_version)
    if isinstance(op, SyncClaim):
        await service.claim(session, settings, report, who)
    else:
        await service.transition(session, settings, report, who, op.transition)
    return _applied(op, report), before


async def _already_current(
    session: AsyncSession, report: IncidentReport, who: Caller, op: SyncClaim | SyncTransition
) -> bool:
    if isinstance(op, SyncClaim):
        return (
            report.assignee_id == who.principal.id
            and report.status in workflow.OPEN
            and report.status not in (Status.submitted, Status.triaged, Status.reopened)
        )
    return await _in_target_state(session, report, op.transition)


async def _in_target_state(
    session: AsyncSession, report: IncidentReport, change: TransitionIn
) -> bool:
    if report.status != change.status:
        return False
    if change.status == Status.scheduled:
        return report.scheduled_for == change.scheduled_for
    if change.status == Status.duplicate:
        repo = IncidentRepository.from_session(session)
        original = await repo.report(report.duplicate_of_id) if report.duplicate_of_id else None
        return (
            original is not None and original.tracking_code == (change.duplicate_of or "").upper()
        )
    return True


async def _ensure_fresh(
    session: AsyncSession, who: Caller, report: IncidentReport, base_version: int
) -> None:
    """412 unless the report is as the agent saw it, give or take their own synced changes."""
    if report.version == base_version:
        return
    changes = await IncidentRepository.from_session(session).own_sync_changes(
        who.principal.uid, report.id
    )
    version = report.version
    for _ in range(len(changes)):
        if version not in changes:
            break
        version = changes[version]
        if version == base_version:
            return
    service.check_version(report, f'"r{base_version}"')


def _applied(
    op: SyncOperation, report: IncidentReport, *, already_current: bool = False
) -> SyncResult:
    return SyncResult(
        id=op.id,
        report_id=op.report_id,
        action=op.action,
        status=200,
        version=report.version,
        report_status=Status(report.status),
        already_current=already_current,
    )


def _refused(op: SyncOperation, exc: PocheError, lang: str) -> SyncResult:
    # The same problem document the single call would have answered.
    rendered = problem_response(
        exc.status_code,
        lang=lang,
        slug=exc.instance_slug,
        detail=exc.localized_detail(lang),
        extensions=exc.extensions,
    )
    return SyncResult(
        id=op.id,
        report_id=op.report_id,
        action=op.action,
        status=exc.status_code,
        problem=orjson.loads(rendered.body),
    )


# --- a day's list and its visiting order ---


@dataclass(frozen=True)
class Tour:
    order: list[int]  # indices into the points given
    legs_m: list[float]  # legs_m[k]: from the previous stop (or the start) to stop k

    @property
    def total_m(self) -> float:
        return sum(self.legs_m)


def _matrix(start: Point, points: Sequence[Point]) -> list[list[float]]:
    """Node 0 is the start, node i + 1 is points[i]."""
    nodes = [start, *points]
    return [[haversine_m(*a, *b) for b in nodes] for a in nodes]


def _tour(matrix: Sequence[Sequence[float]], order: Sequence[int]) -> Tour:
    nodes = [0, *(i + 1 for i in order)]
    return Tour(list(order), [matrix[a][b] for a, b in itertools.pairwise(nodes)])


def tour_length(start: Point, points: Sequence[Point], order: Sequence[int]) -> float:
    return _tour(_matrix(start, points), order).total_m


def _nearest_neighbour(matrix: Sequence[Sequence[float]], count: int) -> list[int]:
    left = set(range(1, count + 1))
    here, order = 0, []
    while left:
        here = min(left, key=lambda node: (matrix[here][node], node))
        left.remove(here)
        order.append(here - 1)
    return order


def _two_opt(matrix: Sequence[Sequence[float]], order: list[int]) -> list[int]:
    """Reverse segments while it shortens the open path from the start (which stays first)."""
    path = [0, *(i + 1 for i in order)]
    last = len(path) - 1
    for _ in range(TWO_OPT_MAX_PASSES):
        improved = False
        for i in range(1, last):
            for j in range(i + 1, last + 1):
                a, b, c = path[i - 1], path[i], path[j]
                delta = matrix[a][c] - matrix[a][b]
                if j < last:
                    d = path[j + 1]
                    delta += matrix[b][d] - matrix[c][d]
                if delta < -1e-6:
                    path[i : j + 1] = reversed(path[i : j + 1])
                    improved = True
        if not improved:
            break
    return [node - 1 for node in path[1:]]


def _held_karp(matrix: Sequence[Sequence[float]], count: int) -> list[int]:
    """The shortest open path from the start through every point (exponential: few points)."""
    best: dict[tuple[int, int], tuple[float, int]] = {
        (1 << k, k): (matrix[0][k + 1], -1) for k in range(count)
    }
    for size in range(2, count + 1):
        for subset in itertools.combinations(range(count), size):
            mask = sum(1 << k for k in subset)
            for end in subset:
                rest = mask & ~(1 << end)
                best[(mask, end)] = min(
                    (best[(rest, prev)][0] + matrix[prev + 1][end + 1], prev)
                    for prev in subset
                    if prev != end
                )
    full = (1 << count) - 1
    end = min(range(count), key=lambda k: best[(full, k)][0])
    order, mask = [], full
    while end != -1:
        order.append(end)
        end, mask = best[(mask, end)][1], mask & ~(1 << end)
    return order[::-1]


def nearest_neighbour_tour(start: Point, points: Sequence[Point]) -> Tour:
    matrix = _matrix(start, points)
    return _tour(matrix, _nearest_neighbour(matrix, len(points)))


def two_opt_tour(start: Point, points: Sequence[Point]) -> Tour:
    """The nearest-neighbour tour improved by 2-opt (never longer than it)."""
    matrix = _matrix(start, points)
    return _tour(matrix, _two_opt(matrix, _nearest_neighbour(matrix, len(points))))


def plan_tour(start: Point, points: Sequence[Point]) -> Tour:
    """A short visiting order from ``start``: exact for a few stops, 2-opt beyond."""
    if not points:
        return Tour([], [])
    if len(points) <= EXACT_TOUR_MAX_STOPS:
        matrix = _matrix(start, points)
        return _tour(matrix, _held_karp(matrix, len(points)))
    return two_opt_tour(start, points)


@dataclass(frozen=True)
class DayRoute:
    reports: list[IncidentReport]  # in visiting order
    tour: Tour
    nearest_neighbour: Tour
    truncated: bool


async def day_route(session: AsyncSession, who: Caller, day: date, start: Point) -> DayRoute:
    """The agent's reports in hand plus those scheduled on ``day``, in a short visiting order."""
    repo = IncidentRepository.from_session(session)
    rows = await repo.day_list(
        who.principal.uid,
        await repo.team_ids_by_slug(sorted(who.principal.teams)),
        day,
        limit=ROUTE_MAX_STOPS + 1,
    )
    stops = rows[:ROUTE_MAX_STOPS]
    points = [(report.lat, report.lon) for report in stops]
    tour = plan_tour(start, points)
    return DayRoute(
        reports=[stops[i] for i in tour.order],
        tour=tour,
        nearest_neighbour=nearest_neighbour_tour(start, points),
        truncated=len(rows) > ROUTE_MAX_STOPS,
    )
