"""Load the communes GeoJSON into the ``communes`` table (idempotent upsert)."""

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from poche_api.kit.geo import BBox, centroid
from poche_api.kit.text import normalize


def bundled_geojson() -> bytes:
    return (
        resources.files("poche_api.territory")
        .joinpath("data/metropole-rouen-communes.geojson")
        .read_bytes()
    )


class InvalidTerritoryFile(ValueError):
    pass


def commune_rows(geojson: bytes) -> list[dict[str, Any]]:
    """Validate the GeoJSON and turn each feature into a ``communes`` row."""
    document = orjson.loads(geojson)
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list) or not features:
        raise InvalidTerritoryFile("not a GeoJSON FeatureCollection with features")
    rows = []
    for feature in features:
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        insee = str(props.get("insee", ""))
        if len(insee) != 5 or not props.get("name"):
            raise InvalidTerritoryFile(f"feature without a valid insee/name: {insee!r}")
        if geometry.get("type") == "Polygon":
            multipolygon = [geometry["coordinates"]]
        elif geometry.get("type") == "MultiPolygon":
            multipolygon = geometry["coordinates"]
        else:
            raise InvalidTerritoryFile(f"{insee}: boundary must be a (Multi)Polygon")
        box = BBox.of_multipolygon(multipolygon)
        lon, lat = centroid(multipolygon)
        rows.append(
            {
                "insee": insee,
                "name": props["name"],
                "name_normalized": normalize(props["name"]),
                "postal_codes": [str(code) for code in props.get("postal_codes", [])],
                "population": int(props.get("population") or 0),
                "town_hall": orjson.dumps(props.get("town_hall") or {}).decode(),
                "centroid_lat": lat,
                "centroid_lon": lon,
                "min_lat": box.min_lat,
                "min_lon": box.min_lon,
                "max_lat": box.max_lat,
                "max_lon": box.max_lon,
                "boundary": orjson.dumps(multipolygon).decode(),
            }
        )
    return rows


UPSERT = text(
    "INSERT INTO communes (insee, name, name_normalized, postal_codes, population, town_hall, "
    "centroid_lat, centroid_lon, min_lat, min_lon, max_lat, max_lon, boundary, updated_at) "
    "VALUES (:insee, :name, :name_normalized, :postal_codes, :population, "
    "CAST(:town_hall AS jsonb), :centroid_lat, :centroid_lon, :min_lat, :min_lon, :max_lat, "
    ":max_lon, CAST(:boundary AS jsonb), now()) "
    "ON CONFLICT (insee) DO UPDATE SET name = EXCLUDED.name, "
    "name_normalized = EXCLUDED.name_normalized, postal_codes = EXCLUDED.postal_codes, "
    "population = EXCLUDED.population, town_hall = EXCLUDED.town_hall, "
    "centroid_lat = EXCLUDED.centroid_lat, centroid_lon = EXCLUDED.centroid_lon, "
    "min_lat = EXCLUDED.min_lat, min_lon = EXCLUDED.min_lon, max_lat = EXCLUDED.max_lat, "
    "max_lon = EXCLUDED.max_lon, boundary = EXCLUDED.boundary, updated_at = now() "
    "WHERE (communes.name, communes.postal_codes, communes.population, communes.town_hall, "
    "communes.boundary) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.postal_codes, "
    "EXCLUDED.population, EXCLUDED.town_hall, EXCLUDED.boundary)"
)


async def import_communes(connection: AsyncConnection, source: Path | None = None) -> int:
    raw = await asyncio.to_thread(source.read_bytes) if source else bundled_geojson()
    rows = commune_rows(raw)
    await connection.execute(UPSERT, rows)
    return len(rows)
