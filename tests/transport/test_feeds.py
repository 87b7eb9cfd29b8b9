"""Feed configuration: the simulator outside production, the Astuce URLs in production."""

import pytest
from pydantic import ValidationError

from poche_api.config import Settings
from poche_api.transport import realtime
from tests.test_config import PRODUCTION


def test_production_polls_the_astuce_feeds_of_every_operator() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]

    feeds = {feed.name: feed.url for feed in realtime.realtime_feeds(settings)}

    assert set(feeds) == {
        "trip_updates:TCAR",
        "trip_updates:TAE",
        "trip_updates:TNI",
        "vehicle_positions:TCAR",
        "vehicle_positions:TAE",
        "vehicle_positions:TNI",
        "alerts:ASTUCE",
    }
    assert "vehicule-tc-tr" in feeds["vehicle_positions:TNI"]  # upstream spelling
    assert realtime.gtfs_url(settings) == realtime.ASTUCE_GTFS


def test_outside_production_the_feeds_are_the_simulator() -> None:
    settings = Settings(env="development", public_url="http://127.0.0.1:8000")

    feeds = realtime.realtime_feeds(settings)

    assert all(feed.url.startswith("http://127.0.0.1:8000/_sim/transit/") for feed in feeds)


def test_production_refuses_a_feed_pointing_at_the_simulator() -> None:
    with pytest.raises(ValidationError, match="simulator"):
        Settings(
            **PRODUCTION,  # type: ignore[arg-type]
            transport_alerts_url="http://127.0.0.1:8000/_sim/transit/alerts.pb",
        )
