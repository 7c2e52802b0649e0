"""The plan contract both services share: a plan's terms and its benefit rules, one typed
model per plan kind (DOMAIN.md, "Plans" and "Benefit rules by kind").

The member registry validates a plan with these models before storing it, and hands the same
JSON to the claims service in every coverage answer, which parses it back with them: a rule set
that would fail later is refused at creation, with the field named.
"""

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from services.money import Money, Ratio
from services.text import NameText

ICD10_PREFIX = r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{0,4})?$"
Icd10Code = Annotated[
    str,
    BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
    StringConstraints(max_length=12, pattern=ICD10_PREFIX),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,40}$")]


def normalise_icd10(code: str) -> str:
    """'c50.9' -> 'C509': prefixes are compared without the dot."""
    return re.sub(r"[^0-9A-Z]", "", code.upper())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    above: Money
    ratio: Ratio


class HospitalReimbursementRules(_Strict):
    kind: Literal["hospital_reimbursement"] = "hospital_reimbursement"
    base: Literal["out_of_pocket_in_policy", "total_in_policy"] = "out_of_pocket_in_policy"
    deductible: Money = Decimal("0")
    threshold: Money = Decimal("0")
    bands: list[Band] = Field(min_length=1, max_length=20)
    band_mode: Literal["progressive", "whole"] = "progressive"
    per_stay_cap_per_share: Money
    term_cap_per_share: Money
    max_claims_per_term: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _bands_ascend_from_zero(self) -> "HospitalReimbursementRules":
        if self.bands[0].above != 0:
            raise ValueError("bands: the first band must start above 0")
        for lower, upper in zip(self.bands, self.bands[1:], strict=False):
            if upper.above <= lower.above:
                raise ValueError("bands: each band must start above the previous one")
        return self


class Condition(_Strict):
    code: Code
    name: NameText
    icd10: list[Icd10Code] = Field(min_length=1, max_length=200)
    amount_per_share: Money
    group: Code


class FixedBenefitRules(_Strict):
    kind: Literal["fixed_benefit"] = "fixed_benefit"
    conditions: list[Condition] = Field(min_length=1, max_length=200)
    fixed_extra: Money = Decimal("0")
    ends_cover_after_payout: bool = False
    term_cap_per_share: Money | None = None

    @model_validator(mode="after")
    def _prefixes_unique(self) -> "FixedBenefitRules":
        seen: dict[str, str] = {}
        codes = set()
        for condition in self.conditions:
            if condition.code in codes:
                raise ValueError(f"conditions: code {condition.code} is listed twice")
            codes.add(condition.code)
            for prefix in condition.icd10:
                key = normalise_icd10(prefix)
                if key in seen:
                    raise ValueError(
                        f"conditions: ICD-10 prefix {prefix} is listed under both "
                        f"{seen[key]} and {condition.code}"
                    )
                seen[key] = condition.code
        return self


class DailyAllowanceRules(_Strict):
    kind: Literal["daily_allowance"] = "daily_allowance"
    amount_per_day_per_share: Money
    from_day: int = Field(default=1, ge=1, le=365)
    max_days_per_stay: int = Field(ge=1, le=3650)
    term_cap_per_share: Money


BenefitRules = Annotated[
    HospitalReimbursementRules | FixedBenefitRules | DailyAllowanceRules,
    Field(discriminator="kind"),
]
PlanKind = Literal["hospital_reimbursement", "fixed_benefit", "daily_allowance"]


class Eligibility(_Strict):
    sex: Literal["F", "M"] | None = None
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)

    @model_validator(mode="after")
    def _range(self) -> "Eligibility":
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("eligibility: min_age is above max_age")
        return self


class PlanTerms(_Strict):
    """Everything about a plan but its identity: what a claim is assessed against."""

    kind: PlanKind
    coverage_start: date
    coverage_end: date
    enrol_from: date
    enrol_until: date
    contribution_per_share: Money
    max_shares: int = Field(default=1, ge=1, le=100)
    eligibility: Eligibility = Eligibility()
    waiting_days: int = Field(default=0, ge=0, le=3650)
    reduced_days: int = Field(default=0, ge=0, le=3650)
    reduced_ratio: Ratio = Decimal("1")
    renewal_grace_days: int = Field(default=0, ge=0, le=3650)
    claim_deadline_days: int = Field(default=730, ge=1, le=36500)
    auto_approve_limit: Money | None = None
    benefit: BenefitRules

    @model_validator(mode="after")
    def _consistent(self) -> "PlanTerms":
        if self.coverage_end < self.coverage_start:
            raise ValueError("coverage_end is before coverage_start")
        if self.enrol_until < self.enrol_from:
            raise ValueError("enrol_until is before enrol_from")
        if self.enrol_from > self.coverage_end:
            raise ValueError("enrol_from is after coverage_end")
        if self.benefit.kind != self.kind:
            raise ValueError(f"benefit: rules of kind {self.benefit.kind} for a {self.kind} plan")
        if self.reduced_days and self.reduced_days < self.waiting_days:
            raise ValueError("reduced_days must not be shorter than waiting_days")
        return self


class EnrollmentCover(_Strict):
    """One enrolment as the payout engine needs it: who, how many shares, which days.

    `waiting_ends_on` / `reduced_ends_on` are the last days of those periods, or None when the
    enrolment has none (a renewal, or a plan without them).
    """

    enrollment_id: str
    member_id: str
    unit_id: str
    plan_code: str
    shares: int = Field(ge=1)
    starts_on: date
    ends_on: date
    waiting_ends_on: date | None = None
    reduced_ends_on: date | None = None
    renewal: bool = False
    member_left_on: date | None = None
