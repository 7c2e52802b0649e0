"""Where a document's bytes live: one small interface, two backends.

The bytes are stored under their SHA-256 (content-addressed): the same paper uploaded twice is
stored once, and a stored object is never changed or deleted while the claim is kept. The
database row is written after `put` has returned, in the request's transaction: a failure
midway leaves bytes without a row (harmless, found again by their hash), never a row without
bytes.

- `local`: a folder under the data directory, for `mutualaid up` (claims_api.documents.local_store).
- `s3`: an S3-compatible bucket, for production (claims_api.documents.s3_store)."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from services.kit.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from claims_api.settings import ClaimsSettings


class StorageUnavailable(UpstreamUnavailable):
    """The store cannot be reached or refused the write: the request fails with 503 and stores
    no document row."""


class DocumentStore(Protocol):
    async def put(self, sha256: str, source: Path, size: int) -> None:
        """Store the bytes of `source`, a finished local file of `size` bytes whose SHA-256
        (hex, lower case) is `sha256`. Storing bytes already stored is a no-op. Never leaves a
        partial object visible under `sha256`. Raises StorageUnavailable."""
        ...

    def read(self, sha256: str) -> AsyncIterator[bytes]:
        """The stored bytes, in chunks of at most 1 MiB (never all in memory at once).
        Raises StorageUnavailable; FileNotFoundError when nothing is stored under `sha256`."""
        ...

    async def check(self) -> None:
        """Readiness: the folder takes a file, the bucket answers. Raises StorageUnavailable."""
        ...

    async def close(self) -> None:
        """Release connections (the app's shutdown)."""
        ...


def document_store_from(settings: "ClaimsSettings") -> DocumentStore:
    """The backend the settings name (imported only when chosen)."""
    if settings.document_store == "s3":
        from claims_api.documents.s3_store import S3Store

        return S3Store.from_settings(settings)
    from claims_api.documents.local_store import LocalFolderStore

    return LocalFolderStore(Path(settings.documents_dir))
