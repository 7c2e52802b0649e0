"""The `s3` document store: an S3-compatible bucket (MinIO, Ceph, AWS) over aiobotocore.

An object's key is its SHA-256; it is sent with that SHA-256 as its `x-amz-checksum-sha256`,
so a bucket that checks checksums (AWS, MinIO) refuses bytes that are not the ones the hash
names. A single PUT is atomic: a put cut off midway leaves no object under the key. The body
is the open file itself, streamed in chunks (never the whole document in memory), so twenty
uploads at once hold twenty file handles, not twenty documents.

One client (one connection pool) serves the app's life: made at the first use, closed by
`close()`. A bucket that cannot be reached, times out or answers an error is
StorageUnavailable (503); only "no such key" is FileNotFoundError (on a read; before a put, a
403 counts as "not stored" too: NOT_STORED_ON_HEAD)."""

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio.to_thread
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from claims_api.documents.local_store import CHUNK_BYTES, checked_sha256
from claims_api.documents.storage import StorageUnavailable

if TYPE_CHECKING:
    from claims_api.settings import ClaimsSettings

NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
NOT_STORED_ON_HEAD = NOT_FOUND_CODES | {"403", "Forbidden", "AccessDenied"}
"""AWS answers a HEAD on a missing key with 403 when the keys lack s3:ListBucket. The key is
the bytes' hash, so putting bytes already there is harmless: 403 goes on to the PUT, where a
real lack of permission shows (s3:PutObject)."""
# What a bucket that is down, slow or refusing looks like from here.
TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


class S3Store:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        connect_timeout_seconds: float = 2.0,
        read_timeout_seconds: float = 10.0,
        max_attempts: int = 2,
    ) -> None:
        self.bucket = bucket
        self._client_arguments: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": AioConfig(
                connect_timeout=connect_timeout_seconds,
                read_timeout=read_timeout_seconds,
                retries={"max_attempts": max_attempts, "mode": "standard"},
                # Checksums only where S3 demands one: ours is the SHA-256 we already have, not
                # a CRC32 computed by reading the file again on the event loop.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"},
            ),
        }
        self._exit_stack: AsyncExitStack | None = None
        self._client: Any = None
        self._opening = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: "ClaimsSettings") -> "S3Store":
        if not settings.s3_bucket:
            raise ValueError("document_store=s3 needs CLAIMS_S3_BUCKET")
        secret = settings.s3_secret_access_key
        return cls(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            connect_timeout_seconds=settings.s3_connect_timeout_seconds,
            read_timeout_seconds=settings.s3_read_timeout_seconds,
            max_attempts=settings.s3_max_attempts,
        )

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                stack = AsyncExitStack()
                try:
                    self._client = await stack.enter_async_context(
                        get_session().create_client("s3", **self._client_arguments)
                    )
                except TRANSPORT_ERRORS as error:
                    await stack.aclose()
                    raise unavailable(error) from error
                self._exit_stack = stack
        return self._client

    async def put(self, sha256: str, source: Path, size: int) -> None:
        key = checked_sha256(sha256)
        client = await self._s3()
        try:
            if await self._exists(client, key):
                return
            handle = await anyio.to_thread.run_sync(open, Path(source), "rb")
            try:
                actual = await anyio.to_thread.run_sync(_size_of, handle)
                if actual != size:
                    raise StorageUnavailable(
                        f"the document's file has {actual} bytes, {size} were announced"
                    )
                await client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=handle,
                    ContentLength=size,
                    ContentType="application/octet-stream",
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(key)).decode("ascii"),
                )
            finally:
                await anyio.to_thread.run_sync(handle.close)
        except ClientError as error:
            raise unavailable(error) from error
        except TRANSPORT_ERRORS as error:
            raise unavailable(error) from error

    async def _exists(self, client: Any, key: str) -> bool:
        try:
            await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in NOT_STORED_ON_HEAD:
                return False
            raise
        return True

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        key = checked_sha256(sha256)
        client = await self._s3()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in NOT_FOUND_CODES:
                raise FileNotFoundError(2, "no document is stored under this hash", key) from None
            raise unavailable(error) from error
        except TRANSPORT_ERRORS as error:
            raise unavailable(error) from error
        body = response["Body"]
        try:
            while True:
                try:
                    chunk = await body.read(CHUNK_BYTES)
                except TRANSPORT_ERRORS as error:
                    raise unavailable(error) from error
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def check(self) -> None:
        """Readiness: the bucket answers and these keys may use it."""
        client = await self._s3()
        try:
            await client.head_bucket(Bucket=self.bucket)
        except (ClientError, *TRANSPORT_ERRORS) as error:
            raise unavailable(error) from error

    async def close(self) -> None:
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()


def _size_of(handle: Any) -> int:
    return os.fstat(handle.fileno()).st_size


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def unavailable(error: Exception) -> StorageUnavailable:
    if isinstance(error, ClientError):
        reason = _error_code(error) or "an error"
        return StorageUnavailable(f"the document bucket answered {reason}")
    return StorageUnavailable(f"the document bucket cannot be reached ({type(error).__name__})")
