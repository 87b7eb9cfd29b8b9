"""Photo intake: check what was sent, then re-encode it to clean WebP variants.

Only pixels survive: EXIF (GPS included), XMP, ICC profiles and any other metadata are left
behind, the EXIF orientation is applied to the pixels first, and colours are converted to sRGB.
The original bytes are never kept.
"""

import asyncio
import io
import math
import struct
from dataclasses import dataclass
from typing import Literal

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, UnidentifiedImageError

from poche_api.config import Settings
from poche_api.media.problems import (
    photo_too_large,
    photo_too_many_pixels,
    photo_type_mismatch,
    photo_type_unsupported,
    photo_unreadable,
)

pillow_heif.register_heif_opener()

VariantName = Literal["large", "medium", "thumb"]
VARIANT_MAX_SIDES: dict[VariantName, int] = {"large": 1600, "medium": 800, "thumb": 320}
WEBP = "image/webp"
WEBP_QUALITY = 80

# Pillow format name -> the media type a client should declare for it.
_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
_ALIASES: dict[str, str] = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heif": "image/heic",
    "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heic",
}
SUPPORTED_TYPES = frozenset(_FORMATS.values())
# What Pillow and libheif raise on truncated or corrupt data.
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, RuntimeError, struct.error)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_RESIZABLE_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})
# What ImageOps.exif_transpose does, applied to the shrunk copy rather than the full image.
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    max_bytes: int
    max_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "PhotoLimits":
        return cls(max_bytes=settings.media_max_upload_bytes, max_pixels=settings.media_max_pixels)


@dataclass(frozen=True, slots=True)
class PhotoVariant:
    name: VariantName
    width: int
    height: int
    data: bytes
    content_type: str = WEBP


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    source_type: str
    """The media type sniffed from the bytes (image/jpeg, image/png, image/webp, image/heic)."""
    variants: tuple[PhotoVariant, ...]
    """large, medium, thumb: in that order, WebP, upright, never upscaled."""

    def variant(self, name: VariantName) -> PhotoVariant:
        return next(variant for variant in self.variants if variant.name == name)


def normalise_media_type(declared: str) -> str:
    media_type = declared.split(";", 1)[0].strip().lower()
    return _ALIASES.get(media_type, media_type)


def process_photo(data: bytes, declared_type: str, limits: PhotoLimits) -> ProcessedPhoto:
    """Check and re-encode one photo. CPU-bound and blocking: call it from a worker thread.

    413 past ``max_bytes``; 415 for an unsupported type or content that is not what was
    declared; 422 past ``max_pixels`` (read from the header, before any pixel is decoded)
    and for truncated or corrupt files.
    """
    if len(data) > limits.max_bytes:
        raise photo_too_large(limits.max_bytes)
    declared = normalise_media_type(declared_type)
    if declared not in SUPPORTED_TYPES:
        raise photo_type_unsupported(declared, SUPPORTED_TYPES)
    with _open(data, declared, limits.max_pixels) as image:
        source_type = _FORMATS[image.format or ""]
        if source_type != declared:
            raise photo_type_mismatch(declared, source_type)
        large = _decode_large(image)
        large = _upright(large, _orientation(image))
        large = _to_srgb(large, image.info.get("icc_profile"))
    return ProcessedPhoto(source_type=source_type, variants=_webp_variants(large))


def _open(data: bytes, declared: str, max_pixels: int) -> ImageFile.ImageFile:
    # Image.open reads the header only; Pillow's own bomb guard may fire in there already.
    try:
        image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise photo_too_many_pixels(max_pixels) from None
    except UnidentifiedImageError:
        raise photo_type_unsupported(declared, SUPPORTED_TYPES) from None
    except _UNREADABLE:
        raise photo_unreadable() from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise photo_too_many_pixels(max_pixels)
    return image


def _decode_large(image: ImageFile.ImageFile) -> Image.Image:
    """Decode, then shrink to the largest variant before any other work on the pixels."""
    largest = VARIANT_MAX_SIDES["large"]
    # JPEG can decode at 1/2, 1/4 or 1/8 scale for free. Ask for the large variant's own size:
    # draft keeps a scale only if it covers the box on both sides, so a square box would decode
    # a 4000×3000 phone photo whole (12 MP) for a 1600×1200 result, instead of at half scale.
    width, height = image.size
    scale = min(1.0, largest / max(width, height, 1))
    image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        image.load()
    except _UNREADABLE:
        raise photo_unreadable() from None
    large = _resizable(image)
    large.thumbnail((largest, largest), Image.Resampling.LANCZOS)
    return large


def _resizable(image: Image.Image) -> Image.Image:
    """A copy in a mode that resizes well; palette images would resize by nearest neighbour."""
    if image.mode in _RESIZABLE_MODES:
        return image.copy()
    if image.mode.startswith("I"):
        # 16-bit greyscale: scale down to 8 bits, where a plain conversion would clip to white.
        return image.convert("I").point(lambda value: value / 256).convert("L")
    return image.convert("RGBA" if _has_alpha(image) else "RGB")


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (*_UNREADABLE, TypeError):
        return 1  # unreadable EXIF: keep the pixels as stored rather than refuse the photo


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return image if method is None else image.transpose(method)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    mode = "RGBA" if _has_alpha(image) else "RGB"
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile: read the pixels as sRGB, as browsers do
        if converted is not None:
            converted.info = {}
            return converted
    clean = image.convert(mode)
    clean.info = {}
    return clean


def _webp_variants(large: Image.Image) -> tuple[PhotoVariant, ...]:
    variants = []
    current = large
    # Largest first, each from the previous one: close to resizing the original, and cheaper.
    for name, side in VARIANT_MAX_SIDES.items():
        if name != "large":
            current = current.copy()
            current.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        current.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
        variants.append(PhotoVariant(name, current.width, current.height, buffer.getvalue()))
    return tuple(variants)


class PhotoProcessor:
    """Runs ``process_photo`` in worker threads, at most ``concurrency`` at once.

    A burst of uploads queues here instead of decoding dozens of photos side by side.
    """

    def __init__(self, limits: PhotoLimits, *, concurrency: int) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(concurrency)
        self._busy = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> "PhotoProcessor":
        return cls(PhotoLimits.from_settings(settings), concurrency=settings.media_concurrency)

    async def process(self, data: bytes, declared_type: str) -> ProcessedPhoto:
        # The cheap refusals need no slot.
        if len(data) > self.limits.max_bytes:
            raise photo_too_large(self.limits.max_bytes)
        declared = normalise_media_type(declared_type)
        if declared not in SUPPORTED_TYPES:
            raise photo_type_unsupported(declared, SUPPORTED_TYPES)
        await self._slots.acquire()
        self._busy += 1
        work = asyncio.ensure_future(
            asyncio.to_thread(process_photo, data, declared_type, self.limits)
        )
        # A thread cannot be stopped: if the caller goes away (client disconnect), the slot
        # stays taken until the thread is done, so cancellations cannot lift the bound.
        work.add_done_callback(self._release)
        return await asyncio.shield(work)

    @property
    def busy(self) -> int:
        """Photos being processed right now (threads running or about to)."""
        return self._busy

    def _release(self, work: "asyncio.Future[ProcessedPhoto]") -> None:
        self._busy -= 1
        self._slots.release()
        if not work.cancelled():
            work.exception()  # retrieved, so an abandoned refusal is not logged as unhandled
