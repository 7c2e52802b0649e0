"""Payments (缴费) as clients send and read them: money as strings to the fen."""

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from members_api.enrollments.schemas import Id
from services.kit.dates import SchemeDate
from services.kit.money import Money, MoneySum, SignedMoney
from services.kit.text import NO_CONTROL_CHARACTERS

Method = Literal["bank_transfer", "cash", "other"]
REFERENCE_MAX = 64
_PRINTABLE = re.compile(NO_CONTROL_CHARACTERS)


def _same_reference(value: str) -> str:
    """One slip, one spelling: NFKC (a slip number typed with a Chinese input method,
    ＢＡＮＫ－０１, is BANK-01), without spaces and in capitals (bank 01 is BANK01), so that
    it cannot be recorded twice under two spellings."""
    value = "".join(unicodedata.normalize("NFKC", value).split()).upper()
    if not value or len(value) > REFERENCE_MAX or not _PRINTABLE.fullmatch(value):
        raise ValueError(f"1 to {REFERENCE_MAX} printable characters")
    return value


Reference = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=REFERENCE_MAX,
        pattern=NO_CONTROL_CHARACTERS,
    ),
    AfterValidator(_same_reference),
]
Reason = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=500, pattern=NO_CONTROL_CHARACTERS
    ),
]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ContributionCreate(BaseModel):
    """One transfer from one unit for one plan."""

    model_config = ConfigDict(extra="forbid")

    unit_id: Id
    plan_code: Id
    amount: Money = Field(description="more than zero, at most two decimal places")
    paid_on: SchemeDate = Field(
        description="the day the money arrived: not in the future, not more than a year "
        "before the plan's cover starts"
    )
    reference: Reference = Field(
        description="the bank slip or receipt number, unique within the plan (compared "
        "NFKC-normalised: full-width characters are their ASCII selves)"
    )
    method: Method

    @field_validator("amount")
    @classmethod
    def _more_than_zero(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("must be more than zero")
        return value


class ReversalCreate(BaseModel):
    """A mistaken payment: a negative entry of the same amount; the allocation follows."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    reversed_on: SchemeDate | None = Field(
        default=None,
        description="default: today; not in the future, not before the payment's paid_on",
    )


class AllocationRead(BaseModel):
    """Money of one payment given to (positive) or taken back from (negative) one enrolment,
    with that enrolment's state now."""

    id: str
    contribution_id: str
    enrollment_id: str
    member_id: str
    amount: SignedMoney
    at: datetime
    contribution_due: Money
    contribution_paid: Money
    owed: Money
    paid: bool
    paid_on: date | None

    _at_utc = field_validator("at")(_utc)


class ContributionRead(BaseModel):
    """A payment (amount > 0) or the reversal of one (amount < 0, `reverses_id` set)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    unit_id: str
    plan_code: str
    amount: SignedMoney
    paid_on: date
    reference: str | None = Field(description="null on a reversal")
    method: Method
    reason: str | None = Field(description="why a reversal was made; null on a payment")
    recorded_by: str
    recorded_at: datetime
    reverses_id: str | None = Field(description="on a reversal: the payment it reverses")
    reversed_by: str | None = Field(
        default=None, description="on a reversed payment: its reversal's id"
    )

    _recorded_at_utc = field_validator("recorded_at")(_utc)


class ContributionDetail(ContributionRead):
    allocated: SignedMoney = Field(
        description="the sum of its allocations (a reversal's is negative: what it took back)"
    )
    credit: MoneySum = Field(description="the unit's credit for the plan now")
    allocations: list[AllocationRead] = Field(
        description="enrolment by enrolment, in the order they were made (a payment: oldest "
        "enrolment first; a reversal: latest first)"
    )
    reallocated: list[AllocationRead] = Field(
        default_factory=list,
        description="in the answer to a reversal only: the unit's remaining credit (from its "
        "other payments) given to the enrolments the reversal left unpaid, oldest first",
    )
