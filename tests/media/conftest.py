"""A real S3 API over HTTP (moto's threaded server) for the object store tests."""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

from poche_api.media.storage import S3Store

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

S3_KEY = "testing"
S3_REGION = "eu-west-3"  # Paris, as the bucket below


def s3_client(endpoint: str) -> "ClientCreatorContext[S3Client]":
    """A plain S3 client, to arrange and inspect the bucket behind the store's back."""
    return get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest_asyncio.fixture(scope="session")
async def s3_bucket(s3_endpoint: str) -> str:
    """One bucket for the run; tests write under keys of their own."""
    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    async with s3_client(s3_endpoint) as s3:
        await s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
    return bucket


@pytest_asyncio.fixture
async def s3_store(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3Store]:
    store = S3Store(
        bucket=s3_bucket,
        endpoint_url=s3_endpoint,
        region=S3_REGION,
        access_key_id=S3_KEY,
        secret_access_key=S3_KEY,
    )
    yield store
    await store.aclose()
