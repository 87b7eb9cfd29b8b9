"""Visiting order (pure) and the SLA escalation job run against the test database."""

import itertools
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from poche_api.config import Settings
from poche_api.incidents import escalation
from poche_api.incidents.fieldwork import (
    EXACT_TOUR_MAX_STOPS,
    ROUTE_MAX_STOPS,
    nearest_neighbour_tour,
    plan_tour,
    tour_length,
    two_opt_tour,
)
from poche_api.jobs import JobContext
from poche_api.kit.timeutil import utcnow
from poche_api.models import IncidentEvent, IncidentReport, PushNotification
from tests.incidents.conftest import MONT_SAINT_AIGNAN, Cast

START = (49.4432, 1.0993)  # Rouen, Hôtel de Ville


def _points(seed: int, count: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(49.40 + rng.random() * 0.08, 1.02 + rng.random() * 0.14) for _ in range(count)]


def _brute_force(start: tuple[float, float], points: list[tuple[float, float]]) -> float:
    return min(
        tour_length(start, points, order) for order in itertools.permutations(range(len(points)))
    )


class TestVisitingOrder:
    @pytest.mark.parametrize("count", range(1, 8))
    def test_a_handful_of_stops_get_the_shortest_order(self, count: int) -> None:
        for seed in range(8):
            points = _points(seed * 100 + count, count)

            tour = plan_tour(START, points)

            assert tour.total_m == pytest.approx(_brute_force(START, points), abs=1e-6)

    @pytest.mark.parametrize("count", [EXACT_TOUR_MAX_STOPS + 1, 15, 30, ROUTE_MAX_STOPS])
    def test_two_opt_is_never_longer_than_nearest_neighbour(self, count: int) -> None:
        for seed in range(10):
            points = _points(seed, count)

            greedy = nearest_neighbour_tour(START, points)
            improved = two_opt_tour(START, points)
            planned = plan_tour(START, points)

            assert improved.total_m <= greedy.total_m + 1e-6
            assert planned.total_m == pytest.approx(improved.total_m)
            assert sorted(planned.order) == list(range(count))

    def test_two_opt_undoes_the_greedy_detour(self) -> None:
        # On one street: the nearest stop first sends the agent back past the start.
        points = [(49.4442, 1.0993), (49.4412, 1.0993), (49.4472, 1.0993)]  # +1, -2, +4 ticks

        greedy = nearest_neighbour_tour(START, points)
        improved = two_opt_tour(START, points)

        assert greedy.order == [0, 1, 2]
        assert improved.order == [1, 0, 2]
        assert improved.total_m == pytest.approx(_brute_force(START, points))
        assert improved.total_m < greedy.total_m

    def test_legs_add_up_and_nothing_is_planned_without_stops(self) -> None:
        points = _points(7, 12)

        tour = plan_tour(START, points)

        assert len(tour.legs_m) == 12
        assert sum(tour.legs_m) == pytest.approx(tour_length(START, points, tour.order))
        assert plan_tour(START, []).total_m == 0


# --- escalation ---


@pytest_asyncio.fixture
async def job_context(
    session: AsyncSession, settings: Settings, redis: Redis
) -> AsyncIterator[JobContext]:
    """The job's own sessions join the test's transaction (savepoints), rolled back at the end."""
    sessionmaker = async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    async with httpx.AsyncClient() as http:
        yield JobContext(
            job_id=1,
            attempt=1,
            settings=settings,
            sessionmaker=sessionmaker,
            redis=redis,
            http=http,
        )


async def _overdue_report(cast: Cast, session: AsyncSession, **fields: Any) -> uuid.UUID:
    filed = await cast.file("resident_a", **fields)
    assert filed.status_code == 201, filed.text
    report_id = uuid.UUID(filed.json()["id"])
    await session.execute(
        update(IncidentReport)
        .where(IncidentReport.id == report_id)
        .values(sla_due_at=utcnow() - timedelta(hours=2))
    )
    await session.commit()
    return report_id


async def _notified(session: AsyncSession, template: str) -> list[str]:
    rows = await session.scalars(
        select(PushNotification.target).where(PushNotification.template == template)
    )
    return sorted(rows)


async def _escalated_at(session: AsyncSession, report_id: uuid.UUID) -> Any:
    return await session.scalar(
        select(IncidentReport.escalated_at).where(IncidentReport.id == report_id)
    )


class TestEscalation:
    async def test_an_overdue_report_is_escalated_once_to_its_team_supervisors(
        self, cast: Cast, session: AsyncSession, job_context: JobContext
    ) -> None:
        overdue = await _overdue_report(cast, session)
        on_time = (await cast.file("resident_a")).json()["id"]

        await escalation.escalate(job_context, {"scheduled": True})
        session.expire_all()

        assert await _escalated_at(session, overdue) is not None
        assert await _escalated_at(session, uuid.UUID(on_time)) is None
        assert await _notified(session, "report_overdue") == [cast.keys["supervisor"]]
        events = await session.scalars(
            select(IncidentEvent).where(
                IncidentEvent.report_id == overdue, IncidentEvent.action == "escalated"
            )
        )
        [event] = list(events)
        assert (event.actor, event.data["supervisors"]) == (
            "system",
            [str(cast.staff_ids["supervisor"])],
        )
        escalated = await cast.call(
            "supervisor", "GET", "/v1/agent/reports", params={"escalated": "true"}
        )
        not_escalated = await cast.call(
            "supervisor", "GET", "/v1/agent/reports", params={"escalated": "false"}
        )
        assert [item["id"] for item in escalated.json()["items"]] == [str(overdue)]
        assert escalated.json()["items"][0]["escalated"] is True
        assert [item["id"] for item in not_escalated.json()["items"]] == [on_time]

    async def test_the_job_waits_for_its_period_and_never_escalates_twice(
        self, cast: Cast, session: AsyncSession, job_context: JobContext, redis: Redis
    ) -> None:
        first = await _overdue_report(cast, session)
        await escalation.escalate(job_context, {})
        second = await _overdue_report(cast, session)

        await escalation.escalate(job_context, {})  # within the period: nothing happens
        session.expire_all()
        waited = await _escalated_at(session, second)
        await redis.delete(escalation.LAST_RUN_KEY)  # the period has passed
        await escalation.escalate(job_context, {})
        session.expire_all()

        assert waited is None
        assert await _escalated_at(session, second) is not None
        assert await _notified(session, "report_overdue") == [cast.keys["supervisor"]] * 2
        assert await redis.ttl(escalation.LAST_RUN_KEY) > 0
        assert first != second

    async def test_triage_and_closed_reports_notify_nobody(
        self, cast: Cast, session: AsyncSession, job_context: JobContext
    ) -> None:
        in_triage = await _overdue_report(cast, session, location=MONT_SAINT_AIGNAN)
        closed = await _overdue_report(cast, session)
        resolved = await cast.call(
            "agent",
            "POST",
            f"/v1/agent/reports/{closed}/transitions",
            json={"status": "resolved"},
        )
        assert resolved.status_code == 200

        await escalation.escalate(job_context, {})
        session.expire_all()

        assert await _escalated_at(session, in_triage) is not None
        assert await _escalated_at(session, closed) is None
        assert await _notified(session, "report_overdue") == []
