"""The TripUpdates index and merge on hand-made messages: matching fallbacks and stop cases."""

from datetime import UTC, datetime, timedelta

from google.transit import gtfs_realtime_pb2 as rt

from poche_api.transport import realtime
from poche_api.transport.realtime import Status

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SCHEDULED = NOW + timedelta(minutes=10)
StopRel = rt.TripUpdate.StopTimeUpdate


def _message(*trips: dict[str, object]) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(NOW.timestamp())
    for n, spec in enumerate(trips):
        entity = message.entity.add()
        entity.id = f"E{n}"
        update = entity.trip_update
        for field in ("trip_id", "start_date", "start_time", "route_id"):
            if field in spec:
                setattr(update.trip, field, spec[field])
        if "direction_id" in spec:
            update.trip.direction_id = spec["direction_id"]  # type: ignore[assignment]
        update.trip.schedule_relationship = spec.get("relationship", 0)  # type: ignore[assignment]
        for stop in spec.get("stops", []):  # type: ignore[attr-defined]
            stu = update.stop_time_update.add()
            sequence, stop_id, delay, relationship = stop
            if sequence is not None:
                stu.stop_sequence = sequence
            stu.stop_id = stop_id
            if delay is not None:
                stu.departure.delay = delay
            stu.schedule_relationship = relationship
    vehicle = message.entity.add()  # other entity kinds in the same feed are ignored
    vehicle.id = "V"
    vehicle.vehicle.position.latitude = 49.44
    vehicle.vehicle.position.longitude = 1.1
    return message


def _index(*trips: dict[str, object]) -> realtime.TripUpdatesIndex:
    return realtime.TripUpdatesIndex.build([_message(*trips).SerializeToString()])


def _merge(found: realtime.TripRealtime | None, sequence: int, stop_id: str) -> realtime.Merged:
    return realtime.merge(found, stop_sequence=sequence, stop_id=stop_id, scheduled=SCHEDULED)


def test_a_delay_is_propagated_forward_past_skipped_stops_until_no_data() -> None:
    index = _index(
        {
            "trip_id": "T1",
            "start_date": "20261125",
            "stops": [
                (1, "A", 120, StopRel.SCHEDULED),
                (2, "B", 300, StopRel.SKIPPED),
                (4, "D", None, StopRel.NO_DATA),
                (6, "F", 60, StopRel.SCHEDULED),
            ],
        }
    )
    trip = index.find("T1", "20261125", "R", None, None)

    assert _merge(trip, 1, "A") == (Status.realtime, SCHEDULED + timedelta(seconds=120), 120)
    assert _merge(trip, 2, "B").status == Status.skipped
    # Stop 3 has no update: the delay of stop 1 holds (stop 2 was skipped, not measured).
    assert _merge(trip, 3, "C") == (Status.estimated, SCHEDULED + timedelta(seconds=120), 120)
    assert _merge(trip, 4, "D") == (Status.scheduled, SCHEDULED, None)
    assert _merge(trip, 5, "E") == (Status.scheduled, SCHEDULED, None)  # after NO_DATA
    assert _merge(trip, 7, "G") == (Status.estimated, SCHEDULED + timedelta(seconds=60), 60)
    assert _merge(None, 1, "A") == (Status.scheduled, SCHEDULED, None)


def test_updates_without_stop_sequence_match_on_the_stop_id() -> None:
    index = _index({"trip_id": "T1", "stops": [(None, "A", 30, 0), (None, "B", 90, 0)]})
    trip = index.find("T1", "20261125", "R", None, None)  # no start_date: the loose match

    assert _merge(trip, 7, "B") == (Status.realtime, SCHEDULED + timedelta(seconds=90), 90)
    assert _merge(trip, 8, "Z") == (Status.scheduled, SCHEDULED, None)


def test_cancelled_and_added_trips_and_the_start_time_fallback() -> None:
    index = _index(
        {"trip_id": "T1", "start_date": "20261125", "relationship": rt.TripDescriptor.CANCELED},
        {
            "trip_id": "RENAMED",
            "start_date": "20261125",
            "start_time": "08:10:00",
            "route_id": "R2",
            "direction_id": 1,
            "stops": [(3, "C", 240, 0)],
        },
        {"trip_id": "EXTRA", "relationship": rt.TripDescriptor.ADDED, "route_id": "R3"},
    )

    assert _merge(index.find("T1", "20261125", "R1", 0, None), 1, "A").status == Status.cancelled
    assert index.find("T1", "20261126", "R1", 0, None) is None  # another service day
    renamed = index.find("T2", "20261125", "R2", 1, "08:10:00")
    assert renamed is not None
    assert renamed.trip_id == "RENAMED"
    assert _merge(renamed, 3, "C").delay_seconds == 240
    assert index.find("T2", "20261125", "R2", 0, "08:10:00") is None  # other direction
    assert [(t.trip_id, t.route_id) for t in index.added] == [("EXTRA", "R3")]
    assert index.trip_ids() == {"T1", "RENAMED"}
    assert index.entity_count == 4
