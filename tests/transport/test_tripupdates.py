"""The native TripUpdates reader reads what protobuf reads, and refuses what it cannot read."""

import contextlib
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from poche_api.simulators import transit
from poche_api.transport import _tripupdates
from tests.transport.conftest import SHARED_TRANSIT

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
StopRel = rt.TripUpdate.StopTimeUpdate


def _via_protobuf(body: bytes) -> list[tuple[Any, ...]]:
    """What protobuf's own parser says, in the reader's shape."""
    message = rt.FeedMessage()
    message.ParseFromString(body)
    found = []
    for entity in message.entity:
        if not entity.HasField("trip_update"):
            continue
        trip = entity.trip_update.trip
        updates = []
        for stu in entity.trip_update.stop_time_update:
            event = None
            if stu.HasField("departure"):
                event = stu.departure
            elif stu.HasField("arrival"):
                event = stu.arrival
            updates.append(
                (
                    stu.stop_sequence if stu.HasField("stop_sequence") else None,
                    stu.stop_id or None,
                    stu.schedule_relationship,
                    event.delay if event is not None and event.HasField("delay") else None,
                    event.time if event is not None and event.HasField("time") else None,
                )
            )
        found.append(
            (
                trip.trip_id or None,
                trip.start_date or None,
                trip.schedule_relationship,
                trip.route_id or None,
                trip.direction_id if trip.HasField("direction_id") else None,
                trip.start_time or None,
                entity.is_deleted,
                updates,
            )
        )
    return found


def _via_reader(body: bytes) -> list[tuple[Any, ...]]:
    _, _, trips = _tripupdates.read_feed(body)
    return [
        (
            t.trip_id,
            t.start_date,
            t.relationship,
            t.route_id,
            t.direction_id,
            t.start_time,
            t.is_deleted,
            t.stop_time_updates(),
        )
        for t in trips
    ]


def _varied_message() -> rt.FeedMessage:
    """Every shape the merge meets: arrival-only and departure-only events, negative delays,
    absolute times, updates without a sequence, deleted, cancelled, added and bare entities."""
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(NOW.timestamp())
    for n in range(40):
        entity = message.entity.add()
        entity.id = f"E{n}"
        entity.is_deleted = n % 11 == 10
        trip = entity.trip_update.trip
        trip.trip_id = f"TCAR:{n}" if n % 9 else ""
        if n % 3:
            trip.start_date = "20261125"
        if n % 4 == 0:
            trip.start_time = "25:10:00"
            trip.route_id = "TCAR:91"
            trip.direction_id = n % 2
        trip.schedule_relationship = (0, 1, 3, 8, 6)[n % 5]  # type: ignore[assignment]
        for s in range(n % 6):
            stu = entity.trip_update.stop_time_update.add()
            if (n + s) % 7:
                stu.stop_sequence = s + 1
            stu.stop_id = f"TCAR:S{s}é" if s % 2 else f"S{s}"
            stu.schedule_relationship = (s * n) % 4  # type: ignore[assignment]
            event = stu.departure if (n + s) % 3 else stu.arrival
            if s % 2:
                event.delay = -90 * s if n % 2 else 2**31 - 1
            if s % 3 != 1:
                event.time = int(NOW.timestamp()) + 60 * s
            if n % 5 == 4 and s == 1:
                stu.arrival.delay = 30  # both events: the departure is the one read
    vehicle = message.entity.add()  # not a TripUpdate
    vehicle.id = "V"
    vehicle.vehicle.position.latitude, vehicle.vehicle.position.longitude = 49.4, 1.1
    return message


def test_the_reader_reads_what_protobuf_reads() -> None:
    body = _varied_message().SerializeToString()

    timestamp, entities, _ = _tripupdates.read_feed(body)

    assert (timestamp, entities) == (int(NOW.timestamp()), 41)
    assert _via_reader(body) == _via_protobuf(body)
    assert len(_via_reader(body)) == 40


def test_the_simulator_feed_reads_the_same_both_ways() -> None:
    body = transit.trip_updates(NOW)

    assert _via_reader(body) == _via_protobuf(body)
    assert _via_reader(body)


def test_a_feed_without_trip_updates_reads_as_none() -> None:
    path = SHARED_TRANSIT / "bullrunner-vehicle-positions.pb"
    if not path.exists():
        pytest.skip(f"{path} is not there")

    timestamp, entities, trips = _tripupdates.read_feed(path.read_bytes())

    assert (entities, trips) == (10, [])
    assert timestamp > 0


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = bytes([number << 3 | wire])
    return key + (bytes([len(payload)]) + payload if wire == 2 else payload)


def test_protobuf_merge_rules_hold_for_unknown_fields_repeats_and_a_late_header() -> None:
    stop = _field(1, 0, b"\x03") + _field(4, 2, b"S3") + _field(3, 2, _field(1, 0, b"\x3c"))
    trip = _field(1, 2, b"T1") + _field(4, 0, b"\x04")  # 4: not a schedule relationship
    first = _field(1, 2, trip) + _field(2, 2, stop) + _field(15, 5, b"\x00\x00\x80\x3f")
    group = bytes([99 << 3 & 0x7F | 0x80 | 3, 99 >> 4]) + _field(1, 0, b"\x01")
    group += bytes([99 << 3 & 0x7F | 0x80 | 4, 99 >> 4])  # an unknown group, then its end
    second = _field(1, 2, _field(3, 2, b"20261125")) + group + _field(2, 2, stop)
    entity = _field(1, 2, b"E") + _field(3, 2, first) + _field(3, 2, second)
    header = _field(1, 2, b"2.0") + _field(3, 0, b"\x05")
    body = _field(2, 2, entity) + _field(1, 2, header)  # the header last

    trips = _via_reader(body)

    assert trips == _via_protobuf(body)
    assert trips == [("T1", "20261125", 0, None, None, None, False, [(3, "S3", 0, 60, None)] * 2)]
    assert _tripupdates.read_feed(body)[0] == 5


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "no header"),
        (_field(1, 2, _field(3, 0, b"\x05")), "a header without its version"),
        (b"\x0a\x06\x0a\x032.0", "a length past the end"),
        (b"\x0a\x03\x0a\x01", "a string past the end of its message"),
        (b"\x08" + b"\xff" * 11, "an overlong varint"),
        (b"\x0f", "wire type 7"),
        (b"\x0c", "an end group without its start"),
    ],
)
def test_a_malformed_feed_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        _tripupdates.read_feed(body)


def test_a_feed_cut_anywhere_or_with_a_byte_changed_never_reads_out_of_bounds() -> None:
    body = _varied_message().SerializeToString()[:1500]
    for end in range(len(body)):
        with contextlib.suppress(DecodeError):
            _tripupdates.read_feed(body[:end])
    generator = random.Random(20261125)
    for _ in range(3000):
        mutated = bytearray(body)
        for _ in range(generator.randint(1, 4)):
            mutated[generator.randrange(len(mutated))] = generator.randrange(256)
        try:
            trips = _tripupdates.read_feed(bytes(mutated))[2]
        except DecodeError:
            continue
        for trip in trips:  # what was read can be read again, to the last update
            trip.stop_time_updates()
            trip.at_stop(3, "S3")
