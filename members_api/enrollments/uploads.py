"""Enrolment lists as files: reading an uploaded CSV or XLSX, and the template to fill in.

An upload arrives as a temporary file (Starlette spools it to disk past 1 MiB) and is read
incrementally: CSV through a text wrapper over that file, XLSX with openpyxl's read-only
mode. CSV is UTF-8 (with or without BOM) or, failing that, GB18030 (what Excel and WPS save
in China). The first line names the columns, in Chinese or English; row numbers are the
spreadsheet's lines (the header is line 1). What a file may weigh (rows, columns, cells,
inflated bytes) is measured as it is read: upload_limits."""

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePath
from typing import IO, Any, Literal

from fastapi.responses import Response
from openpyxl import load_workbook
from openpyxl.styles import Font

from members_api.enrollments.upload_limits import (
    MAX_COLUMNS,
    MAX_LINE_CHARS,
    MAX_LINES,
    cell_too_long,
    line_too_long,
    measure_workbook,
    too_many_columns,
    too_many_lines,
)
from services.kit.errors import InvalidInput, UnsupportedMediaType
from services.kit.exports import Sheet as ExportSheet
from services.kit.exports import csv_response, workbook, xlsx_bytes_response

FIELDS = ("national_id", "name", "phone", "shares", "account_number", "bank_name")
REQUIRED = ("national_id", "name", "shares")
CHINESE = {
    "national_id": "身份证号",
    "name": "姓名",
    "phone": "手机号",
    "shares": "份数",
    "account_number": "银行卡号",
    "bank_name": "开户行",
}
# Headers are compared trimmed and case-folded; a few spellings seen on real lists are kept.
HEADERS = {
    **{field: field for field in FIELDS},
    **{chinese: field for field, chinese in CHINESE.items()},
    "身份证号码": "national_id",
    "手机号码": "phone",
    "银行账号": "account_number",
    "卡号": "account_number",
    "开户银行": "bank_name",
}
# The GB 11643 example number; no card (a payout account is optional).
SAMPLE_ROW = ("11010519491231002X", "张三", "13800138000", 1, None, None)
CSV_TYPES = {"text/csv", "application/csv", "text/comma-separated-values"}
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
_READ = 1 << 20


@dataclass
class Sheet:
    format: Literal["csv", "xlsx"]
    encoding: str | None
    rows: list[tuple[int, dict[str, str]]]


def read_upload(file: IO[bytes], filename: str | None, content_type: str | None) -> Sheet:
    """The data rows of an uploaded list, each as (line, {field: text}); blank lines are
    skipped. 415 for what is not a CSV or XLSX file, 422 for a missing column."""
    kind = _kind(file, filename, content_type)
    if kind == "xlsx":
        measure_workbook(file)  # before openpyxl builds anything from it
        return Sheet("xlsx", None, _records(_xlsx_lines(file), _text))
    encoding = _csv_encoding(file)
    text = io.TextIOWrapper(file, encoding=encoding, newline="")  # type: ignore[type-var]
    try:
        return Sheet("csv", encoding.removesuffix("-sig"), _records(_csv_lines(text), _csv_text))
    finally:
        text.detach()  # the upload's file is closed by its owner


def _kind(file: IO[bytes], filename: str | None, content_type: str | None) -> str:
    head = file.read(8)
    file.seek(0)
    suffix = PurePath(filename or "").suffix.lower()
    media = (content_type or "").split(";")[0].strip().lower()
    if head.startswith(_ZIP):
        return "xlsx"  # whatever the name says: openpyxl decides whether it is a workbook
    if head.startswith(_OLE):
        raise UnsupportedMediaType(
            "this is an Excel 97-2003 (.xls) file: save it as .xlsx or as CSV and upload again"
        )
    if suffix == ".csv" or media in CSV_TYPES:
        return "csv"
    raise UnsupportedMediaType(
        f"cannot read {filename or 'the file'} ({media or 'no type'}): upload a CSV or XLSX file"
    )


def _csv_encoding(file: IO[bytes]) -> str:
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


def _csv_lines(text: io.TextIOWrapper) -> Iterator[Sequence[Any]]:
    lines = _capped_lines(text)
    first = next(lines, "")
    dialect = "excel-tab" if "\t" in first and "," not in first else "excel"
    reader = csv.reader(itertools.chain([first], lines), dialect)
    try:
        yield from reader
    except csv.Error as exc:  # a cell over csv's field size limit, a broken quote...
        if str(exc).startswith("field larger than field limit"):
            raise cell_too_long(f"line {reader.line_num}") from None
        raise InvalidInput(["file"], f"line {reader.line_num}: {exc}") from None


def _capped_lines(text: io.TextIOWrapper) -> Iterator[str]:
    """The file's lines, none read past MAX_LINE_CHARS (a file without line breaks would
    otherwise be read whole into one string)."""
    number = 0
    while line := text.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise line_too_long(number)
        yield line


def _xlsx_lines(file: IO[bytes]) -> Iterator[Sequence[Any]]:
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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a cell: 2.0 shares, a phone number
    elif isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value).strip()
    return text or None


def _card_text(value: Any) -> str | None:
    """A card number typed into a number cell is a float of 15 significant digits (Excel's):
    its text is the float's (6.222021e+18), which the card check refuses with its reason
    (members_api.payout_accounts.checks). A whole number written by a program is exact."""
    if isinstance(value, float):
        return f"{value:e}"
    return _text(value)


def _csv_text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _columns(header: Sequence[Any]) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        name = (_text(cell) or "").lstrip("\ufeff").strip().casefold()
        field = HEADERS.get(name)
        if field is None:
            continue  # other columns (a serial number, a department) are ignored
        if field in columns.values():
            raise InvalidInput(["file", "header"], f"the column {CHINESE[field]} is there twice")
        columns[index] = field
    missing = [field for field in REQUIRED if field not in columns.values()]
    if missing:
        named = ", ".join(f"{CHINESE[field]} ({field})" for field in missing)
        raise InvalidInput(
            ["file", "header"],
            f"missing column {named}: the first line must name the columns 身份证号, 姓名, "
            "份数 and optionally 手机号, 银行卡号, 开户行 (or national_id, name, shares, phone, "
            "account_number, bank_name)",
        )
    return columns


def _records(
    lines: Iterable[Sequence[Any]], text_of: Callable[[Any], str | None]
) -> list[tuple[int, dict[str, str]]]:
    lines = iter(lines)
    header = next(lines, None)
    if header is None:
        raise InvalidInput(["file"], "the file is empty: the first line must name the columns")
    if len(header) > MAX_COLUMNS:
        raise too_many_columns("line 1")
    columns = list(_columns(header).items())
    width = max(index for index, _ in columns) + 1
    if text_of is _text:  # XLSX: a card number in a number cell has lost digits (_card_text)
        readers = [(i, f, _card_text if f == "account_number" else _text) for i, f in columns]
    else:
        readers = [(index, field, text_of) for index, field in columns]
    rows = []
    for line, cells in enumerate(lines, start=2):
        if line > MAX_LINES + 1:
            raise too_many_lines()
        if len(cells) > MAX_COLUMNS:
            raise too_many_columns(f"line {line}")
        if len(cells) < width:  # a short line: the cells it lacks are empty
            cells = [*cells, *([None] * (width - len(cells)))]
        values = {
            field: text
            for index, field, read in readers
            if (text := read(cells[index])) is not None
        }
        if not values:
            continue  # a blank line (or one with only a serial number: templates have those)
        rows.append((line, values))
    return rows


# --- the template ----------------------------------------------------------------------------


def template(format: Literal["xlsx", "csv"]) -> Response:
    """The columns in Chinese and one example row (a valid identity number)."""
    headers = [CHINESE[field] for field in FIELDS]
    name = "enrollment-import-template"
    if format == "csv":
        return csv_response(ExportSheet(name, headers, [SAMPLE_ROW]), name)
    book = workbook([ExportSheet("参保名单", headers, [SAMPLE_ROW])])
    sheet = book.active
    assert sheet is not None
    for header in sheet[1]:
        header.font = Font(bold=True)
    for column, width in zip("ABCDEF", (24, 12, 16, 8, 26, 20), strict=True):
        sheet.column_dimensions[column].width = width
    # Text, so that Excel keeps all 18 digits of a typed identity number (a phone's, and the
    # 16 to 19 of a card number).
    for column in "ACE":
        sheet.column_dimensions[column].number_format = "@"
        sheet[f"{column}2"].number_format = "@"
    return xlsx_bytes_response(book, name)
