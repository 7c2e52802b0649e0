"""What an uploaded enrolment list may weigh, measured before it is trusted.

A 1 MB XLSX can inflate to gigabytes (a zip bomb), one cell can hold a whole file, a sheet
can declare a million blank rows: openpyxl would build all of it in memory. So the workbook's
zip is measured first, part by part, inflating into a small buffer (a zip can lie about its
sizes) and running the XML through expat without building anything; only a workbook within
every limit reaches openpyxl. The CSV path has the same row, column and cell limits. Every
refusal is a problem naming its rule in `code`, within the time it takes to inflate the
first MAX_INFLATED_BYTES. All of this runs before the request touches the database.

Every part is read as XML, whatever its name: openpyxl finds a sheet through the workbook's
relationships and [Content_Types].xml, so a sheet named xl/worksheets/sheet1.bin is read by
it like any other, and is measured like any other here. A part that expat finds is not XML
(a picture, printer settings) is only counted from there on: openpyxl reads its XML with the
same expat (xml.etree), so it cannot take more from such a part than the scan measured."""

import pyexpat
import struct
import zipfile
from typing import IO, Any

from members_api import problems
from members_api.bulk import MAX_ROWS
from services.kit.errors import Problem, UnsupportedMediaType
from services.kit.problems import ProblemType

# Lines after the header, blank ones included (a file of blank rows costs as much to read).
MAX_LINES = MAX_ROWS
# Characters of one cell: csv's own field size limit, which the CSV reader enforces.
MAX_CELL_CHARS = 131_072
# Cells of one row (the list needs 4; forms carry a few more, a serial number, a department).
MAX_COLUMNS = 1_000
# Characters of one CSV line (a quoted cell may span lines; each line is read up to this).
MAX_LINE_CHARS = 1 << 20
# An XLSX: its zip parts, and the bytes they inflate to, all parts together. openpyxl
# writes about 240 bytes a row of the four columns: 100,000 rows inflate to 24 MB, 200,000
# (MAX_LINES) to 48 MB, 100,000 with a serial number and a department to 33 MB; Excel and WPS
# write less (shared strings). A bomb is refused after inflating at most this much.
MAX_ZIP_PARTS = 100
MAX_INFLATED_BYTES = 64 << 20
# The central directory of MAX_ZIP_PARTS parts: an entry is 46 bytes, its name and extra
# fields (a part's name is under 100 characters in every workbook an office suite writes).
MAX_CENTRAL_DIRECTORY_BYTES = MAX_ZIP_PARTS * 1024
# A part inflating past RATIO_FLOOR bytes may not inflate more than this many times its
# compressed size (sheets written by Excel, WPS or openpyxl: 5 to 20 times).
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR = 1 << 20

_CHUNK = 1 << 16
# Parts that must be XML: one of these that is not is refused (any other part may be binary).
_XML_PARTS = (".xml", ".rels", ".vml")
# Elements that begin one value as openpyxl reads it: a cell, a shared string, a row.
_VALUE_STARTS = frozenset({"c", "si", "row"})


def refusal(limit: ProblemType, detail: str) -> Problem:
    """A problem about the uploaded file: `code` names the limit, `errors` the field."""
    return limit.error(detail, errors=[{"loc": ["file"], "msg": detail, "code": limit.code}])


def too_many_lines() -> Problem:
    detail = f"more than {MAX_LINES} rows (blank rows count): split the list"
    return refusal(problems.TOO_MANY_ROWS, detail)


def too_many_columns(where: str) -> Problem:
    return refusal(problems.TOO_MANY_COLUMNS, f"{where}: more than {MAX_COLUMNS} cells")


def cell_too_long(where: str) -> Problem:
    detail = f"{where}: a cell holds more than {MAX_CELL_CHARS} characters"
    return refusal(problems.CELL_TOO_LONG, detail)


def line_too_long(line: int) -> Problem:
    detail = f"line {line} is longer than {MAX_LINE_CHARS} characters"
    return refusal(problems.LINE_TOO_LONG, detail)


def measure_workbook(file: IO[bytes]) -> None:
    """Refuse a workbook over a limit; leaves `file` at its start. 413 for its size or its
    rows, 422 for a cell or a row's cells, 415 for what is not a zip or declares a DTD."""
    _measure_central_directory(file)  # before zipfile builds an entry for every part
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsupportedMediaType(f"not an XLSX workbook: {exc}") from None
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_ZIP_PARTS:
            raise _too_many_parts()
        if sum(part.file_size for part in parts) > MAX_INFLATED_BYTES:
            raise _inflates_too_much()
        inflated = 0
        for part in parts:
            inflated = _measure_part(archive, part, inflated)
    file.seek(0)


# The End Of Central Directory record (22 bytes and a comment of up to 65,535), the Zip64
# locator before it (20 bytes) and the Zip64 record it points to (56 bytes).
_END = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def _measure_central_directory(file: IO[bytes]) -> None:
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
    if max(counts) > MAX_ZIP_PARTS:
        raise _too_many_parts()
    if directory_size > MAX_CENTRAL_DIRECTORY_BYTES:
        detail = (
            f"the workbook's list of parts is larger than {MAX_CENTRAL_DIRECTORY_BYTES} bytes "
            f"(more than {MAX_ZIP_PARTS} parts, or names no office suite writes)"
        )
        raise refusal(problems.TOO_MANY_ZIP_PARTS, detail)


def _too_many_parts() -> Problem:
    detail = f"the workbook has more than {MAX_ZIP_PARTS} parts"
    return refusal(problems.TOO_MANY_ZIP_PARTS, detail)


def _inflates_too_much() -> Problem:
    return refusal(
        problems.INFLATED_TOO_LARGE,
        f"the workbook inflates to more than {MAX_INFLATED_BYTES} bytes: split the list",
    )


def _measure_part(archive: zipfile.ZipFile, part: zipfile.ZipInfo, inflated: int) -> int:
    """Inflate one part chunk by chunk (what its header declares is not believed); answers
    the bytes inflated so far, all parts together."""
    scan: _XmlScan | None = _XmlScan(part.filename, part.filename.lower().endswith(_XML_PARTS))
    size = 0
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                inflated += len(chunk)
                if inflated > MAX_INFLATED_BYTES:
                    raise _inflates_too_much()
                if size > RATIO_FLOOR and size > MAX_COMPRESSION_RATIO * part.compress_size:
                    raise refusal(
                        problems.COMPRESSION_RATIO,
                        f"{part.filename} inflates more than {MAX_COMPRESSION_RATIO} times: "
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
    entities), a value longer than MAX_CELL_CHARS (the text of a cell or shared string,
    rich-text runs together), a row of more than MAX_COLUMNS cells, and more rows than the
    header and MAX_LINES (counted, or numbered: openpyxl fills the rows a number skips) as
    soon as the row that is one too many begins. A part that must be XML and is not is
    refused; any other stops being parsed where expat finds it is not XML."""

    def __init__(self, name: str, must_be_xml: bool) -> None:
        self.name = name
        self.must_be_xml = must_be_xml
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
            if max(self.rows, numbered) > MAX_LINES + 1:  # the header's row and MAX_LINES more
                raise too_many_lines()
        elif local == "c":
            self.cells += 1
            if self.cells > MAX_COLUMNS:
                raise too_many_columns(f"{self.name}: a row")

    def _characters(self, data: str) -> None:
        self.text += len(data)
        if self.text > MAX_CELL_CHARS:
            raise cell_too_long(self.name)
