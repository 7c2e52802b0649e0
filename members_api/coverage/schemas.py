from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from members_api.enrollments.schemas import ID_PATTERN, EnrollmentRead
from services.kit.dates import SchemeDate
from services.kit.identity import compact_national_id
from services.kit.money import Ratio
from services.kit.plan_rules import EnrollmentCover, PlanTerms
from services.kit.text import NO_CONTROL_CHARACTERS

NotCoveredReason = Literal["not_enrolled", "member_left", "contribution_unpaid", "waiting_period"]


class CoveredMember(BaseModel):
    id: str
    unit_id: str
    status: str
    left_on: date | None


class CoveragePlan(BaseModel):
    code: str
    line: str
    name: str
    kind: str
    terms: PlanTerms
    rules_version: str


class CoverageRead(BaseModel):
    """Is this member covered by this plan on this day, and on which terms.

    `cover` is given whenever an enrolment's cover contains the day, even when `covered` is
    false for the waiting period, for want of payment (`contribution_unpaid`: the plan
    requires payment and the day is before `cover.covered_from`, or that is null) or because
    the member left: the claims service states why.
    `benefit_ratio` is "1" for full benefit, the plan's reduced ratio in the reduced period,
    "0" when not covered.
    """

    covered: bool
    reason: NotCoveredReason | None
    on: date
    member: CoveredMember
    plan: CoveragePlan
    enrollment: EnrollmentRead | None
    cover: EnrollmentCover | None
    benefit_ratio: Ratio


# --- the batch look-up (POST /api/v1/coverage/lookup) --------------------------------------

MAX_LOOKUP_ITEMS = 5_000

# Not members_api.members.schemas.NationalId: a number that fails its check digit names no
# registered worker, and is answered `member_not_found` rather than refusing the whole batch
# (settlement files are typed by hospitals). It is matched in the form numbers are stored in
# (services.kit.identity.compact_national_id: stripped, upper case).
LookupNationalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=30, pattern=NO_CONTROL_CHARACTERS
    ),
    AfterValidator(compact_national_id),
    Field(
        description="the worker's resident identity number (a lower-case x is matched as "
        "stored); one that is not registered is answered member_not_found",
        examples=["110105198506150022"],
    ),
]
MemberId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class CoverageLookupItem(BaseModel):
    """One question: a worker, by `national_id` or `member_id` (exactly one), and a day."""

    model_config = ConfigDict(extra="forbid")

    member_id: MemberId | None = None
    national_id: LookupNationalId | None = Field(default=None, validate_default=True)
    on: SchemeDate

    @field_validator("national_id")
    @classmethod
    def _exactly_one(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "member_id" not in info.data:  # member_id itself is invalid: reported already
            return value
        given = (value is not None) + (info.data["member_id"] is not None)
        if given != 1:
            raise ValueError("give exactly one of national_id and member_id")
        return value


class CoverageLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_code: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    items: list[CoverageLookupItem] = Field(
        max_length=MAX_LOOKUP_ITEMS,
        description=f"up to {MAX_LOOKUP_ITEMS:,} questions, answered in their order; none "
        "asks for the plan alone (the claims service checks the plan before reading a file)",
    )


class CoverageFound(BaseModel):
    index: int = Field(description="the item's position in `items`, from 0")
    found: Literal[True] = True
    member_name: str
    national_id: str
    coverage: CoverageRead = Field(description="what GET /api/v1/coverage answers for it")


class CoverageNotFound(BaseModel):
    index: int
    found: Literal[False] = False
    reason: Literal["member_not_found"] = "member_not_found"


class CoverageLookupRead(BaseModel):
    plan_code: str
    plan: CoveragePlan = Field(
        description="the plan as read for this call: its `rules_version` tells a caller "
        "asking in several calls whether the rules changed between them"
    )
    results: list[CoverageFound | CoverageNotFound] = Field(
        description="one per item, in the order of `items`"
    )
