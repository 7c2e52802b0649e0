"""Settlement files (结算数据) as the insurer sends them: one row a hospital stay, read and
measured by services.kit.uploads before anything else happens (no database, no registry).

The first line names the columns, in Chinese or English: 身份证号, 姓名, 医疗机构, 入院日期,
出院日期, 诊断编码 (one or more ICD-10 codes, separated by ; , 、 or spaces), 结算单号 (the
settlement number: the claim's invoice number), 医疗总费用, 统筹支付, 政策范围内自付, 自费.
Other columns are ignored. Row numbers are the spreadsheet's lines (the header is line 1).

Each row is checked field by field here, every error of a row listed: its facts are those of
a hospital claim (claims_api.engine.facts), and a bill whose parts do not add up to its total
is an error of the row, not a claim: the insurer's data is wrong, not the member's claim."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from pydantic import TypeAdapter, ValidationError

from claims_api.engine.facts import MAX_DIAGNOSES, ClaimIcd10, InvoiceNumber
from services.kit.dates import SchemeDate
from services.kit.errors import InvalidInput
from services.kit.identity import validate_national_id
from services.kit.money import Money
from services.kit.text import NameText, PersonNameText
from services.kit.uploads import Table, UploadLimits, header_name, lost_digits, read_table

MAX_ROWS = 200_000
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
"""The route's body limit: a month of a large union's stays is some 30 MB as CSV."""
LIMITS = UploadLimits(max_lines=MAX_ROWS, max_inflated_bytes=128 << 20)
"""An XLSX of 200,000 stays of eleven columns inflates to about 90 MB (openpyxl)."""

FIELDS = (
    "national_id",
    "name",
    "hospital",
    "admitted_on",
    "discharged_on",
    "diagnosis_codes",
    "settlement_number",
    "total_cost",
    "insurance_paid",
    "out_of_pocket_in_policy",
    "self_pay",
)
CHINESE = {
    "national_id": "身份证号",
    "name": "姓名",
    "hospital": "医疗机构",
    "admitted_on": "入院日期",
    "discharged_on": "出院日期",
    "diagnosis_codes": "诊断编码",
    "settlement_number": "结算单号",
    "total_cost": "医疗总费用",
    "insurance_paid": "统筹支付",
    "out_of_pocket_in_policy": "政策范围内自付",
    "self_pay": "自费",
}
MONEY_FIELDS = ("total_cost", "insurance_paid", "out_of_pocket_in_policy", "self_pay")
IDENTIFIER_FIELDS = ("national_id", "settlement_number")
"""Digits, not numbers: one in a number cell may have lost some (services.kit.uploads)."""
# Headers are compared trimmed and case-folded; spellings seen on insurers' exports are kept.
HEADERS = {
    **{name: name for name in FIELDS},
    **{chinese: name for name, chinese in CHINESE.items()},
    "身份证号码": "national_id",
    "公民身份号码": "national_id",
    "医院": "hospital",
    "医院名称": "hospital",
    "医疗机构名称": "hospital",
    "诊断代码": "diagnosis_codes",
    "疾病编码": "diagnosis_codes",
    "结算编号": "settlement_number",
    "结算流水号": "settlement_number",
    "总费用": "total_cost",
    "医疗费用总额": "total_cost",
    "统筹基金支付": "insurance_paid",
    "基金支付": "insurance_paid",
    "政策范围内个人自付": "out_of_pocket_in_policy",
    "自费费用": "self_pay",
}
_DIAGNOSIS_SEPARATORS = re.compile(r"[;,、\s；，]+")
_DATE = TypeAdapter(SchemeDate)
_MONEY = TypeAdapter(Money)
_NAME = TypeAdapter(PersonNameText)
_HOSPITAL = TypeAdapter(NameText)
_ICD10 = TypeAdapter(ClaimIcd10)
_INVOICE = TypeAdapter(InvoiceNumber)


def read_settlement(file: IO[bytes], filename: str | None, content_type: str | None) -> Table:
    """The data rows of an uploaded settlement file; 415 for what is not CSV or XLSX, 422 for
    a missing column, the upload limits' refusals (services.kit.uploads). No database here."""
    return read_table(
        file,
        filename,
        content_type,
        _columns,
        LIMITS,
        digits=IDENTIFIER_FIELDS,
        amounts=MONEY_FIELDS,
    )


def _columns(header: Sequence[Any]) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        name = HEADERS.get(header_name(cell))
        if name is None:
            continue
        if name in columns.values():
            raise InvalidInput(["file", "header"], f"the column {CHINESE[name]} is there twice")
        columns[index] = name
    missing = [name for name in FIELDS if name not in columns.values()]
    if missing:
        named = ", ".join(f"{CHINESE[name]} ({name})" for name in missing)
        raise InvalidInput(
            ["file", "header"],
            f"missing column {named}: the first line must name the columns "
            + ", ".join(CHINESE[name] for name in FIELDS),
        )
    return columns


@dataclass
class SettlementRow:
    """One row as read: its fields where valid, every error of the row otherwise."""

    line: int
    national_id: str | None = None
    name: str | None = None
    settlement_number: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def admitted_on(self) -> date:
        return self.facts["admitted_on"]

    def error(self, name: str, message: str) -> None:
        self.errors.append({"loc": [name], "msg": f"{CHINESE[name]}: {message}"})


def _message(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")


def _check(row: SettlementRow, name: str, adapter: TypeAdapter[Any], text: str) -> Any:
    try:
        return adapter.validate_python(text)
    except ValidationError as exc:
        row.error(name, _message(exc))
        return None


def _date_text(text: str) -> str:
    """2026-03-05, 2026/3/5, 2026.03.05, 20260305, or an XLSX date cell (read as ISO, with a
    time of 00:00:00): the forms insurers' exports use."""
    text = text.strip()
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if "T" in text or " " in text:
        try:
            return datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            return text
    parts = re.split(r"[-/.年月日]", text.rstrip("日"))
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        year, month, day = parts
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def _money_text(text: str) -> str:
    return text.replace(",", "").replace("¥", "").replace("￥", "").strip()


def parse_row(line: int, values: dict[str, str]) -> SettlementRow:
    """One row's fields, checked as a hospital claim's facts are."""
    row = SettlementRow(line)
    for name in FIELDS:
        if name not in values:
            row.error(name, "is empty")
    if "national_id" in values:  # a number cell's text refused by the check itself
        try:
            row.national_id = validate_national_id(
                unicodedata.normalize("NFKC", values["national_id"])
            )
        except ValueError as exc:
            row.error("national_id", str(exc))
    if "name" in values:
        row.name = _check(row, "name", _NAME, values["name"])
    if "settlement_number" in values and not _lost_digits(row, "settlement_number", values):
        number = unicodedata.normalize("NFKC", values["settlement_number"]).strip()
        row.settlement_number = _check(row, "settlement_number", _INVOICE, number)
    facts: dict[str, Any] = {}
    if "hospital" in values:
        facts["hospital"] = _check(row, "hospital", _HOSPITAL, values["hospital"])
    for name in ("admitted_on", "discharged_on"):
        if name in values:
            facts[name] = _check(row, name, _DATE, _date_text(values[name]))
    admitted, discharged = facts.get("admitted_on"), facts.get("discharged_on")
    if admitted is not None and discharged is not None and discharged < admitted:
        row.error("discharged_on", f"{discharged} is before the admission on {admitted}")
    if "diagnosis_codes" in values:
        facts["diagnosis_codes"] = _diagnoses(row, values["diagnosis_codes"])
    for name in MONEY_FIELDS:
        if name in values:
            facts[name] = _check(row, name, _MONEY, _money_text(values[name]))
    amounts = [facts.get(name) for name in MONEY_FIELDS]
    if all(amount is not None for amount in amounts):
        total, *parts = amounts
        if sum(parts, Decimal("0.00")) != total:
            row.errors.append(
                {
                    "loc": ["total_cost"],
                    "msg": f"医疗总费用 {total} is not 统筹支付 + 政策范围内自付 + 自费 = "
                    f"{sum(parts, Decimal('0.00'))}",
                }
            )
    if row.settlement_number is not None:
        facts["invoice_numbers"] = [row.settlement_number]
    row.facts = facts
    return row


def _lost_digits(row: SettlementRow, name: str, values: dict[str, str]) -> bool:
    """An identifier the spreadsheet held as a number is the row's error: its digits may be
    gone (Excel keeps 15), and a wrong number must not file, or match, anything."""
    if not lost_digits(values[name]):
        return False
    row.error(
        name,
        f"{values[name]} is a number cell, not the digits (Excel keeps 15 significant digits "
        "of a number): format the column as text and enter the digits again",
    )
    return True


def _diagnoses(row: SettlementRow, text: str) -> list[str] | None:
    codes = [code for code in _DIAGNOSIS_SEPARATORS.split(text) if code]
    if len(codes) > MAX_DIAGNOSES:
        row.error("diagnosis_codes", f"more than {MAX_DIAGNOSES} codes")
        return None
    checked = []
    for code in dict.fromkeys(codes):  # a code given twice is one diagnosis
        value = _check(row, "diagnosis_codes", _ICD10, code)
        if value is None:
            return None
        checked.append(value)
    return checked or None


def parse_rows(rows: list[tuple[int, dict[str, str]]]) -> list[SettlementRow]:
    """Some of a Table's rows, each parsed."""
    return [parse_row(line, values) for line, values in rows]
