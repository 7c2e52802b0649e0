"""The `local` document store: a folder on this host, one file per SHA-256.

A document lives at `<dir>/ab/cd/<sha256>` (two levels of two hex digits, so no folder holds
more than a few thousand files). It is written under a temporary name in its final folder,
flushed to disk and renamed in one step: a crash midway leaves at most a `.tmp-` file, never a
half file under the hash name. The file work runs in a worker thread (never on the event
loop); an operating-system error is the store being unavailable (503)."""

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread

from claims_api.documents.storage import StorageUnavailable

CHUNK_BYTES = 1024 * 1024
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
TEMPORARY_PREFIX = ".tmp-"


def checked_sha256(sha256: str) -> str:
    """The hash as given, if it is 64 lower-case hex digits: it names a file or an object key,
    so nothing else (a path, `..`) ever reaches the store."""
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise ValueError("a document is stored under its SHA-256 in 64 lower-case hex digits")
    return sha256


def unavailable(error: OSError) -> StorageUnavailable:
    return StorageUnavailable(f"the document folder cannot be used ({type(error).__name__})")


class LocalFolderStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_of(self, sha256: str) -> Path:
        sha256 = checked_sha256(sha256)
        return self.directory / sha256[0:2] / sha256[2:4] / sha256

    async def put(self, sha256: str, source: Path, size: int) -> None:
        target = self.path_of(sha256)
        try:
            await anyio.to_thread.run_sync(_write_once, Path(source), target, size)
        except OSError as error:
            # The source gone or short, the folder full or read-only: nothing is stored.
            raise unavailable(error) from error

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        try:
            handle = await anyio.to_thread.run_sync(_open_for_reading, path)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise unavailable(error) from error
        try:
            while True:
                try:
                    chunk = await anyio.to_thread.run_sync(handle.read, CHUNK_BYTES)
                except OSError as error:
                    raise unavailable(error) from error
                if not chunk:
                    return
                yield chunk
        finally:
            await anyio.to_thread.run_sync(handle.close)

    async def check(self) -> None:
        """Readiness: the folder exists (or can be made) and takes a file."""
        try:
            await anyio.to_thread.run_sync(_check_writable, self.directory)
        except OSError as error:
            raise unavailable(error) from error

    async def close(self) -> None:
        return None


def _open_for_reading(path: Path):
    if not path.is_file():
        # A folder or nothing under the hash is "not stored", the same as a missing file.
        raise FileNotFoundError(2, "no document is stored under this hash", str(path))
    return path.open("rb")


def _write_once(source: Path, target: Path, size: int) -> None:
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{TEMPORARY_PREFIX}{target.name}-{secrets.token_hex(8)}")
    try:
        with source.open("rb") as reader, temporary.open("xb") as writer:
            copied = 0
            while chunk := reader.read(CHUNK_BYTES):
                writer.write(chunk)
                copied += len(chunk)
            if copied != size:
                # The source changed under us: storing it under the hash would store a lie.
                raise OSError(f"the source has {copied} bytes, {size} were announced")
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """The rename itself is durable only once the folder's entry is on disk."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _check_writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f"{TEMPORARY_PREFIX}ready-{secrets.token_hex(8)}"
    probe.write_bytes(b"")
    probe.unlink()
