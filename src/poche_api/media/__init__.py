"""Photos for any domain: check, strip, re-encode to WebP variants, keep in an object store.

A route reads a multipart part with ``process_upload(processor, upload)`` (413/415/422 problems),
stores each ``variant.data`` under a key of its own through an ``ObjectStore``, and records the
keys. ``PhotoProcessor.from_settings`` and ``store_from_settings`` build both from Settings.
"""

from poche_api.media.images import (
    SUPPORTED_TYPES,
    VARIANT_MAX_SIDES,
    PhotoLimits,
    PhotoProcessor,
    PhotoVariant,
    ProcessedPhoto,
    VariantName,
    normalise_media_type,
    process_photo,
)
from poche_api.media.problems import StorageUnavailable
from poche_api.media.storage import (
    InvalidKey,
    LocalStore,
    ObjectStore,
    S3Store,
    store_from_settings,
    validate_key,
)
from poche_api.media.uploads import process_upload, read_upload

__all__ = [
    "SUPPORTED_TYPES",
    "VARIANT_MAX_SIDES",
    "InvalidKey",
    "LocalStore",
    "ObjectStore",
    "PhotoLimits",
    "PhotoProcessor",
    "PhotoVariant",
    "ProcessedPhoto",
    "S3Store",
    "StorageUnavailable",
    "VariantName",
    "normalise_media_type",
    "process_photo",
    "process_upload",
    "read_upload",
    "store_from_settings",
    "validate_key",
]
