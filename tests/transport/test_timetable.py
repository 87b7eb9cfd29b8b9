"""stop_times.txt into per-trip rows over shared patterns: grouping, order, blocks and errors."""

import csv
import io

import pytest

from poche_api.transport import timetable
from poche_api.transport.timetable import Scattered, TimetableReader

HEADER = "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,stop_headsign\n"
STOPS = {"A", "B", "C", "D"}
TRIPS = {"T1", "T2", "T3"}


def _read(text: str) -> tuple[list[list[str]], TimetableReader, list[tuple[int, str]]]:
    errors: list[tuple[int, str]] = []
    reader = TimetableReader(
        3, stops=STOPS, trips=TRIPS, error=lambda line, message: errors.append((line, message))
    )
    out = b"".join(reader.read(io.BytesIO(text.encode())))
    return list(csv.reader(io.StringIO(out.decode()))), reader, errors


def test_trips_calling_at_the_same_stops_share_a_pattern() -> None:
    rows, reader, errors = _read(
        HEADER
        + "T1,08:00:00,08:00:00,A,1,,\nT1,08:05:00,08:06:00,B,2,,\nT1,08:10:00,08:10:00,C,3,,\n"
        + "T2,25:10:00,25:10:00,A,1,,\nT2,25:15:00,25:15:00,B,2,,\nT2,25:20:00,25:20:00,C,3,,\n"
        + "T3,09:00:00,09:00:00,C,1,1,\nT3,,,B,5,,\nT3,09:20:00,09:20:00,A,9,,\n"
    )

    assert errors == []
    assert rows == [
        ["3", "T1", "1", "{1,2,3}", "{28800,29100,29400}", "{28800,29160,29400}", "", "", ""],
        ["3", "T2", "1", "{1,2,3}", "{90600,90900,91200}", "{90600,90900,91200}", "", "", ""],
        # A stop without times (interpolated) keeps NULL; pickup types where one differs.
        ["3", "T3", "2", "{1,5,9}", "{32400,NULL,33600}", "{32400,NULL,33600}", "{1,0,0}", "", ""],
    ]
    assert reader.timetable.rows == 9
    pattern_stops = list(csv.reader(io.StringIO(reader.timetable.pattern_stops(3).decode())))
    assert pattern_stops == [
        ["3", "1", "1", "A", "false"],
        ["3", "1", "2", "B", "false"],
        ["3", "1", "3", "C", "true"],
        ["3", "2", "1", "C", "false"],
        ["3", "2", "2", "B", "false"],
        ["3", "2", "3", "A", "true"],
    ]


@pytest.mark.parametrize("hour", ["7", "07", "107"])
def test_hours_of_any_width_read_the_same(hour: str) -> None:
    rows, _, errors = _read(HEADER + f"T1,{hour}:05:09,08:00:00,A,1,,\nT1,08:10:00,,B,2,,\n")

    assert errors == []
    assert rows[0][4:6] == [f"{{{int(hour) * 3600 + 309},29400}}", "{28800,29400}"]


def test_a_time_given_only_as_departure_or_arrival_is_both() -> None:
    rows, _, _ = _read(HEADER + "T1,,08:00:00,A,1,,\nT1,08:10:00,,B,2,,\nT1,,,C,3,,\n")

    assert rows[0][4:6] == ["{28800,29400,NULL}", "{28800,29400,NULL}"]


def test_a_trip_s_rows_are_put_in_stop_sequence_order() -> None:
    rows, _, _ = _read(HEADER + "T1,08:10:00,08:10:00,C,30,,\nT1,08:00:00,08:00:00,A,10,,\n")

    assert rows[0][3:6] == ["{10,30}", "{28800,29400}", "{28800,29400}"]


def test_a_trip_cut_between_two_blocks_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timetable, "BLOCK_BYTES", 120)  # a few rows per block
    lines = [f"T{1 + n // 12},08:{n % 60:02d}:00,08:{n % 60:02d}:00,A,{n},," for n in range(36)]

    rows, reader, errors = _read(HEADER + "\n".join(lines) + "\n")

    assert errors == []
    assert [row[1] for row in rows] == ["T1", "T2", "T3"]
    assert [len(row[3].split(",")) for row in rows] == [12, 12, 12]
    assert reader.timetable.trips == 3


def test_scattered_trips_are_refused_and_read_again_once_sorted_with_their_lines() -> None:
    text = HEADER + "T1,08:00:00,08:00:00,A,1,,\nT2,09:00:00,09:00:00,B,1,,\n"
    text += "T1,08:05:00,08:05:00,B,2,,\nT2,09:05:00,09:05:00,Z,2,,\n"
    with pytest.raises(Scattered):
        _read(text)
    columns, blocks = timetable.numbered(io.BytesIO(text.encode()))
    numbered = list(csv.reader(io.StringIO(b"".join(blocks).decode())))
    by_trip = sorted(numbered, key=lambda row: (row[0], int(row[-1])))  # as PostgreSQL does
    sorted_text = ",".join([*columns, timetable.LINE_COLUMN]) + "\n"
    sorted_text += "".join(",".join(row) + "\n" for row in by_trip)

    rows, _, errors = _read(sorted_text)

    assert [row[-1] for row in numbered] == ["2", "3", "4", "5"]
    assert [row[1:4] for row in rows] == [["T1", "1", "{1,2}"]]
    assert errors == [(5, "stop_id 'Z' is not a stop")]  # its line in the member as written


def test_headsigns_are_quoted_for_postgresql() -> None:
    rows, _, _ = _read(
        HEADER
        + 'T1,08:00:00,08:00:00,A,1,,"Gare, ""Rive"" \\ Droite"\nT1,08:05:00,08:05:00,B,2,,\n'
    )

    assert rows[0][8] == '{"Gare, \\"Rive\\" \\\\ Droite",NULL}'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("T9,08:00:00,08:00:00,A,1,,", "trip_id 'T9' is not a trip"),
        ("T1,08:00:00,08:00:00,Z,1,,", "stop_id 'Z' is not a stop"),
        ("T1,08:00:00,08:00:00,A,one,,", "stop_sequence 'one' is not a whole number"),
        ("T1,8h00,08:00:00,A,1,,", "arrival_time '8h00' is not a time like 25:10:00"),
        ("T1,08:00:00,08:60:00,A,1,,", "departure_time '08:60:00' is not a time like 25:10:00"),
        ("T1,08:0a:00,08:00:00,A,1,,", "arrival_time '08:0a:00' is not a time like 25:10:00"),
        ("T1,08-00-00,08:00:00,A,1,,", "arrival_time '08-00-00' is not a time like 25:10:00"),
        ("T1,08:00:00,08:00:00,A,1,7,", "pickup_type '7' is not 0, 1, 2 or 3"),
        ("T1,08:00:00,08:00:00,B,2,,", "stop_sequence 2 repeats in trip_id 'T1'"),
    ],
)
def test_a_bad_row_is_named_by_its_line(line: str, expected: str) -> None:
    _, _, errors = _read(HEADER + "T1,07:00:00,07:00:00,C,2,,\n" + line + "\n")

    assert errors == [(3, expected)]


def test_a_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="missing column stop_sequence"):
        _read("trip_id,arrival_time,departure_time,stop_id\nT1,08:00:00,08:00:00,A\n")
