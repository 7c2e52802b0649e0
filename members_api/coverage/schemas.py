from datetime import date
from typing import Literal

from pydantic import BaseModel

from members_api.enrollments.schemas import EnrollmentRead
from services.kit.money import Ratio
from services.kit.plan_rules import EnrollmentCover, PlanTerms

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
