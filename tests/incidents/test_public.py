"""Public data rules: the map's box and grid, export months, and the streamed export."""

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.errors import Unprocessable
from poche_api.incidents import public
from poche_api.incidents.demo import seed_catalogue
from poche_api.models import IncidentCategory, IncidentReport


class TestBBox:
    def test_a_box_reads_min_lon_min_lat_max_lon_max_lat(self) -> None:
        box = public.parse_bbox("1.0, 49.38,1.2,49.5")

        assert (box.min_lon, box.min_lat, box.max_lon, box.max_lat) == (1.0, 49.38, 1.2, 49.5)

    @pytest.mark.parametrize(
        "raw",
        [
            "1.0,49.4,1.2",  # three numbers
            "1.0,49.4,1.2,49.5,3",
            "a,b,c,d",
            "1.2,49.4,1.0,49.5",  # min after max
            "1.0,49.4,1.0,49.5",  # empty
            "1.0,49.0,1.2,49.6",  # 0.6° tall
            "0.4,49.4,1.0,49.5",  # 0.6° wide
            "nan,49.4,1.0,49.5",
            "179.8,89.8,181,90",  # beyond the globe
        ],
    )
    def test_malformed_or_oversized_boxes_are_refused(self, raw: str) -> None:
        with pytest.raises(Unprocessable) as refused:
            public.parse_bbox(raw)

        assert refused.value.extensions["errors"][0]["parameter"] == "bbox"

    def test_the_largest_box_allowed_covers_the_metropole(self) -> None:
        box = public.parse_bbox("0.85,49.25,1.35,49.65")

        assert box.contains(1.0993, 49.4432)


class TestClusterCell:
    def test_a_cell_halves_with_each_zoom_level(self) -> None:
        wide = public.cluster_cell(12, 49.44)
        narrow = public.cluster_cell(13, 49.44)

        assert narrow[0] == pytest.approx(wide[0] / 2)
        assert wide[0] == pytest.approx(360 / 4096 / 4)

    def test_a_cell_is_square_on_the_mercator_map(self) -> None:
        lon, lat = public.cluster_cell(14, 60.0)

        assert lat == pytest.approx(lon / 2)  # cos(60°) = 0.5


class TestWindow:
    def test_months_are_bounded_at_paris_midnight(self) -> None:
        window = public.Window.of("2026-03", "2026-03")

        # Summer time starts on 29 March 2026: March begins at +01:00 and ends at +02:00.
        assert window.starts_at() == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
        assert window.ends_before() == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
        assert window.months() == 1

    def test_december_runs_into_the_next_year(self) -> None:
        window = public.Window.of("2025-11", "2025-12")

        assert window.ends_before() == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
        assert window.months() == 2

    def test_open_sides_and_reversed_periods(self) -> None:
        assert public.Window.of(None, None).starts_at() is None
        with pytest.raises(Unprocessable):
            public.Window.of("2026-05", "2026-04")
        with pytest.raises(Unprocessable):
            public.Window.of("2026-13", None)

    def test_a_span_counts_back_across_years(self) -> None:
        assert public.first_of_span(date(2026, 2, 1), 12) == date(2025, 3, 1)
        assert public.first_of_span(date(2026, 12, 1), 12) == date(2026, 1, 1)
        assert public.first_of_span(date(2026, 5, 1), 1) == date(2026, 5, 1)


def _row(**overrides: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "code": "RMN-ABCDEF",
        "category": "nid-de-poule",
        "name_fr": "Nid-de-poule",
        "name_en": "Pothole",
        "group": "voirie",
        "insee": "76540",
        "commune": "Rouen",
        "status": "resolved",
        "created_at": datetime(2026, 6, 30, 22, 30, tzinfo=UTC),
        "resolved_at": datetime(2026, 7, 3, 10, 30, tzinfo=UTC),
        "supporters": 2,
        "lat": 49.443249,
        "lon": 1.099351,
    }
    fields.update(overrides)
    return tuple(fields.values())


class TestExportRecord:
    def test_a_record_is_anonymised_and_dated_in_paris(self) -> None:
        record = public.export_record(_row(), "fr")

        assert list(record) == list(public.EXPORT_COLUMNS)
        assert record["created_date"] == "2026-07-01"  # 00:30 in Paris
        assert record["created_month"] == "2026-07"
        assert record["resolved_date"] == "2026-07-03"
        assert record["resolution_days"] == 2.5
        assert (record["lat"], record["lon"]) == (49.443, 1.099)
        assert record["status"] == "closed"

    def test_only_a_resolved_report_has_a_resolution_time(self) -> None:
        reopened = public.export_record(_row(status="reopen_requested"), "en")

        assert reopened["status"] == "open"
        assert reopened["resolution_days"] is None
        assert reopened["resolved_date"] is None
        assert reopened["category_name"] == "Pothole"


async def _batches(*batches: Sequence[Any]) -> AsyncIterator[Sequence[Any]]:
    for batch in batches:
        yield batch


class TestChunks:
    async def test_csv_comes_header_first_then_one_chunk_per_batch(self) -> None:
        chunks = [
            chunk
            async for chunk in public.csv_chunks(
                _batches([_row()], [_row(code="RMN-GHJKMN", status="triaged")]), "fr"
            )
        ]

        assert len(chunks) == 3
        rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
        assert [row["tracking_code"] for row in rows] == ["RMN-ABCDEF", "RMN-GHJKMN"]
        assert rows[1]["resolution_days"] == ""

    async def test_geojson_chunks_join_into_one_collection(self) -> None:
        empty = b"".join([c async for c in public.geojson_chunks(_batches([], []), "fr")])
        two = b"".join(
            [c async for c in public.geojson_chunks(_batches([_row()], [], [_row()]), "fr")]
        )

        assert empty == b'{"type":"FeatureCollection","features":[]}'
        assert two.count(b'"type":"Feature"') == 2


async def _reports(session: AsyncSession, count: int) -> None:
    await seed_catalogue(session)
    category = await session.scalar(
        select(IncidentCategory).where(IncidentCategory.code == "trottoir-degrade")
    )
    assert category is not None
    start = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    session.add_all(
        IncidentReport(
            id=uuid.uuid4(),
            tracking_code=f"TST-{index:06d}",
            category_id=category.id,
            status="triaged",
            priority=2,
            lat=49.44,
            lon=1.09,
            commune_insee="76540",
            created_at=start + timedelta(hours=index),
            updated_at=start,
        )
        for index in range(count)
    )
    await session.flush()


class TestPublicRepository:
    async def test_the_export_reads_in_batches_through_a_cursor(
        self, session: AsyncSession
    ) -> None:
        await _reports(session, 5)
        repo = public.PublicRepository.from_session(session)

        batches = [list(rows) async for rows in repo.export_batches(public.Window(), batch=2)]

        assert [len(rows) for rows in batches] == [2, 2, 1]
        assert [row[0] for row in batches[0]] == ["TST-000000", "TST-000001"]

    async def test_the_export_version_moves_with_the_data(self, session: AsyncSession) -> None:
        await _reports(session, 2)
        repo = public.PublicRepository.from_session(session)
        before = await repo.export_version(public.Window())
        report = await session.scalar(
            select(IncidentReport).where(IncidentReport.tracking_code == "TST-000001")
        )
        assert report is not None

        report.status = "resolved"
        report.updated_at = datetime(2026, 5, 1, tzinfo=UTC)
        await session.flush()

        assert before[0] == 2
        assert await repo.export_version(public.Window()) != before
