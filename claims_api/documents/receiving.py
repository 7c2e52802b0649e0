"""Receiving one uploaded document from the request's stream, before any database work.

FastAPI's `UploadFile` / `Form` would have Starlette read the whole body first; here the body
is parsed as it arrives (python-multipart's streaming parser), the file part written to a
temporary file and hashed (SHA-256) chunk by chunk, and the upload refused the moment a limit
is passed: a Content-Length that announces too much before a byte is read, the file's bytes as
they are counted, the whole body's. The type is told from the file's first bytes (`filetype`),
never from its name or the Content-Type the client declared.

The parsing, hashing and writing run in a worker thread, one hop per chunk of the stream: the
event loop never waits on the disk."""

import hashlib
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio.to_thread
import filetype
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from claims_api.problems import DOCUMENT_TOO_LARGE, DOCUMENT_TYPE_REFUSED
from services.kit.errors import InvalidInput, Problem
from services.kit.plan_rules import DOCUMENT_KINDS

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
"""10 MiB a file: 10,485,760 bytes are taken, one more is refused."""
ENVELOPE_ALLOWANCE = 16 * 1024
"""What the multipart envelope may add to the file (boundaries, part headers, the `kind`
field): a Content-Length above MAX_DOCUMENT_BYTES + this is refused before the body is read."""
MAX_BODY_BYTES = MAX_DOCUMENT_BYTES + ENVELOPE_ALLOWANCE
MAX_FIELD_BYTES = 64
MAX_BOUNDARY_CHARS = 70  # RFC 2046: a boundary is 1 to 70 characters
MAX_FILENAME_CHARS = 200
SNIFF_BYTES = 8192  # what filetype reads of a file's start
ACCEPTED_TYPES = ("image/jpeg", "image/png", "application/pdf")
# C0 and C1 controls, DEL, and the bidirectional marks, embeddings, overrides and isolates
# (a name shown as other text than it is): dropped from a file name kept for display.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class MalformedUpload(Problem):
    status, title, type_slug = 400, "Bad request", "bad-request"


@dataclass
class Received:
    """A document received whole: its bytes in `path` (a temporary file the caller removes)."""

    path: Path
    size: int
    sha256: str
    content_type: str
    kind: str
    filename: str | None


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Form:
    """The parser's callbacks: the `kind` field in memory, the `file` part to disk."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = bytearray()
        self.kind: bytearray | None = None
        self.file_seen = False
        self.filename: str | None = None
        self.finished = False
        self.part = _Part()
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.part = _Part()

    def _header_end(self) -> None:
        name = bytes(self._field).decode("latin-1").strip().lower()
        self.part.headers[name] = bytes(self._value).decode("latin-1")
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get("content-disposition", ""))
        name = options.get(b"name")
        self.part.name = name.decode("latin-1") if name is not None else None
        if self.part.name == "file":
            if self.file_seen:
                raise InvalidInput(["body", "file"], "one file per upload")
            self.file_seen = True
            raw = options.get(b"filename")
            # The header's bytes are UTF-8 as browsers and httpx send them (RFC 7578).
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
        elif self.part.name == "kind":
            if self.kind is not None:
                raise InvalidInput(["body", "kind"], "one kind per upload")
            self.kind = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.name == "file":
            self.size += len(chunk)
            if self.size > MAX_DOCUMENT_BYTES:
                raise too_large()
            if len(self.head) < SNIFF_BYTES:
                self.head.extend(chunk[: SNIFF_BYTES - len(self.head)])
            self.digest.update(chunk)
            self.target.write(chunk)
        elif self.part.name == "kind":
            assert self.kind is not None
            self.kind.extend(chunk)
            if len(self.kind) > MAX_FIELD_BYTES:
                raise InvalidInput(["body", "kind"], "not a document kind")
        # other parts are read past and dropped (their bytes count toward the body's limit)

    def _end(self) -> None:
        self.finished = True


def too_large() -> Problem:
    return DOCUMENT_TOO_LARGE.error(
        f"a document is at most {MAX_DOCUMENT_BYTES} bytes (10 MiB)",
        errors=[{"loc": ["body", "file"], "msg": "over 10 MiB"}],
    )


def refuse_announced_size(headers: Mapping[str, str]) -> None:
    """Before a byte of the body is read: a Content-Length over the file's limit and the
    envelope's allowance."""
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large()


def boundary_of(headers: Mapping[str, str]) -> bytes:
    content_type, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise DOCUMENT_TYPE_REFUSED.error(
            "an upload is multipart/form-data with the parts `file` and `kind`",
            errors=[{"loc": ["body"], "msg": "not multipart/form-data"}],
        )
    if len(boundary) > MAX_BOUNDARY_CHARS:
        raise MalformedUpload(
            f"a multipart boundary is at most {MAX_BOUNDARY_CHARS} characters (RFC 2046)"
        )
    return boundary


def display_name(filename: str | None) -> str | None:
    """The file name as given, for display only: its last path segment, NFC, without
    control or bidirectional characters, at most 200 characters."""
    if filename is None:
        return None
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSHOWABLE.sub("", name).strip()[:MAX_FILENAME_CHARS]
    return name or None


def content_type_of(head: bytes) -> str:
    """JPEG, PNG or PDF, by the file's first bytes (its magic numbers)."""
    kind = filetype.guess(bytes(head)) if head else None
    mime = kind.mime if kind is not None else None
    if mime not in ACCEPTED_TYPES:
        told = f"its bytes are {mime}" if mime else "its bytes are no known type"
        raise DOCUMENT_TYPE_REFUSED.error(
            f"a document is a JPEG, PNG or PDF; {told}",
            errors=[{"loc": ["body", "file"], "msg": "not a JPEG, PNG or PDF"}],
        )
    return mime


async def receive_document(headers: Mapping[str, str], stream: AsyncIterator[bytes]) -> Received:
    """Read the upload from `stream` to a temporary file; the caller removes `path`. Refused
    uploads leave no file behind."""
    refuse_announced_size(headers)
    parser_boundary = boundary_of(headers)
    handle = tempfile.NamedTemporaryFile(prefix="mutualaid-document-", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    try:
        form = _Form(handle)
        parser = MultipartParser(parser_boundary, form.callbacks())  # type: ignore[arg-type]
        body = 0
        async for chunk in stream:
            body += len(chunk)
            if body > MAX_BODY_BYTES:
                raise too_large()
            if chunk:
                await anyio.to_thread.run_sync(parser.write, chunk)
        await anyio.to_thread.run_sync(handle.close)
        if not form.finished:
            raise MalformedUpload("the multipart body ended before its closing boundary")
        return Received(
            path=path,
            size=form.size,
            sha256=form.digest.hexdigest(),
            content_type=_checked_file(form),
            kind=_checked_kind(form),
            filename=display_name(form.filename),
        )
    except FormParserError as error:
        # MultipartParseError and the parser's other refusals (a boundary it will not take)
        await anyio.to_thread.run_sync(_discard, handle, path)
        raise MalformedUpload(f"the multipart body cannot be read ({error})") from None
    except BaseException:
        await anyio.to_thread.run_sync(_discard, handle, path)
        raise


def _discard(handle: IO[bytes], path: Path) -> None:
    handle.close()
    path.unlink(missing_ok=True)


def _checked_file(form: _Form) -> str:
    if not form.file_seen:
        raise InvalidInput(["body", "file"], "field required")
    return content_type_of(bytes(form.head))


def _checked_kind(form: _Form) -> str:
    if form.kind is None:
        raise InvalidInput(["body", "kind"], "field required")
    kind = bytes(form.kind).decode("utf-8", "replace").strip()
    if kind not in DOCUMENT_KINDS:
        one_of = ", ".join(DOCUMENT_KINDS)
        raise InvalidInput(["body", "kind"], f"not a document kind; one of {one_of}")
    return kind


async def remove(received: Received) -> None:
    """The temporary file, once the store has the bytes (or failed to take them)."""
    await anyio.to_thread.run_sync(lambda: received.path.unlink(missing_ok=True))
