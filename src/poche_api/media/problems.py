"""The problems a photo upload or the photo store can answer, in French and English."""

from collections.abc import Iterable

from poche_api.errors import (
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMediaType,
)

_LABELS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/heic": "HEIC",
}


class StorageUnavailable(ServiceUnavailable):
    """The photo store (disk or object storage) did not answer as it should: retry later."""

    slug = "storage-unavailable"

    def __init__(self) -> None:
        super().__init__(
            (
                "Le stockage des photos est momentanément indisponible ; réessayez plus tard.",
                "Photo storage is temporarily unavailable; try again later.",
            ),
            headers={"Retry-After": "30"},
        )


def photo_too_large(max_bytes: int) -> PayloadTooLarge:
    mib = max_bytes / (1024 * 1024)
    return PayloadTooLarge(
        (f"La photo dépasse {mib:g} Mio.", f"The photo exceeds {mib:g} MiB."),
        slug="photo-too-large",
        max_bytes=max_bytes,
    )


def photo_type_unsupported(declared: str, supported: Iterable[str]) -> UnsupportedMediaType:
    accepted = sorted(supported)
    labels = ", ".join(_LABELS.get(media_type, media_type) for media_type in accepted)
    return UnsupportedMediaType(
        (
            f"Ce n'est pas une photo dans un format accepté ({labels}).",
            f"This is not a photo in an accepted format ({labels}).",
        ),
        slug="photo-type-unsupported",
        declared_type=declared,
        supported_types=accepted,
    )


def photo_type_mismatch(declared: str, detected: str) -> UnsupportedMediaType:
    found, announced = _LABELS.get(detected, detected), _LABELS.get(declared, declared)
    return UnsupportedMediaType(
        (
            f"Le fichier est une image {found}, pas {announced} comme annoncé.",
            f"The file is a {found} image, not {announced} as declared.",
        ),
        slug="photo-type-mismatch",
        declared_type=declared,
        detected_type=detected,
    )


def photo_too_many_pixels(max_pixels: int) -> Unprocessable:
    megapixels = max_pixels / 1_000_000
    return Unprocessable(
        (
            f"La photo dépasse {megapixels:g} mégapixels.",
            f"The photo exceeds {megapixels:g} megapixels.",
        ),
        slug="photo-too-many-pixels",
        max_pixels=max_pixels,
    )


def photo_unreadable() -> Unprocessable:
    return Unprocessable(
        ("La photo est tronquée ou illisible.", "The photo is truncated or unreadable."),
        slug="photo-unreadable",
    )
