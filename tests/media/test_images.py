"""Photos are checked, stripped of every metadata, turned upright and re-encoded to WebP."""

import asyncio
import io
import threading

import pytest
from PIL import Image

from poche_api.config import Settings
from poche_api.errors import PayloadTooLarge, PocheError, Unprocessable, UnsupportedMediaType
from poche_api.media import images
from poche_api.media.images import (
    PhotoLimits,
    PhotoProcessor,
    ProcessedPhoto,
    normalise_media_type,
    process_photo,
)
from tests.media.photos import (
    FORMATS,
    PIXEL_CHUNKS,
    encode,
    exif_with_gps,
    photo,
    png_header_only,
    two_halves,
    webp_chunks,
    webp_with_canvas,
)

LIMITS = PhotoLimits(max_bytes=10 * 1024 * 1024, max_pixels=50_000_000)


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def dominant(pixel: object) -> str:
    assert isinstance(pixel, tuple)
    red, _, blue = pixel
    return "red" if red > blue else "blue"


def slug(error: PocheError) -> str | None:
    return error.instance_slug


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_accepted_format_becomes_three_webp_variants(fmt: str) -> None:
    processed = process_photo(photo(fmt, (2000, 1500)), FORMATS[fmt], LIMITS)

    assert processed.source_type == FORMATS[fmt]
    sizes = {v.name: (v.width, v.height) for v in processed.variants}
    assert sizes == {"large": (1600, 1200), "medium": (800, 600), "thumb": (320, 240)}
    for variant in processed.variants:
        assert variant.content_type == "image/webp"
        image = reopen(variant.data)
        assert image.format == "WEBP"
        assert image.size == (variant.width, variant.height)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_stored_bytes_carry_no_exif_gps_xmp_or_colour_profile(fmt: str) -> None:
    original = photo(fmt)
    source = reopen(original)
    assert source.getexif().get_ifd(0x8825), "the test photo must carry GPS to begin with"
    assert "icc_profile" in source.info

    processed = process_photo(original, FORMATS[fmt], LIMITS)

    for variant in processed.variants:
        assert set(webp_chunks(variant.data)) <= PIXEL_CHUNKS
        image = reopen(variant.data)
        assert not image.getexif()
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)


def test_the_exif_orientation_is_applied_to_the_pixels() -> None:
    # Orientation 6: the sensor's left edge is the top of the picture.
    processed = process_photo(two_halves((300, 200), orientation=6), "image/jpeg", LIMITS)

    image = reopen(processed.variant("large").data).convert("RGB")
    assert image.size == (200, 300)
    assert dominant(image.getpixel((100, 20))) == "red"
    assert dominant(image.getpixel((100, 280))) == "blue"


def test_a_12_megapixel_jpeg_is_decoded_at_half_scale_for_its_large_variant() -> None:
    opened = Image.open(io.BytesIO(photo("JPEG", (4000, 3000))))

    large = images._decode_large(opened)

    assert opened.size == (2000, 1500)  # a quarter of the pixels decoded, not all 12 million
    assert large.size == (1600, 1200)


def test_small_photos_are_not_upscaled() -> None:
    processed = process_photo(photo("PNG", (100, 80)), "image/png", LIMITS)

    assert [(v.width, v.height) for v in processed.variants] == [(100, 80)] * 3


def test_transparency_survives() -> None:
    image = Image.new("RGBA", (64, 64), (0, 128, 0, 0))
    image.paste((0, 128, 0, 255), (16, 16, 48, 48))

    processed = process_photo(encode(image, "PNG"), "image/png", LIMITS)

    result = reopen(processed.variant("thumb").data)
    assert result.mode == "RGBA"
    assert result.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert result.getpixel((32, 32))[3] == 255  # type: ignore[index]


def test_a_broken_colour_profile_does_not_refuse_the_photo() -> None:
    data = encode(Image.new("RGB", (64, 48), (1, 2, 3)), "JPEG", icc_profile=b"not a profile")

    processed = process_photo(data, "image/jpeg", LIMITS)

    assert "icc_profile" not in reopen(processed.variant("large").data).info


def test_a_palette_image_is_widened_before_resizing() -> None:
    image = Image.new("RGB", (1000, 1000), (250, 200, 0)).convert("P")

    processed = process_photo(encode(image, "PNG"), "image/png", LIMITS)

    assert reopen(processed.variant("thumb").data).size == (320, 320)


def test_a_16_bit_greyscale_image_keeps_its_tones() -> None:
    image = Image.new("I;16", (64, 48), 32_768)

    processed = process_photo(encode(image, "PNG"), "image/png", LIMITS)

    red, green, blue = reopen(processed.variant("large").data).getpixel((10, 10))  # type: ignore[misc]
    assert 120 <= red <= 136
    assert red == green == blue


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("image/jpeg", "image/jpeg"),
        ("IMAGE/JPEG; charset=binary", "image/jpeg"),
        ("image/jpg", "image/jpeg"),
        ("image/pjpeg", "image/jpeg"),
        ("image/heif", "image/heic"),
    ],
)
def test_common_spellings_of_a_type_are_accepted(declared: str, expected: str) -> None:
    assert normalise_media_type(declared) == expected


def test_heic_declared_as_heif_is_accepted() -> None:
    assert process_photo(photo("HEIF"), "image/heif", LIMITS).source_type == "image/heic"


@pytest.mark.parametrize("declared", ["image/gif", "application/pdf", "", "image/avif"])
def test_a_type_that_is_not_an_accepted_photo_format_is_415(declared: str) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        process_photo(photo("JPEG"), declared, LIMITS)

    assert slug(refused.value) == "photo-type-unsupported"
    assert refused.value.extensions["supported_types"] == [
        "image/heic",
        "image/jpeg",
        "image/png",
        "image/webp",
    ]


@pytest.mark.parametrize(
    ("fmt", "declared"),
    [("PNG", "image/jpeg"), ("JPEG", "image/png"), ("WEBP", "image/heic"), ("HEIF", "image/webp")],
)
def test_content_of_another_photo_format_than_declared_is_415(fmt: str, declared: str) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        process_photo(photo(fmt), declared, LIMITS)

    assert slug(refused.value) == "photo-type-mismatch"
    assert refused.value.extensions == {"declared_type": declared, "detected_type": FORMATS[fmt]}


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"<html><body>not a photo</body></html>",
        encode(Image.new("RGB", (32, 32)), "GIF"),
        b"",
    ],
)
def test_content_that_is_no_accepted_photo_at_all_is_415(content: bytes) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        process_photo(content, "image/jpeg", LIMITS)

    assert slug(refused.value) == "photo-type-unsupported"


def test_a_file_past_the_byte_cap_is_413() -> None:
    data = photo("PNG", (300, 300))

    with pytest.raises(PayloadTooLarge) as refused:
        process_photo(data, "image/png", PhotoLimits(max_bytes=len(data) - 1, max_pixels=10**6))

    assert slug(refused.value) == "photo-too-large"
    assert refused.value.extensions["max_bytes"] == len(data) - 1


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8_000, 8_000),  # 64 MP: past our cap, under Pillow's own guard
        (100_000, 100_000),  # 10 GP: Pillow's guard fires while reading the header
        (1, 2**31 - 1),
    ],
)
def test_a_png_announcing_too_many_pixels_is_refused_before_decoding(
    width: int, height: int
) -> None:
    bomb = png_header_only(width, height)

    with pytest.raises(Unprocessable) as refused:
        process_photo(bomb, "image/png", LIMITS)

    # Decoding would have said "unreadable": there are no pixels behind the header.
    assert slug(refused.value) == "photo-too-many-pixels"
    assert refused.value.extensions["max_pixels"] == 50_000_000


@pytest.mark.parametrize(("width", "height"), [(8_000, 8_000), (16_000, 16_000)])
def test_a_webp_announcing_too_many_pixels_is_refused_before_decoding(
    width: int, height: int
) -> None:
    with pytest.raises(Unprocessable) as refused:
        process_photo(webp_with_canvas(width, height), "image/webp", LIMITS)

    assert slug(refused.value) == "photo-too-many-pixels"


def test_a_highly_compressible_image_past_the_pixel_cap_is_refused() -> None:
    bomb = encode(Image.new("L", (3000, 3000)), "PNG", optimize=True)
    assert len(bomb) < 20_000  # 9 MP in a few kilobytes

    with pytest.raises(Unprocessable) as refused:
        process_photo(bomb, "image/png", PhotoLimits(max_bytes=10**6, max_pixels=4_000_000))

    assert slug(refused.value) == "photo-too-many-pixels"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_a_truncated_photo_is_422(fmt: str) -> None:
    noisy = Image.effect_noise((400, 300), 64).convert("RGB")
    data = encode(noisy, fmt)

    with pytest.raises(Unprocessable) as refused:
        process_photo(data[: len(data) // 2], FORMATS[fmt], LIMITS)

    assert slug(refused.value) == "photo-unreadable"


def test_refusals_explain_themselves_in_french_and_english() -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        process_photo(photo("PNG"), "image/jpeg", LIMITS)

    assert refused.value.localized_detail("fr") == (
        "Le fichier est une image PNG, pas JPEG comme annoncé."
    )
    assert refused.value.localized_detail("en") == (
        "The file is a PNG image, not JPEG as declared."
    )


def test_limits_and_processor_come_from_settings() -> None:
    settings = Settings(media_max_upload_bytes=1234, media_max_pixels=5678, media_concurrency=3)

    processor = PhotoProcessor.from_settings(settings)

    assert processor.limits == PhotoLimits(max_bytes=1234, max_pixels=5678)
    assert PhotoLimits.from_settings(Settings()) == PhotoLimits(10 * 1024 * 1024, 50_000_000)


async def test_the_processor_gives_the_same_answer_off_the_event_loop() -> None:
    processor = PhotoProcessor(LIMITS, concurrency=1)
    data = photo("JPEG", (900, 600))

    results = await asyncio.gather(*(processor.process(data, "image/jpeg") for _ in range(3)))

    expected = process_photo(data, "image/jpeg", LIMITS)
    assert all(isinstance(result, ProcessedPhoto) for result in results)
    assert [v.data for v in results[0].variants] == [v.data for v in expected.variants]
    with pytest.raises(UnsupportedMediaType):
        await processor.process(data, "image/png")


class BlockedWork:
    """Stands in for process_photo inside the processor's threads, until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def __call__(self, data: bytes, declared_type: str, limits: PhotoLimits) -> ProcessedPhoto:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started.release()
        self.release.wait(timeout=30)
        with self._lock:
            self.running -= 1
        return process_photo(data, declared_type, limits)

    async def wait_started(self, count: int) -> None:
        for _ in range(count):
            assert await asyncio.to_thread(self.started.acquire, timeout=30)


async def test_no_more_photos_than_the_concurrency_are_decoded_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = BlockedWork()
    monkeypatch.setattr(images, "process_photo", work)
    processor = PhotoProcessor(LIMITS, concurrency=2)
    data = photo("JPEG", (400, 300))

    burst = [asyncio.create_task(processor.process(data, "image/jpeg")) for _ in range(5)]
    await work.wait_started(2)
    await asyncio.sleep(0)

    assert processor.busy == 2
    assert work.running == 2
    work.release.set()
    results = await asyncio.gather(*burst)
    assert len(results) == 5
    assert work.most_at_once == 2
    assert processor.busy == 0


async def test_a_caller_that_goes_away_keeps_its_slot_until_its_thread_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = BlockedWork()
    monkeypatch.setattr(images, "process_photo", work)
    processor = PhotoProcessor(LIMITS, concurrency=1)
    data = photo("JPEG", (400, 300))
    abandoned = asyncio.create_task(processor.process(data, "image/jpeg"))
    await work.wait_started(1)

    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    waiting = asyncio.create_task(processor.process(data, "image/jpeg"))
    await asyncio.sleep(0)

    assert processor.busy == 1  # the abandoned photo's thread still holds the only slot
    assert work.running == 1
    work.release.set()
    processed = await waiting
    assert processed.variant("thumb").width == 320
    assert work.most_at_once == 1
    assert processor.busy == 0


def test_exif_helper_really_writes_gps() -> None:
    assert exif_with_gps().get_ifd(0x8825)
