"""A multipart photo upload over HTTP: clean WebP variants in the store, or a 413/415/422 problem."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, File, UploadFile
from PIL import Image

from poche_api.errors import install_error_handlers
from poche_api.media.images import PhotoLimits, PhotoProcessor
from poche_api.media.storage import LocalStore
from poche_api.media.uploads import process_upload
from tests.media.photos import PIXEL_CHUNKS, encode, photo, png_header_only, webp_chunks

PROBLEM = "application/problem+json"
LIMITS = PhotoLimits(max_bytes=2 * 1024 * 1024, max_pixels=30_000_000)
WEBP = "image/webp"


def photo_app(store: LocalStore) -> FastAPI:
    """What a domain route does with a photo part: process it, store its variants."""
    app = FastAPI()
    install_error_handlers(app)
    processor = PhotoProcessor(LIMITS, concurrency=1)

    @app.post("/photos/{photo_id}")
    async def upload(photo_id: str, photo: Annotated[UploadFile, File()]) -> dict[str, object]:
        processed = await process_upload(processor, photo)
        for variant in processed.variants:
            await store.put(f"photos/{photo_id}/{variant.name}.webp", variant.data, WEBP)
        return {"source_type": processed.source_type}

    return app


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "media")


@pytest_asyncio.fixture
async def client(store: LocalStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=photo_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def upload(data: bytes, content_type: str) -> dict[str, tuple[str, bytes, str]]:
    return {"photo": ("IMG_0001", data, content_type)}


async def test_an_iphone_photo_is_stored_as_clean_webp_variants(
    client: httpx.AsyncClient, store: LocalStore
) -> None:
    response = await client.post("/photos/p1", files=upload(photo("HEIF"), "image/heic"))

    assert response.status_code == 200
    assert response.json() == {"source_type": "image/heic"}
    for name in ("large", "medium", "thumb"):
        stored = await store.get(f"photos/p1/{name}.webp")
        assert stored is not None
        assert set(webp_chunks(stored)) <= PIXEL_CHUNKS


@pytest.mark.parametrize(
    ("data", "content_type", "status", "slug"),
    [
        (photo("PNG"), "image/jpeg", 415, "photo-type-mismatch"),
        (b"%PDF-1.7 not a photo", "image/jpeg", 415, "photo-type-unsupported"),
        (photo("JPEG"), "application/octet-stream", 415, "photo-type-unsupported"),
        (png_header_only(40_000, 40_000), "image/png", 422, "photo-too-many-pixels"),
        (photo("JPEG")[:2000], "image/jpeg", 422, "photo-unreadable"),
        (
            encode(Image.effect_noise((1200, 1200), 100).convert("RGB"), "PNG"),
            "image/png",
            413,
            "photo-too-large",
        ),
    ],
    ids=["mismatch", "not-a-photo", "undeclared", "bomb", "truncated", "oversized"],
)
async def test_a_refused_photo_is_a_problem_and_nothing_is_stored(
    client: httpx.AsyncClient,
    store: LocalStore,
    data: bytes,
    content_type: str,
    status: int,
    slug: str,
) -> None:
    response = await client.post(
        "/photos/p2", files=upload(data, content_type), headers={"Accept-Language": "en"}
    )

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/" + slug)
    assert body["detail"]
    assert not await store.exists("photos/p2/large.webp")
