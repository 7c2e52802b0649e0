"""Settlement files (结算数据) as the insurer sends them, and the import that files them."""

import csv
import io
import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from openpyxl import Workbook

from claims_api.settlement.parsing import CHINESE as SETTLEMENT_HEADERS
from claims_api.settlement.parsing import FIELDS as SETTLEMENT_FIELDS
from tests.claims.support_claims import created, enrol, identity_number
from tests.support import ADMIN
from tests.xlsx_cells import xlsx_cells

IMPORT = "/api/v1/claims/import"
CHINESE = tuple(SETTLEMENT_HEADERS[field] for field in SETTLEMENT_FIELDS)
ENGLISH = SETTLEMENT_FIELDS
_numbers = itertools.count(1)


def settlement_number() -> str:
    return f"JS{next(_numbers):08d}"


@dataclass(frozen=True)
class Person:
    member_id: str
    national_id: str
    name: str
    unit_id: str


async def person(
    api: httpx.AsyncClient,
    unit_id: str,
    plan_code: str | None,
    name: str = "王芳",
    **enrolment: Any,
) -> Person:
    """A worker of the unit whose identity number the test knows, enrolled in the plan."""
    number = identity_number()
    body = {"national_id": number, "name": name, "unit_id": unit_id}
    member_id = (await created(api, "/api/v1/members", body))["id"]
    if plan_code is not None:
        await enrol(api, member_id, plan_code, **enrolment)
    return Person(member_id, number, name, unit_id)


def stay(
    who: Person,
    admitted_on: date,
    days: int = 5,
    *,
    out_of_pocket: str = "7500.00",
    insurance_paid: str = "10000.00",
    self_pay: str = "500.00",
    total_cost: str | None = None,
    number: str | None = None,
    diagnoses: str = "K35.8",
    **changes: Any,
) -> dict[str, Any]:
    """One row of a settlement file, by the English field names; the total is the parts'."""
    parts = Decimal(insurance_paid) + Decimal(out_of_pocket) + Decimal(self_pay)
    row = {
        "national_id": who.national_id,
        "name": who.name,
        "hospital": "市第一人民医院",
        "admitted_on": str(admitted_on),
        "discharged_on": str(admitted_on + timedelta(days=days)),
        "diagnosis_codes": diagnoses,
        "settlement_number": number or settlement_number(),
        "total_cost": total_cost or str(parts),
        "insurance_paid": insurance_paid,
        "out_of_pocket_in_policy": out_of_pocket,
        "self_pay": self_pay,
    }
    row.update(changes)
    return row


def as_facts(row: dict[str, Any]) -> dict[str, Any]:
    """The same stay as a member files it (POST /api/v1/claims), invoice number and all."""
    return {
        "admitted_on": row["admitted_on"],
        "discharged_on": row["discharged_on"],
        "hospital": row["hospital"],
        "diagnosis_codes": row["diagnosis_codes"].split(";"),
        "invoice_numbers": [row["settlement_number"]],
        "total_cost": row["total_cost"],
        "insurance_paid": row["insurance_paid"],
        "out_of_pocket_in_policy": row["out_of_pocket_in_policy"],
        "self_pay": row["self_pay"],
    }


def settlement_csv(
    rows: list[dict[str, Any]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    chinese: bool = True,
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(CHINESE if chinese else ENGLISH)
    for row in rows:
        writer.writerow([row.get(name, "") for name in ENGLISH])
    return buffer.getvalue().encode(encoding)


def settlement_xlsx(rows: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(CHINESE))
    for row in rows:
        values: list[Any] = [row.get(name) for name in ENGLISH]
        values[3] = date.fromisoformat(values[3])  # dates typed as dates, amounts as numbers
        values[4] = date.fromisoformat(values[4])
        values[7:] = [float(value) for value in values[7:]]
        sheet.append(values)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def settlement_xlsx_cells(rows: list[dict[str, Any]]) -> bytes:
    """The rows as a workbook written cell by cell (tests.xlsx_cells): a NumberCell as its
    number, anything else as text."""
    return xlsx_cells(CHINESE, [[row.get(name, "") for name in ENGLISH] for row in rows])


async def send(
    api: httpx.AsyncClient,
    plan_code: str,
    content: bytes,
    *,
    filename: str = "结算数据-2026-03.csv",
    dry_run: bool = False,
    headers: dict[str, str] = ADMIN,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    media = "text/csv" if filename.endswith(".csv") else "application/octet-stream"
    return await api.post(
        IMPORT,
        files={"file": (filename, content, media)},
        data={"plan_code": plan_code, "dry_run": "true" if dry_run else "false"},
        headers=headers,
        params=params,
    )


async def imported(api: httpx.AsyncClient, plan_code: str, rows: list[dict[str, Any]], **kw: Any):
    """The answer to importing these rows as a UTF-8 CSV (200 expected)."""
    response = await send(api, plan_code, settlement_csv(rows), **kw)
    assert response.status_code == 200, response.text
    return response.json()


def outcomes(answer: dict[str, Any]) -> list[tuple[int, str]]:
    return [(result["row"], result["outcome"]) for result in answer["results"]]
