"""stop_times.txt → one row per trip: its times as arrays, over a stop pattern shared by trips.

Trips that call at the same stops in the same order share a pattern, as OpenTripPlanner's
TripPattern does: a Rouen-scale feed's million stop_times become 40,000 trip rows and a few
thousand patterns, which PostgreSQL loads and indexes in a fraction of the time a row per stop
time took. The member is read with Arrow's CSV reader in blocks, checked and converted column by
column (never a Python object per row), and written out as CSV rows for ``COPY``.

A trip's rows must follow each other, as producers write them; the rows of a trip are sorted by
stop_sequence here. A member whose trips are scattered raises :class:`Scattered`: the importer
has PostgreSQL sort it by trip into a file, which is read again (memory stays one block).
"""

import dataclasses
import io
import sys
from collections.abc import Callable, Iterator
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

BLOCK_BYTES = 8 << 20
REQUIRED = ("trip_id", "stop_id", "stop_sequence")
OPTIONAL = ("arrival_time", "departure_time", "stop_headsign", "pickup_type", "drop_off_type")
TRIP_TIMES_COLUMNS = (
    "feed_version",
    "trip_id",
    "pattern_id",
    "stop_sequences",
    "arrival_seconds",
    "departure_seconds",
    "pickup_types",
    "drop_off_types",
    "stop_headsigns",
)
LINE_COLUMN = "poche_line"  # a row's line in the member, in a member sorted by trip
PATTERN_STOPS_COLUMNS = ("feed_version", "pattern_id", "position", "stop_id", "last")
_TIME = r"^\d+:[0-5]\d:[0-5]\d$"
_PATTERN_KEY = "\x1f"  # stop ids never hold a unit separator


class Scattered(Exception):
    """A trip's rows are not contiguous: the member must be sorted by trip first."""


@dataclasses.dataclass
class Timetable:
    """What a read found: each pattern's stops, and how many rows and trips it read."""

    patterns: dict[str, int] = dataclasses.field(default_factory=dict)
    rows: int = 0
    trips: int = 0

    def pattern_stops(self, version: int) -> bytes:
        """CSV rows of transport_pattern_stops (PATTERN_STOPS_COLUMNS): each pattern's stops,
        their position from 1, and whether it is the last."""
        stops = pc.split_pattern(pa.array(list(self.patterns), pa.string()), _PATTERN_KEY)
        parents = pc.list_parent_indices(stops)
        starts = pc.take(stops.offsets, parents)
        positions = pc.subtract(_numbers(1, len(parents)), pc.cast(starts, pa.int64()))
        lengths = pc.take(pc.list_value_length(stops), parents)
        rows = pa.table(
            {
                "feed_version": pa.repeat(version, len(parents)),
                "pattern_id": pc.take(pa.array(list(self.patterns.values()), pa.int32()), parents),
                "position": positions,
                "stop_id": pc.list_flatten(stops),
                "last": pc.equal(positions, pc.cast(lengths, pa.int64())),
            }
        )
        out = io.BytesIO()
        pacsv.write_csv(rows, out, pacsv.WriteOptions(include_header=False))
        return out.getvalue()


ErrorSink = Callable[[int, str], None]  # (line, message)


class TimetableReader:
    """Reads one stop_times.txt into trip_times CSV chunks; errors go to ``error`` by line."""

    def __init__(
        self,
        version: int,
        *,
        stops: set[str],
        trips: set[str],
        error: ErrorSink,
    ) -> None:
        self.version = version
        self.known_stops = pa.array(sorted(stops), pa.string())
        self.known_trips = pa.array(sorted(trips), pa.string())
        self.error = error
        self.timetable = Timetable()
        self._seen: set[str] = set()

    def read(self, stream: IO[bytes]) -> Iterator[bytes]:
        """CSV chunks of trip_times rows. A ``LINE_COLUMN`` column, when there is one, gives
        each row's line in the member (rows sorted by trip elsewhere, after :class:`Scattered`)."""
        self.timetable, self._seen = Timetable(), set()
        header, batches = _batches(stream)
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            raise ValueError(f"missing column {', '.join(missing)}")
        lines = 2  # the first row's line: the header is line 1
        held: pa.Table | None = None
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if LINE_COLUMN in header:
                numbers = pc.cast(table.column(LINE_COLUMN), pa.int64())
                table = table.drop_columns([LINE_COLUMN]).append_column("line", numbers)
            else:
                table = table.append_column("line", _numbers(lines, table.num_rows))
            lines += table.num_rows
            if held is not None:
                table = pa.concat_tables([held, table])
            done, held = _hold_last_trip(table)
            if done is not None:
                yield from self._chunk(done)
        if held is not None:
            yield from self._chunk(held)

    def _chunk(self, table: pa.Table) -> Iterator[bytes]:
        if table.num_rows == 0:
            return
        columns = _Columns(table)
        if not self._check(columns):
            return
        columns.sort_within_trips()
        starts = columns.trip_starts()
        trip_ids = pc.take(columns.trip, starts[:-1]).to_pylist()
        for trip_id in trip_ids:
            if trip_id in self._seen:
                raise Scattered(trip_id)
            self._seen.add(trip_id)
        repeats = columns.repeated_sequences(starts)
        if repeats is not None:
            line, trip_id, sequence = repeats
            self.error(line, f"stop_sequence {sequence} repeats in trip_id {trip_id!r}")
            return
        keys = pc.binary_join(
            pa.ListArray.from_arrays(starts, columns.stop), _PATTERN_KEY
        ).to_pylist()
        patterns = self.timetable.patterns
        pattern_ids = [patterns.setdefault(key, len(patterns) + 1) for key in keys]
        self.timetable.rows += columns.length
        self.timetable.trips += len(trip_ids)
        rows = pa.table(
            {
                "feed_version": pa.repeat(self.version, len(trip_ids)),
                "trip_id": pa.array(trip_ids, pa.string()),
                "pattern_id": pa.array(pattern_ids, pa.int32()),
                "stop_sequences": _literal(columns.sequence, starts),
                "arrival_seconds": _literal(columns.arrival, starts),
                "departure_seconds": _literal(columns.departure, starts),
                "pickup_types": _literal(columns.pickup, starts, default=0),
                "drop_off_types": _literal(columns.drop_off, starts, default=0),
                "stop_headsigns": _text_literal(columns.headsign, starts),
            }
        )
        out = io.BytesIO()
        pacsv.write_csv(rows, out, pacsv.WriteOptions(include_header=False))
        yield out.getvalue()

    def _check(self, columns: "_Columns") -> bool:
        """Report the first bad row of each kind; True when there is none."""
        checks = [
            (pc.is_in(columns.trip, value_set=self.known_trips), "trip_id", "is not a trip"),
            (pc.is_in(columns.stop, value_set=self.known_stops), "stop_id", "is not a stop"),
            (columns.sequence_ok, "stop_sequence", "is not a whole number"),
            (columns.arrival_ok, "arrival_time", "is not a time like 25:10:00"),
            (columns.departure_ok, "departure_time", "is not a time like 25:10:00"),
            (columns.pickup_ok, "pickup_type", "is not 0, 1, 2 or 3"),
            (columns.drop_off_ok, "drop_off_type", "is not 0, 1, 2 or 3"),
        ]
        found = []
        for passed, field, problem in checks:
            failed = pc.invert(pc.fill_null(passed, False))
            if not pc.any(failed).as_py():
                continue
            at = pc.index(failed, True).as_py()
            value = columns.raw(field)[at].as_py()
            found.append((columns.line[at].as_py(), f"{field} {value!r} {problem}"))
        for line, message in sorted(found):
            self.error(line, message)
        return not found


def numbered(stream: IO[bytes]) -> tuple[list[str], Iterator[bytes]]:
    """The member's columns that are read, and CSV blocks of them (no header) with each row's
    line last (``LINE_COLUMN``): what PostgreSQL sorts by trip for a scattered member."""
    header, batches = _batches(stream)
    kept = [name for name in (*REQUIRED, *OPTIONAL) if name in header]

    def blocks() -> Iterator[bytes]:
        lines = 2
        for batch in batches:
            table = pa.Table.from_batches([batch]).select(kept)
            table = table.append_column(LINE_COLUMN, _numbers(lines, table.num_rows))
            lines += table.num_rows
            out = io.BytesIO()
            pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
            yield out.getvalue()

    return kept, blocks()


def _batches(stream: IO[bytes]) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in (*REQUIRED, *OPTIONAL, LINE_COLUMN)},
            strings_can_be_null=True,  # "" reads as absent
            include_columns=None,
        ),
    )
    header = [name.strip() for name in reader.schema.names]
    return header, iter(reader)


def _numbers(first: int, count: int) -> pa.Array:
    """first, first + 1, … (count of them)."""
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count)), first - 1)


def _hold_last_trip(table: pa.Table) -> tuple[pa.Table | None, pa.Table]:
    """(the rows of every trip but the last, the last trip's rows: they may go on in the next
    block)."""
    trips = table.column("trip_id").combine_chunks()
    length = table.num_rows
    changes = pc.indices_nonzero(pc.not_equal(trips.slice(1), trips.slice(0, length - 1)))
    if len(changes) == 0:
        return None, table
    start = changes[len(changes) - 1].as_py() + 1
    return table.slice(0, start), table.slice(start)


# The converted columns of _Columns, reordered together.
_PER_ROW = (
    "trip",
    "stop",
    "line",
    "sequence",
    "arrival",
    "departure",
    "pickup",
    "drop_off",
    "headsign",
)


class _Columns:
    """The member's columns of one block, converted: absent optional columns read as nulls."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.combine_chunks()
        self.length = table.num_rows
        names = set(table.column_names)

        def column(name: str) -> pa.Array:
            if name not in names:
                return pa.nulls(self.length, pa.string())
            values = self.table.column(name).chunk(0)
            # Ids stay as written (trips.txt and stops.txt keep theirs so); numbers and times
            # may be padded.
            return (
                values
                if name in ("trip_id", "stop_id", "stop_headsign")
                else pc.ascii_trim_whitespace(values)
            )

        self.columns = {name: column(name) for name in (*REQUIRED, *OPTIONAL)}
        self.trip, self.stop = self.columns["trip_id"], self.columns["stop_id"]
        self.line = self.table.column("line").chunk(0)
        raw_sequence = self.columns["stop_sequence"]
        self.sequence_ok = pc.utf8_is_digit(raw_sequence)
        self.sequence = _integers(raw_sequence, self.sequence_ok)
        arrival, self.arrival_ok = _seconds(self.columns["arrival_time"])
        written = [pc.fill_null(self.columns[name], "") for name in OPTIONAL[:2]]
        if pc.all(pc.equal(*written)).as_py():  # the common case; an absent time is ""
            departure, self.departure_ok = arrival, self.arrival_ok
        else:
            departure, self.departure_ok = _seconds(self.columns["departure_time"])
        self.arrival = pc.coalesce(arrival, departure)
        self.departure = pc.coalesce(departure, arrival)
        self.pickup, self.pickup_ok = _types(self.columns["pickup_type"])
        self.drop_off, self.drop_off_ok = _types(self.columns["drop_off_type"])
        self.headsign = self.columns["stop_headsign"]

    def raw(self, field: str) -> pa.Array:
        return self.columns[field]

    def _changes(self) -> pa.Array:
        """Per row after the first: whether it starts another trip."""
        return pc.not_equal(self.trip.slice(1), self.trip.slice(0, self.length - 1))

    def sort_within_trips(self) -> None:
        """Order each trip's rows by stop_sequence (a stable sort keeping trips in place)."""
        changes = self._changes()
        rising = pc.or_(
            pc.greater(self.sequence.slice(1), self.sequence.slice(0, self.length - 1)), changes
        )
        if pc.all(rising).as_py():
            return
        trip_index = pc.cumulative_sum(
            pa.concat_arrays([pa.array([0], pa.int64()), pc.cast(changes, pa.int64())])
        )
        order = pc.sort_indices(
            pa.table({"trip": trip_index, "sequence": self.sequence}),
            [("trip", "ascending"), ("sequence", "ascending")],
        )
        for name in _PER_ROW:
            setattr(self, name, pc.take(getattr(self, name), order))

    def trip_starts(self) -> pa.Array:
        """Offsets of each trip's first row, then the length."""
        starts = pc.add(pc.indices_nonzero(self._changes()), 1)
        return pa.concat_arrays(
            [
                pa.array([0], pa.int32()),
                pc.cast(starts, pa.int32()),
                pa.array([self.length], pa.int32()),
            ]
        )

    def repeated_sequences(self, starts: pa.Array) -> tuple[int, str, int] | None:
        """(line, trip_id, stop_sequence) of the first stop_sequence given twice in a trip."""
        same = pc.and_(
            pc.equal(self.sequence.slice(1), self.sequence.slice(0, self.length - 1)),
            pc.invert(self._changes()),
        )
        if not pc.any(same).as_py():
            return None
        at = pc.index(same, True).as_py() + 1
        return self.line[at].as_py(), self.trip[at].as_py(), self.sequence[at].as_py()


def _integers(values: pa.Array, valid: pa.Array) -> pa.Array:
    return pc.cast(pc.if_else(valid, values, pa.scalar(None, pa.string())), pa.int32())


def _seconds(times: pa.Array) -> tuple[pa.Array, pa.Array]:
    """GTFS times (25:10:00, past 24:00 allowed) as seconds, and which ones are fine or absent."""
    if sys.byteorder == "little" and pc.all(pc.equal(pc.binary_length(times), 8)).as_py():
        return _eight_character_seconds(times)
    fine = pc.match_substring_regex(times, _TIME)
    digits = pc.cast(
        pc.replace_substring(pc.if_else(fine, times, pa.scalar(None, pa.string())), ":", ""),
        pa.int64(),
    )
    hours = pc.divide(digits, 10000)
    rest = pc.subtract(digits, pc.multiply(hours, 10000))
    minutes = pc.divide(rest, 100)
    seconds = pc.subtract(rest, pc.multiply(minutes, 100))
    total = pc.add(pc.add(pc.multiply(hours, 3600), pc.multiply(minutes, 60)), seconds)
    return pc.cast(total, pa.int32()), pc.or_kleene(fine, pc.is_null(times))


def _eight_character_seconds(times: pa.Array) -> tuple[pa.Array, pa.Array]:
    """_seconds when every time is written HH:MM:SS, as producers write them: each time's eight
    bytes read as one 64-bit word, its characters taken out by shifts (a third of the work of a
    regular expression and a string replacement)."""
    fixed = times.cast(pa.binary()).cast(pa.binary(8))
    words = pa.Array.from_buffers(
        pa.uint64(), len(fixed), fixed.buffers(), null_count=fixed.null_count, offset=fixed.offset
    )
    mask = pa.scalar(0xFF, pa.uint64())

    def character(position: int) -> pa.Array:
        return pc.bit_wise_and(pc.shift_right(words, 8 * position), mask)

    def digit(position: int) -> pa.Array:  # a character that is no digit wraps above 9
        return pc.subtract(character(position), pa.scalar(48, pa.uint64()))

    digits = {position: digit(position) for position in (0, 1, 3, 4, 6, 7)}
    fine = pc.and_(pc.equal(character(2), 58), pc.equal(character(5), 58))  # the colons
    for position, value in digits.items():
        fine = pc.and_(fine, pc.less_equal(value, 5 if position in (3, 6) else 9))
    total = pc.multiply(digits[0], 36000)
    for position, weight in ((1, 3600), (3, 600), (4, 60), (6, 10), (7, 1)):
        total = pc.add(total, pc.multiply(digits[position], weight))
    seconds = pc.cast(pc.if_else(fine, total, pa.scalar(None, pa.uint64())), pa.int32())
    return seconds, pc.or_kleene(fine, pc.is_null(times))


def _types(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """pickup_type / drop_off_type: 0 to 3, absent reads as 0."""
    fine = pc.or_kleene(pc.match_substring_regex(values, r"^[0-3]$"), pc.is_null(values))
    return pc.fill_null(_integers(values, fine), 0), fine


def _literal(values: pa.Array, starts: pa.Array, *, default: int | None = None) -> pa.Array:
    """Each trip's values as a PostgreSQL array literal ``{1,2,NULL}``. With ``default``: no
    arrays at all (NULL) when every value of the block is the default, the common case for
    pickup and drop-off types."""
    if default is not None and pc.all(pc.equal(values, default)).as_py():
        return pa.nulls(len(starts) - 1, pa.string())
    strings = pc.fill_null(pc.cast(values, pa.string()), "NULL")
    joined = pc.binary_join(pa.ListArray.from_arrays(starts, strings), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def _text_literal(values: pa.Array, starts: pa.Array) -> pa.Array:
    """Each trip's texts as an array literal, quoted; NULL when the trip has none."""
    if pc.all(pc.is_null(values)).as_py():
        return pa.nulls(len(starts) - 1, pa.string())
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "NULL")
    joined = pc.binary_join(pa.ListArray.from_arrays(starts, quoted), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")
