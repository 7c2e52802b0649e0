"""The document store's contract (claims_api.documents.storage), run against both backends: the
local folder and an S3 bucket (moto's server, a real process on loopback: tests/s3_server.py).

What a user notices: the paper they uploaded comes back byte for byte, the same paper is kept
once, a store that is down answers 503 (StorageUnavailable) instead of losing the upload, and a
failure midway never leaves a half paper that a later download would serve."""

import asyncio
import hashlib
import os
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from claims_api.documents.local_store import TEMPORARY_PREFIX, LocalFolderStore
from claims_api.documents.s3_store import S3Store
from claims_api.documents.storage import DocumentStore, StorageUnavailable, document_store_from
from claims_api.settings import ClaimsSettings
from tests.dates import clock_at
from tests.s3_server import CuttingProxy, MotoServer

MiB = 1024 * 1024


@dataclass
class Backend:
    name: str
    store: DocumentStore
    stored: Callable[[], list[str]]
    """Every name visible in the store (files under the folder, keys in the bucket)."""


def s3_store(server: MotoServer, bucket: str, **overrides: object) -> S3Store:
    settings = ClaimsSettings(environment="test", **{**server.settings(bucket), **overrides})
    store = document_store_from(settings)
    assert isinstance(store, S3Store)
    return store


def local_names(directory: Path) -> list[str]:
    return sorted(
        str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()
    )


@pytest.fixture(params=["local", "s3"])
async def stores(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    s3_server: MotoServer,
) -> AsyncIterator[Backend]:
    if request.param == "local":
        directory = tmp_path / "documents"
        store = document_store_from(
            ClaimsSettings(environment="test", document_store="local", documents_dir=str(directory))
        )
        assert isinstance(store, LocalFolderStore)
        yield Backend("local", store, lambda: local_names(directory))
    else:
        bucket = s3_server.fresh_bucket()
        store = s3_store(s3_server, bucket)
        yield Backend("s3", store, lambda: sorted(s3_server.keys(bucket)))
    await store.close()


def paper(directory: Path, content: bytes, name: str = "upload") -> tuple[str, Path]:
    path = directory / name
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest(), path


async def read_all(store: DocumentStore, sha256: str) -> tuple[bytes, list[int]]:
    chunks = [chunk async for chunk in store.read(sha256)]
    return b"".join(chunks), [len(chunk) for chunk in chunks]


@pytest.mark.parametrize("size", [1, 3 * MiB + 7, 10 * MiB])
async def test_a_paper_comes_back_byte_for_byte_in_chunks_of_at_most_1_mib(
    stores: Backend, tmp_path: Path, size: int
):
    content = os.urandom(size)
    sha256, source = paper(tmp_path, content)
    await stores.store.put(sha256, source, size)

    stored, chunk_sizes = await read_all(stores.store, sha256)
    assert stored == content
    assert max(chunk_sizes) <= MiB


async def test_the_same_paper_uploaded_twice_is_stored_once(stores: Backend, tmp_path: Path):
    content = b"%PDF-1.7 hospital invoice 2026-11-03"
    sha256, source = paper(tmp_path, content)
    await stores.store.put(sha256, source, len(content))
    await stores.store.put(sha256, source, len(content))
    assert len(stores.stored()) == 1

    # Already stored: the second put does not even look at its source.
    source.unlink()
    await stores.store.put(sha256, source, len(content))
    assert (await read_all(stores.store, sha256))[0] == content


async def test_papers_are_kept_under_their_sha256(stores: Backend, tmp_path: Path):
    first, first_source = paper(tmp_path, b"discharge summary", "first")
    second, second_source = paper(tmp_path, b"hospital invoice", "second")
    await stores.store.put(first, first_source, first_source.stat().st_size)
    await stores.store.put(second, second_source, second_source.stat().st_size)

    if stores.name == "local":
        assert stores.stored() == sorted(
            [f"{first[:2]}/{first[2:4]}/{first}", f"{second[:2]}/{second[2:4]}/{second}"]
        )
    else:
        assert stores.stored() == sorted([first, second])
    assert (await read_all(stores.store, first))[0] == b"discharge summary"
    assert (await read_all(stores.store, second))[0] == b"hospital invoice"


async def test_reading_a_hash_nothing_is_stored_under_is_file_not_found(stores: Backend):
    with pytest.raises(FileNotFoundError):
        await read_all(stores.store, hashlib.sha256(b"never uploaded").hexdigest())


@pytest.mark.parametrize(
    "name",
    [
        "../../../../etc/passwd",
        "ab/../../" + "0" * 55,
        "A" * 64,
        "0" * 63,
        "0" * 65,
        "g" * 64,
        "",
    ],
)
async def test_a_name_that_is_not_a_sha256_is_refused(stores: Backend, tmp_path: Path, name):
    _, source = paper(tmp_path, b"anything")
    with pytest.raises(ValueError):
        await stores.store.put(name, source, 8)
    with pytest.raises(ValueError):
        await read_all(stores.store, name)
    assert stores.stored() == []


async def test_a_source_shorter_than_announced_leaves_nothing_under_the_hash(
    stores: Backend, tmp_path: Path
):
    """The upload's temporary file truncated before it was stored (a crash of the writer)."""
    content = os.urandom(2 * MiB)
    sha256, source = paper(tmp_path, content)
    with source.open("r+b") as truncating:
        truncating.truncate(MiB)
    with pytest.raises(StorageUnavailable):
        await stores.store.put(sha256, source, len(content))
    assert stores.stored() == []
    with pytest.raises(FileNotFoundError):
        await read_all(stores.store, sha256)


async def test_twenty_concurrent_10_mib_puts_hold_far_less_than_their_bytes(
    stores: Backend, tmp_path: Path
):
    sources = [paper(tmp_path, os.urandom(10 * MiB), f"paper-{i}") for i in range(20)]
    tracemalloc.start()
    try:
        await asyncio.gather(
            *(stores.store.put(sha256, source, 10 * MiB) for sha256, source in sources)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 200 MiB of papers; each put holds at most a chunk or two of its file at a time.
    assert peak < 60 * MiB, f"{peak / MiB:.0f} MiB held at the peak"
    assert len(stores.stored()) == 20
    sha256, _ = sources[7]
    assert hashlib.sha256((await read_all(stores.store, sha256))[0]).hexdigest() == sha256


# --- the store down ---------------------------------------------------------------------------


async def test_a_document_folder_that_is_a_file_is_storage_unavailable(tmp_path: Path):
    blocked = tmp_path / "documents"
    blocked.write_text("not a folder")
    store = LocalFolderStore(blocked)
    sha256, source = paper(tmp_path, b"invoice")
    with pytest.raises(StorageUnavailable):
        await store.put(sha256, source, 7)
    with pytest.raises(StorageUnavailable):
        await store.check()
    assert blocked.read_text() == "not a folder"


async def test_a_bucket_nobody_listens_for_is_storage_unavailable(tmp_path: Path):
    from services.stack.launcher import free_port

    store = S3Store(
        bucket="claim-documents",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
        access_key_id="x",
        secret_access_key="y",
    )
    sha256, source = paper(tmp_path, b"invoice")
    try:
        with pytest.raises(StorageUnavailable):
            await store.put(sha256, source, 7)
        with pytest.raises(StorageUnavailable):
            await read_all(store, sha256)
        with pytest.raises(StorageUnavailable):
            await store.check()
    finally:
        await store.close()


async def test_a_bucket_server_that_stops_is_storage_unavailable_then_back(tmp_path: Path):
    server = MotoServer().start()
    store = s3_store(server, server.bucket)
    sha256, source = paper(tmp_path, b"invoice")
    try:
        await store.put(sha256, source, 7)
        await store.check()
        server.stop()
        with pytest.raises(StorageUnavailable):
            await read_all(store, sha256)
        with pytest.raises(StorageUnavailable):
            await store.put(hashlib.sha256(b"x").hexdigest(), source, 7)
        with pytest.raises(StorageUnavailable):
            await store.check()
    finally:
        server.stop()
        await store.close()


async def test_a_missing_bucket_or_wrong_keys_are_storage_unavailable(
    s3_server: MotoServer,
    tmp_path: Path,
):
    sha256, source = paper(tmp_path, b"invoice")
    store = s3_store(s3_server, "no-such-bucket")
    try:
        with pytest.raises(StorageUnavailable):
            await store.put(sha256, source, 7)
        with pytest.raises(StorageUnavailable):
            await store.check()
    finally:
        await store.close()


async def test_an_upload_cut_off_midway_leaves_nothing_in_the_bucket(
    s3_server: MotoServer,
    tmp_path: Path,
):
    bucket = s3_server.fresh_bucket()
    content = os.urandom(4 * MiB)
    sha256, source = paper(tmp_path, content)
    async with CuttingProxy(s3_server.port, cut_after=MiB) as proxy:
        store = s3_store(s3_server, bucket, s3_endpoint_url=proxy.endpoint_url)
        try:
            with pytest.raises(StorageUnavailable):
                await store.put(sha256, source, len(content))
        finally:
            await store.close()
    assert proxy.connections >= 1
    assert s3_server.keys(bucket) == []


async def test_a_local_paper_is_invisible_under_its_hash_until_written_whole(tmp_path: Path):
    """A writer that stops midway (the FIFO's writer closing after half the bytes): while the
    bytes arrive only a temporary name exists, and when they stop short nothing is left."""
    directory = tmp_path / "documents"
    store = LocalFolderStore(directory)
    content = os.urandom(2 * MiB)
    sha256 = hashlib.sha256(content).hexdigest()
    fifo = tmp_path / "arriving"
    os.mkfifo(fifo)

    putting = asyncio.ensure_future(store.put(sha256, fifo, len(content)))
    writer = await asyncio.to_thread(open, fifo, "wb")
    await asyncio.to_thread(writer.write, content[:MiB])
    await asyncio.to_thread(writer.flush)
    await asyncio.wait_for(asyncio.to_thread(_wait_for_temporary_file, directory), 10)
    assert not store.path_of(sha256).exists()
    await asyncio.to_thread(writer.close)

    with pytest.raises(StorageUnavailable):
        await putting
    assert local_names(directory) == []


def _wait_for_temporary_file(directory: Path) -> None:
    while not (directory.exists() and any(directory.rglob(f"{TEMPORARY_PREFIX}*"))):
        time.sleep(0.01)


# --- settings ---------------------------------------------------------------------------------


def test_the_s3_store_without_its_bucket_refuses_to_start():
    with pytest.raises(ValueError, match="CLAIMS_S3_BUCKET"):
        ClaimsSettings(document_store="s3", s3_endpoint_url="http://127.0.0.1:9000")


def test_the_s3_store_in_production_needs_its_keys():
    from services.kit.settings import MIN_PRODUCTION_SECRET_LENGTH

    production = {
        "environment": "production",
        "jwt_secret": "s" * MIN_PRODUCTION_SECRET_LENGTH,
        "allow_local_tokens": True,
        "database_url": "postgresql+asyncpg://claims@db/claims",
    }
    bucket = {"s3_endpoint_url": "http://minio:9000", "s3_bucket": "claim-documents"}
    with clock_at(None):  # production runs on the real clock
        with pytest.raises(ValueError, match="CLAIMS_S3_SECRET_ACCESS_KEY"):
            ClaimsSettings(**production, **bucket, document_store="s3", s3_access_key_id="c")
        keys = {"s3_access_key_id": "claims", "s3_secret_access_key": "k" * 40}
        assert ClaimsSettings(**production, **bucket, **keys, document_store="s3")
        # One host keeping its papers on its own disk is a production set-up too (README).
        assert ClaimsSettings(**production, document_store="local").document_store == "local"
