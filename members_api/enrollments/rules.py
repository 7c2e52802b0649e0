"""The enrolment rules of DOMAIN.md as pure functions: no database, no clock.

Each answers a `Refusal` (a stable code, a sentence saying why, and the input field it is
about) or None. The single enrolment raises the first refusal as a RuleViolation; the batch
enrolment lists every refusal on its row. A rule lives here and nowhere else."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from members_api import problems
from members_api.enrollments import periods
from services.kit.errors import Problem
from services.kit.identity import age_on
from services.kit.plan_rules import PlanTerms
from services.kit.problems import ProblemType


@dataclass(frozen=True)
class Refusal:
    rule: ProblemType
    detail: str
    field: str = "national_id"

    @property
    def code(self) -> str:
        return self.rule.code

    def violation(self) -> Problem:
        return self.rule.error(self.detail)


def raise_first(refusals: Iterable[Refusal | None]) -> None:
    for refusal in refusals:
        if refusal is not None:
            raise refusal.violation()


def member_left(who: str, status: str, left_on: date | None) -> Refusal | None:
    if status != "left":
        return None
    left = f" on {left_on}" if left_on else ""
    return Refusal(
        problems.MEMBER_LEFT, f"{who} left their unit{left}: a member who has left cannot enrol"
    )


def unit_inactive(unit_name: str, active: bool) -> Refusal | None:
    if active:
        return None
    return Refusal(
        problems.UNIT_INACTIVE, f"unit {unit_name} is inactive: it cannot enrol members", "unit_id"
    )


def outside_window(terms: PlanTerms, enrolled_on: date) -> Refusal | None:
    if terms.enrol_from <= enrolled_on <= terms.enrol_until:
        return None
    return Refusal(
        problems.ENROLMENT_CLOSED,
        f"enrolment is open from {terms.enrol_from} to {terms.enrol_until}; "
        f"{enrolled_on} is outside it",
        "enrolled_on",
    )


def starts_on(terms: PlanTerms, enrolled_on: date, asked: date | None) -> date:
    """The day cover starts: the admin's date, or the default of DOMAIN.md."""
    if asked is not None:
        return asked
    return periods.default_starts_on(enrolled_on, terms.coverage_start)


def starts_on_refused(terms: PlanTerms, enrolled_on: date, asked: date | None) -> Refusal | None:
    """An admin's date must lie in the plan's cover; the default date must not be after it."""
    if asked is not None:
        if terms.coverage_start <= asked <= terms.coverage_end:
            return None
        return Refusal(
            problems.STARTS_ON_BEFORE_COVER,
            f"starts_on {asked} is outside the plan's cover "
            f"{terms.coverage_start} to {terms.coverage_end}",
            "starts_on",
        )
    if starts_on(terms, enrolled_on, None) <= terms.coverage_end:
        return None
    return Refusal(
        problems.ENROLMENT_CLOSED,
        f"the plan's cover ends on {terms.coverage_end}: an enrolment on {enrolled_on} "
        "would start after it",
        "enrolled_on",
    )


def ineligible(sex: str, birth_date: date, terms: PlanTerms, cover_starts: date) -> list[Refusal]:
    """Sex from the identity number; age on the day the enrolment's cover starts."""
    rules = terms.eligibility
    refusals = []
    if rules.sex is not None and sex != rules.sex:
        refusals.append(
            Refusal(
                problems.SEX_NOT_ELIGIBLE,
                f"the plan is for sex {rules.sex} only; the member's identity number says {sex}",
            )
        )
    age = age_on(birth_date, cover_starts)
    too_young = rules.min_age is not None and age < rules.min_age
    too_old = rules.max_age is not None and age > rules.max_age
    if too_young or too_old:
        allowed = f"{rules.min_age if rules.min_age is not None else 0} to "
        allowed += f"{rules.max_age}" if rules.max_age is not None else "any age"
        refusals.append(
            Refusal(
                problems.AGE_OUT_OF_RANGE,
                f"the member is {age} on {cover_starts}, when the cover starts; the plan takes "
                f"ages {allowed}",
            )
        )
    return refusals


def too_many_shares(terms: PlanTerms, held: int, shares: int) -> Refusal | None:
    """`held`: the shares of the member's active enrolments in the plan, all units together."""
    if held + shares <= terms.max_shares:
        return None
    return Refusal(
        problems.MAX_SHARES_EXCEEDED,
        f"the plan allows {terms.max_shares} shares per person across all units; the member "
        f"holds {held}, so {shares} more would make {held + shares}",
        "shares",
    )
