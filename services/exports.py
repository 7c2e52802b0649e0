"""Report exports for auditors: CSV (UTF-8 with BOM, so Excel and WPS open it as Chinese) and
XLSX (openpyxl), with Chinese column headers. Money cells are exact: text in CSV, numbers with
two decimals in XLSX."""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

ExportFormat = Literal["json", "csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return "" if value is None else value


def _xlsx_cell(value: Any) -> Any:
    # A worksheet cannot hold most control characters (openpyxl refuses the whole file):
    # a stored name with one is shown with U+FFFD where it was.
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return "" if value is None else value


def csv_response(sheet: Sheet, filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow([_cell(value) for value in row])
    return Response(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def xlsx_response(sheets: Sequence[Sheet], filename: str) -> Response:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title)
        worksheet.append(list(sheet.headers))
        for row in sheet.rows:
            worksheet.append([_xlsx_cell(value) for value in row])
        for cells in worksheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, Decimal):
                    cell.number_format = "0.00"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )
