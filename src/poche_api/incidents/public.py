"""Public reads of incident reports: the map, the open-data export and its monthly statistics.

Everything here is anonymous. It never carries a reporter, a contact, the answers to a category's
questions, an internal note or a moderation detail, and never a report of a private category or
one hidden by moderation. The map shows exact points, as the report page does. The export
rounds them to 3 decimals (~100 m), because each row pairs a place with a date.
``PublicRepository`` holds these queries (and the Open311 façade's) apart from the staff ones.
"""

import csv
import hashlib
import io
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, case, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.errors import Unprocessable
from poche_api.incidents.catalogue import category_name
from poche_api.incidents.workflow import CLOSED, OPEN, Status, label
from poche_api.kit.geo import BBox
from poche_api.kit.timeutil import PARIS
from poche_api.models import (
    Commune,
    IncidentCategory,
    IncidentEvent,
    IncidentGroup,
    IncidentPhoto,
    IncidentReport,
)

MAP_MAX_SPAN_DEG = 0.5  # about 36 km x 55 km at Rouen's latitude: the whole Métropole fits
MAP_POINTS_FROM_ZOOM = 15  # below this zoom level, reports are clustered
MAP_MAX_FEATURES = 500
CLUSTER_CELL_PX = 64  # a cluster gathers what falls in a 64 x 64 pixel cell of a 256 px tile
TILE_PX = 256
EXPORT_DECIMALS = 3  # ~100 m: a row joins a place and a date, so it is blurred
EXPORT_BATCH = 1000
STATS_MAX_MONTHS = 60
OPEN_STATUSES = sorted(str(status) for status in OPEN)
STAFF_ROLES = ("agent", "supervisor", "admin")

EXPORT_COLUMNS = (
    "tracking_code",
    "category_code",
    "category_name",
    "group_code",
    "commune_insee",
    "commune_name",
    "status",
    "detailed_status",
    "created_date",
    "created_month",
    "resolved_date",
    "resolution_days",
    "supporters",
    "lat",
    "lon",
)


def _bbox_error(detail: str) -> Unprocessable:
    return Unprocessable(
        ("Zone de carte invalide.", "Invalid map area."),
        slug="invalid-bbox",
        errors=[{"parameter": "bbox", "in": "query", "detail": detail}],
    )


def parse_bbox(raw: str) -> BBox:
    """``minLon,minLat,maxLon,maxLat`` in degrees, at most ``MAP_MAX_SPAN_DEG`` on each side."""
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in raw.split(","))
    except ValueError:
        raise _bbox_error("expected minLon,minLat,maxLon,maxLat") from None
    values = (min_lon, min_lat, max_lon, max_lat)
    if not all(math.isfinite(value) for value in values):
        raise _bbox_error("coordinates must be finite numbers")
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise _bbox_error("min must be below max, within [-180, 180] x [-90, 90]")
    # A box drawn exactly at the bound differs from it by a rounding error (1.35 - 0.85).
    span = MAP_MAX_SPAN_DEG + 1e-9
    if max_lon - min_lon > span or max_lat - min_lat > span:
        raise _bbox_error(f"the box may span at most {MAP_MAX_SPAN_DEG} degrees on each side")
    return BBox(min_lon, min_lat, max_lon, max_lat)


def cluster_cell(zoom: int, latitude: float) -> tuple[float, float]:
    """(lon, lat) size in degrees of a cluster cell at this zoom, square on a Mercator map."""
    cell_lon = 360 / 2**zoom * CLUSTER_CELL_PX / TILE_PX
    return cell_lon, cell_lon * math.cos(math.radians(latitude))


@dataclass(frozen=True)
class Window:
    """Creation months [first, last] in Europe/Paris; None leaves that side open."""

    first: date | None = None
    last: date | None = None

    @classmethod
    def of(cls, first: str | None, last: str | None) -> "Window":
        window = cls(_month(first, "from"), _month(last, "to"))
        if window.first and window.last and window.first > window.last:
            raise Unprocessable(
                ("Période invalide.", "Invalid period."),
                slug="invalid-period",
                errors=[{"parameter": "from", "in": "query", "detail": "after `to`"}],
            )
        return window

    def starts_at(self) -> datetime | None:
        return _paris_midnight(self.first) if self.first else None

    def ends_before(self) -> datetime | None:
        return _paris_midnight(_next_month(self.last)) if self.last else None

    def months(self) -> int:
        if self.first is None or self.last is None:
            return 0
        return (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1

    def key(self) -> str:
        return f"{self.first or ''}..{self.last or ''}"


def _month(raw: str | None, parameter: str) -> date | None:
    if not raw:
        return None
    try:
        year, month = (int(part) for part in raw.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise Unprocessable(
            ("Mois invalide (AAAA-MM).", "Invalid month (YYYY-MM)."),
            slug="invalid-period",
            errors=[{"parameter": parameter, "in": "query", "detail": "expected YYYY-MM"}],
        ) from None


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _paris_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


def first_of_span(last: date, count: int) -> date:
    """The first month of the ``count`` months ending with ``last``'s."""
    index = last.year * 12 + last.month - 1 - (count - 1)
    return date(index // 12, index % 12 + 1, 1)


# --- queries ---


def _public(query: Select[Any]) -> Select[Any]:
    return query.join(IncidentCategory, IncidentCategory.id == IncidentReport.category_id).where(
        ~IncidentCategory.private, ~IncidentReport.hidden
    )


def _in_box(box: BBox) -> list[ColumnElement[bool]]:
    return [
        IncidentReport.lat.between(box.min_lat, box.max_lat),
        IncidentReport.lon.between(box.min_lon, box.max_lon),
    ]


def _created_within(window: Window) -> list[ColumnElement[bool]]:
    conditions = []
    if (start := window.starts_at()) is not None:
        conditions.append(IncidentReport.created_at >= start)
    if (end := window.ends_before()) is not None:
        conditions.append(IncidentReport.created_at < end)
    return conditions


@dataclass(frozen=True)
class MapFilter:
    box: BBox
    statuses: Sequence[str]
    category_id: uuid.UUID | None = None


@dataclass(frozen=True)
class MapCell:
    """A grid cell's reports; when there is one, the fields describe that report."""

    count: int
    lon: float
    lat: float
    tracking_code: str
    category_code: str
    status: str
    created_at: datetime
    supporters: int


class PublicRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> "PublicRepository":
        return cls(session)

    def _map_query(self, where: MapFilter) -> Select[Any]:
        query = _public(select().select_from(IncidentReport))
        query = query.where(IncidentReport.status.in_(where.statuses), *_in_box(where.box))
        if where.category_id is not None:
            query = query.where(IncidentReport.category_id == where.category_id)
        return query

    async def map_clusters(
        self, where: MapFilter, cell: tuple[float, float], *, limit: int
    ) -> list[MapCell]:
        """Reports grouped on a grid anchored at (0, 0), so a cell stays put while one pans."""
        gx = func.floor(IncidentReport.lon / cell[0])
        gy = func.floor(IncidentReport.lat / cell[1])
        count = func.count()
        query = (
            self._map_query(where)
            .add_columns(
                count,
                func.avg(IncidentReport.lon),
                func.avg(IncidentReport.lat),
                func.min(IncidentReport.tracking_code),
                func.min(IncidentCategory.code),
                func.min(IncidentReport.status),
                func.min(IncidentReport.created_at),
                func.max(IncidentReport.supporters),
            )
            .group_by(gx, gy)
            .order_by(count.desc(), gx, gy)
            .limit(limit)
        )
        return [MapCell(*row) for row in await self.session.execute(query)]

    async def map_points(self, where: MapFilter, *, limit: int) -> list[MapCell]:
        query = (
            self._map_query(where)
            .add_columns(
                IncidentReport.lon,
                IncidentReport.lat,
                IncidentReport.tracking_code,
                IncidentCategory.code,
                IncidentReport.status,
                IncidentReport.created_at,
                IncidentReport.supporters,
            )
            .order_by(IncidentReport.created_at.desc(), IncidentReport.id)
            .limit(limit)
        )
        return [MapCell(1, *row) for row in await self.session.execute(query)]

    def _export_query(self, window: Window) -> Select[Any]:
        return (
            _public(select().select_from(IncidentReport))
            .join(IncidentGroup, IncidentGroup.id == IncidentCategory.group_id)
            .outerjoin(Commune, Commune.insee == IncidentReport.commune_insee)
            .where(*_created_within(window))
        )

    async def export_version(self, window: Window) -> tuple[Any, ...]:
        """What changes whenever the export would: a cheap validator for its ETag."""
        query = self._export_query(window).add_columns(
            func.count(),
            func.max(IncidentReport.updated_at),
            func.max(IncidentCategory.updated_at),
        )
        row = (await self.session.execute(query)).one()
        return tuple(row)

    async def export_batches(
        self, window: Window, *, batch: int = EXPORT_BATCH
    ) -> AsyncIterator[Sequence[Any]]:
        """Rows through a server-side cursor, ``batch`` at a time: never the whole table."""
        query = (
            self._export_query(window)
            .add_columns(
                IncidentReport.tracking_code,
                IncidentCategory.code,
                IncidentCategory.name_fr,
                IncidentCategory.name_en,
                IncidentGroup.code,
                IncidentReport.commune_insee,
                Commune.name,
                IncidentReport.status,
                IncidentReport.created_at,
                IncidentReport.resolved_at,
                IncidentReport.supporters,
                IncidentReport.lat,
                IncidentReport.lon,
            )
            .order_by(IncidentReport.created_at, IncidentReport.id)
            .execution_options(yield_per=batch)
        )
        result = await self.session.stream(query)
        async for rows in result.partitions(batch):
            yield rows

    async def monthly_stats(self, window: Window) -> list[Any]:
        month = func.date_trunc("month", func.timezone("Europe/Paris", IncidentReport.created_at))
        days = extract("epoch", IncidentReport.resolved_at - IncidentReport.created_at) / 86400
        resolved = IncidentReport.status == Status.resolved
        query = (
            self._export_query(window)
            .add_columns(
                month,
                IncidentReport.commune_insee,
                Commune.name,
                IncidentCategory.code,
                IncidentCategory.name_fr,
                IncidentCategory.name_en,
                func.count(),
                func.count().filter(IncidentReport.status.in_(OPEN_STATUSES)),
                func.count().filter(resolved),
                # Ordered-set aggregates skip NULLs: only resolved reports count.
                func.percentile_cont(0.5).within_group(case((resolved, days))),
            )
            .group_by(
                month,
                IncidentReport.commune_insee,
                Commune.name,
                IncidentCategory.code,
                IncidentCategory.name_fr,
                IncidentCategory.name_en,
            )
            .order_by(month, IncidentReport.commune_insee, IncidentCategory.code)
        )
        return list(await self.session.execute(query))

    # --- for the Open311 façade ---

    async def requests(
        self,
        *,
        codes: Sequence[str] | None = None,
        category_ids: Sequence[uuid.UUID] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        statuses: Sequence[str] | None = None,
        limit: int,
    ) -> list[IncidentReport]:
        query = _public(select(IncidentReport))
        if codes is not None:
            query = query.where(IncidentReport.tracking_code.in_([c.upper() for c in codes]))
        if category_ids is not None:
            query = query.where(IncidentReport.category_id.in_(category_ids))
        if since is not None:
            query = query.where(IncidentReport.created_at >= since)
        if until is not None:
            query = query.where(IncidentReport.created_at <= until)
        if statuses is not None:
            query = query.where(IncidentReport.status.in_(statuses))
        query = query.order_by(IncidentReport.created_at.desc(), IncidentReport.id).limit(limit)
        return list(await self.session.scalars(query))

    async def latest_staff_notes(self, report_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The last public note the Métropole wrote on each report (never a resident's)."""
        if not report_ids:
            return {}
        query = (
            select(IncidentEvent.report_id, IncidentEvent.public_note)
            .distinct(IncidentEvent.report_id)
            .where(
                IncidentEvent.report_id.in_(set(report_ids)),
                IncidentEvent.public_note.is_not(None),
                IncidentEvent.actor_role.in_(STAFF_ROLES),
            )
            .order_by(IncidentEvent.report_id, IncidentEvent.at.desc(), IncidentEvent.id.desc())
        )
        return {row[0]: row[1] or "" for row in await self.session.execute(query)}

    async def first_public_photos(
        self, report_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        if not report_ids:
            return {}
        query = (
            select(IncidentPhoto.report_id, IncidentPhoto.id)
            .distinct(IncidentPhoto.report_id)
            .where(
                IncidentPhoto.report_id.in_(set(report_ids)),
                ~IncidentPhoto.hidden,
                IncidentPhoto.purged_at.is_(None),
            )
            .order_by(IncidentPhoto.report_id, IncidentPhoto.created_at, IncidentPhoto.id)
        )
        return {row[0]: row[1] for row in await self.session.execute(query)}


# --- the map ---


async def report_map(
    session: AsyncSession,
    *,
    box: BBox,
    zoom: int,
    statuses: Sequence[str],
    category: IncidentCategory | None,
    categories: dict[str, IncidentCategory],
    lang: str,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: clusters below ``MAP_POINTS_FROM_ZOOM``, points above."""
    repo = PublicRepository.from_session(session)
    where = MapFilter(box, statuses, category.id if category else None)
    clustered = zoom < MAP_POINTS_FROM_ZOOM
    if clustered:
        cell = cluster_cell(zoom, (box.min_lat + box.max_lat) / 2)
        cells = await repo.map_clusters(where, cell, limit=MAP_MAX_FEATURES + 1)
    else:
        cells = await repo.map_points(where, limit=MAP_MAX_FEATURES + 1)
    return {
        "type": "FeatureCollection",
        "bbox": [box.min_lon, box.min_lat, box.max_lon, box.max_lat],
        "zoom": zoom,
        "clustered": clustered,
        "truncated": len(cells) > MAP_MAX_FEATURES,
        "features": [_feature(cell, categories, lang) for cell in cells[:MAP_MAX_FEATURES]],
    }


def _feature(cell: MapCell, categories: dict[str, IncidentCategory], lang: str) -> dict[str, Any]:
    geometry = {"type": "Point", "coordinates": [round(cell.lon, 5), round(cell.lat, 5)]}
    if cell.count > 1:
        return {
            "type": "Feature",
            "geometry": geometry,
            "properties": {"cluster": True, "point_count": cell.count},
        }
    category = categories.get(cell.category_code)
    return {
        "type": "Feature",
        "id": cell.tracking_code,
        "geometry": geometry,
        "properties": {
            "cluster": False,
            "point_count": 1,
            "tracking_code": cell.tracking_code,
            "category": cell.category_code,
            "category_name": category_name(category, lang) if category else cell.category_code,
            "status": cell.status,
            "status_label": label(cell.status, lang),
            "supporters": cell.supporters,
            "created_at": cell.created_at.isoformat(),
            "url": f"/v1/incidents/track/{cell.tracking_code}",
        },
    }


# --- open data ---


def open_or_closed(status: str) -> str:
    return "closed" if Status(status) in CLOSED else "open"


def export_record(row: Sequence[Any], lang: str) -> dict[str, Any]:
    """One anonymised report, as a CSV row or a GeoJSON feature's properties."""
    (code, category_code, name_fr, name_en, group_code, insee, commune, status) = row[:8]
    created_at, resolved_at, supporters, lat, lon = row[8:]
    created = created_at.astimezone(PARIS).date()
    resolved = status == Status.resolved and resolved_at is not None
    return {
        "tracking_code": code,
        "category_code": category_code,
        "category_name": (name_en or name_fr) if lang == "en" else name_fr,
        "group_code": group_code,
        "commune_insee": insee,
        "commune_name": commune,
        "status": open_or_closed(status),
        "detailed_status": status,
        "created_date": created.isoformat(),
        "created_month": created.isoformat()[:7],
        "resolved_date": resolved_at.astimezone(PARIS).date().isoformat() if resolved else None,
        "resolution_days": round((resolved_at - created_at).total_seconds() / 86400, 1)
        if resolved
        else None,
        "supporters": supporters,
        "lat": round(lat, EXPORT_DECIMALS),
        "lon": round(lon, EXPORT_DECIMALS),
    }


async def csv_chunks(batches: AsyncIterator[Sequence[Any]], lang: str) -> AsyncIterator[bytes]:
    """RFC 4180 CSV (UTF-8, CRLF, header row), one chunk per batch of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue().encode()
    async for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            record = export_record(row, lang)
            writer.writerow(["" if value is None else value for value in record.values()])
        yield buffer.getvalue().encode()


async def geojson_chunks(batches: AsyncIterator[Sequence[Any]], lang: str) -> AsyncIterator[bytes]:
    """A GeoJSON FeatureCollection written as it is read, one chunk per batch of rows."""
    yield b'{"type":"FeatureCollection","features":['
    separator = b""
    async for rows in batches:
        features = []
        for row in rows:
            properties = export_record(row, lang)
            point = [properties.pop("lon"), properties.pop("lat")]
            features.append(
                orjson.dumps(
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": point},
                        "properties": properties,
                    }
                )
            )
        if features:
            yield separator + b",".join(features)
            separator = b","
    yield b"]}"


def export_etag(version: tuple[Any, ...], *parts: str) -> str:
    digest = hashlib.blake2b(repr((version, parts)).encode(), digest_size=12).hexdigest()
    return f'W/"{digest}"'


class MonthlyStat(BaseModel):
    month: str = Field(description="YYYY-MM, month of creation in Europe/Paris")
    commune_insee: str
    commune_name: str | None
    category: str = Field(description="Category code")
    category_name: str
    reports: int = Field(description="Reports created that month")
    open: int = Field(description="Of those, still open today")
    resolved: int = Field(description="Of those, resolved today")
    median_resolution_days: float | None = Field(
        description="Median days from creation to resolution of the resolved ones"
    )


class OpenDataStats(BaseModel):
    first_month: str
    last_month: str
    items: list[MonthlyStat]


async def monthly_stats(session: AsyncSession, window: Window, lang: str) -> OpenDataStats:
    rows = await PublicRepository.from_session(session).monthly_stats(window)
    items = [
        MonthlyStat(
            month=month.strftime("%Y-%m"),
            commune_insee=insee,
            commune_name=commune,
            category=code,
            category_name=(name_en or name_fr) if lang == "en" else name_fr,
            reports=reports,
            open=still_open,
            resolved=resolved,
            median_resolution_days=round(median, 1) if median is not None else None,
        )
        for (
            month,
            insee,
            commune,
            code,
            name_fr,
            name_en,
            reports,
            still_open,
            resolved,
            median,
        ) in rows
    ]
    return OpenDataStats(
        first_month=window.first.isoformat()[:7] if window.first else "",
        last_month=window.last.isoformat()[:7] if window.last else "",
        items=items,
    )
