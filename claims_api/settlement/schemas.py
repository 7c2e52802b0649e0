from typing import Any, Literal

from pydantic import BaseModel, Field

from claims_api.claims.schemas import ClaimStatus
from services.kit.money import Money

Outcome = Literal["filed", "already_filed", "not_enrolled", "name_mismatch", "error"]
OUTCOMES: tuple[str, ...] = Outcome.__args__  # type: ignore[attr-defined]


class SettlementResult(BaseModel):
    """One row of the file (numbered as the spreadsheet's lines: the header is line 1)."""

    row: int
    outcome: Outcome = Field(
        description="`filed`: a claim was made (rejected too, with its reasons); "
        "`already_filed`: the settlement number is on a claim stored under the plan before "
        "this file; `not_enrolled`: no enrolment in the plan covers the stay; "
        "`name_mismatch`: 姓名 is not the registry's; `error`: the row's fields (errors), or "
        "a settlement number on an earlier row of the file (detail names it)"
    )
    settlement_number: str | None = None
    member_id: str | None = None
    claim_id: str | None = Field(default=None, description="none on a dry run")
    status: ClaimStatus | None = None
    payable: Money | None = None
    reason_codes: list[str] = []
    errors: list[dict[str, Any]] = []
    detail: str | None = None


class SettlementTotals(BaseModel):
    rows: int
    filed: int
    approved: int
    pending_review: int
    rejected: int
    already_filed: int
    not_enrolled: int
    name_mismatch: int
    errors: int
    payable: Money = Field(description="what the filed claims pay (approved or to review)")


class SettlementImportRead(BaseModel):
    import_id: str | None = Field(description="none on a dry run")
    plan_code: str
    dry_run: bool
    filename: str | None
    format: Literal["csv", "xlsx"]
    encoding: str | None
    totals: SettlementTotals
    results: list[SettlementResult]
