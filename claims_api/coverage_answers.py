"""What the member registry answers about coverage, as the claims service reads it: one
member's coverage by a plan on a day, and the batch look-up's answers (the settlement
import's), typed once per call rather than once per item."""

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from claims_api.problems import PLAN_CHANGED
from services.kit.plan_rules import EnrollmentCover, PlanTerms


class CoveredPlan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    line: str
    name: str
    kind: str
    terms: PlanTerms
    rules_version: str


class CoveredMember(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    unit_id: str
    status: str
    left_on: date | None = None


class Coverage(BaseModel):
    """The registry's answer to "is this member covered by this plan on this day?"."""

    model_config = ConfigDict(extra="ignore")

    covered: bool
    reason: str | None = None
    on: date
    member: CoveredMember
    plan: CoveredPlan
    cover: EnrollmentCover | None = None


class CoverageLookupItem(BaseModel):
    """One question to the batch look-up: a worker by `national_id` or `member_id` (exactly
    one), and the day."""

    national_id: str | None = None
    member_id: str | None = None
    on: date

    def body(self) -> dict[str, str]:
        named = (
            {"national_id": self.national_id}
            if self.national_id is not None
            else {"member_id": self.member_id or ""}
        )
        return {**named, "on": self.on.isoformat()}


class CoverageFound(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: int
    found: Literal[True]
    member_name: str
    national_id: str
    coverage: Coverage


class CoverageNotFound(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: int
    found: Literal[False]
    reason: str


class _CoverageParts(BaseModel):
    """A coverage of the batch look-up as read: its plan, the same in every answer of one
    call, left as parsed JSON, validated once per call (`answers_of_call`) rather than 5,000 times,
    and shared by every Coverage of the call (one PlanTerms in memory, not one per row)."""

    model_config = ConfigDict(extra="ignore")

    covered: bool
    reason: str | None = None
    on: date
    member: CoveredMember
    plan: dict[str, Any]
    cover: EnrollmentCover | None = None


class _FoundParts(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: int
    found: Literal[True]
    member_name: str
    national_id: str
    coverage: _CoverageParts


class _LookupAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    plan_code: str
    plan: CoveredPlan
    results: list[Annotated[_FoundParts | CoverageNotFound, Field(discriminator="found")]]


@dataclass
class CoverageLookupAnswers:
    """The batch look-up's answer: the plan as the registry read it, and one result per
    item in the items' order."""

    plan: CoveredPlan
    results: list[CoverageFound | CoverageNotFound]


def answers_of_call(content: bytes, offset: int) -> CoverageLookupAnswers:
    """The typed answer of one call; `offset`: the index of its first item in the whole."""
    # The registry reads the plan once per call: every answer of it carries the same one. It
    # is typed once per (code, rules version); comparing each answer's plan in full took as
    # long as reading the answer.
    answer = _LookupAnswer.model_validate_json(content)
    plans: dict[tuple[Any, Any], CoveredPlan] = {
        (answer.plan.code, answer.plan.rules_version): answer.plan
    }
    answers: list[CoverageFound | CoverageNotFound] = []
    for result in answer.results:
        if isinstance(result, CoverageNotFound):
            result.index += offset
            answers.append(result)
            continue
        parts = result.coverage
        key = (parts.plan.get("code"), parts.plan.get("rules_version"))
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = CoveredPlan.model_validate(parts.plan)
        # Every part is validated already (the answer, the plan above): built as they are,
        # not validated a second time (a fifth of the time of reading 100,000 answers).
        coverage = Coverage.model_construct(
            covered=parts.covered,
            reason=parts.reason,
            on=parts.on,
            member=parts.member,
            plan=plan,
            cover=parts.cover,
        )
        answers.append(
            CoverageFound.model_construct(
                index=result.index + offset,
                found=True,
                member_name=result.member_name,
                national_id=result.national_id,
                coverage=coverage,
            )
        )
    return CoverageLookupAnswers(answer.plan, answers)


def same_rules(first: CoveredPlan, then: CoveredPlan) -> None:
    """Answers read in several calls hold only if the plan's rules did not change between
    them: else the caller's answer would mix two versions of the rules."""
    if then.rules_version != first.rules_version:
        raise PLAN_CHANGED.error(
            f"plan {first.code}'s rules changed while its members were looked up (version "
            f"{first.rules_version}, then {then.rules_version}); nothing was stored: send the "
            "request again"
        )
