"""Photos travel with a report: re-encoded, stripped of EXIF and GPS, served by variant."""

import io
from typing import Any

import orjson
from PIL import Image

from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, Cast
from tests.media.photos import photo, png_header_only

REPORT = {
    "category": "depot-sauvage",
    "location": ROUEN_HOTEL_DE_VILLE,
    "description": "Matelas et sacs sur le trottoir",
    "attributes": {"volume": "coffre"},
}


async def _file_with(cast: Cast, who: str, *files: tuple[str, bytes, str], **fields: Any) -> Any:
    return await cast.call(
        who,
        "POST",
        "/v1/incidents/reports",
        data={"report": orjson.dumps({**REPORT, **fields}).decode()},
        files=[("photos", item) for item in files],
    )


async def test_a_report_with_photos_keeps_no_exif_nor_gps(cast: Cast) -> None:
    filed = await _file_with(
        cast,
        "resident_a",
        ("matelas.jpg", photo("JPEG", (2400, 1800)), "image/jpeg"),
        ("vue.heic", photo("HEIF", (800, 600)), "image/heic"),
    )

    assert filed.status_code == 201, filed.text
    photos = filed.json()["photos"]
    assert len(photos) == 2
    large = await cast.call("nobody", "GET", photos[0]["url"])
    thumb = await cast.call("nobody", "GET", photos[0]["thumbnail_url"])
    assert large.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(large.content))
    assert (image.format, max(image.size)) == ("WEBP", 1600)
    assert not image.getexif()
    assert "exif" not in image.info
    assert "xmp" not in image.info
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
    cached = await cast.call(
        "nobody", "GET", photos[0]["url"], headers={"If-None-Match": large.headers["ETag"]}
    )
    assert cached.status_code == 304


async def test_bad_photos_are_refused_and_nothing_is_filed(cast: Cast) -> None:
    bomb = await _file_with(
        cast, "resident_a", ("b.png", png_header_only(30_000, 30_000), "image/png")
    )
    liar = await _file_with(cast, "resident_a", ("x.jpg", photo("PNG"), "image/jpeg"))
    not_an_image = await _file_with(
        cast, "resident_a", ("x.jpg", b"MZ\x90\x00" * 100, "image/jpeg")
    )
    too_many = await _file_with(
        cast, "resident_a", *[(f"{i}.jpg", photo(), "image/jpeg") for i in range(4)]
    )

    assert bomb.status_code == 422
    assert liar.status_code == 415
    assert not_an_image.status_code in (415, 422)
    assert too_many.status_code in (400, 422)
    mine = await cast.call("resident_a", "GET", "/v1/incidents/reports/mine")
    assert mine.json()["items"] == []


async def test_an_oversized_photo_is_413(cast: Cast) -> None:
    huge = photo("PNG", (64, 64)) + b"\x00" * (11 * 1024 * 1024)

    refused = await _file_with(cast, "resident_a", ("big.png", huge, "image/png"))

    assert refused.status_code == 413


async def test_an_agent_resolves_with_an_after_fix_photo(cast: Cast) -> None:
    filed = (await _file_with(cast, "resident_a", ("avant.jpg", photo(), "image/jpeg"))).json()

    resolved = await cast.call(
        "supervisor",
        "POST",
        f"/v1/agent/reports/{filed['id']}/transitions",
        data={"transition": orjson.dumps({"status": "resolved", "public_note": "Enlevé"}).decode()},
        files=[("photo", ("apres.jpg", photo(color=(20, 200, 20)), "image/jpeg"))],
    )

    assert resolved.status_code == 200, resolved.text
    kinds = [p["kind"] for p in resolved.json()["photos"]]
    assert kinds == ["report", "after_fix"]
