from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
)

from members_api.bulk import MAX_ROWS, RowError
from members_api.enrollments.periods import in_force
from members_api.members.schemas import MemberPhone, NationalId
from members_api.payout_accounts.schemas import CardNumberText
from services.kit.dates import SchemeDate
from services.kit.money import Money
from services.kit.text import NameText, PersonNameText

ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
Id = Annotated[str, StringConstraints(strip_whitespace=True, pattern=ID_PATTERN)]
EnrollmentStatus = Literal["active", "cancelled"]
Shares = Annotated[int, Field(ge=1, le=100)]


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id
    plan_code: Id
    shares: Shares
    unit_id: Id | None = Field(
        default=None, description="default: the member's current unit; hr: its own unit"
    )
    enrolled_on: SchemeDate | None = Field(default=None, description="admin only; default: today")
    starts_on: SchemeDate | None = Field(
        default=None,
        description="admin only; default: the day after enrolled_on, or coverage_start if later",
    )


class EnrollmentCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class EnrollmentRead(BaseModel):
    """An enrolment as answered: built with `of`, which knows whether its plan requires
    payment for cover (members_api.enrollments.periods.in_force)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    member_id: str
    plan_code: str
    unit_id: str
    shares: int
    enrolled_on: date
    starts_on: date = Field(description="the day cover starts as enrolled (before payment)")
    covered_from: date | None = Field(
        description="the day cover really starts: starts_on, or, when the plan requires "
        "payment, the later of starts_on and the day the contribution was paid in full; "
        "null while it is unpaid"
    )
    ends_on: date
    waiting_ends_on: date | None = Field(
        description="the waiting period's last day, counted from covered_from (while unpaid: "
        "from starts_on, as it will be if paid by then); null: none"
    )
    reduced_ends_on: date | None = Field(
        description="the reduced period's last day, counted like waiting_ends_on"
    )
    renewal: bool
    contribution_due: Money
    contribution_paid: Money = Field(description="what the unit's payments have given it")
    paid_on: date | None = Field(
        description="the day of the payment that completed it; null while it owes"
    )
    status: EnrollmentStatus
    cancelled_at: datetime | None = None
    created_at: datetime

    @classmethod
    def of(cls, enrollment: Any, requires_payment: bool) -> "EnrollmentRead":
        """`enrollment`: an Enrollment, or a mapping of its columns by name; `requires_payment`:
        its plan's `cover_requires_payment`."""
        get = (
            enrollment.__getitem__
            if isinstance(enrollment, Mapping)
            else enrollment.__getattribute__
        )
        force = in_force(
            get("starts_on"),
            get("waiting_ends_on"),
            get("reduced_ends_on"),
            get("paid_on"),
            requires_payment,
        )
        data = {name: get(name) for name in STORED_FIELDS}
        data["covered_from"] = force.covered_from
        data["waiting_ends_on"] = force.waiting_ends_on
        data["reduced_ends_on"] = force.reduced_ends_on
        return cls.model_validate(data)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def owed(self) -> Money:
        """contribution_due - contribution_paid"""
        return self.contribution_due - self.contribution_paid

    @computed_field  # type: ignore[prop-decorator]
    @property
    def paid(self) -> bool:
        """paid in full (paid_on is set)"""
        return self.paid_on is not None

    @field_validator("created_at", "cancelled_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands timestamps back without their zone; they were stored as UTC.
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


STORED_FIELDS = tuple(name for name in EnrollmentRead.model_fields if name != "covered_from")
"""The fields read as they are stored (covered_from is computed; the periods are moved)."""


# --- batch enrolment and import ------------------------------------------------------------


class EnrollmentBatchRow(BaseModel):
    """One worker of a batch. Rows are checked one by one: a bad row is reported in the
    answer with every error it has, and does not stop the others."""

    model_config = ConfigDict(extra="forbid")

    national_id: NationalId
    name: PersonNameText
    phone: MemberPhone | None = None
    shares: Shares
    account_number: CardNumberText | None = Field(
        default=None, description="the worker's bank card for payouts (银行卡号); with bank_name"
    )
    bank_name: NameText | None = Field(default=None, description="the card's bank (开户行)")


class EnrollmentBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: Id = Field(description="the unit enrolling them; hr: its own unit")
    plan_code: Id
    rows: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description='each {"national_id", "name", "phone"?, "shares", "account_number"?, '
        '"bank_name"?}, checked row by row',
        json_schema_extra={"items": EnrollmentBatchRow.model_json_schema()},
    )
    enrolled_on: SchemeDate | None = Field(default=None, description="admin only; default: today")
    starts_on: SchemeDate | None = Field(
        default=None,
        description="admin only (records arriving late, a legacy migration); default: the day "
        "after enrolled_on, or coverage_start if later",
    )


class BatchRowResult(BaseModel):
    """`ok` with the ids, or `error` with every error of the row; `row` is 1-based (in an
    import, the spreadsheet's line: the header is line 1)."""

    row: int
    status: Literal["ok", "error"]
    member_id: str | None = None
    enrollment_id: str | None = None
    created_member: bool | None = None
    already_enrolled: bool | None = None
    errors: list[RowError] | None = None


class EnrollmentBatchTotals(BaseModel):
    rows: int
    ok: int
    failed: int
    created_members: int
    enrolled: int
    already_enrolled: int


class EnrollmentBatchContributions(BaseModel):
    """What the unit's credit for the plan (its payments not yet allocated) paid."""

    paid_in_full: int = Field(description="new enrolments now paid in full")
    allocated: Money = Field(description="of the unit's credit, given to the new enrolments")
    credit: Money = Field(description="the unit's credit for the plan left")


class EnrollmentBatchPayoutAccounts(BaseModel):
    """The payout accounts the rows' cards set (members_api.payout_accounts.bulk)."""

    set: int = Field(description="accounts created or replaced")
    unchanged: int = Field(description="cards the member has on file already")


class EnrollmentBatchResult(BaseModel):
    batch_id: str = Field(description="the audit log's entity_id (entity enrollment_batch)")
    unit_id: str
    plan_code: str
    enrolled_on: date
    starts_on: date
    totals: EnrollmentBatchTotals
    contributions: EnrollmentBatchContributions
    payout_accounts: EnrollmentBatchPayoutAccounts
    results: list[BatchRowResult]
