"""Both photo stores keep bytes whole under safe keys; a store that fails answers 503."""

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from poche_api.config import Settings
from poche_api.media.problems import StorageUnavailable
from poche_api.media.storage import (
    InvalidKey,
    LocalStore,
    ObjectStore,
    S3Store,
    store_from_settings,
    validate_key,
)
from tests.media.conftest import S3_REGION, s3_client
from tests.test_config import PRODUCTION

PHOTO = b"RIFF\x00\x00\x00\x00WEBPVP8 pretend pixels"


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "media")


@pytest.fixture(params=["local_store", "s3_store"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    store: ObjectStore = request.getfixturevalue(request.param)
    return store


async def test_a_stored_object_reads_back_byte_for_byte(store: ObjectStore) -> None:
    await store.put("photos/a1/large.webp", PHOTO, "image/webp")

    assert await store.get("photos/a1/large.webp") == PHOTO
    assert await store.exists("photos/a1/large.webp")


async def test_a_missing_object_is_none_not_an_error(store: ObjectStore) -> None:
    assert await store.get("photos/nothing/large.webp") is None
    assert not await store.exists("photos/nothing/large.webp")


async def test_a_put_replaces_the_previous_bytes(store: ObjectStore) -> None:
    await store.put("photos/a2/thumb.webp", b"first", "image/webp")
    await store.put("photos/a2/thumb.webp", b"second", "image/webp")

    assert await store.get("photos/a2/thumb.webp") == b"second"


async def test_delete_removes_and_is_idempotent(store: ObjectStore) -> None:
    await store.put("photos/a3/medium.webp", PHOTO, "image/webp")

    await store.delete("photos/a3/medium.webp")
    await store.delete("photos/a3/medium.webp")

    assert await store.get("photos/a3/medium.webp") is None
    assert not await store.exists("photos/a3/medium.webp")


async def test_concurrent_puts_leave_one_whole_object(store: ObjectStore) -> None:
    bodies = [bytes([n]) * 200_000 for n in range(8)]

    await asyncio.gather(*(store.put("photos/race/large.webp", b, "image/webp") for b in bodies))

    assert await store.get("photos/race/large.webp") in bodies


@pytest.mark.parametrize(
    "key",
    [
        "../outside.webp",
        "photos/../../etc/passwd",
        "/etc/passwd",
        "photos//large.webp",
        "photos/.hidden",
        "photos/a/",
        "photos\\a.webp",
        "photos/a\x00.webp",
        "",
        "a" * 600,
    ],
)
async def test_keys_that_could_leave_the_store_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, PHOTO, "image/webp")
    with pytest.raises(InvalidKey):
        await store.get(key)


def test_plain_keys_are_valid() -> None:
    assert validate_key("photos/0b8e4c1e-3f/large.webp") == "photos/0b8e4c1e-3f/large.webp"


async def test_the_local_store_writes_under_its_root_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "media")

    await store.put("photos/b1/large.webp", PHOTO, "image/webp")

    files = await asyncio.to_thread(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
    assert [p.relative_to(tmp_path) for p in files] == [Path("media/photos/b1/large.webp")]


async def test_an_unwritable_local_store_is_a_503(tmp_path: Path) -> None:
    (tmp_path / "media").write_bytes(b"a file where the folder should be")
    store = LocalStore(tmp_path / "media")

    with pytest.raises(StorageUnavailable) as refused:
        await store.put("photos/b2/large.webp", PHOTO, "image/webp")

    assert refused.value.status_code == 503
    assert refused.value.headers["Retry-After"] == "30"


async def test_the_s3_object_carries_its_content_type(
    s3_store: S3Store, s3_endpoint: str, s3_bucket: str
) -> None:
    await s3_store.put("photos/c1/thumb.webp", PHOTO, "image/webp")

    async with s3_client(s3_endpoint) as s3:
        head = await s3.head_object(Bucket=s3_bucket, Key="photos/c1/thumb.webp")
    assert head["ContentType"] == "image/webp"
    assert head["ContentLength"] == len(PHOTO)


async def test_an_unknown_bucket_is_a_503(s3_endpoint: str) -> None:
    store = S3Store(
        bucket="no-such-bucket",
        endpoint_url=s3_endpoint,
        region=S3_REGION,
        access_key_id="testing",
        secret_access_key="testing",
    )
    try:
        with pytest.raises(StorageUnavailable):
            await store.put("photos/c2/large.webp", PHOTO, "image/webp")
    finally:
        await store.aclose()


async def test_an_unreachable_s3_endpoint_is_a_503() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = S3Store(
        bucket="photos",
        endpoint_url=f"http://127.0.0.1:{port}",
        region=S3_REGION,
        access_key_id="testing",
        secret_access_key="testing",
        timeout_seconds=2,
    )
    try:
        with pytest.raises(StorageUnavailable):
            await store.get("photos/c3/large.webp")
    finally:
        await store.aclose()


def test_the_default_store_is_a_folder_in_the_data_dir(tmp_path: Path) -> None:
    store = store_from_settings(Settings(data_dir=tmp_path))

    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "media"


def test_s3_settings_give_an_s3_store() -> None:
    settings = Settings(
        media_storage="s3",
        media_s3_bucket="poche-photos",
        media_s3_endpoint_url="https://s3.fr-par.scw.cloud",
        media_s3_region="fr-par",
    )

    store = store_from_settings(settings)

    assert isinstance(store, S3Store)
    assert store.bucket == "poche-photos"


def test_local_storage_in_production_is_allowed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(**PRODUCTION, media_local_root=tmp_path)  # type: ignore[arg-type]

    with caplog.at_level(logging.WARNING, logger="poche_api.media.storage"):
        store = store_from_settings(settings)

    assert isinstance(store, LocalStore)
    assert [r.message for r in caplog.records] == ["media.local_storage_in_production"]
