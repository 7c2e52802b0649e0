"""What an uploaded enrolment list may weigh, measured before it is trusted.

A 1 MB XLSX can inflate to gigabytes (a zip bomb), one cell can hold a whole file, a sheet
can declare a million blank rows: openpyxl would build all of it in memory. So the workbook's
zip is measured first, part by part, inflating into a small buffer (a zip can lie about its
sizes) and running the XML through expat without building anything; only a workbook within
every limit reaches openpyxl. The CSV path has the same row, column and cell limits. Every
refusal is a problem naming its rule in `code`, within the time it takes to inflate the
first MAX_INFLATED_BYTES. All of this runs before the request touches the database."""

import pyexpat
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
# An XLSX: its zip parts, and the bytes they inflate to, all parts together (a list of
# 200,000 workers with ten columns inflates to about 100 MB).
MAX_ZIP_PARTS = 100
MAX_INFLATED_BYTES = 128 << 20
# A part inflating past RATIO_FLOOR bytes may not inflate more than this many times its
# compressed size (sheets written by Excel, WPS or openpyxl: 5 to 20 times).
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR = 1 << 20

_CHUNK = 1 << 16
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
    """Refuse a workbook over a limit; leaves `file` at its start. 413 for its size, 422
    for a cell or a row, 415 for what is not a zip or declares a DTD (entities)."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsupportedMediaType(f"not an XLSX workbook: {exc}") from None
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_ZIP_PARTS:
            raise refusal(
                problems.TOO_MANY_ZIP_PARTS, f"the workbook has more than {MAX_ZIP_PARTS} parts"
            )
        if sum(part.file_size for part in parts) > MAX_INFLATED_BYTES:
            raise _inflates_too_much()
        inflated = 0
        for part in parts:
            inflated = _measure_part(archive, part, inflated)
    file.seek(0)


def _inflates_too_much() -> Problem:
    return refusal(
        problems.INFLATED_TOO_LARGE,
        f"the workbook inflates to more than {MAX_INFLATED_BYTES} bytes: split the list",
    )


def _measure_part(archive: zipfile.ZipFile, part: zipfile.ZipInfo, inflated: int) -> int:
    """Inflate one part chunk by chunk (what its header declares is not believed); answers
    the bytes inflated so far, all parts together."""
    scan = _XmlScan(part.filename) if part.filename.lower().endswith(_XML_PARTS) else None
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
                if scan is not None:
                    scan.feed(chunk)
        if scan is not None:
            scan.close()
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
        # a bad CRC, an encrypted part, a compression method zipfile cannot read
        raise UnsupportedMediaType(f"not a readable XLSX workbook: {exc}") from None
    return inflated


class _XmlScan:
    """Reads one XML part with expat, keeping nothing: refuses a DTD (entity expansion,
    external entities), a value longer than MAX_CELL_CHARS (the text of a cell or shared
    string, rich-text runs together) and a row of more than MAX_COLUMNS cells."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = 0  # characters of the value being read
        self.cells = 0  # cells of the row being read
        parser = self.parser = pyexpat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = _CHUNK
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_dtd
        parser.StartElementHandler = self._start
        parser.CharacterDataHandler = self._characters

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.Parse(chunk, False)
        except pyexpat.ExpatError as exc:
            raise UnsupportedMediaType(f"{self.name} is not well-formed XML: {exc}") from None

    def close(self) -> None:
        try:
            self.parser.Parse(b"", True)
        except pyexpat.ExpatError as exc:
            raise UnsupportedMediaType(f"{self.name} is not well-formed XML: {exc}") from None

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
        elif local == "c":
            self.cells += 1
            if self.cells > MAX_COLUMNS:
                raise too_many_columns(f"{self.name}: a row")

    def _characters(self, data: str) -> None:
        self.text += len(data)
        if self.text > MAX_CELL_CHARS:
            raise cell_too_long(self.name)
