"""The public map and the open-data export, read by anyone over HTTP."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.incidents.public import MAP_MAX_FEATURES
from poche_api.models import IncidentCategory, IncidentReport
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, SOTTEVILLE, Cast

NEAR_HOTEL_DE_VILLE = {"lat": 49.4434, "lon": 1.0996}  # ~30 m away, same cluster cell
ROUEN_AREA = "1.0,49.38,1.2,49.50"
CONTACT = "jeanne.martin@example.org"


async def _map(cast: Cast, **params: Any) -> dict[str, Any]:
    response = await cast.call(
        "nobody", "GET", "/v1/incidents/map", params={"bbox": ROUEN_AREA, **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _resolve(cast: Cast, report_id: str, note: str = "Trou rebouché") -> None:
    response = await cast.call(
        "agent",
        "POST",
        f"/v1/agent/reports/{report_id}/transitions",
        json={"status": "resolved", "public_note": note},
    )
    assert response.status_code == 200, response.text


async def _hide(session: AsyncSession, report_id: str) -> None:
    await session.execute(
        update(IncidentReport).where(IncidentReport.id == uuid.UUID(report_id)).values(hidden=True)
    )
    await session.commit()


async def _set_times(
    session: AsyncSession, report_id: str, created: datetime, resolved: datetime | None = None
) -> None:
    values: dict[str, Any] = {"created_at": created}
    if resolved is not None:
        values["resolved_at"] = resolved
    await session.execute(
        update(IncidentReport).where(IncidentReport.id == uuid.UUID(report_id)).values(**values)
    )
    await session.commit()


class TestMap:
    async def test_zoomed_out_close_reports_merge_into_one_cluster(self, cast: Cast) -> None:
        await cast.file("resident_a", location=ROUEN_HOTEL_DE_VILLE)
        await cast.file("resident_b", location=NEAR_HOTEL_DE_VILLE)
        lone = (await cast.file("resident_a", location=SOTTEVILLE)).json()

        collection = await _map(cast, zoom=12)

        assert collection["type"] == "FeatureCollection"
        assert collection["clustered"] is True
        clusters = [f for f in collection["features"] if f["properties"]["cluster"]]
        singles = [f for f in collection["features"] if not f["properties"]["cluster"]]
        assert [c["properties"]["point_count"] for c in clusters] == [2]
        lon, lat = clusters[0]["geometry"]["coordinates"]
        assert abs(lon - 1.09945) < 1e-4
        assert abs(lat - 49.4433) < 1e-4
        assert [s["id"] for s in singles] == [lone["tracking_code"]]

    async def test_zoomed_in_every_report_is_its_own_point(self, cast: Cast) -> None:
        first = (await cast.file("resident_a", location=ROUEN_HOTEL_DE_VILLE)).json()
        second = (await cast.file("resident_b", location=NEAR_HOTEL_DE_VILLE)).json()

        collection = await _map(cast, zoom=17)

        assert collection["clustered"] is False
        assert sorted(f["id"] for f in collection["features"]) == sorted(
            [first["tracking_code"], second["tracking_code"]]
        )
        point = next(f for f in collection["features"] if f["id"] == first["tracking_code"])
        assert point["geometry"]["coordinates"] == [1.0993, 49.4432]
        assert point["properties"]["category"] == "nid-de-poule"
        assert point["properties"]["status_label"] == "pris en compte"
        assert point["properties"]["url"] == f"/v1/incidents/track/{first['tracking_code']}"

    async def test_the_map_carries_no_personal_data(self, cast: Cast) -> None:
        await cast.file(
            "resident_a", contact_email=CONTACT, description="Appelez-moi au 06 12 34 56 78"
        )

        for zoom in (12, 17):
            response = await cast.call(
                "nobody", "GET", "/v1/incidents/map", params={"bbox": ROUEN_AREA, "zoom": zoom}
            )
            for leak in (CONTACT, "06 12 34 56 78", "resident:", "reporter", "fort", "danger"):
                assert leak not in response.text

    async def test_private_categories_and_hidden_reports_stay_off(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        await cast.file("resident_a", category="graffiti-injurieux", attributes={})
        hidden = (await cast.file("resident_b")).json()
        await _hide(session, hidden["id"])

        for zoom in (12, 17):
            assert (await _map(cast, zoom=zoom))["features"] == []
        private = await cast.call(
            "nobody",
            "GET",
            "/v1/incidents/map",
            params={"bbox": ROUEN_AREA, "zoom": 17, "category": "graffiti-injurieux"},
        )
        assert private.status_code == 422
        assert private.json()["type"].endswith("category-not-public")

    async def test_closed_reports_leave_the_map_and_filters_apply(self, cast: Cast) -> None:
        resolved = (await cast.file("resident_a")).json()
        await _resolve(cast, resolved["id"])
        light = (
            await cast.file(
                "resident_b", category="lampadaire-eteint", attributes={}, location=SOTTEVILLE
            )
        ).json()

        everything = await _map(cast, zoom=17)
        lights = await _map(cast, zoom=16, category="lampadaire-eteint")
        in_progress = await _map(cast, zoom=16, status="in_progress")

        assert [f["id"] for f in everything["features"]] == [light["tracking_code"]]
        assert [f["id"] for f in lights["features"]] == [light["tracking_code"]]
        assert in_progress["features"] == []

    async def test_a_box_too_large_or_malformed_is_refused(self, cast: Cast) -> None:
        too_wide = await cast.call(
            "nobody", "GET", "/v1/incidents/map", params={"bbox": "0.5,49.2,1.1,49.6", "zoom": 10}
        )
        malformed = await cast.call(
            "nobody", "GET", "/v1/incidents/map", params={"bbox": "1.0,49.4,oops", "zoom": 10}
        )
        upside_down = await cast.call(
            "nobody", "GET", "/v1/incidents/map", params={"bbox": "1.2,49.5,1.0,49.4", "zoom": 10}
        )
        no_zoom = await cast.call("nobody", "GET", "/v1/incidents/map", params={"bbox": ROUEN_AREA})

        assert too_wide.status_code == 422
        assert too_wide.json()["errors"][0]["parameter"] == "bbox"
        assert "0.5" in too_wide.json()["errors"][0]["detail"]
        assert malformed.status_code == 422
        assert upside_down.status_code == 422
        assert no_zoom.status_code == 422

    async def test_points_are_bounded_and_say_they_were_cut(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        category = await session.scalar(
            select(IncidentCategory).where(IncidentCategory.code == "trottoir-degrade")
        )
        assert category is not None
        now = datetime.now(UTC)
        session.add_all(
            IncidentReport(
                id=uuid.uuid4(),
                tracking_code=f"TST-{index:06d}",
                category_id=category.id,
                status="triaged",
                priority=2,
                lat=49.44 + index * 1e-6,
                lon=1.09,
                commune_insee="76540",
                created_at=now - timedelta(minutes=index),
                updated_at=now,
            )
            for index in range(MAP_MAX_FEATURES + 1)
        )
        await session.commit()

        points = await _map(cast, zoom=18)
        clusters = await _map(cast, zoom=10)

        assert len(points["features"]) == MAP_MAX_FEATURES
        assert points["truncated"] is True
        assert "TST-000000" in {f["id"] for f in points["features"]}  # newest first
        assert clusters["features"][0]["properties"]["point_count"] == MAP_MAX_FEATURES + 1
        assert clusters["truncated"] is False

    async def test_the_map_is_cacheable_geojson_with_an_etag(self, cast: Cast) -> None:
        await cast.file("resident_a")
        params = {"bbox": ROUEN_AREA, "zoom": 12}

        first = await cast.call("nobody", "GET", "/v1/incidents/map", params=params)
        again = await cast.call(
            "nobody",
            "GET",
            "/v1/incidents/map",
            params=params,
            headers={"If-None-Match": first.headers["ETag"]},
        )

        assert first.headers["content-type"] == "application/geo+json"
        assert first.headers["cache-control"] == "public, max-age=30"
        assert again.status_code == 304


class TestOpenData:
    async def test_the_csv_parses_rounds_positions_and_times_resolution(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        done = (await cast.file("resident_a", contact_email=CONTACT)).json()
        waiting = (await cast.file("resident_b", location=SOTTEVILLE)).json()
        await _resolve(cast, done["id"])
        created = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        await _set_times(session, done["id"], created, created + timedelta(days=2, hours=12))

        response = await cast.call("nobody", "GET", "/v1/incidents/open-data/reports.csv")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = {row["tracking_code"]: row for row in csv.DictReader(io.StringIO(response.text))}
        assert set(rows) == {done["tracking_code"], waiting["tracking_code"]}
        resolved = rows[done["tracking_code"]]
        assert resolved["status"] == "closed"
        assert resolved["detailed_status"] == "resolved"
        assert resolved["created_date"] == "2026-03-02"
        assert resolved["created_month"] == "2026-03"
        assert resolved["resolved_date"] == "2026-03-04"
        assert resolved["resolution_days"] == "2.5"
        assert (resolved["lat"], resolved["lon"]) == ("49.443", "1.099")
        assert resolved["commune_insee"] == "76540"
        assert resolved["commune_name"] == "Rouen"
        assert resolved["category_name"] == "Nid-de-poule"
        still_open = rows[waiting["tracking_code"]]
        assert (still_open["status"], still_open["resolution_days"]) == ("open", "")
        for leak in (CONTACT, "resident:", "fort", "Trou profond"):
            assert leak not in response.text

    async def test_the_csv_revalidates_with_its_etag(self, cast: Cast) -> None:
        await cast.file("resident_a")
        first = await cast.call("nobody", "GET", "/v1/incidents/open-data/reports.csv")

        again = await cast.call(
            "nobody",
            "GET",
            "/v1/incidents/open-data/reports.csv?from=2000-01",
            headers={"If-None-Match": first.headers["ETag"]},
        )
        same = await cast.call(
            "resident_a",  # credentials skip the in-memory cache: the route answers
            "GET",
            "/v1/incidents/open-data/reports.csv",
            headers={"If-None-Match": first.headers["ETag"]},
        )

        assert first.headers["cache-control"] == "public, max-age=600"
        assert again.status_code == 200  # another period, another validator
        assert same.status_code == 304

    async def test_the_geojson_export_is_a_feature_collection(self, cast: Cast) -> None:
        filed = (await cast.file("resident_a")).json()

        response = await cast.call("nobody", "GET", "/v1/incidents/open-data/reports.geojson")

        assert response.headers["content-type"] == "application/geo+json"
        collection = response.json()
        assert collection["type"] == "FeatureCollection"
        [feature] = collection["features"]
        assert feature["geometry"] == {"type": "Point", "coordinates": [1.099, 49.443]}
        assert feature["properties"]["tracking_code"] == filed["tracking_code"]
        assert feature["properties"]["status"] == "open"

    async def test_private_categories_and_hidden_reports_are_not_exported(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        private = await cast.file("resident_a", category="graffiti-injurieux", attributes={})
        hidden = (await cast.file("resident_b")).json()
        shown = (await cast.file("resident_b", location=SOTTEVILLE)).json()
        await _hide(session, hidden["id"])

        exported = await cast.call("nobody", "GET", "/v1/incidents/open-data/reports.csv")
        stats = await cast.call("nobody", "GET", "/v1/incidents/open-data/stats")

        codes = [row["tracking_code"] for row in csv.DictReader(io.StringIO(exported.text))]
        assert codes == [shown["tracking_code"]]
        assert private.json()["tracking_code"] not in exported.text
        assert [item["category"] for item in stats.json()["items"]] == ["nid-de-poule"]
        assert stats.json()["items"][0]["reports"] == 1

    async def test_months_select_reports_by_creation(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        old = (await cast.file("resident_a")).json()
        await cast.file("resident_b")
        await _set_times(session, old["id"], datetime(2025, 1, 31, 23, 30, tzinfo=UTC))

        # 23:30 UTC on 31 January is 1 February in Paris.
        february = await cast.call(
            "nobody", "GET", "/v1/incidents/open-data/reports.csv?from=2025-02&to=2025-02"
        )
        january = await cast.call(
            "nobody", "GET", "/v1/incidents/open-data/reports.csv?from=2025-01&to=2025-01"
        )
        backwards = await cast.call(
            "nobody", "GET", "/v1/incidents/open-data/reports.csv?from=2025-03&to=2025-02"
        )
        malformed = await cast.call("nobody", "GET", "/v1/incidents/open-data/reports.csv?to=2025")

        rows = list(csv.DictReader(io.StringIO(february.text)))
        assert [row["tracking_code"] for row in rows] == [old["tracking_code"]]
        assert list(csv.DictReader(io.StringIO(january.text))) == []
        assert backwards.status_code == 422
        assert malformed.status_code == 422

    async def test_stats_count_per_month_and_take_the_median_resolution(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        start = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
        for days in (2, 4, 10):
            filed = (await cast.file("resident_a")).json()
            await _resolve(cast, filed["id"])
            await _set_times(session, filed["id"], start, start + timedelta(days=days))
        still_open = (await cast.file("resident_b")).json()
        await _set_times(session, still_open["id"], start + timedelta(days=3))

        response = await cast.call(
            "nobody",
            "GET",
            "/v1/incidents/open-data/stats",
            params={"from": "2026-05", "to": "2026-05"},
            headers={"Accept-Language": "en"},
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["first_month"], body["last_month"]) == ("2026-05", "2026-05")
        assert body["items"] == [
            {
                "month": "2026-05",
                "commune_insee": "76540",
                "commune_name": "Rouen",
                "category": "nid-de-poule",
                "category_name": "Pothole",
                "reports": 4,
                "open": 1,
                "resolved": 3,
                "median_resolution_days": 4.0,
            }
        ]
        assert response.headers["cache-control"] == "public, max-age=600"

    async def test_stats_refuse_a_period_too_long(self, cast: Cast) -> None:
        response = await cast.call(
            "nobody", "GET", "/v1/incidents/open-data/stats?from=2010-01&to=2026-01"
        )

        assert response.status_code == 422
        assert response.json()["type"].endswith("invalid-period")
