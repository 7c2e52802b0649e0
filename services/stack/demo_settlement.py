"""The demo's settlement file (结算数据): part of the year's hospital stays reach the union as
the insurer's records, filed by `POST /api/v1/claims/import` instead of one by one (DOMAIN.md,
"Claims from settlement data"). The engine pays them exactly as if each had been filed, so
the reports still read the seed's figures."""

from typing import Any

from claims_api.settlement.parsing import CHINESE as SETTLEMENT_HEADERS
from claims_api.settlement.parsing import FIELDS as SETTLEMENT_FIELDS
from services.kit.exports import csv_bytes

SETTLEMENT_SHARE = 3
"""Every third planned stay comes in the settlement file."""
HEADERS = tuple(SETTLEMENT_HEADERS[field] for field in SETTLEMENT_FIELDS)


def settlement_file(stays: list[tuple[str, str, dict[str, Any]]]) -> bytes:
    """(identity number, name, a stay's facts) as the insurer's CSV, in UTF-8 with a BOM."""
    return csv_bytes(
        HEADERS,
        (
            (
                national_id,
                name,
                facts["hospital"],
                facts["admitted_on"],
                facts["discharged_on"],
                ";".join(facts["diagnosis_codes"]),
                facts["invoice_numbers"][0],
                facts["total_cost"],
                facts["insurance_paid"],
                facts["out_of_pocket_in_policy"],
                facts["self_pay"],
            )
            for national_id, name, facts in stays
        ),
    )


async def import_stays(
    api: Any, plan_code: str, stays: list[tuple[str, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The claims the file filed, as {id, member_id, status} (the shape the demo approves)."""
    answer = await api.call(
        "POST",
        "/api/v1/claims/import",
        files={"file": ("结算数据.csv", settlement_file(stays), "text/csv")},
        data={"plan_code": plan_code, "dry_run": "false"},
    )
    refused = [r for r in answer["results"] if r["outcome"] != "filed"]
    if refused:
        raise RuntimeError(f"settlement rows not filed: {refused[:3]}")
    return [
        {"id": r["claim_id"], "member_id": r["member_id"], "status": r["status"]}
        for r in answer["results"]
    ]
