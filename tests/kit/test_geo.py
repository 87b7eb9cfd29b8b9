import pytest

from poche_api.kit.geo import BBox, centroid, haversine_m, in_multipolygon

SQUARE_WITH_HOLE = [
    [
        [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]],
        [[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]],
    ]
]


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [(1, 1, True), (5, 5, False), (11, 5, False), (9.9, 9.9, True), (-0.1, 5, False)],
)
def test_point_in_multipolygon_honours_holes(lon: float, lat: float, inside: bool) -> None:
    assert in_multipolygon(lon, lat, SQUARE_WITH_HOLE) is inside


def test_haversine_rouen_to_paris_is_about_112_km() -> None:
    distance = haversine_m(49.4431, 1.0993, 48.8566, 2.3522)

    assert 110_000 < distance < 114_000


def test_bbox_and_centroid_of_a_square() -> None:
    box = BBox.of_multipolygon(SQUARE_WITH_HOLE)

    assert box == BBox(0, 0, 10, 10)
    assert centroid([[SQUARE_WITH_HOLE[0][0]]]) == pytest.approx((5.0, 5.0))
