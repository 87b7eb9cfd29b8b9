"""Decoding real GTFS-RT files (../shared/data/transit), skipped when the folder is absent."""

from pathlib import Path

import pytest
from google.protobuf.message import DecodeError

from poche_api.transport import realtime
from tests.transport.conftest import SHARED_TRANSIT


def _read(name: str) -> bytes:
    path: Path = SHARED_TRANSIT / name
    if not path.exists():
        pytest.skip(f"{path} is not there (real feed samples live in ../shared/data/transit)")
    return path.read_bytes()


def test_bullrunner_vehicle_positions_decode_with_routes_and_occupancy() -> None:
    message = realtime.decode(_read("bullrunner-vehicle-positions.pb"))

    vehicles = realtime.vehicles(message)

    assert len(vehicles) == 10
    assert all(v.route_id for v in vehicles)
    assert all(27.9 < v.lat < 28.2 and -82.5 < v.lon < -82.3 for v in vehicles)  # Tampa
    assert any(v.occupancy for v in vehicles)


def test_brest_service_alerts_decode_in_french_on_routes() -> None:
    message = realtime.decode(_read("brest-service-alerts.pb"))

    alerts = realtime.alerts(message)

    assert len(alerts) == 12
    assert {a.effect for a in alerts} == {"DETOUR", "REDUCED_SERVICE"}
    assert sum(a.effect == "DETOUR" for a in alerts) == 11
    assert all(a.route_ids for a in alerts)
    # The feed leaves `language` empty: the text is taken as French, the network's language.
    assert all(set(a.header) == {"fr"} and a.header["fr"] for a in alerts)
    assert len({a.content_hash() for a in alerts}) == 12


def test_bytes_that_are_not_a_feed_message_are_refused() -> None:
    with pytest.raises(DecodeError):
        realtime.decode(b"\xff\xff\xff not a protobuf")
