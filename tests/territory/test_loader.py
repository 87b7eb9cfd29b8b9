import orjson
import pytest

from poche_api.territory.loader import InvalidTerritoryFile, bundled_geojson, commune_rows


def test_the_bundled_file_holds_the_71_communes() -> None:
    rows = commune_rows(bundled_geojson())

    assert len(rows) == 71
    assert len({row["insee"] for row in rows}) == 71
    rouen = next(row for row in rows if row["insee"] == "76540")
    assert rouen["name_normalized"] == "rouen"
    assert rouen["min_lat"] < rouen["centroid_lat"] < rouen["max_lat"]


@pytest.mark.parametrize(
    "document",
    [
        {"type": "FeatureCollection", "features": []},
        {"features": [{"properties": {"insee": "123", "name": "X"}, "geometry": {}}]},
        {
            "features": [
                {
                    "properties": {"insee": "76540", "name": "Rouen"},
                    "geometry": {"type": "Point", "coordinates": [1.0, 49.0]},
                }
            ]
        },
        [],
    ],
)
def test_an_invalid_file_is_refused(document: object) -> None:
    with pytest.raises(InvalidTerritoryFile):
        commune_rows(orjson.dumps(document))
