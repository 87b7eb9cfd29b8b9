"""Where photo bytes live: a local folder by default, S3-compatible object storage in production.

Keys are made by our code (``photos/<uuid>/large.webp``), never taken from a client; they are
still validated so that no key can step out of the store. A store that fails to answer raises
StorageUnavailable (503), never a bare error.
"""

import asyncio
import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from poche_api.config import Environment, Settings
from poche_api.media.problems import StorageUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

logger = logging.getLogger(__name__)

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,15}")
_MAX_KEY_LENGTH = 512
_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}


class InvalidKey(ValueError):
    """A key that is not a relative path of plain segments (a bug in the caller, not a 4xx)."""


def validate_key(key: str) -> str:
    """``a/b.webp``-style keys only: no leading slash, no ``..``, no hidden or empty segment."""
    if len(key) > _MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidKey(f"invalid object key: {key!r}")
    return key


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    async def exists(self, key: str) -> bool: ...

    async def aclose(self) -> None: ...


class LocalStore:
    """Files under ``root``; each write lands whole or not at all (temporary file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        return self.root / validate_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_of(key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            logger.error("media.local.put_failed", extra={"key": key, "error": str(exc)})
            raise StorageUnavailable from exc

    async def get(self, key: str) -> bytes | None:
        path = self.path_of(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            logger.error("media.local.get_failed", extra={"key": key, "error": str(exc)})
            raise StorageUnavailable from exc

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            logger.error("media.local.delete_failed", extra={"key": key, "error": str(exc)})
            raise StorageUnavailable from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def aclose(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name starts with a dot, which no valid key does: readers never see it.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # The rename itself must survive a crash, or a committed report could point at nothing.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class S3Store:
    """One bucket of an S3-compatible service; the client opens on first use."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "path",
        timeout_seconds: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self._client_options = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._config = AioConfig(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": addressing_style},
            # botocore ≥ 1.36 adds CRC checksums (aws-chunked uploads) by default, which several
            # S3-compatible services refuse; send them only where the API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._exit_stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self._opening = asyncio.Lock()

    async def _s3(self) -> "S3Client":
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    client = get_session().create_client(
                        "s3",
                        endpoint_url=self._client_options["endpoint_url"],
                        region_name=self._client_options["region_name"],
                        aws_access_key_id=self._client_options["aws_access_key_id"],
                        aws_secret_access_key=self._client_options["aws_secret_access_key"],
                        config=self._config,
                    )
                    self._client = await self._exit_stack.enter_async_context(client)
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        try:
            s3 = await self._s3()
            await s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("put", key, exc) from exc

    async def get(self, key: str) -> bytes | None:
        validate_key(key)
        try:
            s3 = await self._s3()
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
            async with answer["Body"] as body:
                return await body.read()
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise self._unavailable("get", key, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("get", key, exc) from exc

    async def delete(self, key: str) -> None:
        validate_key(key)
        try:
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("delete", key, exc) from exc

    async def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            s3 = await self._s3()
            await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise self._unavailable("exists", key, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("exists", key, exc) from exc
        return True

    async def aclose(self) -> None:
        self._client = None
        await self._exit_stack.aclose()

    def _unavailable(self, operation: str, key: str, exc: Exception) -> StorageUnavailable:
        logger.error(
            "media.s3.failed",
            extra={"operation": operation, "bucket": self.bucket, "key": key, "error": str(exc)},
        )
        return StorageUnavailable()


def _is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return str(error.get("Code")) in _NOT_FOUND_CODES


def store_from_settings(settings: Settings) -> ObjectStore:
    if settings.media_storage == "s3" and settings.media_s3_bucket:
        secret = settings.media_s3_secret_access_key
        return S3Store(
            bucket=settings.media_s3_bucket,
            endpoint_url=settings.media_s3_endpoint_url,
            region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            addressing_style=settings.media_s3_addressing_style,
            timeout_seconds=settings.http_timeout_seconds,
        )
    if settings.env is Environment.production:
        logger.warning(
            "media.local_storage_in_production",
            extra={"root": str(settings.media_root)},
        )
    return LocalStore(settings.media_root)
