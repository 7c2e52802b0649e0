from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from claims_api.claims.schemas import Id, Reason
from services.kit.dates import SchemeDate
from services.kit.identity import mask_account_number
from services.kit.money import Money, SignedMoney

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
BankStatus = Literal["sent", "settled", "returned"]
MAX_BATCH = 10_000
"""Claims in one batch (a bank's 代发 file of a city's claims for a month)."""


def _masked(number: str | None) -> str | None:
    return mask_account_number(number) if number else number


MaskedAccount = Annotated[
    str | None,
    AfterValidator(_masked),
    Field(description="masked: the first six and the last four digits (622202*********1234)"),
]


class PayoutCreate(BaseModel):
    """One batch (给付批次): every listed claim is paid, or none is."""

    model_config = ConfigDict(extra="forbid")

    claim_ids: list[Id] = Field(min_length=1, max_length=MAX_BATCH)
    paid_on: SchemeDate
    reference: Reference


class ReversalCreate(BaseModel):
    """A bounced payment: the listed claims (default: all of the batch) go back to approved."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    claim_ids: list[Id] | None = Field(default=None, min_length=1, max_length=MAX_BATCH)
    reversed_on: SchemeDate | None = None


class PayoutEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    batch_id: str
    claim_id: str
    entry_kind: str
    amount: SignedMoney
    reverses_entry_id: str | None
    reason: str | None
    plan_code: str
    unit_id: str | None
    member_id: str
    paid_on: date
    created_by: str
    created_at: datetime
    bank_line: int | None = Field(description="a payment's line (序号) in the batch's bank file")
    account_name: str | None = Field(description="户名: the account a payment went to")
    account_number: MaskedAccount
    bank_name: str | None
    bank_branch: str | None
    bank_status: BankStatus | None = Field(
        description="a payment: sent until the bank answers, then settled or returned"
    )
    bank_reason: str | None = Field(description="why the bank returned the payment")
    bank_status_at: datetime | None


class PayoutBatchSummary(BaseModel):
    id: str
    paid_on: date
    reference: str
    created_by: str
    created_at: datetime
    total: SignedMoney
    claims: int
    sent: int = Field(description="payments the bank has not answered yet")
    settled: int
    returned: int


class PayoutBatchRead(PayoutBatchSummary):
    entries: list[PayoutEntryRead]


# --- the bank's result file ----------------------------------------------------------------------

LineStatus = Literal["settled", "returned", "unchanged", "unmatched", "error", "conflict"]


class BankResultLine(BaseModel):
    line: int = Field(description="the file's line (the header is line 1)")
    status: LineStatus = Field(
        description="settled, returned: this file changed the entry; unchanged: the entry had "
        "the bank's answer already; unmatched: no entry of the batch is this line (or its "
        "amount differs, or its 用途 names another claim); conflict: the entry had the bank's "
        "other answer already (a 成功 for a payment returned, or two lines of one file saying "
        "both): nothing changed, ask the bank; error: the line cannot be read"
    )
    serial: int | None = Field(default=None, description="序号 as the line gives it")
    account_number: MaskedAccount = None
    amount: Money | None = None
    entry_id: str | None = None
    claim_id: str | None = None
    bank_status: BankStatus | None = Field(
        default=None, description="the entry's bank status after this line"
    )
    reason: str | None = Field(default=None, description="失败原因: the bank's reason")
    detail: str | None = None


class BankResultTotals(BaseModel):
    lines: int
    settled: int
    returned: int
    unchanged: int
    unmatched: int
    conflicts: int
    errors: int
    settled_amount: Money
    returned_amount: Money


class BankResultRead(BaseModel):
    batch_id: str
    format: Literal["csv", "xlsx"]
    encoding: str | None
    totals: BankResultTotals
    results: list[BankResultLine]
    batch: PayoutBatchSummary = Field(description="the batch after this file")
