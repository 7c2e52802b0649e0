"""Uploaded spreadsheets (CSV or XLSX), measured before they are trusted, then read line by line.

Both services take lists as files: the registry an enrolment list (members_api.enrollments),
the claims service the bank's result file of a payment batch (claims_api.payouts). What such a
file may weigh is the same question for both, answered here with the limits each one gives:

- A 1 MB XLSX can inflate to gigabytes (a zip bomb), one cell can hold a whole file, a sheet can
  declare a million blank rows: openpyxl would build all of it in memory. So the workbook's zip
  is measured first: its list of parts from the zip's end records (before zipfile builds an
  entry for each of a million parts), then part by part, inflating into a small buffer (a zip
  can lie about its sizes) and running the XML through expat without building anything; only
  a workbook within every limit reaches openpyxl.
- Every part is read as XML, whatever its name: openpyxl finds a sheet through the workbook's
  relationships and [Content_Types].xml, so a sheet named xl/worksheets/sheet1.bin is read by
  it like any other, and is measured like any other here. A part that expat finds is not XML
  (a picture, printer settings) is only counted from there on: openpyxl reads its XML with the
  same expat (xml.etree), so it cannot take more from such a part than the scan measured.
- The CSV path has the same row, column and cell limits, and reads no line past its limit.

Every refusal is a problem naming its rule in `code` (services.kit.problems UPLOAD_LIMITS),
within the time it takes to inflate the first `max_inflated_bytes`. A caller runs all of this
before its request touches the database (in a worker thread: it is CPU work), so that a file
refused by a limit, or slow to read, holds no lock.

An upload arrives as a temporary file (Starlette spools it to disk past 1 MiB): CSV is read
through a text wrapper over that file, XLSX with openpyxl's read-only mode. CSV is UTF-8 (with
or without BOM) or, failing that, GB18030 (what Excel, WPS and banks' systems save in China)."""

import codecs
import csv
import hashlib
import io
import itertools
import pyexpat
import re
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import IO, Any, Literal

from openpyxl import load_workbook

from services.kit import problems
from services.kit.errors import InvalidInput, Problem, UnsupportedMediaType
from services.kit.problems import ProblemType

Format = Literal["csv", "xlsx"]
CSV_TYPES = {"text/csv", "application/csv", "text/comma-separated-values"}
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
_READ = 1 << 20
_CHUNK = 1 << 16
# Parts that must be XML: one of these that is not is refused (any other part may be binary).
_XML_PARTS = (".xml", ".rels", ".vml")
# Elements that begin one value as openpyxl reads it: a cell, a shared string, a row.
_VALUE_STARTS = frozenset({"c", "si", "row"})


@dataclass(frozen=True)
class UploadLimits:
    """What one kind of uploaded list may weigh."""

    max_lines: int
    """Lines after the header, blank ones included (a file of blank rows costs as much)."""
    max_cell_chars: int = 131_072
    """Characters of one cell: csv's own field size limit, which the CSV reader enforces."""
    max_columns: int = 1_000
    """Cells of one row (an XLSX cell in column XFD makes a row of 16,384)."""
    max_line_chars: int = 1 << 20
    """Characters of one CSV line (a quoted cell may span lines; each is read up to this)."""
    max_zip_parts: int = 100
    max_central_directory_bytes: int = 100 * 1024
    """The zip's list of parts (an entry is 46 bytes, its name and extra fields: a part's name
    is under 100 characters in every workbook an office suite writes)."""
    max_inflated_bytes: int = 64 << 20
    """An XLSX's parts inflated, all together."""
    max_compression_ratio: int = 100
    """How many times a part inflating past `ratio_floor` bytes may inflate (sheets written by
    Excel, WPS or openpyxl: 5 to 20 times)."""
    ratio_floor: int = 1 << 20


# --- refusals --------------------------------------------------------------------------------


def refusal(limit: ProblemType, detail: str) -> Problem:
    """A problem about the uploaded file: `code` names the limit, `errors` the field."""
    return limit.error(detail, errors=[{"loc": ["file"], "msg": detail, "code": limit.code}])


def too_many_lines(limits: UploadLimits) -> Problem:
    detail = f"more than {limits.max_lines} rows (blank rows count): split the list"
    return refusal(problems.TOO_MANY_ROWS, detail)


def too_many_columns(limits: UploadLimits, where: str) -> Problem:
    return refusal(problems.TOO_MANY_COLUMNS, f"{where}: more than {limits.max_columns} cells")


def cell_too_long(limits: UploadLimits, where: str) -> Problem:
    detail = f"{where}: a cell holds more than {limits.max_cell_chars} characters"
    return refusal(problems.CELL_TOO_LONG, detail)


def line_too_long(limits: UploadLimits, line: int) -> Problem:
    detail = f"line {line} is longer than {limits.max_line_chars} characters"
    return refusal(problems.LINE_TOO_LONG, detail)


def sha256_of(file: IO[bytes]) -> str:
    """The file's SHA-256 (what an audit event names it by); leaves it at its start."""
    digest = hashlib.sha256()
    file.seek(0)
    while chunk := file.read(_READ):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


# --- the kind of file ------------------------------------------------------------------------


def file_kind(file: IO[bytes], filename: str | None, content_type: str | None) -> Format:
    """XLSX when the bytes are a zip, whatever the name says; CSV by its name or type; 415
    for anything else (an old .xls, a PDF)."""
    head = file.read(8)
    file.seek(0)
    suffix = PurePath(filename or "").suffix.lower()
    media = (content_type or "").split(";")[0].strip().lower()
    if head.startswith(_ZIP):
        return "xlsx"  # openpyxl decides whether it is a workbook
    if head.startswith(_OLE):
        raise UnsupportedMediaType(
            "this is an Excel 97-2003 (.xls) file: save it as .xlsx or as CSV and upload again"
        )
    if suffix == ".csv" or media in CSV_TYPES:
        return "csv"
    raise UnsupportedMediaType(
        f"cannot read {filename or 'the file'} ({media or 'no type'}): upload a CSV or XLSX file"
    )


# --- XLSX: measured, then read ---------------------------------------------------------------


def measure_workbook(file: IO[bytes], limits: UploadLimits) -> None:
    """Refuse a workbook over a limit; leaves `file` at its start. 413 for its size or its
    rows, 422 for a cell or a row's cells, 415 for what is not a zip or declares a DTD."""
    _measure_central_directory(file, limits)  # before zipfile builds an entry for every part
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsupportedMediaType(f"not an XLSX workbook: {exc}") from None
    with archive:
        parts = archive.infolist()
        if len(parts) > limits.max_zip_parts:
            raise _too_many_parts(limits)
        if sum(part.file_size for part in parts) > limits.max_inflated_bytes:
            raise _inflates_too_much(limits)
        inflated = 0
        for part in parts:
            inflated = _measure_part(archive, part, inflated, limits)
    file.seek(0)


# The End Of Central Directory record (22 bytes and a comment of up to 65,535), the Zip64
# locator before it (20 bytes) and the Zip64 record it points to (56 bytes).
_END = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def _measure_central_directory(file: IO[bytes], limits: UploadLimits) -> None:
    """Read the number of parts and the central directory's size from the zip's end records,
    and refuse too many before zipfile reads the directory (it would build an entry for each
    of a million parts). zipfile reads the directory by its size, not by the count, so the
    size is bounded too. A file without the records is left for zipfile to refuse."""
    file.seek(0, 2)
    length = file.tell()
    start = max(0, length - _END.size - 0xFFFF - _ZIP64_LOCATOR.size)
    file.seek(start)
    tail = file.read()
    file.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        return
    _, _, _, on_disk, total, directory_size, _, _ = _END.unpack_from(tail, at)
    counts = [on_disk, total]
    if at >= _ZIP64_LOCATOR.size and tail.startswith(b"PK\x06\x07", at - _ZIP64_LOCATOR.size):
        _, _, zip64_at, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        file.seek(zip64_at)
        record = file.read(_ZIP64_END.size)
        file.seek(0)
        if len(record) == _ZIP64_END.size and record.startswith(b"PK\x06\x06"):
            fields = _ZIP64_END.unpack(record)  # its counts and size stand for the 0xFFFFs
            counts, directory_size = [fields[6], fields[7]], fields[8]
    if max(counts) > limits.max_zip_parts:
        raise _too_many_parts(limits)
    if directory_size > limits.max_central_directory_bytes:
        detail = (
            f"the workbook's list of parts is larger than {limits.max_central_directory_bytes} "
            f"bytes (more than {limits.max_zip_parts} parts, or names no office suite writes)"
        )
        raise refusal(problems.TOO_MANY_ZIP_PARTS, detail)


def _too_many_parts(limits: UploadLimits) -> Problem:
    detail = f"the workbook has more than {limits.max_zip_parts} parts"
    return refusal(problems.TOO_MANY_ZIP_PARTS, detail)


def _inflates_too_much(limits: UploadLimits) -> Problem:
    return refusal(
        problems.INFLATED_TOO_LARGE,
        f"the workbook inflates to more than {limits.max_inflated_bytes} bytes: split the list",
    )


def _measure_part(
    archive: zipfile.ZipFile, part: zipfile.ZipInfo, inflated: int, limits: UploadLimits
) -> int:
    """Inflate one part chunk by chunk (what its header declares is not believed); answers
    the bytes inflated so far, all parts together."""
    must_be_xml = part.filename.lower().endswith(_XML_PARTS)
    scan: _XmlScan | None = _XmlScan(part.filename, must_be_xml, limits)
    size = 0
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                inflated += len(chunk)
                if inflated > limits.max_inflated_bytes:
                    raise _inflates_too_much(limits)
                ratio = limits.max_compression_ratio
                if size > limits.ratio_floor and size > ratio * part.compress_size:
                    raise refusal(
                        problems.COMPRESSION_RATIO,
                        f"{part.filename} inflates more than {ratio} times: "
                        "not a spreadsheet an office suite writes",
                    )
                if scan is not None and not scan.feed(chunk):
                    scan = None  # not XML (a picture): counted, not parsed
        if scan is not None:
            scan.close()
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
        # a bad CRC, an encrypted part, a compression method zipfile cannot read
        raise UnsupportedMediaType(f"not a readable XLSX workbook: {exc}") from None
    return inflated


class _XmlScan:
    """Reads one part with expat, keeping nothing: refuses a DTD (entity expansion, external
    entities), a value longer than max_cell_chars (the text of a cell or shared string,
    rich-text runs together), a row of more than max_columns cells, and more rows than the
    header and max_lines (counted, or numbered: openpyxl fills the rows a number skips) as
    soon as the row that is one too many begins. A part that must be XML and is not is
    refused; any other stops being parsed where expat finds it is not XML."""

    def __init__(self, name: str, must_be_xml: bool, limits: UploadLimits) -> None:
        self.name, self.must_be_xml, self.limits = name, must_be_xml, limits
        self.text = 0  # characters of the value being read
        self.cells = 0  # cells of the row being read
        self.rows = 0  # rows begun
        parser = self.parser = pyexpat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = _CHUNK
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_dtd
        parser.StartElementHandler = self._start
        parser.CharacterDataHandler = self._characters

    def feed(self, chunk: bytes) -> bool:
        """Parse one more chunk; False once the part turns out not to be XML."""
        return self._parse(chunk, False)

    def close(self) -> None:
        self._parse(b"", True)

    def _parse(self, chunk: bytes, last: bool) -> bool:
        try:
            self.parser.Parse(chunk, last)
        except pyexpat.ExpatError as exc:
            if self.must_be_xml:
                detail = f"{self.name} is not well-formed XML: {exc}"
                raise UnsupportedMediaType(detail) from None
            return False
        return True

    def _refuse_dtd(self, *_: Any) -> None:
        detail = f"{self.name} declares a DTD (entities): office suites never write one"
        raise refusal(problems.XML_DTD_REFUSED, detail)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local not in _VALUE_STARTS:
            return
        self.text = 0
        if local == "row":
            self.cells = 0
            self.rows += 1
            number = attributes.get("r", "")
            numbered = int(number[:10]) if number.isascii() and number.isdigit() else 0
            if max(self.rows, numbered) > self.limits.max_lines + 1:  # the header and the lines
                raise too_many_lines(self.limits)
        elif local == "c":
            self.cells += 1
            if self.cells > self.limits.max_columns:
                raise too_many_columns(self.limits, f"{self.name}: a row")

    def _characters(self, data: str) -> None:
        self.text += len(data)
        if self.text > self.limits.max_cell_chars:
            raise cell_too_long(self.limits, self.name)


def xlsx_lines(file: IO[bytes]) -> Iterator[Sequence[Any]]:
    """The first sheet's rows as values; call measure_workbook first."""
    # openpyxl raises what its zip and XML parsers raise (BadZipFile, KeyError, ParseError...)
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:
        raise UnsupportedMediaType(f"not an XLSX workbook: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        # Some writers record a wrong used range; read every row there is instead.
        sheet.reset_dimensions()  # type: ignore[union-attr]
        yield from sheet.iter_rows(values_only=True)
    except Exception as exc:
        raise UnsupportedMediaType(f"not a readable XLSX workbook: {exc}") from None
    finally:
        workbook.close()


# --- CSV -------------------------------------------------------------------------------------


def csv_encoding(file: IO[bytes]) -> str:
    """UTF-8 if the whole file decodes as UTF-8, else GB18030; checked chunk by chunk."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        file.seek(0)
        try:
            while chunk := file.read(_READ):
                if b"\x00" in chunk:
                    raise UnsupportedMediaType(
                        "the file holds NUL bytes: it is not a CSV text file (a UTF-16 "
                        '"Unicode text" export?); save it as CSV (UTF-8) and upload again'
                    )
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        file.seek(0)
        return encoding
    raise UnsupportedMediaType("the CSV file is neither UTF-8 nor GB18030 text")


def csv_lines(text: io.TextIOWrapper, limits: UploadLimits) -> Iterator[Sequence[Any]]:
    """The file's lines as cells; comma- or tab-separated, as its first line says."""
    lines = _capped_lines(text, limits)
    first = next(lines, "")
    dialect = "excel-tab" if "\t" in first and "," not in first else "excel"
    reader = csv.reader(itertools.chain([first], lines), dialect)
    try:
        yield from reader
    except csv.Error as exc:  # a cell over csv's field size limit, a broken quote...
        if str(exc).startswith("field larger than field limit"):
            raise cell_too_long(limits, f"line {reader.line_num}") from None
        raise InvalidInput(["file"], f"line {reader.line_num}: {exc}") from None


def _capped_lines(text: io.TextIOWrapper, limits: UploadLimits) -> Iterator[str]:
    """The file's lines, none read past max_line_chars (a file without line breaks would
    otherwise be read whole into one string)."""
    number = 0
    while line := text.readline(limits.max_line_chars + 1):
        number += 1
        if len(line) > limits.max_line_chars:
            raise line_too_long(limits, number)
        yield line


# --- cells and records -----------------------------------------------------------------------


def cell_text(value: Any) -> str | None:
    """A cell as trimmed text (None when empty): a whole number typed into an XLSX cell (a
    phone, a serial number) without its `.0`, a date as ISO."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value).strip()
    return text or None


def digits_text(value: Any) -> str | None:
    """A cell that holds a long number of digits (a card or identity number, a settlement
    number): one typed into a number cell is a float of 15 significant digits (Excel's), so
    its last digits are lost. A float is its digits only when it is a whole number below
    10**15 (exact: every digit kept); any other (a fraction, a longer number) is its text in
    scientific notation (6.22202123456789E+18), which `lost_digits` recognises and a check of
    the digits refuses with its reason. A whole number written by a program is exact."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_DIGITS:
            return str(int(value))
        return f"{Decimal(repr(value)):E}"
    return cell_text(value)


_EXACT_DIGITS = 10**15
# A number in scientific notation with its sign: digits_text's text for a number cell that
# is not the exact digits, and what Excel writes into a CSV for a long number (1.10101E+17).
_NUMBER_TEXT = re.compile(r"[0-9](\.[0-9]+)?[eE][+-][0-9]+")


def lost_digits(text: str) -> bool:
    """Whether a cell meant to hold digits holds a number whose digits cannot be trusted."""
    return _NUMBER_TEXT.fullmatch(text.strip()) is not None


def amount_text(value: Any) -> str | None:
    """A cell that holds an amount: a number cell is a float, read as the 15 significant
    digits Excel shows and keeps (a formula's 18000.600000000002 is 18000.6: the float's
    error, not a fraction of a fen), its sign kept (-0.0 is "-0", refused as negative)."""
    if isinstance(value, float):
        return format(value, ".15g")
    return cell_text(value)


def csv_cell_text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def header_name(cell: Any) -> str:
    """A header cell as compared: trimmed, case-folded, without a BOM."""
    return (cell_text(cell) or "").lstrip("\ufeff").strip().casefold()


@dataclass
class Table:
    format: Format
    encoding: str | None
    rows: list[tuple[int, dict[str, str]]]
    """(line, {field: text}) for each line that is not blank; the header is line 1."""


ColumnsOf = Callable[[Sequence[Any]], dict[int, str]]
"""The fields of a header line, by the index of their column (a caller's own headers)."""


def read_table(
    file: IO[bytes],
    filename: str | None,
    content_type: str | None,
    columns_of: ColumnsOf,
    limits: UploadLimits,
    digits: Sequence[str] = (),
    amounts: Sequence[str] = (),
) -> Table:
    """The data lines of an uploaded list, each as (line, {field: text}); blank lines are
    skipped (they count toward max_lines). 415 for what is not a CSV or XLSX file; what
    `columns_of` refuses (a missing column) as it raises it. The `digits` fields of an XLSX
    are read with digits_text (a card number in a number cell has lost digits), the
    `amounts` with amount_text (a number cell is a float)."""
    kind = file_kind(file, filename, content_type)
    if kind == "xlsx":
        measure_workbook(file, limits)  # before openpyxl builds anything from it
        readers = {field: digits_text for field in digits}
        readers.update({field: amount_text for field in amounts})
        rows = records(xlsx_lines(file), cell_text, columns_of, limits, readers)
        return Table("xlsx", None, rows)
    encoding = csv_encoding(file)
    text = io.TextIOWrapper(file, encoding=encoding, newline="")  # type: ignore[type-var]
    try:
        rows = records(csv_lines(text, limits), csv_cell_text, columns_of, limits)
        return Table("csv", encoding.removesuffix("-sig"), rows)
    finally:
        text.detach()  # the upload's file is closed by its owner


def records(
    lines: Iterable[Sequence[Any]],
    text_of: Callable[[Any], str | None],
    columns_of: ColumnsOf,
    limits: UploadLimits,
    readers: Mapping[str, Callable[[Any], str | None]] | None = None,
) -> list[tuple[int, dict[str, str]]]:
    """The lines after the header as (line, {field: text}); `readers`: a field's own reader
    instead of `text_of`."""
    lines = iter(lines)
    header = next(lines, None)
    if header is None:
        raise InvalidInput(["file"], "the file is empty: the first line must name the columns")
    if len(header) > limits.max_columns:
        raise too_many_columns(limits, "line 1")
    readers = readers or {}
    columns = [
        (index, field, readers.get(field, text_of)) for index, field in columns_of(header).items()
    ]
    width = max((index for index, _, _ in columns), default=-1) + 1
    rows = []
    for line, cells in enumerate(lines, start=2):
        if line > limits.max_lines + 1:
            raise too_many_lines(limits)
        if len(cells) > limits.max_columns:
            raise too_many_columns(limits, f"line {line}")
        if len(cells) < width:  # a short line: the cells it lacks are empty
            cells = [*cells, *([None] * (width - len(cells)))]
        values = {
            field: text
            for index, field, read in columns
            if (text := read(cells[index])) is not None
        }
        if not values:
            continue  # a blank line (or one with only an ignored column)
        rows.append((line, values))
    return rows
