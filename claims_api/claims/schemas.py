from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.kit.money import Money

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ClaimStatus = Literal[
    "submitted", "pending_review", "needs_info", "approved", "rejected", "paid", "withdrawn"
]
ClaimSource = Literal["filed", "settlement"]
"""`filed` by the member, its unit's hr or admin; `settlement`: made by the system from the
insurer's settlement data (POST /api/v1/claims/import)."""


class ClaimCreate(BaseModel):
    """The facts are the plan kind's fields (DOMAIN.md); they are checked once the plan is known."""

    model_config = ConfigDict(extra="forbid")

    member_id: Id
    plan_code: Id
    facts: dict[str, Any] = Field(max_length=30)


class AssessmentRead(BaseModel):
    payable: Money
    lines: list[dict[str, Any]]
    reason_codes: list[str]
    cap_left: Money | None
    benefit_ratio: str | None
    rules_version: str
    group: str | None = None
    condition_code: str | None = None
    ends_cover: bool = False
    usage: dict[str, Any] = Field(
        default_factory=dict, description="what the enrolment had used before this claim"
    )


class QuoteRead(BaseModel):
    """What the claim would be assessed at if filed now; nothing is saved."""

    member_id: str
    plan_code: str
    status_if_filed: ClaimStatus
    assessment: AssessmentRead


class ClaimEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    role: str
    from_status: str | None
    to_status: str
    reason: str | None
    details: dict[str, Any] | None


class ClaimRead(BaseModel):
    id: str
    member_id: str
    unit_id: str | None
    plan_code: str
    kind: str
    enrollment_id: str | None
    status: ClaimStatus
    facts: dict[str, Any]
    payable: Money
    assessment: AssessmentRead
    rules_version: str
    filed_on: date
    source: ClaimSource = "filed"
    settlement_number: str | None = None
    submitted_by: str
    approved_by: str | None
    approved_at: datetime | None
    paid_on: date | None
    created_at: datetime
    updated_at: datetime
    history: list[ClaimEventRead] = []
    documents_missing: list[str] = Field(
        default_factory=list,
        description="the document kinds the plan requires that the claim does not carry yet "
        "(withdrawn documents do not count), in DOMAIN.md's order",
    )
    duplicate_document_claims: list[str] = Field(
        default_factory=list,
        description="`duplicate_document`: other live claims (any member) holding the same "
        "bytes as one of this claim's documents; no auto-approval while any is listed. A "
        "member or hr sees only the claims they may read (their own side's), the staff all",
    )
    duplicate_document: bool = Field(
        default=False,
        description="a live document of this claim is on another live claim (the flag, shown "
        "to everyone who reads the claim; which claims, only as above)",
    )


class ClaimSummary(BaseModel):
    """A claim in a list: everything but the history."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    member_id: str
    unit_id: str | None
    plan_code: str
    kind: str
    status: ClaimStatus
    payable: Money
    reason_codes: list[str]
    filed_on: date
    event_on: date
    source: ClaimSource = "filed"
    approved_by: str | None
    paid_on: date | None
    created_at: datetime
    updated_at: datetime


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "request_info", "reopen"]
    reason: Reason | None = None
    adjusted_facts: dict[str, Any] | None = Field(default=None, max_length=30)


class WithdrawCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class SupplementCreate(BaseModel):
    """The information a reviewer asked for: a note, and corrected facts if any."""

    model_config = ConfigDict(extra="forbid")

    note: Reason
    facts: dict[str, Any] | None = Field(default=None, max_length=30)
