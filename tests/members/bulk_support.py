"""Helpers of the bulk tests (batch enrolment, import, leaving in bulk)."""

import csv
import io
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook
from stdnum.cn import ric

from services.kit.clock import today
from tests.support import ADMIN

TODAY = today()
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def bulk_national_ids(
    count: int, *, start: int = 0, sex: str = "F", born_from: date = date(1980, 1, 1)
) -> list[str]:
    """`count` valid, distinct identity numbers (500 per birth date), in region 440106, which
    no other test uses; `start` skips that many, so calls with other starts never collide."""
    numbers = []
    for i in range(start, start + count):
        birth = born_from + timedelta(days=i // 500)
        order = (i % 500) * 2 + (1 if sex == "M" else 0)  # the 17th digit's parity is the sex
        body = f"440106{birth:%Y%m%d}{order:03d}"
        numbers.append(body + ric.calc_check_digit(body + "0"))
    return numbers


def open_plan(**overrides: Any) -> dict[str, Any]:
    """Plan fields for cover that started 10 days ago, enrolment open today."""
    return {
        "coverage_start": str(TODAY - timedelta(days=10)),
        "coverage_end": str(TODAY + timedelta(days=300)),
        "enrol_from": str(TODAY - timedelta(days=30)),
        "enrol_until": str(TODAY + timedelta(days=30)),
        **overrides,
    }


def csv_bytes(
    header: list[str], rows: list[list[Any]], encoding: str = "utf-8", bom: bool = False
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def post_batch(
    client: Any, unit_id: str, plan_code: str, rows: list[dict[str, Any]], headers: Any = None
) -> Any:
    body = {"unit_id": unit_id, "plan_code": plan_code, "rows": rows}
    return await client.post("/api/v1/enrollments/batch", json=body, headers=headers or ADMIN)


async def import_file(
    client: Any,
    unit_id: str,
    plan_code: str,
    content: bytes,
    filename: str = "workers.csv",
    content_type: str = "text/csv",
    headers: Any = None,
    **fields: str,
) -> Any:
    return await client.post(
        "/api/v1/enrollments/import",
        data={"unit_id": unit_id, "plan_code": plan_code, **fields},
        files={"file": (filename, content, content_type)},
        headers=headers or ADMIN,
    )


def by_row(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {result["row"]: result for result in answer["results"]}


def codes(result: dict[str, Any]) -> list[str | None]:
    return [error.get("code") for error in result["errors"]]


def fields(result: dict[str, Any]) -> list[str]:
    return [error["loc"][0] for error in result["errors"]]
