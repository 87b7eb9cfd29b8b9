"""Reading a multipart photo part without holding more than the cap in memory."""

from fastapi import UploadFile

from poche_api.media.images import PhotoProcessor, ProcessedPhoto
from poche_api.media.problems import photo_too_large

_CHUNK = 256 * 1024


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The part's bytes, or 413 as soon as they pass ``max_bytes``."""
    if upload.size is not None and upload.size > max_bytes:
        raise photo_too_large(max_bytes)
    chunks: list[bytes] = []
    received = 0
    while chunk := await upload.read(_CHUNK):
        received += len(chunk)
        if received > max_bytes:
            raise photo_too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def process_upload(processor: PhotoProcessor, upload: UploadFile) -> ProcessedPhoto:
    """Read one multipart photo and re-encode it; the part's Content-Type is the declared type."""
    data = await read_upload(upload, processor.limits.max_bytes)
    return await processor.process(data, upload.content_type or "application/octet-stream")
