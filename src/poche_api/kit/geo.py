"""Geometry on lat/lon columns: bounding boxes, haversine distance, point in polygon."""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8

Ring = Sequence[Sequence[float]]  # [[lon, lat], ...] as in GeoJSON
Polygon = Sequence[Ring]  # outer ring then holes
MultiPolygon = Sequence[Polygon]


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, lon: float, lat: float) -> bool:
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat

    @classmethod
    def of_multipolygon(cls, multipolygon: MultiPolygon) -> "BBox":
        lons = [pt[0] for polygon in multipolygon for pt in polygon[0]]
        lats = [pt[1] for polygon in multipolygon for pt in polygon[0]]
        return cls(min(lons), min(lats), max(lons), max(lats))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _in_ring(lon: float, lat: float, ring: Ring) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def in_multipolygon(lon: float, lat: float, multipolygon: MultiPolygon) -> bool:
    for polygon in multipolygon:
        outer, *holes = polygon
        if _in_ring(lon, lat, outer) and not any(_in_ring(lon, lat, hole) for hole in holes):
            return True
    return False


def centroid(multipolygon: MultiPolygon) -> tuple[float, float]:
    """Area-weighted centroid (lon, lat) of the outer rings; good enough at city scale."""
    total = cx = cy = 0.0
    for polygon in multipolygon:
        ring = polygon[0]
        for (x0, y0), (x1, y1) in itertools.pairwise(ring):
            cross = x0 * y1 - x1 * y0
            total += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
    if total == 0:
        first = multipolygon[0][0][0]
        return first[0], first[1]
    return cx / (3 * total), cy / (3 * total)
