# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""GTFS-RT TripUpdates read from the protobuf wire format, for the departures merge.

protobuf's upb backend parses a message fast, but every sub-message then read from Python is a
new object: indexing 3,000 trips and merging one departure each cost ten times the parse. This
reader walks the bytes once, keeps each trip's descriptor as Python values and its stop time
updates as bytes, and reads those only when a departure asks, without making an object per
update.

Every read is checked against the end of the message it belongs to, so a malformed feed raises
``google.protobuf.message.DecodeError`` and never reads past the buffer. Unknown fields,
extensions and groups are skipped; a closed-enum value the schema does not list leaves the field
unset, as upb does. Field numbers: gtfs-realtime.proto (FeedMessage, FeedEntity, TripUpdate,
TripDescriptor, StopTimeUpdate, StopTimeEvent).
"""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcmp

from google.protobuf.message import DecodeError

ctypedef const unsigned char* Bytes

# Keys (field number << 3 | wire type) of the fields read, and the StopTimeUpdate
# relationships the merge looks for.
cdef enum:
    VARINT = 0
    LENGTH = 2
    FEED_HEADER = 1 << 3 | LENGTH
    FEED_ENTITY = 2 << 3 | LENGTH
    HEADER_VERSION = 1 << 3 | LENGTH
    HEADER_TIMESTAMP = 3 << 3 | VARINT
    ENTITY_DELETED = 2 << 3 | VARINT
    ENTITY_TRIP_UPDATE = 3 << 3 | LENGTH
    UPDATE_TRIP = 1 << 3 | LENGTH
    UPDATE_STOP = 2 << 3 | LENGTH
    TRIP_ID = 1 << 3 | LENGTH
    TRIP_START_TIME = 2 << 3 | LENGTH
    TRIP_START_DATE = 3 << 3 | LENGTH
    TRIP_RELATIONSHIP = 4 << 3 | VARINT
    TRIP_ROUTE_ID = 5 << 3 | LENGTH
    TRIP_DIRECTION_ID = 6 << 3 | VARINT
    STOP_SEQUENCE = 1 << 3 | VARINT
    STOP_ARRIVAL = 2 << 3 | LENGTH
    STOP_DEPARTURE = 3 << 3 | LENGTH
    STOP_ID = 4 << 3 | LENGTH
    STOP_RELATIONSHIP = 5 << 3 | VARINT
    EVENT_DELAY = 1 << 3 | VARINT
    EVENT_TIME = 2 << 3 | VARINT
    SKIPPED = 1
    NO_DATA = 2


# --- wire format --------------------------------------------------------------------------------


cdef inline uint64_t _varint(Bytes p, Py_ssize_t* pos, Py_ssize_t end) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef unsigned char byte
    cdef Py_ssize_t i = pos[0]
    while True:
        if i >= end or shift > 63:
            raise DecodeError("truncated or overlong varint")
        byte = p[i]
        i += 1
        result |= (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            pos[0] = i
            return result
        shift += 7


cdef inline Py_ssize_t _length(Bytes p, Py_ssize_t* pos, Py_ssize_t end) except -1:
    cdef uint64_t n = _varint(p, pos, end)
    if n > <uint64_t>(end - pos[0]):
        raise DecodeError("length past the end of its message")
    return <Py_ssize_t>n


cdef Py_ssize_t _skip(Bytes p, Py_ssize_t pos, Py_ssize_t end, uint64_t key) except -1:
    """The position after a field that is not read, groups included."""
    cdef int wire = key & 7
    cdef int depth = 0
    cdef Py_ssize_t n
    while True:
        if wire == 0:
            _varint(p, &pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            n = _length(p, &pos, end)
            pos += n
        elif wire == 5:
            pos += 4
        elif wire == 3:
            depth += 1
        elif wire == 4:
            depth -= 1
            if depth < 0:
                raise DecodeError("end group without its start")
        else:
            raise DecodeError("invalid wire type")
        if pos > end:
            raise DecodeError("field past the end of its message")
        if depth == 0:
            return pos
        key = _varint(p, &pos, end)
        wire = key & 7


cdef inline object _text(Bytes p, Py_ssize_t start, Py_ssize_t n):
    """A string field; empty reads as None, as the merge treats an unset id."""
    if n == 0:
        return None
    return PyUnicode_DecodeUTF8(<const char*>(p + start), n, "replace")


# --- stop time updates ----------------------------------------------------------------------------


cdef struct Stop:
    bint has_sequence
    uint32_t sequence
    Py_ssize_t stop_id_at
    Py_ssize_t stop_id_length
    int relationship
    bint has_delay
    int32_t delay
    bint has_time
    int64_t time


cdef struct Event:
    bint seen
    bint has_delay
    int32_t delay
    bint has_time
    int64_t time


cdef int _read_event(Bytes p, Py_ssize_t pos, Py_ssize_t end, Event* event) except -1:
    cdef uint64_t key
    event.seen = True
    while pos < end:
        key = _varint(p, &pos, end)
        if key == EVENT_DELAY:
            event.delay = <int32_t>_varint(p, &pos, end)
            event.has_delay = True
        elif key == EVENT_TIME:
            event.time = <int64_t>_varint(p, &pos, end)
            event.has_time = True
        else:
            pos = _skip(p, pos, end, key)
    return 0


cdef int _read_stop(Bytes p, Py_ssize_t pos, Py_ssize_t end, Stop* stop) except -1:
    """One StopTimeUpdate; its event is the departure when there is one, else the arrival."""
    cdef uint64_t key, value
    cdef Py_ssize_t n
    cdef Event departure, arrival
    departure.seen = departure.has_delay = departure.has_time = False
    arrival.seen = arrival.has_delay = arrival.has_time = False
    stop.has_sequence = False
    stop.stop_id_at = stop.stop_id_length = 0
    stop.relationship = 0
    while pos < end:
        key = _varint(p, &pos, end)
        if key == STOP_SEQUENCE:
            stop.sequence = <uint32_t>_varint(p, &pos, end)
            stop.has_sequence = True
        elif key == STOP_ID:
            n = _length(p, &pos, end)
            stop.stop_id_at, stop.stop_id_length = pos, n
            pos += n
        elif key == STOP_RELATIONSHIP:
            value = _varint(p, &pos, end)
            if value <= 3:  # SCHEDULED, SKIPPED, NO_DATA, UNSCHEDULED
                stop.relationship = <int>value
        elif key == STOP_DEPARTURE or key == STOP_ARRIVAL:
            n = _length(p, &pos, end)
            _read_event(p, pos, pos + n, &departure if key == STOP_DEPARTURE else &arrival)
            pos += n
        else:
            pos = _skip(p, pos, end, key)
    if departure.seen:
        stop.has_delay, stop.delay = departure.has_delay, departure.delay
        stop.has_time, stop.time = departure.has_time, departure.time
    else:
        stop.has_delay, stop.delay = arrival.has_delay, arrival.delay
        stop.has_time, stop.time = arrival.has_time, arrival.time
    return 0


cdef tuple _said(Stop* stop):
    """(relationship, delay or None, time or None)."""
    return (
        stop.relationship,
        stop.delay if stop.has_delay else None,
        stop.time if stop.has_time else None,
    )


cdef struct Cursor:
    Py_ssize_t entity_at  # the next field of the entity
    Py_ssize_t entity_end
    Py_ssize_t at  # the next field of the trip_update being read
    Py_ssize_t end


cdef int _next_stop(Bytes p, Cursor* cursor, Py_ssize_t* start, Py_ssize_t* stop) except -1:
    """1 and the span of the entity's next StopTimeUpdate, or 0 after the last one (an entity
    may repeat its trip_update field: protobuf merges them, their updates in order)."""
    cdef uint64_t key
    cdef Py_ssize_t n
    while True:
        while cursor.at < cursor.end:
            key = _varint(p, &cursor.at, cursor.end)
            if key == UPDATE_STOP:
                n = _length(p, &cursor.at, cursor.end)
                start[0], stop[0] = cursor.at, cursor.at + n
                cursor.at += n
                return 1
            cursor.at = _skip(p, cursor.at, cursor.end, key)
        while True:
            if cursor.entity_at >= cursor.entity_end:
                return 0
            key = _varint(p, &cursor.entity_at, cursor.entity_end)
            if key == ENTITY_TRIP_UPDATE:
                n = _length(p, &cursor.entity_at, cursor.entity_end)
                cursor.at, cursor.end = cursor.entity_at, cursor.entity_at + n
                cursor.entity_at += n
                break
            cursor.entity_at = _skip(p, cursor.entity_at, cursor.entity_end, key)


# --- trips ----------------------------------------------------------------------------------------


cdef class TripUpdate:
    """One FeedEntity's TripUpdate: its TripDescriptor read, its stop time updates kept as bytes."""

    cdef readonly object trip_id
    cdef readonly object start_date
    cdef readonly object start_time
    cdef readonly object route_id
    cdef readonly object direction_id
    cdef readonly int relationship
    cdef readonly bint is_deleted
    cdef bytes _body
    cdef Py_ssize_t _start
    cdef Py_ssize_t _end

    cdef inline Cursor _cursor(self):
        cdef Cursor cursor
        cursor.entity_at, cursor.entity_end = self._start, self._end
        cursor.at = cursor.end = 0
        return cursor

    def stop_time_updates(self):
        """Every update in feed order: (stop_sequence, stop_id, relationship, delay, time)."""
        cdef Bytes p = self._body
        cdef Cursor cursor = self._cursor()
        cdef Py_ssize_t start, stop
        cdef Stop update
        cdef list found = []
        while _next_stop(p, &cursor, &start, &stop):
            _read_stop(p, start, stop, &update)
            found.append(
                (
                    update.sequence if update.has_sequence else None,
                    _text(p, update.stop_id_at, update.stop_id_length),
                    update.relationship,
                    update.delay if update.has_delay else None,
                    update.time if update.has_time else None,
                )
            )
        return found

    def at_stop(self, long long stop_sequence, str stop_id not None):
        """(the update at this stop that says something, the last earlier one not SKIPPED).

        An update matches by stop_sequence, or by stop_id when it has no sequence; it says
        something when it is SKIPPED or NO_DATA or carries a delay or a time. Updates are sorted
        by stop_sequence (GTFS-RT requires it): reading stops at the first one past this stop.
        Each is (relationship, delay or None, time or None), or None.
        """
        cdef Bytes p = self._body
        cdef Cursor cursor = self._cursor()
        cdef Py_ssize_t start, stop, wanted_length
        cdef const char* wanted = PyUnicode_AsUTF8AndSize(stop_id, &wanted_length)
        cdef Stop update, before
        cdef bint has_before = False
        while _next_stop(p, &cursor, &start, &stop):
            _read_stop(p, start, stop, &update)
            if not update.has_sequence:
                if update.stop_id_length != wanted_length or memcmp(
                    p + update.stop_id_at, wanted, wanted_length
                ):
                    continue
            elif <long long>update.sequence != stop_sequence:
                if <long long>update.sequence > stop_sequence:
                    break
                if update.relationship != SKIPPED:
                    before, has_before = update, True
                continue
            if (
                update.relationship == SKIPPED
                or update.relationship == NO_DATA
                or update.has_time
                or update.has_delay
            ):
                return _said(&update), None
        return None, (_said(&before) if has_before else None)


cdef TripUpdate _trip(bytes body, Bytes p, Py_ssize_t start, Py_ssize_t end):
    """The entity's TripUpdate, or None when it has none. Every stop time update is read once
    here, so a malformed one fails the feed, not a later departure."""
    cdef uint64_t key, value
    cdef Py_ssize_t pos = start, n, stop, trip_end, update_start, update_end
    cdef TripUpdate trip = None
    cdef bint deleted = False
    cdef Stop update
    while pos < end:
        key = _varint(p, &pos, end)
        if key == ENTITY_DELETED:
            deleted = _varint(p, &pos, end) != 0
        elif key == ENTITY_TRIP_UPDATE:
            if trip is None:
                trip = TripUpdate.__new__(TripUpdate)
                trip._body, trip._start, trip._end = body, start, end
            n = _length(p, &pos, end)
            stop = pos + n
            while pos < stop:
                key = _varint(p, &pos, stop)
                if key == UPDATE_STOP:
                    n = _length(p, &pos, stop)
                    _read_stop(p, pos, pos + n, &update)
                    pos += n
                elif key == UPDATE_TRIP:
                    n = _length(p, &pos, stop)
                    trip_end = pos + n
                    while pos < trip_end:
                        key = _varint(p, &pos, trip_end)
                        if key == TRIP_RELATIONSHIP:
                            value = _varint(p, &pos, trip_end)
                            if value <= 3 or 5 <= value <= 8:  # 4 is not in the schema
                                trip.relationship = <int>value
                        elif key == TRIP_DIRECTION_ID:
                            trip.direction_id = <uint32_t>_varint(p, &pos, trip_end)
                        elif (
                            key == TRIP_ID
                            or key == TRIP_START_DATE
                            or key == TRIP_START_TIME
                            or key == TRIP_ROUTE_ID
                        ):
                            n = _length(p, &pos, trip_end)
                            if key == TRIP_ID:
                                trip.trip_id = _text(p, pos, n)
                            elif key == TRIP_START_DATE:
                                trip.start_date = _text(p, pos, n)
                            elif key == TRIP_START_TIME:
                                trip.start_time = _text(p, pos, n)
                            else:
                                trip.route_id = _text(p, pos, n)
                            pos += n
                        else:
                            pos = _skip(p, pos, trip_end, key)
                else:
                    pos = _skip(p, pos, stop, key)
        else:
            pos = _skip(p, pos, end, key)
    if trip is not None:
        trip.is_deleted = deleted
    return trip


def read_feed(bytes body not None):
    """(header timestamp, entity count, the TripUpdate of each entity that has one).

    Raises DecodeError when ``body`` is not a FeedMessage with a header naming its version.
    """
    cdef Bytes p = body
    cdef Py_ssize_t pos = 0, end = len(body), n, stop, entities = 0
    cdef uint64_t key
    cdef long long timestamp = 0
    cdef bint versioned = False
    cdef list trips = []
    cdef TripUpdate trip
    while pos < end:  # the header may come before or after the entities
        key = _varint(p, &pos, end)
        if key == FEED_ENTITY:
            n = _length(p, &pos, end)
            entities += 1
            trip = _trip(body, p, pos, pos + n)
            if trip is not None:
                trips.append(trip)
            pos += n
        elif key == FEED_HEADER:
            n = _length(p, &pos, end)
            stop = pos + n
            while pos < stop:
                key = _varint(p, &pos, stop)
                if key == HEADER_TIMESTAMP:
                    timestamp = <long long>_varint(p, &pos, stop)
                elif key == HEADER_VERSION:
                    n = _length(p, &pos, stop)
                    versioned = n > 0  # proto2: the last value read wins
                    pos += n
                else:
                    pos = _skip(p, pos, stop, key)
        else:
            pos = _skip(p, pos, end, key)
    if not versioned:
        raise DecodeError("no FeedHeader")
    return timestamp, entities, trips
