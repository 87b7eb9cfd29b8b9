from starlette.requests import Request

from poche_api.kit.caching import cached_json, etag_for


def request_with(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_a_matching_if_none_match_gives_304_strong_or_weak() -> None:
    body = b'{"a":1}'
    tag = etag_for(body)

    assert cached_json(request_with({"If-None-Match": tag}), body, max_age=60).status_code == 304
    strong = tag.removeprefix("W/")
    assert (
        cached_json(request_with({"If-None-Match": f'"x", {strong}'}), body, max_age=60).status_code
        == 304
    )
    assert (
        cached_json(request_with({"If-None-Match": '"other"'}), body, max_age=60).status_code == 200
    )


def test_the_etag_changes_with_the_content() -> None:
    assert etag_for(b"a") != etag_for(b"b")
