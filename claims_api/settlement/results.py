"""An import's answer: one result per row and the totals, as JSON (built directly: 200,000
results through a response model take seconds) or as a sheet for the union's staff, with
Chinese headers (CSV in UTF-8 with BOM, or XLSX; every cell through services.kit.exports,
which neutralises what a spreadsheet would read as a formula)."""

import json
from collections import Counter
from decimal import Decimal
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any, Literal

from fastapi.responses import Response

from claims_api.settlement.checks import Decision, RowResult
from services.kit.exports import Sheet, csv_response, xlsx_response
from services.kit.money import format_money

HEADERS = (
    "行号",
    "结算单号",
    "结果",
    "会员编号",
    "理赔编号",
    "状态",
    "应付金额",
    "拒赔原因",
    "错误",
    "说明",
)
OUTCOME_NAMES = {
    "filed": "已立案",
    "already_filed": "已立案过",
    "not_enrolled": "未参保",
    "name_mismatch": "姓名不符",
    "error": "数据有误",
}


def result_of(decision: Decision, dry_run: bool) -> RowResult:
    return RowResult(
        decision.row.line,
        "filed",
        decision.row.settlement_number,
        decision.coverage.member.id,
        None if dry_run else decision.claim_id,
        decision.status,
        decision.decided.payable,
        decision.decided.reason_codes,
    )


def totals_of(results: list[RowResult]) -> dict[str, Any]:
    outcomes = Counter(result.outcome for result in results)
    statuses = Counter(result.status for result in results if result.outcome == "filed")
    payable = sum(
        (result.payable for result in results if result.payable is not None), Decimal("0.00")
    )
    return {
        "rows": len(results),
        "filed": outcomes["filed"],
        "approved": statuses["approved"],
        "pending_review": statuses["pending_review"],
        "rejected": statuses["rejected"],
        "already_filed": outcomes["already_filed"],
        "not_enrolled": outcomes["not_enrolled"],
        "name_mismatch": outcomes["name_mismatch"],
        "errors": outcomes["error"],
        "payable": format_money(payable),
    }


def _json(result: RowResult) -> dict[str, Any]:
    item: dict[str, Any] = {"row": result.row, "outcome": result.outcome}
    if result.settlement_number is not None:
        item["settlement_number"] = result.settlement_number
    for name in ("member_id", "claim_id", "status", "detail"):
        value = getattr(result, name)
        if value is not None:
            item[name] = value
    if result.payable is not None:
        item["payable"] = format_money(result.payable)
    if result.outcome == "filed":
        item["reason_codes"] = result.reason_codes
    if result.errors:
        item["errors"] = result.errors
    return item


_COMPACT = {"ensure_ascii": False, "separators": (",", ":")}
_TEXT_FIELDS = ("member_id", "claim_id", "status", "detail")


@lru_cache(maxsize=64)  # the few combinations of reasons of an import
def _codes_text(codes: tuple[str, ...]) -> str:
    return json.dumps(list(codes), **_COMPACT)  # type: ignore[arg-type]


def _text(result: RowResult) -> str:
    """json.dumps's compact text of `_json(result)`, its strings encoded as json.dumps does
    but without a dict and a call per result (200,000 results: a second less)."""
    if result.errors:
        return json.dumps(_json(result), **_COMPACT)  # type: ignore[arg-type]
    text = f'{{"row":{int(result.row)},"outcome":{encode_basestring(result.outcome)}'
    if result.settlement_number is not None:
        text += f',"settlement_number":{encode_basestring(result.settlement_number)}'
    for name in _TEXT_FIELDS:
        value = getattr(result, name)
        if value is not None:
            text += f',"{name}":{encode_basestring(value)}'
    if result.payable is not None:
        text += f',"payable":"{format_money(result.payable)}"'
    if result.outcome == "filed":
        text += f',"reason_codes":{_codes_text(tuple(result.reason_codes))}'
    return text + "}"


def answer_json(header: dict[str, Any], totals: dict[str, Any], results: list[RowResult]) -> str:
    """The answer's JSON text, compact: its results, the answer's last field, put in."""
    answer = {**header, "totals": totals, "results": []}
    shell = json.dumps(answer, **_COMPACT)  # type: ignore[arg-type]
    return f"{shell[:-2]}{','.join(_text(result) for result in results)}]}}"


def sheet_response(answer: dict[str, Any], format: Literal["csv", "xlsx"]) -> Response:
    """The answer (as JSON, what the Idempotency-Key keeps) as a sheet of one row a result."""
    rows = []
    for item in answer["results"]:
        errors = "; ".join(error["msg"] for error in item.get("errors", []))
        payable = item.get("payable")
        rows.append(
            (
                item["row"],
                item.get("settlement_number"),
                OUTCOME_NAMES[item["outcome"]],
                item.get("member_id"),
                item.get("claim_id"),
                item.get("status"),
                Decimal(payable) if payable is not None else None,
                ", ".join(item.get("reason_codes", [])),
                errors,
                item.get("detail"),
            )
        )
    name = f"settlement-import-{answer['plan_code']}"
    sheet = Sheet("结算数据导入结果", HEADERS, rows)
    if format == "csv":
        return csv_response(sheet, name)
    return xlsx_response([sheet], name)
