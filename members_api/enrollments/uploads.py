"""Enrolment lists as files: reading an uploaded CSV or XLSX, and the template to fill in.

The file is read and measured by services.kit.uploads, with the limits of
members_api.enrollments.upload_limits: CSV in UTF-8 (with or without BOM) or, failing that,
GB18030 (what Excel and WPS save in China), or XLSX. The first line names the columns, in
Chinese or English; row numbers are the spreadsheet's lines (the header is line 1)."""

from collections.abc import Sequence
from typing import IO, Any, Literal

from fastapi.responses import Response
from openpyxl.styles import Font

from members_api.enrollments.upload_limits import LIMITS
from services.kit.errors import InvalidInput
from services.kit.exports import Sheet as ExportSheet
from services.kit.exports import csv_response, workbook, xlsx_bytes_response
from services.kit.uploads import Table, header_name, read_table

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


def read_upload(file: IO[bytes], filename: str | None, content_type: str | None) -> Table:
    """The data rows of an uploaded list, each as (line, {field: text}); blank lines are
    skipped. 415 for what is not a CSV or XLSX file, 422 for a missing column. An identity or
    card number in an XLSX number cell has lost digits: its text is the float's, which the
    identity and card checks refuse with their reasons (services.kit.identity,
    members_api.payout_accounts.checks), never a number with its last digits changed."""
    return read_table(
        file, filename, content_type, _columns, LIMITS, digits=["national_id", "account_number"]
    )


def _columns(header: Sequence[Any]) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        name = header_name(cell)
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
