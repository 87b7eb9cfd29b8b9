import pytest

from poche_api.errors import BadRequest
from poche_api.kit.pagination import CursorCodec


def test_a_cursor_round_trips_its_sort_key() -> None:
    codec = CursorCodec(b"secret")

    assert codec.decode(codec.encode(["2026-11-28T10:00:00Z", 42])) == ["2026-11-28T10:00:00Z", 42]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "", "AAAA", "eyJ4IjoxfQ"])
def test_a_forged_or_garbled_cursor_is_a_clear_400(cursor: str) -> None:
    with pytest.raises(BadRequest):
        CursorCodec(b"secret").decode(cursor)


def test_a_cursor_signed_with_another_secret_is_refused() -> None:
    cursor = CursorCodec(b"other").encode([1])

    with pytest.raises(BadRequest):
        CursorCodec(b"secret").decode(cursor)
